//! The operator driver against a mocked API server (tower-test, as kube-rs/controller-rs
//! does): each test runs one reconcile and answers the requests it makes, asserting method,
//! URL and body; a missing request shows up as a timeout, an extra one as a hang of the
//! reconcile (also a timeout).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response};
use k8s_openapi::api::core::v1::Secret;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use idrelay::api::{TechnicalAdmin, Tenant};
use idrelay::operator::decide::{FINALIZER, MAX_BACKOFF, MIN_BACKOFF};
use idrelay::operator::{ConfigSink, Context, Stores, reconcile};
use idrelay::runtime::RuntimeConfig;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
type SendResponse = tower_test::mock::SendResponse<Response<Body>>;

/// Records every configuration applied.
#[derive(Default)]
struct Sink(Mutex<Vec<RuntimeConfig>>);

impl ConfigSink for Sink {
    fn apply(&self, config: RuntimeConfig) -> BoxFuture<'_, Result<(), String>> {
        self.0.lock().unwrap().push(config);
        Box::pin(async { Ok(()) })
    }
}

impl Sink {
    fn last(&self) -> Option<RuntimeConfig> {
        self.0.lock().unwrap().last().cloned()
    }
}

fn store<K>(objects: Vec<K>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync,
{
    let (reader, mut writer) = reflector::store();
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(o));
    }
    reader
}

struct World {
    tenants: Vec<Tenant>,
    admins: Vec<TechnicalAdmin>,
    secrets: Vec<Secret>,
}

fn setup(world: World) -> (Arc<Context>, Handle, Arc<Sink>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let stores = Stores {
        tenants: store(world.tenants),
        technical_admins: store(world.admins),
        source_systems: store(vec![]),
        target_systems: store(vec![]),
        real_time_targets: store(vec![]),
        secrets: store(world.secrets),
    };
    let sink = Arc::new(Sink::default());
    let ctx = Context::new(client, stores, sink.clone(), Some("test".into()));
    (Arc::new(ctx), handle, sink)
}

fn tenant(status: Option<Value>, finalizer: bool) -> Tenant {
    serde_json::from_value(json!({
        "apiVersion": "idrelay.dev/v1alpha1", "kind": "Tenant",
        "metadata": {"name": "acme", "namespace": "default", "uid": "u-tenant", "generation": 1,
                     "creationTimestamp": "2026-01-01T00:00:00Z",
                     "finalizers": if finalizer { json!([FINALIZER]) } else { Value::Null }},
        "spec": {},
        "status": status,
    }))
    .unwrap()
}

fn admin(status: Option<Value>) -> TechnicalAdmin {
    serde_json::from_value(json!({
        "apiVersion": "idrelay.dev/v1alpha1", "kind": "TechnicalAdmin",
        "metadata": {"name": "adm", "namespace": "default", "uid": "u-adm", "generation": 2,
                     "creationTimestamp": "2026-01-01T00:00:00Z", "finalizers": [FINALIZER]},
        "spec": {"tenantRef": {"name": "acme"}, "displayName": "Admin",
                 "permissions": ["ManageUsers"],
                 "secrets": [{"secretRef": {"name": "adm-secret", "key": "secret"}}]},
        "status": status,
    }))
    .unwrap()
}

fn secret() -> Secret {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "adm-secret", "namespace": "default", "resourceVersion": "7"},
        "stringData": {"secret": "hunter2hunter2"},
    }))
    .unwrap()
}

/// The status a first-sight reconcile writes (taken from the reconcile core's shape).
fn first_sight() -> Value {
    idrelay::operator::decide::first_sight_status(Some(1), "2026-01-01T00:00:01Z".parse().unwrap())
}

async fn next(handle: &mut Handle) -> (Request<Body>, SendResponse) {
    tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("the reconcile made no further request")
        .expect("the client was dropped")
}

