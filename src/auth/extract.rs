//! The axum extractor that authenticates a tenant request and yields its [`Principal`].
//!
//! Invariants: the tenant comes from the [`TenantRequest`] extension set by the server's tenant
//! routing, never from the credentials; every failure is the same 401 SCIM error with a
//! `WWW-Authenticate` challenge and no detail about why; the principal is computed at most once
//! per request (cached in the request extensions).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::request::Parts;

use super::credentials::parse_authorization;
use super::principal::Principal;
use crate::runtime::Runtime;
use crate::scim::error::ScimError;
use crate::server::TenantRequest;

/// The challenge sent with every 401 of the tenant APIs.
pub const WWW_AUTHENTICATE_CHALLENGE: &str = "Basic realm=\"idrelay\", Bearer";

/// Why the [`Principal`] extractor refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRejection {
    /// 401: no, malformed or wrong credentials (deliberately without detail).
    Unauthorized,
    /// 404: the request did not reach a configured tenant.
    UnknownTenant,
}

impl AuthRejection {
    pub fn to_scim_error(&self) -> ScimError {
        match self {
            AuthRejection::Unauthorized => ScimError::unauthorized("authentication required"),
            AuthRejection::UnknownTenant => ScimError::not_found("unknown tenant"),
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let mut response = self.to_scim_error().into_response();
        if self == AuthRejection::Unauthorized {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(WWW_AUTHENTICATE_CHALLENGE),
            );
        }
        response
    }
}

impl FromRequestParts<Arc<Runtime>> for Principal {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        runtime: &Arc<Runtime>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let tenant = parts
            .extensions
            .get::<TenantRequest>()
            .ok_or(AuthRejection::UnknownTenant)?;
        let config = runtime.config();
        let tenant_config = config
            .tenants
            .get(&tenant.tenant)
            .ok_or(AuthRejection::UnknownTenant)?;
        let credentials = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| parse_authorization(value.as_bytes()))
            .ok_or(AuthRejection::Unauthorized)?;
        match runtime
            .auth
            .authenticate(tenant_config, &credentials, jiff::Timestamp::now())
        {
            Ok(principal) => {
                parts.extensions.insert(principal.clone());
                Ok(principal)
            }
            Err(failure) => {
                tracing::debug!(tenant = %tenant.tenant, reason = %failure, "authentication failed");
                Err(AuthRejection::Unauthorized)
            }
        }
    }
}
