//! The real-time provisioning API ("ipsproxy", spec/domain.md §2.1, architecture §4.1):
//! `POST …/ipsproxy/service/api/v1/systems/{systemId}/entities/{user|group}` (idempotent upsert
//! of the full resource, keyed by its `id`) and `DELETE …/entities/{user|group}/{id}`.
//! The contract is written down in `docs/realtime-api.openapi.yaml`.
//!
//! Invariants:
//! - Checks run in this order, and the first failure answers (a SCIM error body): 401
//!   (no/wrong credentials) → 403 (no AccessRealTimeProvisioningAPI) → 404 (unknown or
//!   disabled system, entity type other than user/group) → 429 with `Retry-After` (tenant rate
//!   exceeded) → 400 (body not a JSON object, or not of the source system's API version).
//!   413 (body too large) comes from the server layer before any of these.
//! - Nothing is queued on any error. On success ONE writer job commits the event row and one
//!   delivery row per enabled target system connected to the source system (and, when there
//!   is none, a real-time log entry saying so); only then is `202 Accepted` answered.
//! - Source filters (`ias.user.filter`, `ias.group.filter`) are not applied here.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use super::logs::{self, TraceCategory};
use super::rate_limit::RateLimiter;
use crate::api::Permission;
use crate::auth::Principal;
use crate::directory::Kind;
use crate::runtime::{Runtime, SourceSystemConfig};
use crate::scim::error::ScimError;
use crate::scim::urn;
use crate::server::TenantRequest;
use crate::store::{
    EventOperation, LogDetail, LogStatus, ProvisioningEvent, RealtimeLogEntry, RowWrite,
    SystemRole, entity_type_str,
};

/// The path of the entity collection, relative to the tenant base.
pub const ENTITIES_PATH: &str =
    "/ipsproxy/service/api/v1/systems/{system_id}/entities/{entity_type}";
/// The path of one entity, relative to the tenant base.
pub const ENTITY_PATH: &str =
    "/ipsproxy/service/api/v1/systems/{system_id}/entities/{entity_type}/{id}";

/// The path of one source system (`GET`: its id and API version; the harmless request of a
/// real-time target's Test Connection).
pub const SYSTEM_PATH: &str = "/ipsproxy/service/api/v1/systems/{system_id}";

/// The extension only Identity Directory SCIM v2 bodies carry.
const SAP_V2_EXTENSIONS: [&str; 2] = [urn::SAP_USER, urn::SAP_GROUP];

/// The answer of an accepted request (`202 Accepted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The event's sequence number.
    pub event_id: i64,
    pub entity_id: String,
    /// How many delivery rows were queued (one per enabled connected target system).
    pub deliveries: usize,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Scim(ScimError),
    /// Over the tenant rate: 429 with `Retry-After: seconds`.
    RateLimited {
        retry_after: u64,
        rate: u32,
    },
}

impl From<ScimError> for Refusal {
    fn from(error: ScimError) -> Self {
        Refusal::Scim(error)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Scim(error) => error.into_response(),
            Refusal::RateLimited { retry_after, rate } => {
                let mut response = ScimError::new(
                    429,
                    None,
                    format!(
                        "the real-time provisioning rate limit of the tenant ({rate} requests per second) is exceeded; retry after {retry_after} s"
                    ),
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(retry_after));
                response
            }
        }
    }
}

/// The routes of the real-time provisioning API (relative to the tenant base), with their
/// own rate limiter (one bucket per tenant).
pub fn router() -> Router<Arc<Runtime>> {
    Router::new()
        .route(ENTITIES_PATH, post(post_entity))
        .route(ENTITY_PATH, delete(delete_entity))
        .route(SYSTEM_PATH, axum::routing::get(get_system))
        .layer(Extension(Arc::new(RateLimiter::new())))
}

