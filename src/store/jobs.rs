//! The provisioning-job rows of the store (migration 0003): job runs (the job log with its
//! statistics and failed entities), the per-source delta state (watermark, delta read counter)
//! and what each job provisioned per target (content hashes); their statements in the
//! writer's batch script and the reads the job runner and the job log endpoint use.
//!
//! Invariants:
//! - Every write goes through the directory writer ([`RowWrite`] variants), like all writes.
//! - A job run row is written whole (insert or replace): the statistics and failed entities
//!   are JSON columns that always parse back into [`JobRunRecord`].
//! - Entity types are stored as `user` / `group`; timestamps as RFC 3339 UTC milliseconds.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::provisioning::{IdMappingRow, entity_type_str};
use super::rows::{RowWrite, format_timestamp};
use super::script::{Bind, Script};
use super::{Store, StoreError};
use crate::directory::Kind;

/// What a job does (spec/domain.md §3.6 rules 43–45).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobType {
    /// Writes new or changed entities, deletes vanished ones (full read).
    #[serde(rename = "READ")]
    Read,
    /// Writes every entity, overwriting target-side changes.
    #[serde(rename = "RESYNC")]
    Resync,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Read => "READ",
            JobType::Resync => "RESYNC",
        }
    }

    /// Parses `READ` / `RESYNC` (any case).
    pub fn parse(s: &str) -> Option<JobType> {
        match s.to_ascii_uppercase().as_str() {
            "READ" => Some(JobType::Read),
            "RESYNC" => Some(JobType::Resync),
            _ => None,
        }
    }
}

/// How the run was started (rule 48).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobTrigger {
    /// On demand (API, CLI, run now).
    #[serde(rename = "IMMEDIATE")]
    Immediate,
    /// By the schedule.
    #[serde(rename = "REPEAT")]
    Repeat,
}

impl JobTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            JobTrigger::Immediate => "IMMEDIATE",
            JobTrigger::Repeat => "REPEAT",
        }
    }

    pub fn parse(s: &str) -> Option<JobTrigger> {
        match s {
            "IMMEDIATE" => Some(JobTrigger::Immediate),
            "REPEAT" => Some(JobTrigger::Repeat),
            _ => None,
        }
    }
}

/// Full or delta read (rule 44).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadMode {
    #[serde(rename = "Full Read")]
    Full,
    #[serde(rename = "Delta Read")]
    Delta,
}

impl ReadMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadMode::Full => "Full Read",
            ReadMode::Delta => "Delta Read",
        }
    }

    pub fn parse(s: &str) -> Option<ReadMode> {
        match s {
            "Full Read" => Some(ReadMode::Full),
            "Delta Read" => Some(ReadMode::Delta),
            _ => None,
        }
    }
}

/// The status of a run (rule 48; `Queued` is a run-now waiting for the current run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    Queued,
    Running,
    #[serde(rename = "Running with Error")]
    RunningWithError,
    Success,
    #[serde(rename = "Finished with Error")]
    FinishedWithError,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "Queued",
            JobStatus::Running => "Running",
            JobStatus::RunningWithError => "Running with Error",
            JobStatus::Success => "Success",
            JobStatus::FinishedWithError => "Finished with Error",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        Some(match s {
            "Queued" => JobStatus::Queued,
            "Running" => JobStatus::Running,
            "Running with Error" => JobStatus::RunningWithError,
            "Success" => JobStatus::Success,
            "Finished with Error" => JobStatus::FinishedWithError,
            _ => return None,
        })
    }

    /// Success or Finished with Error.
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Success | JobStatus::FinishedWithError)
    }
}

/// Whether a statistics row is the source or a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatisticsRole {
    Source,
    Target,
}

/// Read / Created / Updated / Deleted / Skipped / Failed of one system in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemStatistics {
    pub system_id: String,
    /// Display name.
    pub system: String,
    pub role: StatisticsRole,
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl SystemStatistics {
    pub fn new(system_id: &str, system: &str, role: StatisticsRole) -> SystemStatistics {
        SystemStatistics {
            system_id: system_id.to_string(),
            system: system.to_string(),
            role,
            read: 0,
            created: 0,
            updated: 0,
            deleted: 0,
            skipped: 0,
            failed: 0,
        }
    }
}

