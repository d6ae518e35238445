//! Executes one dispatched delivery: plan it ([`super::pipeline`]), make the SCIM calls
//! (create-conflict resolution, re-create of a vanished entity, group assignment), then settle
//! it in ONE writer job: id mapping, superseding of older rows, the row's state, and the
//! real-time log entry (final outcomes only; retries are not logged).
//!
//! Invariants: the row state is committed before the dispatcher hears of the outcome (the
//! dispatcher hears earlier only that the target answered, to free the concurrency slot; the
//! entity stays in flight until the commit); a transient failure leaves the row `pending`
//! with its next attempt time; nothing here logs a secret (errors come from the client, which
//! redacts).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

use super::backoff::{RetryDecision, RetryPolicy};
use super::client::{ClientError, Reply, ScimClient};
use super::mappings::IdMappings;
use super::pipeline::{self, Action, Plan, PlanInput};
use super::queue::{Dispatch, Settlement};
use crate::directory::{Kind, WriterHandle};
use crate::provisioning::transform::{EntityIdResolver, EntityType};
use crate::runtime::{SourceSystemConfig, TargetSystemConfig};
use crate::store::{
    DeliveryStatus, EventOperation, LogDetail, LogStatus, RealtimeLogEntry, RowWrite, SystemRole,
};

/// Entity content in logs is cut to this many characters unless
/// `ips.trace.entity.content.unlimited` is true.
const MAX_TRACE_CONTENT: usize = 150_000;

/// What the circuit breaker learns from an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// The target answered (also a permanent 4xx).
    Answered,
    /// Transient failure (connect, timeout, 429, 5xx).
    Transient(String),
    /// No request reached the target.
    None,
}

/// The outcome reported to the dispatcher.
#[derive(Debug)]
pub struct Done {
    pub dispatch: Dispatch,
    pub settlement: Settlement,
    pub signal: Signal,
}

/// Everything one execution needs.
pub struct Job {
    pub dispatch: Dispatch,
    pub target: Arc<TargetSystemConfig>,
    pub source: Option<Arc<SourceSystemConfig>>,
    pub client: Arc<ScimClient>,
    pub writer: WriterHandle,
    pub mappings: Arc<IdMappings>,
    /// Records the accept→acknowledgement latency of delivered entities.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Called once the target answered (or nothing was sent), before the outcome is
    /// committed: frees the concurrency slot.
    pub answered: Option<Box<dyn FnOnce() + Send + Sync>>,
}

/// The result of the SCIM calls.
#[derive(Debug)]
pub(crate) enum Performed {
    Ok {
        target_id: Option<String>,
        state: &'static str,
        operation: Option<&'static str>,
        mapping: MappingChange,
        info: Option<String>,
    },
    Skipped {
        role: SystemRole,
        state: &'static str,
        reason: String,
    },
    Transient {
        operation: Option<&'static str>,
        message: String,
        retry_after: Option<Duration>,
    },
    Permanent {
        role: SystemRole,
        operation: Option<&'static str>,
        message: String,
        answered: bool,
    },
}

#[derive(Debug, PartialEq)]
pub(crate) enum MappingChange {
    Keep,
    Set {
        target_id: String,
        existed_before: bool,
    },
    Remove,
}

/// Resolves source ids to target ids from prefetched mappings.
struct Prefetched(HashMap<(Kind, String), String>);

impl EntityIdResolver for Prefetched {
    fn resolve(&self, entity: EntityType, source_id: &str) -> Option<String> {
        let kind = match entity {
            EntityType::User => Kind::User,
            EntityType::Group => Kind::Group,
        };
        self.0.get(&(kind, source_id.to_string())).cloned()
    }
}

/// Runs the job to its settlement.
pub async fn execute(mut job: Job) -> Done {
    let started_at = Timestamp::now();
    let row = &job.dispatch.row;
    let kind = row.entity_type;
    let tenant: Arc<str> = job.dispatch.target.tenant.clone();
    let target_id_key: Arc<str> = job.dispatch.target.target.clone();
    let mapping = job
        .mappings
        .get(&tenant, &target_id_key, kind, &row.entity_id)
        .await;
    let performed = match mapping {
        Err(error) => Performed::Transient {
            operation: None,
            message: format!("could not read the id mapping: {error}"),
            retry_after: None,
        },
        Ok(mapping) => perform(&job, mapping.as_deref(), started_at).await,
    };
    if let Some(answered) = job.answered.take() {
        answered();
    }
    settle(job, performed, started_at).await
}