async fn post_entity(
    State(runtime): State<Arc<Runtime>>,
    Extension(limiter): Extension<Arc<RateLimiter>>,
    tenant: TenantRequest,
    principal: Principal,
    Path((system_id, entity_type)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request = Request {
        system_id,
        entity_type,
        action: Action::Upsert(body),
    };
    respond(accept(&runtime, &limiter, &tenant.tenant, &principal, request).await)
}

async fn delete_entity(
    State(runtime): State<Arc<Runtime>>,
    Extension(limiter): Extension<Arc<RateLimiter>>,
    tenant: TenantRequest,
    principal: Principal,
    Path((system_id, entity_type, id)): Path<(String, String, String)>,
) -> Response {
    let request = Request {
        system_id,
        entity_type,
        action: Action::Delete(id),
    };
    respond(accept(&runtime, &limiter, &tenant.tenant, &principal, request).await)
}

/// `GET …/systems/{id}`: 401 / 403 (no AccessRealTimeProvisioningAPI) / 404 (unknown or
/// disabled system) as for writes, else `200 {"id", "version"}`. Changes nothing.
async fn get_system(
    State(runtime): State<Arc<Runtime>>,
    tenant: TenantRequest,
    principal: Principal,
    Path(system_id): Path<String>,
) -> Response {
    let check = || -> Result<Value, ScimError> {
        principal.require_any(&[Permission::AccessRealTimeProvisioningAPI])?;
        let config = runtime.config();
        let system = config
            .tenants
            .get(&tenant.tenant)
            .and_then(|t| t.source_systems.get(&system_id))
            .filter(|s| s.enabled)
            .ok_or_else(|| {
                ScimError::not_found(format!(
                    "no enabled source system with id {}",
                    printable(&system_id)
                ))
            })?;
        Ok(serde_json::json!({"id": system.id, "version": system.api_version}))
    };
    match check() {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(error) => error.into_response(),
    }
}

fn respond(outcome: Result<Accepted, Refusal>) -> Response {
    match outcome {
        Ok(accepted) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// One real-time request, before any check.
#[derive(Debug, Clone)]
pub struct Request {
    pub system_id: String,
    pub entity_type: String,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// The body as received.
    Upsert(Bytes),
    /// The id from the path.
    Delete(String),
}

/// Checks a request and, when it passes, commits its event and deliveries.
pub async fn accept(
    runtime: &Runtime,
    limiter: &RateLimiter,
    tenant: &str,
    principal: &Principal,
    request: Request,
) -> Result<Accepted, Refusal> {
    principal.require_any(&[Permission::AccessRealTimeProvisioningAPI])?;
    let config = runtime.config();
    let tenant_config = config
        .tenants
        .get(tenant)
        .ok_or_else(|| ScimError::not_found("unknown tenant"))?;
    let system = tenant_config
        .source_systems
        .get(&request.system_id)
        .filter(|s| s.enabled)
        .ok_or_else(|| {
            ScimError::not_found(format!(
                "no enabled source system with id {}",
                printable(&request.system_id)
            ))
        })?;
    let kind = entity_kind(&request.entity_type)?;
    limiter
        .check(
            tenant,
            tenant_config.realtime_rate_per_second,
            Instant::now(),
        )
        .map_err(|retry_after| Refusal::RateLimited {
            retry_after,
            rate: tenant_config.realtime_rate_per_second,
        })?;
    let (entity_id, operation, payload) = match &request.action {
        Action::Upsert(body) => {
            let object = parse_object(body)?;
            let id = check_body_version(kind, system.api_version, &system.id, &object)?;
            let payload = Value::Object(object).to_string();
            (id, EventOperation::Upsert, Some(payload))
        }
        Action::Delete(id) => {
            check_id_version(kind, system.api_version, &system.id, id)?;
            (id.clone(), EventOperation::Delete, None)
        }
    };
    let targets: Vec<Arc<str>> = tenant_config
        .targets_of(&system.id)
        .map(|t| Arc::from(t.id.as_str()))
        .collect();
    let deliveries = targets.len();
    let store = runtime.store().clone();
    let accepted_at = now_millis();
    let event = EventDraft {
        tenant: Arc::from(tenant),
        system: system.clone(),
        kind,
        entity_id: Arc::from(entity_id.as_str()),
        operation,
        payload: payload.map(Arc::from),
        accepted_at,
    };
    let event_id = runtime
        .writer()
        .submit_rows(move |writes| {
            let seq = store.event_seq().next();
            writes.extend(event.into_writes(seq, targets));
            Ok(seq)
        })
        .await?;
    if deliveries > 0 {
        runtime.notify_delivery();
    }
    Ok(Accepted {
        event_id,
        entity_id,
        deliveries,
    })
}

/// An event that passed every check, before it has a sequence number.
struct EventDraft {
    tenant: Arc<str>,
    system: Arc<SourceSystemConfig>,
    kind: Kind,
    entity_id: Arc<str>,
    operation: EventOperation,
    payload: Option<Arc<str>>,
    accepted_at: Timestamp,
}

impl EventDraft {
    /// The rows of the event: the event with its deliveries, and a log entry when no target
    /// system is connected.
    fn into_writes(self, seq: i64, targets: Vec<Arc<str>>) -> Vec<RowWrite> {
        let mut writes = Vec::with_capacity(2);
        let no_target = targets.is_empty().then(|| {
            RowWrite::RealtimeLog(Box::new(no_target_log(
                &self.tenant,
                &self.system,
                self.kind,
                &self.entity_id,
                self.operation,
                self.payload.as_deref(),
                self.accepted_at,
            )))
        });
        writes.push(RowWrite::AcceptEvent {
            event: ProvisioningEvent {
                seq,
                tenant: self.tenant,
                source_system_id: Arc::from(self.system.id.as_str()),
                entity_type: self.kind,
                entity_id: self.entity_id,
                operation: self.operation,
                payload: self.payload,
                accepted_at: self.accepted_at,
            },
            targets,
        });
        writes.extend(no_target);
        writes
    }
}

/// The message of the log entry of an event no target system receives.
pub const NO_TARGET_MESSAGE: &str = "no target system connected";

/// The real-time log entry of an event whose source system has no enabled target system.
fn no_target_log(
    tenant: &Arc<str>,
    system: &SourceSystemConfig,
    kind: Kind,
    entity_id: &Arc<str>,
    operation: EventOperation,
    payload: Option<&str>,
    started_at: Timestamp,
) -> RealtimeLogEntry {
    RealtimeLogEntry {
        tenant: tenant.clone(),
        started_at,
        source_system: Arc::from(system.id.as_str()),
        source_system_name: Arc::from(system.display_name.as_str()),
        entity_type: kind,
        entity_id_source: Some(entity_id.clone()),
        entity_id_target: None,
        status: LogStatus::FinishedSuccessfully,
        message: Some(Arc::from(NO_TARGET_MESSAGE)),
        details: vec![LogDetail {
            system: system.display_name.clone(),
            role: SystemRole::Source,
            operation: Some(
                match operation {
                    EventOperation::Upsert => "READ",
                    EventOperation::Delete => "DELETE",
                }
                .to_string(),
            ),
            state: "Entity Read".to_string(),
            additional_information: Some(NO_TARGET_MESSAGE.to_string()),
            reason: None,
        }],
        content: payload
            .and_then(|p| logs::traced_content(&[&system.properties], TraceCategory::Skipped, p)),
    }
}

/// The current instant truncated to milliseconds (the stored precision).
fn now_millis() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
}

/// `user` / `group`; anything else is an unknown endpoint (404).
pub fn entity_kind(segment: &str) -> Result<Kind, ScimError> {
    match segment {
        "user" => Ok(Kind::User),
        "group" => Ok(Kind::Group),
        other => Err(ScimError::not_found(format!(
            "unknown entity type {}: use user or group",
            printable(other)
        ))),
    }
}

/// The request body as a JSON object; anything else is 400 `invalidSyntax`.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ScimError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ScimError::invalid_syntax(
            "the request body must be a JSON object (the full resource)",
        )),
        Err(e) => Err(ScimError::invalid_syntax(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// Checks that `body` is a `kind` resource in the shape of SCIM API `version` and returns its
/// `id`.
///
/// - v2 (Identity Directory SCIM): `id` is a UUID (hyphenated); `schemas`, when present,
///   lists the core 2.0 schema of the kind.
/// - v1 (Identity Authentication SCIM): `id` is a legacy id (`P` + digits for users, 24
///   letters/digits for groups); the body carries no SAP 2.0 extension.
pub fn check_body_version(
    kind: Kind,
    version: u8,
    system_id: &str,
    body: &Map<String, Value>,
) -> Result<String, ScimError> {
    let expects = |problem: &str| {
        ScimError::invalid_syntax(format!(
            "system {system_id} expects SCIM API version {version}: {problem}"
        ))
    };
    let id = match body.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(_) => return Err(expects("\"id\" must be a string")),
        None => return Err(expects("the body has no \"id\"")),
    };
    check_id_version(kind, version, system_id, &id)?;
    let schemas: Vec<&str> = match body.get("schemas") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err(expects("\"schemas\" must be an array of URIs")),
    };
    let has = |urn: &str| {
        schemas.iter().any(|s| s.eq_ignore_ascii_case(urn))
            || body.keys().any(|k| k.eq_ignore_ascii_case(urn))
    };
    match version {
        2 => {
            let (core, other) = match kind {
                Kind::User => (urn::USER, urn::GROUP),
                Kind::Group => (urn::GROUP, urn::USER),
            };
            if !schemas.is_empty() && !has(core) {
                let problem = if has(other) {
                    format!(
                        "the body is not a {}: its schemas list {other}",
                        entity_type_str(kind)
                    )
                } else {
                    format!("\"schemas\" does not list {core}")
                };
                return Err(expects(&problem));
            }
        }
        _ => {
            if let Some(ext) = SAP_V2_EXTENSIONS.iter().find(|u| has(u)) {
                return Err(expects(&format!(
                    "the body carries the version 2 extension {ext}"
                )));
            }
        }
    }
    Ok(id)
}

