//! The whole operator wiring (watches fanned out to the five controllers, mappers, kicks,
//! finalizers, status apply) against a small fake API server on a tower-test mock: lists,
//! watches that deliver the changes the operator itself makes, status and finalizer patches,
//! Events, deletion with finalizers.

use base64::Engine as _;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use idrelay::operator::decide::FINALIZER;
use idrelay::operator::wiring::wire;
use idrelay::operator::{ConfigSink, Context};
use idrelay::runtime::RuntimeConfig;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
type SendResponse = tower_test::mock::SendResponse<Response<Body>>;

#[derive(Default)]
struct Sink(Mutex<Vec<RuntimeConfig>>);

impl ConfigSink for Sink {
    fn apply(&self, config: RuntimeConfig) -> BoxFuture<'_, Result<(), String>> {
        self.0.lock().unwrap().push(config);
        Box::pin(async { Ok(()) })
    }
}

/// One collection (a plural) of the fake API server.
#[derive(Default)]
struct Collection {
    objects: BTreeMap<String, Value>,
    /// Watch events not yet delivered.
    pending: Vec<Value>,
    /// A watch waiting for events.
    parked: Option<SendResponse>,
}

/// What the test can look at and change. Collections are keyed `namespace/plural`.
#[derive(Default)]
struct Server {
    collections: BTreeMap<String, Collection>,
    /// Lists served per collection.
    lists: BTreeMap<String, usize>,
    rv: u64,
    status_writes: Vec<(String, String, Value)>,
    events: Vec<Value>,
}

fn respond(send: SendResponse, body: Vec<u8>) {
    send.send_response(Response::builder().body(Body::from(body)).unwrap());
}

impl Server {
    fn collection(&mut self, key: &str) -> &mut Collection {
        self.collections.entry(key.to_owned()).or_default()
    }

