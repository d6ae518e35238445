//! The provisioning rows of the store: real-time events and their fan-out to target systems
//! (the outbox, `deliveries`), source -> target id mappings and real-time log entries; their
//! statements in the batch script of the writer's commit path and the reads the delivery engine and the logs endpoint use.
//!
//! Invariants:
//! - An accepted event and its delivery rows are written by ONE [`RowWrite::AcceptEvent`], so
//!   they commit together or not at all.
//! - Event sequence numbers are allocated by [`EventSeq`] inside the writer task, so they
//!   ascend in commit order; a rolled-back batch leaves a gap, never a duplicate.
//! - Entity types are stored as `user` / `group`; timestamps as RFC 3339 UTC milliseconds
//!   (lexicographic order = time order, which retention pruning relies on).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::StoreError;
use super::rows::{RowWrite, format_timestamp};
use super::script::{Bind, Script};
use crate::directory::Kind;

/// What a real-time event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventOperation {
    /// Create or update (idempotent, keyed by the entity id).
    Upsert,
    Delete,
}

impl EventOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            EventOperation::Upsert => "upsert",
            EventOperation::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<EventOperation> {
        match s {
            "upsert" => Some(EventOperation::Upsert),
            "delete" => Some(EventOperation::Delete),
            _ => None,
        }
    }
}

/// The state of one delivery row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting to be sent (first time or retry at `next_attempt_at`).
    Pending,
    Delivered,
    /// Given up (dead letter); `last_error` says why.
    Failed,
    /// Replaced by a later delivery of the same entity to the same target (coalesced).
    Superseded,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        Some(match s {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            "superseded" => DeliveryStatus::Superseded,
            _ => return None,
        })
    }
}

/// A real-time event as accepted by the real-time provisioning API.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisioningEvent {
    /// From [`EventSeq::next`]; the `eventId` of the API answer.
    pub seq: i64,
    pub tenant: Arc<str>,
    pub source_system_id: Arc<str>,
    pub entity_type: Kind,
    pub entity_id: Arc<str>,
    pub operation: EventOperation,
    /// The body as received, for upserts; `None` for deletes.
    pub payload: Option<Arc<str>>,
    pub accepted_at: Timestamp,
}

/// A pending delivery joined with its event: what the delivery engine works on.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDelivery {
    pub seq: i64,
    pub tenant: String,
    pub target_system_id: String,
    pub event_seq: i64,
    pub source_system_id: String,
    pub entity_type: Kind,
    pub entity_id: String,
    pub operation: EventOperation,
    pub payload: Option<String>,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub accepted_at: Timestamp,
    /// The entity's id in the target system as `id_mappings` had it when the row was read
    /// (`None`: unmapped then); the delivery engine seeds its mapping cache with it.
    pub mapped_target_id: Option<String>,
}

/// A stored source -> target id mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMappingRow {
    pub target_id: String,
    /// The entity already existed in the target when first mapped (conflict resolution).
    pub existed_before: bool,
}

/// Overall result of one real-time execution (spec/domain.md §3.5 rule 36).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogStatus {
    #[serde(rename = "Finished Successfully")]
    FinishedSuccessfully,
    #[serde(rename = "Finished with Error")]
    FinishedWithError,
}

impl LogStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStatus::FinishedSuccessfully => "Finished Successfully",
            LogStatus::FinishedWithError => "Finished with Error",
        }
    }

    /// Parses the stored form or the short query forms `success` / `error`.
    pub fn parse(s: &str) -> Option<LogStatus> {
        match s {
            "Finished Successfully" | "success" | "successful" => {
                Some(LogStatus::FinishedSuccessfully)
            }
            "Finished with Error" | "error" | "failed" => Some(LogStatus::FinishedWithError),
            _ => None,
        }
    }
}

/// Which side of the execution a log detail row describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemRole {
    Source,
    Target,
}

/// One row of "Result on Source and Target System" (spec/domain.md §3.5 rule 37).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogDetail {
    /// The system's display name.
    pub system: String,
    pub role: SystemRole,
    /// `CREATE`, `UPDATE`, `PATCH`, `DELETE` (or `READ` for the source side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// `Entity Created`, `Entity Updated`, `Entity Skipped`, `Entity Already Provisioned`,
    /// `Entity Failed`, `Entity Read`, `Entity Deleted`, `Entity Not Provisioned`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_information: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One real-time log entry (one per execution).
