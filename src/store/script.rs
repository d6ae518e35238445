//! One batch of row writes as ONE SQL script: `BEGIN;` the statements of every write in batch
//! order `COMMIT;`, with the binds in the same order, sent to SQLite with one `execute`, so a
//! batch costs one round trip to the write connection's worker thread whatever it carries.
//!
//! Invariants:
//! - Each [`RowWrite`] kind contributes its statements through exactly one `push` function
//!   (directory inserts: [`multi_row`]; provisioning, jobs and real-time writes: their own
//!   modules; directory removals: here). That function holds the only copy of its SQL.
//! - Every statement is added with exactly as many binds as it has `?` placeholders (checked in
//!   debug builds and by the tests), and only anonymous `?` placeholders are used: SQLite binds
//!   them across the statements of the script in order.
//! - Runs of directory inserts (`Upsert`, `AddMember`, `Change`) are collected in a
//!   [`Segment`] and flushed as multi-row chunk statements when another write comes (or at the
//!   end), under the commute rules of [`multi_row`]; every other write keeps its batch
//!   position.
//! - Building is pure; the only I/O is [`Script::commit`]. When any statement (or the commit)
//!   fails, the transaction is rolled back before the error is returned: nothing of the batch
//!   is applied. Errors name what failed, never bodies, binds or secrets.
//! - Statement cache (the write connection's LRU of prepared statements, keyed by text,
//!   capacity 200): a batch of only directory inserts with at most 64 rows per table (the hot
//!   path of the directory) keeps its text cached exactly as before (the text depends only on
//!   row counts, so a workload uses a few dozen texts). Short scripts (at most
//!   [`MAX_CACHED_STATEMENTS`] statements and [`MAX_CACHED_BINDS`] binds: the batches of a
//!   few jobs that light and paced load produce, e.g. two accepted events with their deliveries
//!   and two delivery outcomes) are cached too: they repeat a limited set of compositions and
//!   each entry is small (the cache's 200 entries of at most 16 statements bound its memory).
//!   Any other script's text varies with the batch composition (which jobs, in which order,
//!   how many targets): most are never seen again, and caching them would evict the hot texts
//!   and hold prepared statements nobody reuses. So such a script is cached only on its second
//!   sighting among the last [`RECENT_TEXTS`] uncached texts ([`RecentTexts`], hashes only) and
//!   when it has at most [`MAX_CACHED_LONG_STATEMENTS`] statements and
//!   [`MAX_CACHED_LONG_BINDS`] binds (bulk batches are not); otherwise it is prepared
//!   for this one call and dropped (`persistent(false)`), costing one prepare per statement on
//!   the worker thread inside the one call. Homogeneous load (bursts of batches of the same
//!   shape) thus gets cache hits, while varied load cannot push the hot texts out.

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use sqlx::{AssertSqlSafe, SqliteConnection};

use super::StoreError;
use super::multi_row::{self, Segment};
use super::rows::RowWrite;
use super::{jobs, provisioning, realtime};
use crate::directory::Kind;

/// Scripts with at most this many statements (and [`MAX_CACHED_BINDS`] binds) keep their
/// prepared statements in the connection's cache. 16 covers the provisioning batches of a paced
/// real-time load (2-3 jobs of 2-3 statements each); with 8 most of them were prepared for one
/// use, and caching them cut the writer's time per row from 242 to 153-162 µs in
/// `idrelay-bench provisioning --target sink` (latency phase), with no change in resident memory
/// in `idrelay-bench directory`.
pub(super) const MAX_CACHED_STATEMENTS: usize = 16;
/// See [`MAX_CACHED_STATEMENTS`]: keeps large multi-row chunks out of the cached short texts.
pub(super) const MAX_CACHED_BINDS: usize = 128;

/// How many uncached long texts [`RecentTexts`] remembers.
pub(super) const RECENT_TEXTS: usize = 32;
/// Longer scripts are never cached, even when they repeat (bounds the cache's memory).
pub(super) const MAX_CACHED_LONG_STATEMENTS: usize = 128;
/// Nor are scripts with more binds: a prepared 64-row insert is a large program, and bulk
/// batches (hundreds of rows in a few repeating shapes) kept tens of MiB of them resident.
pub(super) const MAX_CACHED_LONG_BINDS: usize = 512;

