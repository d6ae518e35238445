//! The per-request context of the SCIM 2.0 API: the authenticated principal, the tenant's
//! directory and the SCIM base URL, extracted once per request; plus the permission rules.
//!
//! Invariants: no handler runs without an authenticated [`Principal`]; reading users needs
//! ReadUsers or ManageUsers, writing users ManageUsers, and groups (read and write) ManageGroups.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::api::Permission;
use crate::auth::Principal;
use crate::directory::{Directory, Kind};
use crate::runtime::Runtime;
use crate::scim::ScimError;
use crate::server::TenantRequest;

/// What a request wants to do with a resource kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The permissions of which at least one is needed for `access` to `kind`.
pub fn required_permissions(kind: Kind, access: Access) -> &'static [Permission] {
    match (kind, access) {
        (Kind::User, Access::Read) => &[Permission::ReadUsers, Permission::ManageUsers],
        (Kind::User, Access::Write) => &[Permission::ManageUsers],
        (Kind::Group, _) => &[Permission::ManageGroups],
    }
}

/// The SCIM base URL of a tenant base URL (`https://host/tenants/acme` → `…/acme/scim`).
pub fn scim_base_url(tenant_base_url: &str) -> String {
    format!("{}/scim", tenant_base_url.trim_end_matches('/'))
}

/// An authenticated SCIM request of one tenant.
pub struct ScimContext {
    pub principal: Principal,
    pub directory: Arc<Directory>,
    /// The SCIM base URL (no trailing slash), the prefix of every `meta.location`.
    pub base_url: String,
}

impl ScimContext {
    /// Refuses with 403 unless the principal may perform `access` on `kind`.
    pub fn authorize(&self, kind: Kind, access: Access) -> Result<(), ScimError> {
        self.principal
            .require_any(required_permissions(kind, access))
    }

    /// Whether the principal may perform `access` on `kind`.
    pub fn may(&self, kind: Kind, access: Access) -> bool {
        self.authorize(kind, access).is_ok()
    }
}

impl FromRequestParts<Arc<Runtime>> for ScimContext {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Runtime>,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let tenant = parts.extensions.get::<TenantRequest>().ok_or_else(|| {
            ScimError::internal("the request was not routed to a tenant").into_response()
        })?;
        let directory = state
            .directory(&tenant.tenant)
            .ok_or_else(|| ScimError::not_found("the tenant has no directory").into_response())?;
        Ok(ScimContext {
            principal,
            directory,
            base_url: scim_base_url(&tenant.base_url),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_rules_follow_the_issue() {
        assert_eq!(
            required_permissions(Kind::User, Access::Read),
            &[Permission::ReadUsers, Permission::ManageUsers]
        );
        assert_eq!(
            required_permissions(Kind::User, Access::Write),
            &[Permission::ManageUsers]
        );
        assert_eq!(
            required_permissions(Kind::Group, Access::Read),
            &[Permission::ManageGroups]
        );
        assert_eq!(
            required_permissions(Kind::Group, Access::Write),
            &[Permission::ManageGroups]
        );
    }

    #[test]
    fn base_url_gets_scim_suffix() {
        assert_eq!(
            scim_base_url("http://127.0.0.1:1/tenants/acme/"),
            "http://127.0.0.1:1/tenants/acme/scim"
        );
        assert_eq!(
            scim_base_url("https://acme.example"),
            "https://acme.example/scim"
        );
    }
}