    /// Stores `object` (in its namespace) and queues the watch event.
    fn put(&mut self, plural: &str, kind: &str, mut object: Value) {
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let key = format!(
            "{}/{plural}",
            object["metadata"]["namespace"].as_str().unwrap()
        );
        let c = self.collection(&key);
        let type_ = if c.objects.contains_key(&name) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        let gone = object["metadata"]["deletionTimestamp"].is_string()
            && object["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty());
        if gone {
            c.objects.remove(&name);
            c.pending.push(json!({"type": "DELETED", "object": object}));
        } else {
            c.objects.insert(name, object.clone());
            c.pending.push(json!({"type": type_, "object": object}));
        }
        let _ = kind;
        self.flush(&key);
    }

    /// Removes an object without a watch event (only a relist notices).
    fn remove_silently(&mut self, key: &str, name: &str) {
        self.collection(key).objects.remove(name);
    }

    /// Ends the watch of `key` with "410 Gone": the watcher relists.
    fn expire_watch(&mut self, key: &str) {
        self.collection(key)
            .pending
            .push(json!({"type": "ERROR", "object": {
            "apiVersion": "v1", "kind": "Status", "status": "Failure",
            "message": "too old resource version", "reason": "Expired", "code": 410}}));
        self.flush(key);
    }

    fn flush(&mut self, key: &str) {
        let c = self.collection(key);
        if c.pending.is_empty() {
            return;
        }
        if let Some(send) = c.parked.take() {
            let mut body = Vec::new();
            for e in c.pending.drain(..) {
                body.extend(serde_json::to_vec(&e).unwrap());
                body.push(b'\n');
            }
            respond(send, body);
        }
    }

    fn get(&self, plural: &str, name: &str) -> Option<Value> {
        self.get_in("default", plural, name)
    }

    fn get_in(&self, namespace: &str, plural: &str, name: &str) -> Option<Value> {
        self.collections
            .get(&format!("{namespace}/{plural}"))?
            .objects
            .get(name)
            .cloned()
    }
}

/// `(namespace, plural, name, subresource)` of a namespaced path.
fn parse_path(path: &str) -> (String, String, Option<String>, Option<String>) {
    let rest = path.split("/namespaces/").nth(1).unwrap_or("");
    let mut parts = rest.split('/');
    let namespace = parts.next().unwrap_or("").to_owned();
    let plural = parts.next().unwrap_or("").to_owned();
    (
        namespace,
        plural,
        parts.next().map(str::to_owned),
        parts.next().map(str::to_owned),
    )
}

fn list_kind(plural: &str) -> (&'static str, &'static str) {
    match plural {
        "secrets" => ("v1", "SecretList"),
        "tenants" => ("idrelay.dev/v1alpha1", "TenantList"),
        "technicaladmins" => ("idrelay.dev/v1alpha1", "TechnicalAdminList"),
        "sourcesystems" => ("idrelay.dev/v1alpha1", "SourceSystemList"),
        "targetsystems" => ("idrelay.dev/v1alpha1", "TargetSystemList"),
        _ => ("idrelay.dev/v1alpha1", "RealTimeTargetList"),
    }
}

async fn serve(mut handle: Handle, server: Arc<Mutex<Server>>) {
    while let Some((request, send)) = handle.next_request().await {
        let method = request.method().clone();
        let uri = request.uri().clone();
        let path = uri.path().to_owned();
        let query = uri.query().unwrap_or("").to_owned();
        let (namespace, plural, name, sub) = parse_path(&path);
        let key = format!("{namespace}/{plural}");
        let body = request.into_body().collect_bytes().await.unwrap();
        let mut s = server.lock().unwrap();
        if plural == "events" {
            s.events.push(serde_json::from_slice(&body).unwrap());
            respond(send, body.to_vec());
            continue;
        }
        if plural == "leases" {
            serve_lease(&mut s, &key, &method, name.as_deref(), &body, send);
            continue;
        }
        match (method, name, sub) {
            (Method::GET, None, _) if query.contains("watch=true") => {
                s.collection(&key).parked = Some(send);
                s.flush(&key);
            }
            (Method::GET, None, _) => {
                let (api_version, kind) = list_kind(&plural);
                let rv = s.rv.to_string();
                *s.lists.entry(key.clone()).or_default() += 1;
                let c = s.collection(&key);
                // Events so far are in the list.
                c.pending.clear();
                let items: Vec<Value> = c.objects.values().cloned().collect();
                let list = json!({"apiVersion": api_version, "kind": kind,
                    "metadata": {"resourceVersion": rv}, "items": items});
                respond(send, serde_json::to_vec(&list).unwrap());
            }
            (Method::PATCH, Some(name), Some(sub)) if sub == "status" => {
                let patch: Value = serde_json::from_slice(&body).unwrap();
                assert!(query.contains("fieldManager=idrelay"), "{query}");
                let mut object = s.get_in(&namespace, &plural, &name).unwrap();
                object["status"] = patch["status"].clone();
                s.status_writes
                    .push((plural.clone(), name.clone(), patch["status"].clone()));
                let kind = object["kind"].as_str().unwrap().to_owned();
                s.put(&plural, &kind, object.clone());
                respond(send, serde_json::to_vec(&object).unwrap());
            }
            (Method::PATCH, Some(name), None) if plural == "secrets" => {
                // Generated Secrets (server-side apply of the whole object, e.g. `<tenant>-ca`).
                assert!(query.contains("fieldManager=idrelay"), "{query}");
                let mut secret: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(secret["metadata"]["name"], name.as_str());
                secret["metadata"]["namespace"] = namespace.clone().into();
                s.put(&plural, "Secret", secret.clone());
                respond(send, serde_json::to_vec(&secret).unwrap());
            }
            (Method::PATCH, Some(name), None) => {
                // The finalizer JSON patches (test + add / test + remove).
                let ops: Vec<Value> = serde_json::from_slice(&body).unwrap();
                let mut object = s.get_in(&namespace, &plural, &name).unwrap();
                let mut finalizers: Vec<Value> = object["metadata"]["finalizers"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut failed = false;
                for op in &ops {
                    let p = op["path"].as_str().unwrap();
                    match op["op"].as_str().unwrap() {
                        "test" if p == "/metadata/finalizers" => {
                            let current = object["metadata"]["finalizers"].clone();
                            failed |= current != op["value"];
                        }
                        "test" => {
                            let i: usize = p.rsplit('/').next().unwrap().parse().unwrap();
                            failed |= finalizers.get(i) != Some(&op["value"]);
                        }
                        "add" if p == "/metadata/finalizers" => {
                            finalizers = op["value"].as_array().unwrap().clone();
                        }
                        "add" => finalizers.push(op["value"].clone()),
                        "remove" => {
                            let i: usize = p.rsplit('/').next().unwrap().parse().unwrap();
                            finalizers.remove(i);
                        }
                        other => panic!("unexpected op {other}"),
                    }
                }
                if failed {
                    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "message": "the test operation failed", "reason": "Invalid", "code": 422});
                    send.send_response(
                        Response::builder()
                            .status(422)
                            .body(Body::from(serde_json::to_vec(&status).unwrap()))
                            .unwrap(),
                    );
                    continue;
                }
                object["metadata"]["finalizers"] = json!(finalizers);
                let kind = object["kind"].as_str().unwrap().to_owned();
                s.put(&plural, &kind, object.clone());
                respond(send, serde_json::to_vec(&object).unwrap());
            }
            (m, n, sub) => panic!("unexpected request {m} {path} {n:?} {sub:?}"),
        }
    }
}

