//! The delivery engine: one per runtime. A dispatcher task loads pending delivery rows from
//! the store (all of them at start: recovery after a restart; then after every notify or
//! poll), schedules them in the [`Queue`], and runs up to `ips.max.concurrency` (default 8)
//! executions per target system, gated by the target's circuit [`Breaker`].
//!
//! Invariants:
//! - At most [`MAX_LOADED`] rows are held in memory; the rest stay in the store and are
//!   loaded in `seq` order as the schedule drains (per-entity order is kept: rows are loaded
//!   oldest first).
//! - Rows of a target that is not configured, disabled, or whose client cannot be built stay
//!   pending (nothing is lost when the configuration comes back).
//! - After a half-open probe succeeds, every waiting entity of the target is due at once
//!   (recovery does not wait for each entity's own backoff).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::metrics::Metrics;
use jiff::Timestamp;
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};

use super::breaker::{Breaker, DEFAULT_THRESHOLD, Permit};
use super::client::{ClientSettings, ScimClient};
use super::mappings::IdMappings;
use super::queue::{EntityKey, Queue, TargetKey};
use super::worker::{self, Done, Job, Signal};
use super::{DeliveryHealth, backoff::RetryPolicy};
use crate::directory::WriterHandle;
use crate::runtime::{RuntimeConfig, TargetSystemConfig};
use crate::store::Store;

/// Rows held in memory at most.
pub const MAX_LOADED: usize = 50_000;
/// Rows read from the store per query.
const LOAD_PAGE: u32 = 2_000;
/// The dispatcher polls the store at least this often (notifications are the fast path).
const POLL: Duration = Duration::from_secs(1);
/// Delivery counters are refreshed from the store this often.
const COUNTERS_REFRESH: Duration = Duration::from_secs(2);
/// Property: executions in flight per target system.
pub const PROP_MAX_CONCURRENCY: &str = "ips.max.concurrency";
/// Property: consecutive transient failures that open the circuit breaker (default 5).
pub const PROP_BREAKER_THRESHOLD: &str = "ips.circuit.breaker.threshold";

/// Health of one target as the engine sees it (counters from the store, breaker state).
#[derive(Debug, Clone, Default)]
struct TargetHealth {
    counters: (u64, u64, u64),
    breaker_open: bool,
    last_error: Option<String>,
    next_probe: Option<Timestamp>,
    config_error: Option<String>,
}

struct Inner {
    store: Store,
    writer: WriterHandle,
    config: ArcSwap<RuntimeConfig>,
    /// Shared with the runtime (`Runtime::notify_delivery`).
    notify: Arc<Notify>,
    health: Mutex<HashMap<TargetKey, TargetHealth>>,
    mappings: Arc<IdMappings>,
    /// Where pending gauges and acknowledgement latencies go (set by the driver).
    metrics: ArcSwapOption<Metrics>,
}

/// The delivery engine. Dropping the last handle stops its tasks.
#[derive(Clone)]
pub struct DeliveryEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DeliveryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryEngine").finish_non_exhaustive()
    }
}

impl DeliveryEngine {
    /// Starts the engine on `store`, writing through `writer`, woken by `wakeup` (notified
    /// after new deliveries are committed). Pending rows in the store are picked up at once;
    /// nothing is sent until [`DeliveryEngine::configure`] names targets.
    pub fn start(store: Store, writer: WriterHandle, wakeup: Arc<Notify>) -> DeliveryEngine {
        let inner = Arc::new(Inner {
            mappings: IdMappings::new(store.clone()),
            metrics: ArcSwapOption::empty(),
            store,
            writer,
            config: ArcSwap::from_pointee(RuntimeConfig::default()),
            notify: wakeup,
            health: Mutex::new(HashMap::new()),
        });
        tokio::spawn(dispatch_loop(Arc::downgrade(&inner)));
        tokio::spawn(counters_loop(Arc::downgrade(&inner)));
        DeliveryEngine { inner }
    }

    /// Serves `config` (target and source systems); wakes the dispatcher.
    pub fn configure(&self, config: Arc<RuntimeConfig>) {
        self.inner.config.store(config);
        self.inner.notify.notify_one();
    }

