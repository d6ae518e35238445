//! The shared pass: every live object of the five kinds, the Secrets and the observations in;
//! the runtime configuration and one status per object out — the same
//! [`crate::reconcile::reconcile`] (plus the real-time targets' reconcile) the files driver
//! runs, so both drivers agree on every status.
//!
//! The pass is computed once per input state and shared by every object's reconcile
//! ([`PassCache`]): the [`Fingerprint`] covers what the pass reads except the objects' own
//! statuses (which only carry `lastTransitionTime`s forward), so the status writes of one pass
//! do not cause N recomputations.
//!
//! Invariants:
//! - objects being deleted (`deletionTimestamp` set) are left out, so a pass after a delete is
//!   the runtime without them (what finalizer cleanup applies);
//! - pure apart from [`PassCache`]'s clock: the same snapshot, observations and `now` give the
//!   same pass;
//! - secret values reach only [`SharedPass::config`].

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

use crate::api::{RealTimeTarget, SourceSystem, TargetSystem, TechnicalAdmin, Tenant};
use crate::files::StatusEntry;
use crate::reconcile::real_time_target::{RealTimeObservations, reconcile_real_time_targets};
use crate::reconcile::secrets::SecretIndex;
use crate::reconcile::{ObjectKey, Observations, Resources, reconcile, whole_seconds};
use crate::runtime::RuntimeConfig;

use super::kinds::{Kind, OperatorKind};

/// A pass is recomputed at least this often even when nothing changed (secret expiry and
/// other time-dependent outcomes).
pub const PASS_TTL: Duration = Duration::from_secs(60);

/// Everything one pass reads from the API server (objects carry their current status).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub tenants: Vec<Tenant>,
    pub technical_admins: Vec<TechnicalAdmin>,
    pub source_systems: Vec<SourceSystem>,
    pub target_systems: Vec<TargetSystem>,
    pub real_time_targets: Vec<RealTimeTarget>,
    pub secrets: Vec<Secret>,
}

/// The outcome of one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SharedPass {
    /// What the runtime should serve.
    pub config: RuntimeConfig,
    /// The desired status of every live object, as JSON.
    pub statuses: BTreeMap<(Kind, ObjectKey), serde_json::Value>,
    /// Every live object with its status, in the files driver's `/status` form.
    pub entries: Vec<StatusEntry>,
}

impl SharedPass {
    /// The desired status of `kind` `key`, when the object took part in the pass.
    pub fn status(&self, kind: Kind, key: &ObjectKey) -> Option<&serde_json::Value> {
        self.statuses.get(&(kind, key.clone()))
    }
}

fn live<K: Resource + Clone>(objects: &[K]) -> Vec<K> {
    objects
        .iter()
        .filter(|o| o.meta().deletion_timestamp.is_none())
        .cloned()
        .collect()
}

/// One pass over `snapshot` at `now`.
pub fn compute(
    snapshot: &Snapshot,
    observations: &Observations,
    realtime: &RealTimeObservations,
    now: jiff::Timestamp,
) -> SharedPass {
    let now = whole_seconds(now);
    let tenants = live(&snapshot.tenants);
    let admins = live(&snapshot.technical_admins);
    let sources = live(&snapshot.source_systems);
    let targets = live(&snapshot.target_systems);
    let realtime_targets = live(&snapshot.real_time_targets);
    let outcome = reconcile(
        Resources {
            tenants: &tenants,
            technical_admins: &admins,
            secrets: &snapshot.secrets,
            source_systems: &sources,
            target_systems: &targets,
            observations,
        },
        now,
    );
    let mut config = outcome.config;
    let rt = reconcile_real_time_targets(
        &realtime_targets,
        &config,
        &SecretIndex::new(&snapshot.secrets),
        realtime,
        now,
    );
    config.realtime_targets = rt.accepted;

    let mut statuses = BTreeMap::new();
    fn put<S: serde::Serialize>(
        out: &mut BTreeMap<(Kind, ObjectKey), serde_json::Value>,
        kind: Kind,
        from: BTreeMap<ObjectKey, S>,
    ) {
        for (key, status) in from {
            out.insert(
                (kind, key),
                serde_json::to_value(&status).unwrap_or_default(),
            );
        }
    }
    put(&mut statuses, Kind::Tenant, outcome.tenants);
    put(
        &mut statuses,
        Kind::TechnicalAdmin,
        outcome.technical_admins,
    );
    put(&mut statuses, Kind::SourceSystem, outcome.source_systems);
    put(&mut statuses, Kind::TargetSystem, outcome.target_systems);
    put(&mut statuses, Kind::RealTimeTarget, rt.statuses);

    let mut metas: BTreeMap<(Kind, ObjectKey), &ObjectMeta> = BTreeMap::new();
    fn metas_of<'a, K: OperatorKind>(
        out: &mut BTreeMap<(Kind, ObjectKey), &'a ObjectMeta>,
        objects: &'a [K],
    ) {
        for o in objects {
            out.insert((K::KIND, ObjectKey::of(o.meta())), o.meta());
        }
    }
    metas_of(&mut metas, &tenants);
    metas_of(&mut metas, &admins);
    metas_of(&mut metas, &sources);
    metas_of(&mut metas, &targets);
    metas_of(&mut metas, &realtime_targets);
    let entries = statuses
        .iter()
        .map(|((kind, key), status)| {
            let meta = metas.get(&(*kind, key.clone()));
            StatusEntry {
                kind: kind.as_str(),
                key: key.clone(),
                generation: meta.and_then(|m| m.generation).unwrap_or(1),
                created: meta
                    .and_then(|m| m.creation_timestamp.as_ref())
                    .map(|t| t.0)
                    .unwrap_or_default(),
                status: status.clone(),
            }
        })
        .collect();
    SharedPass {
        config,
        statuses,
        entries,
    }
}