async fn body_json(request: Request<Body>) -> Value {
    let bytes = request.into_body().collect_bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn respond<T: Serialize>(send: SendResponse, body: &T) {
    send.send_response(
        Response::builder()
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap(),
    );
}

/// Expects a server-side apply of the status of `plural/name` with field manager `idrelay`;
/// answers with `object` carrying the applied status. Returns the applied body.
async fn expect_status_apply(
    handle: &mut Handle,
    plural: &str,
    name: &str,
    mut object: Value,
) -> Value {
    let (request, send) = next(handle).await;
    assert_eq!(request.method(), http::Method::PATCH);
    let uri = request.uri().to_string();
    assert!(
        uri.starts_with(&format!(
            "/apis/idrelay.dev/v1alpha1/namespaces/default/{plural}/{name}/status?"
        )),
        "{uri}"
    );
    assert!(uri.contains("fieldManager=idrelay"), "{uri}");
    assert!(uri.contains("force=true"), "{uri}");
    assert_eq!(
        request.headers()["content-type"],
        "application/apply-patch+yaml"
    );
    let body = body_json(request).await;
    object["status"] = body["status"].clone();
    respond(send, &object);
    body
}

/// Expects an Event about `kind/name`; returns it.
async fn expect_event(handle: &mut Handle) -> Value {
    let (request, send) = next(handle).await;
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(
        request.uri().to_string(),
        "/apis/events.k8s.io/v1/namespaces/default/events?"
    );
    let body = body_json(request).await;
    respond(send, &body);
    body
}

async fn run<K>(
    obj: K,
    ctx: &Arc<Context>,
) -> tokio::task::JoinHandle<Result<Action, idrelay::operator::Error>>
where
    K: idrelay::operator::OperatorKind,
{
    tokio::spawn(reconcile(Arc::new(obj), Arc::clone(ctx)))
}

async fn done(task: tokio::task::JoinHandle<Result<Action, idrelay::operator::Error>>) -> Action {
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the reconcile did not finish (an unexpected request?)")
        .unwrap()
        .unwrap()
}

/// The requeue delay of an action (`Action` exposes it only through `Debug`).
fn requeue_secs(action: &Action) -> f64 {
    let s = format!("{action:?}");
    let inner = s
        .split("Some(")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no requeue in {s}"));
    let value = inner.trim_end_matches('s');
    if let Some(ms) = value.strip_suffix("m") {
        return ms.parse::<f64>().unwrap() / 1000.0;
    }
    value.parse().unwrap()
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} in {status}"))
}

#[tokio::test]
async fn first_sight_writes_unknown_reconciling_then_adds_the_finalizer() {
    let t = tenant(None, false);
    let (ctx, mut handle, sink) = setup(World {
        tenants: vec![t.clone()],
        admins: vec![],
        secrets: vec![],
    });
    let task = run(t.clone(), &ctx).await;
    let applied = expect_status_apply(
        &mut handle,
        "tenants",
        "acme",
        serde_json::to_value(&t).unwrap(),
    )
    .await;
    assert_eq!(applied["apiVersion"], "idrelay.dev/v1alpha1");
    assert_eq!(applied["kind"], "Tenant");
    let status = &applied["status"];
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(condition(status, "Ready")["status"], "Unknown");
    assert_eq!(condition(status, "Ready")["observedGeneration"], 1);
    assert_eq!(condition(status, "Reconciling")["status"], "True");

    // Then the finalizer, by a JSON patch that fails if someone else changed the list.
    let (request, send) = next(&mut handle).await;
    assert_eq!(request.method(), http::Method::PATCH);
    assert_eq!(
        request.uri().to_string(),
        "/apis/idrelay.dev/v1alpha1/namespaces/default/tenants/acme?"
    );
    let patch = body_json(request).await;
    assert_eq!(
        patch,
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
        ])
    );
    respond(send, &tenant(Some(status.clone()), true));
    assert_eq!(done(task).await, Action::await_change());
    // Nothing is applied before the finalizer is in place.
    assert!(sink.last().is_none());
}