    /// New pending rows were committed: wake the dispatcher.
    pub fn notify(&self) {
        self.inner.notify.notify_one();
    }

    /// The delivery health of one target system (counters refreshed every 2 s).
    pub fn health(&self, tenant: &str, target_id: &str) -> DeliveryHealth {
        let key = TargetKey {
            tenant: Arc::from(tenant),
            target: Arc::from(target_id),
        };
        let health = self
            .inner
            .health
            .lock()
            .get(&key)
            .cloned()
            .unwrap_or_default();
        let (pending, delivered, failed) = health.counters;
        let counts = format!("{pending} pending, {delivered} delivered, {failed} failed");
        let (healthy, reason, message) = if let Some(error) = health.config_error {
            (
                false,
                "InvalidConfiguration",
                format!("Deliveries are held: {error} ({counts})."),
            )
        } else if health.breaker_open {
            let next = health
                .next_probe
                .map(|t| format!("; next attempt at {t}"))
                .unwrap_or_default();
            (
                false,
                "CircuitOpen",
                format!(
                    "Deliveries are paused after repeated failures: {}{next} ({counts}).",
                    health.last_error.as_deref().unwrap_or("transient failures")
                ),
            )
        } else if failed > 0 {
            (
                true,
                "DeliveringWithFailures",
                format!("Deliveries flow; some failed permanently ({counts})."),
            )
        } else {
            (true, "Delivering", format!("Deliveries flow ({counts})."))
        };
        DeliveryHealth {
            pending,
            delivered,
            failed,
            healthy,
            reason: reason.to_string(),
            message,
        }
    }

    /// Records pending deliveries per target and accept→acknowledgement latencies into
    /// `metrics` from now on.
    pub fn set_metrics(&self, metrics: Metrics) {
        self.inner.metrics.store(Some(Arc::new(metrics)));
    }

    /// Refreshes the counters of every configured target now (tests, status writers).
    pub async fn refresh_counters(&self) {
        refresh_counters(&self.inner).await;
    }
}

fn max_concurrency(target: &TargetSystemConfig) -> usize {
    target
        .properties
        .get(PROP_MAX_CONCURRENCY)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(8, |n| n.clamp(1, 1024))
}

fn breaker_for(target: &TargetSystemConfig) -> Breaker {
    let threshold = target
        .properties
        .get(PROP_BREAKER_THRESHOLD)
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(DEFAULT_THRESHOLD);
    let policy = RetryPolicy::from_properties(&target.properties);
    Breaker::new(threshold, policy.base, policy.cap)
}

/// A target's configuration with the client built for it.
struct Prepared {
    config: Arc<TargetSystemConfig>,
    client: Result<Arc<ScimClient>, String>,
}

/// The dispatcher's own state.
struct Dispatcher {
    queue: Queue,
    breakers: HashMap<TargetKey, Breaker>,
    clients: HashMap<TargetKey, Prepared>,
    probes: HashMap<TargetKey, i64>,
    done_tx: mpsc::UnboundedSender<Event>,
}

/// What executions tell the dispatcher.
enum Event {
    /// The target answered (or nothing was sent): the concurrency slot is free.
    Answered(TargetKey, EntityKey),
    /// The outcome is committed.
    Done(Box<Done>),
}

async fn dispatch_loop(weak: Weak<Inner>) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Event>();
    let mut d = Dispatcher {
        queue: Queue::new(),
        breakers: HashMap::new(),
        clients: HashMap::new(),
        probes: HashMap::new(),
        done_tx,
    };
    // Load on start, on every notify and poll; after completions only while rows were left
    // in the store because of the memory cap.
    let mut need_load = true;
    let mut capped = false;
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if need_load {
            capped = load(&inner, &mut d.queue).await;
        }
        let wake = d.dispatch(&inner);
        let notify = inner.notify.clone();
        let notified = notify.notified();
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(wake));
        drop(inner);
        tokio::select! {
            _ = notified => need_load = true,
            event = done_rx.recv() => {
                if let Some(event) = event {
                    d.on_event(&weak, event);
                }
                while let Ok(event) = done_rx.try_recv() {
                    d.on_event(&weak, event);
                }
                need_load = capped;
            }
            _ = sleep => need_load = true,
        }
    }
}

