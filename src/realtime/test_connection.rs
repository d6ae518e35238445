//! Test Connection of a real-time target (architecture §4.4): authenticate exactly as pushes do
//! and make one harmless request, `GET …/systems/{id}` of the real-time API (the parent of the
//! target's `…/entities` URL), which answers the system's API version.
//!
//! Reasons (leaf cause): `Connected`, `DNSError`, `ConnectError`, `TLSError`, `Timeout`,
//! `Unauthorized` (401, or a token request refused), `Forbidden` (403: the caller lacks
//! AccessRealTimeProvisioningAPI), `SystemNotFound` (404), `VersionMismatch` (the system speaks
//! another SCIM version), `UnexpectedStatus`. The message never contains a secret.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::Value;

use super::RealTimeTargetConfig;
use super::plan::entities_base;
use crate::delivery::client::{ClientSettings, REQUEST_TIMEOUT, ScimClient};
use crate::reconcile::ConnectionCheck;

/// The success message (as SAP words it).
pub const SUCCESS_MESSAGE: &str =
    "Connection to the selected target system was established successfully.";

/// The system URL of a target: its `…/entities` base without `/entities`.
pub fn system_url(user_url: &str) -> String {
    let base = entities_base(user_url);
    base.strip_suffix("/entities").unwrap_or(&base).to_string()
}

/// Runs Test Connection for `target`.
pub async fn test_connection(target: &RealTimeTargetConfig) -> ConnectionCheck {
    let url = system_url(&target.user_url);
    let settings = ClientSettings {
        base_url: url.clone(),
        auth: target.auth.clone(),
        headers: BTreeMap::new(),
        content_type: "application/json".to_string(),
        if_match_wildcard: false,
        timeout: REQUEST_TIMEOUT,
        trusted_ca_pem: target.trusted_ca_pem.clone(),
    };
    let fail = |reason: &str, message: String| ConnectionCheck {
        ok: false,
        reason: reason.to_string(),
        message,
    };
    if target.certificate.is_some() && target.auth == crate::runtime::OutboundAuth::None {
        return fail(
            "CertificatePending",
            "the client certificate of the tenant CA is not issued yet".to_string(),
        );
    }
    let client = match ScimClient::new(&settings) {
        Ok(c) => c,
        Err(e) => return fail(e.reason(), format!("{url}: {e}")),
    };
    let reply = match client.send(Method::GET, "", &[], None).await {
        Ok(r) => r,
        Err(e) => return fail(e.reason(), format!("GET {url}: {e}")),
    };
    interpret(
        &url,
        target.version,
        reply.status,
        &reply.body,
        &reply.describe(),
    )
}

/// The check result of an HTTP answer (pure).
pub fn interpret(
    url: &str,
    version: u8,
    status: u16,
    body: &Value,
    described: &str,
) -> ConnectionCheck {
    let fail = |reason: &str, message: String| ConnectionCheck {
        ok: false,
        reason: reason.to_string(),
        message,
    };
    match status {
        200..=299 => match body.get("version").and_then(Value::as_u64) {
            Some(v) if v == u64::from(version) => ConnectionCheck {
                ok: true,
                reason: "Connected".to_string(),
                message: SUCCESS_MESSAGE.to_string(),
            },
            Some(v) => fail(
                "VersionMismatch",
                format!(
                    "GET {url}: the system speaks SCIM version {v}, the target is set to version {version}"
                ),
            ),
            None => fail(
                "UnexpectedStatus",
                format!("GET {url}: the answer names no system version"),
            ),
        },
        401 => fail(
            "Unauthorized",
            format!("GET {url}: the credentials were rejected (HTTP 401)"),
        ),
        403 => fail(
            "Forbidden",
            format!(
                "GET {url}: the caller lacks the permission AccessRealTimeProvisioningAPI (HTTP 403)"
            ),
        ),
        404 => fail(
            "SystemNotFound",
            format!("GET {url}: no such source system (HTTP 404)"),
        ),
        _ => fail("UnexpectedStatus", format!("GET {url}: {described}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn system_url_of_a_user_url() {
        assert_eq!(
            system_url("http://h/tenants/a/ipsproxy/service/api/v1/systems/s1/entities/user"),
            "http://h/tenants/a/ipsproxy/service/api/v1/systems/s1"
        );
    }

    #[test]
    fn answers_map_to_leaf_reasons() {
        let ok = interpret("u", 2, 200, &json!({"version": 2}), "");
        assert!(ok.ok);
        assert_eq!(ok.message, SUCCESS_MESSAGE);
        let reason = |status, body: Value| interpret("u", 2, status, &body, "x").reason;
        assert_eq!(reason(200, json!({"version": 1})), "VersionMismatch");
        assert_eq!(reason(401, Value::Null), "Unauthorized");
        assert_eq!(reason(403, Value::Null), "Forbidden");
        assert_eq!(reason(404, Value::Null), "SystemNotFound");
        assert_eq!(reason(500, Value::Null), "UnexpectedStatus");
    }
}
