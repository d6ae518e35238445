//! The outbound SCIM client: one per target system, on reqwest + rustls, authenticating with
//! the target's [`OutboundAuth`] (Basic, bearer token, OAuth client credentials with a token
//! cache, or a client certificate) and adding the target's `ips.http.header.<name>` headers.
//!
//! It speaks HTTP only: every answered request is a [`Reply`] (any status); transport
//! failures are [`ClientError`]s that name the leaf cause (DNS, connect, TLS, timeout).
//! Interpreting statuses (404 on delete, 409 on create …) is the pipeline's job.
//!
//! Invariants: secrets never reach an error or a log line; a 401 with OAuth drops the cached
//! token and retries the request once with a fresh one.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::backoff::parse_retry_after;
use super::outbound_auth::RequestAuth;
use crate::runtime::{OutboundAuth, SystemType};

/// Property prefix of extra request headers (`ips.http.header.X-Tenant: acme`).
pub const PROP_HEADER_PREFIX: &str = "ips.http.header.";
/// Whole-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Error bodies are cut to this many characters in messages.
const MAX_DETAIL: usize = 300;

/// Why a request got no HTTP answer, or the client could not be built.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClientError {
    #[error("DNS lookup failed: {0}")]
    Dns(String),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("the request timed out")]
    Timeout,
    #[error("the request failed: {0}")]
    Other(String),
    #[error("token request failed: {message}")]
    Token {
        status: Option<u16>,
        message: String,
    },
    #[error("invalid target configuration: {0}")]
    InvalidConfig(String),
}

impl ClientError {
    /// Worth retrying later (the target or the network may recover).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Dns(_)
            | ClientError::Connect(_)
            | ClientError::Timeout
            | ClientError::Other(_) => true,
            ClientError::Token { status, .. } => status.is_none_or(|s| s == 429 || s >= 500),
            ClientError::Tls(_) | ClientError::InvalidConfig(_) => false,
        }
    }

    /// The CamelCase leaf cause for conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            ClientError::Dns(_) => "DNSError",
            ClientError::Connect(_) | ClientError::Other(_) => "ConnectError",
            ClientError::Tls(_) => "TLSError",
            ClientError::Timeout => "Timeout",
            ClientError::Token {
                status: Some(401 | 400),
                ..
            } => "Unauthorized",
            ClientError::Token { .. } => "TokenError",
            ClientError::InvalidConfig(_) => "InvalidConfiguration",
        }
    }

    pub(crate) fn from_transport(error: &reqwest::Error) -> ClientError {
        let chain = error_chain(error);
        let lower = chain.to_ascii_lowercase();
        if error.is_timeout() || lower.contains("timed out") {
            ClientError::Timeout
        } else if has_source::<rustls::Error>(error)
            || lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
        {
            ClientError::Tls(chain)
        } else if lower.contains("dns error") || lower.contains("failed to lookup") {
            ClientError::Dns(chain)
        } else if error.is_connect() {
            ClientError::Connect(chain)
        } else if error.is_builder() {
            ClientError::InvalidConfig(chain)
        } else {
            ClientError::Other(chain)
        }
    }
}

fn has_source<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<E>().is_some() {
            return true;
        }
        current = e.source();
    }
    false
}

/// "a: b: c" of an error and its sources, without the URL (it may carry credentials).
fn error_chain(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    if parts.is_empty() {
        let text = error.to_string();
        match error.url() {
            Some(url) => text.replace(url.as_str(), "<url>"),
            None => text,
        }
    } else {
        parts.join(": ")
    }
}

/// An HTTP answer from the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    /// The JSON body; `Value::Null` when empty or not JSON.
    pub body: Value,
    /// The `Retry-After` header, when present and parsable.
    pub retry_after: Option<Duration>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// 429 and 5xx: the request may succeed later.
    pub fn is_transient(&self) -> bool {
        self.status == 429 || self.status == 408 || self.status >= 500
    }

    /// "HTTP 400: <SCIM detail>" for logs and reasons.
    pub fn describe(&self) -> String {
        let detail = self
            .body
            .get("detail")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| match &self.body {
                Value::Null => None,
                other => Some(other.to_string()),
            });
        match detail {
            Some(detail) => format!(
                "HTTP {}: {}",
                self.status,
                detail.chars().take(MAX_DETAIL).collect::<String>()
            ),
            None => format!("HTTP {}", self.status),
        }
    }
}