/// The hashes of the most recent long script texts (see the module doc), newest last.
#[derive(Debug, Default)]
pub(super) struct RecentTexts {
    hashes: VecDeque<u64>,
}

impl RecentTexts {
    /// Whether `sql` was seen among the recent texts; either way it becomes the newest one
    /// (the oldest is forgotten beyond [`RECENT_TEXTS`]).
    fn repeats(&mut self, sql: &str) -> bool {
        let mut hasher = DefaultHasher::new();
        sql.hash(&mut hasher);
        let hash = hasher.finish();
        let seen = match self.hashes.iter().position(|h| *h == hash) {
            Some(at) => {
                self.hashes.remove(at);
                true
            }
            None => false,
        };
        if self.hashes.len() >= RECENT_TEXTS {
            self.hashes.pop_front();
        }
        self.hashes.push_back(hash);
        seen
    }
}

/// How every script starts (its transaction).
const BEGIN: &str = "BEGIN;\n";

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

/// A batch as one SQL text plus its binds (see the module doc).
#[derive(Debug)]
pub(super) struct Script {
    sql: String,
    binds: Vec<Bind>,
    statements: usize,
    /// Where each statement ends: its end in `sql` (after `;\n`) and in `binds`.
    ends: Vec<(usize, usize)>,
    /// Only directory inserts, at most 64 rows per table: the hot cached texts.
    directory_inserts: bool,
}

impl Script {
    fn begin() -> Script {
        Script {
            sql: String::from(BEGIN),
            binds: Vec::new(),
            statements: 0,
            ends: Vec::new(),
            directory_inserts: false,
        }
    }

    /// The script of a whole batch: every write's statements in batch order, runs of
    /// directory inserts as multi-row chunks.
    pub(super) fn of_batch(writes: &[RowWrite]) -> Result<Script, StoreError> {
        let mut script = Script::begin();
        let mut segment = Segment::default();
        for write in writes {
            if !segment.take(write) {
                segment.flush(&mut script);
                push(write, &mut script)?;
            }
        }
        segment.flush(&mut script);
        script.directory_inserts = multi_row::is_hot_directory_batch(writes);
        script.sql.push_str("COMMIT;");
        Ok(script)
    }

    /// Appends one statement with its binds (as many as its `?` placeholders).
    pub(super) fn statement(&mut self, sql: &str, binds: impl IntoIterator<Item = Bind>) {
        self.statement_with(sql, |all| all.extend(binds));
    }

    /// Appends one statement whose binds `fill` adds (as many as its `?` placeholders).
    pub(super) fn statement_with(&mut self, sql: &str, fill: impl FnOnce(&mut Vec<Bind>)) {
        let before = self.binds.len();
        fill(&mut self.binds);
        debug_assert_eq!(
            placeholders(sql),
            self.binds.len() - before,
            "binds of {sql}"
        );
        self.sql.push_str(sql);
        self.sql.push_str(";\n");
        self.statements += 1;
        self.ends.push((self.sql.len(), self.binds.len()));
    }

    /// Whether the script is too big to send as one text (see [`Script::commit`]).
    fn is_big(&self) -> bool {
        self.statements > MAX_CACHED_LONG_STATEMENTS || self.binds.len() > MAX_CACHED_LONG_BINDS
    }

    /// Whether the text is always cached: a hot directory batch or a short script.
    fn always_cached(&self) -> bool {
        self.directory_inserts
            || (self.statements <= MAX_CACHED_STATEMENTS && self.binds.len() <= MAX_CACHED_BINDS)
    }

    /// Whether the connection keeps this script's prepared statements (see the module doc).
    fn cached(&self, recent: &mut RecentTexts) -> bool {
        self.always_cached()
            || (self.statements <= MAX_CACHED_LONG_STATEMENTS
                && self.binds.len() <= MAX_CACHED_LONG_BINDS
                && recent.repeats(&self.sql))
    }