/// A hash of what a pass reads, except the objects' own statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

/// Builds a [`Fingerprint`] object by object.
#[derive(Debug, Default)]
pub struct FingerprintBuilder(std::collections::hash_map::DefaultHasher);

impl FingerprintBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one idrelay object: identity, generation, creation and deletion; the spec itself
    /// when the object has no generation.
    pub fn object<K: OperatorKind>(&mut self, o: &K) {
        let m = o.meta();
        K::KIND.hash(&mut self.0);
        hash_identity(m, &mut self.0);
        m.generation.hash(&mut self.0);
        m.deletion_timestamp.is_some().hash(&mut self.0);
        if m.generation.is_none() {
            o.spec_json().to_string().hash(&mut self.0);
        }
    }

    /// Adds one Secret: identity, resourceVersion and content (hashed, never stored).
    pub fn secret(&mut self, s: &Secret) {
        "Secret".hash(&mut self.0);
        hash_identity(&s.metadata, &mut self.0);
        s.metadata.resource_version.hash(&mut self.0);
        if let Some(data) = &s.data {
            for (k, v) in data {
                k.hash(&mut self.0);
                v.0.hash(&mut self.0);
            }
        }
        "stringData".hash(&mut self.0);
        s.string_data.hash(&mut self.0);
    }

    pub fn finish(&self) -> Fingerprint {
        Fingerprint(self.0.finish())
    }
}

fn hash_identity(m: &ObjectMeta, h: &mut impl Hasher) {
    m.uid.hash(h);
    m.namespace.hash(h);
    m.name.hash(h);
    m.creation_timestamp.as_ref().map(|t| t.0).hash(h);
}

/// The fingerprint of `snapshot` (order-sensitive: build snapshots in a stable order).
pub fn fingerprint(snapshot: &Snapshot) -> Fingerprint {
    let mut b = FingerprintBuilder::new();
    snapshot.tenants.iter().for_each(|o| b.object(o));
    snapshot.technical_admins.iter().for_each(|o| b.object(o));
    snapshot.source_systems.iter().for_each(|o| b.object(o));
    snapshot.target_systems.iter().for_each(|o| b.object(o));
    snapshot.real_time_targets.iter().for_each(|o| b.object(o));
    snapshot.secrets.iter().for_each(|s| b.secret(s));
    b.finish()
}

#[derive(Debug)]
struct Cached {
    fingerprint: Fingerprint,
    observations: Observations,
    realtime: RealTimeObservations,
    at: Instant,
    pass: Arc<SharedPass>,
}

/// The memo of the last pass: reused while the fingerprint and observations are unchanged and
/// it is younger than [`PASS_TTL`].
#[derive(Debug, Default)]
pub struct PassCache {
    last: Mutex<Option<Cached>>,
    computed: std::sync::atomic::AtomicU64,
}

