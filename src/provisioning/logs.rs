//! Real-time logs (spec/domain.md §3.5 rules 36–39): what goes into an entry's content
//! (trace properties), how long entries are kept (retention, pruned periodically), and the
//! read endpoint `GET …/ipsproxy/service/api/v1/logs/realtime` that `idrelay logs` calls.
//!
//! Decisions (documented in docs/realtime-api.openapi.yaml):
//! - Retention is the source system property `ips.realtime.log.retention.days`: 7, 14 or 30
//!   (SAP's choices), default 7; any other value means 7. Entries of source systems no longer
//!   configured are kept at most 30 days (the longest retention).
//! - Entity content is stored only when a trace property of the category is `true`
//!   (`ips.trace.{created,updated,skipped,failed}.entity.content` on the source or the target
//!   system), cut at 150,000 characters unless `ips.trace.entity.content.unlimited=true`.
//! - Reading needs ManageTenantConfiguration (administrators) or AccessRealTimeProvisioningAPI
//!   (the pusher checking its own events); entries cannot be deleted or changed (rule 39).
//!
//! Invariants: pruning only removes entries older than their retention; it goes through the
//! writer like every other write.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::Permission;
use crate::auth::Principal;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::scim::error::ScimError;
use crate::server::TenantRequest;
use crate::store::{LogStatus, RealtimeLogFilter, RowWrite, parse_entity_type};

/// The path of the log endpoint, relative to the tenant base.
pub const LOGS_PATH: &str = "/ipsproxy/service/api/v1/logs/realtime";
/// The source system property holding the retention in days.
pub const RETENTION_PROPERTY: &str = "ips.realtime.log.retention.days";
/// The retentions SAP offers (days).
pub const RETENTION_CHOICES: [i64; 3] = [7, 14, 30];
/// The default retention (days).
pub const DEFAULT_RETENTION_DAYS: i64 = 7;
/// How long entries of unconfigured source systems are kept (days).
pub const MAX_RETENTION_DAYS: i64 = 30;
/// Entity content is cut here unless `ips.trace.entity.content.unlimited=true`.
pub const CONTENT_LIMIT: usize = 150_000;
/// Default and largest `limit` of the log endpoint.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;
/// How often retention pruning runs.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// What happened to the entity, for choosing the trace property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceCategory {
    Created,
    Updated,
    Skipped,
    Failed,
    /// Deletes carry no content.
    Deleted,
}

impl TraceCategory {
    fn content_property(self) -> Option<&'static str> {
        match self {
            TraceCategory::Created => Some("ips.trace.created.entity.content"),
            TraceCategory::Updated => Some("ips.trace.updated.entity.content"),
            TraceCategory::Skipped => Some("ips.trace.skipped.entity.content"),
            TraceCategory::Failed => Some("ips.trace.failed.entity.content"),
            TraceCategory::Deleted => None,
        }
    }
}

fn is_true(properties: &BTreeMap<String, String>, name: &str) -> bool {
    properties
        .get(name)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The content to store in a log entry: `Some` only when the category's trace property is
/// `true` in one of `properties` (source and/or target system), cut at [`CONTENT_LIMIT`]
/// characters unless `ips.trace.entity.content.unlimited=true` there.
pub fn traced_content(
    properties: &[&BTreeMap<String, String>],
    category: TraceCategory,
    content: &str,
) -> Option<Arc<str>> {
    let property = category.content_property()?;
    if !properties.iter().any(|p| is_true(p, property)) {
        return None;
    }
    let unlimited = properties
        .iter()
        .any(|p| is_true(p, "ips.trace.entity.content.unlimited"));
    if unlimited || content.chars().count() <= CONTENT_LIMIT {
        return Some(Arc::from(content));
    }
    let cut: String = content.chars().take(CONTENT_LIMIT).collect();
    Some(Arc::from(cut))
}

/// The retention (days) of a source system's log entries.
pub fn retention_days(properties: &BTreeMap<String, String>) -> i64 {
    properties
        .get(RETENTION_PROPERTY)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|d| RETENTION_CHOICES.contains(d))
        .unwrap_or(DEFAULT_RETENTION_DAYS)
}

