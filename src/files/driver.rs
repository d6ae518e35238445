//! The files driver loop: load DIR, reconcile, apply the configuration, publish statuses; then
//! watch DIR (notify, debounced) and repeat on every change, plus a periodic resync in case a
//! file-system event is missed.
//!
//! It also observes what reconcile cannot see: the live connection check of every enabled target
//! system (on change and periodically with jitter, see [`super::checks`]; each result triggers a
//! pass) and, when a [`DeliveryHealthSource`] is attached, the delivery health of each target,
//! read on every pass.
//!
//! Every pass is recorded in the driver's [`Metrics`]: its duration and outcome (`wrote`,
//! `noop`, `error`), and per kind how many status documents changed and how many were left as
//! they were.
//!
//! Invariants: the configuration is applied only when it differs from the last one applied;
//! statuses are published only when one of them changed (a pass that changes nothing writes
//! nothing), after the configuration they describe is applied; readiness turns on after the
//! first full pass; a connection check result counts only for the configuration it checked.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::metrics::{KIND_ALL, Metrics, PassOutcome};
use crate::reconcile::{ConnectionCheck, DeliveryHealth, Observations};
use crate::runtime::{RuntimeConfig, TargetSystemConfig};

use super::changes::StatusChanges;
use super::checks::ConnectionChecks;
use super::document::{
    KIND_REAL_TIME_TARGET, KIND_SOURCE_SYSTEM, KIND_TARGET_SYSTEM, KIND_TECHNICAL_ADMIN,
    KIND_TENANT,
};
use super::load::{DirLoader, FilesError};
use super::state::{FilesState, PassOutput, StatusEntry};
use super::status::FilesStatus;

/// Quiet time after the last file-system event before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// Reload even without events this often.
pub const RESYNC: Duration = Duration::from_secs(30);

/// Where the driver reads the delivery health of a target system (the delivery engine).
pub trait DeliveryHealthSource: Send + Sync + std::fmt::Debug {
    /// The health of target `target_id` of `tenant`; `None` when nothing is known.
    fn delivery_health(&self, tenant: &str, target_id: &str) -> Option<DeliveryHealth>;
}

impl DeliveryHealthSource for crate::delivery::DeliveryEngine {
    fn delivery_health(&self, tenant: &str, target_id: &str) -> Option<DeliveryHealth> {
        Some(self.health(tenant, target_id))
    }
}

/// Where the driver reads what the pusher observed about a real-time target (the runtime).
pub trait RealTimeHealthSource: Send + Sync {
    /// The push health of real-time target `resource` (`namespace/name`).
    fn realtime_health(&self, resource: &str) -> Option<crate::realtime::PushHealth>;
}

impl RealTimeHealthSource for crate::runtime::Runtime {
    fn realtime_health(&self, resource: &str) -> Option<crate::realtime::PushHealth> {
        self.realtime().health(resource)
    }
}

/// Where a driver reads the CA certificate of each tenant (the runtime's tenant CAs), published
/// as `status.caCertificate`. Reading one may create and persist the tenant CA.
pub trait CaCertificateSource: Send + Sync {
    /// Tenant name → PEM of its CA certificate, for `tenants` (a CA that cannot be loaded is
    /// left out and logged).
    fn ca_certificates(&self, tenants: &mut dyn Iterator<Item = &str>) -> BTreeMap<String, String>;
}

impl CaCertificateSource for crate::runtime::Runtime {
    fn ca_certificates(&self, tenants: &mut dyn Iterator<Item = &str>) -> BTreeMap<String, String> {
        self.auth.cas.certificates(tenants)
    }
}

/// The CA certificates of the tenants of `config` from `source` (none without a source).
pub fn ca_certificates_of(
    source: Option<&Arc<dyn CaCertificateSource>>,
    config: &RuntimeConfig,
) -> BTreeMap<String, String> {
    match source {
        Some(source) => source.ca_certificates(&mut config.tenants.keys().map(String::as_str)),
        None => BTreeMap::new(),
    }
}

/// A [`CaCertificateSource`] held by the driver.
#[derive(Clone)]
struct CaSource(Arc<dyn CaCertificateSource>);

impl std::fmt::Debug for CaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaSource")
    }
}