/// One failed entity of a run (at most [`MAX_FAILED_ENTITIES`] are kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedEntity {
    /// Display name of the system where it failed.
    pub system: String,
    /// `user` / `group`.
    pub entity_type: String,
    /// The entity id in the source (or in the target for a failed delete).
    pub entity_id: String,
    /// `READ`, `CREATE`, `UPDATE`, `DELETE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    pub reason: String,
}

/// At most this many failed entities are shown per job log (rule 48).
pub const MAX_FAILED_ENTITIES: usize = 10;

/// One job run as stored and as the job log endpoint shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRunRecord {
    pub id: String,
    pub tenant: String,
    pub source_system_id: String,
    pub job_type: JobType,
    pub trigger: JobTrigger,
    /// Set when the run starts.
    pub read_mode: Option<ReadMode>,
    pub status: JobStatus,
    /// `Identity Provisioning API – <client id>`, `Scheduler`, `CLI`.
    pub triggered_by: String,
    #[serde(with = "ts_text")]
    pub created_at: Timestamp,
    #[serde(with = "opt_ts_text")]
    pub started_at: Option<Timestamp>,
    #[serde(with = "opt_ts_text")]
    pub finished_at: Option<Timestamp>,
    /// The source first, then each target, in id order.
    pub statistics: Vec<SystemStatistics>,
    /// At most [`MAX_FAILED_ENTITIES`].
    pub failed_entities: Vec<FailedEntity>,
    pub message: Option<String>,
}

