//! The `idrelay` command line: `serve` (the files driver with the embedded runtime), `crds`
//! (print the CRD YAML) and `get` (a kubectl-like table from a running instance's `GET /status`).
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
    /// Print the CustomResourceDefinitions (YAML).
    Crds,
    /// Print a kubectl-like table of resources from a running instance.
    Get(GetArgs),
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => {
            print!("{}", idrelay::api::crds::to_yaml());
            Ok(())
        }
        Command::Get(args) => get(args).await,
        Command::Serve(args) => {
            init_tracing();
            serve(args).await
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
        server::admin_router(status_source),
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