/// Everything the client needs about its target.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The SCIM base URL (`…/scim`, without trailing slash): `/Users` is appended.
    pub base_url: String,
    pub auth: OutboundAuth,
    /// Extra headers (`ips.http.header.*`); ignored when the auth produces its own token.
    pub headers: BTreeMap<String, String>,
    pub content_type: String,
    /// Send `If-Match: *` on PUT/PATCH/DELETE.
    pub if_match_wildcard: bool,
    pub timeout: Duration,
    /// PEM CA certificates trusted for the server's TLS certificate on top of the system trust
    /// store (a real-time target's `spec.caRef`).
    pub trusted_ca_pem: Option<String>,
}

impl ClientSettings {
    /// The settings of a target (or source) system from its type, URL, auth and properties.
    pub fn new(
        system_type: &SystemType,
        url: &str,
        api_version: u8,
        auth: &OutboundAuth,
        properties: &BTreeMap<String, String>,
    ) -> ClientSettings {
        let prop = |ias: &str, scim: &str| {
            properties
                .get(ias)
                .or_else(|| properties.get(scim))
                .map(|v| v.trim().to_string())
        };
        let headers = properties
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(PROP_HEADER_PREFIX)
                    .filter(|name| !name.is_empty())
                    .map(|name| (name.to_string(), v.clone()))
            })
            .collect();
        ClientSettings {
            base_url: scim_base_url(system_type, url, api_version),
            auth: auth.clone(),
            headers,
            content_type: prop("ias.content.type", "scim.content.type")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "application/scim+json".to_string()),
            if_match_wildcard: prop(
                "ias.include.if.match.wildcard.header",
                "scim.include.if.match.wildcard.header",
            )
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            timeout: REQUEST_TIMEOUT,
            trusted_ca_pem: None,
        }
    }
}

/// The SCIM base of a system: the URL as given for SCIM systems; for Identity Authentication
/// systems given by host, `/scim` (v2) or `/service/scim` (v1) is appended.
pub fn scim_base_url(system_type: &SystemType, url: &str, api_version: u8) -> String {
    let url = url.trim().trim_end_matches('/');
    match system_type {
        SystemType::IdentityAuthentication
            if !url.ends_with("/scim") && !url.ends_with("/service/scim") =>
        {
            if api_version == 1 {
                format!("{url}/service/scim")
            } else {
                format!("{url}/scim")
            }
        }
        _ => url.to_string(),
    }
}

/// The outbound SCIM client of one system.
#[derive(Debug)]
pub struct ScimClient {
    http: reqwest::Client,
    base_url: String,
    auth: RequestAuth,
    headers: HeaderMap,
    content_type: HeaderValue,
    if_match_wildcard: bool,
}