/// The prune writes for `config` at `now`: per source system its retention, and per tenant
/// everything older than [`MAX_RETENTION_DAYS`].
pub fn prune_writes(config: &RuntimeConfig, now: Timestamp) -> Vec<RowWrite> {
    let before = |days: i64| {
        now.checked_sub(SignedDuration::from_hours(24 * days))
            .unwrap_or(Timestamp::MIN)
    };
    let mut writes = Vec::new();
    for (name, tenant) in &config.tenants {
        let tenant_name: Arc<str> = Arc::from(name.as_str());
        for system in tenant.source_systems.values() {
            let days = retention_days(&system.properties);
            if days < MAX_RETENTION_DAYS {
                writes.push(RowWrite::PruneRealtimeLogs {
                    tenant: tenant_name.clone(),
                    source_system: Some(Arc::from(system.id.as_str())),
                    before: before(days),
                });
            }
        }
        writes.push(RowWrite::PruneRealtimeLogs {
            tenant: tenant_name,
            source_system: None,
            before: before(MAX_RETENTION_DAYS),
        });
    }
    writes
}

/// Prunes once now, then every [`PRUNE_INTERVAL`], until the runtime is dropped elsewhere and
/// the task is aborted.
pub fn spawn_retention(runtime: Arc<Runtime>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_INTERVAL);
        loop {
            tick.tick().await;
            let writes = prune_writes(&runtime.config(), Timestamp::now());
            if writes.is_empty() {
                continue;
            }
            let outcome = runtime
                .writer()
                .submit_rows(move |rows| {
                    rows.extend(writes);
                    Ok(())
                })
                .await;
            if let Err(error) = outcome {
                tracing::warn!(%error, "real-time log retention: pruning failed");
            }
        }
    })
}

