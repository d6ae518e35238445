//! The watches and controllers: one watch (reflector) per kind and for Secrets, fanned out to
//! the five controllers, so that each kind is listed and watched once and every controller
//! reads the same stores.
//!
//! - Each controller's own trigger is its kind's watch plus the kick channel ([`Kicks`]):
//!   objects re-queued by the shared pass or by a finished connection check.
//! - Every controller also watches Tenants, TechnicalAdmins, SourceSystems and Secrets; the
//!   mapper ([`dependents`]) turns a change into the objects of its kind that refer to the
//!   changed one in the same namespace (watches with mappers, no polling).
//!
//! - Several watched namespaces: one watch per namespace and kind (namespaced RBAC suffices),
//!   merged into one store by [`NamespacesStore`] (a namespace's relist replaces only its own
//!   objects; the store is ready once every namespace is listed). One namespace or all
//!   namespaces: a single reflector.
//!
//! Invariant: a store is updated before its change is fanned out, so a mapper or a reconcile
//! triggered by a change sees it (for the single reflector, as `touched_objects` yields them).

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use crate::api::{RealTimeTarget, SourceSystem, TargetSystem, TechnicalAdmin, Tenant};
use crate::reconcile::ObjectKey;

use super::context::{Context, Kicks, Stores};
use super::controller::{error_policy, reconcile};
use super::kinds::{Kind, OperatorKind};
use super::observe::OnResult;
use super::refs::{Referent, dependents};

/// A future that completes once, when the operator stops (cloneable).
pub type StopSignal = Shared<BoxFuture<'static, ()>>;

/// How often the observer compares what it observes with the last pass (push health of
/// real-time targets, delivery health of targets).
pub const OBSERVE_POLL: Duration = Duration::from_secs(2);

type Tx<K> = UnboundedSender<Result<K, watcher::Error>>;
type Rx<K> = UnboundedReceiver<Result<K, watcher::Error>>;

/// Where the watches look: all namespaces, or each of a non-empty list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    AllNamespaces,
    Namespaces(Vec<String>),
}

impl Watched {
    /// `namespaces` without empty entries and repeats (first occurrence kept); none left
    /// means all namespaces.
    pub fn of<S: AsRef<str>>(namespaces: &[S]) -> Self {
        let mut kept: Vec<String> = Vec::new();
        for ns in namespaces.iter().map(|n| n.as_ref().trim()) {
            if !ns.is_empty() && !kept.iter().any(|k| k == ns) {
                kept.push(ns.to_owned());
            }
        }
        if kept.is_empty() {
            Self::AllNamespaces
        } else {
            Self::Namespaces(kept)
        }
    }
}

/// Sends a touched object to every subscriber and to the kind's own controller.
fn fan_out<K: Clone>(own: Option<&Tx<K>>, subscribers: &[Tx<K>], o: K) {
    for tx in subscribers {
        let _ = tx.unbounded_send(Ok(o.clone()));
    }
    if let Some(tx) = own {
        let _ = tx.unbounded_send(Ok(o));
    }
}

/// A watch error: logged, and to the kind's own controller (for its backoff).
fn report<K: Resource<DynamicType = ()>>(own: Option<&Tx<K>>, e: watcher::Error) {
    tracing::warn!(kind = %K::kind(&()), "watch error: {e}");
    if let Some(tx) = own {
        let _ = tx.unbounded_send(Err(e));
    }
}

/// The watch of `K` over `api`, managed fields dropped.
fn watch<K>(api: Api<K>) -> impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    watcher(api, watcher::Config::default())
        .default_backoff()
        // Not needed here; about a third of each object's memory.
        .modify(|o: &mut K| o.meta_mut().managed_fields = None)
}

/// The watches of `K` over `watched` into one store, fanned out: objects to every sender in
/// `subscribers`, watch errors (for backoff) to `own` only.
fn hub<K>(
    client: &Client,
    watched: &Watched,
    own: Option<Tx<K>>,
    subscribers: Vec<Tx<K>>,
) -> (Store<K>, BoxFuture<'static, ()>)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    match watched {
        Watched::AllNamespaces => single_hub(Api::all(client.clone()), own, subscribers),
        Watched::Namespaces(namespaces) => match namespaces.as_slice() {
            [ns] => single_hub(Api::namespaced(client.clone(), ns), own, subscribers),
            _ => merged_hub(client, namespaces, own, subscribers),
        },
    }
}

