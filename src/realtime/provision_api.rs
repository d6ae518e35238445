//! The admin endpoint of Provision (architecture §4.5; SAP's *Provision* button): on the admin
//! listener, next to `/status`.
//!
//! - `POST /realtimetargets/{namespace}/{name}/provision` requests a Provision run of every user
//!   of the target's tenant now: `202 {"run": TOKEN, "total": USERS}`, `404` when no enabled
//!   target of that name is running;
//! - `GET /realtimetargets/{namespace}/{name}/provision?run=TOKEN` reports its progress from the
//!   target's persisted cursor: `{"run", "state": "queued"|"running"|"finished", "provisioned",
//!   "total", "message"}`; when finished the message is `<n> users provisioned`.
//!
//! Invariants: the endpoint only requests runs and reads progress (the pusher does the work,
//! resumable like every Provision); answers never hold a secret.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::directory::Kind;
use crate::runtime::Runtime;
use crate::store::RealtimeCursor;

/// Where a Provision run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Requested, not started yet.
    Queued,
    Running,
    Finished,
}

/// The progress answer of `GET …/provision?run=TOKEN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub run: String,
    pub state: RunState,
    /// Users pushed so far (all of the run when finished).
    pub provisioned: u64,
    /// Users of the tenant now.
    pub total: u64,
    pub message: String,
}

/// The progress of run `run` from the target's cursor (pure).
pub fn progress(cursor: Option<&RealtimeCursor>, run: &str, total: u64) -> Progress {
    let count = |c: &RealtimeCursor| u64::try_from(c.provisioned_count).unwrap_or(0);
    let (state, provisioned) = match cursor {
        Some(c) if c.provisioned_request.as_deref() == Some(run) => (RunState::Finished, count(c)),
        Some(c) if c.provision_request.as_deref() == Some(run) => (RunState::Running, count(c)),
        _ => (RunState::Queued, 0),
    };
    let message = match state {
        RunState::Finished => format!("{provisioned} users provisioned"),
        RunState::Running => format!("{provisioned} of {total} users pushed"),
        RunState::Queued => "waiting to start".to_string(),
    };
    Progress {
        run: run.to_string(),
        state,
        provisioned,
        total,
        message,
    }
}

/// The routes, to merge into the admin router.
pub fn router(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route(
            "/realtimetargets/{namespace}/{name}/provision",
            post(request_run).get(get_progress),
        )
        .with_state(runtime)
}

#[derive(Debug, Deserialize)]
struct RunQuery {
    run: String,
}

fn not_found(resource: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "error": format!("no enabled real-time target {resource} is configured")
        })),
    )
        .into_response()
}

/// The tenant of the configured target `resource`.
fn tenant_of(runtime: &Runtime, resource: &str) -> Option<String> {
    runtime
        .config()
        .realtime_targets
        .iter()
        .find(|t| t.resource == resource && t.enabled)
        .map(|t| t.tenant.clone())
}

fn user_count(runtime: &Runtime, tenant: &str) -> u64 {
    runtime
        .directory(tenant)
        .map_or(0, |d| u64::try_from(d.count(Kind::User)).unwrap_or(0))
}

async fn request_run(
    State(runtime): State<Arc<Runtime>>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let resource = format!("{namespace}/{name}");
    let Some(tenant) = tenant_of(&runtime, &resource) else {
        return not_found(&resource);
    };
    match runtime
        .realtime()
        .request_provision(Arc::downgrade(&runtime), &resource)
    {
        Ok(run) => {
            tracing::info!(target = %resource, %run, "Provision requested");
            (
                StatusCode::ACCEPTED,
                Json(json!({"run": run, "total": user_count(&runtime, &tenant)})),
            )
                .into_response()
        }
        Err(_) => not_found(&resource),
    }
}

async fn get_progress(
    State(runtime): State<Arc<Runtime>>,
    Path((namespace, name)): Path<(String, String)>,
    Query(query): Query<RunQuery>,
) -> Response {
    let resource = format!("{namespace}/{name}");
    let Some(tenant) = tenant_of(&runtime, &resource) else {
        return not_found(&resource);
    };
    match runtime.store().realtime_cursor(&tenant, &resource).await {
        Ok(cursor) => Json(progress(
            cursor.as_ref(),
            &query.run,
            user_count(&runtime, &tenant),
        ))
        .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": error.to_string()})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_of_a_run() {
        let mut cursor = RealtimeCursor {
            provision_request: Some("initial+manual:a".into()),
            provisioned_request: Some("initial".into()),
            provisioned_count: 40,
            ..Default::default()
        };
        let p = progress(Some(&cursor), "initial+manual:a", 100);
        assert_eq!((p.state, p.provisioned), (RunState::Running, 40));
        assert_eq!(p.message, "40 of 100 users pushed");
        cursor.provisioned_request = cursor.provision_request.take();
        cursor.provisioned_count = 100;
        let p = progress(Some(&cursor), "initial+manual:a", 100);
        assert_eq!(p.state, RunState::Finished);
        assert_eq!(p.message, "100 users provisioned");
        assert_eq!(
            progress(Some(&cursor), "initial+manual:b", 100).state,
            RunState::Queued
        );
        assert_eq!(progress(None, "x", 0).state, RunState::Queued);
    }
}
