//! The job endpoints of the tenant admin API (spec/domain.md §2.6), relative to the tenant
//! base (`/tenants/{name}` or a tenant host's root):
//! - `POST /ips/service/publicapi/v1/startJob/{sourceSystemId}/jobs/{READ|RESYNC}` (also
//!   without `/service`, as SAP's add-administrators page writes it) → `202 Accepted` with the
//!   job id; a run-now during a running job is queued (the same `Queued` job for repeated
//!   requests).
//! - `GET /ips/service/publicapi/v1/jobLogs/{jobId}` → the run as JSON (status, trigger, read
//!   mode, statistics per system, up to 10 failed entities). SAP's zip export
//!   (`action=export`) is not offered: the JSON is the log.
//! - `GET /ips/service/publicapi/v1/jobLogs?sourceSystemId=…&limit=…` → recent runs, newest
//!   first (for `idrelay job log` without a job id).
//!
//! Invariants: every endpoint needs AccessIdentityProvisioningTenantAdminAPI (403 SCIM error
//! otherwise); an unknown or disabled source system or an unknown job is 404; an unknown job
//! type is 400; errors are SCIM error bodies.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::service::{StartError, jobs};
use crate::api::Permission;
use crate::auth::Principal;
use crate::runtime::Runtime;
use crate::scim::error::ScimError;
use crate::server::TenantRequest;
use crate::store::{JobTrigger, JobType};

/// The start path (relative to the tenant base); `{id}` and `{type}` are placeholders.
pub const START_PATH: &str =
    "/ips/service/publicapi/v1/startJob/{source_system_id}/jobs/{job_type}";
/// SAP's alternative spelling without `/service`.
pub const START_PATH_SHORT: &str = "/ips/publicapi/v1/startJob/{source_system_id}/jobs/{job_type}";
/// The job log path prefix (`/{jobId}` appended).
pub const LOGS_PATH: &str = "/ips/service/publicapi/v1/jobLogs";
/// Default and largest `limit` of the job log listing.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 500;

/// The job routes (relative to the tenant base).
pub fn router() -> Router<Arc<Runtime>> {
    Router::new()
        .route(START_PATH, post(start_job))
        .route(START_PATH_SHORT, post(start_job))
        .route(LOGS_PATH, get(list_logs))
        .route(&format!("{LOGS_PATH}/{{job_id}}"), get(job_log))
}

fn authorize(principal: &Principal) -> Result<(), ScimError> {
    principal.require_any(&[Permission::AccessIdentityProvisioningTenantAdminAPI])
}

fn store_error(error: impl std::fmt::Display) -> ScimError {
    tracing::error!(%error, "reading job logs failed");
    ScimError::internal("the job logs could not be read")
}

async fn start_job(
    State(runtime): State<Arc<Runtime>>,
    tenant: TenantRequest,
    principal: Principal,
    Path((source_system_id, job_type)): Path<(String, String)>,
) -> Result<Response, ScimError> {
    authorize(&principal)?;
    let job_type = JobType::parse(&job_type).ok_or_else(|| {
        ScimError::invalid_value(format!("unknown job type {job_type:?}: use READ or RESYNC"))
    })?;
    let triggered_by = format!("Identity Provisioning API – {}", principal.client_id);
    let record = jobs(&runtime)
        .start(
            &tenant.tenant,
            &source_system_id,
            job_type,
            JobTrigger::Immediate,
            &triggered_by,
        )
        .await
        .map_err(|error| match error {
            StartError::UnknownTenant(_) | StartError::UnknownSource(_) => {
                ScimError::not_found(error.to_string())
            }
            StartError::Overlap(_) | StartError::Store(_) => {
                tracing::error!(%error, "starting a job failed");
                ScimError::internal("the job could not be started")
            }
        })?;
    let body = json!({
        "jobId": record.id,
        "status": record.status,
        "jobType": record.job_type,
        "sourceSystemId": record.source_system_id,
        "trigger": record.trigger,
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

async fn job_log(
    State(runtime): State<Arc<Runtime>>,
    tenant: TenantRequest,
    principal: Principal,
    Path(job_id): Path<String>,
) -> Result<Response, ScimError> {
    authorize(&principal)?;
    let record = runtime
        .store()
        .job_run(&tenant.tenant, &job_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("job {job_id} not found")))?;
    Ok(Json(record).into_response())
}

/// Query of the job log listing.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    pub source_system_id: Option<String>,
    pub limit: Option<u32>,
}

async fn list_logs(
    State(runtime): State<Arc<Runtime>>,
    tenant: TenantRequest,
    principal: Principal,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ScimError> {
    authorize(&principal)?;
    let Query(query) =
        query.map_err(|e| ScimError::invalid_value(format!("bad query parameters: {e}")))?;
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(l) if (1..=MAX_LIMIT).contains(&l) => l,
        Some(_) => {
            return Err(ScimError::invalid_value(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
    };
    let source = query
        .source_system_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let runs = runtime
        .store()
        .job_runs(&tenant.tenant, source, limit)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({"totalResults": runs.len(), "jobs": runs})).into_response())
}