/// One watch of `K` into a store (a reflector).
fn single_hub<K>(
    api: Api<K>,
    own: Option<Tx<K>>,
    subscribers: Vec<Tx<K>>,
) -> (Store<K>, BoxFuture<'static, ()>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watch(api)).touched_objects();
    let task = async move {
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(o) => fan_out(own.as_ref(), &subscribers, o),
                Err(e) => report(own.as_ref(), e),
            }
        }
    }
    .boxed();
    (reader, task)
}

/// One watch of `K` per namespace, merged into one store by [`NamespacesStore`].
fn merged_hub<K>(
    client: &Client,
    namespaces: &[String],
    own: Option<Tx<K>>,
    subscribers: Vec<Tx<K>>,
) -> (Store<K>, BoxFuture<'static, ()>)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let mut merged = NamespacesStore::new(namespaces.to_vec());
    let reader = merged.reader();
    let streams = namespaces.iter().enumerate().map(|(i, ns)| {
        watch(Api::<K>::namespaced(client.clone(), ns))
            .map(move |item| (i, item))
            .boxed()
    });
    let mut stream = futures::stream::select_all(streams);
    let task = async move {
        while let Some((i, item)) = stream.next().await {
            match item {
                Ok(event) => {
                    for o in merged.apply(i, event) {
                        fan_out(own.as_ref(), &subscribers, o);
                    }
                }
                Err(e) => report(own.as_ref(), e),
            }
        }
    }
    .boxed();
    (reader, task)
}

/// One store over the watches of several namespaces (watch `i` lists namespace `i`).
///
/// A namespace's (re)list is buffered until its `InitDone`, then replaces only that
/// namespace's objects in the store (objects gone from the list are deleted, the listed ones
/// applied); the other namespaces' objects stay. Other events pass through. The store is
/// ready once every namespace has completed its first list.
///
/// Invariant: the store holds exactly the union of each namespace's latest list plus the
/// changes watched since, and an object is in the store before it is returned as touched.
pub struct NamespacesStore<K: Resource<DynamicType = ()> + Clone + 'static> {
    namespaces: Vec<String>,
    /// The objects of a list in progress, per namespace.
    listing: Vec<Option<Vec<K>>>,
    listed: Vec<bool>,
    ready: bool,
    writer: Writer<K>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> NamespacesStore<K> {
    pub fn new(namespaces: Vec<String>) -> Self {
        let n = namespaces.len();
        Self {
            namespaces,
            listing: vec![None; n],
            listed: vec![false; n],
            ready: false,
            writer: Writer::default(),
        }
    }

    /// A read handle to the merged store.
    pub fn reader(&self) -> Store<K> {
        self.writer.as_reader()
    }

    /// Applies `event` of the watch of namespace `i`; returns the objects it touched (as
    /// `touched_objects` does; a list's objects at its end, once they are stored).
    pub fn apply(&mut self, i: usize, event: watcher::Event<K>) -> Vec<K> {
        match event {
            watcher::Event::Apply(o) => self.pass_through(i, o, watcher::Event::Apply),
            watcher::Event::Delete(o) => self.pass_through(i, o, watcher::Event::Delete),
            watcher::Event::Init => {
                if let Some(slot) = self.listing.get_mut(i) {
                    *slot = Some(Vec::new());
                }
                Vec::new()
            }
            watcher::Event::InitApply(o) => {
                if let Some(slot) = self.listing.get_mut(i) {
                    slot.get_or_insert_with(Vec::new).push(o);
                }
                Vec::new()
            }
            watcher::Event::InitDone => self.listed_namespace(i),
        }
    }

    /// Whether `o` belongs to namespace `i` (only those are stored: any other would survive
    /// the relists of `i`).
    fn belongs(&self, i: usize, o: &K) -> bool {
        o.meta().namespace.is_some() && o.meta().namespace.as_ref() == self.namespaces.get(i)
    }

    /// A watched change of namespace `i`, applied as it is.
    fn pass_through(&mut self, i: usize, o: K, event: fn(K) -> watcher::Event<K>) -> Vec<K> {
        if !self.belongs(i, &o) {
            return Vec::new();
        }
        let event = event(o);
        self.writer.apply_watcher_event(&event);
        match event {
            watcher::Event::Apply(o) | watcher::Event::Delete(o) | watcher::Event::InitApply(o) => {
                vec![o]
            }
            watcher::Event::Init | watcher::Event::InitDone => Vec::new(),
        }
    }

    /// Namespace `i` finished a list: its objects in the store become the listed ones.
    fn listed_namespace(&mut self, i: usize) -> Vec<K> {
        let Some(listing) = self.listing.get_mut(i) else {
            return Vec::new();
        };
        let listing = listing.take().unwrap_or_default();
        let objects: Vec<K> = listing.into_iter().filter(|o| self.belongs(i, o)).collect();
        let keep: HashSet<ObjectRef<K>> = objects.iter().map(|o| ObjectRef::from_obj(o)).collect();
        let gone: Vec<K> = self
            .writer
            .as_reader()
            .state()
            .into_iter()
            .filter(|o: &Arc<K>| {
                let o: &K = o;
                self.belongs(i, o) && !keep.contains(&ObjectRef::from_obj(o))
            })
            .map(|o| K::clone(&o))
            .collect();
        for o in gone {
            self.writer.apply_watcher_event(&watcher::Event::Delete(o));
        }
        for o in &objects {
            self.writer
                .apply_watcher_event(&watcher::Event::Apply(o.clone()));
        }
        if let Some(done) = self.listed.get_mut(i) {
            *done = true;
        }
        if !self.ready && self.listed.iter().all(|l| *l) {
            self.ready = true;
            self.mark_ready();
        }
        objects
    }

    /// Releases `wait_until_ready` (the writer's first `InitDone`) with the same contents.
    fn mark_ready(&mut self) {
        let all = self.writer.as_reader().state();
        self.writer.apply_watcher_event(&watcher::Event::Init);
        for o in all {
            self.writer
                .apply_watcher_event(&watcher::Event::InitApply(K::clone(&o)));
        }
        self.writer.apply_watcher_event(&watcher::Event::InitDone);
    }
}