impl ScimClient {
    pub fn new(settings: &ClientSettings) -> Result<ScimClient, ClientError> {
        // reqwest is built without a default crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none());
        let identity = match &settings.auth {
            OutboundAuth::ClientCertificate {
                certificate_pem,
                private_key_pem,
            } => Some(super::tls::ClientIdentity {
                certificate_pem,
                private_key_pem,
            }),
            _ => None,
        };
        let tls = super::tls::client_config(identity, settings.trusted_ca_pem.as_deref())
            .map_err(|e| ClientError::InvalidConfig(e.to_string()))?;
        let builder = builder.tls_backend_preconfigured(tls);
        let http = builder
            .build()
            .map_err(|e| ClientError::InvalidConfig(error_chain(&e)))?;
        let auth = RequestAuth::from_config(&settings.auth)?;
        let mut headers = HeaderMap::new();
        let own_token = matches!(settings.auth, OutboundAuth::OAuthClientCredentials { .. });
        for (name, value) in &settings.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ClientError::InvalidConfig(format!("invalid header name {name:?}")))?;
            if own_token && name == reqwest::header::AUTHORIZATION {
                continue;
            }
            let value = HeaderValue::from_str(value).map_err(|_| {
                ClientError::InvalidConfig(format!("invalid value for header {name}"))
            })?;
            headers.insert(name, value);
        }
        let content_type = HeaderValue::from_str(&settings.content_type).map_err(|_| {
            ClientError::InvalidConfig(format!("invalid content type {:?}", settings.content_type))
        })?;
        Ok(ScimClient {
            http,
            base_url: settings.base_url.trim_end_matches('/').to_string(),
            auth,
            headers,
            content_type,
            if_match_wildcard: settings.if_match_wildcard,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends `method {base}{path}` with an optional JSON body and query. Any HTTP answer is a
    /// [`Reply`]; a 401 with OAuth is retried once with a fresh token.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        let reply = self.send_once(method.clone(), path, query, body).await?;
        if reply.status == StatusCode::UNAUTHORIZED.as_u16() && self.auth.on_unauthorized().await {
            return self.send_once(method, path, query, body).await;
        }
        Ok(reply)
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply, ClientError> {
        let url = format!("{}{}", self.base_url, path);
        let wildcard = self.if_match_wildcard
            && matches!(method, Method::PUT | Method::PATCH | Method::DELETE);
        let mut request = self
            .http
            .request(method, &url)
            .headers(self.headers.clone())
            .header(
                reqwest::header::ACCEPT,
                "application/scim+json, application/json",
            );
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(header) = self.auth.header(&self.http).await? {
            request = request.header(reqwest::header::AUTHORIZATION, header);
        }
        if wildcard {
            request = request.header(reqwest::header::IF_MATCH, "*");
        }
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|e| ClientError::Other(format!("could not encode the body: {e}")))?;
            request = request
                .header(reqwest::header::CONTENT_TYPE, self.content_type.clone())
                .body(bytes);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::from_transport(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::from_transport(&e))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok(Reply {
            status,
            body,
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_base_of_identity_authentication_systems() {
        let ias = SystemType::IdentityAuthentication;
        assert_eq!(
            scim_base_url(&ias, "https://acme.example.com/", 2),
            "https://acme.example.com/scim"
        );
        assert_eq!(
            scim_base_url(&ias, "https://acme.example.com", 1),
            "https://acme.example.com/service/scim"
        );
        assert_eq!(
            scim_base_url(&ias, "https://h/tenants/a/scim", 2),
            "https://h/tenants/a/scim"
        );
        assert_eq!(
            scim_base_url(&SystemType::Scim, "https://h/api/v2/", 2),
            "https://h/api/v2"
        );
    }

    #[test]
    fn settings_from_properties() {
        let properties: BTreeMap<String, String> = [
            ("ips.http.header.X-Tenant", "acme"),
            ("ips.http.header.", "ignored"),
            ("scim.content.type", "application/json"),
            ("ias.include.if.match.wildcard.header", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = ClientSettings::new(
            &SystemType::Scim,
            "http://h/scim",
            2,
            &OutboundAuth::None,
            &properties,
        );
        assert_eq!(s.headers.len(), 1);
        assert_eq!(s.headers["X-Tenant"], "acme");
        assert_eq!(s.content_type, "application/json");
        assert!(s.if_match_wildcard);
    }

    #[test]
    fn bad_client_certificate_is_a_config_error_without_the_key() {
        let settings = ClientSettings::new(
            &SystemType::Scim,
            "https://h/scim",
            2,
            &OutboundAuth::ClientCertificate {
                certificate_pem: "not a cert".into(),
                private_key_pem: "TOP-SECRET-KEY".into(),
            },
            &BTreeMap::new(),
        );
        let error = ScimClient::new(&settings).unwrap_err();
        assert!(matches!(error, ClientError::InvalidConfig(_)));
        assert!(!error.to_string().contains("TOP-SECRET"));
    }

    #[test]
    fn reply_description_uses_scim_detail() {
        let reply = Reply {
            status: 400,
            body: serde_json::json!({"detail": "userName is required", "status": "400"}),
            retry_after: None,
        };
        assert_eq!(reply.describe(), "HTTP 400: userName is required");
        assert!(!reply.is_transient());
        let reply = Reply {
            status: 503,
            body: Value::Null,
            retry_after: None,
        };
        assert_eq!(reply.describe(), "HTTP 503");
        assert!(reply.is_transient());
    }
}
