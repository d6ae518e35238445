//! The job service of one runtime: starts runs (API, CLI, schedule), keeps at most one run
//! per source system at a time, queues one on-demand run behind a running one, and records
//! every run in the job log (`job_runs`) from start to finish.
//!
//! Invariants (spec/domain.md §3.6 rules 47–48):
//! - One run per (tenant, source system) at a time. A scheduled start during a run is skipped
//!   (the overlap skips the slot); an on-demand start during a run is queued (at most one: a
//!   second request gets the queued run's id) and starts when the running one finishes.
//! - A run is in the job log from the moment it is accepted (`Queued` or `Running`) and ends
//!   `Success` or `Finished with Error`; runs left unfinished by a stopped runtime are marked
//!   `Finished with Error` when the service starts, before any new run.
//! - The delta watermark moves only after a run whose source read succeeded.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use jiff::Timestamp;
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use super::properties;
use super::run::{RunInput, execute};
use crate::runtime::Runtime;
use crate::store::{
    JobRunRecord, JobStatus, JobTrigger, JobType, RowWrite, StatisticsRole, SystemStatistics,
};

/// Why a run was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("unknown tenant {0}")]
    UnknownTenant(String),
    #[error("unknown or disabled source system {0}")]
    UnknownSource(String),
    /// A scheduled start while the source's previous run is still running.
    #[error("a job of source system {0} is still running: this time slot is skipped")]
    Overlap(String),
    #[error("the job could not be recorded: {0}")]
    Store(String),
}

/// Per source: the running run and the one queued behind it.
#[derive(Default)]
struct Slot {
    running: Option<String>,
    queued: Option<JobRunRecord>,
}

type SlotKey = (String, String);

/// Starts and tracks the job runs of one runtime.
pub struct JobService {
    runtime: Weak<Runtime>,
    slots: Mutex<HashMap<SlotKey, Slot>>,
    recovered: OnceCell<()>,
}

/// The job service of `runtime` (created on first use; one per runtime).
pub fn jobs(runtime: &Arc<Runtime>) -> Arc<JobService> {
    static REGISTRY: Mutex<Vec<(Weak<Runtime>, Arc<JobService>)>> = Mutex::new(Vec::new());
    let mut registry = REGISTRY.lock();
    registry.retain(|(r, _)| r.strong_count() > 0);
    if let Some((_, service)) = registry
        .iter()
        .find(|(r, _)| std::ptr::eq(r.as_ptr(), Arc::as_ptr(runtime)))
    {
        return service.clone();
    }
    let service = Arc::new(JobService {
        runtime: Arc::downgrade(runtime),
        slots: Mutex::new(HashMap::new()),
        recovered: OnceCell::new(),
    });
    registry.push((Arc::downgrade(runtime), service.clone()));
    service
}

impl JobService {
    /// Marks runs a previous process left unfinished (once, before the first run).
    async fn recover(&self, runtime: &Runtime) -> Result<(), StartError> {
        self.recovered
            .get_or_try_init(|| async {
                runtime
                    .writer()
                    .submit_rows(|rows| {
                        rows.push(RowWrite::InterruptJobRuns {
                            at: Timestamp::now(),
                        });
                        Ok(())
                    })
                    .await
                    .map_err(|e| StartError::Store(e.to_string()))
            })
            .await
            .map(|_| ())
    }

