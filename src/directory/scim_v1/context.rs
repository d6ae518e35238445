//! The per-request context of the SCIM API v1: the SCIM 2.0 context (principal, directory,
//! permission rules) plus the v1 base URL, and [`SnapshotIds`], the [`IdResolver`] over one
//! committed snapshot of the tenant's directory.
//!
//! Invariants: the same authentication and permissions as SCIM 2.0 (reading users needs
//! ReadUsers or ManageUsers, writing users ManageUsers, groups ManageGroups); an
//! authentication failure answers like SCIM 2.0 plus an `X-message-code`.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::http::with_message_code;
use crate::directory::legacy_ids::legacy_id;
use crate::directory::scim_v2::context::{Access, ScimContext};
use crate::directory::state::TenantState;
use crate::directory::{Directory, Kind, Origin, Resource};
use crate::runtime::Runtime;
use crate::scim::ScimError;
use crate::scim::v1::{IdResolver, V1Error};
use crate::server::TenantRequest;

/// The v1 base URL of a tenant base URL (`https://host/tenants/acme` → `…/service/scim`).
pub fn v1_base_url(tenant_base_url: &str) -> String {
    format!("{}/service/scim", tenant_base_url.trim_end_matches('/'))
}

/// How often a v1 PUT re-reads and re-merges after losing a race (412).
pub const MAX_MERGE_ATTEMPTS: usize = 32;

/// An authenticated v1 request of one tenant.
pub struct V1Context {
    pub scim: ScimContext,
    /// The v1 base URL (no trailing slash), the prefix of every v1 `meta.location`.
    pub base_url: String,
}

impl V1Context {
    /// The merging write of a v1 PUT: reads the current resource (`missing` when it is gone),
    /// builds its replacement with `merge`, and writes it with `If-Match` of the version read; when
    /// another write won the race (412) it reads and merges again, at most
    /// [`MAX_MERGE_ATTEMPTS`] times, so no concurrent change is lost.
    pub async fn merge_replace(
        &self,
        kind: Kind,
        uuid: &str,
        missing: impl Fn() -> V1Error,
        merge: impl Fn(
            &serde_json::Map<String, serde_json::Value>,
        ) -> Result<serde_json::Value, V1Error>,
    ) -> Result<Resource, V1Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.directory().get(kind, uuid).ok_or_else(&missing)?;
            let merged = merge(&current.body())?;
            match self
                .directory()
                .replace(
                    kind,
                    uuid,
                    merged,
                    Some(current.etag()),
                    self.scim.origin(Origin::ScimV1),
                )
                .await
            {
                Ok(resource) => return Ok(resource),
                Err(e) if e.status == 412 && attempt < MAX_MERGE_ATTEMPTS => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Refuses with 403 unless the principal may perform `access` on `kind`.
    pub fn authorize(&self, kind: Kind, access: Access) -> Result<(), V1Error> {
        Ok(self.scim.authorize(kind, access)?)
    }

    pub fn directory(&self) -> &Arc<Directory> {
        &self.scim.directory
    }

    /// The SCIM 2.0 base URL (for rendering the v2 form before mapping it).
    pub fn v2_base_url(&self) -> &str {
        &self.scim.base_url
    }

    /// Id lookups over the directory's current snapshot.
    pub fn ids(&self) -> SnapshotIds {
        SnapshotIds(self.scim.directory.snapshot())
    }
}

impl FromRequestParts<Arc<Runtime>> for V1Context {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Runtime>,
    ) -> Result<Self, Self::Rejection> {
        let scim = ScimContext::from_request_parts(parts, state)
            .await
            .map_err(with_message_code)?;
        let tenant = parts.extensions.get::<TenantRequest>().ok_or_else(|| {
            V1Error::from(ScimError::internal(
                "the request was not routed to a tenant",
            ))
            .into_response()
        })?;
        Ok(V1Context {
            scim,
            base_url: v1_base_url(&tenant.base_url),
        })
    }
}

/// [`IdResolver`] over one committed snapshot.
pub struct SnapshotIds(pub Arc<TenantState>);

impl SnapshotIds {
    fn uuid(&self, kind: Kind, id: &str) -> Option<String> {
        let ks = self.0.of(kind);
        ks.by_legacy_id(id)
            .map(|uuid| uuid.to_string())
            .or_else(|| ks.get(id).map(|e| e.id.to_string()))
    }

    fn v1_id(&self, kind: Kind, uuid: &str) -> Option<String> {
        let entry = self.0.get(kind, uuid)?;
        legacy_id(kind, &entry.body_json()).map(str::to_string)
    }
}

impl IdResolver for SnapshotIds {
    fn user_uuid(&self, id: &str) -> Option<String> {
        self.uuid(Kind::User, id)
    }
    fn user_v1_id(&self, uuid: &str) -> Option<String> {
        self.v1_id(Kind::User, uuid)
    }
    fn group_uuid(&self, id: &str) -> Option<String> {
        self.uuid(Kind::Group, id)
    }
    fn group_v1_id(&self, uuid: &str) -> Option<String> {
        self.v1_id(Kind::Group, uuid)
    }
    fn display(&self, uuid: &str) -> Option<String> {
        let kind = self.0.kind_of(uuid)?;
        self.0
            .get(kind, uuid)?
            .display
            .as_deref()
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_gets_service_scim_suffix() {
        assert_eq!(
            v1_base_url("http://127.0.0.1:1/tenants/acme/"),
            "http://127.0.0.1:1/tenants/acme/service/scim"
        );
        assert_eq!(
            v1_base_url("https://acme.example"),
            "https://acme.example/service/scim"
        );
    }
}
