//! The admin listener's router: `GET /status`, `GET /healthz`, `GET /readyz`.
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

/// What the admin listener reports: the status document and readiness.
pub trait StatusSource: Send + Sync {
    /// The `GET /status` document (every resource with its conditions).
    fn status_json(&self) -> serde_json::Value;
    /// Whether the runtime is ready to serve (`GET /readyz`).
    fn ready(&self) -> bool;
}

/// The admin router.
pub fn admin_router(status: Arc<dyn StatusSource>) -> Router {
    Router::new()
        .route("/status", get(status_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(status)
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
}
