//! When the files driver runs the live connection check of each target system, and which results
//! still describe the current configuration. Pure scheduling (instants and jitter are inputs);
//! the driver runs the checks.
//!
//! Invariants (issue 4 "Observed state"):
//! - a target is checked as soon as it appears or its configuration changes, then every
//!   [`INTERVAL`] ± 20 % (jitter, so targets do not burst together);
//! - a failing target backs off from [`MIN_FAILING_INTERVAL`] doubling up to [`INTERVAL`] (± 20 %),
//!   never more often than once a minute;
//! - a result counts only for the exact configuration it was checked with; a result of an older
//!   configuration is dropped, so the condition reads `NotYetChecked` until the new check;
//! - at most one check per target is in flight; disabled targets are not checked.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::reconcile::ConnectionCheck;
use crate::runtime::{RuntimeConfig, TargetSystemConfig};

/// Period of the check of a healthy target (before jitter).
pub const INTERVAL: Duration = Duration::from_secs(300);
/// First retry interval of a failing target (and the floor of every interval).
pub const MIN_FAILING_INTERVAL: Duration = Duration::from_secs(60);
/// Jitter as a fraction of the interval (± 20 %).
pub const JITTER: f64 = 0.2;

#[derive(Debug, Clone)]
struct Entry {
    /// The configuration the last started check used.
    checked: Arc<TargetSystemConfig>,
    result: Option<ConnectionCheck>,
    in_flight: bool,
    next_due: Instant,
    consecutive_failures: u32,
}

/// The connection-check schedule of every configured target, keyed by target system id.
#[derive(Debug, Default)]
pub struct ConnectionChecks {
    entries: BTreeMap<String, Entry>,
}

/// The interval after a check: [`INTERVAL`] when it succeeded, else the error backoff; `jitter`
/// in `[-1, 1]` scales ± [`JITTER`]. Never below [`MIN_FAILING_INTERVAL`].
pub fn next_interval(consecutive_failures: u32, jitter: f64) -> Duration {
    let base = if consecutive_failures == 0 {
        INTERVAL
    } else {
        let doubling = 2u32.saturating_pow(consecutive_failures.saturating_sub(1).min(16));
        (MIN_FAILING_INTERVAL * doubling).min(INTERVAL)
    };
    let factor = 1.0 + JITTER * jitter.clamp(-1.0, 1.0);
    base.mul_f64(factor).max(MIN_FAILING_INTERVAL)
}

impl ConnectionChecks {
    pub fn new() -> Self {
        Self::default()
    }

    /// The targets of `config` to check now, each marked in flight. Forgets removed targets.
    pub fn due(&mut self, config: &RuntimeConfig, now: Instant) -> Vec<Arc<TargetSystemConfig>> {
        let current: BTreeMap<&String, &Arc<TargetSystemConfig>> = config
            .tenants
            .values()
            .flat_map(|t| t.target_systems.iter())
            .filter(|(_, t)| t.enabled)
            .collect();
        self.entries.retain(|id, _| current.contains_key(id));
        let mut out = Vec::new();
        for (id, target) in current {
            match self.entries.get_mut(id) {
                Some(e) if e.checked == *target => {
                    if !e.in_flight && e.next_due <= now {
                        e.in_flight = true;
                        out.push(Arc::clone(target));
                    }
                }
                Some(e) if e.in_flight => {
                    // The running check is for an older configuration: check again when it ends.
                    e.next_due = now;
                }
                _ => {
                    self.entries.insert(
                        id.clone(),
                        Entry {
                            checked: Arc::clone(target),
                            result: None,
                            in_flight: true,
                            next_due: now,
                            consecutive_failures: 0,
                        },
                    );
                    out.push(Arc::clone(target));
                }
            }
        }
        out
    }

    /// Records the result of the check of `target` started by [`Self::due`]. A result for a
    /// configuration that changed meanwhile is dropped (the target is due again at once).
    pub fn record(
        &mut self,
        target: &TargetSystemConfig,
        result: ConnectionCheck,
        now: Instant,
        jitter: f64,
    ) {
        let Some(e) = self.entries.get_mut(&target.id) else {
            return;
        };
        e.in_flight = false;
        if *e.checked != *target {
            e.result = None;
            e.next_due = now;
            return;
        }
        e.consecutive_failures = if result.ok {
            0
        } else {
            e.consecutive_failures.saturating_add(1)
        };
        e.next_due = now + next_interval(e.consecutive_failures, jitter);
        e.result = Some(result);
    }

    /// The results that describe the current configuration of their target.
    pub fn results(&self, config: &RuntimeConfig) -> BTreeMap<String, ConnectionCheck> {
        config
            .tenants
            .values()
            .flat_map(|t| t.target_systems.iter())
            .filter_map(|(id, target)| {
                let e = self.entries.get(id)?;
                let result = e.result.as_ref()?;
                (e.checked == *target).then(|| (id.clone(), result.clone()))
            })
            .collect()
    }

