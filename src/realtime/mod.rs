//! Real-time targets (spec/domain.md §1.7, architecture §4): every committed directory change of
//! a tenant is pushed at once to each enabled real-time target of the tenant (usually the
//! tenant's own real-time provisioning API, which fans out to target systems).
//!
//! [`Pusher`] owns one task per enabled target ([`push`]); [`Pusher::configure`] starts, restarts
//! (config changed) and stops them, and drops the cursor of a removed target. A target with
//! `certificate` authentication first gets its client certificate from the tenant CA
//! ([`certificate`]; reported in [`PushHealth::certificate`] for reconcile) and renews it when
//! due. [`Pusher::request_provision`] starts a Provision on demand ([`provision_api`], the
//! admin endpoint behind `idrelay provision`, [`provision_cli`]); [`provision_due`] decides
//! which run a task works on.
//!
//! Invariants:
//! - a target's cursor into the change log advances only after the target acknowledged every
//!   entity of the batch (or it failed permanently and was logged), so nothing is lost over a
//!   restart; a new target starts at the end of the log (Provision covers what came before);
//! - an entity ever written by a provisioning job (origin `job:<id>`) is never pushed (loop
//!   prevention, architecture §4.3); each skip is written to the real-time log with the reason;
//! - secrets stay inside [`OutboundAuth`] (redacted `Debug`), never in logs or health.

pub mod certificate;
pub mod plan;
pub mod provision_api;
pub mod provision_cli;
pub mod push;
pub mod test_connection;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

pub use crate::auth::certificates::ClientCertificateRequest;
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
    /// `certificate` authentication: the client certificate the tenant CA keeps issued for
    /// this target. `auth` holds it once issued (observed), [`OutboundAuth::None`] before.
    pub certificate: Option<ClientCertificateRequest>,
    /// Extra CA certificates (PEM) trusted for the target's TLS server certificate.
    pub trusted_ca_pem: Option<String>,
    /// A Provision run requested through the admin endpoint (set by the [`Pusher`] only,
    /// never by reconcile): `<spec token>+manual:<id>`.
    pub manual_provision: Option<String>,
}

/// Separates the declarative token from the id of a manual run in a Provision token.
pub const MANUAL_SEPARATOR: &str = "+manual:";

impl RealTimeTargetConfig {
    /// The token of the declarative Provision request (`spec.provisionRequest`, or `initial`).
    pub fn spec_provision_token(&self) -> String {
        self.provision_request
            .clone()
            .unwrap_or_else(|| "initial".to_string())
    }

    /// The token a Provision run is recorded under: the manual run when one was requested
    /// on top of the current declarative token, else the declarative token.
    pub fn provision_token(&self) -> String {
        let spec = self.spec_provision_token();
        match &self.manual_provision {
            Some(m) if base_token(m) == spec => m.clone(),
            _ => spec,
        }
    }
}

/// The declarative part of a Provision token (`T` of `T+manual:x`).
pub fn base_token(token: &str) -> &str {
    token
        .split_once(MANUAL_SEPARATOR)
        .map_or(token, |(base, _)| base)
}

/// The Provision run to work on for a target whose wanted token is `wanted`, given its
/// persisted cursor (pure): the run in progress when it belongs to `wanted`'s declarative
/// token (resumed after a restart, manual or not), nothing when `wanted` (or, for a
/// declarative token, a manual run on top of it) already finished, else a new run of `wanted`.
pub fn provision_due(cursor: &crate::store::RealtimeCursor, wanted: &str) -> Option<String> {
    let done = cursor.provisioned_request.as_deref();
    let running = cursor.provision_request.as_deref();
    let declarative = base_token(wanted) == wanted;
    let mine = |token: &str| {
        if declarative {
            base_token(token) == wanted
        } else {
            token == wanted
        }
    };
    if let Some(r) = running.filter(|r| mine(r)) {
        return Some(r.to_string());
    }
    if done.is_some_and(mine) {
        return None;
    }
    Some(wanted.to_string())
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
    /// `certificate` authentication: the certificate in use (issued by the tenant CA).
    pub certificate: Option<certificate::ObservedCertificate>,
    /// `certificate` authentication: why no certificate could be issued.
    pub certificate_error: Option<String>,
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
    /// Manual Provision runs requested through the admin endpoint, by target.
    manual: Mutex<BTreeMap<String, String>>,
}

