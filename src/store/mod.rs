//! Persistence: one SQLite file per data directory (`idrelay.db`, WAL, `synchronous=FULL` except
//! on the write connection, which syncs the WAL itself: see `write_connection`; foreign keys) with embedded migrations, plus the row writes of the directory's group commit.
//!
//! Invariants:
//! - Exactly one [`WriteConnection`] is used, by the directory committer thread; a batch of row
//!   writes is applied in ONE transaction (its statements built by `script`), so a commit (one
//!   fsync) covers a whole batch and the change records commit together with the rows they
//!   describe.
//! - Reads done here (loading a tenant, reading the change log) see committed data only; the
//!   reads whose results leave the process (the change log, pending deliveries) return only
//!   rows that are durable (`durability`).
//! - Errors never carry resource bodies or secrets, only what failed.

mod checkpoint;
mod durability;
mod jobs;
mod migrations;
mod multi_row;
mod provisioning;
mod realtime;
mod rows;
mod script;
mod write_connection;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection};

pub use jobs::{
    FailedEntity, JobEntityKey, JobRunRecord, JobSourceState, JobStatus, JobTrigger, JobType,
    MAX_FAILED_ENTITIES, ReadMode, StatisticsRole, SystemStatistics,
};
pub use migrations::MIGRATIONS;
pub use provisioning::{
    DeliveryStatus, EventOperation, EventSeq, IdMappingRow, LogDetail, LogStatus, PendingDelivery,
    ProvisioningEvent, RealtimeLogEntry, RealtimeLogFilter, RealtimeLogRecord, SystemRole,
    entity_type_str, parse_entity_type,
};
pub use realtime::RealtimeCursor;
pub use rows::{
    ChangeRecord, Operation, RowWrite, StoredMembership, StoredResource, TenantRows,
    format_timestamp,
};
pub use write_connection::{WalSync, WriteConnection};

use crate::directory::{Kind, Origin};
use rows::parse_kind;

/// The database file inside the data directory.
pub const DB_FILE: &str = "idrelay.db";

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database error while trying to {action}: {source}")]
    Sql {
        action: &'static str,
        source: sqlx::Error,
    },
    #[error("database error while trying to {action}: {source}")]
    Write {
        action: &'static str,
        source: rusqlite::Error,
    },
    /// The WAL sync failed: commits since the last sync may not be durable. Kernels may drop
    /// the unwritten pages after reporting this, so a later sync succeeding proves nothing.
    #[error("cannot {action}: {source}")]
    WalSync {
        action: &'static str,
        source: std::io::Error,
    },
    /// A WAL sync failed earlier: no later sync can prove the commits since durable.
    #[error("the store could not make its latest commits durable; restart idrelay")]
    NotDurable,
    #[error("the database has schema version {version}, which this idrelay does not know")]
    SchemaTooNew { version: i64 },
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("cannot start the directory writer thread: {0}")]
    WriterThread(std::io::Error),
}

impl StoreError {
    fn sql(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Sql { action, source }
    }
}

/// Group-commit counters: how many batches were committed and how many jobs they carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub commits: u64,
    pub jobs: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    jobs: AtomicU64,
    durability: durability::Durability,
}

/// The store of one data directory. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    data_dir: PathBuf,
    /// Read connections (loading tenants, reading the change log).
    readers: SqlitePool,
    counters: Arc<Counters>,
    /// Copies the WAL into the database file beside the writer (stops with the store).
    _checkpointer: checkpoint::Checkpointer,
    /// Allocates real-time event sequence numbers (seeded from the store at open).
    event_seq: EventSeq,
}

