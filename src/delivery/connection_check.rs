//! The live connection check of a target system (architecture §4.4): authenticate exactly as
//! deliveries do and make one harmless request, `GET {scim base}/Users?count=1`.
//!
//! The result names the leaf cause as a CamelCase reason: `Connected`, `DNSError`,
//! `ConnectError`, `TLSError`, `Timeout`, `Unauthorized`, `Forbidden`, `NotFound`,
//! `UnexpectedStatus`, `TokenError`, `InvalidConfiguration`.
//! Invariant: the message never contains a secret.

use reqwest::Method;

use super::ConnectionCheck;
use super::client::{ClientError, ClientSettings, Reply, ScimClient};
use crate::runtime::TargetSystemConfig;

/// The message of a successful check (as SAP words it).
pub const SUCCESS_MESSAGE: &str =
    "Connection to the selected target system was established successfully.";

/// Checks the connection to `target`.
pub async fn connection_check(target: &TargetSystemConfig) -> ConnectionCheck {
    let settings = ClientSettings::new(
        &target.system_type,
        &target.url,
        target.api_version,
        &target.auth,
        &target.properties,
    );
    check_with(&settings).await
}

/// Checks the connection described by `settings`.
pub async fn check_with(settings: &ClientSettings) -> ConnectionCheck {
    let client = match ScimClient::new(settings) {
        Ok(client) => client,
        Err(error) => return from_error(settings, &error),
    };
    match client
        .send(Method::GET, "/Users", &[("count", "1")], None)
        .await
    {
        Ok(reply) => from_reply(settings, &reply),
        Err(error) => from_error(settings, &error),
    }
}

fn from_error(settings: &ClientSettings, error: &ClientError) -> ConnectionCheck {
    ConnectionCheck {
        ok: false,
        reason: error.reason().to_string(),
        message: format!("{}: {error}", settings.base_url),
    }
}

fn from_reply(settings: &ClientSettings, reply: &Reply) -> ConnectionCheck {
    let url = format!("{}/Users", settings.base_url);
    let (reason, message) = match reply.status {
        200..=299 => {
            return ConnectionCheck {
                ok: true,
                reason: "Connected".into(),
                message: SUCCESS_MESSAGE.into(),
            };
        }
        401 => (
            "Unauthorized",
            format!("GET {url}: the target rejected the credentials (HTTP 401)"),
        ),
        403 => (
            "Forbidden",
            format!("GET {url}: the credentials lack the permission to read users (HTTP 403)"),
        ),
        404 => (
            "NotFound",
            format!("GET {url}: not found (HTTP 404); check the URL"),
        ),
        _ => (
            "UnexpectedStatus",
            format!("GET {url}: {}", reply.describe()),
        ),
    };
    ConnectionCheck {
        ok: false,
        reason: reason.into(),
        message,
    }
}