impl PassCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The pass for `fingerprint` and the observations; `snapshot` is called (and the pass
    /// computed) only on a miss. Returns the pass and whether it was computed now.
    pub fn get_or_compute(
        &self,
        fingerprint: Fingerprint,
        observations: &Observations,
        realtime: &RealTimeObservations,
        snapshot: impl FnOnce() -> Snapshot,
    ) -> (Arc<SharedPass>, bool) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = last.as_ref()
            && c.fingerprint == fingerprint
            && c.observations == *observations
            && c.realtime == *realtime
            && c.at.elapsed() < PASS_TTL
        {
            return (Arc::clone(&c.pass), false);
        }
        let pass = Arc::new(compute(
            &snapshot(),
            observations,
            realtime,
            jiff::Timestamp::now(),
        ));
        self.computed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *last = Some(Cached {
            fingerprint,
            observations: observations.clone(),
            realtime: realtime.clone(),
            at: Instant::now(),
            pass: Arc::clone(&pass),
        });
        (pass, true)
    }

    /// The last pass computed, if any.
    pub fn last(&self) -> Option<Arc<SharedPass>> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.as_ref().map(|c| Arc::clone(&c.pass))
    }

    /// How many passes were computed (for tests and metrics).
    pub fn computed(&self) -> u64 {
        self.computed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::test_support::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn snapshot() -> Snapshot {
        Snapshot {
            tenants: vec![tenant("default", "acme", &[])],
            technical_admins: vec![admin("default", "adm", "acme", Some(("s", "k")))],
            secrets: vec![secret("default", "s", "k", "hunter2")],
            ..Default::default()
        }
    }

    #[test]
    fn pass_gives_config_and_one_status_per_object() {
        let p = compute(
            &snapshot(),
            Observations::none(),
            &Default::default(),
            t(1000),
        );
        assert_eq!(p.config.tenants["acme"].admins.len(), 1);
        assert_eq!(p.statuses.len(), 2);
        let s = p
            .status(Kind::TechnicalAdmin, &ObjectKey::new("default", "adm"))
            .unwrap();
        assert_eq!(s["conditions"][0]["type"], "Ready");
        assert_eq!(s["conditions"][0]["status"], "True");
        assert_eq!(p.entries.len(), 2);
        assert!(
            !serde_json::to_string(&p.statuses.values().collect::<Vec<_>>())
                .unwrap()
                .contains("hunter2")
        );
    }

    #[test]
    fn deleting_objects_are_left_out() {
        let mut s = snapshot();
        s.technical_admins[0].metadata.deletion_timestamp = Some(Time(t(5)));
        let p = compute(&s, Observations::none(), &Default::default(), t(1000));
        assert!(p.config.tenants["acme"].admins.is_empty());
        assert!(
            p.status(Kind::TechnicalAdmin, &ObjectKey::new("default", "adm"))
                .is_none()
        );
    }

    #[test]
    fn fingerprint_ignores_status_but_sees_spec_generation_and_secrets() {
        let a = snapshot();
        let mut b = a.clone();
        let p = compute(&a, Observations::none(), &Default::default(), t(1000));
        b.tenants[0].status = serde_json::from_value(
            p.statuses[&(Kind::Tenant, ObjectKey::new("default", "acme"))].clone(),
        )
        .unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.tenants[0].metadata.generation = Some(2);
        assert_ne!(fingerprint(&a), fingerprint(&b));
        let mut c = a.clone();
        c.secrets[0] = secret("default", "s", "k", "other");
        assert_ne!(fingerprint(&a), fingerprint(&c));
        let mut d = a.clone();
        d.tenants[0].metadata.deletion_timestamp = Some(Time(t(5)));
        assert_ne!(fingerprint(&a), fingerprint(&d));
    }

    #[test]
    fn cache_computes_once_per_input() {
        let cache = PassCache::new();
        let s = snapshot();
        let fp = fingerprint(&s);
        let none = Observations::default();
        let rt = RealTimeObservations::default();
        let (p1, fresh1) = cache.get_or_compute(fp, &none, &rt, || s.clone());
        let (p2, fresh2) = cache.get_or_compute(fp, &none, &rt, || unreachable!());
        assert!(fresh1 && !fresh2);
        assert!(Arc::ptr_eq(&p1, &p2));
        let mut obs = Observations::default();
        obs.connection.insert("x".into(), Default::default());
        let (_, fresh3) = cache.get_or_compute(fp, &obs, &rt, || s.clone());
        assert!(fresh3);
        assert_eq!(cache.computed(), 2);
    }
}