async fn perform(job: &Job, mapping: Option<&str>, now: Timestamp) -> Performed {
    let row = &job.dispatch.row;
    let kind = row.entity_type;
    let Some(source) = job.source.as_deref() else {
        return Performed::Permanent {
            role: SystemRole::Source,
            operation: None,
            message: format!(
                "the source system {} is not configured any more",
                row.source_system_id
            ),
            answered: false,
        };
    };
    let payload = match (&row.operation, &row.payload) {
        (EventOperation::Upsert, Some(text)) => match serde_json::from_str::<Value>(text) {
            Ok(value) => Some(value),
            Err(_) => {
                return Performed::Permanent {
                    role: SystemRole::Source,
                    operation: None,
                    message: "the accepted entity is not valid JSON".into(),
                    answered: false,
                };
            }
        },
        _ => None,
    };
    let mut resolved = HashMap::new();
    if let Some(payload) = &payload {
        for (ref_kind, id) in pipeline::referenced_ids(kind, payload) {
            let tenant = &job.dispatch.target.tenant;
            let target = &job.dispatch.target.target;
            if let Ok(Some(target_id)) = job.mappings.get(tenant, target, ref_kind, &id).await {
                resolved.insert((ref_kind, id), target_id);
            }
        }
    }
    let resolver = Prefetched(resolved);
    let input = PlanInput {
        kind,
        operation: row.operation,
        payload: payload.as_ref(),
        entity_id: &row.entity_id,
        target_id: mapping,
        source,
        target: &job.target,
        resolver: &resolver,
        now,
    };
    let plan = match pipeline::plan(&input) {
        Ok(plan) => plan,
        Err(error) => {
            return Performed::Permanent {
                role: error.role,
                operation: None,
                message: error.to_string(),
                answered: false,
            };
        }
    };
    let outbound = Outbound {
        client: &job.client,
        target: &job.target,
    };
    perform_plan(&outbound, kind, plan).await
}

/// The target side of one execution without the outbox row: what a provisioning job uses to
/// write an entity it planned with [`pipeline::plan`].
pub(crate) struct Outbound<'a> {
    pub client: &'a ScimClient,
    pub target: &'a TargetSystemConfig,
}

/// Makes the SCIM calls of `plan` (create-conflict resolution, re-create of a vanished entity,
/// then `assignGroup` / `unassignGroup` for users).
pub(crate) async fn perform_plan(job: &Outbound<'_>, kind: Kind, plan: Plan) -> Performed {
    let performed = send_plan(job, kind, plan.clone()).await;
    if let Performed::Ok {
        target_id: Some(user_id),
        ..
    } = &performed
        && kind == Kind::User
        && let Some(info) = assign_groups(job, &plan, user_id).await
    {
        return with_info(performed, info);
    }
    performed
}

fn with_info(performed: Performed, extra: String) -> Performed {
    match performed {
        Performed::Ok {
            target_id,
            state,
            operation,
            mapping,
            info,
        } => Performed::Ok {
            target_id,
            state,
            operation,
            mapping,
            info: Some(match info {
                Some(info) => format!("{info}; {extra}"),
                None => extra,
            }),
        },
        other => other,
    }
}

async fn send_plan(job: &Outbound<'_>, kind: Kind, plan: Plan) -> Performed {
    let client = &job.client;
    let path = pipeline::resource_path(kind);
    let operation = plan.action.operation_label();
    match plan.action {
        Action::Skip {
            role,
            state,
            reason,
        } => Performed::Skipped {
            role,
            state,
            reason,
        },
        Action::Create { body } => create(job, kind, &body, plan.mapped).await,
        Action::Replace { target_id, body } => {
            let reply = client
                .send(
                    Method::PUT,
                    &format!("{path}/{target_id}"),
                    &[],
                    Some(&body),
                )
                .await;
            updated(job, kind, target_id, operation, reply, plan.mapped).await
        }
        Action::Patch { target_id, body } => {
            let reply = client
                .send(
                    Method::PATCH,
                    &format!("{path}/{target_id}"),
                    &[],
                    Some(&body),
                )
                .await;
            updated(job, kind, target_id, operation, reply, plan.mapped).await
        }
        Action::Deactivate { target_id, body } => {
            let reply = client
                .send(
                    Method::PATCH,
                    &format!("{path}/{target_id}"),
                    &[],
                    Some(&body),
                )
                .await;
            match classify(operation, reply) {
                Ok(_) => Performed::Ok {
                    target_id: Some(target_id),
                    state: "Entity Updated",
                    operation,
                    mapping: MappingChange::Keep,
                    info: Some("deactivated instead of deleted".into()),
                },
                Err(failed) => failed,
            }
        }
        Action::Delete { target_id } => {
            let reply = client
                .send(Method::DELETE, &format!("{path}/{target_id}"), &[], None)
                .await;
            match reply {
                Ok(reply) if reply.status == 404 => Performed::Ok {
                    target_id: Some(target_id),
                    state: "Entity Deleted",
                    operation,
                    mapping: MappingChange::Remove,
                    info: Some("the entity was already gone from the target".into()),
                },
                other => match classify(operation, other) {
                    Ok(_) => Performed::Ok {
                        target_id: Some(target_id),
                        state: "Entity Deleted",
                        operation,
                        mapping: MappingChange::Remove,
                        info: None,
                    },
                    Err(failed) => failed,
                },
            }
        }
    }
}

