//! The `provisioning` scenario (issue 4): real-time provisioning from the `acme` tenant's
//! Identity Authentication (v2) source system to a SCIM target, measured end to end on loopback.
//!
//! Phases, in one run:
//! 1. **Target ceiling**: the load generator sends `--events` `POST /Users` straight to the
//!    target with `--concurrency` keep-alive clients — exactly the bodies idrelay sends for the
//!    same events (checked against a body the target really received from idrelay).
//! 2. **idrelay**: `--clients` closed-loop clients push `--events` user upserts (distinct users,
//!    so nothing coalesces) to the real-time API; the target system delivers with
//!    `ips.max.concurrency = --concurrency`. Reported: accepted events/s (202s per second) and
//!    end-to-end deliveries/s (events / time from the first push until the store counts them
//!    all delivered), and the ratio of the latter to the ceiling.
//! 3. **Latency**: open-loop pushes at 50 % of the measured deliveries/s, first for
//!    `--latency-warmup-seconds` (not measured: the store is still writing back what the
//!    saturated phase left, so this is a transient, not the paced rate's steady state), then for
//!    `--latency-seconds`, through a second source/target pair whose target is observed: the
//!    in-process sink records the arrival of each user, or, for `scim2-server`, an in-process
//!    recording proxy records when scim2-server's answer comes back (one extra loopback hop,
//!    included in the figure). Latency = target ack − the instant the push was sent.
//! 4. **The target alone**: `--concurrency` clients send `POST /Users` straight to the target
//!    at the same pace for `--latency-seconds`: the target's own latency at that rate, the
//!    floor under the previous figure (a reference, not a goal).
//!
//! Targets: `scim2-server` (spawned from the virtualenv, a fresh instance for the ceiling and
//! another for idrelay so both start empty) or `sink` (an axum server in this process that
//! answers POST 201 with an id, PUT/PATCH 200, DELETE 204).
//!
//! Invariants: the secrets are generated per run and only written to the scratch config; every
//! spawned process is killed on drop; a failed delivery, a refused push, a missing ack or a
//! body mismatch is reported, never hidden.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode as AxumStatus, Uri};
use axum::response::{IntoResponse, Response};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::load::{self, Measured};
use super::process::{self, ScratchDir};

const TENANT: &str = "acme";
const CLIENT_ID: &str = "6f1d3c2a-0000-4000-8000-0000000ac3e0";
const SOURCE_THROUGHPUT: &str = "5e1f0000-0000-4000-8000-00000000be01";
const SOURCE_LATENCY: &str = "5e1f0000-0000-4000-8000-00000000be02";
const TARGET_THROUGHPUT: &str = "bench-target";
const TARGET_LATENCY: &str = "bench-latency-target";
pub(super) const SCIM_JSON: &str = "application/scim+json";
pub(super) const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const SAP_USER: &str = "urn:ietf:params:scim:schemas:extension:sap:2.0:User";
/// Latency goal on loopback.
const GOAL_P99: Duration = Duration::from_millis(20);
/// Share of the target's ceiling idrelay must reach (scim2-server).
const GOAL_RATIO: f64 = 0.80;
/// Events pushed through each pair before measuring.
const WARMUP_EVENTS: usize = 200;

/// The target kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// The reference SCIM server from the virtualenv (`.venv/bin/scim2-server`).
    #[value(name = "scim2-server")]
    Scim2Server,
    /// A fast in-process SCIM sink.
    Sink,
}

impl TargetKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            TargetKind::Scim2Server => "scim2-server",
            TargetKind::Sink => "sink",
        }
    }
}

/// `idrelay-bench provisioning` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The SCIM target.
    #[arg(long, value_enum, default_value_t = TargetKind::Sink)]
    pub target: TargetKind,
    /// Events (distinct users) in the ceiling and throughput phases.
    #[arg(long, default_value_t = 10_000)]
    pub events: usize,
    /// Closed-loop clients pushing to the real-time API.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// `ips.max.concurrency` of the target system, and the direct load generator's clients.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds of the paced latency phase.
    #[arg(long, default_value_t = 5)]
    pub latency_seconds: u64,
    /// Seconds paced at the same rate before the latency phase, not measured (the aftermath of
    /// the saturated throughput phase is not the paced rate's steady state).
    #[arg(long, default_value_t = 2)]
    pub latency_warmup_seconds: u64,
    /// Pace the latency phase at this many pushes/s instead of half the measured deliveries/s
    /// (to find where the latency bends; the goal is defined at half).
    #[arg(long)]
    pub latency_rate: Option<f64>,
    /// The scim2-server executable (default: `$IDRELAY_VENV` or `<repo>/.venv`, `bin/scim2-server`).
    #[arg(long)]
    pub scim2_server: Option<PathBuf>,
    /// Record `perf record -g` of the idrelay process during the throughput phase into FILE.
    #[arg(long)]
    pub perf: Option<PathBuf>,
    /// Seconds `perf` records.
    #[arg(long, default_value_t = 5)]
    pub perf_seconds: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The idrelay binary to run (default: the one next to this executable).
    #[arg(long)]
    pub idrelay: Option<PathBuf>,
    /// Do not run `cargo build --bin idrelay` first.
    #[arg(long)]
    pub no_build: bool,
    /// Keep the generated config, data and logs.
    #[arg(long)]
    pub keep_data: bool,
}