    /// Runs the script as ONE query on `conn`; on any failure rolls back (nothing applied).
    pub(super) async fn commit(
        self,
        conn: &mut SqliteConnection,
        recent: &mut RecentTexts,
    ) -> Result<(), StoreError> {
        let outcome = if self.is_big() {
            self.run_statement_by_statement(conn).await
        } else {
            let persistent = self.cached(recent);
            let query = sqlx::query(AssertSqlSafe(self.sql)).persistent(persistent);
            bind_all(query, self.binds)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(source) => {
                // The failing statement stopped the script inside the transaction (or the
                // commit failed): undo whatever it applied. An error here means there is no
                // transaction left.
                if let Err(error) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                    tracing::debug!(%error, "rollback after a failed batch");
                }
                Err(StoreError::Sql {
                    action: "commit a batch",
                    source,
                })
            }
        }
    }

    /// A big script (bulk batches: hundreds of rows) runs statement by statement inside one
    /// transaction, each statement's text prepared once and kept (the multi-row chunk texts
    /// repeat), so the round trips are amortised over 64-row chunks. As one text it would be
    /// prepared anew for every batch: hundreds of large insert programs allocated and freed
    /// on the worker thread, which left tens of MiB of the C allocator's memory resident.
    async fn run_statement_by_statement(
        self,
        conn: &mut SqliteConnection,
    ) -> Result<(), sqlx::Error> {
        let begin = BEGIN.len();
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        let mut binds = self.binds.into_iter();
        let (mut sql_from, mut binds_from) = (begin, 0);
        for (sql_end, binds_end) in self.ends {
            let text = self.sql[sql_from..sql_end].trim_end().trim_end_matches(';');
            let query = sqlx::query(AssertSqlSafe(text.to_owned()));
            let statement_binds: Vec<Bind> = binds.by_ref().take(binds_end - binds_from).collect();
            bind_all(query, statement_binds).execute(&mut *conn).await?;
            (sql_from, binds_from) = (sql_end, binds_end);
        }
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        Ok(())
    }
}