/// A successful reply, or the failure it means.
fn classify(
    operation: Option<&'static str>,
    reply: Result<Reply, ClientError>,
) -> Result<Reply, Performed> {
    match reply {
        Ok(reply) if reply.is_success() => Ok(reply),
        Ok(reply) if reply.is_transient() => Err(Performed::Transient {
            operation,
            message: reply.describe(),
            retry_after: reply.retry_after,
        }),
        Ok(reply) => Err(Performed::Permanent {
            role: SystemRole::Target,
            operation,
            message: reply.describe(),
            answered: true,
        }),
        Err(error) if error.is_transient() => Err(Performed::Transient {
            operation,
            message: error.to_string(),
            retry_after: None,
        }),
        Err(error) => Err(Performed::Permanent {
            role: SystemRole::Target,
            operation,
            message: error.to_string(),
            answered: false,
        }),
    }
}

async fn create(job: &Outbound<'_>, kind: Kind, body: &Value, mapped: Option<Value>) -> Performed {
    let operation = Some("CREATE");
    let path = pipeline::resource_path(kind);
    let reply = job.client.send(Method::POST, path, &[], Some(body)).await;
    match reply {
        Ok(reply) if reply.status == 409 => resolve_conflict(job, kind, &reply, mapped).await,
        other => match classify(operation, other) {
            Ok(reply) => match reply.body.get("id").and_then(Value::as_str) {
                Some(id) => Performed::Ok {
                    target_id: Some(id.to_string()),
                    state: "Entity Created",
                    operation,
                    mapping: MappingChange::Set {
                        target_id: id.to_string(),
                        existed_before: false,
                    },
                    info: None,
                },
                None => Performed::Permanent {
                    role: SystemRole::Target,
                    operation,
                    message: format!("HTTP {}: the target answered without an id", reply.status),
                    answered: true,
                },
            },
            Err(failed) => failed,
        },
    }
}

/// A create answered 409: find the existing entity by its unique attribute(s) and update it.
async fn resolve_conflict(
    job: &Outbound<'_>,
    kind: Kind,
    conflict: &Reply,
    mapped: Option<Value>,
) -> Performed {
    let operation = Some("CREATE");
    let mut mapped = mapped.unwrap_or(Value::Null);
    if kind == Kind::User && !pipeline::automatic_conflict_resolution(job.target) {
        return Performed::Permanent {
            role: SystemRole::Target,
            operation,
            message: format!("{} (uniqueness)", conflict.describe()),
            answered: true,
        };
    }
    let filters = pipeline::conflict_filters(job.target, kind, &mapped);
    let path = pipeline::resource_path(kind);
    for filter in &filters {
        let reply = job
            .client
            .send(
                Method::GET,
                path,
                &[("filter", filter.as_str()), ("count", "2")],
                None,
            )
            .await;
        let reply = match classify(Some("READ"), reply) {
            Ok(reply) => reply,
            Err(failed) => return failed,
        };
        let Some(existing) = reply
            .body
            .get("Resources")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let existing = existing.to_string();
        let action = pipeline::update_action(job.target, &existing, &mut mapped);
        let (method, body) = match action {
            Action::Patch { body, .. } => (Method::PATCH, body),
            Action::Replace { body, .. } => (Method::PUT, body),
            _ => (Method::PUT, mapped.clone()),
        };
        let reply = job
            .client
            .send(method, &format!("{path}/{existing}"), &[], Some(&body))
            .await;
        return match classify(operation, reply) {
            Ok(_) => Performed::Ok {
                target_id: Some(existing.clone()),
                state: "Entity Updated",
                operation: Some("UPDATE"),
                mapping: MappingChange::Set {
                    target_id: existing,
                    existed_before: true,
                },
                info: Some(format!(
                    "the entity already existed in the target (found by {filter})"
                )),
            },
            Err(failed) => failed,
        };
    }
    Performed::Permanent {
        role: SystemRole::Target,
        operation,
        message: format!(
            "{}; no existing entity found by {}",
            conflict.describe(),
            if filters.is_empty() {
                "its unique attribute (it has no value)".to_string()
            } else {
                filters.join(" or ")
            }
        ),
        answered: true,
    }
}

