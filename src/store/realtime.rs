//! Store side of real-time targets: the per-target cursor row (change log position acknowledged
//! by the target, Provision progress) and the loop-prevention read over the change log.
//!
//! Invariants: a cursor row is written only through the writer ([`RowWrite::RealtimeCursor`]);
//! "managed by a provisioning job" is derived from the persisted change log (any change record
//! of the user with origin `job:<id>`), so it holds "then or later" and survives restarts.

use std::sync::Arc;

use sqlx::Row;

use super::script::{Bind, Script};
use super::{RowWrite, Store, StoreError};

/// The persisted progress of one real-time target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RealtimeCursor {
    pub tenant: Arc<str>,
    /// `namespace/name` of the RealTimeTarget.
    pub target: Arc<str>,
    /// Last change seq the target acknowledged.
    pub change_seq: i64,
    /// The request token of the last finished Provision.
    pub provisioned_request: Option<String>,
    /// The request token of the Provision in progress.
    pub provision_request: Option<String>,
    /// Users are provisioned in id order; the last id pushed by the run in progress.
    pub provision_after: Option<String>,
    /// Users pushed by the run in progress (or by the last finished one).
    pub provisioned_count: i64,
}

/// Adds the statement of one real-time cursor write to `script` (nothing for other writes).
pub(super) fn push(write: &RowWrite, script: &mut Script) {
    match write {
        RowWrite::RealtimeCursor(c) => script.statement(
            "INSERT OR REPLACE INTO realtime_cursors (tenant, target, change_seq,
               provisioned_request, provision_request, provision_after, provisioned_count)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                Bind::shared(&c.tenant),
                Bind::shared(&c.target),
                Bind::Int(c.change_seq),
                Bind::opt_owned(c.provisioned_request.clone()),
                Bind::opt_owned(c.provision_request.clone()),
                Bind::opt_owned(c.provision_after.clone()),
                Bind::Int(c.provisioned_count),
            ],
        ),
        RowWrite::DropRealtimeCursor { tenant, target } => script.statement(
            "DELETE FROM realtime_cursors WHERE tenant = ? AND target = ?",
            [Bind::shared(tenant), Bind::shared(target)],
        ),
        _ => {}
    }
}

impl Store {
    /// The cursor of real-time target `target` of `tenant`, when one was written.
    pub async fn realtime_cursor(
        &self,
        tenant: &str,
        target: &str,
    ) -> Result<Option<RealtimeCursor>, StoreError> {
        let row = sqlx::query(
            "SELECT change_seq, provisioned_request, provision_request, provision_after,
                    provisioned_count
               FROM realtime_cursors WHERE tenant = ? AND target = ?",
        )
        .bind(tenant)
        .bind(target)
        .fetch_optional(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read a real-time cursor"))?;
        let Some(row) = row else { return Ok(None) };
        let read = |e| StoreError::Sql {
            action: "read a real-time cursor",
            source: e,
        };
        Ok(Some(RealtimeCursor {
            tenant: Arc::from(tenant),
            target: Arc::from(target),
            change_seq: row.try_get("change_seq").map_err(read)?,
            provisioned_request: row.try_get("provisioned_request").map_err(read)?,
            provision_request: row.try_get("provision_request").map_err(read)?,
            provision_after: row.try_get("provision_after").map_err(read)?,
            provisioned_count: row.try_get("provisioned_count").map_err(read)?,
        }))
    }

    /// The newest change seq of `tenant` (0 when the log is empty).
    pub async fn last_change_seq(&self, tenant: &str) -> Result<i64, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM changes WHERE tenant = ?")
            .bind(tenant)
            .fetch_one(&self.inner.readers)
            .await
            .map_err(StoreError::sql("read the change log position"))?;
        Ok(seq.unwrap_or(0))
    }

