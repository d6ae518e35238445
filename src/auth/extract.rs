//! The axum extractor that authenticates a tenant request and yields its [`Principal`].
//!
//! Invariants: the tenant comes from the [`TenantRequest`] extension set by the server's tenant
//! routing, never from the credentials; every failure is the same 401 SCIM error with a
//! `WWW-Authenticate` challenge and no detail about why; the principal is computed at most once
//! per request (cached in the request extensions).
//!
//! Credentials: an `Authorization` header (Basic or Bearer) when present, even with a client
//! certificate on the connection; otherwise a client certificate the TLS listener verified
//! ([`ConnectionInfo::peer_certificates`]), checked again here against this tenant's own CA and
//! mapped to its technical admin ([`certificate_admin`]): a certificate of another tenant's CA,
//! an expired one or one naming no admin of the tenant is a 401.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::request::Parts;

use super::certificates::certificate_admin;
use super::credentials::parse_authorization;
use super::principal::Principal;
use crate::runtime::Runtime;
use crate::scim::error::ScimError;
use crate::server::{ConnectionInfo, TenantRequest};

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
        let now = jiff::Timestamp::now();
        let result = match parts.headers.get(AUTHORIZATION) {
            Some(header) => {
                let credentials =
                    parse_authorization(header.as_bytes()).ok_or(AuthRejection::Unauthorized)?;
                runtime
                    .auth
                    .authenticate(tenant_config, &credentials, now)
                    .map_err(|failure| failure.to_string())
            }
            None => {
                let chain = parts
                    .extensions
                    .get::<ConnectionInfo>()
                    .map(|info| info.peer_certificates.clone())
                    .filter(|chain| !chain.is_empty())
                    .ok_or(AuthRejection::Unauthorized)?;
                runtime
                    .auth
                    .cas
                    .get(&tenant.tenant)
                    .map_err(|e| e.to_string())
                    .and_then(|ca| {
                        certificate_admin(tenant_config, &ca, &chain, now)
                            .map(|admin| Principal::from_admin(&tenant_config.name, admin))
                            .map_err(|refusal| refusal.to_string())
                    })
            }
        };
        match result {
            Ok(principal) => {
                parts.extensions.insert(principal.clone());
                Ok(principal)
            }
            Err(reason) => {
                tracing::debug!(tenant = %tenant.tenant, %reason, "authentication failed");
                Err(AuthRejection::Unauthorized)
            }
        }
    }
}
