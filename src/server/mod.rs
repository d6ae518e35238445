//! The HTTP(S) server: the tenant listener (TLS, tenant routing, tenant APIs) and the admin
//! listener (`/status`, `/healthz`, `/readyz`).
//!
//! Layout: [`tenant`] resolves requests to tenants, [`routes`] builds the application,
//! [`error`] turns SCIM errors into responses, [`tls`] builds rustls configurations,
//! [`listener`] runs the accept loop, [`admin`] is the admin router.

pub mod admin;
pub mod error;
pub mod listener;
pub mod routes;
pub mod tenant;
pub mod tls;

#[cfg(test)]
mod loopback_tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use admin::{StatusSource, admin_router};
pub use error::SCIM_CONTENT_TYPE;
pub use listener::{ConnectionInfo, ServerError, bind, serve_router, serve_router_with};
pub use routes::{AppOptions, DEFAULT_MAX_BODY_BYTES, app, tenant_router};
pub use tenant::TenantRequest;
pub use tls::{TenantTls, TlsError, TlsMode, TlsSource};

use crate::runtime::Runtime;

/// Where and how the tenant listener serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub tls: TlsMode,
}

/// Binds `options.listen` and serves the tenant APIs until `shutdown` completes.
pub async fn serve(
    runtime: Arc<Runtime>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let (listener, addr) = bind(options.listen).await?;
    tracing::info!(%addr, tls = !matches!(options.tls, TlsMode::Plain), "tenant listener bound");
    serve_listener(
        listener,
        runtime,
        options.tls,
        AppOptions::default(),
        shutdown,
    )
    .await
}

/// Serves the tenant APIs on an already bound listener (tests bind port 0 with [`bind`]).
pub async fn serve_listener(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    tls: TlsMode,
    app_options: AppOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let hosts: Vec<String> = runtime
        .config()
        .tenants
        .values()
        .flat_map(|t| t.hosts.iter().cloned())
        .collect();
    // The tenant listener asks for client certificates of the tenant CAs (mTLS, optional).
    let tls_source = match tls.identity(&hosts)? {
        None => None,
        Some(identity) => {
            Some(Arc::new(TenantTls::new(identity, runtime.clone())?) as Arc<dyn TlsSource>)
        }
    };
    serve_router_with(listener, app(runtime, app_options), tls_source, shutdown).await
}