    /// Starts (or queues) a run of `source_id` and returns its job log record.
    pub async fn start(
        self: &Arc<Self>,
        tenant: &str,
        source_id: &str,
        job_type: JobType,
        trigger: JobTrigger,
        triggered_by: &str,
    ) -> Result<JobRunRecord, StartError> {
        let runtime = self
            .runtime
            .upgrade()
            .ok_or_else(|| StartError::UnknownTenant(tenant.to_string()))?;
        self.recover(&runtime).await?;
        let config = runtime.config();
        let tenant_config = config
            .tenants
            .get(tenant)
            .ok_or_else(|| StartError::UnknownTenant(tenant.to_string()))?;
        let source = tenant_config
            .source_systems
            .get(source_id)
            .filter(|s| s.enabled)
            .ok_or_else(|| StartError::UnknownSource(source_id.to_string()))?;
        let mut record = JobRunRecord {
            id: uuid::Uuid::new_v4().to_string(),
            tenant: tenant.to_string(),
            source_system_id: source.id.clone(),
            job_type,
            trigger,
            read_mode: None,
            status: JobStatus::Running,
            triggered_by: triggered_by.to_string(),
            created_at: Timestamp::now(),
            started_at: None,
            finished_at: None,
            statistics: Vec::new(),
            failed_entities: Vec::new(),
            message: None,
        };
        let key = (tenant.to_string(), source.id.clone());
        let start_now = {
            let mut slots = self.slots.lock();
            let slot = slots.entry(key.clone()).or_default();
            match (&slot.running, &slot.queued, trigger) {
                (None, _, _) => {
                    slot.running = Some(record.id.clone());
                    true
                }
                (Some(_), _, JobTrigger::Repeat) => {
                    return Err(StartError::Overlap(source.id.clone()));
                }
                (Some(_), Some(queued), JobTrigger::Immediate) => return Ok(queued.clone()),
                (Some(_), None, JobTrigger::Immediate) => {
                    record.status = JobStatus::Queued;
                    slot.queued = Some(record.clone());
                    false
                }
            }
        };
        if let Err(error) = save(&runtime, &record).await {
            let mut slots = self.slots.lock();
            if let Some(slot) = slots.get_mut(&key) {
                if start_now {
                    slot.running = None;
                } else {
                    slot.queued = None;
                }
            }
            return Err(error);
        }
        if start_now {
            let service = self.clone();
            let run = record.clone();
            tokio::spawn(async move { service.run_chain(key, run).await });
        }
        Ok(record)
    }

    /// Runs `record`, then the run queued behind it, if any, until none is left.
    async fn run_chain(self: Arc<Self>, key: SlotKey, mut record: JobRunRecord) {
        loop {
            let Some(runtime) = self.runtime.upgrade() else {
                return;
            };
            let finished = run_one(&runtime, record).await;
            if let Err(error) = save(&runtime, &finished).await {
                tracing::error!(%error, job = %finished.id, "the job log could not be stored");
            }
            drop(runtime);
            let next = {
                let mut slots = self.slots.lock();
                let slot = slots.entry(key.clone()).or_default();
                match slot.queued.take() {
                    Some(queued) => {
                        slot.running = Some(queued.id.clone());
                        Some(queued)
                    }
                    None => {
                        slot.running = None;
                        None
                    }
                }
            };
            match next {
                Some(queued) => record = queued,
                None => return,
            }
        }
    }

    /// Whether a run of the source is running now.
    pub fn is_running(&self, tenant: &str, source_id: &str) -> bool {
        self.slots
            .lock()
            .get(&(tenant.to_string(), source_id.to_string()))
            .is_some_and(|s| s.running.is_some())
    }
}

async fn save(runtime: &Runtime, record: &JobRunRecord) -> Result<(), StartError> {
    let write = RowWrite::JobRun(Box::new(record.clone()));
    runtime
        .writer()
        .submit_rows(move |rows| {
            rows.push(write);
            Ok(())
        })
        .await
        .map_err(|e| StartError::Store(e.to_string()))
}

