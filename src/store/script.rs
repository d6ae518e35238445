//! One batch of row writes as ONE list of SQL statements with their binds, in batch order,
//! which the write connection runs in one transaction (see `write_connection`).
//!
//! Invariants:
//! - Each [`RowWrite`] kind contributes its statements through exactly one `push` function
//!   (directory inserts: [`multi_row`]; provisioning, jobs and real-time writes: their own
//!   modules; directory removals: here). That function holds the only copy of its SQL.
//! - Every statement is added with exactly as many binds as it has `?` placeholders (checked in
//!   debug builds and by the tests), and only anonymous `?` placeholders are used.
//! - Runs of directory inserts (`Upsert`, `AddMember`, `Change`) are collected in a
//!   [`Segment`] and flushed as multi-row chunk statements when another write comes (or at the
//!   end), under the commute rules of [`multi_row`]; every other write keeps its batch
//!   position.
//! - Building is pure: no I/O here.

use std::sync::Arc;

use super::StoreError;
use super::multi_row::Segment;
use super::rows::RowWrite;
use super::{jobs, provisioning, realtime};
use crate::directory::Kind;

/// One value bound to a `?` of a script.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Bind {
    Null,
    Int(i64),
    /// Shared text (ids, bodies): bound without copying.
    Shared(Arc<str>),
    /// A fixed word (enum forms, entity types).
    Word(&'static str),
    /// Text made for this statement (timestamps, JSON).
    Owned(String),
}

impl Bind {
    pub(super) fn shared(text: &Arc<str>) -> Bind {
        Bind::Shared(Arc::clone(text))
    }

    pub(super) fn opt_shared(text: Option<&Arc<str>>) -> Bind {
        text.map_or(Bind::Null, Bind::shared)
    }

    pub(super) fn opt_owned(text: Option<String>) -> Bind {
        text.map_or(Bind::Null, Bind::Owned)
    }

    pub(super) fn opt_word(word: Option<&'static str>) -> Bind {
        word.map_or(Bind::Null, Bind::Word)
    }
}

/// A batch as its statements, each a fixed text with its binds.
#[derive(Debug)]
pub(super) struct Script {
    binds: Vec<Bind>,
    /// Each statement's text and where its binds end in `binds`.
    statements: Vec<(&'static str, usize)>,
}

impl Script {
    fn new() -> Script {
        Script {
            binds: Vec::new(),
            statements: Vec::new(),
        }
    }

    /// The script of a whole batch: every write's statements in batch order, runs of
    /// directory inserts as multi-row chunks.
    pub(super) fn of_batch(writes: &[RowWrite]) -> Result<Script, StoreError> {
        let mut script = Script::new();
        let mut segment = Segment::default();
        for write in writes {
            if !segment.take(write) {
                segment.flush(&mut script);
                push(write, &mut script)?;
            }
        }
        segment.flush(&mut script);
        Ok(script)
    }

    /// Appends one statement with its binds (as many as its `?` placeholders).
    pub(super) fn statement(&mut self, sql: &'static str, binds: impl IntoIterator<Item = Bind>) {
        self.statement_with(sql, |all| all.extend(binds));
    }

    /// Appends one statement whose binds `fill` adds (as many as its `?` placeholders).
    pub(super) fn statement_with(&mut self, sql: &'static str, fill: impl FnOnce(&mut Vec<Bind>)) {
        let before = self.binds.len();
        fill(&mut self.binds);
        debug_assert_eq!(
            placeholders(sql),
            self.binds.len() - before,
            "binds of {sql}"
        );
        self.statements.push((sql, self.binds.len()));
    }

