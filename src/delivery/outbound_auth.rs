//! How the outbound client authenticates to a target: the `Authorization` header per request
//! and, for OAuth client credentials, the token cache.
//!
//! Invariants:
//! - A cached OAuth token is reused until [`EXPIRY_MARGIN`] before its `expires_in`, and is
//!   dropped when the target answers 401 (the next request fetches a new one).
//! - One token fetch at a time per target (concurrent requests wait for it).
//! - Secrets (passwords, client secrets, tokens) never appear in errors or `Debug` output.

use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::HeaderValue;
use serde::Deserialize;

use super::client::ClientError;
use crate::runtime::OutboundAuth;

/// A token is refreshed this long before it expires.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// Lifetime assumed when the token endpoint sends no `expires_in`.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// The per-request credential of a client.
pub(crate) enum RequestAuth {
    /// No header (also client certificates: the TLS layer authenticates).
    None,
    /// A fixed `Authorization` header (Basic or bearer token).
    Header(HeaderValue),
    OAuth(TokenCache),
}

impl std::fmt::Debug for RequestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RequestAuth::None => "None",
            RequestAuth::Header(_) => "Header(<redacted>)",
            RequestAuth::OAuth(_) => "OAuth(<redacted>)",
        })
    }
}

impl RequestAuth {
    pub(crate) fn from_config(auth: &OutboundAuth) -> Result<RequestAuth, ClientError> {
        Ok(match auth {
            OutboundAuth::None | OutboundAuth::ClientCertificate { .. } => RequestAuth::None,
            OutboundAuth::Basic { username, password } => {
                RequestAuth::Header(sensitive(&basic(username, password))?)
            }
            OutboundAuth::BearerToken { token } => {
                RequestAuth::Header(sensitive(&format!("Bearer {token}"))?)
            }
            OutboundAuth::OAuthClientCredentials {
                token_url,
                client_id,
                client_secret,
            } => RequestAuth::OAuth(TokenCache {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                cached: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// The `Authorization` header for the next request, fetching a token if needed.
    pub(crate) async fn header(
        &self,
        http: &reqwest::Client,
    ) -> Result<Option<HeaderValue>, ClientError> {
        match self {
            RequestAuth::None => Ok(None),
            RequestAuth::Header(value) => Ok(Some(value.clone())),
            RequestAuth::OAuth(cache) => cache.header(http).await.map(Some),
        }
    }

    /// The target refused the credential (401): forget a cached token. Returns whether a
    /// retry with a fresh credential can help.
    pub(crate) async fn on_unauthorized(&self) -> bool {
        match self {
            RequestAuth::OAuth(cache) => {
                *cache.cached.lock().await = None;
                true
            }
            _ => false,
        }
    }
}

fn basic(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

fn sensitive(value: &str) -> Result<HeaderValue, ClientError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        ClientError::InvalidConfig(
            "the credential contains characters not allowed in an HTTP header".into(),
        )
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// OAuth 2.0 client-credentials tokens of one target.
pub(crate) struct TokenCache {
    token_url: String,
    client_id: String,
    client_secret: String,
    cached: tokio::sync::Mutex<Option<(HeaderValue, Instant)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenCache {
    async fn header(&self, http: &reqwest::Client) -> Result<HeaderValue, ClientError> {
        let mut cached = self.cached.lock().await;
        if let Some((value, valid_until)) = cached.as_ref()
            && Instant::now() < *valid_until
        {
            return Ok(value.clone());
        }
        let (value, lifetime) = self.fetch(http).await?;
        let valid_until = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
        *cached = Some((value.clone(), valid_until));
        Ok(value)
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<(HeaderValue, Duration), ClientError> {
        let response = http
            .post(&self.token_url)
            .header(
                reqwest::header::AUTHORIZATION,
                sensitive(&basic(&self.client_id, &self.client_secret))?,
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
            ])
            .send()
            .await
            .map_err(|error| ClientError::from_transport(&error))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ClientError::Token {
                status: Some(status.as_u16()),
                message: format!("the token endpoint answered HTTP {}", status.as_u16()),
            });
        }
        let token: TokenResponse = response.json().await.map_err(|_| ClientError::Token {
            status: Some(status.as_u16()),
            message: "the token endpoint answered without an access_token".into(),
        })?;
        if token
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(ClientError::Token {
                status: Some(status.as_u16()),
                message: "the token endpoint issued a token that is not a bearer token".into(),
            });
        }
        let lifetime = token
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        Ok((
            sensitive(&format!("Bearer {}", token.access_token))?,
            lifetime,
        ))
    }
}
