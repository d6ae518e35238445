//! [`Directory`]: the per-tenant directory API the SCIM handlers (and later CSV import and the
//! admin API) call. Reads use the last committed snapshot; writes go through the writer task
//! and return once committed.
//!
//! Invariant: a returned [`Resource`] comes from a committed snapshot.

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

use super::bulk::{self, BulkOp, BulkOpResult};
use super::ops;
use super::query::{self, ListPage, ListQuery};
use super::resource::Resource;
use super::state::TenantState;
use super::writer::WriterHandle;
use super::{Kind, Origin};
use crate::scim::ScimError;
use crate::scim::patch::PatchRequest;
use crate::store::{Store, StoreError};

/// The directory of one tenant.
pub struct Directory {
    tenant: Arc<str>,
    cell: Arc<ArcSwap<TenantState>>,
    writer: WriterHandle,
}

impl Directory {
    /// Opens the directory of `tenant`, loading its state from the store.
    pub async fn open(
        store: &Store,
        writer: WriterHandle,
        tenant: &str,
    ) -> Result<Directory, StoreError> {
        let rows = store.load_tenant(tenant).await?;
        let state = TenantState::from_rows(tenant, rows)?;
        Ok(Directory {
            tenant: Arc::from(tenant),
            cell: Arc::new(ArcSwap::from_pointee(state)),
            writer,
        })
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The last committed state.
    pub fn snapshot(&self) -> Arc<TenantState> {
        self.cell.load_full()
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<Resource> {
        let snapshot = self.snapshot();
        let entry = snapshot.get(kind, id)?.clone();
        Some(Resource::new(kind, entry, snapshot))
    }

    pub fn list(&self, kind: Kind, query: &ListQuery) -> Result<ListPage, ScimError> {
        query::list(&self.snapshot(), kind, query)
    }

    /// The id of the user whose legacy SAP `userId` is `user_id` (e.g. `P000001`; case-exact).
    pub fn id_for_user_id(&self, user_id: &str) -> Option<String> {
        self.cell
            .load()
            .of(Kind::User)
            .by_legacy_id(user_id)
            .map(|id| id.to_string())
    }

    /// The id of the group whose legacy id (SAP custom `additionalId`) is `additional_id`
    /// (case-exact).
    pub fn id_for_group_additional_id(&self, additional_id: &str) -> Option<String> {
        self.cell
            .load()
            .of(Kind::Group)
            .by_legacy_id(additional_id)
            .map(|id| id.to_string())
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.cell.load().of(kind).len()
    }

    /// Creates a user or group from a body normalised by the caller.
    pub async fn create(
        &self,
        kind: Kind,
        body: Value,
        origin: Origin,
    ) -> Result<Resource, ScimError> {
        let (entry, snapshot) = self
            .writer
            // `create` checks everything before its first change.
            .submit_checked(&self.cell, move |s, b| {
                ops::create(s, b, kind, body, &origin)
            })
            .await?;
        Ok(Resource::new(kind, entry, snapshot))
    }

    /// Replaces a user or group (PUT) with a body normalised by the caller.
    pub async fn replace(
        &self,
        kind: Kind,
        id: &str,
        body: Value,
        if_match: Option<String>,
        origin: Origin,
    ) -> Result<Resource, ScimError> {
        let id = id.to_string();
        let (entry, snapshot) = self
            .writer
            .submit(&self.cell, move |s, b| {
                ops::replace(s, b, kind, &id, body, if_match.as_deref(), &origin)
            })
            .await?;
        Ok(Resource::new(kind, entry, snapshot))
    }

    pub async fn patch(
        &self,
        kind: Kind,
        id: &str,
        patch: PatchRequest,
        if_match: Option<String>,
        origin: Origin,
    ) -> Result<Resource, ScimError> {
        let id = id.to_string();
        let (entry, snapshot) = self
            .writer
            .submit(&self.cell, move |s, b| {
                ops::patch(s, b, kind, &id, &patch, if_match.as_deref(), &origin)
            })
            .await?;
        Ok(Resource::new(kind, entry, snapshot))
    }

    pub async fn delete(
        &self,
        kind: Kind,
        id: &str,
        if_match: Option<String>,
        origin: Origin,
    ) -> Result<(), ScimError> {
        let id = id.to_string();
        self.writer
            .submit(&self.cell, move |s, b| {
                ops::delete(s, b, kind, &id, if_match.as_deref(), &origin)
            })
            .await
            .map(|((), _)| ())
    }

    /// Runs the operations in order inside ONE writer job (one commit); see [`bulk`].
    pub async fn bulk(
        &self,
        ops: Vec<BulkOp>,
        fail_on_errors: Option<usize>,
        origin: Origin,
    ) -> Result<Vec<BulkOpResult>, ScimError> {
        let (outcomes, snapshot) = self
            .writer
            .submit(&self.cell, move |s, b| {
                Ok(bulk::run(s, b, ops, fail_on_errors, &origin))
            })
            .await?;
        Ok(outcomes.into_iter().map(|o| o.publish(&snapshot)).collect())
    }
}