/// Runs the scenario and prints (and optionally writes) the report.
pub fn main(args: Args) -> anyhow::Result<()> {
    if args.events == 0 || args.clients == 0 || args.concurrency == 0 || args.latency_seconds == 0 {
        bail!("--events, --clients, --concurrency and --latency-seconds must be at least 1");
    }
    if args
        .latency_rate
        .is_some_and(|r| !r.is_finite() || !(1.0..=1_000_000.0).contains(&r))
    {
        bail!("--latency-rate must be between 1 and 1,000,000 pushes/s");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let results = runtime.block_on(run(&args))?;
    print!("{}", table(&results));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&to_json(&results))?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("results written to {}", path.display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// What is sent
// ---------------------------------------------------------------------------------------

/// The source id of event `index` of `phase` (a UUID, as the v2 real-time API requires).
fn source_id(phase: u8, index: usize) -> String {
    format!("b0000000-0000-4000-8{phase:03x}-{index:012x}")
}

fn user_name(prefix: &str, index: usize) -> String {
    format!("{prefix}-{index:07}")
}

/// A user as the Identity Directory (v2) pushes it.
fn source_user(id: &str, user_name: &str) -> Value {
    json!({
        "schemas": [CORE_USER, SAP_USER],
        "id": id,
        "userName": user_name,
        "name": {"givenName": "Bench", "familyName": user_name},
        "displayName": format!("Bench {user_name}"),
        "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
        "active": true,
        SAP_USER: {"userId": format!("P{}", &id[id.len() - 6..]), "userUuid": id},
    })
}

/// What idrelay writes to the target for [`source_user`]: SAP's default Identity
/// Authentication v2 read transformation, then [`TARGET_TRANSFORMATION`].
fn target_user(user_name: &str) -> Value {
    json!({
        "schemas": [CORE_USER],
        "userName": user_name,
        "name": {"givenName": "Bench", "familyName": user_name},
        "displayName": format!("Bench {user_name}"),
        "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
        "active": true,
    })
}

/// The target transformation: SAP's generic SCIM target default, with the SAP extensions the
/// v2 read transformation passes through removed (scim2-server refuses unknown schemas).
pub(super) const TARGET_TRANSFORMATION: &str = r#"{
  "user": {"mappings": [
    {"sourcePath": "$", "targetPath": "$"},
    {"targetPath": "$.id", "type": "remove"},
    {"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"},
    {"condition": "$.emails[0].length() > 0", "targetPath": "$.emails[0].primary", "constant": true},
    {"type": "remove", "targetPath": "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']"},
    {"type": "remove", "targetPath": "$['urn:ietf:params:scim:schemas:extension:sap:2.0:User']"},
    {"type": "remove", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:User']"},
    {"constant": ["urn:ietf:params:scim:schemas:core:2.0:User"], "targetPath": "$.schemas"}
  ]},
  "group": {"mappings": [
    {"sourcePath": "$", "targetPath": "$"},
    {"targetPath": "$.id", "type": "remove"},
    {"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"},
    {"targetPath": "$.members", "type": "remove"},
    {"sourcePath": "$.members[*].value", "preserveArrayWithSingleElement": true, "optional": true,
     "targetPath": "$.members[?(@.value)]", "functions": [{"type": "resolveEntityIds"}]},
    {"type": "remove", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']"},
    {"constant": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "targetPath": "$.schemas"}
  ]}
}"#;

/// The config: tenant `acme` (real-time rate raised), a technical admin holding
/// AccessRealTimeProvisioningAPI, and two source → target pairs (throughput, latency).
/// YAML is a superset of JSON: each document is written as JSON.
fn config_documents(
    secret: &str,
    token: &str,
    throughput_url: &str,
    latency_url: &str,
    concurrency: usize,
) -> String {
    let source = |name: &str, id: &str| {
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "SourceSystem", "metadata": {"name": name},
               "spec": {"tenantRef": {"name": TENANT}, "displayName": name, "type": "IdentityAuthentication",
                        "systemId": id, "properties": {"ias.api.version": "2"}}})
    };
    let target = |name: &str, source: &str, url: &str| {
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "TargetSystem", "metadata": {"name": name},
               "spec": {"tenantRef": {"name": TENANT}, "displayName": name, "type": "SCIM", "url": url,
                        "sourceSystemRefs": [{"name": source}],
                        "authentication": {"bearerToken": {"tokenRef": {"name": "acme-bench-secrets", "key": "token"}}},
                        "properties": {"ips.max.concurrency": concurrency.to_string()},
                        "transformation": TARGET_TRANSFORMATION}})
    };
    let documents = [
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": TENANT},
               "spec": {"displayName": "acme (bench)", "realTimeRateLimit": 1_000_000}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "acme-bench-secrets"},
               "stringData": {"secret": secret, "token": token}}),
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "TechnicalAdmin", "metadata": {"name": "acme-bench-admin"},
               "spec": {"tenantRef": {"name": TENANT}, "displayName": "acme real-time pusher", "clientId": CLIENT_ID,
                        "permissions": ["AccessRealTimeProvisioningAPI"],
                        "secrets": [{"secretRef": {"name": "acme-bench-secrets", "key": "secret"}}]}}),
        source("bench-source", SOURCE_THROUGHPUT),
        source("bench-latency-source", SOURCE_LATENCY),
        target(TARGET_THROUGHPUT, "bench-source", throughput_url),
        target(TARGET_LATENCY, "bench-latency-source", latency_url),
    ];
    documents
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n---\n")
}

// ---------------------------------------------------------------------------------------
// Observing the target: the sink and the recording proxy
// ---------------------------------------------------------------------------------------

/// Arrival (sink) or answer (proxy) instants of created users, by `userName`.
#[derive(Clone, Default)]
pub(super) struct Recorder(Arc<RecorderInner>);

#[derive(Default)]
struct RecorderInner {
    acks: Mutex<HashMap<String, Instant>>,
    writes: AtomicU64,
    next_id: AtomicU64,
    /// The first `POST /Users` body seen (for the "same writes" check).
    sample: Mutex<Option<Value>>,
    /// Set for the proxy: where scim2-server is, and the client to reach it.
    upstream: Option<(String, Client)>,
}

