//! `idrelay operator`: leader election, the embedded runtime with the tenant APIs, the watches
//! and controllers, readiness and graceful shutdown.
//!
//! Lifecycle:
//! 1. the admin listener starts at once (`/healthz` answers; `/readyz` is 503);
//! 2. the instance waits for the Lease (`--lease-name`, kube-lease-manager: 15 s lease,
//!    renewed 5 s before it expires, so a standby takes over within seconds of a crash, at
//!    once after a graceful stop that releases it);
//! 3. as leader it opens the runtime (store, delivery, real-time pushers), starts the watches,
//!    waits for the initial lists, applies the first full pass, starts the tenant listener and
//!    turns readiness on; then the controllers run;
//! 4. on SIGTERM/Ctrl-C, or when the lease is lost, readiness turns off, the controllers finish
//!    their running reconciles, the listeners drain and the lease is released. Losing the
//!    lease is an error exit, so the pod restarts as a standby.
//!
//! Invariant: only the leader reconciles, serves and delivers (a standby has not opened the
//! runtime).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;

use crate::runtime::{Runtime, RuntimeOptions};
use crate::server::{self, ServeOptions, StatusSource, TlsMode};

use super::Error;
use super::context::{ConfigSink, Context};
use super::observe::Observer;
use super::status::OperatorStatus;
use super::wiring::{StopSignal, stores_ready, wire};

/// Lease duration and the renewal margin before it expires (seconds).
pub const LEASE_DURATION: u64 = 15;
pub const LEASE_GRACE: u64 = 5;
/// How long the controllers get to finish their reconciles on shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Options of `idrelay operator`.
#[derive(Debug, Clone, clap::Args)]
pub struct OperatorArgs {
    /// Watch only these namespaces: repeat the option or separate them with commas
    /// (default: all namespaces). Each is listed and watched on its own, so namespaced RBAC
    /// (a Role per namespace) is enough.
    #[arg(
        long = "namespace",
        value_name = "NS",
        env = "IDRELAY_WATCH_NAMESPACE",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Where the store lives (a volume). Default: a fresh temporary directory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the tenant APIs.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Address of the admin endpoints (`/status`, `/healthz`, `/readyz`), plain HTTP.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:9443")]
    pub admin_listen: SocketAddr,
    /// Name of the Lease used for leader election.
    #[arg(long, value_name = "NAME", default_value = "idrelay-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (default: the pod's namespace from POD_NAMESPACE, else the
    /// first --namespace, else the client's default namespace).
    #[arg(long, value_name = "NS", env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Identity of this instance in the Lease and in Events (default: POD_NAME, else a
    /// random id).
    #[arg(long, value_name = "ID", env = "POD_NAME")]
    pub identity: Option<String>,
    /// PEM certificate chain of the tenant listener.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "plain_http"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the tenant listener.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve the tenant APIs over plain HTTP (TLS terminated in front). Without any TLS
    /// option a self-signed certificate is generated.
    #[arg(long)]
    pub plain_http: bool,
}

impl OperatorArgs {
    fn tls(&self) -> TlsMode {
        if self.plain_http {
            return TlsMode::Plain;
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => TlsMode::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => TlsMode::SelfSigned,
        }
    }
}

/// The first watched namespace (empty entries skipped), for the Lease's default namespace.
fn first_namespace(namespaces: &[String]) -> Option<String> {
    namespaces
        .iter()
        .map(|n| n.trim())
        .find(|n| !n.is_empty())
        .map(str::to_owned)
}

fn stop_signal(rx: &tokio::sync::watch::Receiver<bool>) -> StopSignal {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
    .boxed()
    .shared()
}

/// Runs the operator until `shutdown` completes (or the lease is lost).
pub async fn run(
    args: OperatorArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::try_default()
        .await
        .map_err(|e| Error::Client(e.to_string()))?;
    run_with_client(args, client, shutdown).await
}