/// Executes one run with the configuration current at its start; returns the finished record.
async fn run_one(runtime: &Arc<Runtime>, mut record: JobRunRecord) -> JobRunRecord {
    let started_at = Timestamp::now();
    record.started_at = Some(started_at);
    record.status = JobStatus::Running;
    let finish = |mut record: JobRunRecord, message: String| {
        record.status = JobStatus::FinishedWithError;
        record.finished_at = Some(Timestamp::now());
        record.message = Some(message);
        record
    };
    let config = runtime.config();
    let Some(tenant) = config.tenants.get(&record.tenant) else {
        return finish(record, "the tenant is not configured any more".into());
    };
    let Some(source) = tenant
        .source_systems
        .get(&record.source_system_id)
        .filter(|s| s.enabled)
        .cloned()
    else {
        return finish(
            record,
            "the source system is not configured or disabled".into(),
        );
    };
    let state = match runtime
        .store()
        .job_source_state(&record.tenant, &source.id)
        .await
    {
        Ok(state) => state,
        Err(error) => return finish(record, format!("could not read the delta state: {error}")),
    };
    let mode = properties::read_mode(record.job_type, record.trigger, &source.properties, &state);
    record.read_mode = Some(mode);
    if let Err(error) = save(runtime, &record).await {
        tracing::warn!(%error, job = %record.id, "the job log could not be stored");
    }
    let targets: Vec<_> = tenant.targets_of(&source.id).cloned().collect();
    let input = RunInput {
        tenant: Arc::from(record.tenant.as_str()),
        source: source.clone(),
        targets,
        job_type: record.job_type,
        mode,
        changed_after: state.watermark,
        directory: runtime.directory(&record.tenant),
    };
    tracing::info!(job = %record.id, tenant = %record.tenant, source = %source.id,
        job_type = record.job_type.as_str(), read_mode = mode.as_str(), "job started");
    let outcome = execute(runtime.store(), runtime.writer(), &input).await;
    let next_state = properties::next_source_state(
        &state,
        mode,
        record.trigger,
        started_at,
        outcome.read_succeeded,
    );
    if next_state != state {
        let tenant_name: Arc<str> = Arc::from(record.tenant.as_str());
        let source_id: Arc<str> = Arc::from(source.id.as_str());
        let stored = runtime
            .writer()
            .submit_rows(move |rows| {
                rows.push(RowWrite::JobSourceState {
                    tenant: tenant_name,
                    source_system_id: source_id,
                    state: next_state,
                });
                Ok(())
            })
            .await;
        if let Err(error) = stored {
            tracing::warn!(%error, "the job delta state could not be stored");
        }
    }
    record.statistics = outcome.statistics;
    if record.statistics.is_empty() {
        record.statistics.push(SystemStatistics::new(
            &source.id,
            &source.display_name,
            StatisticsRole::Source,
        ));
    }
    record.failed_entities = outcome.failed_entities;
    record.message = outcome.message.or_else(|| {
        (outcome.failed_total > 0).then(|| format!("{} entities failed", outcome.failed_total))
    });
    record.status = if outcome.failed_total == 0 && record.message.is_none() {
        JobStatus::Success
    } else {
        JobStatus::FinishedWithError
    };
    record.finished_at = Some(Timestamp::now());
    tracing::info!(job = %record.id, status = record.status.as_str(), failed = outcome.failed_total,
        "job finished");
    record
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::runtime::{
        OutboundAuth, RuntimeConfig, RuntimeOptions, SourceSystemConfig, SystemType, TenantConfig,
        Transformation,
    };

    /// A runtime with tenant `acme` and a SCIM source whose server accepts connections but
    /// never answers (so a run stays running).
    async fn runtime_with_hanging_source(
        dir: &std::path::Path,
        listener: &std::net::TcpListener,
    ) -> Arc<Runtime> {
        let runtime = Runtime::open(RuntimeOptions {
            data_dir: dir.to_path_buf(),
        })
        .await
        .unwrap();
        let source = SourceSystemConfig {
            resource: "default/src".into(),
            id: "src".into(),
            display_name: "Source".into(),
            system_type: SystemType::Scim,
            url: Some(format!("http://{}", listener.local_addr().unwrap())),
            auth: OutboundAuth::None,
            properties: BTreeMap::new(),
            api_version: 2,
            transformation: Arc::new(Transformation::parse("{}").unwrap()),
            enabled: true,
        };
        let tenant = TenantConfig {
            name: "acme".into(),
            source_systems: [("src".to_string(), Arc::new(source))].into(),
            ..TenantConfig::default()
        };
        let mut config = RuntimeConfig::default();
        config.tenants.insert("acme".to_string(), tenant);
        runtime.apply(config).await.unwrap();
        runtime
    }

    #[tokio::test]
    async fn one_run_per_source_with_one_queued_run_now() {
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let runtime = runtime_with_hanging_source(dir.path(), &listener).await;
        let service = jobs(&runtime);
        assert!(Arc::ptr_eq(&service, &jobs(&runtime)));
        let (read, now, repeat) = (JobType::Read, JobTrigger::Immediate, JobTrigger::Repeat);
        let first = service
            .start("acme", "src", read, now, "test")
            .await
            .unwrap();
        assert_eq!(first.status, JobStatus::Running);
        assert!(service.is_running("acme", "src"));
        // A scheduled slot during the run is skipped; a run-now is queued, once.
        assert_eq!(
            service.start("acme", "src", read, repeat, "test").await,
            Err(StartError::Overlap("src".into()))
        );
        let queued = service
            .start("acme", "src", read, now, "test")
            .await
            .unwrap();
        assert_eq!(queued.status, JobStatus::Queued);
        let again = service
            .start("acme", "src", JobType::Resync, now, "test")
            .await
            .unwrap();
        assert_eq!(again.id, queued.id);
        // Both are in the job log already.
        let stored = runtime
            .store()
            .job_runs("acme", Some("src"), 10)
            .await
            .unwrap();
        assert_eq!(stored.len(), 2);
        // Unknown or disabled sources are refused.
        assert_eq!(
            service.start("acme", "nope", read, now, "test").await,
            Err(StartError::UnknownSource("nope".into()))
        );
        assert_eq!(
            service.start("beta", "src", read, now, "test").await,
            Err(StartError::UnknownTenant("beta".into()))
        );
    }
}