mod ts_text {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_timestamp(*ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

mod opt_ts_text {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => s.serialize_str(&super::format_timestamp(*ts)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The delta state of one source system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobSourceState {
    /// Start of the last successful run; a delta read asks for changes after it.
    pub watermark: Option<Timestamp>,
    /// Scheduled delta reads since the last full read.
    pub delta_reads_since_full: u32,
}

/// Key of a [`RowWrite::JobEntity`] row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEntityKey {
    pub tenant: Arc<str>,
    pub source_system_id: Arc<str>,
    pub target_system_id: Arc<str>,
    pub entity_type: Kind,
    pub source_id: Arc<str>,
}

/// Adds the statements of one job row write to `script` (nothing for other writes).
pub(super) fn push(write: &RowWrite, script: &mut Script) -> Result<(), StoreError> {
    match write {
        RowWrite::JobRun(record) => push_run(record, script)?,
        RowWrite::JobEntity { key, content_hash } => script.statement(
            "INSERT INTO job_entities
               (tenant, source_system_id, target_system_id, entity_type, source_id, content_hash)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (tenant, source_system_id, target_system_id, entity_type, source_id)
             DO UPDATE SET content_hash = excluded.content_hash",
            [
                Bind::shared(&key.tenant),
                Bind::shared(&key.source_system_id),
                Bind::shared(&key.target_system_id),
                Bind::Word(entity_type_str(key.entity_type)),
                Bind::shared(&key.source_id),
                Bind::shared(content_hash),
            ],
        ),
        RowWrite::DeleteJobEntity(key) => script.statement(
            "DELETE FROM job_entities WHERE tenant = ? AND source_system_id = ?
               AND target_system_id = ? AND entity_type = ? AND source_id = ?",
            [
                Bind::shared(&key.tenant),
                Bind::shared(&key.source_system_id),
                Bind::shared(&key.target_system_id),
                Bind::Word(entity_type_str(key.entity_type)),
                Bind::shared(&key.source_id),
            ],
        ),
        RowWrite::JobSourceState {
            tenant,
            source_system_id,
            state,
        } => script.statement(
            "INSERT INTO job_source_state (tenant, source_system_id, watermark,
               delta_reads_since_full) VALUES (?, ?, ?, ?)
             ON CONFLICT (tenant, source_system_id)
             DO UPDATE SET watermark = excluded.watermark,
                           delta_reads_since_full = excluded.delta_reads_since_full",
            [
                Bind::shared(tenant),
                Bind::shared(source_system_id),
                Bind::opt_owned(state.watermark.map(format_timestamp)),
                Bind::Int(i64::from(state.delta_reads_since_full)),
            ],
        ),
        RowWrite::InterruptJobRuns { at } => script.statement(
            "UPDATE job_runs SET status = 'Finished with Error', finished_at = ?,
               message = 'interrupted: the runtime stopped before the run finished'
             WHERE status IN ('Queued', 'Running', 'Running with Error')",
            [Bind::Owned(format_timestamp(*at))],
        ),
        RowWrite::PruneJobRuns {
            tenant,
            source_system,
            before,
        } => script.statement(
            "DELETE FROM job_runs WHERE tenant = ? AND created_at < ?
               AND (? IS NULL OR source_system_id = ?)
               AND status IN ('Success', 'Finished with Error')",
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

fn json_text<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        table: "job_runs",
        detail: format!("not serialisable: {e}"),
    })
}

fn push_run(run: &JobRunRecord, script: &mut Script) -> Result<(), StoreError> {
    script.statement(
        "INSERT OR REPLACE INTO job_runs (id, tenant, source_system_id, job_type, trigger_type,
           read_mode, status, triggered_by, created_at, started_at, finished_at, statistics,
           failed_entities, message)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            Bind::Owned(run.id.clone()),
            Bind::Owned(run.tenant.clone()),
            Bind::Owned(run.source_system_id.clone()),
            Bind::Word(run.job_type.as_str()),
            Bind::Word(run.trigger.as_str()),
            Bind::opt_word(run.read_mode.map(ReadMode::as_str)),
            Bind::Word(run.status.as_str()),
            Bind::Owned(run.triggered_by.clone()),
            Bind::Owned(format_timestamp(run.created_at)),
            Bind::opt_owned(run.started_at.map(format_timestamp)),
            Bind::opt_owned(run.finished_at.map(format_timestamp)),
            Bind::Owned(json_text(&run.statistics)?),
            Bind::Owned(json_text(&run.failed_entities)?),
            Bind::opt_owned(run.message.clone()),
        ],
    );
    Ok(())
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        table: "job_runs",
        detail,
    }
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    column: &str,
) -> Result<T, StoreError> {
    row.try_get(column)
        .map_err(StoreError::sql("read a job row"))
}

fn parse_ts(text: &str) -> Result<Timestamp, StoreError> {
    text.parse()
        .map_err(|e| corrupt(format!("timestamp {text:?}: {e}")))
}

fn run_row(row: &SqliteRow) -> Result<JobRunRecord, StoreError> {
    let text = |c: &str| get::<String>(row, c);
    let opt = |c: &str| get::<Option<String>>(row, c);
    let job_type = text("job_type")?;
    let trigger = text("trigger_type")?;
    let status = text("status")?;
    Ok(JobRunRecord {
        id: text("id")?,
        tenant: text("tenant")?,
        source_system_id: text("source_system_id")?,
        job_type: JobType::parse(&job_type).ok_or_else(|| corrupt(format!("type {job_type}")))?,
        trigger: JobTrigger::parse(&trigger)
            .ok_or_else(|| corrupt(format!("trigger {trigger}")))?,
        read_mode: opt("read_mode")?
            .map(|m| ReadMode::parse(&m).ok_or_else(|| corrupt(format!("read mode {m}"))))
            .transpose()?,
        status: JobStatus::parse(&status).ok_or_else(|| corrupt(format!("status {status}")))?,
        triggered_by: text("triggered_by")?,
        created_at: parse_ts(&text("created_at")?)?,
        started_at: opt("started_at")?.as_deref().map(parse_ts).transpose()?,
        finished_at: opt("finished_at")?.as_deref().map(parse_ts).transpose()?,
        statistics: serde_json::from_str(&text("statistics")?)
            .map_err(|e| corrupt(format!("statistics: {e}")))?,
        failed_entities: serde_json::from_str(&text("failed_entities")?)
            .map_err(|e| corrupt(format!("failed entities: {e}")))?,
        message: opt("message")?,
    })
}

