//! idrelay's metrics: one Prometheus registry per process behind a cheap, cloneable handle
//! ([`Metrics`]) with typed methods, served as OpenMetrics text on the admin listener
//! (`GET /metrics`, see [`crate::server::admin`]).
//!
//! Families (all prefixed `idrelay_`):
//!
//! | family | type | labels | who records |
//! |---|---|---|---|
//! | `reconcile_total` | counter | kind, result | operator (per object), files driver (per pass, kind `All`) |
//! | `reconcile_duration_seconds` | histogram | kind | same |
//! | `reconcile_errors_total` | counter | kind, reason | operator, files driver |
//! | `resources` | gauge | kind, ready | files driver, operator |
//! | `status_writes_total` | counter | kind | a status document that changed was published / applied |
//! | `status_writes_skipped_total` | counter | kind | a pass left a status unchanged, so nothing was written |
//! | `files_passes_total` | counter | result (`wrote`, `noop`, `error`) | files driver |
//! | `files_pass_duration_seconds` | histogram | — | files driver |
//! | `delivery_pending` | gauge | tenant, target | delivery engine |
//! | `realtime_pending` | gauge | target | real-time pushers |
//! | `delivery_latency_seconds` | histogram | tenant, target | delivery engine: event accepted → target acknowledged |
//! | `realtime_latency_seconds` | histogram | target | pushers: change committed → target acknowledged |
//!
//! Invariants: label values are code words (kinds, results, reasons — see
//! [`labels::code_word`]) or tenant and resource names; never free text from a request and
//! never a secret. Recording is lock-free for existing label sets (a read lock on the family
//! map and an atomic add) and never fails.

pub mod labels;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use labels::{Kind, KindReady, KindReason, KindResult, Outcome, Target, TenantTarget, code_word};
pub use labels::{PassOutcome, ReconcileResult};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `kind` label of a files-driver pass (which reconciles every kind at once).
pub const KIND_ALL: &str = "All";

/// Histogram buckets in seconds: 0.5 ms doubling to ~16 s.
fn duration_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

struct Inner {
    registry: Registry,
    reconcile: Family<KindResult, Counter>,
    reconcile_duration: Histograms<Kind>,
    reconcile_errors: Family<KindReason, Counter>,
    resources: Family<KindReady, Gauge>,
    status_writes: Family<Kind, Counter>,
    status_writes_skipped: Family<Kind, Counter>,
    files_passes: Family<Outcome, Counter>,
    files_pass_duration: Histogram,
    delivery_pending: Family<TenantTarget, Gauge>,
    realtime_pending: Family<Target, Gauge>,
    delivery_latency: Histograms<TenantTarget>,
    realtime_latency: Histograms<Target>,
}