    /// Whether user or group `entity_id` of `tenant` exists in the committed store (the
    /// directory publishes its in-memory state only after the commit).
    pub async fn entity_committed(
        &self,
        tenant: &str,
        kind: crate::directory::Kind,
        entity_id: &str,
    ) -> Result<bool, StoreError> {
        let sql = match kind {
            crate::directory::Kind::User => "SELECT 1 FROM users WHERE tenant = ? AND id = ?",
            crate::directory::Kind::Group => "SELECT 1 FROM groups WHERE tenant = ? AND id = ?",
        };
        let found: Option<i64> = sqlx::query_scalar(sql)
            .bind(tenant)
            .bind(entity_id)
            .fetch_optional(&self.inner.readers)
            .await
            .map_err(StoreError::sql("read an entity"))?;
        Ok(found.is_some())
    }

    /// Whether any change of user or group `entity_id` of `tenant` came from a provisioning
    /// job (origin `job:<id>`): such an entity is never pushed by real-time provisioning.
    pub async fn managed_by_job(
        &self,
        tenant: &str,
        kind: crate::directory::Kind,
        entity_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let origin: Option<String> = sqlx::query_scalar(
            "SELECT origin FROM changes WHERE tenant = ? AND kind = ? AND entity_id = ?
               AND origin LIKE 'job:%' ORDER BY seq LIMIT 1",
        )
        .bind(tenant)
        .bind(kind.name())
        .bind(entity_id)
        .fetch_optional(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read the change log"))?;
        Ok(origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Kind, Origin};
    use crate::store::Operation;

    fn change(id: &str, origin: Origin) -> RowWrite {
        RowWrite::Change {
            tenant: Arc::from("acme"),
            kind: Kind::User,
            entity_id: Arc::from(id),
            operation: Operation::Update,
            origin,
            at: jiff::Timestamp::now(),
        }
    }

    #[tokio::test]
    async fn entity_committed_reads_the_store_not_the_published_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let writer = crate::directory::WriterHandle::start(&store).await.unwrap();
        let directory = crate::directory::Directory::open(&store, writer, "acme")
            .await
            .unwrap();
        let user = directory
            .create(
                Kind::User,
                serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                   "userName": "ada"}),
                Origin::ScimV2,
            )
            .await
            .unwrap();
        let id = user.to_json("/x")["id"].as_str().unwrap().to_string();
        assert!(
            store
                .entity_committed("acme", Kind::User, &id)
                .await
                .unwrap()
        );
        assert!(
            !store
                .entity_committed("acme", Kind::Group, &id)
                .await
                .unwrap()
        );
        assert!(
            !store
                .entity_committed("other", Kind::User, &id)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn cursor_round_trip_and_job_marker() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        let cursor = RealtimeCursor {
            tenant: Arc::from("acme"),
            target: Arc::from("default/rt"),
            change_seq: 7,
            provision_request: Some("r1".into()),
            provision_after: Some("u9".into()),
            provisioned_count: 3,
            ..Default::default()
        };
        let job = Origin::ProvisioningJob {
            system_id: "s1".into(),
        };
        conn.commit(
            &[
                RowWrite::RealtimeCursor(cursor.clone()),
                change("u1", Origin::ScimV2),
                change("u2", job),
                change("u2", Origin::ScimV2),
            ],
            1,
        )
        .unwrap();
        let read = store.realtime_cursor("acme", "default/rt").await.unwrap();
        assert_eq!(read, Some(cursor));
        assert_eq!(
            store
                .managed_by_job("acme", Kind::User, "u1")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .managed_by_job("acme", Kind::User, "u2")
                .await
                .unwrap()
                .as_deref(),
            Some("job:s1")
        );
        assert_eq!(store.last_change_seq("acme").await.unwrap(), 3);
        conn.commit(
            &[RowWrite::DropRealtimeCursor {
                tenant: Arc::from("acme"),
                target: Arc::from("default/rt"),
            }],
            1,
        )
        .unwrap();
        assert_eq!(
            store.realtime_cursor("acme", "default/rt").await.unwrap(),
            None
        );
    }
}