impl Store {
    /// Opens (creating when missing) `data_dir/idrelay.db` and applies pending migrations.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(StoreError::sql("build connection options"))?
            .filename(data_dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(StoreError::sql("open the database"))?;
        let applied = migrations::apply(&mut conn).await?;
        if !applied.is_empty() {
            tracing::info!(versions = ?applied, "applied store migrations");
        }
        // An earlier process may have left commits it had not synced yet: sync them, so that
        // everything on disk starts out durable (see `durability`).
        write_connection::sync_left_over_wal(&data_dir.join(DB_FILE))?;
        let marks = durability_marks(&mut conn).await?;
        conn.close()
            .await
            .map_err(StoreError::sql("close the migration connection"))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .map_err(StoreError::sql("open read connections"))?;
        let event_seq = EventSeq::starting_after(provisioning::last_event_seq(&readers).await?);
        let counters = Arc::new(Counters::default());
        counters.durability.start_at(marks);
        let commits = counters.clone();
        let checkpointer = checkpoint::Checkpointer::start(options.clone(), move || {
            commits.commits.load(Ordering::Relaxed)
        });
        Ok(Store {
            inner: Arc::new(StoreInner {
                data_dir: data_dir.to_path_buf(),
                readers,
                counters,
                _checkpointer: checkpointer,
                event_seq,
            }),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Group-commit counters since open.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.inner.counters.commits.load(Ordering::Relaxed),
            jobs: self.inner.counters.jobs.load(Ordering::Relaxed),
        }
    }

    /// Opens the connection the directory committer owns (see [`WriteConnection`]).
    pub fn write_connection(&self) -> Result<WriteConnection, StoreError> {
        WriteConnection::open(
            &self.inner.data_dir.join(DB_FILE),
            self.inner.counters.clone(),
        )
    }

    /// Everything stored for `tenant`, in insertion order.
    pub async fn load_tenant(&self, tenant: &str) -> Result<TenantRows, StoreError> {
        let mut conn = self
            .inner
            .readers
            .acquire()
            .await
            .map_err(StoreError::sql("acquire a read connection"))?;
        let users = sqlx::query(
            "SELECT id, seq, version, created, last_modified, body FROM users WHERE tenant = ? ORDER BY seq",
        )
        .bind(tenant)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::sql("load users"))?
        .iter()
        .map(|row| resource_row(row, "users"))
        .collect::<Result<Vec<_>, _>>()?;
        let groups = sqlx::query(
            "SELECT id, seq, version, created, last_modified, body FROM groups WHERE tenant = ? ORDER BY seq",
        )
        .bind(tenant)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::sql("load groups"))?
        .iter()
        .map(|row| resource_row(row, "groups"))
        .collect::<Result<Vec<_>, _>>()?;
        let memberships = sqlx::query(
            "SELECT group_id, member_id, member_type FROM memberships WHERE tenant = ? ORDER BY group_id, member_id",
        )
        .bind(tenant)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::sql("load memberships"))?
        .iter()
        .map(membership_row)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(TenantRows {
            users,
            groups,
            memberships,
        })
    }

    /// The allocator of real-time event sequence numbers (`RowWrite::AcceptEvent`'s
    /// `event.seq`). Use it inside a writer job so numbers ascend in commit order.
    pub fn event_seq(&self) -> &EventSeq {
        &self.inner.event_seq
    }

    /// Pending deliveries (of every tenant), oldest (`seq`) first, at most `limit`, each
    /// joined with its event.
    pub async fn pending_deliveries(&self, limit: u32) -> Result<Vec<PendingDelivery>, StoreError> {
        self.pending_deliveries_after(0, limit).await
    }

    /// The highest delivery `seq` that is durable: [`Store::pending_deliveries_after`] finds
    /// nothing after it (no query needed to know).
    pub fn durable_deliveries_seq(&self) -> i64 {
        self.inner.counters.durability.durable().deliveries
    }

    /// Pending deliveries with `seq > after_seq`, oldest first, at most `limit` (paging), all
    /// durable; each with the entity's id mapping in its target as of this read.
    pub async fn pending_deliveries_after(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let rows = sqlx::query(with_limit(
            "SELECT d.seq, d.tenant, d.target_system_id, d.event_seq, d.entity_type, d.entity_id,
                    d.attempts, d.next_attempt_at, e.source_system_id, e.operation, e.payload,
                    e.accepted_at, m.target_id AS mapped_target_id
               FROM deliveries d JOIN provisioning_events e ON e.seq = d.event_seq
               LEFT JOIN id_mappings m ON m.tenant = d.tenant
                    AND m.target_system_id = d.target_system_id
                    AND m.entity_type = d.entity_type AND m.source_id = d.entity_id
              WHERE d.state = 'pending' AND d.seq > ? AND d.seq <= ?
              ORDER BY d.seq",
            limit,
        ))
        .bind(after_seq)
        .bind(self.inner.counters.durability.durable().deliveries)
        .fetch_all(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read pending deliveries"))?;
        rows.iter()
            .map(provisioning::pending_delivery_row)
            .collect()
    }

    /// The target id of `source_id` in `target_system_id`, if mapped.
    pub async fn id_mapping(
        &self,
        tenant: &str,
        target_system_id: &str,
        entity_type: Kind,
        source_id: &str,
    ) -> Result<Option<IdMappingRow>, StoreError> {
        let row = sqlx::query(
            "SELECT target_id, existed_before FROM id_mappings
              WHERE tenant = ? AND target_system_id = ? AND entity_type = ? AND source_id = ?",
        )
        .bind(tenant)
        .bind(target_system_id)
        .bind(entity_type_str(entity_type))
        .bind(source_id)
        .fetch_optional(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read an id mapping"))?;
        row.map(|row| {
            let read = StoreError::sql("read an id mapping");
            Ok(IdMappingRow {
                target_id: row
                    .try_get("target_id")
                    .map_err(StoreError::sql("read an id mapping"))?,
                existed_before: row.try_get::<i64, _>("existed_before").map_err(read)? != 0,
            })
        })
        .transpose()
    }

    /// `(pending, delivered, failed)` delivery counts of one target system.
    pub async fn delivery_counters(
        &self,
        tenant: &str,
        target_system_id: &str,
    ) -> Result<(u64, u64, u64), StoreError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM deliveries
              WHERE tenant = ? AND target_system_id = ? GROUP BY state",
        )
        .bind(tenant)
        .bind(target_system_id)
        .fetch_all(&self.inner.readers)
        .await
        .map_err(StoreError::sql("count deliveries"))?;
        let mut counts = (0u64, 0u64, 0u64);
        for row in &rows {
            let state: String = row
                .try_get("state")
                .map_err(StoreError::sql("count deliveries"))?;
            let n: i64 = row
                .try_get("n")
                .map_err(StoreError::sql("count deliveries"))?;
            let n = u64::try_from(n).unwrap_or(0);
            match DeliveryStatus::parse(&state) {
                Some(DeliveryStatus::Pending) => counts.0 += n,
                Some(DeliveryStatus::Delivered) => counts.1 += n,
                Some(DeliveryStatus::Failed) => counts.2 += n,
                Some(DeliveryStatus::Superseded) => {}
                None => {
                    return Err(StoreError::Corrupt {
                        table: "deliveries",
                        detail: format!("state {state:?}"),
                    });
                }
            }
        }
        Ok(counts)
    }

    /// The deliveries of one event: `(target system id, state)` in delivery order.
    pub async fn deliveries_of_event(
        &self,
        event_seq: i64,
    ) -> Result<Vec<(String, DeliveryStatus)>, StoreError> {
        let rows = sqlx::query(
            "SELECT target_system_id, state FROM deliveries WHERE event_seq = ? ORDER BY seq",
        )
        .bind(event_seq)
        .fetch_all(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read the deliveries of an event"))?;
        rows.iter()
            .map(|row| {
                let target: String = row
                    .try_get("target_system_id")
                    .map_err(StoreError::sql("read a delivery"))?;
                let state: String = row
                    .try_get("state")
                    .map_err(StoreError::sql("read a delivery"))?;
                let state = DeliveryStatus::parse(&state).ok_or_else(|| StoreError::Corrupt {
                    table: "deliveries",
                    detail: format!("state {state:?}"),
                })?;
                Ok((target, state))
            })
            .collect()
    }

    /// Real-time events of `tenant` with `seq > after`, oldest first, at most `limit`.
    pub async fn provisioning_events(
        &self,
        tenant: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ProvisioningEvent>, StoreError> {
        let rows = sqlx::query(with_limit(
            "SELECT seq, tenant, source_system_id, entity_type, entity_id, operation, payload,
                    accepted_at
               FROM provisioning_events WHERE tenant = ? AND seq > ? ORDER BY seq",
            limit,
        ))
        .bind(tenant)
        .bind(after)
        .fetch_all(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read provisioning events"))?;
        rows.iter().map(provisioning::event_row).collect()
    }

    /// Real-time log entries of `tenant` matching `filter`, newest first, at most `limit`.
    pub async fn realtime_logs(
        &self,
        tenant: &str,
        filter: &RealtimeLogFilter,
        limit: u32,
    ) -> Result<Vec<RealtimeLogRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, started_at, source_system, source_system_name, entity_type,
                    entity_id_source, entity_id_target, status, message, details, content
               FROM realtime_logs
              WHERE tenant = ?1
                AND (?2 IS NULL OR status = ?2)
                AND (?3 IS NULL OR entity_type = ?3)
                AND (?4 IS NULL OR source_system = ?4 OR source_system_name = ?4)
                AND (?5 IS NULL OR entity_id_source = ?5 OR entity_id_target = ?5)
              ORDER BY started_at DESC, id DESC LIMIT ?6",
        )
        .bind(tenant)
        .bind(filter.status.map(LogStatus::as_str))
        .bind(filter.entity_type.map(entity_type_str))
        .bind(filter.source_system.as_deref())
        .bind(filter.entity_id.as_deref())
        .bind(i64::from(limit))
        .fetch_all(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read real-time logs"))?;
        rows.iter().map(provisioning::log_row).collect()
    }

    /// Change records of `tenant` with `seq > after`, oldest first, at most `limit`, all
    /// durable.
    pub async fn changes(
        &self,
        tenant: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let rows = sqlx::query(with_limit(
            "SELECT seq, tenant, kind, entity_id, operation, origin, at FROM changes
             WHERE tenant = ? AND seq > ? AND seq <= ? ORDER BY seq",
            limit,
        ))
        .bind(tenant)
        .bind(after)
        .bind(self.inner.counters.durability.durable().changes)
        .fetch_all(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read the change log"))?;
        rows.iter().map(change_row).collect()
    }
}

/// `sql` with ` LIMIT {limit}` appended, for the paging reads that run once per delivery batch.
///
/// The limit is written into the statement rather than bound: SQLite reads a bound `LIMIT`
/// while planning, so any new binding of it expires the prepared statement and the next step
/// parses and plans it again (in a paced provisioning run that was 40 % of the reader thread).
/// With a literal, sqlx keeps one prepared statement per distinct limit.
fn with_limit(sql: &str, limit: u32) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("{sql} LIMIT {limit}"))
}