/// The inputs of one controller.
struct Inputs<K> {
    own: Rx<K>,
    tenants: Rx<Tenant>,
    admins: Rx<TechnicalAdmin>,
    sources: Rx<SourceSystem>,
    secrets: Rx<Secret>,
}

/// Channels of one controller: its receivers and the senders the hubs write to.
struct Plumbing<K> {
    own_tx: Tx<K>,
    tenants_tx: Tx<Tenant>,
    admins_tx: Tx<TechnicalAdmin>,
    sources_tx: Tx<SourceSystem>,
    secrets_tx: Tx<Secret>,
    inputs: Inputs<K>,
}

fn plumbing<K>() -> Plumbing<K> {
    let (own_tx, own) = unbounded();
    let (tenants_tx, tenants) = unbounded();
    let (admins_tx, admins) = unbounded();
    let (sources_tx, sources) = unbounded();
    let (secrets_tx, secrets) = unbounded();
    Plumbing {
        own_tx,
        tenants_tx,
        admins_tx,
        sources_tx,
        secrets_tx,
        inputs: Inputs {
            own,
            tenants,
            admins,
            sources,
            secrets,
        },
    }
}

fn mapper<K: OperatorKind, O: Resource>(
    store: Store<K>,
    referent: Referent,
) -> impl Fn(O) -> Vec<kube::runtime::reflector::ObjectRef<K>> + Send + Sync + 'static {
    move |o: O| dependents(&store.state(), referent, &ObjectKey::of(o.meta()))
}

fn controller<K: OperatorKind>(
    store: Store<K>,
    inputs: Inputs<K>,
    ctx: Arc<Context>,
    stop: StopSignal,
) -> BoxFuture<'static, ()> {
    Controller::for_stream(inputs.own, store.clone())
        .watches_stream(inputs.tenants, mapper(store.clone(), Referent::Tenant))
        .watches_stream(
            inputs.admins,
            mapper(store.clone(), Referent::TechnicalAdmin),
        )
        .watches_stream(
            inputs.sources,
            mapper(store.clone(), Referent::SourceSystem),
        )
        .watches_stream(inputs.secrets, mapper(store, Referent::Secret))
        .graceful_shutdown_on(stop)
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(kind = %K::KIND, %object, "reconciled"),
                Err(e) => tracing::debug!(kind = %K::KIND, "controller: {e}"),
            }
        })
        .boxed()
}

/// Everything the operator runs once it leads: the watch tasks, the five controllers and the
/// observer loop, over one [`Context`].
pub struct Wired {
    pub ctx: Arc<Context>,
    /// The watch tasks (run them first: the stores fill from them).
    pub watches: Vec<BoxFuture<'static, ()>>,
    /// The controllers and the observer loop.
    pub controllers: Vec<BoxFuture<'static, ()>>,
}