#[derive(Debug, Clone, PartialEq)]
pub struct RealtimeLogEntry {
    pub tenant: Arc<str>,
    pub started_at: Timestamp,
    /// The source system id.
    pub source_system: Arc<str>,
    pub source_system_name: Arc<str>,
    pub entity_type: Kind,
    pub entity_id_source: Option<Arc<str>>,
    /// The entity's id in the target (empty on a source-side failure).
    pub entity_id_target: Option<Arc<str>>,
    pub status: LogStatus,
    /// The error message of the execution, if any.
    pub message: Option<Arc<str>>,
    pub details: Vec<LogDetail>,
    /// The entity content: only set when an `ips.trace.*` property asks for it.
    pub content: Option<Arc<str>>,
}

/// A real-time log entry as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RealtimeLogRecord {
    pub id: i64,
    #[serde(with = "timestamp_text")]
    pub started_at: Timestamp,
    pub source_system: String,
    pub source_system_name: String,
    #[serde(serialize_with = "serialize_entity_type")]
    pub entity_type: Kind,
    pub entity_id_source: Option<String>,
    pub entity_id_target: Option<String>,
    pub status: LogStatus,
    pub message: Option<String>,
    pub details: Vec<LogDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// Which real-time log entries to read (all set fields must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealtimeLogFilter {
    pub status: Option<LogStatus>,
    pub entity_type: Option<Kind>,
    /// Matches the source system id or its display name.
    pub source_system: Option<String>,
    /// Matches the entity id in the source or in the target.
    pub entity_id: Option<String>,
}

mod timestamp_text {
    use jiff::Timestamp;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_timestamp(*ts))
    }
}

fn serialize_entity_type<S: serde::Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(entity_type_str(*kind))
}

/// The stored and wire form of an entity type: `user` / `group`.
pub fn entity_type_str(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "user",
        Kind::Group => "group",
    }
}

/// Parses `user` / `group`.
pub fn parse_entity_type(s: &str) -> Option<Kind> {
    match s {
        "user" => Some(Kind::User),
        "group" => Some(Kind::Group),
        _ => None,
    }
}

/// Allocates event sequence numbers (the `eventId`s). Seeded from the store at open.
#[derive(Debug, Default)]
pub struct EventSeq(AtomicI64);

impl EventSeq {
    pub(super) fn starting_after(last: i64) -> EventSeq {
        EventSeq(AtomicI64::new(last))
    }

    /// The next event sequence number. Call it inside a writer job so that numbers ascend
    /// in commit order.
    pub fn next(&self) -> i64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The highest event sequence number ever used (also of deleted events).
pub(super) async fn last_event_seq(pool: &SqlitePool) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT MAX(COALESCE((SELECT MAX(seq) FROM provisioning_events), 0),
                    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'provisioning_events'), 0))
           AS last",
    )
    .fetch_one(pool)
    .await
    .map_err(StoreError::sql("read the last event sequence"))?;
    row.try_get("last")
        .map_err(StoreError::sql("read the last event sequence"))
}