/// The highest sequence numbers given out so far in the tables whose rows leave the process.
async fn durability_marks(conn: &mut SqliteConnection) -> Result<durability::Marks, StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(durability::MARKS_QUERY)
        .fetch_all(&mut *conn)
        .await
        .map_err(StoreError::sql("read the sequence numbers"))?;
    let mut marks = durability::Marks::default();
    for (table, seq) in rows {
        marks.note(&table, seq);
    }
    Ok(marks)
}

fn timestamp(row: &SqliteRow, column: &str, table: &'static str) -> Result<Timestamp, StoreError> {
    let text: String = row
        .try_get(column)
        .map_err(StoreError::sql("read a timestamp"))?;
    text.parse().map_err(|e| StoreError::Corrupt {
        table,
        detail: format!("{column} {text:?}: {e}"),
    })
}

fn resource_row(row: &SqliteRow, table: &'static str) -> Result<StoredResource, StoreError> {
    let read = StoreError::sql("read a resource row");
    Ok(StoredResource {
        id: row
            .try_get("id")
            .map_err(StoreError::sql("read a resource row"))?,
        seq: row
            .try_get("seq")
            .map_err(StoreError::sql("read a resource row"))?,
        version: row
            .try_get("version")
            .map_err(StoreError::sql("read a resource row"))?,
        created: timestamp(row, "created", table)?,
        last_modified: timestamp(row, "last_modified", table)?,
        body: row.try_get("body").map_err(read)?,
    })
}

