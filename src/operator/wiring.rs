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
//! Invariant: a store is updated before its change is fanned out, so a mapper or a reconcile
//! triggered by a change sees it.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, Store, reflector};
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

/// `Api` over `namespace`, or all namespaces.
pub fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// One watch of `K` into a store, fanned out: objects to every sender in `subscribers`,
/// watch errors (for backoff) to `own` only.
fn hub<K>(
    api: Api<K>,
    own: Option<Tx<K>>,
    subscribers: Vec<Tx<K>>,
) -> (Store<K>, BoxFuture<'static, ()>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(api, watcher::Config::default())
            .default_backoff()
            // Not needed here; about a third of each object's memory.
            .modify(|o: &mut K| o.meta_mut().managed_fields = None),
    )
    .touched_objects();
    let task = async move {
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(o) => {
                    for tx in &subscribers {
                        let _ = tx.unbounded_send(Ok(o.clone()));
                    }
                    if let Some(tx) = &own {
                        let _ = tx.unbounded_send(Ok(o));
                    }
                }
                Err(e) => {
                    tracing::warn!(kind = %K::kind(&()), "watch error: {e}");
                    if let Some(tx) = &own {
                        let _ = tx.unbounded_send(Err(e));
                    }
                }
            }
        }
    }
    .boxed();
    (reader, task)
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

/// Builds the watches over `namespace` (all when `None`), the controllers and the context.
/// `make_ctx` turns the stores and kick channels into the context.
pub fn wire(
    client: &Client,
    namespace: Option<&str>,
    stop: StopSignal,
    make_ctx: impl FnOnce(Stores, Kicks) -> Context,
) -> Wired {
    let t = plumbing::<Tenant>();
    let a = plumbing::<TechnicalAdmin>();
    let s = plumbing::<SourceSystem>();
    let g = plumbing::<TargetSystem>();
    let r = plumbing::<RealTimeTarget>();
    let (tenants, w_tenants) = hub(
        api::<Tenant>(client, namespace),
        Some(t.own_tx.clone()),
        vec![
            t.tenants_tx,
            a.tenants_tx,
            s.tenants_tx,
            g.tenants_tx,
            r.tenants_tx,
        ],
    );
    let (admins, w_admins) = hub(
        api::<TechnicalAdmin>(client, namespace),
        Some(a.own_tx.clone()),
        vec![
            t.admins_tx,
            a.admins_tx,
            s.admins_tx,
            g.admins_tx,
            r.admins_tx,
        ],
    );
    let (sources, w_sources) = hub(
        api::<SourceSystem>(client, namespace),
        Some(s.own_tx.clone()),
        vec![
            t.sources_tx,
            a.sources_tx,
            s.sources_tx,
            g.sources_tx,
            r.sources_tx,
        ],
    );
    let (targets, w_targets) = hub(
        api::<TargetSystem>(client, namespace),
        Some(g.own_tx.clone()),
        vec![],
    );
    let (realtime, w_realtime) = hub(
        api::<RealTimeTarget>(client, namespace),
        Some(r.own_tx.clone()),
        vec![],
    );
    let (secrets, w_secrets) = hub(
        api::<Secret>(client, namespace),
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