/// Adds the statements of one provisioning row write to `script` (nothing for other writes).
pub(super) fn push(write: &RowWrite, script: &mut Script) -> Result<(), StoreError> {
    match write {
        RowWrite::AcceptEvent { event, targets } => push_accept_event(event, targets, script),
        RowWrite::DeliveryState {
            seq,
            state,
            attempts,
            next_attempt_at,
            last_error,
            updated_at,
        } => script.statement(
            "UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?,
               updated_at = ? WHERE seq = ?",
            [
                Bind::Word(state.as_str()),
                Bind::Int(i64::from(*attempts)),
                Bind::Owned(format_timestamp(*next_attempt_at)),
                Bind::opt_shared(last_error.as_ref()),
                Bind::Owned(format_timestamp(*updated_at)),
                Bind::Int(*seq),
            ],
        ),
        RowWrite::SupersedeDeliveries {
            tenant,
            target_system_id,
            entity_type,
            entity_id,
            up_to_seq,
            updated_at,
        } => script.statement(
            "UPDATE deliveries SET state = 'superseded', updated_at = ?
              WHERE state = 'pending' AND tenant = ? AND target_system_id = ?
                AND entity_type = ? AND entity_id = ? AND seq < ?",
            [
                Bind::Owned(format_timestamp(*updated_at)),
                Bind::shared(tenant),
                Bind::shared(target_system_id),
                Bind::Word(entity_type_str(*entity_type)),
                Bind::shared(entity_id),
                Bind::Int(*up_to_seq),
            ],
        ),
        RowWrite::IdMapping {
            tenant,
            target_system_id,
            entity_type,
            source_id,
            target_id,
            existed_before,
        } => script.statement(
            "INSERT INTO id_mappings
               (tenant, target_system_id, entity_type, source_id, target_id, existed_before)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (tenant, target_system_id, entity_type, source_id)
             DO UPDATE SET target_id = excluded.target_id,
                           existed_before = excluded.existed_before",
            [
                Bind::shared(tenant),
                Bind::shared(target_system_id),
                Bind::Word(entity_type_str(*entity_type)),
                Bind::shared(source_id),
                Bind::shared(target_id),
                Bind::Int(i64::from(*existed_before)),
            ],
        ),
        RowWrite::DeleteIdMapping {
            tenant,
            target_system_id,
            entity_type,
            source_id,
        } => script.statement(
            "DELETE FROM id_mappings WHERE tenant = ? AND target_system_id = ?
               AND entity_type = ? AND source_id = ?",
            [
                Bind::shared(tenant),
                Bind::shared(target_system_id),
                Bind::Word(entity_type_str(*entity_type)),
                Bind::shared(source_id),
            ],
        ),
        RowWrite::RealtimeLog(entry) => push_log(entry, script)?,
        RowWrite::PruneRealtimeLogs {
            tenant,
            source_system,
            before,
        } => script.statement(
            "DELETE FROM realtime_logs WHERE tenant = ? AND started_at < ?
               AND (? IS NULL OR source_system = ?)",
            [
                Bind::shared(tenant),
                Bind::Owned(format_timestamp(*before)),
                Bind::opt_shared(source_system.as_ref()),
                Bind::opt_shared(source_system.as_ref()),
            ],
        ),
        _ => {}
    }
    Ok(())
}

/// The event row, then one `pending` delivery row per target (in `targets` order).
fn push_accept_event(event: &ProvisioningEvent, targets: &[Arc<str>], script: &mut Script) {
    let accepted_at = format_timestamp(event.accepted_at);
    script.statement(
        "INSERT INTO provisioning_events
           (seq, tenant, source_system_id, entity_type, entity_id, operation, payload, accepted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            Bind::Int(event.seq),
            Bind::shared(&event.tenant),
            Bind::shared(&event.source_system_id),
            Bind::Word(entity_type_str(event.entity_type)),
            Bind::shared(&event.entity_id),
            Bind::Word(event.operation.as_str()),
            Bind::opt_shared(event.payload.as_ref()),
            Bind::Owned(accepted_at.clone()),
        ],
    );
    for target in targets {
        script.statement(
            "INSERT INTO deliveries (tenant, target_system_id, event_seq, entity_type, entity_id,
               state, attempts, next_attempt_at, last_error, updated_at)
             VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, NULL, ?)",
            [
                Bind::shared(&event.tenant),
                Bind::shared(target),
                Bind::Int(event.seq),
                Bind::Word(entity_type_str(event.entity_type)),
                Bind::shared(&event.entity_id),
                Bind::Owned(accepted_at.clone()),
                Bind::Owned(accepted_at.clone()),
            ],
        );
    }
}

fn push_log(entry: &RealtimeLogEntry, script: &mut Script) -> Result<(), StoreError> {
    let details = serde_json::to_string(&entry.details).map_err(|e| StoreError::Corrupt {
        table: "realtime_logs",
        detail: format!("details not serialisable: {e}"),
    })?;
    script.statement(
        "INSERT INTO realtime_logs (tenant, started_at, source_system, source_system_name,
           entity_type, entity_id_source, entity_id_target, status, message, details, content)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            Bind::shared(&entry.tenant),
            Bind::Owned(format_timestamp(entry.started_at)),
            Bind::shared(&entry.source_system),
            Bind::shared(&entry.source_system_name),
            Bind::Word(entity_type_str(entry.entity_type)),
            Bind::opt_shared(entry.entity_id_source.as_ref()),
            Bind::opt_shared(entry.entity_id_target.as_ref()),
            Bind::Word(entry.status.as_str()),
            Bind::opt_shared(entry.message.as_ref()),
            Bind::Owned(details),
            Bind::opt_shared(entry.content.as_ref()),
        ],
    );
    Ok(())
}

fn corrupt(table: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { table, detail }
}

fn text(row: &SqliteRow, column: &str) -> Result<String, StoreError> {
    row.try_get(column)
        .map_err(StoreError::sql("read a provisioning row"))
}

