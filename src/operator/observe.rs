//! What the operator observes outside the API server, as input to the shared pass: the live
//! connection checks of target systems (scheduled by [`crate::files::checks::ConnectionChecks`]:
//! periodic with jitter, exponential backoff while failing, so a target with bad credentials is
//! never hammered), Test Connection of real-time targets, and the delivery and push health the
//! runtime reports.
//!
//! Invariants: a check result counts only for the configuration it checked; an absent
//! observation means "not observed yet", never "failed"; results never carry a secret.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::files::checks::ConnectionChecks;
use crate::files::driver::{
    CaCertificateSource, DeliveryHealthSource, RealTimeHealthSource, ca_certificates_of,
};
use crate::realtime::RealTimeTargetConfig;
use crate::reconcile::real_time_target::RealTimeObservations;
use crate::reconcile::{ConnectionCheck, ObjectKey, Observations};
use crate::runtime::RuntimeConfig;

use super::kinds::Kind;

/// Periodic Test Connection of real-time targets, and the retry after a failed one.
pub const REALTIME_CHECK_INTERVAL: Duration = Duration::from_secs(300);
pub const REALTIME_CHECK_RETRY: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct RealTimeCheck {
    config: Arc<RealTimeTargetConfig>,
    result: Option<ConnectionCheck>,
    /// `None` while a check runs.
    next_due: Option<Instant>,
    failures: u32,
}

/// Called with the object whose observation changed (a check finished).
pub type OnResult = Arc<dyn Fn(Kind, ObjectKey) + Send + Sync>;

/// The observation sources and the check schedules.
#[derive(Default)]
pub struct Observer {
    delivery: Option<Arc<dyn DeliveryHealthSource>>,
    realtime: Option<Arc<dyn RealTimeHealthSource>>,
    ca_certificates: Option<Arc<dyn CaCertificateSource>>,
    checks: Mutex<ConnectionChecks>,
    realtime_checks: Mutex<BTreeMap<String, RealTimeCheck>>,
    /// Whether checks are started at all (off in tests without targets to reach).
    run_checks: bool,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("run_checks", &self.run_checks)
            .finish_non_exhaustive()
    }
}

fn key_of(resource: &str) -> ObjectKey {
    match resource.split_once('/') {
        Some((ns, name)) => ObjectKey::new(ns, name),
        None => ObjectKey::new(crate::reconcile::DEFAULT_NAMESPACE, resource),
    }
}

impl Observer {
    /// An observer that observes nothing and starts no check.
    pub fn none() -> Self {
        Self::default()
    }

    /// Also reads the tenant CA certificates (`status.caCertificate`) from `source`.
    pub fn with_ca_certificates(mut self, source: Arc<dyn CaCertificateSource>) -> Self {
        self.ca_certificates = Some(source);
        self
    }

    /// An observer reading the runtime's delivery and push health and running checks.
    pub fn new(
        delivery: Option<Arc<dyn DeliveryHealthSource>>,
        realtime: Option<Arc<dyn RealTimeHealthSource>>,
    ) -> Self {
        Observer {
            delivery,
            realtime,
            run_checks: true,
            ..Default::default()
        }
    }

    /// What is observed now for the targets of `config`.
    pub fn observations(&self, config: &RuntimeConfig) -> (Observations, RealTimeObservations) {
        let mut delivery = BTreeMap::new();
        if let Some(source) = &self.delivery {
            for (tenant, t) in &config.tenants {
                for id in t.target_systems.keys() {
                    if let Some(h) = source.delivery_health(tenant, id) {
                        delivery.insert(id.clone(), h);
                    }
                }
            }
        }
        let connection = self
            .checks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .results(config);
        let mut realtime = RealTimeObservations::default();
        {
            let checks = self
                .realtime_checks
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for target in &config.realtime_targets {
                if let Some(c) = checks.get(&target.resource)
                    && c.config == *target
                    && let Some(result) = &c.result
                {
                    realtime
                        .connection
                        .insert(target.resource.clone(), result.clone());
                }
            }
        }
        if let Some(source) = &self.realtime {
            for target in &config.realtime_targets {
                if let Some(h) = source.realtime_health(&target.resource) {
                    realtime.push.insert(target.resource.clone(), h);
                }
            }
        }
        (
            Observations {
                connection,
                delivery,
                ca_certificates: ca_certificates_of(self.ca_certificates.as_ref(), config),
            },
            realtime,
        )
    }