impl Recorder {
    pub(super) fn proxy(upstream: String) -> anyhow::Result<Recorder> {
        let client = Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Recorder(Arc::new(RecorderInner {
            upstream: Some((upstream, client)),
            ..RecorderInner::default()
        })))
    }

    fn record(&self, body: &[u8], at: Instant) {
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        if let Some(name) = value.get("userName").and_then(Value::as_str)
            && let Ok(mut acks) = self.0.acks.lock()
        {
            acks.insert(name.to_owned(), at);
        }
        if let Ok(mut sample) = self.0.sample.lock()
            && sample.is_none()
        {
            *sample = Some(value);
        }
    }

    pub(super) fn ack(&self, user_name: &str) -> Option<Instant> {
        self.0.acks.lock().ok()?.get(user_name).copied()
    }

    pub(super) fn sample(&self) -> Option<Value> {
        self.0.sample.lock().ok()?.clone()
    }

    pub(super) async fn serve(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(format!("http://{addr}"))
    }
}

fn is_user_create(method: &Method, uri: &Uri) -> bool {
    method == Method::POST && uri.path().trim_end_matches('/').ends_with("/Users")
}

async fn handle(
    State(recorder): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    recorder.0.writes.fetch_add(1, Ordering::Relaxed);
    match &recorder.0.upstream {
        None => sink(&recorder, &method, &uri, &body),
        Some((upstream, client)) => {
            forward(&recorder, upstream, client, method, uri, headers, body).await
        }
    }
}

/// The sink: records a created user's arrival, answers at once.
fn sink(recorder: &Recorder, method: &Method, uri: &Uri, body: &Bytes) -> Response {
    let scim = [(axum::http::header::CONTENT_TYPE, SCIM_JSON)];
    if is_user_create(method, uri) {
        recorder.record(body, Instant::now());
    }
    match *method {
        Method::POST => {
            let id = recorder.0.next_id.fetch_add(1, Ordering::Relaxed);
            let mut value: Value = serde_json::from_slice(body).unwrap_or_else(|_| json!({}));
            if let Some(object) = value.as_object_mut() {
                object.insert("id".into(), json!(format!("sink-{id}")));
            }
            (AxumStatus::CREATED, scim, value.to_string()).into_response()
        }
        Method::PUT | Method::PATCH => {
            let id = uri.path().rsplit('/').next().unwrap_or_default().to_owned();
            let mut value: Value = serde_json::from_slice(body).unwrap_or_else(|_| json!({}));
            if let Some(object) = value.as_object_mut() {
                object.insert("id".into(), json!(id));
            }
            (AxumStatus::OK, scim, value.to_string()).into_response()
        }
        Method::DELETE => AxumStatus::NO_CONTENT.into_response(),
        _ => (
            AxumStatus::OK,
            scim,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                   "totalResults": 0, "Resources": []})
            .to_string(),
        )
            .into_response(),
    }
}

/// The recording proxy: forwards to scim2-server and records when a create's answer is back.
async fn forward(
    recorder: &Recorder,
    upstream: &str,
    client: &Client,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let create = is_user_create(&method, &uri);
    let Ok(upstream_method) = reqwest::Method::from_bytes(method.as_str().as_bytes()) else {
        return AxumStatus::METHOD_NOT_ALLOWED.into_response();
    };
    let mut request = client.request(upstream_method, format!("{upstream}{path}"));
    for name in ["authorization", "content-type", "accept"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value.as_bytes());
        }
    }
    let answer = match request.body(body.clone()).send().await {
        Ok(answer) => answer,
        Err(e) => return (AxumStatus::BAD_GATEWAY, format!("upstream: {e}")).into_response(),
    };
    let status = answer.status();
    let content_type = answer.headers().get("content-type").cloned();
    let location = answer.headers().get("location").cloned();
    let bytes = answer.bytes().await.unwrap_or_default();
    if create && status.is_success() {
        recorder.record(&body, Instant::now());
    }
    let mut response = (
        AxumStatus::from_u16(status.as_u16()).unwrap_or(AxumStatus::BAD_GATEWAY),
        bytes,
    )
        .into_response();
    for (name, value) in [("content-type", content_type), ("location", location)] {
        if let Some(value) =
            value.and_then(|v| axum::http::HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

// ---------------------------------------------------------------------------------------
// scim2-server
// ---------------------------------------------------------------------------------------

/// A spawned process, SIGKILLed and reaped on drop.
pub(super) struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn scim2_server_binary(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_owned();
    }
    let venv = std::env::var_os("IDRELAY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    venv.join("bin").join("scim2-server")
}

/// Starts scim2-server on a fresh port with `token`; returns it and its base URL.
pub(super) async fn start_scim2_server(
    binary: &Path,
    token: &str,
    log: &Path,
) -> anyhow::Result<(Guard, String)> {
    if !binary.is_file() {
        bail!(
            "{} not found: run scripts/test.sh (creates .venv with scim2-server) or pass --scim2-server",
            binary.display()
        );
    }
    let port = process::free_port()?;
    let log_file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let child = Command::new(binary)
        .args(["--port", &port.to_string(), "--bearer-token", token])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("spawning {}", binary.display()))?;
    let mut guard = Guard(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = guard.0.try_wait()? {
            bail!("scim2-server exited ({status}); log: {}", log.display());
        }
        if let Ok(r) = http
            .get(format!("{base}/ServiceProviderConfig"))
            .bearer_auth(token)
            .send()
            .await
            && r.status().is_success()
        {
            return Ok((guard, base));
        }
        if Instant::now() > deadline {
            bail!("scim2-server not ready after 60 s; log: {}", log.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------

pub(super) type MakeRequest = Arc<dyn Fn(&Client, usize) -> reqwest::RequestBuilder + Send + Sync>;

/// `total` requests made by `make(client, index)`, `clients.len()` at a time (closed loop).
pub(super) async fn closed_loop(
    clients: &[Client],
    total: usize,
    expected: StatusCode,
    make: MakeRequest,
) -> anyhow::Result<Measured> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients.len());
    for client in clients {
        let (client, make, next) = (client.clone(), make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut m = Measured::default();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    return m;
                }
                let sent = Instant::now();
                match exchange(make(&client, index), expected).await {
                    Ok(()) => {
                        m.ok += 1;
                        m.latencies_us.push(micros(sent.elapsed()));
                    }
                    Err(e) => {
                        m.errors += 1;
                        m.first_error.get_or_insert(e);
                    }
                }
            }
        }));
    }
    let mut measured = Measured::default();
    for task in tasks {
        let m = task.await.context("load worker panicked")?;
        measured.ok += m.ok;
        measured.errors += m.errors;
        if measured.first_error.is_none() {
            measured.first_error = m.first_error;
        }
        measured.latencies_us.extend(m.latencies_us);
    }
    measured.elapsed = start.elapsed();
    measured.latencies_us.sort_unstable();
    Ok(measured)
}