/// Query parameters of the log endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogQuery {
    pub status: Option<String>,
    pub entity_type: Option<String>,
    pub source_system: Option<String>,
    pub entity_id: Option<String>,
    pub limit: Option<u32>,
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The store filter and limit of a query; a bad value is 400 `invalidValue`.
pub fn parse_query(query: &LogQuery) -> Result<(RealtimeLogFilter, u32), ScimError> {
    let status = nonempty(&query.status)
        .map(|s| {
            LogStatus::parse(s).ok_or_else(|| {
                ScimError::invalid_value(
                    "status must be \"Finished Successfully\", \"Finished with Error\", success or error",
                )
            })
        })
        .transpose()?;
    let entity_type = nonempty(&query.entity_type)
        .map(|t| {
            parse_entity_type(&t.to_ascii_lowercase())
                .ok_or_else(|| ScimError::invalid_value("entityType must be user or group"))
        })
        .transpose()?;
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(l) if (1..=MAX_LIMIT).contains(&l) => l,
        Some(_) => {
            return Err(ScimError::invalid_value(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
    };
    Ok((
        RealtimeLogFilter {
            status,
            entity_type,
            source_system: nonempty(&query.source_system).map(str::to_string),
            entity_id: nonempty(&query.entity_id).map(str::to_string),
        },
        limit,
    ))
}

/// The log endpoint's route (relative to the tenant base).
pub fn router() -> Router<Arc<Runtime>> {
    Router::new().route(LOGS_PATH, get(list_logs))
}

async fn list_logs(
    State(runtime): State<Arc<Runtime>>,
    tenant: TenantRequest,
    principal: Principal,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ScimError> {
    principal.require_any(&[
        Permission::ManageTenantConfiguration,
        Permission::AccessRealTimeProvisioningAPI,
    ])?;
    let Query(query) =
        query.map_err(|e| ScimError::invalid_value(format!("bad query parameters: {e}")))?;
    let (filter, limit) = parse_query(&query)?;
    let logs = runtime
        .store()
        .realtime_logs(&tenant.tenant, &filter, limit)
        .await
        .map_err(|error| {
            tracing::error!(%error, tenant = %tenant.tenant, "reading real-time logs failed");
            ScimError::internal("the real-time logs could not be read")
        })?;
    Ok(Json(json!({ "totalResults": logs.len(), "logs": logs })))
}

/// A table of the log endpoint's answer, for `idrelay logs`.
pub fn render_table(answer: &Value) -> String {
    let empty = Vec::new();
    let logs = answer["logs"].as_array().unwrap_or(&empty);
    let header = [
        "START TIME",
        "SOURCE SYSTEM",
        "TYPE",
        "ENTITY ID",
        "STATUS",
        "DETAILS",
    ];
    let rows: Vec<[String; 6]> = logs
        .iter()
        .map(|log| {
            let text = |key: &str| log[key].as_str().unwrap_or("").to_string();
            let entity = log["entityIdTarget"]
                .as_str()
                .or(log["entityIdSource"].as_str())
                .unwrap_or("")
                .to_string();
            let details: Vec<String> = log["details"]
                .as_array()
                .unwrap_or(&Vec::new())
                .iter()
                .map(|d| {
                    let mut s = format!(
                        "{} {}: {}",
                        d["role"].as_str().unwrap_or(""),
                        d["system"].as_str().unwrap_or(""),
                        d["state"].as_str().unwrap_or("")
                    );
                    for key in ["additionalInformation", "reason"] {
                        if let Some(extra) = d[key].as_str() {
                            s.push_str(&format!(" ({extra})"));
                        }
                    }
                    s
                })
                .collect();
            let mut details = details.join("; ");
            if let Some(message) = log["message"].as_str()
                && !details.contains(message)
            {
                details = format!("{message}; {details}");
            }
            [
                text("startedAt"),
                text("sourceSystemName"),
                text("entityType"),
                entity,
                text("status"),
                details,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}   ", w = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(&header.map(str::to_string));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn content_is_stored_only_when_traced() {
        let none = props(&[]);
        let created = props(&[("ips.trace.created.entity.content", "true")]);
        assert_eq!(traced_content(&[&none], TraceCategory::Created, "{}"), None);
        assert_eq!(
            traced_content(&[&none, &created], TraceCategory::Created, "{}").as_deref(),
            Some("{}")
        );
        assert_eq!(
            traced_content(&[&created], TraceCategory::Failed, "{}"),
            None
        );
        assert_eq!(
            traced_content(&[&created], TraceCategory::Deleted, "{}"),
            None
        );
        let off = props(&[("ips.trace.created.entity.content", "false")]);
        assert_eq!(traced_content(&[&off], TraceCategory::Created, "{}"), None);
    }

    #[test]
    fn content_is_cut_unless_unlimited() {
        let long = "é".repeat(CONTENT_LIMIT + 10);
        let traced = props(&[("ips.trace.failed.entity.content", "TRUE")]);
        let cut = traced_content(&[&traced], TraceCategory::Failed, &long).unwrap();
        assert_eq!(cut.chars().count(), CONTENT_LIMIT);
        let unlimited = props(&[
            ("ips.trace.failed.entity.content", "true"),
            ("ips.trace.entity.content.unlimited", "true"),
        ]);
        let all = traced_content(&[&unlimited], TraceCategory::Failed, &long).unwrap();
        assert_eq!(all.chars().count(), CONTENT_LIMIT + 10);
    }

    #[test]
    fn retention_is_7_14_or_30_days() {
        assert_eq!(retention_days(&props(&[])), 7);
        assert_eq!(retention_days(&props(&[(RETENTION_PROPERTY, "14")])), 14);
        assert_eq!(retention_days(&props(&[(RETENTION_PROPERTY, " 30 ")])), 30);
        assert_eq!(retention_days(&props(&[(RETENTION_PROPERTY, "90")])), 7);
        assert_eq!(retention_days(&props(&[(RETENTION_PROPERTY, "x")])), 7);
    }

    fn source(id: &str, retention: Option<&str>) -> Arc<crate::runtime::SourceSystemConfig> {
        let properties = match retention {
            Some(days) => props(&[(RETENTION_PROPERTY, days)]),
            None => props(&[]),
        };
        Arc::new(crate::runtime::SourceSystemConfig {
            resource: format!("default/{id}"),
            id: id.to_string(),
            display_name: id.to_string(),
            system_type: crate::runtime::SystemType::IdentityAuthentication,
            url: None,
            auth: crate::runtime::OutboundAuth::None,
            properties,
            api_version: 2,
            transformation: Arc::new(
                crate::provisioning::transform::Transformation::parse("{}").unwrap(),
            ),
            enabled: true,
        })
    }

    #[test]
    fn prune_per_source_retention_and_a_30_day_cap() {
        let mut tenant = crate::runtime::TenantConfig {
            name: "acme".into(),
            ..Default::default()
        };
        for (id, days) in [("s7", None), ("s14", Some("14")), ("s30", Some("30"))] {
            tenant.source_systems.insert(id.into(), source(id, days));
        }
        let config = RuntimeConfig {
            tenants: [("acme".to_string(), tenant)].into_iter().collect(),
            ..RuntimeConfig::default()
        };
        let now: Timestamp = "2026-01-31T00:00:00Z".parse().unwrap();
        let writes: Vec<(Option<String>, String)> = prune_writes(&config, now)
            .into_iter()
            .map(|w| match w {
                RowWrite::PruneRealtimeLogs {
                    tenant,
                    source_system,
                    before,
                } => {
                    assert_eq!(&*tenant, "acme");
                    (source_system.map(|s| s.to_string()), before.to_string())
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            writes,
            vec![
                (Some("s14".into()), "2026-01-17T00:00:00Z".into()),
                (Some("s7".into()), "2026-01-24T00:00:00Z".into()),
                (None, "2026-01-01T00:00:00Z".into()),
            ]
        );
    }

    #[test]
    fn query_parsing() {
        let (filter, limit) = parse_query(&LogQuery::default()).unwrap();
        assert_eq!(filter, RealtimeLogFilter::default());
        assert_eq!(limit, DEFAULT_LIMIT);
        let (filter, limit) = parse_query(&LogQuery {
            status: Some("error".into()),
            entity_type: Some("Group".into()),
            source_system: Some("src".into()),
            entity_id: Some(" ".into()),
            limit: Some(5),
        })
        .unwrap();
        assert_eq!(filter.status, Some(LogStatus::FinishedWithError));
        assert_eq!(filter.entity_type, Some(crate::directory::Kind::Group));
        assert_eq!(filter.source_system.as_deref(), Some("src"));
        assert_eq!(filter.entity_id, None);
        assert_eq!(limit, 5);
        for bad in [
            LogQuery {
                status: Some("done".into()),
                ..Default::default()
            },
            LogQuery {
                entity_type: Some("device".into()),
                ..Default::default()
            },
            LogQuery {
                limit: Some(0),
                ..Default::default()
            },
            LogQuery {
                limit: Some(MAX_LIMIT + 1),
                ..Default::default()
            },
        ] {
            assert_eq!(parse_query(&bad).unwrap_err().status, 400);
        }
    }

    #[test]
    fn table_lists_entries() {
        let answer = json!({"logs": [{
            "startedAt": "2026-01-01T00:00:00.000Z", "sourceSystemName": "IAS",
            "entityType": "user", "entityIdSource": "u1", "entityIdTarget": null,
            "status": "Finished Successfully", "message": "no target system connected",
            "details": [{"system": "IAS", "role": "source", "state": "Entity Read",
                         "additionalInformation": "no target system connected"}]
        }]});
        let table = render_table(&answer);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("START TIME"));
        assert!(lines[1].contains("u1"));
        assert!(lines[1].contains("source IAS: Entity Read (no target system connected)"));
        assert_eq!(render_table(&json!({})).lines().count(), 1);
    }
}