/// A [`RealTimeHealthSource`] held by the driver.
#[derive(Clone)]
struct RealTimeHealth(Arc<dyn RealTimeHealthSource>);

impl std::fmt::Debug for RealTimeHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RealTimeHealth")
    }
}

type RealTimeCheckResult = (Arc<crate::realtime::RealTimeTargetConfig>, ConnectionCheck);

/// The Test Connection state of one real-time target.
#[derive(Debug)]
struct RealTimeCheck {
    config: Arc<crate::realtime::RealTimeTargetConfig>,
    result: Option<ConnectionCheck>,
    /// `None` while a check runs.
    next_due: Option<Instant>,
}

/// Periodic Test Connection of real-time targets (± 10 % jitter); a failed check is repeated
/// sooner.
pub const REALTIME_CHECK_INTERVAL: Duration = Duration::from_secs(300);
pub const REALTIME_CHECK_RETRY: Duration = Duration::from_secs(30);

/// Connection checks and Test Connections in flight at once: each builds an HTTP client (TLS
/// roots included), so hundreds of targets appearing together must not build hundreds at once
/// (issue 6 memory).
pub const MAX_CONCURRENT_CHECKS: usize = 16;

/// How often the push health of real-time targets is compared with the last pass (a change
/// triggers a pass: `Provisioned`, `DeliveryHealthy`, counters).
pub const REALTIME_POLL: Duration = Duration::from_secs(1);

/// Runs the live connection check of `target` (authenticating as deliveries do).
pub async fn check_connection(target: &TargetSystemConfig) -> ConnectionCheck {
    crate::delivery::connection_check(target).await
}

type CheckResult = (Arc<TargetSystemConfig>, ConnectionCheck);

/// Loads, reconciles and watches one configuration directory.
#[derive(Debug)]
pub struct FilesDriver {
    dir: PathBuf,
    loader: DirLoader,
    state: FilesState,
    status: Arc<FilesStatus>,
    /// The entries last published to `status`.
    published: Vec<StatusEntry>,
    last_applied: Option<RuntimeConfig>,
    checks: ConnectionChecks,
    check_tx: mpsc::UnboundedSender<CheckResult>,
    check_rx: mpsc::UnboundedReceiver<CheckResult>,
    delivery: Option<Arc<dyn DeliveryHealthSource>>,
    realtime: Option<RealTimeHealth>,
    ca_certificates: Option<CaSource>,
    /// Test Connection of real-time targets by resource: the config checked, its result, and
    /// when the next periodic check is due.
    realtime_checks: std::collections::BTreeMap<String, RealTimeCheck>,
    realtime_check_tx: mpsc::UnboundedSender<RealTimeCheckResult>,
    realtime_check_rx: mpsc::UnboundedReceiver<RealTimeCheckResult>,
    realtime_observed: crate::reconcile::real_time_target::RealTimeObservations,
    /// Bounds the checks in flight ([`MAX_CONCURRENT_CHECKS`]).
    check_gate: Arc<tokio::sync::Semaphore>,
}

