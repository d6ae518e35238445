//! The admin listener's router: `GET /status`, `GET /healthz`, `GET /readyz`, `GET /metrics`
//! (OpenMetrics text of the source's [`Metrics`], 404 when it has none).
//!
//! Invariant: the admin router only reports; what it reports comes from a [`StatusSource`]
//! (which must never include a secret).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use serde_json::json;

use crate::metrics::{CONTENT_TYPE, Metrics};

/// What the admin listener reports: the status document, readiness and metrics.
pub trait StatusSource: Send + Sync {
    /// The `GET /status` document (every resource with its conditions).
    fn status_json(&self) -> serde_json::Value;
    /// Whether the runtime is ready to serve (`GET /readyz`).
    fn ready(&self) -> bool;
    /// The registry `GET /metrics` serves; `None` (the default) answers 404.
    fn metrics(&self) -> Option<Metrics> {
        None
    }
}

/// The admin router.
pub fn admin_router(status: Arc<dyn StatusSource>) -> Router {
    Router::new()
        .route("/status", get(status_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(status)
}

async fn metrics_handler(State(status): State<Arc<dyn StatusSource>>) -> Response {
    match status.metrics() {
        Some(metrics) => (
            [(http::header::CONTENT_TYPE, CONTENT_TYPE)],
            metrics.encode(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no metrics\n").into_response(),
    }
}

async fn status_handler(State(status): State<Arc<dyn StatusSource>>) -> Json<serde_json::Value> {
    Json(status.status_json())
}

/// Liveness: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(status): State<Arc<dyn StatusSource>>) -> Response {
    if status.ready() {
        Json(json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready" })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::body::Body;
    use http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    struct Fake(AtomicBool);

    impl StatusSource for Fake {
        fn status_json(&self) -> serde_json::Value {
            json!({ "resources": [] })
        }
        fn ready(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }

    struct WithMetrics(Metrics);

    impl StatusSource for WithMetrics {
        fn status_json(&self) -> serde_json::Value {
            json!([])
        }
        fn ready(&self) -> bool {
            true
        }
        fn metrics(&self) -> Option<Metrics> {
            Some(self.0.clone())
        }
    }

    async fn get_status(router: &Router, path: &str) -> (StatusCode, serde_json::Value) {
        let response = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn status_health_and_readiness() {
        let source = Arc::new(Fake(AtomicBool::new(false)));
        let router = admin_router(source.clone());
        assert_eq!(
            get_status(&router, "/status").await,
            (StatusCode::OK, json!({ "resources": [] }))
        );
        assert_eq!(get_status(&router, "/healthz").await.0, StatusCode::OK);
        assert_eq!(
            get_status(&router, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        source.0.store(true, Ordering::SeqCst);
        assert_eq!(get_status(&router, "/readyz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_are_served_as_openmetrics_text() {
        let router = admin_router(Arc::new(Fake(AtomicBool::new(true))));
        let response = router
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);

        let metrics = Metrics::new();
        metrics.files_pass(
            std::time::Duration::from_millis(2),
            crate::metrics::PassOutcome::Noop,
        );
        let router = admin_router(Arc::new(WithMetrics(metrics)));
        let response = router
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(
            text.contains("# TYPE idrelay_files_passes counter"),
            "{text}"
        );
        assert_eq!(
            crate::metrics::sample_sum(&text, "idrelay_files_passes_total", &[("result", "noop")]),
            Some(1.0)
        );
        assert!(text.ends_with("# EOF\n"));
    }

    /// Over a real loopback listener, as `idrelay serve` runs it.
    #[tokio::test]
    async fn metrics_over_loopback() {
        let metrics = Metrics::new();
        metrics.status_writes("Tenant", 1, 4);
        metrics.reconcile_finished(
            "Tenant",
            std::time::Duration::from_millis(1),
            crate::metrics::ReconcileResult::Success,
        );
        metrics.set_delivery_pending("acme", "apps", 3);
        metrics.delivery_acknowledged("acme", "apps", std::time::Duration::from_millis(5));
        metrics.set_realtime_pending("default/acme-to-apps", 0);
        let (listener, addr) = crate::server::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::server::serve_router(
            listener,
            admin_router(Arc::new(WithMetrics(metrics))),
            None,
            async move {
                let _ = stop_rx.await;
            },
        ));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        for family in [
            "idrelay_reconcile",
            "idrelay_reconcile_duration_seconds",
            "idrelay_status_writes",
            "idrelay_status_writes_skipped",
            "idrelay_delivery_pending",
            "idrelay_delivery_latency_seconds",
            "idrelay_realtime_pending",
        ] {
            assert!(answer.contains(&format!("# TYPE {family} ")), "{family}");
        }
        assert!(answer.contains("idrelay_status_writes_skipped_total{kind=\"Tenant\"} 4"));
        let _ = stop_tx.send(());
        server.await.unwrap().unwrap();
    }
}