#[tokio::test]
async fn status_apply_with_an_event_then_no_write_on_a_no_op_pass() {
    let t = tenant(Some(first_sight()), true);
    let (ctx, mut handle, sink) = setup(World {
        tenants: vec![t.clone()],
        admins: vec![],
        secrets: vec![],
    });
    let task = run(t.clone(), &ctx).await;
    let applied = expect_status_apply(
        &mut handle,
        "tenants",
        "acme",
        serde_json::to_value(&t).unwrap(),
    )
    .await;
    let ready = condition(&applied["status"], "Ready");
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["observedGeneration"], 1);
    assert!(
        applied["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] != "Reconciling")
    );
    let event = expect_event(&mut handle).await;
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["reason"], "Ready");
    assert_eq!(event["regarding"]["kind"], "Tenant");
    assert_eq!(event["regarding"]["name"], "acme");
    assert_eq!(event["reportingController"], "idrelay");
    let action = done(task).await;
    // Ready: periodic re-validation after RESYNC ± 10 %.
    assert!(
        (270.0..=330.0).contains(&requeue_secs(&action)),
        "{action:?}"
    );
    assert!(sink.last().unwrap().tenants.contains_key("acme"));

    // The same object with the applied status: no request at all, one pass computed in all.
    let mut t2 = t.clone();
    t2.status = Some(serde_json::from_value(applied["status"].clone()).unwrap());
    let action = done(run(t2, &ctx).await).await;
    assert!((270.0..=330.0).contains(&requeue_secs(&action)));
    assert_eq!(ctx.passes_computed(), 1);
    assert_eq!(sink.0.lock().unwrap().len(), 1);

    // Metrics: one write, one skipped write, two successful reconciles, one Ready Tenant.
    let text = ctx.metrics().encode();
    let sample = |name: &str, labels: &[(&str, &str)]| {
        idrelay::metrics::sample_sum(&text, name, labels).unwrap_or(0.0)
    };
    let tenant = [("kind", "Tenant")];
    assert_eq!(sample("idrelay_status_writes_total", &tenant), 1.0);
    assert_eq!(sample("idrelay_status_writes_skipped_total", &tenant), 1.0);
    assert_eq!(
        sample(
            "idrelay_reconcile_total",
            &[("kind", "Tenant"), ("result", "success")]
        ),
        2.0
    );
    assert_eq!(
        sample(
            "idrelay_resources",
            &[("kind", "Tenant"), ("ready", "True")]
        ),
        1.0
    );
}