/// [`run`] with a given client (tests use a fake API server).
pub async fn run_with_client(
    args: OperatorArgs,
    client: Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    {
        let stop_tx = Arc::clone(&stop_tx);
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        });
    }
    let stop = stop_signal(&stop_rx);

    let status = Arc::new(OperatorStatus::new());
    let (admin_listener, admin_addr) = server::bind(args.admin_listen)
        .await
        .map_err(|e| Error::Startup(e.to_string()))?;
    tracing::info!(addr = %admin_addr, "admin listener bound (GET /status, /healthz, /readyz)");
    let status_source: Arc<dyn StatusSource> = status.clone();
    let admin = tokio::spawn(server::serve_router(
        admin_listener,
        server::admin_router(status_source),
        None,
        stop.clone(),
    ));

    // Leader election.
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("idrelay-{}", uuid::Uuid::new_v4()));
    let lease_namespace = args
        .lease_namespace
        .clone()
        .or_else(|| first_namespace(&args.namespaces))
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let manager = LeaseManagerBuilder::new(client.clone(), &args.lease_name)
        .with_namespace(&lease_namespace)
        .with_identity(&identity)
        .with_duration(LEASE_DURATION)
        .with_grace(LEASE_GRACE)
        .with_field_manager("idrelay-lease")
        .build()
        .await
        .map_err(|e| Error::Lease(e.to_string()))?;
    let (mut leader, lease_task) = manager.watch().await;
    tracing::info!(lease = %args.lease_name, namespace = %lease_namespace, %identity, "waiting for the leadership");
    tokio::select! {
        r = leader.wait_for(|l| *l) => {
            r.map_err(|e| Error::Lease(e.to_string()))?;
        }
        () = stop.clone() => {}
    }
    if *stop_rx.borrow() {
        drop(leader);
        let _ = tokio::time::timeout(Duration::from_secs(5), lease_task).await;
        let _ = admin.await;
        return Ok(());
    }
    tracing::info!(%identity, "leading: starting the runtime and the controllers");

    let result = lead(&args, &client, &identity, &status, &stop, &mut leader).await;
    status.set_ready(false);
    let _ = stop_tx.send(true);
    // Dropping the receiver ends the lease task, which releases the lease.
    drop(leader);
    let _ = tokio::time::timeout(Duration::from_secs(5), lease_task).await;
    let _ = admin.await;
    if result.is_ok() && !*stop_rx.borrow() {
        return Err(Error::LostLeadership(args.lease_name.clone()));
    }
    result
}

