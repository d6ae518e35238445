//! The state every controller shares: the reflector stores of the five kinds and of Secrets,
//! the memoized shared pass, the configuration last applied to the runtime, the observer, the
//! Event recorder, per-object backoff counters and the channels that re-queue objects.
//!
//! Invariants:
//! - the runtime configuration is applied only when it differs from the last one applied, and
//!   before any status describing it is written;
//! - one pass per input state ([`PassCache`]); when a fresh pass changes the desired status of
//!   objects other than the one being reconciled, those objects are re-queued (level-based, no
//!   dependency list to keep in sync).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::channel::mpsc::UnboundedSender;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::Resource;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::api::{RealTimeTarget, SourceSystem, TargetSystem, TechnicalAdmin, Tenant};
use crate::reconcile::ObjectKey;
use crate::runtime::RuntimeConfig;

use super::Error;
use super::kinds::{Kind, OperatorKind};
use super::observe::Observer;
use super::pass::{FingerprintBuilder, PassCache, SharedPass, Snapshot};
use super::status::OperatorStatus;

/// Where the operator applies the runtime configuration (the [`crate::runtime::Runtime`]).
pub trait ConfigSink: Send + Sync {
    /// Serves `config`; a failure keeps the previous configuration.
    fn apply(&self, config: RuntimeConfig) -> BoxFuture<'_, Result<(), String>>;
}

impl ConfigSink for crate::runtime::Runtime {
    fn apply(&self, config: RuntimeConfig) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            crate::runtime::Runtime::apply(self, config)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// The reflector stores the shared pass reads.
#[derive(Clone)]
pub struct Stores {
    pub tenants: Store<Tenant>,
    pub technical_admins: Store<TechnicalAdmin>,
    pub source_systems: Store<SourceSystem>,
    pub target_systems: Store<TargetSystem>,
    pub real_time_targets: Store<RealTimeTarget>,
    pub secrets: Store<Secret>,
}

fn sorted<K: Resource<DynamicType = ()> + Clone>(store: &Store<K>) -> Vec<K> {
    let mut v: Vec<K> = store.state().iter().map(|o| o.as_ref().clone()).collect();
    v.sort_by_key(|o| ObjectKey::of(o.meta()));
    v
}

impl Stores {
    /// Order-independent fingerprint of everything the pass reads (statuses excluded).
    pub fn fingerprint(&self) -> super::pass::Fingerprint {
        let mut b = FingerprintBuilder::new();
        self.tenants
            .state()
            .iter()
            .for_each(|o| b.object(o.as_ref()));
        self.technical_admins
            .state()
            .iter()
            .for_each(|o| b.object(o.as_ref()));
        self.source_systems
            .state()
            .iter()
            .for_each(|o| b.object(o.as_ref()));
        self.target_systems
            .state()
            .iter()
            .for_each(|o| b.object(o.as_ref()));
        self.real_time_targets
            .state()
            .iter()
            .for_each(|o| b.object(o.as_ref()));
        self.secrets.state().iter().for_each(|s| b.secret(s));
        b.finish()
    }

    /// A copy of every object, sorted by namespace/name.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            tenants: sorted(&self.tenants),
            technical_admins: sorted(&self.technical_admins),
            source_systems: sorted(&self.source_systems),
            target_systems: sorted(&self.target_systems),
            real_time_targets: sorted(&self.real_time_targets),
            secrets: sorted(&self.secrets),
        }
    }

    /// The current `.status` JSON of `kind` `key` in the store (`None`: not in the store).
    pub fn status_json(&self, kind: Kind, key: &ObjectKey) -> Option<serde_json::Value> {
        fn get<K: OperatorKind>(s: &Store<K>, key: &ObjectKey) -> Option<serde_json::Value> {
            s.get(&ObjectRef::new(&key.name).within(&key.namespace))
                .map(|o| o.status_json())
        }
        match kind {
            Kind::Tenant => get(&self.tenants, key),
            Kind::TechnicalAdmin => get(&self.technical_admins, key),
            Kind::SourceSystem => get(&self.source_systems, key),
            Kind::TargetSystem => get(&self.target_systems, key),
            Kind::RealTimeTarget => get(&self.real_time_targets, key),
        }
    }
}

/// A sender into a controller's own trigger stream.
pub type Kick<K> = UnboundedSender<Result<K, watcher::Error>>;

