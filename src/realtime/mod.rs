//! Real-time targets (spec/domain.md §1.7, architecture §4): every committed directory change of
//! a tenant is pushed at once to each enabled real-time target of the tenant (usually the
//! tenant's own real-time provisioning API, which fans out to target systems).
//!
//! [`Pusher`] owns one task per enabled target ([`push`]); [`Pusher::configure`] starts, restarts
//! (config changed) and stops them, and drops the cursor of a removed target.
//!
//! Invariants:
//! - a target's cursor into the change log advances only after the target acknowledged every
//!   entity of the batch (or it failed permanently and was logged), so nothing is lost over a
//!   restart; a new target starts at the end of the log (Provision covers what came before);
//! - an entity ever written by a provisioning job (origin `job:<id>`) is never pushed (loop
//!   prevention, architecture §4.3); each skip is written to the real-time log with the reason;
//! - secrets stay inside [`OutboundAuth`] (redacted `Debug`), never in logs or health.

pub mod plan;
pub mod push;
pub mod test_connection;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use crate::runtime::{OutboundAuth, Runtime};
use crate::store::RowWrite;

/// A real-time target as the pusher uses it (computed by reconcile).
#[derive(Debug, Clone, PartialEq)]
pub struct RealTimeTargetConfig {
    /// `namespace/name` of the RealTimeTarget resource (its identity in the store).
    pub resource: String,
    pub tenant: String,
    pub display_name: String,
    /// The user entity URL: `https://…/ipsproxy/service/api/v1/systems/{id}/entities/user`.
    pub user_url: String,
    /// SCIM shape of pushed bodies: 1 or 2.
    pub version: u8,
    /// Push group changes too.
    pub groups: bool,
    pub enabled: bool,
    pub auth: OutboundAuth,
    /// Changes of this token request a new Provision (`None` = the initial one only).
    pub provision_request: Option<String>,
    /// Retry tuning (`ips.failed.request.retry.*`, see `delivery::backoff`).
    pub properties: BTreeMap<String, String>,
}

impl RealTimeTargetConfig {
    /// The token a Provision run is recorded under.
    pub fn provision_token(&self) -> String {
        self.provision_request
            .clone()
            .unwrap_or_else(|| "initial".to_string())
    }
}

/// What the pusher observed about one target (for status conditions and counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushHealth {
    /// Circuit closed: pushes are being acknowledged.
    pub healthy: bool,
    /// The last transient error, when unhealthy.
    pub last_error: Option<String>,
    pub pushed: u64,
    pub skipped: u64,
    pub failed: u64,
    /// `Some(n)` once the Provision of the current request token finished with n users.
    pub provisioned: Option<u64>,
    /// Users pushed so far by the Provision in progress.
    pub provisioning: Option<u64>,
}

struct Running {
    config: Arc<RealTimeTargetConfig>,
    task: tokio::task::JoinHandle<()>,
}

/// The real-time push tasks of the runtime.
#[derive(Default)]
pub struct Pusher {
    running: Mutex<BTreeMap<String, Running>>,
    health: Arc<Mutex<BTreeMap<String, PushHealth>>>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher").finish_non_exhaustive()
    }
}

impl Pusher {
    pub fn new() -> Pusher {
        Pusher::default()
    }

    /// Runs exactly the enabled targets of `targets`: unchanged ones keep running, changed ones
    /// restart from their persisted cursor, removed ones stop and their cursor is dropped
    /// (their real-time log stays).
    pub fn configure(&self, runtime: Weak<Runtime>, targets: &[Arc<RealTimeTargetConfig>]) {
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        let wanted: BTreeMap<&str, &Arc<RealTimeTargetConfig>> =
            targets.iter().map(|t| (t.resource.as_str(), t)).collect();
        let names: Vec<String> = running.keys().cloned().collect();
        for name in names {
            let keep = wanted
                .get(name.as_str())
                .is_some_and(|t| t.enabled && running.get(&name).is_some_and(|r| r.config == **t));
            if keep {
                continue;
            }
            if let Some(old) = running.remove(&name) {
                old.task.abort();
                if !wanted.contains_key(name.as_str()) {
                    if let Ok(mut h) = self.health.lock() {
                        h.remove(&name);
                    }
                    drop_cursor(&runtime, &old.config);
                }
            }
        }
        for (name, target) in wanted {
            if !target.enabled || running.contains_key(name) {
                continue;
            }
            let task = tokio::spawn(push::run(
                target.clone(),
                runtime.clone(),
                self.health.clone(),
            ));
            running.insert(
                name.to_string(),
                Running {
                    config: target.clone(),
                    task,
                },
            );
        }
    }

    /// What was observed about target `resource` (`namespace/name`).
    pub fn health(&self, resource: &str) -> Option<PushHealth> {
        self.health.lock().ok()?.get(resource).cloned()
    }

    /// Stops every task (the runtime is shutting down).
    pub fn stop(&self) {
        if let Ok(mut running) = self.running.lock() {
            for (_, r) in std::mem::take(&mut *running) {
                r.task.abort();
            }
        }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn drop_cursor(runtime: &Weak<Runtime>, target: &RealTimeTargetConfig) {
    let Some(runtime) = runtime.upgrade() else {
        return;
    };
    let tenant: Arc<str> = Arc::from(target.tenant.as_str());
    let resource: Arc<str> = Arc::from(target.resource.as_str());
    tokio::spawn(async move {
        let result = runtime
            .writer()
            .submit_rows(move |writes| {
                writes.push(RowWrite::DropRealtimeCursor {
                    tenant,
                    target: resource,
                });
                Ok(())
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not drop the cursor of a removed real-time target");
        }
    });
}
