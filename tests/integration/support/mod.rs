//! Shared helpers of the integration tests (`crate::support`, used by every test module).
//!
//! Owns: writing a config directory for `idrelay serve`, spawning the idrelay binary and
//! the reference `scim2-server` on free loopback ports, locating the Python virtualenv
//! that `scripts/test.sh` creates, and a small SCIM HTTP client.
//!
//! Invariants:
//! - Every spawned process is killed when its handle is dropped, so a failing test never
//!   leaves a server behind; its stdout and stderr go to a log file that failures print.
//! - A missing virtualenv is a test FAILURE that says how to create it, never a skip.
//! - Tests only talk to 127.0.0.1.

use std::fmt::Write as _;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;

/// How long a spawned server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The SCIM media type (RFC 7644 §8.1).
pub const SCIM_JSON: &str = "application/scim+json";

// ---------------------------------------------------------------------------------------
// (a) Config directory
// ---------------------------------------------------------------------------------------

/// The credentials of the technical admin written for one tenant.
#[derive(Clone, Debug)]
pub struct AdminCredentials {
    pub tenant: String,
    pub client_id: String,
    pub secret: String,
}

impl AdminCredentials {
    /// `Authorization: Basic …` value for this admin.
    pub fn basic_auth(&self) -> String {
        use base64::Engine as _;
        let raw = format!("{}:{}", self.client_id, self.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A config directory for `idrelay serve --config`, in its own temporary directory.
pub struct TestConfig {
    pub dir: TempDir,
    pub admins: Vec<AdminCredentials>,
}

impl TestConfig {
    /// One tenant per name, each with one technical admin holding `permissions`.
    pub fn new(tenants: &[&str], permissions: &[&str]) -> TestConfig {
        let dir = tempfile::Builder::new()
            .prefix("idrelay-config-")
            .tempdir()
            .unwrap();
        let admins = write_config(dir.path(), tenants, permissions);
        TestConfig { dir, admins }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn admin(&self, tenant: &str) -> &AdminCredentials {
        self.admins
            .iter()
            .find(|a| a.tenant == tenant)
            .unwrap_or_else(|| panic!("no admin written for tenant {tenant}"))
    }
}

/// The client id given to the admin of the `index`-th tenant (stable, so tests can name it).
pub fn admin_client_id(index: usize) -> String {
    format!("6f1d3c2a-0000-4000-8000-{:012}", index + 1)
}

/// Writes one YAML file per tenant into `dir` (see [`tenant_yaml`]), every admin with
/// `permissions`.
pub fn write_config(dir: &Path, tenants: &[&str], permissions: &[&str]) -> Vec<AdminCredentials> {
    let permissions = permissions.join(", ");
    let mut admins = Vec::new();
    for (index, tenant) in tenants.iter().enumerate() {
        let (yaml, admin) = tenant_yaml(tenant, index, &permissions, "", "");
        std::fs::write(dir.join(format!("{tenant}.yaml")), yaml).unwrap();
        admins.push(admin);
    }
    admins
}

/// One tenant's documents: the `Tenant` (its spec extended by `tenant_spec`, e.g.
/// `", hosts: [a.test]"`), a `v1/Secret` with the admin secret (its data extended by
/// `secret_data`), and a `TechnicalAdmin` with the fixed client id of `index` and
/// `permissions` (comma separated).
pub fn tenant_yaml(
    tenant: &str,
    index: usize,
    permissions: &str,
    tenant_spec: &str,
    secret_data: &str,
) -> (String, AdminCredentials) {
    let client_id = admin_client_id(index);
    let secret = format!("s3cr3t-{tenant}-value-0123456789");
    let yaml = format!(
        "\
apiVersion: idrelay.dev/v1alpha1
kind: Tenant
metadata: {{name: {tenant}}}
spec: {{displayName: {tenant} test tenant{tenant_spec}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: {tenant}-admin-secret}}
stringData: {{secret: \"{secret}\"{secret_data}}}
---
apiVersion: idrelay.dev/v1alpha1
kind: TechnicalAdmin
metadata: {{name: {tenant}-admin}}
spec:
  tenantRef: {{name: {tenant}}}
  displayName: {tenant} provisioning admin
  clientId: {client_id}
  permissions: [{permissions}]
  secrets: [{{secretRef: {{name: {tenant}-admin-secret, key: secret}}}}]
"
    );
    let admin = AdminCredentials {
        tenant: tenant.to_string(),
        client_id,
        secret,
    };
    (yaml, admin)
}

/// The permissions a provisioning admin normally holds.
pub const ALL_DIRECTORY_PERMISSIONS: &[&str] = &[
    "ManageUsers",
    "ReadUsers",
    "ManageGroups",
    "AccessRealTimeProvisioningAPI",
];

// ---------------------------------------------------------------------------------------
// Ports and processes
// ---------------------------------------------------------------------------------------

/// A loopback port that was free a moment ago.
///
/// Tests of one binary run in parallel and each port is released before the server binds it, so
/// the OS may hand the same port to two callers; a port is therefore given out at most once per
/// test process (two servers sharing a port would answer each other's requests).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A child process killed (SIGKILL) and reaped on drop, with its output in a log file.
pub struct ChildGuard {
    pub name: String,
    child: Option<Child>,
    pub log_path: PathBuf,
}

impl ChildGuard {
    /// Spawns `command` with stdout and stderr appended to `log_path`.
    pub fn spawn(name: &str, mut command: Command, log_path: PathBuf) -> ChildGuard {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {name} ({command:?}): {e}"));
        ChildGuard {
            name: name.to_string(),
            child: Some(child),
            log_path,
        }
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Panics with the log when the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!(
                "{} exited early with {status}; its log:\n{}",
                self.name,
                self.log()
            );
        }
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `url` until it answers `expected` (with an optional Authorization header).
async fn wait_until_status(
    guard: &mut ChildGuard,
    client: &reqwest::Client,
    url: &str,
    authorization: Option<&str>,
    expected: StatusCode,
) {
    let started = Instant::now();
    loop {
        guard.assert_running();
        let mut request = client.get(url).timeout(Duration::from_secs(2));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        if let Ok(response) = request.send().await
            && response.status() == expected
        {
            return;
        }
        if started.elapsed() > READY_TIMEOUT {
            panic!(
                "{} not ready after {READY_TIMEOUT:?} ({url} did not answer {expected}); its log:\n{}",
                guard.name,
                guard.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// (b) idrelay
// ---------------------------------------------------------------------------------------

/// A running `idrelay serve` on loopback, killed on drop.
pub struct Idrelay {
    pub process: ChildGuard,
    pub config: TestConfig,
    /// Holds the data dir (unless given) and the log file.
    pub work: TempDir,
    pub data_dir: PathBuf,
    pub port: u16,
    pub admin_port: u16,
    pub plain_http: bool,
}

impl Idrelay {
    /// Starts idrelay over HTTPS (self-signed certificate) with one admin per tenant.
    pub async fn start(tenants: &[&str], permissions: &[&str]) -> Idrelay {
        Idrelay::start_with(TestConfig::new(tenants, permissions), None, false).await
    }

    /// Starts idrelay with `config`, a data dir (a fresh temporary one when `None`) and
    /// HTTPS unless `plain_http`; returns once `/readyz` answers 200.
    pub async fn start_with(
        config: TestConfig,
        data_dir: Option<PathBuf>,
        plain_http: bool,
    ) -> Idrelay {
        let work = tempfile::Builder::new()
            .prefix("idrelay-run-")
            .tempdir()
            .unwrap();
        let data_dir = data_dir.unwrap_or_else(|| {
            let d = work.path().join("data");
            std::fs::create_dir_all(&d).unwrap();
            d
        });
        let port = free_port();
        let admin_port = free_port();
        let process = spawn_idrelay(
            config.path(),
            &data_dir,
            port,
            admin_port,
            plain_http,
            work.path().join("idrelay.log"),
        );
        let mut server = Idrelay {
            process,
            config,
            work,
            data_dir,
            port,
            admin_port,
            plain_http,
        };
        server.wait_ready().await;
        server
    }

    /// Kills the process (SIGKILL) and starts it again on the same ports, config and data.
    pub async fn restart(&mut self) {
        self.process.kill();
        self.process = spawn_idrelay(
            self.config.path(),
            &self.data_dir,
            self.port,
            self.admin_port,
            self.plain_http,
            self.work.path().join("idrelay.log"),
        );
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let url = format!("{}/readyz", self.admin_url());
        wait_until_status(
            &mut self.process,
            &http_client(),
            &url,
            None,
            StatusCode::OK,
        )
        .await;
    }

    pub fn scheme(&self) -> &'static str {
        if self.plain_http { "http" } else { "https" }
    }

    /// `scheme://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.port)
    }

    /// `http://127.0.0.1:ADMIN_PORT`
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// The admin port's `GET /status` (every resource with its status), as JSON; `Err` when
    /// the answer is not JSON.
    pub async fn status(&self) -> reqwest::Result<Value> {
        http_client()
            .get(format!("{}/status", self.admin_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
    }

    /// The tenant's SCIM base, `…/tenants/{tenant}/scim`.
    pub fn scim_url(&self, tenant: &str) -> String {
        format!("{}/tenants/{tenant}/scim", self.base_url())
    }

    pub fn admin(&self, tenant: &str) -> &AdminCredentials {
        self.config.admin(tenant)
    }

    /// A bearer token from `POST /tenants/{tenant}/oauth2/token` (client credentials, Basic).
    pub async fn token(&self, tenant: &str) -> String {
        let admin = self.admin(tenant);
        let url = format!("{}/tenants/{tenant}/oauth2/token", self.base_url());
        let response = http_client()
            .post(&url)
            .header("Authorization", admin.basic_auth())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}\nserver log:\n{}", self.log()));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(
            status,
            StatusCode::OK,
            "token request failed: {body}\nserver log:\n{}",
            self.log()
        );
        let json: Value = serde_json::from_str(&body).unwrap();
        json["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {body}"))
            .to_string()
    }

    /// A SCIM client for the tenant, authenticated with a bearer token.
    pub async fn scim(&self, tenant: &str) -> Scim {
        let token = self.token(tenant).await;
        Scim::new(self.scim_url(tenant), format!("Bearer {token}"))
    }

    /// A SCIM client for the tenant, authenticated with Basic client id : secret.
    pub fn scim_basic(&self, tenant: &str) -> Scim {
        Scim::new(self.scim_url(tenant), self.admin(tenant).basic_auth())
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

fn spawn_idrelay(
    config: &Path,
    data_dir: &Path,
    port: u16,
    admin_port: u16,
    plain_http: bool,
    log_path: PathBuf,
) -> ChildGuard {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idrelay"));
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--admin-listen")
        .arg(format!("127.0.0.1:{admin_port}"));
    if plain_http {
        command.arg("--plain-http");
    }
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    ChildGuard::spawn("idrelay", command, log_path)
}

// ---------------------------------------------------------------------------------------
// (c) The Python virtualenv
// ---------------------------------------------------------------------------------------

/// The virtualenv with the pinned SCIM tools: `$IDRELAY_VENV`, else `<repo>/.venv`.
/// Panics (fails the test) when it or `tool` is missing.
pub fn venv_tool(tool: &str) -> PathBuf {
    let venv = std::env::var_os("IDRELAY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    let path = venv.join("bin").join(tool);
    assert!(
        path.is_file(),
        "{} not found: run scripts/test.sh (creates .venv with the pinned SCIM tools)",
        path.display()
    );
    path
}

// ---------------------------------------------------------------------------------------
// (d) scim2-server, the reference server
// ---------------------------------------------------------------------------------------

/// A running `scim2-server` (in-memory reference server) on loopback, killed on drop.
pub struct Scim2Server {
    pub process: ChildGuard,
    _work: TempDir,
    pub port: u16,
    pub bearer_token: String,
}

impl Scim2Server {
    pub async fn start(bearer_token: &str) -> Scim2Server {
        let work = tempfile::Builder::new()
            .prefix("scim2-server-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let mut command = Command::new(venv_tool("scim2-server"));
        command
            .arg("--port")
            .arg(port.to_string())
            .arg("--bearer-token")
            .arg(bearer_token);
        let mut process = ChildGuard::spawn(
            "scim2-server",
            command,
            work.path().join("scim2-server.log"),
        );
        let url = format!("http://127.0.0.1:{port}/ServiceProviderConfig");
        let auth = format!("Bearer {bearer_token}");
        wait_until_status(
            &mut process,
            &http_client(),
            &url,
            Some(&auth),
            StatusCode::OK,
        )
        .await;
        Scim2Server {
            process,
            _work: work,
            port,
            bearer_token: bearer_token.to_string(),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn scim(&self) -> Scim {
        Scim::new(self.base_url(), format!("Bearer {}", self.bearer_token))
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

// ---------------------------------------------------------------------------------------
// (e) HTTP
// ---------------------------------------------------------------------------------------

/// A reqwest client for loopback tests: rustls with ring, the self-signed certificate of
/// the test server accepted, no proxy.
pub fn http_client() -> reqwest::Client {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // Another crate in the process may have installed one already; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Characters percent-encoded in a query value: all but RFC 3986 unreserved ones.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A query value percent-encoded (everything but RFC 3986 unreserved characters).
pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// `path?k=v&…` with the values percent-encoded (spaces as `%20`, as Entra sends them).
pub fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let mut out = path.to_string();
    for (i, (key, value)) in params.iter().enumerate() {
        out.push(if i == 0 && !path.contains('?') {
            '?'
        } else {
            '&'
        });
        write!(out, "{key}={}", utf8_percent_encode(value, QUERY_VALUE)).unwrap();
    }
    out
}

/// One HTTP exchange with a SCIM server.
#[derive(Debug)]
pub struct Reply {
    pub method: Method,
    pub url: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as JSON (`Value::Null` when empty, a JSON string when not JSON).
    pub body: Value,
    pub text: String,
    pub elapsed: Duration,
}

impl Reply {
    /// A one-line description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {} -> {} {}",
            self.method, self.url, self.status, self.text
        )
    }

    /// The `Content-Type` header, if any.
    pub fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Panics with the exchange unless the status is `expected`.
    #[track_caller]
    pub fn expect(&self, expected: u16) -> &Reply {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "unexpected status: {}",
            self.describe()
        );
        self
    }

    /// The `id` of the returned resource.
    #[track_caller]
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.describe()))
            .to_string()
    }
}

/// A SCIM endpoint (base URL without a trailing slash) with a fixed Authorization header.
#[derive(Clone)]
pub struct Scim {
    pub client: reqwest::Client,
    pub base: String,
    pub authorization: String,
}

impl Scim {
    pub fn new(base: String, authorization: String) -> Scim {
        Scim {
            client: http_client(),
            base,
            authorization,
        }
    }

    /// Sends `method base+path` with an optional SCIM JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.send_with(method, path, body, &[]).await
    }

    /// Like [`Scim::send`], with extra headers.
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = format!("{}{}", self.base, path);
        let mut request = self
            .client
            .request(method.clone(), &url)
            .header("Authorization", &self.authorization)
            .header("Accept", SCIM_JSON);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, SCIM_JSON)
                .body(serde_json::to_vec(body).unwrap());
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status();
        let response_headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let elapsed = started.elapsed();
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Reply {
            method,
            url,
            status,
            headers: response_headers,
            body,
            text,
            elapsed,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }
}

/// A PatchOp message with `operations`.
pub fn patch_op(operations: Value) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": operations,
    })
}

/// The `userName`s of a ListResponse, in order.
pub fn user_names(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .map(|resources| {
            resources
                .iter()
                .filter_map(|r| r["userName"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