impl FilesDriver {
    /// A driver for `dir`, which must be a readable directory.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, FilesError> {
        let dir = dir.into();
        super::load::yaml_files(&dir)?;
        let (check_tx, check_rx) = mpsc::unbounded_channel();
        let (realtime_check_tx, realtime_check_rx) = mpsc::unbounded_channel();
        Ok(FilesDriver {
            dir,
            loader: DirLoader::new(),
            state: FilesState::new(),
            status: Arc::new(FilesStatus::new()),
            published: Vec::new(),
            last_applied: None,
            checks: ConnectionChecks::new(),
            check_tx,
            check_rx,
            delivery: None,
            realtime: None,
            ca_certificates: None,
            realtime_checks: Default::default(),
            realtime_check_tx,
            realtime_check_rx,
            realtime_observed: Default::default(),
            check_gate: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CHECKS)),
        })
    }

    /// Reads the delivery health of every target from `source` on each pass (status conditions
    /// `DeliveryHealthy` and the counters).
    pub fn with_delivery_health(mut self, source: Arc<dyn DeliveryHealthSource>) -> Self {
        self.delivery = Some(source);
        self
    }

    /// Reads the CA certificate of every tenant from `source` (`status.caCertificate`).
    pub fn with_ca_certificates(mut self, source: Arc<dyn CaCertificateSource>) -> Self {
        self.ca_certificates = Some(CaSource(source));
        self
    }

    /// Reads the push health of every real-time target from `source` (status conditions
    /// `Provisioned`, `DeliveryHealthy` and the counters of RealTimeTargets).
    pub fn with_realtime_health(mut self, source: Arc<dyn RealTimeHealthSource>) -> Self {
        self.realtime = Some(RealTimeHealth(source));
        self
    }

    /// What the pusher reports now for the real-time targets of the last applied config.
    fn realtime_observations(&self) -> crate::reconcile::real_time_target::RealTimeObservations {
        let mut observed = crate::reconcile::real_time_target::RealTimeObservations::default();
        if let Some(config) = &self.last_applied {
            for target in &config.realtime_targets {
                if let Some(check) = self.realtime_checks.get(&target.resource)
                    && check.config == *target
                    && let Some(result) = &check.result
                {
                    observed
                        .connection
                        .insert(target.resource.clone(), result.clone());
                }
            }
        }
        if let (Some(source), Some(config)) = (&self.realtime, &self.last_applied) {
            for target in &config.realtime_targets {
                if let Some(h) = source.0.realtime_health(&target.resource) {
                    observed.push.insert(target.resource.clone(), h);
                }
            }
        }
        observed
    }

    /// What is observed for the targets of `config`.
    fn observations(&self, config: &RuntimeConfig) -> Observations {
        let mut delivery = std::collections::BTreeMap::new();
        if let Some(source) = &self.delivery {
            for (tenant, t) in &config.tenants {
                for id in t.target_systems.keys() {
                    if let Some(h) = source.delivery_health(tenant, id) {
                        delivery.insert(id.clone(), h);
                    }
                }
            }
        }
        Observations {
            connection: self.checks.results(config),
            delivery,
            ca_certificates: ca_certificates_of(
                self.ca_certificates.as_ref().map(|c| &c.0),
                config,
            ),
        }
    }

    /// The status handle to serve (`GET /status`, readiness, `GET /metrics`).
    pub fn status(&self) -> Arc<FilesStatus> {
        Arc::clone(&self.status)
    }

    /// Records into `metrics` (shared with the runtime) instead of the driver's own registry.
    /// Call it before [`Self::status`]: a status handle taken earlier keeps the old registry.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.status = Arc::new(FilesStatus::with_metrics(metrics));
        self
    }

    /// The metrics handle the driver records into (clone it for the runtime's engines).
    pub fn metrics(&self) -> Metrics {
        self.status.metrics().clone()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One pass: load and reconcile with the current observations (no apply, no publish).
    /// Problems are logged.
    pub fn pass(&mut self, now: jiff::Timestamp) -> Result<PassOutput, FilesError> {
        let loaded = self.loader.load(&self.dir)?;
        for p in &loaded.problems {
            tracing::warn!(dir = %self.dir.display(), "{p}");
        }
        self.realtime_observed = self.realtime_observations();
        self.state
            .set_realtime_observations(self.realtime_observed.clone());
        let empty = RuntimeConfig::default();
        let observed = self.observations(self.last_applied.as_ref().unwrap_or(&empty));
        let mut out = self
            .state
            .pass_with(loaded.documents.clone(), &observed, now);
        // Observations are matched to the configuration they describe: when this pass changed
        // a target, pass again with the observations of the new configuration.
        let fresh = self.observations(&out.config);
        if fresh != observed {
            out = self.state.pass_with(loaded.documents, &fresh, now);
        }
        for p in &out.problems {
            tracing::warn!(dir = %self.dir.display(), "{p}");
        }
        super::share::share_transformations(&mut out.config, self.last_applied.as_ref());
        Ok(out)
    }

    /// Runs until the watcher stops: a first pass, then one pass after every burst of
    /// file-system events and every [`RESYNC`]. See [`Self::sync`].
    pub async fn run<F, Fut, E>(mut self, mut apply: F) -> Result<(), FilesError>
    where
        F: FnMut(RuntimeConfig) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let watch_error = |source| FilesError::Watch {
            path: self.dir.clone(),
            source,
        };
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            // Our own reads show up as access events: only changes trigger a pass.
            if let Ok(event) = res
                && !matches!(event.kind, notify::EventKind::Access(_))
            {
                let _ = tx.send(());
            }
        })
        .map_err(watch_error)?;
        watcher
            .watch(&self.dir, RecursiveMode::Recursive)
            .map_err(watch_error)?;
        self.sync(&mut apply).await?;
        tracing::info!(dir = %self.dir.display(), "watching the configuration directory");
        // Kept across loop turns: the real-time poll tick wakes the loop every second and must
        // not push the resync back each time.
        let mut next_resync = Instant::now() + RESYNC;
        loop {
            let resync = next_resync;
            let mut wake = self.checks.next_due().map_or(resync, |due| due.min(resync));
            if self.realtime.is_some() {
                wake = wake.min(Instant::now() + REALTIME_POLL);
            }
            if let Some(due) = self
                .realtime_checks
                .values()
                .filter_map(|c| c.next_due)
                .min()
            {
                wake = wake.min(due);
            }
            tokio::select! {
                event = rx.recv() => {
                    if event.is_none() {
                        return Ok(());
                    }
                    // Debounce: wait until events stop for DEBOUNCE.
                    while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
                }
                Some((target, result)) = self.realtime_check_rx.recv() => {
                    self.record_realtime_check(target, result);
                }
                Some((target, result)) = self.check_rx.recv() => {
                    self.record_check(&target, result);
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    // A real-time poll tick: pass only when the pusher reports something new.
                    let now = Instant::now();
                    if now < resync
                        && self.checks.next_due().is_none_or(|due| due > now)
                        && self
                            .realtime_checks
                            .values()
                            .all(|c| c.next_due.is_none_or(|due| due > now))
                        && self.realtime_observations() == self.realtime_observed
                    {
                        continue;
                    }
                }
            }
            // Every check result already there goes into the same pass: hundreds of targets
            // checked at start must not cost one pass each.
            while let Ok((target, result)) = self.check_rx.try_recv() {
                self.record_check(&target, result);
            }
            while let Ok((target, result)) = self.realtime_check_rx.try_recv() {
                self.record_realtime_check(target, result);
            }
            next_resync = Instant::now() + RESYNC;
            if let Err(e) = self.sync(&mut apply).await {
                tracing::warn!("{e}; keeping the last configuration");
            }
        }
    }

    /// One pass with effect: load, reconcile, `apply` the configuration when it changed (a
    /// failed apply is retried on the next pass), publish the statuses, and turn readiness on
    /// once a configuration has been applied.
    pub async fn sync<F, Fut, E>(&mut self, apply: &mut F) -> Result<(), FilesError>
    where
        F: FnMut(RuntimeConfig) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let started = Instant::now();
        let metrics = self.status.metrics().clone();
        let out = match self.pass(jiff::Timestamp::now()) {
            Ok(out) => out,
            Err(e) => {
                metrics.reconcile_error(KIND_ALL, "DirectoryUnreadable");
                metrics.files_pass(started.elapsed(), PassOutcome::Error);
                return Err(e);
            }
        };
        let mut applied = false;
        let mut failed = false;
        if self.last_applied.as_ref() != Some(&out.config) {
            let tenants = out.config.tenants.len();
            let count = |f: fn(&crate::runtime::TenantConfig) -> usize| -> usize {
                out.config.tenants.values().map(f).sum()
            };
            let admins = count(|t| t.admins.len());
            let sources = count(|t| t.source_systems.len());
            let targets = count(|t| t.target_systems.len());
            match apply(out.config.clone()).await {
                Ok(()) => {
                    tracing::info!(
                        tenants,
                        technical_admins = admins,
                        source_systems = sources,
                        target_systems = targets,
                        "configuration applied"
                    );
                    self.last_applied = Some(out.config.clone());
                    applied = true;
                }
                // Not recorded as applied: the next pass (at the latest the resync) retries.
                Err(e) => {
                    tracing::error!("applying the configuration failed: {e}");
                    metrics.reconcile_error(KIND_ALL, "ApplyFailed");
                    failed = true;
                }
            }
        }
        let changes = StatusChanges::between(&self.published, &out.entries);
        if changes.any() && tracing::enabled!(tracing::Level::DEBUG) {
            for e in &out.entries {
                let ready = e.status["conditions"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                    .cloned()
                    .unwrap_or_default();
                tracing::debug!(kind = e.kind, resource = %e.key, ready = %ready["status"], reason = %ready["reason"], message = %ready["message"], "status");
            }
        }
        for (kind, c) in &changes.by_kind {
            metrics.status_writes(kind, c.changed, c.unchanged);
        }
        if changes.any() {
            self.status.publish(&out.entries);
            record_readiness(&metrics, &out.entries);
            self.published = out.entries;
        }
        if self.last_applied.is_some() {
            self.status.mark_ready();
        }
        let outcome = if failed {
            PassOutcome::Error
        } else if applied || changes.any() {
            PassOutcome::Wrote
        } else {
            PassOutcome::Noop
        };
        metrics.files_pass(started.elapsed(), outcome);
        self.start_due_checks(&out.config);
        self.start_due_realtime_checks(&out.config);
        Ok(())
    }

    /// Starts Test Connection of every real-time target that is new, changed or due.
    fn start_due_realtime_checks(&mut self, config: &RuntimeConfig) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let now = Instant::now();
        self.realtime_checks
            .retain(|r, _| config.realtime_targets.iter().any(|t| &t.resource == r));
        for target in &config.realtime_targets {
            let due = match self.realtime_checks.get(&target.resource) {
                Some(c) if c.config == *target => c.next_due.is_some_and(|d| d <= now),
                _ => true,
            };
            if !due {
                continue;
            }
            self.realtime_checks.insert(
                target.resource.clone(),
                RealTimeCheck {
                    config: target.clone(),
                    result: None,
                    next_due: None,
                },
            );
            let tx = self.realtime_check_tx.clone();
            let target = target.clone();
            let gate = Arc::clone(&self.check_gate);
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                let result = crate::realtime::test_connection::test_connection(&target).await;
                let _ = tx.send((target, result));
            });
        }
    }

    fn record_realtime_check(
        &mut self,
        target: Arc<crate::realtime::RealTimeTargetConfig>,
        result: ConnectionCheck,
    ) {
        let Some(check) = self.realtime_checks.get_mut(&target.resource) else {
            return;
        };
        if check.config != target {
            return;
        }
        let base = if result.ok {
            REALTIME_CHECK_INTERVAL
        } else {
            tracing::warn!(target = %target.resource, reason = %result.reason, message = %result.message, "Test Connection failed");
            REALTIME_CHECK_RETRY
        };
        let jitter = rand::random_range(0.9..=1.1);
        check.next_due = Some(Instant::now() + base.mul_f64(jitter));
        check.result = Some(result);
    }

    /// Starts the connection checks that are due for `config`; each result comes back on the
    /// driver's channel and triggers a pass.
    fn start_due_checks(&mut self, config: &RuntimeConfig) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        for target in self.checks.due(config, Instant::now()) {
            let tx = self.check_tx.clone();
            let gate = Arc::clone(&self.check_gate);
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                let result = check_connection(&target).await;
                let _ = tx.send((target, result));
            });
        }
    }

    fn record_check(&mut self, target: &TargetSystemConfig, result: ConnectionCheck) {
        if result.ok {
            tracing::debug!(target = %target.resource, "connection check succeeded");
        } else {
            tracing::warn!(target = %target.resource, reason = %result.reason, message = %result.message, "connection check failed");
        }
        let jitter = rand::random_range(-1.0..=1.0);
        self.checks.record(target, result, Instant::now(), jitter);
    }
}

