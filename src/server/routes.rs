//! The tenant-facing application: tenant routing in front of the routers, the tenant router
//! (`/oauth2/token`, `/scim`, `/service/scim`, the real-time provisioning API and its logs
//! under `/ipsproxy`, the job API under `/ips`), the request body limit and `/healthz`.
//!
//! Invariants: tenant resolution ([`route_tenant`]) runs before routing (a `map_request`
//! around the router, not a router layer, so the rewritten URI is what gets routed); every
//! tenant route requires a resolved [`TenantRequest`] (otherwise 404 SCIM error); a body over
//! the limit is refused with a 413 SCIM error before any handler runs.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::CONTENT_LENGTH;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::ServiceBuilder;

use super::admin::healthz;
use super::tenant::{TenantRequest, route_tenant};
use crate::auth::token_handler;
use crate::runtime::Runtime;
use crate::scim::error::ScimError;

/// Default request body limit (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// Options of the tenant-facing application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppOptions {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The tenant-facing application (path and host routing, all tenant APIs, `/healthz`).
pub fn app(runtime: Arc<Runtime>, options: AppOptions) -> Router {
    let limit = options.max_body_bytes;
    let routed: Router = tenant_router()
        .route_layer(from_fn(require_tenant))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(from_fn_with_state(limit, limit_body))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(runtime.clone());
    let service = ServiceBuilder::new()
        .map_request(move |request: Request| route_tenant(&runtime, request))
        .service(routed);
    Router::new().fallback_service(service)
}

/// The routes of one tenant, relative to its base (`/tenants/{name}` or a tenant host's root).
pub fn tenant_router() -> Router<Arc<Runtime>> {
    let router = Router::new()
        .route("/oauth2/token", post(token_handler))
        .route(
            "/import/users",
            post(crate::directory::csv_import::http::import_users),
        );
    router
        .nest("/scim", crate::directory::scim_v2::router())
        .nest("/service/scim", crate::directory::scim_v1::router())
        .merge(crate::provisioning::realtime_api::router())
        .merge(crate::provisioning::logs::router())
        .merge(crate::provisioning::jobs::api::router())
}

async fn require_tenant(request: Request, next: Next) -> Response {
    if request.extensions().get::<TenantRequest>().is_none() {
        return ScimError::not_found("unknown tenant").into_response();
    }
    next.run(request).await
}

async fn not_found(uri: http::Uri) -> ScimError {
    if uri.path().starts_with(super::tenant::TENANTS_PREFIX) {
        // Path routing left the prefix in place: the tenant is not configured.
        ScimError::not_found("unknown tenant")
    } else {
        ScimError::not_found("no such endpoint")
    }
}

/// Buffers the body up to `limit` bytes; more is a 413 SCIM error.
async fn limit_body(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return too_large(limit);
    }
    let (parts, body) = request.into_parts();
    match Limited::new(body, limit).collect().await {
        Ok(collected) => {
            next.run(Request::from_parts(parts, Body::from(collected.to_bytes())))
                .await
        }
        Err(error) if error.is::<LengthLimitError>() => too_large(limit),
        Err(_) => ScimError::invalid_syntax("cannot read the request body").into_response(),
    }
}

fn too_large(limit: usize) -> Response {
    ScimError::payload_too_large(format!("request body exceeds {limit} bytes")).into_response()
}
