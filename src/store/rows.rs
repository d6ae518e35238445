//! The row-level vocabulary of the store: what a directory batch writes ([`RowWrite`]) and what
//! loading a tenant or reading the change log returns.
//!
//! Invariant: a resource row's `body` is the SCIM JSON without `id`, `meta`, `groups` and
//! `members` (those live in columns and in `memberships`). Timestamps are RFC 3339 UTC with
//! milliseconds.

use std::sync::Arc;

use jiff::Timestamp;

use super::jobs::{JobEntityKey, JobRunRecord, JobSourceState};
use super::provisioning::{DeliveryStatus, ProvisioningEvent, RealtimeLogEntry};
use crate::directory::{Kind, Origin};

/// What a change record says happened to the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        Some(match s {
            "create" => Operation::Create,
            "update" => Operation::Update,
            "delete" => Operation::Delete,
            _ => return None,
        })
    }
}

/// One row change of a batch; applied in order inside the batch transaction.
#[derive(Debug, Clone)]
pub enum RowWrite {
    /// Insert or update a user or group row.
    Upsert {
        tenant: Arc<str>,
        kind: Kind,
        id: Arc<str>,
        seq: i64,
        version: i64,
        created: Timestamp,
        last_modified: Timestamp,
        body: Arc<str>,
    },
    /// Delete a user or group row and every membership it takes part in.
    Delete {
        tenant: Arc<str>,
        kind: Kind,
        id: Arc<str>,
    },
    AddMember {
        tenant: Arc<str>,
        group_id: Arc<str>,
        member_id: Arc<str>,
        member_type: Kind,
    },
    RemoveMember {
        tenant: Arc<str>,
        group_id: Arc<str>,
        member_id: Arc<str>,
    },
    /// Append a record to the change log. It names the entity and what happened, without a
    /// body: real-time provisioning sends an entity's state as it is at send time (coalescing
    /// pending changes), so a body here would only double the bytes every write commits. The
    /// table's `body` column (filled by databases of earlier versions) is no longer read.
    Change {
        tenant: Arc<str>,
        kind: Kind,
        entity_id: Arc<str>,
        operation: Operation,
        origin: Origin,
        at: Timestamp,
    },
    /// Insert a real-time event and one `pending` delivery row per target system id in
    /// `targets` (all referencing `event.seq`).
    AcceptEvent {
        event: ProvisioningEvent,
        targets: Vec<Arc<str>>,
    },
    /// Set the state of delivery `seq` (after an attempt).
    DeliveryState {
        seq: i64,
        state: DeliveryStatus,
        attempts: u32,
        next_attempt_at: Timestamp,
        last_error: Option<Arc<str>>,
        updated_at: Timestamp,
    },
    /// Mark every `pending` delivery of the entity to the target with `seq < up_to_seq` as
    /// `superseded` (coalescing: only the delivery `up_to_seq` is sent).
    SupersedeDeliveries {
        tenant: Arc<str>,
        target_system_id: Arc<str>,
        entity_type: Kind,
        entity_id: Arc<str>,
        up_to_seq: i64,
        updated_at: Timestamp,
    },
    /// Insert or replace the target id of a source entity in a target system.
    IdMapping {
        tenant: Arc<str>,
        target_system_id: Arc<str>,
        entity_type: Kind,
        source_id: Arc<str>,
        target_id: Arc<str>,
        existed_before: bool,
    },
    DeleteIdMapping {
        tenant: Arc<str>,
        target_system_id: Arc<str>,
        entity_type: Kind,
        source_id: Arc<str>,
    },
    /// Append a real-time log entry.
    RealtimeLog(Box<RealtimeLogEntry>),
    /// Delete the tenant's real-time log entries started before `before`, of one source
    /// system (`Some(id)`) or of all (`None`).
    PruneRealtimeLogs {
        tenant: Arc<str>,
        source_system: Option<Arc<str>>,
        before: Timestamp,
    },
    /// Insert or replace a provisioning job run (its log, statistics and failed entities).
    JobRun(Box<JobRunRecord>),
    /// Insert or replace the content hash of what a job wrote of one entity to one target.
    JobEntity {
        key: JobEntityKey,
        content_hash: Arc<str>,
    },
    DeleteJobEntity(JobEntityKey),
    /// Set the delta state (watermark, delta read counter) of a source system.
    JobSourceState {
        tenant: Arc<str>,
        source_system_id: Arc<str>,
        state: JobSourceState,
    },
    /// Finish every queued or running job run as interrupted (at start-up, before any run).
    InterruptJobRuns {
        at: Timestamp,
    },
    /// Delete the tenant's finished job runs created before `before`, of one source system
    /// (`Some(id)`) or of all (`None`).
    PruneJobRuns {
        tenant: Arc<str>,
        source_system: Option<Arc<str>>,
        before: Timestamp,
    },
    /// Insert or replace the cursor row of a real-time target.
    RealtimeCursor(super::realtime::RealtimeCursor),
    /// Forget a real-time target's cursor (the target was deleted; its log stays).
    DropRealtimeCursor {
        tenant: Arc<str>,
        target: Arc<str>,
    },
}

/// A user or group row as loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub id: String,
    pub seq: i64,
    pub version: i64,
    pub created: Timestamp,
    pub last_modified: Timestamp,
    pub body: String,
}

/// A membership row as loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMembership {
    pub group_id: String,
    pub member_id: String,
    pub member_type: Kind,
}

/// Everything stored for one tenant, users and groups in insertion (`seq`) order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantRows {
    pub users: Vec<StoredResource>,
    pub groups: Vec<StoredResource>,
    pub memberships: Vec<StoredMembership>,
}

/// One record of the change log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub seq: i64,
    pub tenant: String,
    pub kind: Kind,
    pub entity_id: String,
    pub operation: Operation,
    pub origin: Origin,
    pub at: Timestamp,
}

/// The stored and SCIM form of a timestamp: RFC 3339, UTC, milliseconds.
pub fn format_timestamp(ts: Timestamp) -> String {
    format!("{ts:.3}")
}

pub(crate) fn parse_kind(s: &str) -> Option<Kind> {
    match s {
        "User" => Some(Kind::User),
        "Group" => Some(Kind::Group),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_millisecond_precision() {
        let ts: Timestamp = "2024-05-06T07:08:09Z".parse().unwrap();
        assert_eq!(format_timestamp(ts), "2024-05-06T07:08:09.000Z");
        let ts: Timestamp = "2024-05-06T07:08:09.123456Z".parse().unwrap();
        assert_eq!(format_timestamp(ts), "2024-05-06T07:08:09.123Z");
    }

    #[test]
    fn operation_and_kind_round_trip() {
        for op in [Operation::Create, Operation::Update, Operation::Delete] {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
        }
        assert_eq!(parse_kind(Kind::Group.name()), Some(Kind::Group));
        assert_eq!(parse_kind("user"), None);
    }
}