/// Loads pending rows not yet scheduled, up to [`MAX_LOADED`] in memory; returns whether it
/// stopped at the cap (rows may be left in the store).
async fn load(inner: &Inner, queue: &mut Queue) -> bool {
    while queue.loaded() < MAX_LOADED {
        // Nothing durable beyond what is loaded (a poll, or a wake-up already served).
        if inner.store.durable_deliveries_seq() <= queue.max_seq() {
            return false;
        }
        let rows = match inner
            .store
            .pending_deliveries_after(queue.max_seq(), LOAD_PAGE)
            .await
        {
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(%error, "could not read pending deliveries");
                return false;
            }
        };
        let full = rows.len() == LOAD_PAGE as usize;
        for row in rows {
            // The mapping as of this read: a delivery of a new entity needs no read of its own.
            inner.mappings.seed(
                &row.tenant,
                &row.target_system_id,
                row.entity_type,
                &row.entity_id,
                row.mapped_target_id.as_deref(),
            );
            queue.add(row);
        }
        if !full {
            return false;
        }
    }
    true
}

impl Dispatcher {
    /// Starts every due delivery allowed; returns when to look again.
    fn dispatch(&mut self, inner: &Arc<Inner>) -> Instant {
        let now_instant = Instant::now();
        let now = Timestamp::now().as_millisecond();
        let mut wake = now_instant + POLL;
        let config = inner.config.load_full();
        for key in self.queue.targets() {
            let Some(target) = config
                .tenants
                .get(&*key.tenant)
                .and_then(|t| t.target_systems.get(&*key.target))
                .filter(|t| t.enabled)
                .cloned()
            else {
                continue;
            };
            let prepared = self.prepare(inner, &key, &target);
            let Ok(client) = prepared else {
                continue;
            };
            let limit = max_concurrency(&target);
            let source_systems = config.tenants.get(&*key.tenant).map(|t| &t.source_systems);
            while self.queue.active(&key) < limit {
                match self.queue.next_due(&key) {
                    None => break,
                    Some(at) if at > now => {
                        let delay = Duration::from_millis(u64::try_from(at - now).unwrap_or(0));
                        wake = wake.min(now_instant + delay);
                        break;
                    }
                    Some(_) => {}
                }
                let breaker = self
                    .breakers
                    .entry(key.clone())
                    .or_insert_with(|| breaker_for(&target));
                let probe = match breaker.permit(now_instant) {
                    Permit::Send => false,
                    Permit::Probe => true,
                    Permit::WaitUntil(until) => {
                        wake = wake.min(until);
                        break;
                    }
                    Permit::ProbeInFlight => break,
                };
                let Some(dispatch) = self.queue.take_due(&key, now) else {
                    break;
                };
                if probe {
                    self.probes.insert(key.clone(), dispatch.row.seq);
                }
                let source = source_systems
                    .and_then(|s| s.get(&dispatch.row.source_system_id))
                    .cloned();
                let tx = self.done_tx.clone();
                let answered = {
                    let tx = tx.clone();
                    let event = Event::Answered(key.clone(), dispatch.entity.clone());
                    Box::new(move || {
                        let _ = tx.send(event);
                    })
                };
                let job = Job {
                    dispatch,
                    target: target.clone(),
                    source,
                    client: client.clone(),
                    writer: inner.writer.clone(),
                    mappings: inner.mappings.clone(),
                    metrics: inner.metrics.load_full(),
                    answered: Some(answered),
                };
                tokio::spawn(async move {
                    let done = worker::execute(job).await;
                    let _ = tx.send(Event::Done(Box::new(done)));
                });
                if probe {
                    break;
                }
            }
        }
        wake
    }