fn opt_text(row: &SqliteRow, column: &str) -> Result<Option<String>, StoreError> {
    row.try_get(column)
        .map_err(StoreError::sql("read a provisioning row"))
}

fn int(row: &SqliteRow, column: &str) -> Result<i64, StoreError> {
    row.try_get(column)
        .map_err(StoreError::sql("read a provisioning row"))
}

fn ts(row: &SqliteRow, column: &str, table: &'static str) -> Result<Timestamp, StoreError> {
    let value = text(row, column)?;
    value
        .parse()
        .map_err(|e| corrupt(table, format!("{column} {value:?}: {e}")))
}

fn entity_type(row: &SqliteRow, table: &'static str) -> Result<Kind, StoreError> {
    let value = text(row, "entity_type")?;
    parse_entity_type(&value).ok_or_else(|| corrupt(table, format!("entity_type {value:?}")))
}

pub(super) fn pending_delivery_row(row: &SqliteRow) -> Result<PendingDelivery, StoreError> {
    let operation = text(row, "operation")?;
    let attempts = int(row, "attempts")?;
    Ok(PendingDelivery {
        seq: int(row, "seq")?,
        tenant: text(row, "tenant")?,
        target_system_id: text(row, "target_system_id")?,
        event_seq: int(row, "event_seq")?,
        source_system_id: text(row, "source_system_id")?,
        entity_type: entity_type(row, "deliveries")?,
        entity_id: text(row, "entity_id")?,
        operation: EventOperation::parse(&operation)
            .ok_or_else(|| corrupt("provisioning_events", format!("operation {operation:?}")))?,
        payload: opt_text(row, "payload")?,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt("deliveries", format!("attempts {attempts}")))?,
        next_attempt_at: ts(row, "next_attempt_at", "deliveries")?,
        accepted_at: ts(row, "accepted_at", "provisioning_events")?,
        mapped_target_id: opt_text(row, "mapped_target_id")?,
    })
}

pub(super) fn event_row(row: &SqliteRow) -> Result<ProvisioningEvent, StoreError> {
    let operation = text(row, "operation")?;
    Ok(ProvisioningEvent {
        seq: int(row, "seq")?,
        tenant: Arc::from(text(row, "tenant")?),
        source_system_id: Arc::from(text(row, "source_system_id")?),
        entity_type: entity_type(row, "provisioning_events")?,
        entity_id: Arc::from(text(row, "entity_id")?),
        operation: EventOperation::parse(&operation)
            .ok_or_else(|| corrupt("provisioning_events", format!("operation {operation:?}")))?,
        payload: opt_text(row, "payload")?.map(Arc::from),
        accepted_at: ts(row, "accepted_at", "provisioning_events")?,
    })
}

