//! The loopback ceiling: a trivial axum server that answers every request with a fixed 200.
//! It runs in its own process (`idrelay-bench ceiling-serve`) with a default multi-threaded
//! tokio runtime, like idrelay, so both are measured by the same client under the same
//! conditions.
//!
//! Invariant: the first line on stdout is `listening on ADDR`; nothing else is printed there.

use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;

/// Serves the fixed 200 on `listen` until the process is killed.
pub fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on {addr}")?;
        stdout.flush()?;
        let app = axum::Router::new().fallback(fixed_ok);
        axum::serve(listener, app)
            .await
            .context("serving the ceiling")
    })
}

async fn fixed_ok() -> &'static str {
    "ok"
}