impl Store {
    /// One job run of `tenant`.
    pub async fn job_run(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<JobRunRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant, source_system_id, job_type, trigger_type, read_mode, status,
                    triggered_by, created_at, started_at, finished_at, statistics,
                    failed_entities, message
               FROM job_runs WHERE tenant = ? AND id = ?",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read a job run"))?;
        row.as_ref().map(run_row).transpose()
    }

    /// Job runs of `tenant` (of one source system when given), newest first, at most `limit`.
    pub async fn job_runs(
        &self,
        tenant: &str,
        source_system_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<JobRunRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant, source_system_id, job_type, trigger_type, read_mode, status,
                    triggered_by, created_at, started_at, finished_at, statistics,
                    failed_entities, message
               FROM job_runs
              WHERE tenant = ?1 AND (?2 IS NULL OR source_system_id = ?2)
              ORDER BY created_at DESC, rowid DESC LIMIT ?3",
        )
        .bind(tenant)
        .bind(source_system_id)
        .bind(i64::from(limit))
        .fetch_all(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read job runs"))?;
        rows.iter().map(run_row).collect()
    }

    /// The delta state of a source system (default when it never ran).
    pub async fn job_source_state(
        &self,
        tenant: &str,
        source_system_id: &str,
    ) -> Result<JobSourceState, StoreError> {
        let row = sqlx::query(
            "SELECT watermark, delta_reads_since_full FROM job_source_state
              WHERE tenant = ? AND source_system_id = ?",
        )
        .bind(tenant)
        .bind(source_system_id)
        .fetch_optional(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read a job source state"))?;
        let Some(row) = row else {
            return Ok(JobSourceState::default());
        };
        let watermark: Option<String> = get(&row, "watermark")?;
        let count: i64 = get(&row, "delta_reads_since_full")?;
        Ok(JobSourceState {
            watermark: watermark.as_deref().map(parse_ts).transpose()?,
            delta_reads_since_full: u32::try_from(count).unwrap_or(0),
        })
    }

    /// Source id -> content hash of what the jobs of `source_system_id` provisioned to
    /// `target_system_id`.
    pub async fn job_entities(
        &self,
        tenant: &str,
        source_system_id: &str,
        target_system_id: &str,
        entity_type: Kind,
    ) -> Result<HashMap<String, String>, StoreError> {
        let rows = sqlx::query(
            "SELECT source_id, content_hash FROM job_entities
              WHERE tenant = ? AND source_system_id = ? AND target_system_id = ?
                AND entity_type = ?",
        )
        .bind(tenant)
        .bind(source_system_id)
        .bind(target_system_id)
        .bind(entity_type_str(entity_type))
        .fetch_all(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read job entities"))?;
        rows.iter()
            .map(|row| Ok((get(row, "source_id")?, get(row, "content_hash")?)))
            .collect()
    }

    /// Every id mapping of one target system and entity type, by source id.
    pub async fn id_mappings_of(
        &self,
        tenant: &str,
        target_system_id: &str,
        entity_type: Kind,
    ) -> Result<HashMap<String, IdMappingRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT source_id, target_id, existed_before FROM id_mappings
              WHERE tenant = ? AND target_system_id = ? AND entity_type = ?",
        )
        .bind(tenant)
        .bind(target_system_id)
        .bind(entity_type_str(entity_type))
        .fetch_all(&self.inner.readers)
        .await
        .map_err(StoreError::sql("read id mappings"))?;
        rows.iter()
            .map(|row| {
                Ok((
                    get(row, "source_id")?,
                    IdMappingRow {
                        target_id: get(row, "target_id")?,
                        existed_before: get::<i64>(row, "existed_before")? != 0,
                    },
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, status: JobStatus, created_ms: i64) -> JobRunRecord {
        let mut source = SystemStatistics::new("src", "Source", StatisticsRole::Source);
        source.read = 3;
        JobRunRecord {
            id: id.into(),
            tenant: "acme".into(),
            source_system_id: "src".into(),
            job_type: JobType::Read,
            trigger: JobTrigger::Immediate,
            read_mode: Some(ReadMode::Full),
            status,
            triggered_by: "CLI".into(),
            created_at: Timestamp::from_millisecond(created_ms).unwrap(),
            started_at: Some(Timestamp::from_millisecond(created_ms).unwrap()),
            finished_at: None,
            statistics: vec![source],
            failed_entities: vec![FailedEntity {
                system: "Target".into(),
                entity_type: "user".into(),
                entity_id: "u1".into(),
                operation: Some("CREATE".into()),
                reason: "HTTP 400".into(),
            }],
            message: None,
        }
    }

    #[tokio::test]
    async fn runs_states_and_entities_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        let key = JobEntityKey {
            tenant: Arc::from("acme"),
            source_system_id: Arc::from("src"),
            target_system_id: Arc::from("tgt"),
            entity_type: Kind::User,
            source_id: Arc::from("u1"),
        };
        let watermark = Timestamp::from_millisecond(1_700_000_000_123).unwrap();
        conn.commit(
            &[
                RowWrite::JobRun(Box::new(run("j1", JobStatus::Running, 1_000))),
                RowWrite::JobRun(Box::new(run("j2", JobStatus::Success, 2_000))),
                RowWrite::JobEntity {
                    key: key.clone(),
                    content_hash: Arc::from("h1"),
                },
                RowWrite::JobEntity {
                    key: key.clone(),
                    content_hash: Arc::from("h2"),
                },
                RowWrite::JobSourceState {
                    tenant: Arc::from("acme"),
                    source_system_id: Arc::from("src"),
                    state: JobSourceState {
                        watermark: Some(watermark),
                        delta_reads_since_full: 2,
                    },
                },
            ],
            1,
        )
        .unwrap();
        assert_eq!(
            store.job_run("acme", "j1").await.unwrap(),
            Some(run("j1", JobStatus::Running, 1_000))
        );
        assert_eq!(store.job_run("other", "j1").await.unwrap(), None);
        let runs = store.job_runs("acme", Some("src"), 10).await.unwrap();
        assert_eq!(
            runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["j2", "j1"]
        );
        let entities = store
            .job_entities("acme", "src", "tgt", Kind::User)
            .await
            .unwrap();
        assert_eq!(entities.get("u1").map(String::as_str), Some("h2"));
        assert_eq!(
            store.job_source_state("acme", "src").await.unwrap(),
            JobSourceState {
                watermark: Some(watermark),
                delta_reads_since_full: 2
            }
        );
        // Interrupted runs are finished with an error; finished runs are pruned by age.
        conn.commit(
            &[
                RowWrite::InterruptJobRuns {
                    at: Timestamp::from_millisecond(3_000).unwrap(),
                },
                RowWrite::DeleteJobEntity(key),
                RowWrite::PruneJobRuns {
                    tenant: Arc::from("acme"),
                    source_system: None,
                    before: Timestamp::from_millisecond(2_500).unwrap(),
                },
            ],
            1,
        )
        .unwrap();
        // j1 became finished by the interrupt, so it is pruned too.
        assert!(store.job_runs("acme", None, 10).await.unwrap().is_empty());
        assert!(
            store
                .job_entities("acme", "src", "tgt", Kind::User)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn record_serialises_with_sap_words() {
        let json = serde_json::to_value(run("j", JobStatus::FinishedWithError, 0)).unwrap();
        assert_eq!(json["status"], "Finished with Error");
        assert_eq!(json["trigger"], "IMMEDIATE");
        assert_eq!(json["readMode"], "Full Read");
        assert_eq!(json["jobType"], "READ");
        assert_eq!(json["statistics"][0]["read"], 3);
        assert_eq!(json["createdAt"], "1970-01-01T00:00:00.000Z");
        assert_eq!(JobType::parse("resync"), Some(JobType::Resync));
    }
}