/// The metrics handle: clone it freely (an `Arc`); every clone records into the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Metrics {
    /// A fresh registry with every family registered (and empty).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("idrelay");
        let reconcile = Family::<KindResult, Counter>::default();
        registry.register(
            "reconcile",
            "Reconciles by kind and result (files driver: one per pass, kind All)",
            reconcile.clone(),
        );
        let reconcile_duration: Histograms<Kind> = Family::new_with_constructor(duration_buckets);
        registry.register_with_unit(
            "reconcile_duration",
            "Duration of one reconcile by kind",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let reconcile_errors = Family::<KindReason, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that could not finish, by kind and reason",
            reconcile_errors.clone(),
        );
        let resources = Family::<KindReady, Gauge>::default();
        registry.register(
            "resources",
            "Resources by kind and the status of their Ready condition",
            resources.clone(),
        );
        let status_writes = Family::<Kind, Counter>::default();
        registry.register(
            "status_writes",
            "Status documents written because they changed, by kind",
            status_writes.clone(),
        );
        let status_writes_skipped = Family::<Kind, Counter>::default();
        registry.register(
            "status_writes_skipped",
            "Status writes skipped because the status did not change, by kind",
            status_writes_skipped.clone(),
        );
        let files_passes = Family::<Outcome, Counter>::default();
        registry.register(
            "files_passes",
            "Files-driver passes by what they wrote (wrote, noop, error)",
            files_passes.clone(),
        );
        let files_pass_duration = duration_buckets();
        registry.register_with_unit(
            "files_pass_duration",
            "Duration of one files-driver pass (load, reconcile, apply, publish)",
            Unit::Seconds,
            files_pass_duration.clone(),
        );
        let delivery_pending = Family::<TenantTarget, Gauge>::default();
        registry.register(
            "delivery_pending",
            "Pending deliveries per target system",
            delivery_pending.clone(),
        );
        let realtime_pending = Family::<Target, Gauge>::default();
        registry.register(
            "realtime_pending",
            "Committed changes not yet acknowledged per real-time target",
            realtime_pending.clone(),
        );
        let delivery_latency: Histograms<TenantTarget> =
            Family::new_with_constructor(duration_buckets);
        registry.register_with_unit(
            "delivery_latency",
            "Real-time event accepted to target system acknowledged",
            Unit::Seconds,
            delivery_latency.clone(),
        );
        let realtime_latency: Histograms<Target> = Family::new_with_constructor(duration_buckets);
        registry.register_with_unit(
            "realtime_latency",
            "Directory change committed to real-time target acknowledged",
            Unit::Seconds,
            realtime_latency.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                reconcile,
                reconcile_duration,
                reconcile_errors,
                resources,
                status_writes,
                status_writes_skipped,
                files_passes,
                files_pass_duration,
                delivery_pending,
                realtime_pending,
                delivery_latency,
                realtime_latency,
            }),
        }
    }

    /// The OpenMetrics text exposition (ends with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }

    /// One reconcile of `kind` (`Tenant`, `TargetSystem`, …) finished after `duration`.
    pub fn reconcile_finished(&self, kind: &str, duration: Duration, result: ReconcileResult) {
        let kind = code_word(kind).to_owned();
        self.inner
            .reconcile_duration
            .get_or_create(&Kind { kind: kind.clone() })
            .observe(duration.as_secs_f64());
        self.inner
            .reconcile
            .get_or_create(&KindResult { kind, result })
            .inc();
    }

    /// A reconcile of `kind` failed with `reason` (a CamelCase code word such as
    /// `SecretNotFound` or `ApiError`; anything else is counted as `Other`).
    pub fn reconcile_error(&self, kind: &str, reason: &str) {
        self.inner
            .reconcile_errors
            .get_or_create(&KindReason {
                kind: code_word(kind).to_owned(),
                reason: code_word(reason).to_owned(),
            })
            .inc();
    }

    /// How many resources of `kind` are `Ready=True`, `False` and `Unknown` now.
    pub fn set_resources(&self, kind: &str, ready: u64, not_ready: u64, unknown: u64) {
        let kind = code_word(kind);
        for (label, n) in [("True", ready), ("False", not_ready), ("Unknown", unknown)] {
            self.inner
                .resources
                .get_or_create(&KindReady {
                    kind: kind.to_owned(),
                    ready: label.to_owned(),
                })
                .set(gauge_value(n));
        }
    }

    /// `written` status documents of `kind` changed and were written; `skipped` were left as
    /// they were because nothing changed.
    pub fn status_writes(&self, kind: &str, written: u64, skipped: u64) {
        let label = Kind {
            kind: code_word(kind).to_owned(),
        };
        if written > 0 {
            self.inner
                .status_writes
                .get_or_create(&label)
                .inc_by(written);
        }
        if skipped > 0 {
            self.inner
                .status_writes_skipped
                .get_or_create(&label)
                .inc_by(skipped);
        }
    }

    /// One status document of `kind` was written (it changed).
    pub fn status_written(&self, kind: &str) {
        self.status_writes(kind, 1, 0);
    }

    /// One status write of `kind` was skipped (the status did not change).
    pub fn status_write_skipped(&self, kind: &str) {
        self.status_writes(kind, 0, 1);
    }

    /// A files-driver pass finished after `duration` with `outcome`; also counted as a
    /// reconcile of kind [`KIND_ALL`].
    pub fn files_pass(&self, duration: Duration, outcome: PassOutcome) {
        self.inner
            .files_passes
            .get_or_create(&Outcome { result: outcome })
            .inc();
        self.inner
            .files_pass_duration
            .observe(duration.as_secs_f64());
        let result = match outcome {
            PassOutcome::Error => ReconcileResult::Error,
            PassOutcome::Wrote | PassOutcome::Noop => ReconcileResult::Success,
        };
        self.reconcile_finished(KIND_ALL, duration, result);
    }

    /// Pending deliveries of target system `target` (id or resource name) of `tenant`.
    pub fn set_delivery_pending(&self, tenant: &str, target: &str, pending: u64) {
        self.inner
            .delivery_pending
            .get_or_create(&tenant_target(tenant, target))
            .set(gauge_value(pending));
    }

    /// Drops the series of a target system that is no longer configured.
    pub fn forget_delivery_target(&self, tenant: &str, target: &str) {
        let label = tenant_target(tenant, target);
        self.inner.delivery_pending.remove(&label);
        self.inner.delivery_latency.remove(&label);
    }

    /// Changes committed but not yet acknowledged by real-time target `target`
    /// (`namespace/name`).
    pub fn set_realtime_pending(&self, target: &str, pending: u64) {
        self.inner
            .realtime_pending
            .get_or_create(&Target {
                target: target.to_owned(),
            })
            .set(gauge_value(pending));
    }

    /// Drops the series of a real-time target that is no longer configured.
    pub fn forget_realtime_target(&self, target: &str) {
        let label = Target {
            target: target.to_owned(),
        };
        self.inner.realtime_pending.remove(&label);
        self.inner.realtime_latency.remove(&label);
    }

    /// Target system `target` of `tenant` acknowledged a delivery `latency` after the real-time
    /// API accepted the event.
    pub fn delivery_acknowledged(&self, tenant: &str, target: &str, latency: Duration) {
        self.inner
            .delivery_latency
            .get_or_create(&tenant_target(tenant, target))
            .observe(latency.as_secs_f64());
    }

    /// Real-time target `target` acknowledged a push `latency` after the change was committed.
    pub fn realtime_acknowledged(&self, target: &str, latency: Duration) {
        self.inner
            .realtime_latency
            .get_or_create(&Target {
                target: target.to_owned(),
            })
            .observe(latency.as_secs_f64());
    }
}

