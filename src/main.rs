//! The `idrelay` command line: `serve` (the files driver with the embedded runtime), `crds`
//! (print the CRD YAML), `get` (a kubectl-like table from a running instance's `GET /status`)
//! `logs` (the real-time provisioning logs of a tenant) and `job` (start provisioning jobs and
//! read their logs).
//!
//! This is the edge of the program: errors are `anyhow` here and nowhere else; logging goes
//! through `tracing` filtered by `RUST_LOG` (default `info`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use k8s_openapi::api::core::v1::Secret;

use idrelay::files::table::{KindFilter, render};
use idrelay::files::{Document, FilesDriver};
use idrelay::reconcile::{DEFAULT_NAMESPACE, ObjectKey};
use idrelay::runtime::{Runtime, RuntimeConfig, RuntimeOptions};
use idrelay::server::{self, ServeOptions, StatusSource, TlsMode};

/// mimalloc instead of the system allocator: the request path allocates many small, short-lived
/// objects (JSON values, strings, futures), where glibc malloc showed ~28 % of the samples.
/// The crate's `v2` feature selects mimalloc 2.x: in alternating create runs it served 3 % more
/// creates per second than the 3.x default on this workload (benches/README.md, session 8).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v2's `mimalloc.h` (`enum mi_option_e`, the same index
/// in v3); the Rust bindings do not name it.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// How long (ms) mimalloc keeps freed memory before returning it to the OS: v2's default, set
/// explicitly so that a change of default or of major version does not change it silently.
/// Bursts such as a /Bulk preload free a lot at once; returning it within ~100 ms keeps the
/// resident size close to the live data.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    #[cfg(test)]
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
}

/// Sets mimalloc's purge delay; call before any other thread exists (the setter is not
/// thread-safe).
fn configure_allocator() {
    // SAFETY: plain setter of a mimalloc option (linked in by `mimalloc`), called from `main`
    // before the runtime starts its threads.
    // mimalloc's own `MIMALLOC_PURGE_DELAY` (read at its start) wins when set.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "idrelay",
    version,
    about = "SAP Cloud Identity Services as a Kubernetes operator with an embedded runtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the runtime on the embedded default: resources from YAML files in a directory.
    Serve(ServeArgs),
    /// Run as a Kubernetes operator: resources from the API server, status subresources and
    /// Events, leader election; serves the tenant APIs of the leader.
    Operator(idrelay::operator::OperatorArgs),
    /// Print the CustomResourceDefinitions (YAML).
    Crds,
    /// Import users from a CSV file (application-level or full-profile format) into a tenant.
    Import(ImportArgs),
    /// Print a kubectl-like table of resources from a running instance.
    Get(GetArgs),
    /// Print the real-time provisioning logs of a tenant from a running instance.
    Logs(LogsArgs),
    /// Provisioning jobs of a running instance: start one, read job logs.
    #[command(subcommand)]
    Job(JobCommand),
    /// Test Connection of a targetsystem/NAME or realtimetarget/NAME, in-process, from the
    /// resources of a configuration directory (exit code 1 when it fails).
    TestConnection(TestConnectionArgs),
    /// Provision a real-time target of a running instance (push every user once) with a
    /// progress bar, through the admin listener.
    Provision(idrelay::realtime::provision_cli::ProvisionArgs),
}

#[derive(Debug, Args)]
struct TestConnectionArgs {
    /// `targetsystem/NAME` or `realtimetarget/NAME` (NAME may be `namespace/name`).
    target: String,
    /// The configuration directory (as for `serve`).
    #[arg(long, value_name = "DIR")]
    config: PathBuf,
}

#[derive(Debug, Subcommand)]
enum JobCommand {
    /// Start a Read job (or a Resync job with --resync) of a source system.
    Run(JobRunArgs),
    /// Print a job log (with a job id) or the recent job runs of a tenant.
    Log(JobLogArgs),
}