/// Builds the watches over `namespaces` (all when empty; see [`Watched::of`]), the
/// controllers and the context. `make_ctx` turns the stores and kick channels into the
/// context.
pub fn wire<S: AsRef<str>>(
    client: &Client,
    namespaces: &[S],
    stop: StopSignal,
    make_ctx: impl FnOnce(Stores, Kicks) -> Context,
) -> Wired {
    let watched = Watched::of(namespaces);
    let t = plumbing::<Tenant>();
    let a = plumbing::<TechnicalAdmin>();
    let s = plumbing::<SourceSystem>();
    let g = plumbing::<TargetSystem>();
    let r = plumbing::<RealTimeTarget>();
    let (tenants, w_tenants) = hub::<Tenant>(
        client,
        &watched,
        Some(t.own_tx.clone()),
        vec![
            t.tenants_tx,
            a.tenants_tx,
            s.tenants_tx,
            g.tenants_tx,
            r.tenants_tx,
        ],
    );
    let (admins, w_admins) = hub::<TechnicalAdmin>(
        client,
        &watched,
        Some(a.own_tx.clone()),
        vec![
            t.admins_tx,
            a.admins_tx,
            s.admins_tx,
            g.admins_tx,
            r.admins_tx,
        ],
    );
    let (sources, w_sources) = hub::<SourceSystem>(
        client,
        &watched,
        Some(s.own_tx.clone()),
        vec![
            t.sources_tx,
            a.sources_tx,
            s.sources_tx,
            g.sources_tx,
            r.sources_tx,
        ],
    );
    let (targets, w_targets) =
        hub::<TargetSystem>(client, &watched, Some(g.own_tx.clone()), vec![]);
    let (realtime, w_realtime) =
        hub::<RealTimeTarget>(client, &watched, Some(r.own_tx.clone()), vec![]);
    let (secrets, w_secrets) = hub::<Secret>(
        client,
        &watched,
        None,
        vec![
            t.secrets_tx,
            a.secrets_tx,
            s.secrets_tx,
            g.secrets_tx,
            r.secrets_tx,
        ],
    );
    let stores = Stores {
        tenants: tenants.clone(),
        technical_admins: admins.clone(),
        source_systems: sources.clone(),
        target_systems: targets.clone(),
        real_time_targets: realtime.clone(),
        secrets,
    };
    let kicks = Kicks {
        tenants: Some(t.own_tx),
        technical_admins: Some(a.own_tx),
        source_systems: Some(s.own_tx),
        target_systems: Some(g.own_tx),
        real_time_targets: Some(r.own_tx),
    };
    let ctx = Arc::new(make_ctx(stores, kicks));
    let controllers = vec![
        controller(tenants, t.inputs, Arc::clone(&ctx), stop.clone()),
        controller(admins, a.inputs, Arc::clone(&ctx), stop.clone()),
        controller(sources, s.inputs, Arc::clone(&ctx), stop.clone()),
        controller(targets, g.inputs, Arc::clone(&ctx), stop.clone()),
        controller(realtime, r.inputs, Arc::clone(&ctx), stop.clone()),
        observe_loop(Arc::clone(&ctx), stop).boxed(),
    ];
    Wired {
        ctx,
        watches: vec![
            w_tenants, w_admins, w_sources, w_targets, w_realtime, w_secrets,
        ],
        controllers,
    }
}

/// Waits until every store has its initial list.
pub async fn stores_ready(stores: &Stores) -> Result<(), reflector::store::WriterDropped> {
    stores.tenants.wait_until_ready().await?;
    stores.technical_admins.wait_until_ready().await?;
    stores.source_systems.wait_until_ready().await?;
    stores.target_systems.wait_until_ready().await?;
    stores.real_time_targets.wait_until_ready().await?;
    stores.secrets.wait_until_ready().await
}

/// Starts the connection checks that are due (on every applied configuration and on their
/// schedule) and re-queues targets when what the runtime reports about them changed.
async fn observe_loop(ctx: Arc<Context>, stop: StopSignal) {
    let on_result: OnResult = {
        let ctx = Arc::downgrade(&ctx);
        Arc::new(move |kind: Kind, key: ObjectKey| {
            if let Some(ctx) = ctx.upgrade() {
                ctx.kick(kind, &key);
            }
        })
    };
    let mut last = None;
    futures::pin_mut!(stop);
    loop {
        let poll = Instant::now() + OBSERVE_POLL;
        let wake = ctx.observer.next_due().map_or(poll, |d| d.min(poll));
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep_until(wake.into()) => {}
            () = ctx.applied_notify.notified() => {}
        }
        let Some(config) = ctx.applied().await else {
            continue;
        };
        ctx.observer.start_due(&config, Arc::clone(&on_result));
        let observed = ctx.observer.observations(&config);
        if last.as_ref().is_some_and(|l| *l != observed) {
            ctx.kick_all(Kind::TargetSystem);
            ctx.kick_all(Kind::RealTimeTarget);
        }
        last = Some(observed);
    }
}

