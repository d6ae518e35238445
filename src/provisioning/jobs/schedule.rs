//! The job schedule (spec/domain.md §3.6 rule 47): a scheduled Read job per source system
//! with `ips.job.interval.minutes` (at least 30), started as `REPEAT` runs; a slot that
//! overlaps the previous run is skipped; missed slots are not made up. Also prunes finished
//! job runs past their retention (rule 49, `ips.job.log.retention.days`, default 7).
//!
//! Invariants: [`next_slot`] is pure; a source whose interval is invalid is not scheduled
//! (warned once per configuration); the first slot of a source is one interval after it is
//! first seen with an interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use super::properties;
use super::service::{StartError, jobs};
use crate::runtime::Runtime;
use crate::store::{JobTrigger, JobType, RowWrite};

/// How often the scheduler looks at the clock.
pub const TICK: Duration = Duration::from_secs(20);
/// How often finished job runs are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Whether the slot at `due` has come at `now`, and the next slot after it: missed slots are
/// skipped (the next slot is the first one after `now`).
pub fn next_slot(due: Instant, now: Instant, interval: Duration) -> (bool, Instant) {
    if now < due || interval.is_zero() {
        return (false, due);
    }
    let behind = now.duration_since(due);
    let steps = (behind.as_nanos() / interval.as_nanos()) as u32 + 1;
    (true, due + interval * steps)
}

/// Runs the schedule for as long as the task lives.
pub fn spawn_scheduler(runtime: Arc<Runtime>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let service = jobs(&runtime);
        let mut due: HashMap<(String, String, Duration), Instant> = HashMap::new();
        let mut warned: HashMap<(String, String), String> = HashMap::new();
        let mut last_prune: Option<Instant> = None;
        let mut tick = tokio::time::interval(TICK);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let config = runtime.config();
            let mut live = Vec::new();
            for (tenant_name, tenant) in &config.tenants {
                for source in tenant.source_systems.values().filter(|s| s.enabled) {
                    let interval = match properties::interval(&source.properties) {
                        Ok(Some(interval)) => interval,
                        Ok(None) => continue,
                        Err(message) => {
                            let key = (tenant_name.clone(), source.id.clone());
                            if warned.get(&key) != Some(&message) {
                                tracing::warn!(tenant = %tenant_name, source = %source.id, "{message}");
                                warned.insert(key, message);
                            }
                            continue;
                        }
                    };
                    let key = (tenant_name.clone(), source.id.clone(), interval);
                    live.push(key.clone());
                    let slot = *due.entry(key.clone()).or_insert(now + interval);
                    let (run, next) = next_slot(slot, now, interval);
                    due.insert(key, next);
                    if !run {
                        continue;
                    }
                    match service
                        .start(
                            tenant_name,
                            &source.id,
                            JobType::Read,
                            JobTrigger::Repeat,
                            "Scheduler",
                        )
                        .await
                    {
                        Ok(record) => {
                            tracing::info!(tenant = %tenant_name, source = %source.id, job = %record.id, "scheduled job started");
                        }
                        Err(StartError::Overlap(_)) => {
                            tracing::info!(tenant = %tenant_name, source = %source.id, "scheduled job skipped: the previous run is still running");
                        }
                        Err(error) => {
                            tracing::warn!(tenant = %tenant_name, source = %source.id, %error, "scheduled job not started");
                        }
                    }
                }
            }
            due.retain(|key, _| live.contains(key));
            if last_prune.is_none_or(|at| now.duration_since(at) >= PRUNE_EVERY) {
                last_prune = Some(now);
                prune(&runtime).await;
            }
        }
    })
}

/// Deletes finished job runs older than their source's retention (30 days for sources no
/// longer configured).
async fn prune(runtime: &Runtime) {
    let now = Timestamp::now();
    let before = |days: i64| {
        now.checked_sub(SignedDuration::from_hours(24 * days))
            .unwrap_or(Timestamp::MIN)
    };
    let mut writes = Vec::new();
    for (name, tenant) in &runtime.config().tenants {
        let tenant_name: Arc<str> = Arc::from(name.as_str());
        for source in tenant.source_systems.values() {
            writes.push(RowWrite::PruneJobRuns {
                tenant: tenant_name.clone(),
                source_system: Some(Arc::from(source.id.as_str())),
                before: before(properties::log_retention_days(&source.properties)),
            });
        }
        writes.push(RowWrite::PruneJobRuns {
            tenant: tenant_name,
            source_system: None,
            before: before(30),
        });
    }
    if writes.is_empty() {
        return;
    }
    let outcome = runtime
        .writer()
        .submit_rows(move |rows| {
            rows.extend(writes);
            Ok(())
        })
        .await;
    if let Err(error) = outcome {
        tracing::warn!(%error, "job log retention: pruning failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_once_and_skip_missed_ones() {
        let t0 = Instant::now();
        let i = Duration::from_secs(1800);
        assert_eq!(next_slot(t0 + i, t0, i), (false, t0 + i));
        assert_eq!(next_slot(t0 + i, t0 + i, i), (true, t0 + 2 * i));
        // A run that overlapped two slots: the next slot is the first one after now.
        let late = t0 + i * 3 + Duration::from_secs(5);
        assert_eq!(next_slot(t0 + i, late, i), (true, t0 + 4 * i));
    }
}