pub(super) fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

pub(super) async fn exchange(
    request: reqwest::RequestBuilder,
    expected: StatusCode,
) -> Result<(), String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("reading body: {e}"))?;
    if status != expected {
        let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(format!("status {status} (expected {expected}): {text}"));
    }
    Ok(())
}

/// The real-time API URL of `source`'s users.
fn push_url(origin: &str, source: &str) -> String {
    format!("{origin}/tenants/{TENANT}/ipsproxy/service/api/v1/systems/{source}/entities/user")
}

fn push_request(
    client: &Client,
    url: &str,
    auth: &str,
    phase: u8,
    prefix: &str,
    index: usize,
) -> reqwest::RequestBuilder {
    let id = source_id(phase, index);
    client
        .post(url)
        .header("authorization", auth)
        .header("content-type", SCIM_JSON)
        .body(source_user(&id, &user_name(prefix, index)).to_string())
}

// ---------------------------------------------------------------------------------------
// The store: delivery counters
// ---------------------------------------------------------------------------------------

pub(super) struct Counters {
    pub(super) store: idrelay::store::Store,
    pub(super) target_id: String,
}

impl Counters {
    /// `(pending, delivered, failed)`.
    pub(super) async fn get(&self) -> anyhow::Result<(u64, u64, u64)> {
        Ok(self
            .store
            .delivery_counters(TENANT, &self.target_id)
            .await?)
    }

