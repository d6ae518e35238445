//! The legacy SCIM API v1 (`/service/scim`, spec/domain.md §2.3): the HTTP layer that serves
//! the v1 view of the same [`Directory`](crate::directory::Directory) the SCIM 2.0 API serves.
//! The v1 ↔ v2 mapping itself is pure and lives in [`crate::scim::v1`].
//!
//! [`router`] serves, relative to the tenant's `/service/scim`: `GET`/`POST` `/Users`,
//! `GET`/`PUT`/`DELETE` `/Users/{id}`, `GET`/`POST` `/Groups`, `GET`/`PUT`/`DELETE`
//! `/Groups/{id}` (collections also with a trailing slash, as IAS documents them).
//!
//! Invariants: every request is authenticated (the SCIM 2.0 principal extractor) and
//! authorised with the SCIM 2.0 permission rules before any body is read; every write is
//! recorded with [`Origin::ScimV1`](crate::directory::Origin::ScimV1); every error answers
//! with a SCIM error body and an `X-message-code` header; unsupported methods answer 405.
//!
//! Files: [`context`] (principal, directory, v1 base URL, id lookups), [`http`] (errors and
//! responses), [`users`] and [`groups`] (single-resource endpoints), [`search`] (the
//! searches with id and index paging).

pub mod context;
pub mod groups;
pub mod http;
pub mod search;
pub mod users;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::runtime::Runtime;

/// The SCIM API v1, to be nested under a tenant's `/service/scim`.
pub fn router() -> Router<Arc<Runtime>> {
    let not_allowed = http::method_not_allowed;
    let users = || {
        get(search::search_users)
            .post(users::create)
            .fallback(not_allowed)
    };
    let groups = || {
        get(search::search_groups)
            .post(groups::create)
            .fallback(not_allowed)
    };
    Router::new()
        .route("/Users", users())
        .route("/Users/", users())
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::replace)
                .delete(users::delete)
                .fallback(not_allowed),
        )
        .route("/Groups", groups())
        .route("/Groups/", groups())
        .route(
            "/Groups/{id}",
            get(groups::get)
                .put(groups::replace)
                .delete(groups::delete)
                .fallback(not_allowed),
        )
}