#[tokio::test]
async fn missing_secret_is_reported_and_requeued_then_ready_when_it_appears() {
    let ready_tenant = {
        let (ctx, _h, _s) = setup(World {
            tenants: vec![tenant(None, true)],
            admins: vec![],
            secrets: vec![],
        });
        let pass = ctx.shared_pass().await.unwrap();
        tenant(Some(pass.statuses.values().next().unwrap().clone()), true)
    };
    let a = admin(Some(first_sight()));
    let (ctx, mut handle, sink) = setup(World {
        tenants: vec![ready_tenant.clone()],
        admins: vec![a.clone()],
        secrets: vec![],
    });
    let task = run(a.clone(), &ctx).await;
    let applied = expect_status_apply(
        &mut handle,
        "technicaladmins",
        "adm",
        serde_json::to_value(&a).unwrap(),
    )
    .await;
    let status = &applied["status"];
    let ready = condition(status, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "SecretNotFound");
    assert_eq!(ready["observedGeneration"], 2);
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(condition(status, "Reconciling")["status"], "True");
    let event = expect_event(&mut handle).await;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], "SecretNotFound");
    let action = done(task).await;
    let secs = requeue_secs(&action);
    let min = MIN_BACKOFF.as_secs_f64();
    assert!((min * 0.9..=min * 1.1).contains(&secs), "{action:?}");
    // Without its Secret the admin has no secret to authenticate with.
    assert!(
        sink.last().unwrap().tenants["acme"]
            .admins
            .values()
            .all(|a| a.secrets.is_empty())
    );

    // Still missing: the next retry waits twice as long, and nothing is written.
    let mut a2 = a.clone();
    a2.status = Some(serde_json::from_value(status.clone()).unwrap());
    let action = done(run(a2.clone(), &ctx).await).await;
    let secs = requeue_secs(&action);
    assert!((min * 1.8..=min * 2.2).contains(&secs), "{action:?}");
    assert!(secs <= MAX_BACKOFF.as_secs_f64() * 1.1);

    // The Secret appears (the watch mapper re-queues the admin): Ready, with an Event.
    let (ctx2, mut handle2, sink2) = setup(World {
        tenants: vec![ready_tenant],
        admins: vec![a2.clone()],
        secrets: vec![secret()],
    });
    let task = run(a2.clone(), &ctx2).await;
    let applied = expect_status_apply(
        &mut handle2,
        "technicaladmins",
        "adm",
        serde_json::to_value(&a2).unwrap(),
    )
    .await;
    let ready = condition(&applied["status"], "Ready");
    assert_eq!(ready["status"], "True");
    let event = expect_event(&mut handle2).await;
    assert_eq!(event["type"], "Normal");
    done(task).await;
    let config = sink2.last().unwrap();
    assert_eq!(config.tenants["acme"].admins.len(), 1);
    assert!(
        config.tenants["acme"]
            .admins
            .values()
            .all(|a| a.secrets.len() == 1)
    );
    // The secret value is in the runtime configuration only.
    assert!(!applied.to_string().contains("hunter2"));
    assert!(!event.to_string().contains("hunter2"));
}

#[tokio::test]
async fn deleting_removes_from_the_runtime_then_the_finalizer() {
    let t = tenant(Some(first_sight()), true);
    let (ctx, _h, sink) = setup(World {
        tenants: vec![t.clone()],
        admins: vec![],
        secrets: vec![],
    });
    ctx.shared_pass().await.unwrap();
    assert!(sink.last().unwrap().tenants.contains_key("acme"));

    let mut deleting = t.clone();
    deleting.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-01-02T00:00:00Z".parse().unwrap(),
        ));
    let (ctx, mut handle, sink) = setup(World {
        tenants: vec![deleting.clone()],
        admins: vec![],
        secrets: vec![],
    });
    let task = run(deleting.clone(), &ctx).await;
    let (request, send) = next(&mut handle).await;
    // The runtime no longer serves the tenant before the finalizer goes.
    assert!(sink.last().unwrap().tenants.is_empty());
    assert_eq!(request.method(), http::Method::PATCH);
    assert_eq!(
        request.uri().to_string(),
        "/apis/idrelay.dev/v1alpha1/namespaces/default/tenants/acme?"
    );
    let patch = body_json(request).await;
    assert_eq!(
        patch,
        json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
            {"op": "remove", "path": "/metadata/finalizers/0"},
        ])
    );
    let mut gone = deleting.clone();
    gone.metadata.finalizers = None;
    respond(send, &gone);
    assert_eq!(done(task).await, Action::await_change());
}