/// Why a manual Provision could not be requested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionRequestError {
    #[error("no enabled real-time target {0} is running")]
    NotRunning(String),
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
                    if let Ok(mut m) = self.manual.lock() {
                        m.remove(&name);
                    }
                    drop_cursor(&runtime, &old.config);
                }
            }
        }
        for (name, target) in wanted {
            if !target.enabled || running.contains_key(name) {
                continue;
            }
            let task = self.spawn(&runtime, target);
            running.insert(
                name.to_string(),
                Running {
                    config: target.clone(),
                    task,
                },
            );
        }
    }

    /// Starts the task of `target` (with the manual Provision run requested for it, if any).
    fn spawn(
        &self,
        runtime: &Weak<Runtime>,
        target: &Arc<RealTimeTargetConfig>,
    ) -> tokio::task::JoinHandle<()> {
        let manual = self
            .manual
            .lock()
            .ok()
            .and_then(|m| m.get(&target.resource).cloned());
        let effective = match manual {
            Some(token) => Arc::new(RealTimeTargetConfig {
                manual_provision: Some(token),
                ..(**target).clone()
            }),
            None => target.clone(),
        };
        tokio::spawn(run_target(effective, runtime.clone(), self.health.clone()))
    }

    /// Requests a Provision of every user of target `resource` now (the admin endpoint; SAP's
    /// *Provision* button) and returns the token its progress is recorded under. The target's
    /// task restarts with the run; pushes of changes continue after it.
    pub fn request_provision(
        &self,
        runtime: Weak<Runtime>,
        resource: &str,
    ) -> Result<String, ProvisionRequestError> {
        let not_running = || ProvisionRequestError::NotRunning(resource.to_string());
        let mut running = self.running.lock().map_err(|_| not_running())?;
        let entry = running.get_mut(resource).ok_or_else(not_running)?;
        let token = format!(
            "{}{MANUAL_SEPARATOR}{}",
            entry.config.spec_provision_token(),
            uuid::Uuid::new_v4().simple()
        );
        if let Ok(mut manual) = self.manual.lock() {
            manual.insert(resource.to_string(), token.clone());
        }
        entry.task.abort();
        let config = entry.config.clone();
        entry.task = self.spawn(&runtime, &config);
        Ok(token)
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

/// The task of one target: with `certificate` authentication, keeps its client certificate
/// issued (retrying every [`certificate::RETRY`] when the CA cannot issue it) and renews it
/// when due; pushes with it ([`push::run`]).
async fn run_target(
    config: Arc<RealTimeTargetConfig>,
    runtime: Weak<Runtime>,
    health: Arc<Mutex<BTreeMap<String, PushHealth>>>,
) {
    let Some(request) = config.certificate.clone() else {
        push::run(config, runtime, health).await;
        return;
    };
    loop {
        let Some(rt) = runtime.upgrade() else {
            return;
        };
        let observed = certificate::ensure_for(rt, config.clone(), request.clone()).await;
        let set = |f: &dyn Fn(&mut PushHealth)| {
            if let Ok(mut map) = health.lock() {
                f(map.entry(config.resource.clone()).or_default());
            }
        };
        let observed = match observed {
            Ok(o) => o,
            Err(error) => {
                tracing::warn!(target = %config.resource, %error, "no client certificate for the real-time target");
                set(&|h| {
                    h.certificate = None;
                    h.certificate_error = Some(error.clone());
                });
                tokio::time::sleep(certificate::RETRY).await;
                continue;
            }
        };
        set(&|h| {
            h.certificate = Some(observed.clone());
            h.certificate_error = None;
        });
        let effective = Arc::new(RealTimeTargetConfig {
            auth: OutboundAuth::ClientCertificate {
                certificate_pem: observed.issued.cert_pem.clone(),
                private_key_pem: observed.issued.key_pem.clone(),
            },
            ..(*config).clone()
        });
        tokio::select! {
            () = push::run(effective, runtime.clone(), health.clone()) => return,
            () = certificate::renewal_due(observed.issued.not_after) => {}
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RealtimeCursor;

    fn cursor(running: Option<&str>, done: Option<&str>) -> RealtimeCursor {
        RealtimeCursor {
            provision_request: running.map(str::to_string),
            provisioned_request: done.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn which_provision_run_is_due() {
        // A new target: the initial run.
        assert_eq!(
            provision_due(&cursor(None, None), "initial").as_deref(),
            Some("initial")
        );
        assert_eq!(
            provision_due(&cursor(None, Some("initial")), "initial"),
            None
        );
        // A run in progress is resumed (after a restart).
        assert_eq!(
            provision_due(&cursor(Some("initial"), None), "initial").as_deref(),
            Some("initial")
        );
        // A manual run on top of the declarative token.
        let manual = "initial+manual:1";
        assert_eq!(
            provision_due(&cursor(None, Some("initial")), manual).as_deref(),
            Some(manual)
        );
        assert_eq!(provision_due(&cursor(None, Some(manual)), manual), None);
        // After a restart the manual request is gone: its finished run satisfies the
        // declarative token, and an interrupted one is resumed.
        assert_eq!(provision_due(&cursor(None, Some(manual)), "initial"), None);
        assert_eq!(
            provision_due(&cursor(Some(manual), Some("initial")), "initial").as_deref(),
            Some(manual)
        );
        // A new declarative token starts a new run.
        assert_eq!(
            provision_due(&cursor(None, Some(manual)), "t2").as_deref(),
            Some("t2")
        );
        assert_eq!(base_token(manual), "initial");
    }

    #[test]
    fn manual_token_applies_to_its_declarative_token_only() {
        let mut config = RealTimeTargetConfig {
            resource: "default/push".into(),
            tenant: "acme".into(),
            display_name: "P".into(),
            user_url: "http://h/entities/user".into(),
            version: 2,
            groups: false,
            enabled: true,
            auth: OutboundAuth::None,
            provision_request: None,
            properties: BTreeMap::new(),
            certificate: None,
            trusted_ca_pem: None,
            manual_provision: Some("initial+manual:x".into()),
        };
        assert_eq!(config.provision_token(), "initial+manual:x");
        config.provision_request = Some("t2".into());
        assert_eq!(config.provision_token(), "t2");
    }
}