    /// Waits until `delivered + failed >= done`; returns the instant it saw that.
    pub(super) async fn wait_done(&self, done: u64, timeout: Duration) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let (pending, delivered, failed) = self.get().await?;
            if delivered + failed >= done {
                return Ok(Instant::now());
            }
            if Instant::now() > deadline {
                bail!(
                    "deliveries not done after {timeout:?}: {pending} pending, {delivered} delivered, {failed} failed (waiting for {done})"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

/// Everything the scenario measured.
#[derive(Debug, Clone, Default)]
pub struct Results {
    pub target: &'static str,
    pub events: usize,
    pub clients: usize,
    pub concurrency: usize,
    pub cores: usize,
    pub load_before: String,
    pub load_after: String,
    /// Direct `POST /Users` to the target.
    pub ceiling: Measured,
    /// Pushes to the real-time API (the 202s).
    pub accepts: Measured,
    /// From the first push until the store counted every delivery.
    pub delivery_elapsed: Duration,
    pub delivered: u64,
    pub failed: u64,
    /// Paced pushes: the pace, the 202 latencies, and push → target-ack latencies.
    pub paced_rate: f64,
    /// Whether `--latency-rate` set the pace (otherwise half the measured deliveries/s).
    pub paced_rate_given: bool,
    pub paced_accepts: Measured,
    /// The most deliveries the latency target had pending at one sample (every 50 ms) of the
    /// measured paced window, and at its end.
    pub paced_backlog_max: u64,
    pub paced_backlog_end: u64,
    /// CPU microseconds per event (idrelay, this process — load generator and, for `sink`, the
    /// target): in the throughput phase (per delivered event, pushes included) and in the
    /// measured paced window.
    pub throughput_cpu_us: Option<(f64, f64)>,
    pub paced_cpu_us: Option<(f64, f64)>,
    pub ack_latencies_us: Vec<u32>,
    pub missing_acks: usize,
    /// Direct `POST /Users` to the target at the paced rate, after the latency phase: the
    /// target's own latency at that rate on this machine at that time (the floor under the
    /// push → target ack figure, which adds idrelay and, for scim2-server, the proxy hop).
    pub target_paced: Measured,
    /// Problems: body mismatch, failed deliveries, refused pushes.
    pub problems: Vec<String>,
    pub perf: Option<String>,
}

impl Results {
    fn delivery_rate(&self) -> f64 {
        let s = self.delivery_elapsed.as_secs_f64();
        if s > 0.0 {
            self.delivered as f64 / s
        } else {
            0.0
        }
    }

    fn ratio(&self) -> f64 {
        let c = self.ceiling.rate();
        if c > 0.0 {
            self.delivery_rate() / c
        } else {
            0.0
        }
    }

    fn ack_quantile(&self, q: f64) -> Option<Duration> {
        load::quantile_us(&self.ack_latencies_us, q).map(|us| Duration::from_micros(u64::from(us)))
    }
}

pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn run(args: &Args) -> anyhow::Result<Results> {
    let mut results = Results {
        target: args.target.name(),
        events: args.events,
        clients: args.clients,
        concurrency: args.concurrency,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_before: load_average(),
        ..Results::default()
    };
    let binary = process::idrelay_binary(args.idrelay.as_deref())?;
    if !args.no_build && args.idrelay.is_none() {
        process::build_sibling_idrelay(&binary)?;
    }
    let mut scratch = ScratchDir::create()?;
    scratch.keep = args.keep_data;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let scim2_binary = scim2_server_binary(args.scim2_server.as_deref());

    // 1. The target's ceiling.
    let sink = Recorder::default();
    let sink_url = match args.target {
        TargetKind::Sink => Some(sink.serve().await?),
        TargetKind::Scim2Server => None,
    };
    {
        let (_guard, base) = match (&sink_url, args.target) {
            (Some(url), _) => (None, url.clone()),
            (None, _) => {
                let (guard, base) = start_scim2_server(
                    &scim2_binary,
                    &token,
                    &scratch.path.join("scim2-server-ceiling.log"),
                )
                .await?;
                (Some(guard), base)
            }
        };
        eprintln!(
            "ceiling: {} POST /Users straight to {} ({} clients)",
            args.events,
            args.target.name(),
            args.concurrency
        );
        let clients = load::clients(args.concurrency)?;
        let auth: Arc<str> = format!("Bearer {token}").into();
        let url: Arc<str> = format!("{base}/Users").into();
        let make = |prefix: &'static str| -> MakeRequest {
            let (auth, url) = (auth.clone(), url.clone());
            Arc::new(move |c: &Client, i| {
                c.post(&*url)
                    .header("authorization", &*auth)
                    .header("content-type", SCIM_JSON)
                    .body(target_user(&user_name(prefix, i)).to_string())
            })
        };
        closed_loop(
            &clients,
            WARMUP_EVENTS,
            StatusCode::CREATED,
            make("ceiling-warm"),
        )
        .await?;
        results.ceiling =
            closed_loop(&clients, args.events, StatusCode::CREATED, make("ceiling")).await?;
        eprintln!("  ceiling: {:.0} creates/s", results.ceiling.rate());
    }

    // 2. idrelay and its target(s).
    let (_scim2, throughput_url, latency_recorder, latency_url) = match &sink_url {
        Some(url) => (None, url.clone(), sink.clone(), url.clone()),
        None => {
            let (guard, base) = start_scim2_server(
                &scim2_binary,
                &token,
                &scratch.path.join("scim2-server.log"),
            )
            .await?;
            let proxy = Recorder::proxy(base.clone())?;
            let proxy_url = proxy.serve().await?;
            (Some(guard), base, proxy, proxy_url)
        }
    };
    let config_dir = scratch.path.join("config");
    let data_dir = scratch.path.join("data");
    std::fs::create_dir_all(&config_dir)?;
    std::fs::create_dir_all(&data_dir)?;
    std::fs::write(
        config_dir.join("acme.yaml"),
        config_documents(
            &secret,
            &token,
            &throughput_url,
            &latency_url,
            args.concurrency,
        ),
    )?;
    let mut idrelay = process::start_idrelay(
        &binary,
        &config_dir,
        &data_dir,
        &scratch.path.join("idrelay.log"),
    )
    .await?;
    let origin = idrelay
        .scim_base
        .strip_suffix(&format!("/tenants/{}/scim", process::TENANT))
        .context("unexpected idrelay base URL")?
        .to_owned();
    eprintln!(
        "idrelay started (pid {}, scratch {})",
        idrelay.process.pid(),
        scratch.path.display()
    );
    let store = idrelay::store::Store::open(&data_dir).await?;
    let counters = |name: &str| Counters {
        store: store.clone(),
        target_id: idrelay::reconcile::identity::derived_target_system_id("default", name),
    };
    let throughput = counters(TARGET_THROUGHPUT);
    let latency = counters(TARGET_LATENCY);
    let auth: Arc<str> = process_basic_auth(&secret).into();
    let push_clients = load::clients(args.clients)?;

    // Warm-up through both pairs (connections, token, code paths); check the written body.
    for (source, prefix, phase, pair) in [
        (SOURCE_THROUGHPUT, "warm", 1u8, &throughput),
        (SOURCE_LATENCY, "warm-lat", 2u8, &latency),
    ] {
        let url: Arc<str> = push_url(&origin, source).into();
        let a = auth.clone();
        let make: MakeRequest =
            Arc::new(move |c: &Client, i| push_request(c, &url, &a, phase, prefix, i));
        let m = closed_loop(&push_clients, WARMUP_EVENTS, StatusCode::ACCEPTED, make).await?;
        if m.errors > 0 {
            bail!(
                "warm-up pushes refused: {}",
                m.first_error.unwrap_or_default()
            );
        }
        pair.wait_done(WARMUP_EVENTS as u64, Duration::from_secs(120))
            .await?;
    }
    idrelay.process.ensure_running()?;
    match latency_recorder.sample() {
        Some(sample) => {
            let name = sample
                .get("userName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let expected = target_user(name);
            if sample != expected {
                results.problems.push(format!(
                    "idrelay wrote {sample} but the ceiling sends {expected}"
                ));
            }
        }
        None => results
            .problems
            .push("the target saw no create during the warm-up".into()),
    }
    let (_, base_delivered, base_failed) = throughput.get().await?;
    if base_failed > 0 {
        results
            .problems
            .push(format!("{base_failed} warm-up deliveries failed"));
    }

    // 3. Throughput: pushes and deliveries at once.
    eprintln!(
        "throughput: {} pushes ({} clients) → idrelay → {} (ips.max.concurrency {})",
        args.events,
        args.clients,
        args.target.name(),
        args.concurrency
    );
    let perf = match &args.perf {
        Some(path) => Some(start_perf(idrelay.process.pid(), path, args.perf_seconds)?),
        None => None,
    };
    let cpu_before = process::cpu_sample(idrelay.process.pid());
    let start = Instant::now();
    let done_target = base_delivered + base_failed + args.events as u64;
    let timeout = Duration::from_secs(120 + args.events as u64 / 20);
    let waiter = async { throughput.wait_done(done_target, timeout).await };
    let url: Arc<str> = push_url(&origin, SOURCE_THROUGHPUT).into();
    let a = auth.clone();
    let make: MakeRequest = Arc::new(move |c: &Client, i| push_request(c, &url, &a, 3, "user", i));
    let pushes = closed_loop(&push_clients, args.events, StatusCode::ACCEPTED, make);
    let (accepts, done_at) = tokio::join!(pushes, waiter);
    results.accepts = accepts?;
    let done_at = match done_at {
        Ok(at) => at,
        Err(e) if results.accepts.errors > 0 => {
            results.problems.push(format!("{e}"));
            Instant::now()
        }
        Err(e) => return Err(e),
    };
    results.delivery_elapsed = done_at - start;
    let (_, delivered, failed) = throughput.get().await?;
    results.delivered = delivered - base_delivered;
    results.throughput_cpu_us = process::per_request_us(
        cpu_before,
        process::cpu_sample(idrelay.process.pid()),
        results.delivered,
    );
    results.failed = failed - base_failed;
    if results.failed > 0 {
        results
            .problems
            .push(format!("{} deliveries failed", results.failed));
    }
    if let Some(e) = &results.accepts.first_error {
        results.problems.push(format!(
            "{} pushes refused, first: {e}",
            results.accepts.errors
        ));
    }
    if let Some(child) = perf {
        results.perf = Some(finish_perf(child, args.perf.as_deref())?);
    }
    eprintln!(
        "  {:.0} pushes/s accepted, {:.0} deliveries/s end to end",
        results.accepts.rate(),
        results.delivery_rate()
    );
    idrelay.process.ensure_running()?;

    // 4. Latency at half the sustainable rate (open loop).
    let rate = args
        .latency_rate
        .unwrap_or(results.delivery_rate() * 0.5)
        .max(1.0);
    results.paced_rate = rate;
    results.paced_rate_given = args.latency_rate.is_some();
    let count = ((rate * args.latency_seconds as f64) as usize).max(1);
    let warmup = (rate * args.latency_warmup_seconds as f64) as usize;
    eprintln!(
        "latency: {count} pushes paced at {rate:.0}/s for {} s, after {warmup} in {} s of warm-up",
        args.latency_seconds, args.latency_warmup_seconds
    );
    let (base_lat_delivered, base_lat_failed) = {
        let (_, d, f) = latency.get().await?;
        (d, f)
    };
    let paced_client = Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let url: Arc<str> = push_url(&origin, SOURCE_LATENCY).into();
    // One paced stream: pushes 0..warmup warm up, warmup..warmup+count are measured. Beside
    // it, the latency target's backlog is sampled through the measured window.
    let pid = idrelay.process.pid();
    let measuring = AtomicBool::new(false);
    let pacing_done = AtomicBool::new(false);
    let pacing = async {
        let t0 = tokio::time::Instant::now();
        let mut tasks = Vec::with_capacity(warmup + count);
        let mut cpu_from = None;
        for i in 0..warmup + count {
            tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / rate)).await;
            if i == warmup {
                cpu_from = process::cpu_sample(pid);
                measuring.store(true, Ordering::Relaxed);
            }
            let request = push_request(&paced_client, &url, &auth, 4, "lat", i);
            tasks.push(tokio::spawn(async move {
                let sent = Instant::now();
                let answer = exchange(request, StatusCode::ACCEPTED).await;
                (sent, sent.elapsed(), answer)
            }));
        }
        pacing_done.store(true, Ordering::Relaxed);
        (tasks, cpu_from)
    };
    let sampling = async {
        let mut max = 0;
        let mut last = 0;
        while !pacing_done.load(Ordering::Relaxed) {
            if measuring.load(Ordering::Relaxed) {
                let (pending, _, _) = latency.get().await?;
                max = max.max(pending);
                last = pending;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::Ok((max, last))
    };
    let ((tasks, cpu_from), backlog) = tokio::join!(pacing, sampling);
    (results.paced_backlog_max, results.paced_backlog_end) = backlog?;
    let mut sent_at = Vec::with_capacity(warmup + count);
    let mut paced = Measured::default();
    let mut warmup_accepted = 0;
    let mut measured_from = None;
    for (i, task) in tasks.into_iter().enumerate() {
        let (sent, took, answer) = task.await.context("paced push panicked")?;
        if i >= warmup {
            measured_from.get_or_insert(sent);
        }
        match answer {
            // Warm-up pushes must still be accepted and delivered; only their timing is not kept.
            Ok(()) if i < warmup => warmup_accepted += 1,
            Ok(()) => {
                paced.ok += 1;
                paced.latencies_us.push(micros(took));
            }
            Err(e) => {
                paced.errors += 1;
                paced.first_error.get_or_insert(e);
            }
        }
        sent_at.push(sent);
    }
    paced.elapsed = measured_from.map_or(Duration::ZERO, |from| from.elapsed());
    paced.latencies_us.sort_unstable();
    let lat_done = base_lat_delivered + base_lat_failed + warmup_accepted + paced.ok;
    if let Err(e) = latency.wait_done(lat_done, Duration::from_secs(60)).await {
        results.problems.push(format!("latency phase: {e}"));
    }
    results.paced_cpu_us = process::per_request_us(cpu_from, process::cpu_sample(pid), paced.ok);
    let mut acks = Vec::with_capacity(count);
    for (i, sent) in sent_at.iter().enumerate() {
        match latency_recorder.ack(&user_name("lat", i)) {
            Some(_) if i < warmup => {}
            Some(at) => acks.push(micros(at.saturating_duration_since(*sent))),
            None => results.missing_acks += 1,
        }
    }
    acks.sort_unstable();
    results.ack_latencies_us = acks;
    if results.missing_acks > 0 {
        results.problems.push(format!(
            "{} paced pushes never reached the target",
            results.missing_acks
        ));
    }
    if let Some(e) = &paced.first_error {
        results
            .problems
            .push(format!("{} paced pushes refused, first: {e}", paced.errors));
    }
    results.paced_accepts = paced;

    // 5. The target's own latency at the same pace (same machine, same minute).
    let clients = load::clients(args.concurrency)?;
    let auth: Arc<str> = format!("Bearer {token}").into();
    let url: Arc<str> = format!("{throughput_url}/Users").into();
    let make: load::MakeRequest = Arc::new(move |c: &Client, worker, seq| {
        let index = worker * 1_000_000 + seq as usize;
        c.post(&*url)
            .header("authorization", &*auth)
            .header("content-type", SCIM_JSON)
            .body(target_user(&user_name("direct", index)).to_string())
    });
    results.target_paced = load::run_paced(
        &clients,
        Duration::from_secs(args.latency_seconds),
        rate,
        StatusCode::CREATED,
        make,
    )
    .await?;
    if let Some(e) = &results.target_paced.first_error {
        results.problems.push(format!(
            "{} direct paced creates refused by the target, first: {e}",
            results.target_paced.errors
        ));
    }
    idrelay.process.ensure_running()?;
    results.load_after = load_average();
    Ok(results)
}

fn process_basic_auth(secret: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{secret}"));
    format!("Basic {token}")
}

/// Starts `perf record -g -p PID -o FILE -- sleep SECONDS`.
pub(super) fn start_perf(pid: u32, path: &Path, seconds: u64) -> anyhow::Result<Guard> {
    eprintln!(
        "perf: recording idrelay (pid {pid}) for {seconds} s into {}",
        path.display()
    );
    let child = Command::new("perf")
        .args(["record", "-g", "-p", &pid.to_string(), "-o"])
        .arg(path)
        .args(["--", "sleep", &seconds.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning perf (is it installed?)")?;
    Ok(Guard(child))
}

/// Waits for perf and returns the top self-time symbols (`perf report --no-children`).
pub(super) fn finish_perf(mut guard: Guard, path: Option<&Path>) -> anyhow::Result<String> {
    let status = guard.0.wait().context("waiting for perf")?;
    let Some(path) = path else {
        return Ok(String::new());
    };
    if !status.success() {
        return Ok(format!("perf record failed ({status})"));
    }
    let output = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "-g",
            "none",
            "--percent-limit",
            "1",
            "--sort",
            "dso,symbol",
            "-i",
        ])
        .arg(path)
        .stderr(Stdio::null())
        .output()
        .context("running perf report")?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        // perf pads the symbol column and appends empty columns ("-      -").
        .map(|l| l.trim_end_matches([' ', '-']))
        .take(30)
        .collect::<Vec<_>>()
        .join("\n"))
}

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

/// One goal and whether this run met it (`None`: not applicable to this target).
pub(super) struct Goal {
    pub(super) name: &'static str,
    pub(super) measured: String,
    pub(super) pass: Option<bool>,
}

pub(super) fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".into(),
        |d| format!("{:.2} ms", d.as_secs_f64() * 1e3),
    )
}