fn not_found(send: SendResponse) {
    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": "not found", "reason": "NotFound", "code": 404});
    send.send_response(
        Response::builder()
            .status(404)
            .body(Body::from(serde_json::to_vec(&status).unwrap()))
            .unwrap(),
    );
}

/// Leases: get, create, and patches merged into `spec` (null removes a field).
fn serve_lease(
    s: &mut Server,
    key: &str,
    method: &Method,
    name: Option<&str>,
    body: &[u8],
    send: SendResponse,
) {
    let leases = s.collection(key);
    match (method, name) {
        (&Method::GET, Some(name)) => match leases.objects.get(name) {
            Some(o) => respond(send, serde_json::to_vec(o).unwrap()),
            None => not_found(send),
        },
        (&Method::POST, None) => {
            let mut o: Value = serde_json::from_slice(body).unwrap();
            o["metadata"]["namespace"] = json!("default");
            let name = o["metadata"]["name"].as_str().unwrap().to_owned();
            leases.objects.insert(name, o.clone());
            respond(send, serde_json::to_vec(&o).unwrap());
        }
        (&Method::PATCH, Some(name)) => {
            let patch: Value = serde_json::from_slice(body).unwrap();
            let Some(o) = leases.objects.get_mut(name) else {
                return not_found(send);
            };
            if !o["spec"].is_object() {
                o["spec"] = json!({});
            }
            for (k, v) in patch["spec"].as_object().unwrap() {
                if v.is_null() {
                    o["spec"].as_object_mut().unwrap().remove(k);
                } else {
                    o["spec"][k] = v.clone();
                }
            }
            respond(send, serde_json::to_vec(o).unwrap());
        }
        (m, n) => panic!("unexpected lease request {m} {n:?}"),
    }
}

fn ready_of(server: &Arc<Mutex<Server>>, plural: &str, name: &str) -> Option<(String, String)> {
    ready_in(server, "default", plural, name)
}