    /// The statements in order, each text with its binds.
    pub(super) fn statements(&self) -> impl Iterator<Item = (&'static str, &[Bind])> {
        let mut from = 0;
        self.statements.iter().map(move |&(sql, binds_end)| {
            let binds = &self.binds[from..binds_end];
            from = binds_end;
            (sql, binds)
        })
    }
}

/// The `?` placeholders of `sql` (none of the store's statements has a `?` in a literal).
fn placeholders(sql: &str) -> usize {
    sql.matches('?').count()
}

/// Adds the statements of one write to `script`. Directory inserts become a one-row chunk
/// here; [`Script::of_batch`] batches runs of them instead.
fn push(write: &RowWrite, script: &mut Script) -> Result<(), StoreError> {
    match write {
        RowWrite::Upsert { .. } | RowWrite::AddMember { .. } | RowWrite::Change { .. } => {
            let mut segment = Segment::default();
            segment.take(write);
            segment.flush(script);
        }
        RowWrite::Delete { .. } | RowWrite::RemoveMember { .. } => push_removal(write, script),
        RowWrite::AcceptEvent { .. }
        | RowWrite::DeliveryState { .. }
        | RowWrite::SupersedeDeliveries { .. }
        | RowWrite::IdMapping { .. }
        | RowWrite::DeleteIdMapping { .. }
        | RowWrite::RealtimeLog(_)
        | RowWrite::PruneRealtimeLogs { .. } => provisioning::push(write, script)?,
        RowWrite::JobRun(_)
        | RowWrite::JobEntity { .. }
        | RowWrite::DeleteJobEntity(_)
        | RowWrite::JobSourceState { .. }
        | RowWrite::InterruptJobRuns { .. }
        | RowWrite::PruneJobRuns { .. } => jobs::push(write, script)?,
        RowWrite::RealtimeCursor(_) | RowWrite::DropRealtimeCursor { .. } => {
            realtime::push(write, script)
        }
    }
    Ok(())
}

/// The directory removals: a resource row with every membership it takes part in, or one
/// membership.
fn push_removal(write: &RowWrite, script: &mut Script) {
    match write {
        RowWrite::Delete { tenant, kind, id } => {
            script.statement(
                "DELETE FROM memberships WHERE tenant = ? AND (group_id = ? OR member_id = ?)",
                [Bind::shared(tenant), Bind::shared(id), Bind::shared(id)],
            );
            let sql = match kind {
                Kind::User => "DELETE FROM users WHERE tenant = ? AND id = ?",
                Kind::Group => "DELETE FROM groups WHERE tenant = ? AND id = ?",
            };
            script.statement(sql, [Bind::shared(tenant), Bind::shared(id)]);
        }
        RowWrite::RemoveMember {
            tenant,
            group_id,
            member_id,
        } => script.statement(
            "DELETE FROM memberships WHERE tenant = ? AND group_id = ? AND member_id = ?",
            [
                Bind::shared(tenant),
                Bind::shared(group_id),
                Bind::shared(member_id),
            ],
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use jiff::Timestamp;

    use super::*;
    use crate::directory::Origin;
    use crate::store::{
        DeliveryStatus, EventOperation, JobEntityKey, JobRunRecord, JobSourceState, JobStatus,
        JobTrigger, JobType, LogStatus, Operation, ProvisioningEvent, RealtimeCursor,
        RealtimeLogEntry, Store,
    };

    /// How many [`RowWrite`] kinds there are.
    const KIND_COUNT: usize = 22;

    /// The kind of a write as a number below [`KIND_COUNT`]. No wildcard: a new kind does not
    /// compile until it gets a number here, and then [`samples`] must cover it.
    fn kind_number(write: &RowWrite) -> usize {
        match write {
            RowWrite::Upsert {
                kind: Kind::User, ..
            } => 0,
            RowWrite::Upsert {
                kind: Kind::Group, ..
            } => 1,
            RowWrite::Delete {
                kind: Kind::User, ..
            } => 2,
            RowWrite::Delete {
                kind: Kind::Group, ..
            } => 3,
            RowWrite::AddMember { .. } => 4,
            RowWrite::RemoveMember { .. } => 5,
            RowWrite::Change { .. } => 6,
            RowWrite::AcceptEvent { .. } => 7,
            RowWrite::DeliveryState { .. } => 8,
            RowWrite::SupersedeDeliveries { .. } => 9,
            RowWrite::IdMapping { .. } => 10,
            RowWrite::DeleteIdMapping { .. } => 11,
            RowWrite::RealtimeLog(_) => 12,
            RowWrite::PruneRealtimeLogs { .. } => 13,
            RowWrite::JobRun(_) => 14,
            RowWrite::JobEntity { .. } => 15,
            RowWrite::DeleteJobEntity(_) => 16,
            RowWrite::JobSourceState { .. } => 17,
            RowWrite::InterruptJobRuns { .. } => 18,
            RowWrite::PruneJobRuns { .. } => 19,
            RowWrite::RealtimeCursor(_) => 20,
            RowWrite::DropRealtimeCursor { .. } => 21,
        }
    }

    fn s(text: &str) -> Arc<str> {
        Arc::from(text)
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    fn upsert(kind: Kind, id: &str, seq: i64) -> RowWrite {
        RowWrite::Upsert {
            tenant: s("acme"),
            kind,
            id: s(id),
            seq,
            version: 1,
            created: at(1_000),
            last_modified: at(2_000),
            body: s(r#"{"n":"ü'; --"}"#),
        }
    }

    fn change(id: &str) -> RowWrite {
        RowWrite::Change {
            tenant: s("acme"),
            kind: Kind::User,
            entity_id: s(id),
            operation: Operation::Create,
            origin: Origin::ScimV2,
            at: at(3_000),
        }
    }

    fn accept(seq: i64, targets: &[&str]) -> RowWrite {
        RowWrite::AcceptEvent {
            event: ProvisioningEvent {
                seq,
                tenant: s("acme"),
                source_system_id: s("src"),
                entity_type: Kind::User,
                entity_id: s("u1"),
                operation: EventOperation::Upsert,
                payload: Some(s(r#"{"userName":"a"}"#)),
                accepted_at: at(4_000),
            },
            targets: targets.iter().map(|t| s(t)).collect(),
        }
    }

    fn log(started: i64) -> RowWrite {
        RowWrite::RealtimeLog(Box::new(RealtimeLogEntry {
            tenant: s("acme"),
            started_at: at(started),
            source_system: s("src"),
            source_system_name: s("Source"),
            entity_type: Kind::User,
            entity_id_source: Some(s("u1")),
            entity_id_target: None,
            status: LogStatus::FinishedSuccessfully,
            message: None,
            details: Vec::new(),
            content: None,
        }))
    }

    fn job_run(id: &str, status: JobStatus) -> RowWrite {
        RowWrite::JobRun(Box::new(JobRunRecord {
            id: id.into(),
            tenant: "acme".into(),
            source_system_id: "src".into(),
            job_type: JobType::Read,
            trigger: JobTrigger::Immediate,
            read_mode: None,
            status,
            triggered_by: "CLI".into(),
            created_at: at(1_000),
            started_at: Some(at(1_000)),
            finished_at: None,
            statistics: Vec::new(),
            failed_entities: Vec::new(),
            message: Some("m".into()),
        }))
    }

    fn entity_key(id: &str) -> JobEntityKey {
        JobEntityKey {
            tenant: s("acme"),
            source_system_id: s("src"),
            target_system_id: s("tgt"),
            entity_type: Kind::Group,
            source_id: s(id),
        }
    }

    fn cursor(target: &str) -> RowWrite {
        RowWrite::RealtimeCursor(RealtimeCursor {
            tenant: s("acme"),
            target: s(target),
            change_seq: 3,
            provision_request: Some("r1".into()),
            ..Default::default()
        })
    }

    /// A valid batch with every kind of write, interleaved so that directory insert runs are
    /// broken up by other writes.
    fn samples() -> Vec<RowWrite> {
        vec![
            upsert(Kind::User, "u1", 1),
            upsert(Kind::Group, "g1", 2),
            upsert(Kind::User, "u2", 3),
            RowWrite::AddMember {
                tenant: s("acme"),
                group_id: s("g1"),
                member_id: s("u1"),
                member_type: Kind::User,
            },
            change("u1"),
            accept(1, &["t1", "t2"]),
            RowWrite::AddMember {
                tenant: s("acme"),
                group_id: s("g1"),
                member_id: s("u2"),
                member_type: Kind::User,
            },
            change("u2"),
            RowWrite::RemoveMember {
                tenant: s("acme"),
                group_id: s("g1"),
                member_id: s("u2"),
            },
            accept(2, &["t1"]),
            RowWrite::SupersedeDeliveries {
                tenant: s("acme"),
                target_system_id: s("t1"),
                entity_type: Kind::User,
                entity_id: s("u1"),
                up_to_seq: 3,
                updated_at: at(5_000),
            },
            RowWrite::DeliveryState {
                seq: 3,
                state: DeliveryStatus::Delivered,
                attempts: 1,
                next_attempt_at: at(5_000),
                last_error: Some(s("none")),
                updated_at: at(5_000),
            },
            RowWrite::IdMapping {
                tenant: s("acme"),
                target_system_id: s("t1"),
                entity_type: Kind::User,
                source_id: s("u1"),
                target_id: s("x1"),
                existed_before: true,
            },
            RowWrite::IdMapping {
                tenant: s("acme"),
                target_system_id: s("t1"),
                entity_type: Kind::User,
                source_id: s("u2"),
                target_id: s("x2"),
                existed_before: false,
            },
            RowWrite::DeleteIdMapping {
                tenant: s("acme"),
                target_system_id: s("t1"),
                entity_type: Kind::User,
                source_id: s("u2"),
            },
            log(1_000),
            log(9_000),
            RowWrite::PruneRealtimeLogs {
                tenant: s("acme"),
                source_system: Some(s("src")),
                before: at(5_000),
            },
            job_run("j1", JobStatus::Running),
            job_run("j2", JobStatus::Success),
            RowWrite::InterruptJobRuns { at: at(6_000) },
            job_run("j3", JobStatus::Running),
            RowWrite::PruneJobRuns {
                tenant: s("acme"),
                source_system: None,
                before: at(1_500),
            },
            RowWrite::JobEntity {
                key: entity_key("g1"),
                content_hash: s("h1"),
            },
            RowWrite::JobEntity {
                key: entity_key("g2"),
                content_hash: s("h2"),
            },
            RowWrite::DeleteJobEntity(entity_key("g2")),
            RowWrite::JobSourceState {
                tenant: s("acme"),
                source_system_id: s("src"),
                state: JobSourceState {
                    watermark: Some(at(7_000)),
                    delta_reads_since_full: 2,
                },
            },
            cursor("default/a"),
            cursor("default/b"),
            RowWrite::DropRealtimeCursor {
                tenant: s("acme"),
                target: s("default/b"),
            },
            upsert(Kind::Group, "g2", 4),
            upsert(Kind::User, "u3", 5),
            change("u3"),
            RowWrite::Delete {
                tenant: s("acme"),
                kind: Kind::Group,
                id: s("g2"),
            },
            RowWrite::Delete {
                tenant: s("acme"),
                kind: Kind::User,
                id: s("u2"),
            },
            upsert(Kind::User, "u1", 1),
        ]
    }

    const TABLES: [&str; 12] = [
        "users",
        "groups",
        "memberships",
        "changes",
        "provisioning_events",
        "deliveries",
        "id_mappings",
        "realtime_logs",
        "job_runs",
        "job_entities",
        "job_source_state",
        "realtime_cursors",
    ];

    /// Every row of every written table, in rowid order, each column quoted.
    async fn dump(store: &Store) -> Vec<(&'static str, Vec<String>)> {
        let mut tables = Vec::new();
        for table in TABLES {
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                    .bind(table)
                    .fetch_all(&store.inner.readers)
                    .await
                    .unwrap();
            assert!(!columns.is_empty(), "{table}");
            let row = columns
                .iter()
                .map(|c| format!("quote({c})"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let sql = format!("SELECT {row} FROM {table} ORDER BY rowid");
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(&store.inner.readers)
                .await
                .unwrap();
            tables.push((table, rows));
        }
        tables
    }

    #[test]
    fn every_kind_binds_one_value_per_placeholder() {
        let samples = samples();
        let covered: BTreeSet<usize> = samples.iter().map(kind_number).collect();
        assert_eq!(covered, (0..KIND_COUNT).collect::<BTreeSet<_>>());
        for write in &samples {
            let mut script = Script::new();
            push(write, &mut script).unwrap();
            assert!(
                script.statements().count() >= 1,
                "{write:?} adds no statement"
            );
            for (sql, binds) in script.statements() {
                assert_eq!(placeholders(sql), binds.len(), "{sql}");
            }
        }
        let script = Script::of_batch(&samples).unwrap();
        let mut total = 0;
        for (sql, binds) in script.statements() {
            assert_eq!(placeholders(sql), binds.len(), "{sql}");
            assert!(!sql.trim_end().ends_with(';'), "{sql}");
            assert!(!sql.contains("BEGIN") && !sql.contains("COMMIT"), "{sql}");
            total += binds.len();
        }
        assert_eq!(total, script.binds.len());
    }

    #[test]
    fn creates_become_one_multi_row_statement_per_table() {
        let creates = [
            upsert(Kind::User, "u1", 1),
            change("u1"),
            upsert(Kind::User, "u2", 2),
            change("u2"),
        ];
        let script = Script::of_batch(&creates).unwrap();
        let statements: Vec<(&str, usize)> = script
            .statements()
            .map(|(sql, binds)| (sql, binds.len()))
            .collect();
        assert_eq!(
            statements,
            [
                (
                    "INSERT INTO users (tenant, id, seq, version, created, last_modified, body) \
                     VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, id) \
                     DO UPDATE SET version = excluded.version, last_modified = \
                     excluded.last_modified, body = excluded.body",
                    14
                ),
                (
                    "INSERT INTO changes (tenant, kind, entity_id, operation, origin, at) VALUES \
                     (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?)",
                    12
                ),
            ]
        );
    }

    #[tokio::test]
    async fn mixed_batch_leaves_the_rows_of_write_by_write_commits() {
        let writes = samples();
        let batch_dir = tempfile::tempdir().unwrap();
        let batch = Store::open(batch_dir.path()).await.unwrap();
        let mut conn = batch.write_connection().unwrap();
        conn.commit(&writes, writes.len()).unwrap();
        assert_eq!(batch.stats().commits, 1);

        // Each write alone, in order: the statement-by-statement semantics.
        let single_dir = tempfile::tempdir().unwrap();
        let single = Store::open(single_dir.path()).await.unwrap();
        let mut conn = single.write_connection().unwrap();
        for write in &writes {
            conn.commit(std::slice::from_ref(write), 1).unwrap();
        }

        let rows = dump(&batch).await;
        assert_eq!(rows, dump(&single).await);
        let count = |table: &str| rows.iter().find(|(t, _)| *t == table).unwrap().1.len();
        assert_eq!(count("users"), 2);
        assert_eq!(count("groups"), 1);
        assert_eq!(count("memberships"), 1);
        assert_eq!(count("changes"), 3);
        assert_eq!(count("provisioning_events"), 2);
        assert_eq!(count("deliveries"), 3);
        assert_eq!(count("id_mappings"), 1);
        assert_eq!(count("realtime_logs"), 1);
        assert_eq!(count("job_runs"), 1);
        assert_eq!(count("job_entities"), 1);
        assert_eq!(count("job_source_state"), 1);
        assert_eq!(count("realtime_cursors"), 1);
    }

    #[tokio::test]
    async fn failing_statement_in_the_middle_applies_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        let empty = dump(&store).await;
        // The second event reuses seq 1: its insert fails in the middle of the script.
        let writes = vec![
            upsert(Kind::User, "u1", 1),
            change("u1"),
            accept(1, &["t1"]),
            job_run("j1", JobStatus::Running),
            accept(1, &["t2"]),
            log(1_000),
            cursor("default/a"),
            upsert(Kind::Group, "g1", 2),
        ];
        let error = conn.commit(&writes, 1).unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Write {
                    action: "commit a batch",
                    ..
                }
            ),
            "{error}"
        );
        assert!(!error.to_string().contains("userName"));
        assert_eq!(dump(&store).await, empty);
        assert_eq!(store.stats().commits, 0);
        // Rolled back: the connection takes the next batch.
        conn.commit(&writes[..4], 1).unwrap();
        assert_eq!(store.load_tenant("acme").await.unwrap().users.len(), 1);
        assert_eq!(store.stats().commits, 1);
    }

    #[tokio::test]
    async fn big_batches_commit_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        let empty = dump(&store).await;
        let rows = 2 * super::super::multi_row::MAX_CHUNK + 100;
        let mut writes: Vec<RowWrite> = (0..rows as i64)
            .map(|i| upsert(Kind::User, &format!("u{i}"), i))
            .collect();
        // A failing statement after hundreds of rows: nothing is applied.
        writes.push(accept(1, &["t1"]));
        writes.push(accept(1, &["t2"]));
        conn.commit(&writes, writes.len()).unwrap_err();
        assert_eq!(dump(&store).await, empty);
        // Without it, every row is there.
        writes.pop();
        conn.commit(&writes, writes.len()).unwrap();
        assert_eq!(store.load_tenant("acme").await.unwrap().users.len(), rows);
        assert_eq!(
            store
                .provisioning_events("acme", 0, 10)
                .await
                .unwrap()
                .len(),
            1
        );
    }
}