fn membership_row(row: &SqliteRow) -> Result<StoredMembership, StoreError> {
    let member_type: String = row
        .try_get("member_type")
        .map_err(StoreError::sql("read a membership"))?;
    Ok(StoredMembership {
        group_id: row
            .try_get("group_id")
            .map_err(StoreError::sql("read a membership"))?,
        member_id: row
            .try_get("member_id")
            .map_err(StoreError::sql("read a membership"))?,
        member_type: parse_kind(&member_type).ok_or_else(|| StoreError::Corrupt {
            table: "memberships",
            detail: format!("member_type {member_type:?}"),
        })?,
    })
}

fn change_row(row: &SqliteRow) -> Result<ChangeRecord, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        table: "changes",
        detail,
    };
    let kind: String = row
        .try_get("kind")
        .map_err(StoreError::sql("read a change"))?;
    let operation: String = row
        .try_get("operation")
        .map_err(StoreError::sql("read a change"))?;
    let origin: String = row
        .try_get("origin")
        .map_err(StoreError::sql("read a change"))?;
    Ok(ChangeRecord {
        seq: row
            .try_get("seq")
            .map_err(StoreError::sql("read a change"))?,
        tenant: row
            .try_get("tenant")
            .map_err(StoreError::sql("read a change"))?,
        kind: parse_kind(&kind).ok_or_else(|| corrupt(format!("kind {kind:?}")))?,
        entity_id: row
            .try_get("entity_id")
            .map_err(StoreError::sql("read a change"))?,
        operation: Operation::parse(&operation)
            .ok_or_else(|| corrupt(format!("operation {operation:?}")))?,
        origin: Origin::from_stored(&origin)
            .ok_or_else(|| corrupt(format!("origin {origin:?}")))?,
        at: timestamp(row, "at", "changes")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Arc<str> {
        Arc::from("acme")
    }

    fn upsert(kind: Kind, id: &str, seq: i64, body: &str) -> RowWrite {
        let now = Timestamp::from_millisecond(1_700_000_000_123).unwrap();
        RowWrite::Upsert {
            tenant: tenant(),
            kind,
            id: Arc::from(id),
            seq,
            version: 1,
            created: now,
            last_modified: now,
            body: Arc::from(body),
        }
    }

    #[tokio::test]
    async fn batch_commits_rows_memberships_and_changes_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).await.unwrap();
            let mut conn = store.write_connection().unwrap();
            let writes = vec![
                upsert(Kind::User, "u1", 1, r#"{"userName":"a"}"#),
                upsert(Kind::Group, "g1", 2, r#"{"displayName":"G"}"#),
                RowWrite::AddMember {
                    tenant: tenant(),
                    group_id: Arc::from("g1"),
                    member_id: Arc::from("u1"),
                    member_type: Kind::User,
                },
                RowWrite::Change {
                    tenant: tenant(),
                    kind: Kind::User,
                    entity_id: Arc::from("u1"),
                    operation: Operation::Create,
                    origin: Origin::ProvisioningJob {
                        system_id: "s1".into(),
                    },
                    at: Timestamp::from_millisecond(1_700_000_000_123).unwrap(),
                },
            ];
            conn.commit(&writes, 2).unwrap();
            assert_eq!(
                store.stats(),
                StoreStats {
                    commits: 1,
                    jobs: 2
                }
            );
        }
        let store = Store::open(dir.path()).await.unwrap();
        let rows = store.load_tenant("acme").await.unwrap();
        assert_eq!(rows.users.len(), 1);
        assert_eq!(rows.users[0].body, r#"{"userName":"a"}"#);
        assert_eq!(rows.users[0].created.as_millisecond(), 1_700_000_000_123);
        assert_eq!(rows.groups[0].id, "g1");
        assert_eq!(
            rows.memberships,
            vec![StoredMembership {
                group_id: "g1".into(),
                member_id: "u1".into(),
                member_type: Kind::User
            }]
        );
        let changes = store.changes("acme", 0, 10).await.unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].origin,
            Origin::ProvisioningJob {
                system_id: "s1".into()
            }
        );
        assert_eq!(changes[0].operation, Operation::Create);
        assert!(store.load_tenant("other").await.unwrap().users.is_empty());
    }

    #[tokio::test]
    async fn failed_batch_applies_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        // A membership of a group that does not exist violates the foreign key.
        let writes = vec![
            upsert(Kind::User, "u1", 1, "{}"),
            RowWrite::AddMember {
                tenant: tenant(),
                group_id: Arc::from("missing"),
                member_id: Arc::from("u1"),
                member_type: Kind::User,
            },
        ];
        assert!(conn.commit(&writes, 1).is_err());
        assert!(store.load_tenant("acme").await.unwrap().users.is_empty());
        assert_eq!(store.stats().commits, 0);
        // The connection is usable again (the failed transaction was rolled back), and bodies
        // come back byte for byte.
        let body = r#"{"userName":"\u00fc\"'; DROP","n":-1.5e3,"x":"ü"}"#;
        conn.commit(&[upsert(Kind::User, "u1", 1, body)], 1)
            .unwrap();
        let rows = store.load_tenant("acme").await.unwrap();
        assert_eq!(rows.users[0].body, body);
        assert_eq!(rows.users[0].seq, 1);
        assert_eq!(store.stats().commits, 1);
    }

    /// Cost probe (run under callgrind) of committing batches of creates.
    #[tokio::test]
    #[ignore]
    async fn probe_batch_commit_cost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        let body = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:sap:2.0:User"],"userName":"bench-user-000000","name":{"givenName":"Bench","familyName":"bench-user-000000"},"displayName":"Bench bench-user-000000","emails":[{"value":"bench-user-000000@example.com","type":"work","primary":true}],"active":true,"urn:ietf:params:scim:schemas:extension:sap:2.0:User":{"userId":"P000001"}}"#;
        let mut seq = 0;
        for _ in 0..100 {
            let mut writes = Vec::new();
            for _ in 0..32 {
                seq += 1;
                let id = uuid::Uuid::new_v4().to_string();
                writes.push(upsert(Kind::User, &id, seq, body));
                writes.push(RowWrite::Change {
                    tenant: tenant(),
                    kind: Kind::User,
                    entity_id: Arc::from(id.as_str()),
                    operation: Operation::Create,
                    origin: Origin::ScimV2,
                    at: Timestamp::from_millisecond(1_700_000_000_123).unwrap(),
                });
            }
            conn.commit(&writes, 32).unwrap();
        }
        assert_eq!(store.load_tenant("acme").await.unwrap().users.len(), 3200);
    }

    #[tokio::test]
    async fn delete_removes_row_and_memberships() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        let add = RowWrite::AddMember {
            tenant: tenant(),
            group_id: Arc::from("g1"),
            member_id: Arc::from("u1"),
            member_type: Kind::User,
        };
        conn.commit(
            &[
                upsert(Kind::User, "u1", 1, "{}"),
                upsert(Kind::Group, "g1", 2, "{}"),
                add,
            ],
            1,
        )
        .unwrap();
        conn.commit(
            &[RowWrite::Delete {
                tenant: tenant(),
                kind: Kind::User,
                id: Arc::from("u1"),
            }],
            1,
        )
        .unwrap();
        let rows = store.load_tenant("acme").await.unwrap();
        assert!(rows.users.is_empty());
        assert!(rows.memberships.is_empty());
        assert_eq!(rows.groups.len(), 1);
    }
}
