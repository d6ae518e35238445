//! The per-request context of the SCIM 2.0 API: the authenticated principal, the tenant's
//! directory and the SCIM base URL, extracted once per request; plus the permission rules.
//!
//! Invariants: no handler runs without an authenticated [`Principal`]; reading users needs
//! ReadUsers or ManageUsers, writing users ManageUsers, and groups (read and write) ManageGroups.
//! A write carrying [`PROVISIONING_JOB_HEADER`] from a principal holding ManageUsers is
//! recorded with origin `job:<source system id>` (the loop-prevention marker, spec/domain.md
//! §3.1 rules 4–5); the header is ignored otherwise.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::api::Permission;
use crate::auth::Principal;
use crate::directory::{Directory, Kind, Origin};
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

/// The request header with which a provisioning job marks its writes: the id of the source
/// system whose job writes.
pub const PROVISIONING_JOB_HEADER: &str = "X-IdRelay-Provisioning-Job";

/// The source system id of a [`PROVISIONING_JOB_HEADER`] value: 1–128 characters of
/// `A-Z a-z 0-9 - _ . :` (anything else is ignored).
pub fn job_marker(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let valid = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    valid.then(|| text.to_string())
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
    /// The source system id of a provisioning job writing (see [`PROVISIONING_JOB_HEADER`]).
    pub job_marker: Option<String>,
}

impl ScimContext {
    /// Refuses with 403 unless the principal may perform `access` on `kind`.
    pub fn authorize(&self, kind: Kind, access: Access) -> Result<(), ScimError> {
        self.principal
            .require_any(required_permissions(kind, access))
    }

    /// The origin to record for a write: the provisioning job's when the request carries its
    /// marker, `api` otherwise.
    pub fn origin(&self, api: Origin) -> Origin {
        match &self.job_marker {
            Some(system_id) => Origin::ProvisioningJob {
                system_id: system_id.clone(),
            },
            None => api,
        }
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
        let job_marker = parts
            .headers
            .get(PROVISIONING_JOB_HEADER)
            .and_then(|v| job_marker(v.as_bytes()))
            .filter(|_| principal.has(Permission::ManageUsers));
        Ok(ScimContext {
            principal,
            directory,
            base_url: scim_base_url(&tenant.base_url),
            job_marker,
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
    fn job_marker_values() {
        assert_eq!(job_marker(b" src-1.a:b_c ").as_deref(), Some("src-1.a:b_c"));
        assert_eq!(job_marker(b""), None);
        assert_eq!(job_marker(b"a b"), None);
        assert_eq!(job_marker(&[b'a'; 129]), None);
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
