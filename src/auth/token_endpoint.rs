//! `POST /oauth2/token` (client credentials grant, spec/domain.md §2.5): the thin axum shell
//! around [`parse_token_request`] and [`AuthState`](super::AuthState).
//!
//! Invariants: every answer carries `Cache-Control: no-store`; a failed client authentication is
//! `invalid_client` (401 with a Basic challenge) whatever the cause, and counts towards the
//! client-id lock exactly like a failed Basic logon.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

use super::token_request::{OAuthError, parse_token_request};
use crate::runtime::Runtime;
use crate::server::TenantRequest;

/// The challenge sent with `invalid_client`.
const TOKEN_CHALLENGE: &str = "Basic realm=\"idrelay\"";

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, Json(self.to_json())).into_response();
        if self == OAuthError::InvalidClient {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(TOKEN_CHALLENGE));
        }
        no_store(response)
    }
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The token endpoint handler.
pub async fn token_handler(
    State(runtime): State<Arc<Runtime>>,
    tenant: TenantRequest,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match issue(&runtime, &tenant, &headers, &body) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn issue(
    runtime: &Runtime,
    tenant: &TenantRequest,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let content_type = match headers.get(CONTENT_TYPE) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| OAuthError::InvalidRequest("invalid Content-Type"))?,
        ),
        None => None,
    };
    let authorization = headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
    let request = parse_token_request(authorization, content_type, body)?;
    let config = runtime.config();
    let tenant_config = config
        .tenants
        .get(&tenant.tenant)
        .ok_or(OAuthError::InvalidClient)?;
    let now = jiff::Timestamp::now();
    let admin = runtime
        .auth
        .logon_with_secret(
            tenant_config,
            &request.client_id,
            &request.client_secret,
            now,
        )
        .map_err(|failure| {
            tracing::debug!(tenant = %tenant.tenant, reason = %failure, "token request refused");
            OAuthError::InvalidClient
        })?;
    let issued = runtime
        .auth
        .issue_token(&tenant.tenant, admin, &request.client_secret, now)
        .map_err(|_| OAuthError::InvalidClient)?;
    let body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    });
    Ok(no_store(Json(body).into_response()))
}