/// The instance and credentials every `idrelay job` command uses.
#[derive(Debug, Args)]
struct JobConnection {
    /// The tenant name.
    #[arg(long)]
    tenant: String,
    /// Base URL of the tenant listener (the job API is under `URL/tenants/TENANT/ips/…`).
    #[arg(long, value_name = "URL", default_value = "https://127.0.0.1:8443")]
    url: String,
    /// Client id of a technical admin holding AccessIdentityProvisioningTenantAdminAPI.
    #[arg(long, env = "IDRELAY_CLIENT_ID")]
    client_id: String,
    /// Its secret.
    #[arg(long, env = "IDRELAY_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// Do not verify the listener's certificate (a local self-signed instance).
    #[arg(long)]
    insecure: bool,
    /// Print the JSON answers instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct JobRunArgs {
    #[command(flatten)]
    connection: JobConnection,
    /// The source system id.
    source_system_id: String,
    /// Run a Resync job (write everything) instead of a Read job.
    #[arg(long)]
    resync: bool,
    /// Wait for the job to finish and print its log; exit 1 when it finished with an error.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Args)]
struct JobLogArgs {
    #[command(flatten)]
    connection: JobConnection,
    /// The job id; without it, the recent runs are listed.
    job_id: Option<String>,
    /// List only the runs of this source system.
    #[arg(long)]
    source_system: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Directory of YAML documents (Tenant, TechnicalAdmin, v1 Secret); watched for changes.
    #[arg(long, value_name = "DIR")]
    config: PathBuf,
    /// Where the store lives. Default: a fresh temporary directory (data is not kept).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the tenant APIs.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Address of the admin endpoints (`/status`, `/healthz`, `/readyz`), plain HTTP.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9443")]
    admin_listen: SocketAddr,
    /// PEM certificate chain of the tenant listener.
    #[arg(long, value_name = "FILE", requires = "tls_key", conflicts_with_all = ["tls_secret", "plain_http"])]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the tenant listener.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A `kubernetes.io/tls` Secret document in the config directory (`NAME` in namespace
    /// `default`, or `NAMESPACE/NAME`) holding `tls.crt` and `tls.key`.
    #[arg(long, value_name = "NAME", conflicts_with = "plain_http")]
    tls_secret: Option<String>,
    /// Serve plain HTTP (local use only). Without any TLS option a self-signed certificate is
    /// generated.
    #[arg(long)]
    plain_http: bool,
}

#[derive(Debug, Args)]
struct GetArgs {
    /// tenants (idt), technicaladmins (idta) or all.
    kind: String,
    /// Base URL of the admin endpoint.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9443")]
    admin: String,
}

#[derive(Debug, Args)]
struct LogsArgs {
    /// The tenant name.
    #[arg(long)]
    tenant: String,
    /// Base URL of the tenant listener (the logs are read from
    /// `URL/tenants/TENANT/ipsproxy/service/api/v1/logs/realtime`).
    #[arg(long, value_name = "URL", default_value = "https://127.0.0.1:8443")]
    url: String,
    /// Client id of a technical admin holding ManageTenantConfiguration or
    /// AccessRealTimeProvisioningAPI.
    #[arg(long, env = "IDRELAY_CLIENT_ID")]
    client_id: String,
    /// Its secret.
    #[arg(long, env = "IDRELAY_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// Finished Successfully / Finished with Error (or success / error).
    #[arg(long)]
    status: Option<String>,
    /// user or group.
    #[arg(long)]
    entity_type: Option<String>,
    /// Source system id or display name.
    #[arg(long)]
    source_system: Option<String>,
    /// Entity id in the source or the target.
    #[arg(long)]
    entity_id: Option<String>,
    /// At most this many entries (1..=1000, default 100), newest first.
    #[arg(long)]
    limit: Option<u32>,
    /// Do not verify the listener's certificate (a local self-signed instance).
    #[arg(long)]
    insecure: bool,
    /// Print the JSON answer instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// Base URL of the tenant listener (the file goes to `URL/tenants/TENANT/import/users`).
    #[arg(long, value_name = "URL", default_value = "https://127.0.0.1:8443")]
    url: String,
    /// The tenant name.
    #[arg(long)]
    tenant: String,
    /// Client id of a technical admin holding ManageUsers.
    #[arg(long, env = "IDRELAY_CLIENT_ID")]
    client_id: String,
    /// Its secret.
    #[arg(long, env = "IDRELAY_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// Do not verify the listener's certificate (a local self-signed instance).
    #[arg(long)]
    insecure: bool,
    /// application or full (default: detected from the header).
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Rows per upload of a full-profile file.
    #[arg(long, value_name = "N", default_value_t = idrelay::directory::csv_import::client::DEFAULT_CHUNK_ROWS)]
    chunk_rows: usize,
    /// The CSV file.
    file: PathBuf,
}

fn main() -> anyhow::Result<()> {
    configure_allocator();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => {
            print!("{}", idrelay::api::crds::to_yaml());
            Ok(())
        }
        Command::Get(args) => get(args).await,
        Command::Import(args) => import(args).await,
        Command::Logs(args) => logs(args).await,
        Command::Job(JobCommand::Run(args)) => job_run(args).await,
        Command::Job(JobCommand::Log(args)) => job_log(args).await,
        Command::Provision(args) => Ok(idrelay::realtime::provision_cli::run(args).await?),
        Command::TestConnection(args) => {
            let check =
                idrelay::files::test_connection::test_connection(&args.config, &args.target)
                    .await?;
            println!("{}: {}", check.reason, check.message);
            if !check.ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Serve(args) => {
            init_tracing();
            serve(args).await
        }
        Command::Operator(args) => {
            init_tracing();
            Ok(idrelay::operator::run(args, shutdown_signal()).await?)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let tls = tls_mode(&args)?;
    let mut driver = FilesDriver::new(&args.config)?;
    let data_dir = match args.data_dir {
        Some(d) => {
            std::fs::create_dir_all(&d)
                .with_context(|| format!("creating data directory {}", d.display()))?;
            d
        }
        None => {
            let d = std::env::temp_dir().join(format!("idrelay-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&d)
                .with_context(|| format!("creating data directory {}", d.display()))?;
            tracing::info!(data_dir = %d.display(), "no --data-dir given: using a fresh temporary directory (data is not kept across runs)");
            d
        }
    };
    let runtime = Runtime::open(RuntimeOptions {
        data_dir: data_dir.clone(),
    })
    .await
    .with_context(|| format!("opening the runtime in {}", data_dir.display()))?;
    tracing::info!(data_dir = %data_dir.display(), "runtime opened");
    // DeliveryHealthy and the pending/delivered/failed counters of target systems.
    driver = driver.with_delivery_health(Arc::new(runtime.delivery().clone()));
    // Provisioned, DeliveryHealthy and the counters of real-time targets.
    driver = driver.with_realtime_health(Arc::clone(&runtime) as _);
    driver = driver.with_ca_certificates(Arc::clone(&runtime) as _);
    // Pending deliveries and accept→acknowledgement latencies on /metrics.
    runtime.delivery().set_metrics(driver.metrics());
    // Real-time log retention: prunes now and hourly for as long as the process runs.
    let _retention = idrelay::provisioning::logs::spawn_retention(Arc::clone(&runtime));
    // Scheduled provisioning jobs (ips.job.interval.minutes) and job log retention.
    let _jobs = idrelay::provisioning::jobs::spawn_scheduler(Arc::clone(&runtime));

    let status = driver.status();
    let apply = {
        let runtime = Arc::clone(&runtime);
        move |config: RuntimeConfig| {
            let runtime = Arc::clone(&runtime);
            async move { runtime.apply(config).await }
        }
    };
    // The first pass runs before the listeners start, so tenants are served from the first
    // request and a self-signed certificate covers the tenant hosts.
    let mut first_apply = apply.clone();
    driver.sync(&mut first_apply).await?;
    tracing::info!(config = %args.config.display(), "configuration loaded");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    };

    let (admin_listener, admin_addr) = server::bind(args.admin_listen).await?;
    tracing::info!(addr = %admin_addr, "admin listener bound (GET /status, /healthz, /readyz)");
    let status_source: Arc<dyn StatusSource> = status;
    let admin = tokio::spawn(server::serve_router(
        admin_listener,
        server::admin_router(status_source).merge(idrelay::realtime::provision_api::router(
            Arc::clone(&runtime),
        )),
        None,
        shutdown(),
    ));
    let tenants = tokio::spawn(server::serve(
        runtime,
        ServeOptions {
            listen: args.listen,
            tls,
        },
        shutdown(),
    ));
    let watch = tokio::spawn(driver.run(apply));

    tokio::select! {
        () = shutdown_signal() => tracing::info!("shutting down"),
        result = watch => match result {
            Ok(Ok(())) => tracing::warn!("the configuration watcher stopped; shutting down"),
            Ok(Err(e)) => tracing::error!("configuration watcher: {e}"),
            Err(e) => tracing::error!("configuration watcher: {e}"),
        },
    }
    let _ = stop_tx.send(true);
    let (admin, tenants) = tokio::join!(admin, tenants);
    admin
        .context("admin listener task")?
        .context("admin listener")?;
    tenants
        .context("tenant listener task")?
        .context("tenant listener")?;
    Ok(())
}

/// The TLS mode from the flags: files, a Secret document, plain HTTP, else self-signed.
fn tls_mode(args: &ServeArgs) -> anyhow::Result<TlsMode> {
    if args.plain_http {
        tracing::warn!("serving plain HTTP: for local use only");
        return Ok(TlsMode::Plain);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return Ok(TlsMode::Files {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    if let Some(name) = &args.tls_secret {
        let (cert_pem, key_pem) = tls_secret(&args.config, name)?;
        return Ok(TlsMode::Pem { cert_pem, key_pem });
    }
    Ok(TlsMode::SelfSigned)
}

/// Reads `tls.crt` and `tls.key` of the Secret document `[NAMESPACE/]NAME` in `dir`.
fn tls_secret(dir: &Path, name: &str) -> anyhow::Result<(String, String)> {
    let key = match name.split_once('/') {
        Some((ns, n)) => ObjectKey::new(ns, n),
        None => ObjectKey::new(DEFAULT_NAMESPACE, name),
    };
    let loaded = idrelay::files::load::DirLoader::new().load(dir)?;
    let secret: Secret = loaded
        .documents
        .into_iter()
        .find_map(|d| match d {
            Document::Secret(s) if ObjectKey::of(&s.metadata) == key => Some(s),
            _ => None,
        })
        .with_context(|| {
            format!(
                "--tls-secret: no Secret document {key} in {}",
                dir.display()
            )
        })?;
    if secret.type_.as_deref() != Some("kubernetes.io/tls") {
        tracing::warn!(secret = %key, "--tls-secret: the Secret is not of type kubernetes.io/tls; using tls.crt and tls.key anyway");
    }
    let field = |k: &str| -> anyhow::Result<String> {
        let bytes = secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| {
                secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(k))
                    .map(|b| b.0.clone())
            });
        let Some(bytes) = bytes else {
            bail!("--tls-secret: Secret {key} has no key {k}")
        };
        String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("--tls-secret: key {k} of Secret {key} is not PEM text"))
    };
    Ok((field("tls.crt")?, field("tls.key")?))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

async fn get(args: GetArgs) -> anyhow::Result<()> {
    let Some(filter) = KindFilter::parse(&args.kind) else {
        bail!(
            "unknown kind {:?}: use tenants (idt), technicaladmins (idta) or all",
            args.kind
        );
    };
    // reqwest is built without a default crypto provider; install ring for https URLs.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!("{}/status", args.admin.trim_end_matches('/'));
    let response = reqwest::get(&url)
        .await
        .with_context(|| format!("GET {url}"))?;
    let code = response.status();
    if !code.is_success() {
        bail!("GET {url}: HTTP {code}");
    }
    let status: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("GET {url}: not JSON"))?;
    print!("{}", render(&status, filter, jiff::Timestamp::now()));
    Ok(())
}

async fn logs(args: LogsArgs) -> anyhow::Result<()> {
    // reqwest is built without a default crypto provider; install ring for https URLs.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(args.insecure)
        .build()
        .context("building the HTTP client")?;
    let url = format!(
        "{}/tenants/{}{}",
        args.url.trim_end_matches('/'),
        args.tenant,
        idrelay::provisioning::logs::LOGS_PATH
    );
    let mut query: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("status", &args.status),
        ("entityType", &args.entity_type),
        ("sourceSystem", &args.source_system),
        ("entityId", &args.entity_id),
    ] {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    let response = client
        .get(&url)
        .query(&query)
        .basic_auth(&args.client_id, Some(&args.client_secret))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let code = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("GET {url}: HTTP {code}, not JSON"))?;
    if !code.is_success() {
        let detail = body["detail"].as_str().unwrap_or("");
        bail!("GET {url}: HTTP {code}: {detail}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        print!("{}", idrelay::provisioning::logs::render_table(&body));
    }
    Ok(())
}

/// `idrelay import`: checks the file locally, uploads it in chunks with a progress bar, prints
/// the summary and the failed rows; exits with 1 when a row failed.
async fn import(args: ImportArgs) -> anyhow::Result<()> {
    use idrelay::directory::csv_import::{Format, client};
    let format = args.format.as_deref().map(Format::parse).transpose()?;
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let rows = client::record_count(&bytes, format)
        .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", args.file.display()))?;
    let importer = client::ImportClient::new(
        &args.url,
        &args.tenant,
        &args.client_id,
        &args.client_secret,
        args.insecure,
    )?;
    let bar = indicatif::ProgressBar::new(rows as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {per_sec} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = importer
        .import_file(&bytes, format, args.chunk_rows, |n| bar.inc(n as u64))
        .await;
    bar.finish_and_clear();
    let report = report?;
    println!("{}", report.summary);
    println!(
        "created: {}, updated: {}, failed: {}",
        report.created, report.updated, report.failed
    );
    for row in report.failed_rows() {
        let column = row
            .column
            .as_deref()
            .map(|c| format!(", column {c}"))
            .unwrap_or_default();
        println!(
            "row {}{column}: {}",
            row.row,
            row.reason.as_deref().unwrap_or("failed")
        );
    }
    if report.failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

impl JobConnection {
    fn client(&self) -> anyhow::Result<reqwest::Client> {
        // reqwest is built without a default crypto provider; install ring for https URLs.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(self.insecure)
            .build()
            .context("building the HTTP client")
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/tenants/{}{path}",
            self.url.trim_end_matches('/'),
            self.tenant
        )
    }

    /// Sends the request with Basic auth; the JSON answer of a 2xx, else an error with the
    /// SCIM detail.
    async fn send(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<serde_json::Value> {
        let response = client
            .request(method.clone(), url)
            .query(query)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let code = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .with_context(|| format!("{method} {url}: HTTP {code}, not JSON"))?;
        if !code.is_success() {
            let detail = body["detail"].as_str().unwrap_or("");
            bail!("{method} {url}: HTTP {code}: {detail}");
        }
        Ok(body)
    }
}

/// `idrelay job run`: starts the job, prints its id; with `--wait`, polls its log until it
/// finishes and prints it.
async fn job_run(args: JobRunArgs) -> anyhow::Result<()> {
    let c = &args.connection;
    let client = c.client()?;
    let job_type = if args.resync { "RESYNC" } else { "READ" };
    let url = c.url(&format!(
        "/ips/service/publicapi/v1/startJob/{}/jobs/{job_type}",
        args.source_system_id
    ));
    let started = c.send(&client, reqwest::Method::POST, &url, &[]).await?;
    let job_id = started["jobId"].as_str().unwrap_or_default().to_string();
    if !args.wait {
        if c.json {
            println!("{}", serde_json::to_string_pretty(&started)?);
        } else {
            println!(
                "job {job_id} ({job_type}) {}",
                started["status"].as_str().unwrap_or("")
            );
        }
        return Ok(());
    }
    let log_url = c.url(&format!(
        "{}/{job_id}",
        idrelay::provisioning::jobs::api::LOGS_PATH
    ));
    loop {
        let log = c.send(&client, reqwest::Method::GET, &log_url, &[]).await?;
        let status = log["status"].as_str().unwrap_or("");
        if status == "Success" || status == "Finished with Error" {
            print_job_log(&log, c.json)?;
            if status != "Success" {
                std::process::exit(1);
            }
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// `idrelay job log`: one job log, or the recent runs.
async fn job_log(args: JobLogArgs) -> anyhow::Result<()> {
    let c = &args.connection;
    let client = c.client()?;
    let base = idrelay::provisioning::jobs::api::LOGS_PATH;
    match &args.job_id {
        Some(id) => {
            let log = c
                .send(
                    &client,
                    reqwest::Method::GET,
                    &c.url(&format!("{base}/{id}")),
                    &[],
                )
                .await?;
            print_job_log(&log, c.json)
        }
        None => {
            let mut query = Vec::new();
            if let Some(source) = &args.source_system {
                query.push(("sourceSystemId", source.clone()));
            }
            let list = c
                .send(&client, reqwest::Method::GET, &c.url(base), &query)
                .await?;
            if c.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            for job in list["jobs"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let text = |k: &str| job[k].as_str().unwrap_or("-").to_string();
                println!(
                    "{}  {}  {}  {}  {}  {}  {}",
                    text("createdAt"),
                    text("id"),
                    text("sourceSystemId"),
                    text("jobType"),
                    text("trigger"),
                    text("readMode"),
                    text("status")
                );
            }
            Ok(())
        }
    }
}

fn print_job_log(log: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(log)?);
        return Ok(());
    }
    let text = |k: &str| log[k].as_str().unwrap_or("-").to_string();
    println!("Job:          {}", text("id"));
    println!("Source:       {}", text("sourceSystemId"));
    println!("Type:         {} ({})", text("jobType"), text("readMode"));
    println!(
        "Trigger:      {} by {}",
        text("trigger"),
        text("triggeredBy")
    );
    println!("Status:       {}", text("status"));
    println!("Started:      {}", text("startedAt"));
    println!("Finished:     {}", text("finishedAt"));
    if let Some(message) = log["message"].as_str() {
        println!("Message:      {message}");
    }
    println!(
        "{:<30} {:<7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "SYSTEM", "ROLE", "READ", "CREATED", "UPDATED", "DELETED", "SKIPPED", "FAILED"
    );
    for s in log["statistics"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let n = |k: &str| s[k].as_u64().unwrap_or(0);
        println!(
            "{:<30} {:<7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            s["system"].as_str().unwrap_or(""),
            s["role"].as_str().unwrap_or(""),
            n("read"),
            n("created"),
            n("updated"),
            n("deleted"),
            n("skipped"),
            n("failed")
        );
    }
    for f in log["failedEntities"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        println!(
            "failed: {} {} {} {}: {}",
            f["system"].as_str().unwrap_or(""),
            f["entityType"].as_str().unwrap_or(""),
            f["entityId"].as_str().unwrap_or(""),
            f["operation"].as_str().unwrap_or(""),
            f["reason"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocator_purge_delay_is_set() {
        // SAFETY: plain getter of a mimalloc option.
        let default = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        // mimalloc v2's documented default of the purge delay (v3's is 1000): this is the
        // option, and the version the `v2` feature selects.
        assert_eq!(default, 10);
        // SAFETY: plain setter, in a test that no other test's allocations depend on.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 777) };
        configure_allocator();
        // SAFETY: plain getter of a mimalloc option.
        assert_eq!(
            unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) },
            PURGE_DELAY_MS
        );
    }
}