/// The `Ready` status of an entry (`True`, `False`, `Unknown`).
fn ready_status(entry: &StatusEntry) -> &str {
    entry.status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown")
}

/// Sets the resources gauge of every kind from `entries`.
fn record_readiness(metrics: &Metrics, entries: &[StatusEntry]) {
    for kind in [
        KIND_TENANT,
        KIND_TECHNICAL_ADMIN,
        KIND_SOURCE_SYSTEM,
        KIND_TARGET_SYSTEM,
        KIND_REAL_TIME_TARGET,
    ] {
        let (mut ready, mut not_ready, mut unknown) = (0, 0, 0);
        for e in entries.iter().filter(|e| e.kind == kind) {
            match crate::metrics::labels::readiness(ready_status(e)) {
                "True" => ready += 1,
                "False" => not_ready += 1,
                _ => unknown += 1,
            }
        }
        metrics.set_resources(kind, ready, not_ready, unknown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str =
        "apiVersion: idrelay.dev/v1alpha1\nkind: Tenant\nmetadata: {name: acme}\nspec: {}\n";

    async fn next(rx: &mut mpsc::UnboundedReceiver<RuntimeConfig>) -> RuntimeConfig {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn applies_changes_without_restart() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tenant.yaml"), TENANT).unwrap();
        let driver = FilesDriver::new(dir.path()).unwrap();
        let status = driver.status();
        assert!(!status.ready());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(driver.run(move |config| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(config);
                Ok::<(), std::convert::Infallible>(())
            }
        }));
        let first = next(&mut rx).await;
        assert!(first.tenants["acme"].hosts.is_empty());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(status.ready());
        assert_eq!(status.status_json()[0]["metadata"]["name"], "acme");

        std::fs::write(
            dir.path().join("tenant.yaml"),
            TENANT.replace("spec: {}", "spec: {hosts: [acme.example]}"),
        )
        .unwrap();
        let second = next(&mut rx).await;
        assert_eq!(second.tenants["acme"].hosts, ["acme.example"]);
        // Statuses are published right after apply returns.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(status.status_json()[0]["metadata"]["generation"], 2);

        std::fs::remove_file(dir.path().join("tenant.yaml")).unwrap();
        let third = next(&mut rx).await;
        assert!(third.tenants.is_empty());
        task.abort();
    }

    /// Issue 6: a pass over unchanged resources writes nothing, and the metrics say so.
    #[tokio::test]
    async fn no_op_passes_write_nothing() {
        use crate::metrics::sample_sum;
        let dir = tempfile::tempdir().unwrap();
        let admin = "apiVersion: idrelay.dev/v1alpha1\nkind: TechnicalAdmin\nmetadata: {name: a}\nspec: {tenantRef: {name: acme}, displayName: A, permissions: [ReadUsers], secrets: [{secretRef: {name: s, key: k}}]}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: hunter2}\n";
        std::fs::write(dir.path().join("tenant.yaml"), TENANT).unwrap();
        std::fs::write(dir.path().join("admin.yaml"), admin).unwrap();
        let mut driver = FilesDriver::new(dir.path()).unwrap();
        let status = driver.status();
        let metrics = driver.metrics();
        let applies = std::cell::Cell::new(0);
        let mut apply = |_config: RuntimeConfig| {
            applies.set(applies.get() + 1);
            async { Ok::<(), std::convert::Infallible>(()) }
        };
        driver.sync(&mut apply).await.unwrap();
        let first = status.status_json();
        // The same documents, rewritten byte for byte (a touch), and plain resyncs.
        std::fs::write(dir.path().join("tenant.yaml"), TENANT).unwrap();
        for _ in 0..3 {
            driver.sync(&mut apply).await.unwrap();
        }
        assert_eq!(status.status_json(), first);
        let text = metrics.encode();
        let sum = |name: &str, labels: &[(&str, &str)]| sample_sum(&text, name, labels);
        assert_eq!(
            sum("idrelay_files_passes_total", &[("result", "wrote")]),
            Some(1.0)
        );
        assert_eq!(
            sum("idrelay_files_passes_total", &[("result", "noop")]),
            Some(3.0)
        );
        assert_eq!(sum("idrelay_status_writes_total", &[]), Some(2.0));
        assert_eq!(
            sum(
                "idrelay_status_writes_skipped_total",
                &[("kind", "TechnicalAdmin")]
            ),
            Some(3.0)
        );
        assert_eq!(
            sum(
                "idrelay_resources",
                &[("kind", "Tenant"), ("ready", "True")]
            ),
            Some(1.0)
        );
        assert!(!text.contains("hunter2"));

        // A real change is one write of the one document that changed.
        std::fs::write(
            dir.path().join("tenant.yaml"),
            TENANT.replace("spec: {}", "spec: {hosts: [acme.example]}"),
        )
        .unwrap();
        driver.sync(&mut apply).await.unwrap();
        let text = metrics.encode();
        assert_eq!(
            sample_sum(&text, "idrelay_files_passes_total", &[("result", "wrote")]),
            Some(2.0)
        );
        assert_eq!(
            sample_sum(&text, "idrelay_status_writes_total", &[("kind", "Tenant")]),
            Some(2.0)
        );
        assert_eq!(status.status_json()[0]["metadata"]["generation"], 2);
        assert_eq!(applies.get(), 2);
    }

    #[test]
    fn quickstart_example_is_ready() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
        let mut driver = FilesDriver::new(dir).unwrap();
        let out = driver.pass(jiff::Timestamp::now()).unwrap();
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        // acme + its admin; apps + its admin, the source, target and real-time target.
        assert_eq!(out.entries.len(), 7);
        // Targets wait for their first connection check; everything else is Ready at once.
        for e in out
            .entries
            .iter()
            .filter(|e| e.kind != "TargetSystem" && e.kind != "RealTimeTarget")
        {
            assert_eq!(
                e.status["conditions"][0]["status"], "True",
                "{}: {}",
                e.key, e.status
            );
        }
        let admin = &out.config.tenants["acme"].admins["4f1c2a8e-6b3d-4c5e-9a7f-0d2e8b1c3a55"];
        assert_eq!(admin.permissions.len(), 4);
        assert_eq!(admin.secrets.len(), 1);
        let realtime = &out.config.realtime_targets;
        assert_eq!(realtime.len(), 1);
        assert_eq!(
            realtime[0].user_url,
            "http://127.0.0.1:8443/tenants/acme/ipsproxy/service/api/v1/systems/3f6c8e2a-5b7d-4c9e-8f1a-2b3c4d5e6f70/entities/user"
        );
        assert_eq!(realtime[0].version, 2);
    }

    #[test]
    fn provisioning_example_is_configured() {
        use crate::reconcile::{ConnectionCheck, Observations};
        use crate::runtime::OutboundAuth;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/provisioning");
        let mut driver = FilesDriver::new(&dir).unwrap();
        let out = driver.pass(jiff::Timestamp::now()).unwrap();
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        assert_eq!(out.entries.len(), 6);
        let ready = |out: &PassOutput, kind: &str| {
            let e = out.entries.iter().find(|e| e.kind == kind).unwrap();
            e.status["conditions"][0].clone()
        };
        for e in out.entries.iter().filter(|e| e.kind != "TargetSystem") {
            assert_eq!(
                e.status["conditions"][0]["status"], "True",
                "{}: {}",
                e.key, e.status
            );
        }
        // The target waits for its first connection check.
        assert_eq!(ready(&out, "TargetSystem")["reason"], "NotYetChecked");
        let source_id = "3f6c8e2a-5b7d-4c9e-8f1a-2b3c4d5e6f70";
        let source = out
            .entries
            .iter()
            .find(|e| e.kind == "SourceSystem")
            .unwrap();
        assert_eq!(
            source.status["realTimeUrls"]["user"],
            format!("/tenants/acme/ipsproxy/service/api/v1/systems/{source_id}/entities/user")
        );
        let acme = &out.config.tenants["acme"];
        assert!(acme.source_systems.contains_key(source_id));
        let target = acme.targets_of(source_id).next().unwrap();
        assert_eq!(target.url, "http://127.0.0.1:8443/tenants/apps/scim");
        assert_eq!(
            target.auth,
            OutboundAuth::Basic {
                username: "9b2e4d6f-8a1c-4e3b-a5d7-2f4e6a8c0b1d".into(),
                password: "apps-secret-change-me".into()
            }
        );
        // The target's credentials are those of apps' admin.
        let apps_admin = &out.config.tenants["apps"].admins[&*match &target.auth {
            OutboundAuth::Basic { username, .. } => username.clone(),
            _ => unreachable!(),
        }];
        assert_eq!(apps_admin.secrets[0].value, "apps-secret-change-me");

        // With a successful check the target is Ready.
        let mut state = FilesState::new();
        let docs = DirLoader::new().load(&dir).unwrap().documents;
        let mut obs = Observations::default();
        obs.connection.insert(
            target.id.clone(),
            ConnectionCheck {
                ok: true,
                reason: "Connected".into(),
                message: "ok".into(),
            },
        );
        let out = state.pass_with(docs, &obs, jiff::Timestamp::now());
        assert_eq!(ready(&out, "TargetSystem")["status"], "True");
        let json =
            serde_json::to_string(&out.entries.iter().map(|e| e.to_json()).collect::<Vec<_>>())
                .unwrap();
        assert!(!json.contains("secret-change-me"));
    }
}