/// Checks that `id` is an entity id of SCIM API `version` (see [`check_body_version`]).
pub fn check_id_version(
    kind: Kind,
    version: u8,
    system_id: &str,
    id: &str,
) -> Result<(), ScimError> {
    let ok = match version {
        2 => is_uuid(id),
        _ => match kind {
            Kind::User => is_legacy_user_id(id),
            Kind::Group => is_legacy_group_id(id),
        },
    };
    if ok {
        return Ok(());
    }
    let form = match (version, kind) {
        (2, _) => "a UUID",
        (_, Kind::User) => "a user id like P000123",
        (_, Kind::Group) => "a 24-character group id",
    };
    Err(ScimError::invalid_syntax(format!(
        "system {system_id} expects SCIM API version {version}: the {} id {} is not {form}",
        entity_type_str(kind),
        printable(id)
    )))
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::try_parse(id).is_ok()
}

fn is_legacy_user_id(id: &str) -> bool {
    id.strip_prefix('P')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

fn is_legacy_group_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A caller-supplied value quoted for an error message, cut at 64 characters.
fn printable(value: &str) -> String {
    let cut: String = value.chars().take(64).collect();
    let suffix = if cut.len() < value.len() { "…" } else { "" };
    format!("{:?}{suffix}", cut)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const UUID: &str = "2819c223-7f76-453a-919d-413861904646";

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn entity_type_is_user_or_group() {
        assert_eq!(entity_kind("user"), Ok(Kind::User));
        assert_eq!(entity_kind("group"), Ok(Kind::Group));
        assert_eq!(entity_kind("Users").unwrap_err().status, 404);
    }

    #[test]
    fn body_must_be_a_json_object() {
        assert!(parse_object(br#"{"id":"x"}"#).is_ok());
        for bad in [&b""[..], b"  ", b"[1]", b"\"x\"", b"{\"id\":", b"null"] {
            let err = parse_object(bad).unwrap_err();
            assert_eq!(err.status, 400);
            assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidSyntax));
        }
    }

    #[test]
    fn v2_requires_uuid_id_and_v2_schemas() {
        let user =
            object(json!({"id": UUID, "schemas": [urn::USER, urn::SAP_USER], "userName": "a"}));
        assert_eq!(
            check_body_version(Kind::User, 2, "s", &user),
            Ok(UUID.into())
        );
        let bare = object(json!({"id": UUID, "userName": "a"}));
        assert!(check_body_version(Kind::User, 2, "s", &bare).is_ok());
        let legacy = object(json!({"id": "P000123", "userName": "a"}));
        let err = check_body_version(Kind::User, 2, "s", &legacy).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(
            err.detail
                .starts_with("system s expects SCIM API version 2"),
            "{}",
            err.detail
        );
        let group_body = object(json!({"id": UUID, "schemas": [urn::GROUP]}));
        let err = check_body_version(Kind::User, 2, "s", &group_body).unwrap_err();
        assert!(err.detail.contains("not a user"), "{}", err.detail);
        assert!(check_body_version(Kind::Group, 2, "s", &group_body).is_ok());
        let no_id = object(json!({"userName": "a"}));
        assert!(
            check_body_version(Kind::User, 2, "s", &no_id)
                .unwrap_err()
                .detail
                .contains("no \"id\"")
        );
        let numeric = object(json!({"id": 5}));
        assert!(check_body_version(Kind::User, 2, "s", &numeric).is_err());
        let unbraced = object(json!({"id": UUID.replace('-', "")}));
        assert!(check_body_version(Kind::User, 2, "s", &unbraced).is_err());
    }

    #[test]
    fn v1_requires_legacy_ids_and_no_v2_extension() {
        let user = object(json!({"id": "P000123", "schemas": [urn::USER], "userName": "a"}));
        assert_eq!(
            check_body_version(Kind::User, 1, "s", &user),
            Ok("P000123".into())
        );
        let group = object(json!({"id": "abcdefghijklmnopqrstuvwx", "displayName": "G"}));
        assert!(check_body_version(Kind::Group, 1, "s", &group).is_ok());
        let v2_user = object(json!({"id": UUID}));
        let err = check_body_version(Kind::User, 1, "s", &v2_user).unwrap_err();
        assert!(
            err.detail
                .starts_with("system s expects SCIM API version 1"),
            "{}",
            err.detail
        );
        let with_ext = object(json!({"id": "P1", "schemas": [urn::USER, urn::SAP_USER]}));
        assert!(
            check_body_version(Kind::User, 1, "s", &with_ext)
                .unwrap_err()
                .detail
                .contains("extension")
        );
        let ext_key = object(json!({"id": "P1", urn::SAP_USER: {"userId": "P1"}}));
        assert!(check_body_version(Kind::User, 1, "s", &ext_key).is_err());
        assert!(check_id_version(Kind::User, 1, "s", "P").is_err());
        assert!(check_id_version(Kind::User, 1, "s", "Q000001").is_err());
        assert!(check_id_version(Kind::Group, 1, "s", "short").is_err());
        assert!(check_id_version(Kind::Group, 1, "s", "abcdefghijklmnopqrstuvw!").is_err());
    }

    #[test]
    fn error_messages_quote_and_cut_caller_values() {
        let long = "x".repeat(100);
        let err = check_id_version(Kind::User, 2, "s", &long).unwrap_err();
        assert!(err.detail.contains('…'));
        assert!(!err.detail.contains(&long));
        let err = entity_kind("a\"\n").unwrap_err();
        assert!(err.detail.contains("\\n"), "{}", err.detail);
    }

    #[test]
    fn refusal_429_has_retry_after() {
        let response = Refusal::RateLimited {
            retry_after: 3,
            rate: 5,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "3");
    }
}