/// The leader's work: runtime, controllers, tenant listener. Returns `Ok` on shutdown, and
/// also when the lease was lost (the caller tells the two apart).
async fn lead(
    args: &OperatorArgs,
    client: &Client,
    identity: &str,
    status: &Arc<OperatorStatus>,
    stop: &StopSignal,
    leader: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), Error> {
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            let d = std::env::temp_dir().join(format!("idrelay-{}", uuid::Uuid::new_v4()));
            tracing::info!(data_dir = %d.display(), "no --data-dir given: using a fresh temporary directory (data is not kept across runs)");
            d
        }
    };
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| Error::Startup(format!("creating {}: {e}", data_dir.display())))?;
    let runtime = Runtime::open(RuntimeOptions {
        data_dir: data_dir.clone(),
    })
    .await
    .map_err(|e| {
        Error::Startup(format!(
            "opening the runtime in {}: {e}",
            data_dir.display()
        ))
    })?;
    let _retention = crate::provisioning::logs::spawn_retention(Arc::clone(&runtime));
    let _jobs = crate::provisioning::jobs::spawn_scheduler(Arc::clone(&runtime));

    let observer = Arc::new(
        Observer::new(
            Some(Arc::new(runtime.delivery().clone())),
            Some(Arc::clone(&runtime) as _),
        )
        .with_ca_certificates(Arc::clone(&runtime) as _),
    );
    // Pending deliveries and accept→acknowledgement latencies on /metrics.
    runtime.delivery().set_metrics(status.metrics().clone());
    let sink: Arc<dyn ConfigSink> = Arc::clone(&runtime) as _;
    let wired = wire(client, &args.namespaces, stop.clone(), |stores, kicks| {
        Context::new(client.clone(), stores, sink, Some(identity.to_owned()))
            .with_observer(observer)
            .with_kicks(kicks)
            .with_status(Arc::clone(status))
    });
    let ctx = Arc::clone(&wired.ctx);
    let watches: Vec<_> = wired.watches.into_iter().map(tokio::spawn).collect();

    // Readiness after the first full pass over the initial lists.
    let first = async {
        stores_ready(&ctx.stores)
            .await
            .map_err(|e| Error::Startup(format!("watch: {e}")))?;
        let mut delay = Duration::from_secs(1);
        loop {
            match ctx.shared_pass().await {
                Ok(_) => return Ok::<(), Error>(()),
                Err(e) => {
                    tracing::warn!("first pass: {e}; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    };
    let started = tokio::select! {
        r = first => Some(r),
        () = stop.clone() => None,
        _ = leader.wait_for(|l| !*l) => None,
    };
    let result = match started {
        None => Ok(()),
        Some(Err(e)) => Err(e),
        Some(Ok(())) => {
            status.set_ready(true);
            tracing::info!("first full pass applied: ready");
            let tenants = tokio::spawn(server::serve(
                Arc::clone(&runtime),
                ServeOptions {
                    listen: args.listen,
                    tls: args.tls(),
                },
                stop.clone(),
            ));
            let controllers = futures::future::join_all(wired.controllers);
            futures::pin_mut!(controllers);
            tokio::select! {
                _ = &mut controllers => {}
                _ = leader.wait_for(|l| !*l) => {
                    tracing::error!("lost the leadership: stopping");
                }
                () = stop.clone() => {}
            }
            status.set_ready(false);
            // Let running reconciles finish (graceful shutdown of the controllers).
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut controllers).await;
            match tenants.await {
                Ok(Err(e)) => Err(Error::Startup(format!("tenant listener: {e}"))),
                _ => Ok(()),
            }
        }
    };
    for w in watches {
        w.abort();
    }
    result
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: OperatorArgs,
    }

    #[test]
    fn flags_and_defaults() {
        let cli = Cli::try_parse_from([
            "idrelay",
            "--namespace",
            "team-a",
            "--data-dir",
            "/data",
            "--lease-name",
            "my-lease",
            "--plain-http",
        ])
        .unwrap();
        let a = cli.args;
        assert_eq!(a.namespaces, ["team-a"]);
        assert_eq!(a.data_dir, Some(PathBuf::from("/data")));
        assert_eq!(a.lease_name, "my-lease");
        assert_eq!(a.listen, "0.0.0.0:8443".parse().unwrap());
        assert_eq!(a.admin_listen, "0.0.0.0:9443".parse().unwrap());
        assert!(matches!(a.tls(), TlsMode::Plain));
        let a = Cli::try_parse_from(["idrelay", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
            .unwrap()
            .args;
        assert!(matches!(a.tls(), TlsMode::Files { .. }));
        assert_eq!(a.lease_name, "idrelay-operator");
        assert!(matches!(
            Cli::try_parse_from(["idrelay"]).unwrap().args.tls(),
            TlsMode::SelfSigned
        ));
        assert!(Cli::try_parse_from(["idrelay", "--tls-cert", "c.pem"]).is_err());
    }

    #[test]
    fn several_namespaces_repeated_or_comma_separated() {
        let parse = |argv: &[&str]| Cli::try_parse_from(argv).unwrap().args.namespaces;
        assert_eq!(
            parse(&["idrelay", "--namespace=a", "--namespace=b"]),
            ["a", "b"]
        );
        assert_eq!(parse(&["idrelay", "--namespace", "a,b"]), ["a", "b"]);
        assert!(parse(&["idrelay"]).is_empty());
        assert_eq!(
            first_namespace(&parse(&["idrelay", "--namespace=a,b"])).as_deref(),
            Some("a")
        );
        assert_eq!(
            first_namespace(&[String::new(), "b".into()]).as_deref(),
            Some("b")
        );
        assert_eq!(first_namespace(&[]), None);
    }
}
