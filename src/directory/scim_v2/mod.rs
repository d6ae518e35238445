//! The SCIM 2.0 Identity Directory API (`/scim`, RFC 7643/7644, cursors per RFC 9865): the HTTP
//! layer over [`Directory`](crate::directory::Directory). [`router`] serves, relative to the
//! tenant's `/scim`: `/Users`, `/Groups` (list, create, get, replace, patch, delete, `.search`),
//! the root `/.search`, `/Bulk`, and the discovery endpoints.
//!
//! Invariants: every request is authenticated and authorised before any body is read or any
//! data is touched; every answer is `application/scim+json` (or bodiless 204/304); every
//! failure is a SCIM error body; unsupported methods answer 405 with a SCIM error.
//!
//! Files: [`context`] (principal, directory, permissions), [`http`] (bodies, headers,
//! responses), [`resources`] (single-resource endpoints), [`search`] (lists and `.search`),
//! [`bulk`] (`/Bulk`), [`discovery`] (discovery endpoints).

pub mod bulk;
pub mod context;
pub mod discovery;
pub mod http;
pub mod resources;
pub mod search;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::directory::Kind;
use crate::runtime::Runtime;
use crate::scim::discovery::DiscoveryLimits;

/// The request limits of this API, as advertised in `/ServiceProviderConfig`.
pub fn limits() -> DiscoveryLimits {
    DiscoveryLimits::default()
}

/// The routes of one resource kind (`/Users` or `/Groups`), carrying the kind as an extension.
fn kind_routes(kind: Kind, collection: &str) -> Router<Arc<Runtime>> {
    let not_allowed = http::method_not_allowed;
    Router::new()
        .route(
            collection,
            get(search::list)
                .post(resources::create)
                .fallback(not_allowed),
        )
        .route(
            &format!("{collection}/.search"),
            post(search::search).fallback(not_allowed),
        )
        .route(
            &format!("{collection}/{{id}}"),
            get(resources::get)
                .put(resources::replace)
                .patch(resources::patch)
                .delete(resources::delete)
                .fallback(not_allowed),
        )
        .layer(Extension(kind))
}

/// The SCIM 2.0 API, to be nested under a tenant's `/scim`.
pub fn router() -> Router<Arc<Runtime>> {
    let not_allowed = http::method_not_allowed;
    Router::new()
        .merge(kind_routes(Kind::User, "/Users"))
        .merge(kind_routes(Kind::Group, "/Groups"))
        .route("/.search", post(search::root_search).fallback(not_allowed))
        .route("/Bulk", post(bulk::bulk).fallback(not_allowed))
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config).fallback(not_allowed),
        )
        .route(
            "/ResourceTypes",
            get(discovery::resource_types).fallback(not_allowed),
        )
        .route(
            "/ResourceTypes/{name}",
            get(discovery::resource_type).fallback(not_allowed),
        )
        .route("/Schemas", get(discovery::schemas).fallback(not_allowed))
        .route(
            "/Schemas/{urn}",
            get(discovery::schema).fallback(not_allowed),
        )
}
