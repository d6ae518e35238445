//! The accept loop: TCP (optionally TLS via tokio-rustls) into hyper-util's auto builder
//! (HTTP/1.1 and HTTP/2, chosen by ALPN or preface), with graceful shutdown.
//!
//! The TLS configuration of each connection comes from a [`TlsSource`] at accept time, so it can
//! change at runtime (the tenant CAs trusted for client certificates follow the configuration).
//!
//! Invariants: every request carries a [`ConnectionInfo`] extension describing its connection
//! (with the client certificate chain rustls verified, if any);
//! a slow or failing TLS handshake affects only its own connection (handshakes run in the
//! connection task, with a timeout); on shutdown the listener stops accepting, open connections
//! are asked to finish their in-flight requests, and the loop returns once they have (or after
//! [`SHUTDOWN_GRACE`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::tls::{StaticTls, TlsSource};

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers (HTTP/1.1).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for open connections before dropping them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The connection a request arrived on (request extension).
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// The client's certificate chain when it presented one (mTLS; empty otherwise).
    pub peer_certificates: Arc<[CertificateDer<'static>]>,
}

/// Errors of the listener.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
}

/// Binds `listen` and returns the listener with its actual address (port 0 picks a free port).
pub async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr), ServerError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: listen,
        source,
    })?;
    Ok((listener, addr))
}

/// Serves `router` on `listener` (TLS when `tls` is given) until `shutdown` completes, then
/// shuts down gracefully.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let tls = tls.map(|config| Arc::new(StaticTls(config)) as Arc<dyn TlsSource>);
    serve_router_with(listener, router, tls, shutdown).await
}

/// Like [`serve_router`], with each connection's TLS configuration taken from `tls` when the
/// connection is accepted.
pub async fn serve_router_with(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<dyn TlsSource>>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        // Per-connection errors (e.g. EMFILE); back off briefly instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let tls = tls.clone();
                let stop = stop_rx.clone();
                connections.spawn(async move {
                    match tls {
                        None => {
                            let info = ConnectionInfo { peer, tls: false, peer_certificates: Arc::from([]) };
                            serve_connection(stream, info, router, stop).await;
                        }
                        Some(tls) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
                            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(error)) => {
                                    tracing::debug!(%peer, %error, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                            let peer_certificates: Arc<[CertificateDer<'static>]> = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                                .unwrap_or_else(|| Arc::from([]));
                            let info = ConnectionInfo { peer, tls: true, peer_certificates };
                            serve_connection(stream, info, router, stop).await;
                        }
                    }
                });
            }
            // Reap finished connection tasks so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the shutdown grace period; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves one connection until it ends or shutdown is signalled (then gracefully).
async fn serve_connection<I>(
    io: I,
    info: ConnectionInfo,
    router: Router,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = tower::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(info.clone());
        let router = router.clone();
        async move {
            Ok::<_, Infallible>(
                router
                    .oneshot(request.map(Body::new))
                    .await
                    .unwrap_or_else(|e| match e {}),
            )
        }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    // A timer enables hyper's header read timeout (slow clients cannot hold a connection open
    // without sending a request) and HTTP/2 keep-alive timing.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let connection =
        builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(connection);
    if *stop.borrow() {
        connection.as_mut().graceful_shutdown();
    }
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
            return;
        }
        _ = stop.changed() => {}
    }
    connection.as_mut().graceful_shutdown();
    if let Err(error) = connection.await {
        tracing::debug!(%error, "connection ended with an error during shutdown");
    }
}