fn goals(r: &Results) -> Vec<Goal> {
    let p99 = r.ack_quantile(0.99);
    vec![
        Goal {
            name: "deliveries >= 80 % of the target's ceiling",
            measured: format!("{:.1} %", r.ratio() * 100.0),
            pass: (r.target == TargetKind::Scim2Server.name()).then(|| r.ratio() >= GOAL_RATIO),
        },
        Goal {
            name: "accept -> target ack p99 < 20 ms",
            measured: ms(p99),
            pass: Some(p99.is_some_and(|p| p < GOAL_P99) && r.missing_acks == 0),
        },
        Goal {
            name: "every event delivered, nothing failed",
            measured: format!("{} problems", r.problems.len()),
            pass: Some(r.problems.is_empty()),
        },
    ]
}

pub(super) fn row(out: &mut String, name: &str, m: &Measured, rate: f64) {
    let _ = writeln!(
        out,
        "{:<44} {:>8} {:>6} {:>10.0} {:>11} {:>11}",
        name,
        m.ok,
        m.errors,
        rate,
        ms(m.quantile(0.50)),
        ms(m.quantile(0.99)),
    );
}

fn table(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nidrelay provisioning benchmark: target {}, {} events, {} real-time API clients, concurrency {} \
         (ips.max.concurrency and the direct load generator), {} cores, load {} before / {} after",
        r.target, r.events, r.clients, r.concurrency, r.cores, r.load_before, r.load_after
    );
    let _ = writeln!(
        out,
        "\n{:<44} {:>8} {:>6} {:>10} {:>11} {:>11}",
        "phase", "count", "errors", "rate/s", "p50", "p99"
    );
    row(
        &mut out,
        "target ceiling (direct POST /Users)",
        &r.ceiling,
        r.ceiling.rate(),
    );
    row(
        &mut out,
        "real-time API pushes accepted (202)",
        &r.accepts,
        r.accepts.rate(),
    );
    let delivered = Measured {
        ok: r.delivered,
        errors: r.failed,
        elapsed: r.delivery_elapsed,
        ..Measured::default()
    };
    row(
        &mut out,
        "end-to-end deliveries (push -> delivered)",
        &delivered,
        r.delivery_rate(),
    );
    row(
        &mut out,
        &format!("paced pushes @ {:.0}/s (202 latency)", r.paced_rate),
        &r.paced_accepts,
        r.paced_accepts.rate(),
    );
    let acks = Measured {
        ok: r.ack_latencies_us.len() as u64,
        errors: r.missing_acks as u64,
        elapsed: r.paced_accepts.elapsed,
        latencies_us: r.ack_latencies_us.clone(),
        ..Measured::default()
    };
    row(
        &mut out,
        &format!("  push -> target ack @ {:.0}/s", r.paced_rate),
        &acks,
        acks.rate(),
    );
    row(
        &mut out,
        &format!("  target alone, direct @ {:.0}/s", r.paced_rate),
        &r.target_paced,
        r.target_paced.rate(),
    );
    let _ = writeln!(
        out,
        "\npaced at {:.0}/s ({}); latency target's backlog in the measured window: max {}, at its end {}",
        r.paced_rate,
        if r.paced_rate_given {
            "set by --latency-rate, not the goal's pace"
        } else {
            "half the deliveries/s"
        },
        r.paced_backlog_max,
        r.paced_backlog_end
    );
    for (phase, cpu) in [
        ("throughput phase, per delivered event", r.throughput_cpu_us),
        ("measured paced window, per push", r.paced_cpu_us),
    ] {
        if let Some((idrelay, bench)) = cpu {
            let _ = writeln!(
                out,
                "CPU time, {phase}: idrelay {idrelay:.1} µs, this process (load generator{}) {bench:.1} µs",
                if r.target == TargetKind::Sink.name() {
                    ", sink"
                } else {
                    ""
                }
            );
        }
    }
    let _ = writeln!(
        out,
        "\ndeliveries / target ceiling: {:.1} %{}",
        r.ratio() * 100.0,
        if r.target == TargetKind::Sink.name() {
            " (the sink's ceiling is far above idrelay: this is idrelay's own ceiling)"
        } else {
            ""
        }
    );
    write_outcome(
        &mut out,
        "issue 4",
        &r.problems,
        &goals(r),
        r.perf.as_deref(),
    );
    out
}