pub(super) fn log_row(row: &SqliteRow) -> Result<RealtimeLogRecord, StoreError> {
    let status = text(row, "status")?;
    let details = text(row, "details")?;
    Ok(RealtimeLogRecord {
        id: int(row, "id")?,
        started_at: ts(row, "started_at", "realtime_logs")?,
        source_system: text(row, "source_system")?,
        source_system_name: text(row, "source_system_name")?,
        entity_type: entity_type(row, "realtime_logs")?,
        entity_id_source: opt_text(row, "entity_id_source")?,
        entity_id_target: opt_text(row, "entity_id_target")?,
        status: LogStatus::parse(&status)
            .ok_or_else(|| corrupt("realtime_logs", format!("status {status:?}")))?,
        message: opt_text(row, "message")?,
        details: serde_json::from_str(&details)
            .map_err(|e| corrupt("realtime_logs", format!("details: {e}")))?,
        content: opt_text(row, "content")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    fn event(store: &Store, entity: &str, op: EventOperation) -> ProvisioningEvent {
        ProvisioningEvent {
            seq: store.event_seq().next(),
            tenant: Arc::from("acme"),
            source_system_id: Arc::from("src"),
            entity_type: Kind::User,
            entity_id: Arc::from(entity),
            operation: op,
            payload: (op == EventOperation::Upsert).then(|| Arc::from(r#"{"userName":"a"}"#)),
            accepted_at: at(1_700_000_000_000),
        }
    }

    fn accept(event: ProvisioningEvent, targets: &[&str]) -> RowWrite {
        RowWrite::AcceptEvent {
            event,
            targets: targets.iter().map(|t| Arc::from(*t)).collect(),
        }
    }

    fn log(source: &str, started: i64, status: LogStatus) -> RowWrite {
        RowWrite::RealtimeLog(Box::new(RealtimeLogEntry {
            tenant: Arc::from("acme"),
            started_at: at(started),
            source_system: Arc::from(source),
            source_system_name: Arc::from(format!("{source} name")),
            entity_type: Kind::User,
            entity_id_source: Some(Arc::from("u1")),
            entity_id_target: None,
            status,
            message: None,
            details: vec![LogDetail {
                system: format!("{source} name"),
                role: SystemRole::Source,
                operation: Some("READ".into()),
                state: "Entity Read".into(),
                additional_information: Some("no target system connected".into()),
                reason: None,
            }],
            content: None,
        }))
    }

    #[tokio::test]
    async fn accepted_event_fans_out_to_pending_deliveries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        let first = event(&store, "u1", EventOperation::Upsert);
        let second = event(&store, "u1", EventOperation::Delete);
        assert_eq!((first.seq, second.seq), (1, 2));
        conn.commit(
            &[
                accept(first.clone(), &["t1", "t2"]),
                accept(second.clone(), &["t1"]),
            ],
            2,
        )
        .unwrap();
        let pending = store.pending_deliveries(10).await.unwrap();
        assert_eq!(pending.len(), 3);
        assert_eq!(pending[0].target_system_id, "t1");
        assert_eq!(pending[0].event_seq, 1);
        assert_eq!(pending[0].payload.as_deref(), Some(r#"{"userName":"a"}"#));
        assert_eq!(pending[0].source_system_id, "src");
        assert_eq!(pending[2].operation, EventOperation::Delete);
        assert_eq!(pending[2].payload, None);
        assert_eq!(
            store
                .pending_deliveries_after(pending[0].seq, 1)
                .await
                .unwrap()[0]
                .seq,
            pending[1].seq
        );
        assert_eq!(
            store.delivery_counters("acme", "t1").await.unwrap(),
            (2, 0, 0)
        );
        assert_eq!(
            store.deliveries_of_event(1).await.unwrap(),
            vec![
                ("t1".to_string(), DeliveryStatus::Pending),
                ("t2".to_string(), DeliveryStatus::Pending)
            ]
        );
        assert_eq!(
            store.provisioning_events("acme", 0, 10).await.unwrap(),
            vec![first, second]
        );
        assert!(
            store
                .provisioning_events("other", 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn supersede_and_delivery_state_update_counters() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        let writes: Vec<RowWrite> = (0..3)
            .map(|_| accept(event(&store, "u1", EventOperation::Upsert), &["t1"]))
            .collect();
        conn.commit(&writes, 3).unwrap();
        let pending = store.pending_deliveries(10).await.unwrap();
        let latest = pending[2].seq;
        conn.commit(
            &[
                RowWrite::SupersedeDeliveries {
                    tenant: Arc::from("acme"),
                    target_system_id: Arc::from("t1"),
                    entity_type: Kind::User,
                    entity_id: Arc::from("u1"),
                    up_to_seq: latest,
                    updated_at: at(1_700_000_001_000),
                },
                RowWrite::DeliveryState {
                    seq: latest,
                    state: DeliveryStatus::Failed,
                    attempts: 3,
                    next_attempt_at: at(1_700_000_002_000),
                    last_error: Some(Arc::from("400 invalidValue")),
                    updated_at: at(1_700_000_002_000),
                },
            ],
            1,
        )
        .unwrap();
        assert!(store.pending_deliveries(10).await.unwrap().is_empty());
        assert_eq!(
            store.delivery_counters("acme", "t1").await.unwrap(),
            (0, 0, 1)
        );
    }

    #[tokio::test]
    async fn id_mappings_upsert_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        let map = |target: &str, existed| RowWrite::IdMapping {
            tenant: Arc::from("acme"),
            target_system_id: Arc::from("t1"),
            entity_type: Kind::Group,
            source_id: Arc::from("g1"),
            target_id: Arc::from(target),
            existed_before: existed,
        };
        conn.commit(&[map("x", false), map("y", true)], 1).unwrap();
        assert_eq!(
            store
                .id_mapping("acme", "t1", Kind::Group, "g1")
                .await
                .unwrap(),
            Some(IdMappingRow {
                target_id: "y".into(),
                existed_before: true
            })
        );
        assert_eq!(
            store
                .id_mapping("acme", "t1", Kind::User, "g1")
                .await
                .unwrap(),
            None
        );
        conn.commit(
            &[RowWrite::DeleteIdMapping {
                tenant: Arc::from("acme"),
                target_system_id: Arc::from("t1"),
                entity_type: Kind::Group,
                source_id: Arc::from("g1"),
            }],
            1,
        )
        .unwrap();
        assert_eq!(
            store
                .id_mapping("acme", "t1", Kind::Group, "g1")
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn realtime_logs_filter_newest_first_and_prune() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        conn.commit(
            &[
                log("s1", 1_000, LogStatus::FinishedSuccessfully),
                log("s1", 3_000, LogStatus::FinishedWithError),
                log("s2", 2_000, LogStatus::FinishedSuccessfully),
            ],
            1,
        )
        .unwrap();
        let all = store
            .realtime_logs("acme", &RealtimeLogFilter::default(), 10)
            .await
            .unwrap();
        let starts: Vec<i64> = all.iter().map(|l| l.started_at.as_millisecond()).collect();
        assert_eq!(starts, vec![3_000, 2_000, 1_000]);
        assert_eq!(all[0].details[0].state, "Entity Read");
        let errors = RealtimeLogFilter {
            status: Some(LogStatus::FinishedWithError),
            ..Default::default()
        };
        assert_eq!(
            store
                .realtime_logs("acme", &errors, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        let by_name = RealtimeLogFilter {
            source_system: Some("s2 name".into()),
            entity_type: Some(Kind::User),
            entity_id: Some("u1".into()),
            ..Default::default()
        };
        assert_eq!(
            store
                .realtime_logs("acme", &by_name, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        let groups = RealtimeLogFilter {
            entity_type: Some(Kind::Group),
            ..Default::default()
        };
        assert!(
            store
                .realtime_logs("acme", &groups, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .realtime_logs("acme", &RealtimeLogFilter::default(), 1)
                .await
                .unwrap()
                .len(),
            1
        );
        // Prune s1 before 2 s: only its first entry goes; then everything before 2.5 s.
        let prune = |system: Option<&str>, before| RowWrite::PruneRealtimeLogs {
            tenant: Arc::from("acme"),
            source_system: system.map(Arc::from),
            before: at(before),
        };
        conn.commit(&[prune(Some("s1"), 2_500)], 1).unwrap();
        let left = store
            .realtime_logs("acme", &RealtimeLogFilter::default(), 10)
            .await
            .unwrap();
        assert_eq!(left.len(), 2);
        conn.commit(&[prune(None, 2_500)], 1).unwrap();
        let left = store
            .realtime_logs("acme", &RealtimeLogFilter::default(), 10)
            .await
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].started_at.as_millisecond(), 3_000);
    }

    #[tokio::test]
    async fn failed_accept_commits_nothing_and_seq_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).await.unwrap();
            let mut conn = store.write_connection().unwrap();
            let e = event(&store, "u1", EventOperation::Upsert);
            conn.commit(&[accept(e.clone(), &["t1"])], 1).unwrap();
            // The same seq again violates the primary key: nothing of the batch is applied.
            let other = event(&store, "u2", EventOperation::Upsert);
            assert!(
                conn.commit(&[accept(other, &["t1"]), accept(e, &["t2"])], 2)
                    .is_err()
            );
            assert_eq!(
                store
                    .provisioning_events("acme", 0, 10)
                    .await
                    .unwrap()
                    .len(),
                1
            );
            assert_eq!(
                store.delivery_counters("acme", "t1").await.unwrap(),
                (1, 0, 0)
            );
            assert_eq!(
                store.delivery_counters("acme", "t2").await.unwrap(),
                (0, 0, 0)
            );
        }
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.event_seq().next(), 2);
    }

    #[test]
    fn enums_round_trip() {
        for s in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Superseded,
        ] {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
        for op in [EventOperation::Upsert, EventOperation::Delete] {
            assert_eq!(EventOperation::parse(op.as_str()), Some(op));
        }
        assert_eq!(
            LogStatus::parse("error"),
            Some(LogStatus::FinishedWithError)
        );
        assert_eq!(
            LogStatus::parse(LogStatus::FinishedSuccessfully.as_str()),
            Some(LogStatus::FinishedSuccessfully)
        );
        assert_eq!(
            parse_entity_type(entity_type_str(Kind::Group)),
            Some(Kind::Group)
        );
        assert_eq!(parse_entity_type("User"), None);
    }
}