fn ready_in(
    server: &Arc<Mutex<Server>>,
    namespace: &str,
    plural: &str,
    name: &str,
) -> Option<(String, String)> {
    let o = server.lock().unwrap().get_in(namespace, plural, name)?;
    let c = o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    Some((
        c["status"].as_str()?.to_owned(),
        c["reason"].as_str()?.to_owned(),
    ))
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn watches_controllers_mappers_and_finalizers_end_to_end() {
    let server = Arc::new(Mutex::new(Server::default()));
    {
        let mut s = server.lock().unwrap();
        s.put(
            "tenants",
            "Tenant",
            json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "Tenant",
                "metadata": {"name": "acme", "namespace": "default", "uid": "u1", "generation": 1,
                             "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {}}),
        );
        s.put(
            "technicaladmins",
            "TechnicalAdmin",
            json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "TechnicalAdmin",
                "metadata": {"name": "adm", "namespace": "default", "uid": "u2", "generation": 1,
                             "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"tenantRef": {"name": "acme"}, "displayName": "Admin",
                         "permissions": ["ManageUsers"],
                         "secrets": [{"secretRef": {"name": "adm-secret", "key": "secret"}}]}}),
        );
    }
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(serve(handle, Arc::clone(&server)));
    let client = Client::new(service, "default");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
        .boxed()
        .shared()
    };
    let sink = Arc::new(Sink::default());
    let wired = {
        let sink: Arc<dyn ConfigSink> = sink.clone();
        let client2 = client.clone();
        wire(&client, &["default"], stop, move |stores, kicks| {
            Context::new(client2, stores, sink, None).with_kicks(kicks)
        })
    };
    let tasks: Vec<_> = wired
        .watches
        .into_iter()
        .chain(wired.controllers)
        .map(tokio::spawn)
        .collect();

    // Both get their finalizer; the tenant becomes Ready, the admin waits for its Secret.
    eventually("tenant Ready", || {
        ready_of(&server, "tenants", "acme") == Some(("True".into(), "Ready".into()))
    })
    .await;
    eventually("admin SecretNotFound", || {
        ready_of(&server, "technicaladmins", "adm")
            == Some(("False".into(), "SecretNotFound".into()))
    })
    .await;
    for (plural, name) in [("tenants", "acme"), ("technicaladmins", "adm")] {
        let o = server.lock().unwrap().get(plural, name).unwrap();
        assert_eq!(o["metadata"]["finalizers"], json!([FINALIZER]), "{plural}");
    }
    {
        let s = server.lock().unwrap();
        // First sight came first.
        let first = s
            .status_writes
            .iter()
            .find(|(p, _, _)| p == "tenants")
            .unwrap();
        assert_eq!(first.2["conditions"][0]["status"], "Unknown");
        assert!(s.events.iter().any(|e| e["reason"] == "SecretNotFound"));
    }

    // The Secret appears: the Secret watch's mapper re-queues the admin.
    server.lock().unwrap().put(
        "secrets",
        "Secret",
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "adm-secret", "namespace": "default"},
            "stringData": {"secret": "hunter2hunter2"}}),
    );
    eventually("admin Ready", || {
        ready_of(&server, "technicaladmins", "adm") == Some(("True".into(), "Ready".into()))
    })
    .await;
    eventually("admin configured with its secret", || {
        sink.0.lock().unwrap().last().is_some_and(|c| {
            c.tenants
                .get("acme")
                .is_some_and(|t| t.admins.values().any(|a| a.secrets.len() == 1))
        })
    })
    .await;

    // Settled: no more status writes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writes = server.lock().unwrap().status_writes.len();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(server.lock().unwrap().status_writes.len(), writes);

    // Deleting the admin: out of the runtime, then its finalizer goes and it is gone.
    {
        let mut s = server.lock().unwrap();
        let mut o = s.get("technicaladmins", "adm").unwrap();
        o["metadata"]["deletionTimestamp"] = json!("2026-01-02T00:00:00Z");
        s.put("technicaladmins", "TechnicalAdmin", o);
    }
    eventually("admin deleted", || {
        server
            .lock()
            .unwrap()
            .get("technicaladmins", "adm")
            .is_none()
    })
    .await;
    let last = sink.0.lock().unwrap().last().cloned().unwrap();
    assert!(last.tenants["acme"].admins.is_empty());
    let s = server.lock().unwrap();
    assert!(
        !serde_json::to_string(&s.events)
            .unwrap()
            .contains("hunter2")
    );
    assert!(
        !serde_json::to_string(&s.status_writes.iter().map(|w| &w.2).collect::<Vec<_>>())
            .unwrap()
            .contains("hunter2")
    );
    drop(s);
    let _ = stop_tx.send(true);
    for t in tasks {
        t.abort();
    }
}

fn tenant(namespace: &str, name: &str) -> Value {
    json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "Tenant",
        "metadata": {"name": name, "namespace": namespace, "uid": format!("t-{namespace}-{name}"),
                     "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {}})
}

fn admin(namespace: &str, tenant: &str) -> Value {
    json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "TechnicalAdmin",
        "metadata": {"name": "adm", "namespace": namespace, "uid": format!("a-{namespace}"),
                     "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"tenantRef": {"name": tenant}, "displayName": "Admin",
                 "permissions": ["ManageUsers"],
                 "secrets": [{"secretRef": {"name": "adm-secret", "key": "secret"}}]}})
}