/// The outcome of an update; 404 means the target entity is gone: create it again.
async fn updated(
    job: &Outbound<'_>,
    kind: Kind,
    target_id: String,
    operation: Option<&'static str>,
    reply: Result<Reply, ClientError>,
    mapped: Option<Value>,
) -> Performed {
    match reply {
        Ok(reply) if reply.status == 404 => {
            let mut body = mapped.clone().unwrap_or(Value::Null);
            if let Some(object) = body.as_object_mut() {
                object.remove("id");
            }
            with_info(
                create(job, kind, &body, mapped).await,
                format!("the mapped entity {target_id} was gone from the target; created again"),
            )
        }
        other => match classify(operation, other) {
            Ok(_) => Performed::Ok {
                target_id: Some(target_id),
                state: "Entity Updated",
                operation,
                mapping: MappingChange::Keep,
                info: None,
            },
            Err(failed) => failed,
        },
    }
}

/// `assignGroup` / `unassignGroup` target variables: add or remove the user in those groups.
/// Returns a note when something failed (the user write itself succeeded).
async fn assign_groups(job: &Outbound<'_>, plan: &Plan, user_id: &str) -> Option<String> {
    let mut failures = Vec::new();
    for (variable, assign) in [("assignGroup", true), ("unassignGroup", false)] {
        let Some(value) = plan.variables.get(variable) else {
            continue;
        };
        let groups: Vec<String> = match value {
            Value::Array(items) => items
                .iter()
                .filter_map(|g| {
                    g.get("id")
                        .or_else(|| g.get("value"))
                        .unwrap_or(g)
                        .as_str()
                        .map(str::to_string)
                })
                .collect(),
            Value::String(s) => vec![s.clone()],
            Value::Object(_) => value
                .get("id")
                .and_then(Value::as_str)
                .map(|s| vec![s.to_string()])
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        for group in groups {
            let operation = if assign {
                json!({"op": "add", "path": "members", "value": [{"value": user_id}]})
            } else {
                json!({"op": "remove", "path": format!("members[value eq \"{user_id}\"]")})
            };
            let body = json!({"schemas": [pipeline::PATCH_OP_SCHEMA], "Operations": [operation]});
            let reply = job
                .client
                .send(Method::PATCH, &format!("/Groups/{group}"), &[], Some(&body))
                .await;
            if let Err(failed) = classify(Some("PATCH"), reply) {
                let message = match failed {
                    Performed::Transient { message, .. } | Performed::Permanent { message, .. } => {
                        message
                    }
                    _ => String::new(),
                };
                failures.push(format!("{variable} {group}: {message}"));
            }
        }
    }
    (!failures.is_empty()).then(|| failures.join("; "))
}

/// Writes the outcome (one writer job) and tells the dispatcher.
async fn settle(job: Job, performed: Performed, started_at: Timestamp) -> Done {
    let now = Timestamp::now();
    let row = job.dispatch.row.clone();
    let tenant = job.dispatch.target.tenant.clone();
    let target_key = job.dispatch.target.target.clone();
    let attempts = job.dispatch.attempts.max(row.attempts).saturating_add(1);
    let mut writes: Vec<RowWrite> = Vec::new();
    if job.dispatch.coalesces {
        writes.push(RowWrite::SupersedeDeliveries {
            tenant: tenant.clone(),
            target_system_id: target_key.clone(),
            entity_type: row.entity_type,
            entity_id: Arc::from(row.entity_id.as_str()),
            up_to_seq: row.seq,
            updated_at: now,
        });
    }
    let source_name = job
        .source
        .as_ref()
        .map_or_else(|| row.source_system_id.clone(), |s| s.display_name.clone());
    let mut log = LogParts {
        source_name: source_name.clone(),
        target_name: job.target.display_name.clone(),
        ..LogParts::default()
    };
    let (settlement, signal, state, last_error, mapping_change) = match performed {
        Performed::Ok {
            target_id,
            state,
            operation,
            mapping,
            info,
        } => {
            if let Some(metrics) = &job.metrics {
                let latency = now.duration_since(row.accepted_at).unsigned_abs();
                metrics.delivery_acknowledged(&tenant, &target_key, latency);
            }
            log.target_id = target_id;
            log.operation = operation;
            log.target_state = state;
            log.info = info;
            (
                Settlement::Settled,
                Signal::Answered,
                DeliveryStatus::Delivered,
                None,
                mapping,
            )
        }
        Performed::Skipped {
            role,
            state,
            reason,
        } => {
            log.skipped_by = Some(role);
            log.target_state = state;
            log.reason = Some(reason);
            (
                Settlement::Settled,
                Signal::None,
                DeliveryStatus::Delivered,
                None,
                MappingChange::Keep,
            )
        }
        Performed::Permanent {
            role,
            operation,
            message,
            answered,
        } => {
            log.failed_by = Some(role);
            log.operation = operation;
            log.target_state = "Entity Failed";
            log.message = Some(message.clone());
            let signal = if answered {
                Signal::Answered
            } else {
                Signal::None
            };
            (
                Settlement::Settled,
                signal,
                DeliveryStatus::Failed,
                Some(message),
                MappingChange::Keep,
            )
        }
        Performed::Transient {
            operation,
            message,
            retry_after,
        } => {
            let policy = RetryPolicy::from_properties(&job.target.properties);
            match policy.decide(
                attempts,
                job.dispatch.oldest_accepted_at,
                now,
                rand::random::<f64>(),
                retry_after,
            ) {
                RetryDecision::RetryAfter(delay) => {
                    let at = now
                        .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
                        .unwrap_or(now);
                    let settlement = Settlement::Retry {
                        at: at.as_millisecond(),
                        attempts,
                    };
                    writes.push(RowWrite::DeliveryState {
                        seq: row.seq,
                        state: DeliveryStatus::Pending,
                        attempts,
                        next_attempt_at: at,
                        last_error: Some(Arc::from(message.as_str())),
                        updated_at: now,
                    });
                    return commit(job, writes, settlement, Signal::Transient(message)).await;
                }
                RetryDecision::GiveUp => {
                    let message = format!(
                        "gave up after {attempts} attempts over the retry budget of {}: {message}",
                        humanize(policy.budget)
                    );
                    log.failed_by = Some(SystemRole::Target);
                    log.operation = operation;
                    log.target_state = "Entity Failed";
                    log.message = Some(message.clone());
                    (
                        Settlement::Settled,
                        Signal::Transient(message.clone()),
                        DeliveryStatus::Failed,
                        Some(message),
                        MappingChange::Keep,
                    )
                }
            }
        }
    };
    match mapping_change {
        MappingChange::Keep => {}
        MappingChange::Set {
            target_id,
            existed_before,
        } => writes.push(RowWrite::IdMapping {
            tenant: tenant.clone(),
            target_system_id: target_key.clone(),
            entity_type: row.entity_type,
            source_id: Arc::from(row.entity_id.as_str()),
            target_id: Arc::from(target_id.as_str()),
            existed_before,
        }),
        MappingChange::Remove => writes.push(RowWrite::DeleteIdMapping {
            tenant: tenant.clone(),
            target_system_id: target_key.clone(),
            entity_type: row.entity_type,
            source_id: Arc::from(row.entity_id.as_str()),
        }),
    }
    writes.push(RowWrite::DeliveryState {
        seq: row.seq,
        state,
        attempts,
        next_attempt_at: now,
        last_error: last_error.as_deref().map(Arc::from),
        updated_at: now,
    });
    let content = trace_content(&job, state, &log);
    writes.push(RowWrite::RealtimeLog(Box::new(log.entry(
        &tenant,
        &row.source_system_id,
        row.entity_type,
        &row.entity_id,
        started_at,
        content,
    ))));
    commit(job, writes, settlement, signal).await
}

/// Commits the writes; on a store failure the row stays pending and is retried soon.
async fn commit(job: Job, writes: Vec<RowWrite>, settlement: Settlement, signal: Signal) -> Done {
    let mapping_updates: Vec<RowWrite> = writes
        .iter()
        .filter(|w| {
            matches!(
                w,
                RowWrite::IdMapping { .. } | RowWrite::DeleteIdMapping { .. }
            )
        })
        .cloned()
        .collect();
    let outcome = job
        .writer
        .submit_rows(move |batch| {
            batch.extend(writes);
            Ok(())
        })
        .await;
    match outcome {
        Ok(()) => {
            job.mappings.apply(&mapping_updates);
            Done {
                dispatch: job.dispatch,
                settlement,
                signal,
            }
        }
        Err(error) => {
            tracing::error!(%error, seq = job.dispatch.row.seq, "delivery state not stored; retrying");
            let at = Timestamp::now().as_millisecond() + 1000;
            Done {
                dispatch: job.dispatch,
                settlement: Settlement::Released { at },
                signal,
            }
        }
    }
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// The entity content for the log, when a trace property of the outcome is set.
fn trace_content(job: &Job, state: DeliveryStatus, log: &LogParts) -> Option<Arc<str>> {
    let which = match (state, log.target_state) {
        (DeliveryStatus::Failed, _) => "failed",
        (_, "Entity Created") => "created",
        (_, "Entity Updated") => "updated",
        (_, "Entity Skipped") => "skipped",
        _ => return None,
    };
    let property = format!("ips.trace.{which}.entity.content");
    let enabled = |props: &std::collections::BTreeMap<String, String>| {
        props
            .get(&property)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    };
    let source_props = job.source.as_ref().map(|s| &s.properties);
    if !enabled(&job.target.properties) && !source_props.is_some_and(enabled) {
        return None;
    }
    let payload = job.dispatch.row.payload.as_deref()?;
    let unlimited = job
        .target
        .properties
        .get("ips.trace.entity.content.unlimited")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if unlimited || payload.len() <= MAX_TRACE_CONTENT {
        Some(Arc::from(payload))
    } else {
        Some(Arc::from(
            payload.chars().take(MAX_TRACE_CONTENT).collect::<String>(),
        ))
    }
}

/// The pieces of a real-time log entry.
#[derive(Default)]
struct LogParts {
    source_name: String,
    target_name: String,
    target_id: Option<String>,
    operation: Option<&'static str>,
    target_state: &'static str,
    info: Option<String>,
    reason: Option<String>,
    message: Option<String>,
    skipped_by: Option<SystemRole>,
    failed_by: Option<SystemRole>,
}

impl LogParts {
    fn entry(
        self,
        tenant: &Arc<str>,
        source_id: &str,
        kind: Kind,
        entity_id: &str,
        started_at: Timestamp,
        content: Option<Arc<str>>,
    ) -> RealtimeLogEntry {
        let source_failed = self.failed_by == Some(SystemRole::Source);
        let source_skipped = self.skipped_by == Some(SystemRole::Source);
        let source_row = LogDetail {
            system: self.source_name.clone(),
            role: SystemRole::Source,
            operation: Some("READ".into()),
            state: if source_failed {
                "Entity Failed"
            } else if source_skipped {
                "Entity Skipped"
            } else {
                "Entity Read"
            }
            .into(),
            additional_information: if source_failed {
                self.message.clone()
            } else {
                None
            },
            reason: if source_skipped {
                self.reason.clone()
            } else {
                None
            },
        };
        let target_row = LogDetail {
            system: self.target_name,
            role: SystemRole::Target,
            operation: self.operation.map(str::to_string),
            state: if source_failed || source_skipped {
                "Entity Not Provisioned"
            } else {
                self.target_state
            }
            .into(),
            additional_information: if source_failed {
                None
            } else {
                self.message.clone().or(self.info)
            },
            reason: if self.skipped_by == Some(SystemRole::Target) {
                self.reason
            } else {
                None
            },
        };
        let failed = self.failed_by.is_some();
        RealtimeLogEntry {
            tenant: tenant.clone(),
            started_at,
            source_system: Arc::from(source_id),
            source_system_name: Arc::from(self.source_name.as_str()),
            entity_type: kind,
            entity_id_source: Some(Arc::from(entity_id)),
            entity_id_target: if source_failed {
                None
            } else {
                self.target_id.as_deref().map(Arc::from)
            },
            status: if failed {
                LogStatus::FinishedWithError
            } else {
                LogStatus::FinishedSuccessfully
            },
            message: self.message.as_deref().map(Arc::from),
            details: vec![source_row, target_row],
            content,
        }
    }
}