fn tenant_target(tenant: &str, target: &str) -> TenantTarget {
    TenantTarget {
        tenant: tenant.to_owned(),
        target: target.to_owned(),
    }
}

/// The sum of every sample of `name` (a full sample name such as
/// `idrelay_files_passes_total`) whose labels include all of `labels`, in an OpenMetrics text
/// exposition. For tests and the benchmark; `None` when no sample matches.
pub fn sample_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut sum = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(parts) => parts,
            None => continue,
        };
        let (sample, label_text) = match series.split_once('{') {
            Some((s, rest)) => (s, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if sample != name {
            continue;
        }
        let matches = labels.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        });
        if let (true, Ok(v)) = (matches, value.parse::<f64>()) {
            *sum.get_or_insert(0.0) += v;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records one sample into every family.
    fn record_everything(m: &Metrics) {
        m.reconcile_finished("Tenant", Duration::from_millis(1), ReconcileResult::Success);
        m.reconcile_error("Tenant", "SecretNotFound");
        m.set_resources("Tenant", 1, 0, 0);
        m.status_writes("Tenant", 1, 1);
        m.files_pass(Duration::from_millis(1), PassOutcome::Wrote);
        m.set_delivery_pending("acme", "t", 0);
        m.set_realtime_pending("default/r", 0);
        m.delivery_acknowledged("acme", "t", Duration::from_millis(1));
        m.realtime_acknowledged("default/r", Duration::from_millis(1));
    }

    #[test]
    fn labelled_families_appear_with_their_first_series() {
        // prometheus-client omits a family without series; only the unlabelled pass
        // histogram is there from the start.
        let text = Metrics::new().encode();
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        assert_eq!(
            types,
            ["# TYPE idrelay_files_pass_duration_seconds histogram"]
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn exposition_names_every_family_and_ends_with_eof() {
        let m = Metrics::new();
        record_everything(&m);
        let text = m.encode();
        for family in [
            "idrelay_reconcile",
            "idrelay_reconcile_duration_seconds",
            "idrelay_reconcile_errors",
            "idrelay_resources",
            "idrelay_status_writes",
            "idrelay_status_writes_skipped",
            "idrelay_files_passes",
            "idrelay_files_pass_duration_seconds",
            "idrelay_delivery_pending",
            "idrelay_realtime_pending",
            "idrelay_delivery_latency_seconds",
            "idrelay_realtime_latency_seconds",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family}: {text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn typed_methods_record_into_the_shared_registry() {
        let m = Metrics::new();
        let clone = m.clone();
        clone.reconcile_finished("Tenant", Duration::from_millis(3), ReconcileResult::Success);
        m.reconcile_finished("Tenant", Duration::from_millis(3), ReconcileResult::Error);
        m.reconcile_error("Tenant", "SecretNotFound");
        m.status_writes("TargetSystem", 2, 5);
        m.status_write_skipped("TargetSystem");
        m.files_pass(Duration::from_millis(1), PassOutcome::Noop);
        m.files_pass(Duration::from_millis(1), PassOutcome::Wrote);
        m.set_resources("Tenant", 3, 1, 0);
        m.set_delivery_pending("acme", "apps-scim", 7);
        m.delivery_acknowledged("acme", "apps-scim", Duration::from_millis(4));
        m.set_realtime_pending("default/acme-to-apps", 2);
        m.realtime_acknowledged("default/acme-to-apps", Duration::from_millis(30));
        let text = m.encode();
        let sum = |name: &str, labels: &[(&str, &str)]| sample_sum(&text, name, labels);
        assert_eq!(
            sum(
                "idrelay_reconcile_total",
                &[("kind", "Tenant"), ("result", "success")]
            ),
            Some(1.0)
        );
        assert_eq!(
            sum("idrelay_reconcile_total", &[("kind", "Tenant")]),
            Some(2.0)
        );
        assert_eq!(
            sum(
                "idrelay_reconcile_errors_total",
                &[("reason", "SecretNotFound")]
            ),
            Some(1.0)
        );
        assert_eq!(
            sum("idrelay_status_writes_total", &[("kind", "TargetSystem")]),
            Some(2.0)
        );
        assert_eq!(sum("idrelay_status_writes_skipped_total", &[]), Some(6.0));
        assert_eq!(
            sum("idrelay_files_passes_total", &[("result", "noop")]),
            Some(1.0)
        );
        assert_eq!(
            sum("idrelay_files_pass_duration_seconds_count", &[]),
            Some(2.0)
        );
        // A pass is a reconcile of every kind at once.
        assert_eq!(
            sum("idrelay_reconcile_total", &[("kind", "All")]),
            Some(2.0)
        );
        assert_eq!(
            sum(
                "idrelay_resources",
                &[("kind", "Tenant"), ("ready", "True")]
            ),
            Some(3.0)
        );
        assert_eq!(sum("idrelay_resources", &[("ready", "Unknown")]), Some(0.0));
        assert_eq!(
            sum(
                "idrelay_delivery_pending",
                &[("tenant", "acme"), ("target", "apps-scim")]
            ),
            Some(7.0)
        );
        assert_eq!(
            sum(
                "idrelay_delivery_latency_seconds_bucket",
                &[("target", "apps-scim"), ("le", "0.004")]
            ),
            Some(1.0)
        );
        assert_eq!(
            sum(
                "idrelay_delivery_latency_seconds_bucket",
                &[("target", "apps-scim"), ("le", "0.002")]
            ),
            Some(0.0)
        );
        assert_eq!(
            sum("idrelay_realtime_latency_seconds_count", &[]),
            Some(1.0)
        );
        assert_eq!(
            sum(
                "idrelay_realtime_pending",
                &[("target", "default/acme-to-apps")]
            ),
            Some(2.0)
        );
        m.forget_delivery_target("acme", "apps-scim");
        m.forget_realtime_target("default/acme-to-apps");
        let text = m.encode();
        assert_eq!(sample_sum(&text, "idrelay_delivery_pending", &[]), None);
        assert_eq!(sample_sum(&text, "idrelay_realtime_pending", &[]), None);
    }

    #[test]
    fn free_text_never_becomes_a_label() {
        let m = Metrics::new();
        m.reconcile_error("Tenant", "password hunter2 rejected");
        m.reconcile_finished("kind with spaces", Duration::ZERO, ReconcileResult::Success);
        let text = m.encode();
        assert!(!text.contains("hunter2"));
        assert!(!text.contains("kind with spaces"));
        assert_eq!(
            sample_sum(
                &text,
                "idrelay_reconcile_errors_total",
                &[("reason", "Other")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.set_realtime_pending("ns/we\"ird\nname", 1);
        let text = m.encode();
        assert!(text.contains(r#"target="ns/we\"ird\nname""#), "{text}");
    }
}