fn secret(namespace: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "adm-secret", "namespace": namespace},
        "stringData": {"secret": "hunter2hunter2"}})
}

fn keys<K: kube::Resource<DynamicType = ()> + Clone>(
    store: &kube::runtime::reflector::Store<K>,
) -> Vec<String> {
    let mut keys: Vec<String> = store
        .state()
        .iter()
        .map(|o| {
            let m = o.meta();
            format!(
                "{}/{}",
                m.namespace.clone().unwrap_or_default(),
                m.name.clone().unwrap_or_default()
            )
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn several_namespaces_one_watch_each_merged_stores() {
    let server = Arc::new(Mutex::new(Server::default()));
    {
        let mut s = server.lock().unwrap();
        // Tenant names are unique across namespaces (the runtime's tenants).
        for (ns, name) in [("a", "acme"), ("b", "globex")] {
            s.put("tenants", "Tenant", tenant(ns, name));
            s.put("technicaladmins", "TechnicalAdmin", admin(ns, name));
        }
        s.put("tenants", "Tenant", tenant("b", "old"));
    }
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(serve(handle, Arc::clone(&server)));
    let client = Client::new(service, "default");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
        .boxed()
        .shared()
    };
    let sink = Arc::new(Sink::default());
    let wired = {
        let sink: Arc<dyn ConfigSink> = sink.clone();
        let client2 = client.clone();
        wire(&client, &["a", "b"], stop, move |stores, kicks| {
            Context::new(client2, stores, sink, None).with_kicks(kicks)
        })
    };
    let ctx = Arc::clone(&wired.ctx);
    // As the operator does: the watches first, the controllers once the stores are ready.
    let mut tasks: Vec<_> = wired.watches.into_iter().map(tokio::spawn).collect();
    tokio::time::timeout(
        Duration::from_secs(20),
        idrelay::operator::wiring::stores_ready(&ctx.stores),
    )
    .await
    .unwrap()
    .unwrap();
    tasks.extend(wired.controllers.into_iter().map(tokio::spawn));
    // Ready means both namespaces are listed: objects of both are in the stores.
    assert_eq!(keys(&ctx.stores.tenants), ["a/acme", "b/globex", "b/old"]);
    assert_eq!(keys(&ctx.stores.technical_admins), ["a/adm", "b/adm"]);
    {
        let s = server.lock().unwrap();
        // Each namespace is listed on its own (namespaced RBAC); nothing cluster-wide.
        assert_eq!(s.lists.get("a/tenants"), Some(&1));
        assert_eq!(s.lists.get("b/tenants"), Some(&1));
        assert!(
            s.lists
                .keys()
                .all(|k| k.starts_with("a/") || k.starts_with("b/")),
            "{:?}",
            s.lists
        );
    }
    for (ns, name) in [("a", "acme"), ("b", "globex")] {
        eventually("tenant Ready", || {
            ready_in(&server, ns, "tenants", name) == Some(("True".into(), "Ready".into()))
        })
        .await;
        eventually("admin SecretNotFound", || {
            ready_in(&server, ns, "technicaladmins", "adm")
                == Some(("False".into(), "SecretNotFound".into()))
        })
        .await;
    }

    // The Secret appears in `b`: the mapper re-queues `b`'s admin only.
    server.lock().unwrap().put("secrets", "Secret", secret("b"));
    eventually("admin in b Ready", || {
        ready_in(&server, "b", "technicaladmins", "adm") == Some(("True".into(), "Ready".into()))
    })
    .await;
    assert_eq!(
        ready_in(&server, "a", "technicaladmins", "adm"),
        Some(("False".into(), "SecretNotFound".into()))
    );
    server.lock().unwrap().put("secrets", "Secret", secret("a"));
    eventually("admin in a Ready", || {
        ready_in(&server, "a", "technicaladmins", "adm") == Some(("True".into(), "Ready".into()))
    })
    .await;
    assert_eq!(keys(&ctx.stores.secrets), ["a/adm-secret", "b/adm-secret"]);

    // `b`'s tenant watch expires; its relist drops `b/old` and keeps `a`'s objects.
    {
        let mut s = server.lock().unwrap();
        s.remove_silently("b/tenants", "old");
        s.expire_watch("b/tenants");
    }
    eventually("b relisted", || {
        server.lock().unwrap().lists.get("b/tenants") == Some(&2)
            && keys(&ctx.stores.tenants) == ["a/acme", "b/globex"]
    })
    .await;
    assert_eq!(server.lock().unwrap().lists.get("a/tenants"), Some(&1));
    // The relisted namespace still maps references: a change of `b/adm-secret` reaches the admin.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(keys(&ctx.stores.tenants), ["a/acme", "b/globex"]);
    {
        let mut s = server.lock().unwrap();
        let mut o = s.get_in("b", "secrets", "adm-secret").unwrap();
        o["stringData"] = json!({"other": "x"});
        s.put("secrets", "Secret", o);
    }
    eventually("admin in b lost its secret key", || {
        ready_in(&server, "b", "technicaladmins", "adm")
            .is_some_and(|(status, _)| status == "False")
    })
    .await;
    assert_eq!(
        ready_in(&server, "a", "technicaladmins", "adm"),
        Some(("True".into(), "Ready".into()))
    );

    let _ = stop_tx.send(true);
    for t in tasks {
        t.abort();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn http_get(url: &str) -> Option<(u16, Value)> {
    let response = reqwest::get(url).await.ok()?;
    let code = response.status().as_u16();
    Some((code, response.json().await.ok()?))
}

#[tokio::test]
async fn operator_leads_serves_turns_ready_and_shuts_down_gracefully() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Arc::new(Mutex::new(Server::default()));
    server.lock().unwrap().put(
        "tenants",
        "Tenant",
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "Tenant",
            "metadata": {"name": "acme", "namespace": "default", "uid": "u1", "generation": 1,
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {}}),
    );
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(serve(handle, Arc::clone(&server)));
    let client = Client::new(service, "default");
    let data = tempfile::tempdir().unwrap();
    let admin_port = free_port();
    let args = idrelay::operator::OperatorArgs {
        namespaces: vec!["default".into()],
        data_dir: Some(data.path().to_owned()),
        listen: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        admin_listen: format!("127.0.0.1:{admin_port}").parse().unwrap(),
        lease_name: "idrelay-operator".into(),
        lease_namespace: Some("default".into()),
        identity: Some("pod-a".into()),
        tls_cert: None,
        tls_key: None,
        plain_http: true,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(idrelay::operator::run_with_client(
        args,
        client,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let admin = format!("http://127.0.0.1:{admin_port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((200, _)) = http_get(&format!("{admin}/readyz")).await {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Ready means: the lease is ours and the first full pass is applied.
    let lease = server
        .lock()
        .unwrap()
        .get("leases", "idrelay-operator")
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "pod-a");
    let (_, status) = http_get(&format!("{admin}/status")).await.unwrap();
    assert_eq!(status[0]["kind"], "Tenant");
    assert_eq!(status[0]["metadata"]["name"], "acme");
    eventually("tenant Ready", || {
        ready_of(&server, "tenants", "acme") == Some(("True".into(), "Ready".into()))
    })
    .await;
    // The runtime's tenant CA: its certificate in the Tenant's status and in the Secret
    // `acme-ca`, owned by the Tenant.
    eventually("the acme-ca Secret", || {
        server.lock().unwrap().get("secrets", "acme-ca").is_some()
    })
    .await;
    let tenant = server.lock().unwrap().get("tenants", "acme").unwrap();
    let ca = tenant["status"]["caCertificate"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{tenant}");
    let secret = server.lock().unwrap().get("secrets", "acme-ca").unwrap();
    assert_eq!(secret["metadata"]["ownerReferences"][0]["kind"], "Tenant");
    assert_eq!(secret["metadata"]["ownerReferences"][0]["name"], "acme");
    let stored = secret["data"]["ca.crt"].as_str().unwrap_or_default();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(stored)
            .unwrap(),
        ca.as_bytes()
    );

    let _ = stop_tx.send(());
    let result = tokio::time::timeout(Duration::from_secs(20), operator)
        .await
        .expect("the operator did not stop")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    // The lease was released for a standby.
    let lease = server
        .lock()
        .unwrap()
        .get("leases", "idrelay-operator")
        .unwrap();
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease}");
}