type Query = sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds `binds` to `query` in order.
fn bind_all(mut query: Query, binds: Vec<Bind>) -> Query {
    for bind in binds {
        query = match bind {
            Bind::Null => query.bind(None::<i64>),
            Bind::Int(value) => query.bind(value),
            Bind::Shared(text) => query.bind(text),
            Bind::Word(word) => query.bind(word),
            Bind::Owned(text) => query.bind(text),
        };
    }
    query
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
            let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
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
            let mut script = Script::begin();
            push(write, &mut script).unwrap();
            assert!(script.statements >= 1, "{write:?} adds no statement");
            assert_eq!(
                placeholders(&script.sql),
                script.binds.len(),
                "{}",
                script.sql
            );
        }
        let script = Script::of_batch(&samples).unwrap();
        assert_eq!(placeholders(&script.sql), script.binds.len());
        assert!(script.sql.starts_with("BEGIN;\n"));
        assert!(script.sql.ends_with(";\nCOMMIT;"));
        assert_eq!(script.sql.matches("BEGIN").count(), 1);
    }

    #[test]
    fn only_hot_directory_texts_and_short_scripts_are_cached() {
        // The hot path keeps the exact text of the former one-call batch.
        let creates = [upsert(Kind::User, "u1", 1), change("u1")];
        let script = Script::of_batch(&creates).unwrap();
        assert!(script.always_cached());
        assert_eq!(
            script.sql,
            "BEGIN;\nINSERT INTO users (tenant, id, seq, version, created, last_modified, body) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, id) DO UPDATE SET version = \
             excluded.version, last_modified = excluded.last_modified, body = excluded.body;\n\
             INSERT INTO changes (tenant, kind, entity_id, operation, origin, at) VALUES \
             (?, ?, ?, ?, ?, ?);\nCOMMIT;"
        );
        let many: Vec<RowWrite> = (0..64).map(|i| upsert(Kind::User, "u", i)).collect();
        assert!(Script::of_batch(&many).unwrap().always_cached());
        // One delivery outcome: short, cached.
        let outcome = &samples()[11..14];
        assert!(Script::of_batch(outcome).unwrap().always_cached());
        // A big mixed batch or a bulk of creates: cached only when its text comes again soon.
        let mut recent = RecentTexts::default();
        let mixed = Script::of_batch(&samples()).unwrap();
        assert!(!mixed.always_cached());
        assert!(!mixed.cached(&mut recent));
        let bulk: Vec<RowWrite> = (0..65).map(|i| upsert(Kind::User, "u", i)).collect();
        let bulk = Script::of_batch(&bulk).unwrap();
        assert!(!bulk.cached(&mut recent));
        assert!(mixed.cached(&mut recent));
        assert!(bulk.cached(&mut recent));
        // Forgotten after RECENT_TEXTS other uncached texts; a repeat keeps a text remembered.
        for i in 0..RECENT_TEXTS - 1 {
            assert!(!recent.repeats(&format!("other {i}")));
            assert!(recent.repeats(&bulk.sql));
        }
        assert!(!mixed.cached(&mut recent));
        assert!(bulk.cached(&mut recent));
        // Too long to cache even when it repeats.
        let long: Vec<RowWrite> = (0..MAX_CACHED_LONG_STATEMENTS as i64)
            .map(|i| accept(i, &["t1"]))
            .collect();
        let long = Script::of_batch(&long).unwrap();
        assert!(!long.cached(&mut recent));
        assert!(!long.cached(&mut recent));
        // A bulk with more binds than MAX_CACHED_LONG_BINDS neither.
        let rows = MAX_CACHED_LONG_BINDS / 7 + 1;
        let big: Vec<RowWrite> = (0..rows as i64)
            .map(|i| upsert(Kind::User, "u", i))
            .collect();
        let big = Script::of_batch(&big).unwrap();
        assert!(big.binds.len() > MAX_CACHED_LONG_BINDS);
        assert!(!big.cached(&mut recent));
        assert!(!big.cached(&mut recent));
    }

    #[tokio::test]
    async fn mixed_batch_leaves_the_rows_of_write_by_write_commits() {
        let writes = samples();
        let batch_dir = tempfile::tempdir().unwrap();
        let batch = Store::open(batch_dir.path()).await.unwrap();
        let mut conn = batch.write_connection().await.unwrap();
        conn.commit(&writes, writes.len()).await.unwrap();
        assert_eq!(batch.stats().commits, 1);

        // Each write alone, in order: the statement-by-statement semantics.
        let single_dir = tempfile::tempdir().unwrap();
        let single = Store::open(single_dir.path()).await.unwrap();
        let mut conn = single.write_connection().await.unwrap();
        for write in &writes {
            conn.commit(std::slice::from_ref(write), 1).await.unwrap();
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
        let mut conn = store.write_connection().await.unwrap();
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
        let error = conn.commit(&writes, 1).await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Sql {
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
        conn.commit(&writes[..4], 1).await.unwrap();
        assert_eq!(store.load_tenant("acme").await.unwrap().users.len(), 1);
        assert_eq!(store.stats().commits, 1);
    }

    #[tokio::test]
    async fn big_batches_run_statement_by_statement_with_the_same_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().await.unwrap();
        let empty = dump(&store).await;
        let rows = MAX_CACHED_LONG_BINDS / 7 + 100;
        let mut writes: Vec<RowWrite> = (0..rows as i64)
            .map(|i| upsert(Kind::User, &format!("u{i}"), i))
            .collect();
        // A failing statement after hundreds of rows: nothing is applied.
        writes.push(accept(1, &["t1"]));
        writes.push(accept(1, &["t2"]));
        assert!(Script::of_batch(&writes).unwrap().is_big());
        conn.commit(&writes, writes.len()).await.unwrap_err();
        assert_eq!(dump(&store).await, empty);
        // Without it, every row is there.
        writes.pop();
        conn.commit(&writes, writes.len()).await.unwrap();
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