#[cfg(test)]
mod tests {
    use kube::api::ObjectMeta;

    use super::*;

    fn secret(ns: &str, name: &str, rv: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                resource_version: Some(rv.into()),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    fn list(store: &mut NamespacesStore<Secret>, i: usize, objects: &[Secret]) -> Vec<String> {
        assert!(store.apply(i, watcher::Event::Init).is_empty());
        for o in objects {
            assert!(
                store
                    .apply(i, watcher::Event::InitApply(o.clone()))
                    .is_empty()
            );
        }
        names(&store.apply(i, watcher::Event::InitDone))
    }

    fn names(objects: &[Secret]) -> Vec<String> {
        let mut names: Vec<String> = objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o.metadata.namespace.as_deref().unwrap_or(""),
                    o.metadata.name.as_deref().unwrap_or("")
                )
            })
            .collect();
        names.sort();
        names
    }

    fn contents(store: &Store<Secret>) -> Vec<String> {
        let state: Vec<Secret> = store.state().iter().map(|o| Secret::clone(o)).collect();
        names(&state)
    }

    #[tokio::test]
    async fn ready_only_once_every_namespace_is_listed() {
        let mut merged = NamespacesStore::new(vec!["a".into(), "b".into()]);
        let reader = merged.reader();
        assert_eq!(list(&mut merged, 0, &[secret("a", "x", "1")]), ["a/x"]);
        assert!(reader.wait_until_ready().now_or_never().is_none());
        // Changes of a listed namespace are visible before readiness.
        assert_eq!(contents(&reader), ["a/x"]);
        assert_eq!(list(&mut merged, 1, &[secret("b", "x", "2")]), ["b/x"]);
        assert!(matches!(
            reader.wait_until_ready().now_or_never(),
            Some(Ok(()))
        ));
        assert_eq!(contents(&reader), ["a/x", "b/x"]);
    }

    #[test]
    fn a_relist_replaces_only_its_namespace() {
        let mut merged = NamespacesStore::new(vec!["a".into(), "b".into()]);
        let reader = merged.reader();
        list(
            &mut merged,
            0,
            &[secret("a", "x", "1"), secret("a", "y", "2")],
        );
        list(&mut merged, 1, &[secret("b", "x", "3")]);
        // Watched changes pass through, each touching its object.
        let added = merged.apply(1, watcher::Event::Apply(secret("b", "z", "4")));
        assert_eq!(names(&added), ["b/z"]);
        let deleted = merged.apply(0, watcher::Event::Delete(secret("a", "y", "2")));
        assert_eq!(names(&deleted), ["a/y"]);
        assert_eq!(contents(&reader), ["a/x", "b/x", "b/z"]);
        // `a` relists: `a/x` is gone, `a/w` new, `b` untouched.
        assert_eq!(list(&mut merged, 0, &[secret("a", "w", "5")]), ["a/w"]);
        assert_eq!(contents(&reader), ["a/w", "b/x", "b/z"]);
        // An updated object in a relist is the new version.
        list(&mut merged, 1, &[secret("b", "x", "6")]);
        assert_eq!(contents(&reader), ["a/w", "b/x"]);
        let x = reader
            .get(&ObjectRef::new("x").within("b"))
            .and_then(|o| o.metadata.resource_version.clone());
        assert_eq!(x.as_deref(), Some("6"));
    }

    #[test]
    fn objects_of_another_namespace_are_ignored() {
        let mut merged = NamespacesStore::new(vec!["a".into(), "b".into()]);
        let reader = merged.reader();
        assert!(list(&mut merged, 0, &[secret("b", "x", "1")]).is_empty());
        assert!(
            merged
                .apply(0, watcher::Event::Apply(secret("c", "x", "2")))
                .is_empty()
        );
        assert!(contents(&reader).is_empty());
    }

    #[test]
    fn watched_namespaces_are_normalised() {
        assert_eq!(Watched::of::<&str>(&[]), Watched::AllNamespaces);
        assert_eq!(Watched::of(&["", " "]), Watched::AllNamespaces);
        assert_eq!(
            Watched::of(&["a", "b", "a", ""]),
            Watched::Namespaces(vec!["a".into(), "b".into()])
        );
    }
}