/// The end of a report: the problems, each goal with its verdict, and the perf profile.
pub(super) fn write_outcome(
    out: &mut String,
    issue: &str,
    problems: &[String],
    goals: &[Goal],
    perf: Option<&str>,
) {
    for p in problems {
        let _ = writeln!(out, "  problem: {p}");
    }
    let _ = writeln!(
        out,
        "\n{:<44} {:>12}  result",
        format!("goal ({issue})"),
        "measured"
    );
    for g in goals {
        let result = match g.pass {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "n/a (scim2-server run only)",
        };
        let _ = writeln!(out, "{:<44} {:>12}  {result}", g.name, g.measured);
    }
    if let Some(perf) = perf {
        let _ = writeln!(out, "\nperf (idrelay, self time, top symbols):\n{perf}");
    }
}

pub(super) fn phase_json(m: &Measured, rate: f64) -> Value {
    let us = |q| m.quantile(q).map(|d| d.as_micros() as u64);
    json!({
        "count": m.ok, "errors": m.errors, "first_error": m.first_error,
        "seconds": m.elapsed.as_secs_f64(), "rate_per_s": rate,
        "p50_us": us(0.50), "p99_us": us(0.99), "max_us": us(1.0),
    })
}

fn to_json(r: &Results) -> Value {
    let ack = |q| load::quantile_us(&r.ack_latencies_us, q);
    json!({
        "scenario": "provisioning",
        "target": r.target,
        "events": r.events,
        "clients": r.clients,
        "concurrency": r.concurrency,
        "cores": r.cores,
        "load_before": r.load_before,
        "load_after": r.load_after,
        "ceiling": phase_json(&r.ceiling, r.ceiling.rate()),
        "accepts": phase_json(&r.accepts, r.accepts.rate()),
        "deliveries": {"delivered": r.delivered, "failed": r.failed,
                        "seconds": r.delivery_elapsed.as_secs_f64(), "rate_per_s": r.delivery_rate()},
        "ratio_to_ceiling": r.ratio(),
        "throughput_cpu_us_per_event": r.throughput_cpu_us.map(|(i, b)| json!({"idrelay": i, "bench": b})),
        "latency": {"paced_rate_per_s": r.paced_rate, "paced_rate_given": r.paced_rate_given,
                    "backlog_max": r.paced_backlog_max, "backlog_end": r.paced_backlog_end,
                    "cpu_us_per_push": r.paced_cpu_us.map(|(i, b)| json!({"idrelay": i, "bench": b})),
                    "accept": phase_json(&r.paced_accepts, r.paced_accepts.rate()),
                    "ack_p50_us": ack(0.50), "ack_p90_us": ack(0.90), "ack_p99_us": ack(0.99), "ack_max_us": ack(1.0),
                    "acks": r.ack_latencies_us.len(), "missing_acks": r.missing_acks,
                    "target_direct": phase_json(&r.target_paced, r.target_paced.rate())},
        "problems": r.problems,
        "perf_top": r.perf,
        "goals": goals(r).iter().map(|g| json!({"goal": g.name, "measured": g.measured, "pass": g.pass})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ids_are_v2_uuids_and_distinct_per_phase() {
        let a = source_id(3, 42);
        assert!(uuid::Uuid::parse_str(&a).is_ok(), "{a}");
        assert_ne!(a, source_id(4, 42));
        assert_ne!(a, source_id(3, 43));
    }

    #[test]
    fn config_parses_as_yaml_and_names_the_pairs() {
        let text = config_documents("s", "t", "http://a", "http://b", 8);
        let docs: Vec<&str> = text.split("\n---\n").collect();
        assert_eq!(docs.len(), 7);
        for doc in docs {
            let v: Value = serde_json::from_str(doc).unwrap();
            assert!(v["kind"].is_string());
        }
        assert!(text.contains(SOURCE_LATENCY) && text.contains("http://b"));
        assert!(text.contains("\"realTimeRateLimit\":1000000"));
    }

    #[test]
    fn the_transformation_parses() {
        idrelay::provisioning::transform::Transformation::parse(TARGET_TRANSFORMATION).unwrap();
    }

    #[test]
    fn goals_miss_below_the_thresholds() {
        let mut r = Results {
            target: "scim2-server",
            ceiling: Measured {
                ok: 1000,
                elapsed: Duration::from_secs(1),
                ..Measured::default()
            },
            delivered: 800,
            delivery_elapsed: Duration::from_secs(1),
            ack_latencies_us: vec![1000, 19_999],
            ..Results::default()
        };
        assert!(goals(&r).iter().all(|g| g.pass == Some(true)));
        r.delivered = 799;
        r.ack_latencies_us = vec![1000, 20_000];
        assert_eq!(goals(&r)[0].pass, Some(false));
        assert_eq!(goals(&r)[1].pass, Some(false));
        r.target = "sink";
        assert_eq!(goals(&r)[0].pass, None);
    }
}