/// Senders that re-queue objects of each kind (absent in tests that call reconcile directly).
#[derive(Clone, Default)]
pub struct Kicks {
    pub tenants: Option<Kick<Tenant>>,
    pub technical_admins: Option<Kick<TechnicalAdmin>>,
    pub source_systems: Option<Kick<SourceSystem>>,
    pub target_systems: Option<Kick<TargetSystem>>,
    pub real_time_targets: Option<Kick<RealTimeTarget>>,
}

fn kick_one<K: OperatorKind>(store: &Store<K>, tx: &Option<Kick<K>>, key: &ObjectKey) {
    if let Some(tx) = tx
        && let Some(o) = store.get(&ObjectRef::new(&key.name).within(&key.namespace))
    {
        let _ = tx.unbounded_send(Ok(o.as_ref().clone()));
    }
}

/// Shared by every controller.
pub struct Context {
    pub client: Client,
    pub stores: Stores,
    sink: Arc<dyn ConfigSink>,
    cache: PassCache,
    applied: tokio::sync::Mutex<Option<Arc<RuntimeConfig>>>,
    recorder: Recorder,
    pub observer: Arc<Observer>,
    /// Consecutive not-ready passes per object.
    streaks: Mutex<HashMap<(Kind, ObjectKey), u32>>,
    /// Consecutive API errors per object.
    failures: Mutex<HashMap<(Kind, ObjectKey), u32>>,
    kicks: Kicks,
    pub status: Arc<OperatorStatus>,
    /// Woken when a new configuration was applied (the observer loop starts its checks).
    pub applied_notify: tokio::sync::Notify,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Context {
    /// A context over `stores` applying to `sink`; Events are reported as `idrelay`
    /// (`instance`: the pod name, when known).
    pub fn new(
        client: Client,
        stores: Stores,
        sink: Arc<dyn ConfigSink>,
        instance: Option<String>,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: super::decide::FIELD_MANAGER.to_owned(),
                instance,
            },
        );
        Context {
            client,
            stores,
            sink,
            cache: PassCache::new(),
            applied: tokio::sync::Mutex::new(None),
            recorder,
            observer: Arc::new(Observer::none()),
            streaks: Mutex::default(),
            failures: Mutex::default(),
            kicks: Kicks::default(),
            status: Arc::new(OperatorStatus::new()),
            applied_notify: tokio::sync::Notify::new(),
        }
    }

    pub fn with_observer(mut self, observer: Arc<Observer>) -> Self {
        self.observer = observer;
        self
    }

    pub fn with_kicks(mut self, kicks: Kicks) -> Self {
        self.kicks = kicks;
        self
    }

    pub fn with_status(mut self, status: Arc<OperatorStatus>) -> Self {
        self.status = status;
        self
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The metrics handle (shared with `/metrics` through [`OperatorStatus`]).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        self.status.metrics()
    }

    /// How many shared passes were computed so far.
    pub fn passes_computed(&self) -> u64 {
        self.cache.computed()
    }

    /// The configuration last applied to the runtime.
    pub async fn applied(&self) -> Option<Arc<RuntimeConfig>> {
        self.applied.lock().await.clone()
    }

    /// The shared pass over the stores (memoized), with its configuration applied to the
    /// runtime. A fresh pass is published to `/status` and re-queues every object whose
    /// status it changes.
    pub async fn shared_pass(&self) -> Result<Arc<SharedPass>, Error> {
        let fingerprint = self.stores.fingerprint();
        let applied = self.applied().await.unwrap_or_default();
        let (obs, rt) = self.observer.observations(&applied);
        let (mut pass, mut fresh) = self
            .cache
            .get_or_compute(fingerprint, &obs, &rt, || self.stores.snapshot());
        if fresh {
            // Observations are matched to the configuration they describe (as the files
            // driver does): when this pass changed the targets, pass again.
            let (obs2, rt2) = self.observer.observations(&pass.config);
            if obs2 != obs || rt2 != rt {
                (pass, _) = self
                    .cache
                    .get_or_compute(fingerprint, &obs2, &rt2, || self.stores.snapshot());
                fresh = true;
            }
        }
        self.ensure_applied(&pass.config).await?;
        if fresh {
            self.status.publish(&pass);
            self.record_resources(&pass);
            self.kick_changed(&pass);
        }
        Ok(pass)
    }

    /// Applies `config` unless it is the one last applied.
    async fn ensure_applied(&self, config: &RuntimeConfig) -> Result<(), Error> {
        let mut applied = self.applied.lock().await;
        if applied.as_deref() == Some(config) {
            return Ok(());
        }
        self.sink
            .apply(config.clone())
            .await
            .map_err(Error::Apply)?;
        tracing::info!(
            tenants = config.tenants.len(),
            real_time_targets = config.realtime_targets.len(),
            "configuration applied"
        );
        *applied = Some(Arc::new(config.clone()));
        self.applied_notify.notify_one();
        Ok(())
    }

    /// Sets the `resources` gauge (Ready True/False/Unknown per kind) from `pass`.
    fn record_resources(&self, pass: &SharedPass) {
        for kind in Kind::ALL {
            let (mut ready, mut not_ready, mut unknown) = (0, 0, 0);
            for ((k, _), status) in &pass.statuses {
                if *k != kind {
                    continue;
                }
                match super::decide::condition_of(status, crate::api::conditions::READY)
                    .and_then(|c| c["status"].as_str())
                {
                    Some("True") => ready += 1,
                    Some("False") => not_ready += 1,
                    _ => unknown += 1,
                }
            }
            self.metrics()
                .set_resources(kind.as_str(), ready, not_ready, unknown);
        }
    }

    /// Re-queues every object whose desired status differs from its stored one.
    fn kick_changed(&self, pass: &SharedPass) {
        for ((kind, key), desired) in &pass.statuses {
            if self.stores.status_json(*kind, key).as_ref() != Some(desired) {
                self.kick(*kind, key);
            }
        }
    }

    /// Re-queues `kind` `key` (no-op without kick channels).
    pub fn kick(&self, kind: Kind, key: &ObjectKey) {
        let s = &self.stores;
        let k = &self.kicks;
        match kind {
            Kind::Tenant => kick_one(&s.tenants, &k.tenants, key),
            Kind::TechnicalAdmin => kick_one(&s.technical_admins, &k.technical_admins, key),
            Kind::SourceSystem => kick_one(&s.source_systems, &k.source_systems, key),
            Kind::TargetSystem => kick_one(&s.target_systems, &k.target_systems, key),
            Kind::RealTimeTarget => kick_one(&s.real_time_targets, &k.real_time_targets, key),
        }
    }

    /// Re-queues every object of `kind`.
    pub fn kick_all(&self, kind: Kind) {
        fn keys<K: OperatorKind>(s: &Store<K>) -> Vec<ObjectKey> {
            s.state().iter().map(|o| ObjectKey::of(o.meta())).collect()
        }
        let s = &self.stores;
        let all = match kind {
            Kind::Tenant => keys(&s.tenants),
            Kind::TechnicalAdmin => keys(&s.technical_admins),
            Kind::SourceSystem => keys(&s.source_systems),
            Kind::TargetSystem => keys(&s.target_systems),
            Kind::RealTimeTarget => keys(&s.real_time_targets),
        };
        for key in all {
            self.kick(kind, &key);
        }
    }

    /// Counts one more not-ready pass of the object (or resets on `ready`); returns the
    /// streak before this pass.
    pub fn not_ready_streak(&self, kind: Kind, key: &ObjectKey, ready: bool) -> u32 {
        let mut streaks = self.streaks.lock().unwrap_or_else(|p| p.into_inner());
        let id = (kind, key.clone());
        if ready {
            streaks.remove(&id);
            return 0;
        }
        let s = streaks.entry(id).or_insert(0);
        let before = *s;
        *s = s.saturating_add(1);
        before
    }

    /// Counts one more API error of the object; returns the count before it.
    pub fn failed(&self, kind: Kind, key: &ObjectKey) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let f = failures.entry((kind, key.clone())).or_insert(0);
        let before = *f;
        *f = f.saturating_add(1);
        before
    }

    /// Resets the error count of the object (a reconcile succeeded).
    pub fn succeeded(&self, kind: Kind, key: &ObjectKey) {
        let id = (kind, key.clone());
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Forgets the counters of a deleted object.
    pub fn forget(&self, kind: Kind, key: &ObjectKey) {
        let id = (kind, key.clone());
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        self.streaks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}