    /// The client of `key` for `target`, rebuilt when the configuration changed.
    fn prepare(
        &mut self,
        inner: &Inner,
        key: &TargetKey,
        target: &Arc<TargetSystemConfig>,
    ) -> Result<Arc<ScimClient>, ()> {
        let stale = self
            .clients
            .get(key)
            .is_none_or(|p| !Arc::ptr_eq(&p.config, target) && *p.config != **target);
        if stale {
            let settings = ClientSettings::new(
                &target.system_type,
                &target.url,
                target.api_version,
                &target.auth,
                &target.properties,
            );
            let client = ScimClient::new(&settings)
                .map(Arc::new)
                .map_err(|e| e.to_string());
            if self.clients.contains_key(key) {
                // The target changed: start over with a fresh breaker of its settings.
                self.breakers.insert(key.clone(), breaker_for(target));
            }
            let config_error = client.as_ref().err().cloned();
            inner
                .health
                .lock()
                .entry(key.clone())
                .or_default()
                .config_error = config_error;
            self.clients.insert(
                key.clone(),
                Prepared {
                    config: target.clone(),
                    client,
                },
            );
        }
        match self.clients.get(key).map(|p| &p.client) {
            Some(Ok(client)) => Ok(client.clone()),
            _ => Err(()),
        }
    }

    fn on_event(&mut self, weak: &Weak<Inner>, event: Event) {
        match event {
            Event::Answered(target, entity) => self.queue.free_slot(&target, &entity),
            Event::Done(done) => self.on_done(weak, *done),
        }
    }

    fn on_done(&mut self, weak: &Weak<Inner>, done: Done) {
        let key = done.dispatch.target.clone();
        let now_instant = Instant::now();
        let now = Timestamp::now().as_millisecond();
        let was_probe = self.probes.get(&key) == Some(&done.dispatch.row.seq);
        if was_probe {
            self.probes.remove(&key);
        }
        self.queue.complete(
            &key,
            &done.dispatch.entity,
            done.dispatch.row.seq,
            done.settlement,
            now,
        );
        if let Some(breaker) = self.breakers.get_mut(&key) {
            let was_closed = breaker.is_closed();
            match &done.signal {
                Signal::Answered => {
                    breaker.on_success();
                    if !was_closed {
                        tracing::info!(tenant = %key.tenant, target = %key.target, "target recovered; resuming deliveries");
                        self.queue.make_all_due(&key, now);
                    }
                }
                Signal::Transient(error) => {
                    breaker.on_transient_failure(now_instant, error);
                    if was_closed && !breaker.is_closed() {
                        tracing::warn!(tenant = %key.tenant, target = %key.target, %error, "circuit breaker opened");
                    }
                }
                Signal::None => {
                    if was_probe {
                        breaker.on_probe_abandoned(now_instant);
                    }
                }
            }
            if let Some(inner) = weak.upgrade() {
                let mut health = inner.health.lock();
                let entry = health.entry(key.clone()).or_default();
                entry.breaker_open = !breaker.is_closed();
                entry.last_error = breaker.last_error().map(str::to_string);
                entry.next_probe = match breaker.state() {
                    super::breaker::BreakerState::Open { until, .. } => {
                        let wait = until.saturating_duration_since(now_instant);
                        Timestamp::now().checked_add(wait).ok()
                    }
                    _ => None,
                };
            }
        }
    }
}

async fn counters_loop(weak: Weak<Inner>) {
    loop {
        {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            refresh_counters(&inner).await;
        }
        tokio::time::sleep(COUNTERS_REFRESH).await;
    }
}

async fn refresh_counters(inner: &Inner) {
    let config = inner.config.load_full();
    for (tenant, tenant_config) in &config.tenants {
        for target in tenant_config.target_systems.keys() {
            match inner.store.delivery_counters(tenant, target).await {
                Ok(counters) => {
                    if let Some(metrics) = inner.metrics.load().as_deref() {
                        metrics.set_delivery_pending(tenant, target, counters.0);
                    }
                    let key = TargetKey {
                        tenant: Arc::from(tenant.as_str()),
                        target: Arc::from(target.as_str()),
                    };
                    inner.health.lock().entry(key).or_default().counters = counters;
                }
                Err(error) => tracing::warn!(%error, "could not count deliveries"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_property_is_clamped() {
        let mut target = crate::delivery::tests::target("http://127.0.0.1:1/scim");
        assert_eq!(max_concurrency(&target), 8);
        Arc::make_mut(&mut target)
            .properties
            .insert(PROP_MAX_CONCURRENCY.into(), "0".into());
        assert_eq!(max_concurrency(&target), 1);
    }
}