    /// When the next check is due (ignoring targets whose check is running).
    pub fn next_due(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter(|e| !e.in_flight)
            .map(|e| e.next_due)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::transformation::{Role, default_for};
    use crate::runtime::{OutboundAuth, SystemType, TenantConfig};

    fn target(id: &str, url: &str) -> Arc<TargetSystemConfig> {
        Arc::new(TargetSystemConfig {
            resource: format!("default/{id}"),
            id: id.into(),
            display_name: id.into(),
            source_system_ids: vec![],
            system_type: SystemType::Scim,
            url: url.into(),
            auth: OutboundAuth::None,
            properties: BTreeMap::new(),
            api_version: 2,
            transformation: default_for(Role::Target, SystemType::Scim, 2).unwrap(),
            enabled: true,
        })
    }

    fn config(targets: &[Arc<TargetSystemConfig>]) -> RuntimeConfig {
        let tenant = TenantConfig {
            name: "acme".into(),
            target_systems: targets.iter().map(|t| (t.id.clone(), t.clone())).collect(),
            ..TenantConfig::default()
        };
        RuntimeConfig {
            tenants: BTreeMap::from([("acme".to_owned(), tenant)]),
            ..RuntimeConfig::default()
        }
    }

    fn ok(ok: bool) -> ConnectionCheck {
        ConnectionCheck {
            ok,
            reason: if ok { "Connected" } else { "ConnectError" }.into(),
            message: String::new(),
        }
    }

    #[test]
    fn intervals_back_off_and_respect_the_floor() {
        assert_eq!(next_interval(0, 0.0), INTERVAL);
        assert_eq!(next_interval(0, 1.0), Duration::from_secs(360));
        assert_eq!(next_interval(0, -1.0), Duration::from_secs(240));
        assert_eq!(next_interval(1, -1.0), MIN_FAILING_INTERVAL);
        assert_eq!(next_interval(2, 0.0), Duration::from_secs(120));
        assert_eq!(next_interval(9, 0.0), INTERVAL);
        assert_eq!(next_interval(u32::MAX, 0.0), INTERVAL);
    }

    #[test]
    fn checks_on_appearance_change_and_schedule() {
        let t0 = Instant::now();
        let mut checks = ConnectionChecks::new();
        let a = target("a", "https://a");
        let cfg = config(std::slice::from_ref(&a));
        assert_eq!(checks.due(&cfg, t0).len(), 1);
        // In flight: not started twice.
        assert!(checks.due(&cfg, t0).is_empty());
        assert!(checks.results(&cfg).is_empty());
        checks.record(&a, ok(true), t0, 0.0);
        assert!(checks.results(&cfg)["a"].ok);
        assert_eq!(checks.next_due(), Some(t0 + INTERVAL));
        assert!(checks.due(&cfg, t0 + Duration::from_secs(10)).is_empty());
        assert_eq!(checks.due(&cfg, t0 + INTERVAL).len(), 1);
        checks.record(&a, ok(false), t0 + INTERVAL, 0.0);
        assert_eq!(
            checks.next_due(),
            Some(t0 + INTERVAL + MIN_FAILING_INTERVAL)
        );

        // A changed configuration is checked at once and the old result no longer counts.
        let a2 = target("a", "https://a2");
        let cfg2 = config(std::slice::from_ref(&a2));
        assert!(checks.results(&cfg2).is_empty());
        assert_eq!(checks.due(&cfg2, t0 + INTERVAL).len(), 1);
        checks.record(&a2, ok(true), t0 + INTERVAL, 0.0);
        assert!(checks.results(&cfg2)["a"].ok);
        // Removed targets are forgotten.
        assert!(checks.due(&config(&[]), t0).is_empty());
        assert_eq!(checks.next_due(), None);
    }

    #[test]
    fn result_of_a_stale_configuration_is_dropped() {
        let t0 = Instant::now();
        let mut checks = ConnectionChecks::new();
        let a = target("a", "https://a");
        checks.due(&config(std::slice::from_ref(&a)), t0);
        let a2 = target("a", "https://a2");
        let cfg2 = config(std::slice::from_ref(&a2));
        // Changed while the first check runs: not restarted concurrently.
        assert!(checks.due(&cfg2, t0).is_empty());
        checks.record(&a, ok(true), t0, 0.0);
        assert!(checks.results(&cfg2).is_empty());
        let again = checks.due(&cfg2, t0);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].url, "https://a2");
    }

    #[test]
    fn disabled_targets_are_not_checked() {
        let mut t = (*target("a", "https://a")).clone();
        t.enabled = false;
        let mut checks = ConnectionChecks::new();
        assert!(
            checks
                .due(&config(&[Arc::new(t)]), Instant::now())
                .is_empty()
        );
    }
}