    /// When the next check is due (`None`: nothing scheduled).
    pub fn next_due(&self) -> Option<Instant> {
        let targets = self
            .checks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_due();
        let realtime = self
            .realtime_checks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|c| c.next_due)
            .min();
        match (targets, realtime) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Starts every check of `config` that is new, changed or due; each result is recorded and
    /// reported to `on_result`.
    pub fn start_due(self: &Arc<Self>, config: &RuntimeConfig, on_result: OnResult) {
        if !self.run_checks || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let now = Instant::now();
        let due = self
            .checks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .due(config, now);
        for target in due {
            let me = Arc::clone(self);
            let on_result = Arc::clone(&on_result);
            tokio::spawn(async move {
                let result = crate::delivery::connection_check(&target).await;
                if !result.ok {
                    tracing::warn!(target = %target.resource, reason = %result.reason, message = %result.message, "connection check failed");
                }
                me.checks.lock().unwrap_or_else(|p| p.into_inner()).record(
                    &target,
                    result,
                    Instant::now(),
                    rand::random_range(-1.0..=1.0),
                );
                on_result(Kind::TargetSystem, key_of(&target.resource));
            });
        }
        let mut checks = self
            .realtime_checks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        checks.retain(|r, _| config.realtime_targets.iter().any(|t| &t.resource == r));
        for target in &config.realtime_targets {
            let failures = match checks.get(&target.resource) {
                Some(c) if c.config == *target => {
                    if c.next_due.is_none_or(|d| d > now) {
                        continue;
                    }
                    c.failures
                }
                _ => 0,
            };
            checks.insert(
                target.resource.clone(),
                RealTimeCheck {
                    config: Arc::clone(target),
                    result: None,
                    next_due: None,
                    failures,
                },
            );
            let me = Arc::clone(self);
            let on_result = Arc::clone(&on_result);
            let target = Arc::clone(target);
            tokio::spawn(async move {
                let result = crate::realtime::test_connection::test_connection(&target).await;
                me.record_realtime(&target, result);
                on_result(Kind::RealTimeTarget, key_of(&target.resource));
            });
        }
    }

    fn record_realtime(&self, target: &Arc<RealTimeTargetConfig>, result: ConnectionCheck) {
        let mut checks = self
            .realtime_checks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(check) = checks.get_mut(&target.resource) else {
            return;
        };
        if check.config != *target {
            return;
        }
        check.failures = if result.ok {
            0
        } else {
            tracing::warn!(target = %target.resource, reason = %result.reason, message = %result.message, "Test Connection failed");
            check.failures.saturating_add(1)
        };
        let base = if result.ok {
            REALTIME_CHECK_INTERVAL
        } else {
            (REALTIME_CHECK_RETRY * 2u32.saturating_pow(check.failures.saturating_sub(1).min(4)))
                .min(REALTIME_CHECK_INTERVAL)
        };
        check.next_due = Some(Instant::now() + base.mul_f64(rand::random_range(0.9..=1.1)));
        check.result = Some(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_observed_without_sources() {
        let o = Observer::none();
        let (obs, rt) = o.observations(&RuntimeConfig::default());
        assert_eq!(obs, Observations::default());
        assert_eq!(rt, RealTimeObservations::default());
        assert_eq!(o.next_due(), None);
        assert_eq!(key_of("ns/a"), ObjectKey::new("ns", "a"));
        assert_eq!(key_of("a"), ObjectKey::new("default", "a"));
    }
}