#[tokio::test]
async fn a_fresh_pass_requeues_the_objects_whose_status_it_changes() {
    use futures::StreamExt;
    let (tenant_tx, mut tenant_rx) = futures::channel::mpsc::unbounded();
    let (admin_tx, mut admin_rx) = futures::channel::mpsc::unbounded();
    let (service, _handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let stores = Stores {
        tenants: store(vec![tenant(Some(first_sight()), true)]),
        technical_admins: store(vec![admin(Some(first_sight()))]),
        source_systems: store(vec![]),
        target_systems: store(vec![]),
        real_time_targets: store(vec![]),
        secrets: store(vec![secret()]),
    };
    let ctx = Context::new(client, stores, Arc::new(Sink::default()), None).with_kicks(
        idrelay::operator::Kicks {
            tenants: Some(tenant_tx),
            technical_admins: Some(admin_tx),
            ..Default::default()
        },
    );
    ctx.shared_pass().await.unwrap();
    let kicked = tenant_rx.next().await.unwrap().unwrap();
    assert_eq!(kicked.metadata.name.as_deref(), Some("acme"));
    let kicked = admin_rx.next().await.unwrap().unwrap();
    assert_eq!(kicked.metadata.name.as_deref(), Some("adm"));
    // The memoized pass re-queues nothing.
    ctx.shared_pass().await.unwrap();
    assert_eq!(ctx.passes_computed(), 1);
    assert!(tenant_rx.try_recv().is_err());
    assert!(admin_rx.try_recv().is_err());
}

/// Hands out the same CA certificate for every tenant asked for.
struct FixedCa;

const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n";

impl idrelay::files::driver::CaCertificateSource for FixedCa {
    fn ca_certificates(
        &self,
        tenants: &mut dyn Iterator<Item = &str>,
    ) -> std::collections::BTreeMap<String, String> {
        tenants.map(|t| (t.to_owned(), CA_PEM.to_owned())).collect()
    }
}

/// A context over `world` whose observer reports [`FixedCa`] as every tenant's CA.
fn setup_with_ca(world: World) -> (Arc<Context>, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let stores = Stores {
        tenants: store(world.tenants),
        technical_admins: store(world.admins),
        source_systems: store(vec![]),
        target_systems: store(vec![]),
        real_time_targets: store(vec![]),
        secrets: store(world.secrets),
    };
    let observer =
        idrelay::operator::observe::Observer::none().with_ca_certificates(Arc::new(FixedCa));
    let ctx = Context::new(
        client,
        stores,
        Arc::new(Sink::default()),
        Some("test".into()),
    )
    .with_observer(Arc::new(observer));
    (Arc::new(ctx), handle)
}

#[tokio::test]
async fn a_ready_tenant_gets_an_owned_ca_secret_then_no_write_when_it_is_stored() {
    let t = tenant(Some(first_sight()), true);
    let (ctx, mut handle) = setup_with_ca(World {
        tenants: vec![t.clone()],
        admins: vec![],
        secrets: vec![],
    });
    let task = run(t.clone(), &ctx).await;
    let applied = expect_status_apply(
        &mut handle,
        "tenants",
        "acme",
        serde_json::to_value(&t).unwrap(),
    )
    .await;
    assert_eq!(applied["status"]["caCertificate"], CA_PEM);
    expect_event(&mut handle).await;

    // The CA Secret: server-side apply, owned by the Tenant.
    let (request, send) = next(&mut handle).await;
    assert_eq!(request.method(), http::Method::PATCH);
    let uri = request.uri().to_string();
    assert!(
        uri.starts_with("/api/v1/namespaces/default/secrets/acme-ca?"),
        "{uri}"
    );
    assert!(uri.contains("fieldManager=idrelay"), "{uri}");
    let body = body_json(request).await;
    assert_eq!(body["kind"], "Secret");
    assert_eq!(body["type"], "Opaque");
    let owner = &body["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Tenant");
    assert_eq!(owner["name"], "acme");
    assert_eq!(owner["uid"], "u-tenant");
    assert_eq!(owner["controller"], true);
    let stored: Secret = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(
        stored.data.as_ref().unwrap()["ca.crt"].0,
        CA_PEM.as_bytes().to_vec()
    );
    respond(send, &body);
    done(task).await;

    // Next pass: status and Secret already stored, so no request at all.
    let mut t2 = t.clone();
    t2.status = Some(serde_json::from_value(applied["status"].clone()).unwrap());
    let (ctx, mut handle) = setup_with_ca(World {
        tenants: vec![t2.clone()],
        admins: vec![],
        secrets: vec![stored],
    });
    done(run(t2, &ctx).await).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(50), handle.next_request())
            .await
            .is_err()
    );
}
