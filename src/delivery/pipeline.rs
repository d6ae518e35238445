//! Turns one delivery into the SCIM request to make (pure, apart from the transformations'
//! own `randomPassword`): the source system's read transformation, then the target system's
//! write transformation with the operation, then the request.
//!
//! Rules (spec/domain.md §3.4):
//! - Create when the entity has no id mapping in the target, update when it has one (PUT, or
//!   PATCH when `ias.support.patch.operation` / `scim.support.patch.operation` is true).
//! - Delete as DELETE; or, when the target transformation has `deleteEntity`-scoped mappings
//!   (and, for an Identity Authentication v2 target, `ias.user.update.instead.delete=true`), as a
//!   PATCH `replace` of what those mappings produce (e.g. `active=false`).
//! - A source-side skip leaves the target untouched (log reason on the source row); a
//!   target-side skip of an update or create is logged as skipped.
//! - Create conflicts are resolved by looking the entity up by its unique attribute(s)
//!   ([`conflict_filters`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::directory::Kind;
use crate::provisioning::transform::{
    EntityIdResolver, EntityType, NoResolver, Operation, TransformContext, TransformOutcome,
};
use crate::runtime::{SourceSystemConfig, SystemType, TargetSystemConfig};
use crate::store::{EventOperation, SystemRole};

pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The request a delivery makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// POST `/Users` or `/Groups`.
    Create { body: Value },
    /// PUT `/{type}/{target_id}`.
    Replace { target_id: String, body: Value },
    /// PATCH `/{type}/{target_id}` (a PatchOp).
    Patch { target_id: String, body: Value },
    /// DELETE `/{type}/{target_id}` (404 counts as success).
    Delete { target_id: String },
    /// PATCH `/{type}/{target_id}` from `deleteEntity` mappings instead of a delete.
    Deactivate { target_id: String, body: Value },
    /// Nothing to send.
    Skip {
        role: SystemRole,
        /// The log state (`Entity Skipped`, `Entity Not Provisioned`).
        state: &'static str,
        reason: String,
    },
}

impl Action {
    /// The log's operation column.
    pub fn operation_label(&self) -> Option<&'static str> {
        match self {
            Action::Create { .. } => Some("CREATE"),
            Action::Replace { .. } => Some("UPDATE"),
            Action::Patch { .. } | Action::Deactivate { .. } => Some("PATCH"),
            Action::Delete { .. } => Some("DELETE"),
            Action::Skip { .. } => None,
        }
    }
}

/// The planned delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub action: Action,
    /// The entity in the target's format (creates and updates), for conflict resolution and
    /// for retrying an update whose target entity is gone as a create.
    pub mapped: Option<Value>,
    /// `targetVariable` outputs of the target transformation (`assignGroup`, …).
    pub variables: BTreeMap<String, Value>,
}

/// A delivery that cannot be planned (permanent: retrying changes nothing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{role_label} transformation failed: {message}")]
pub struct PlanError {
    pub role: SystemRole,
    role_label: &'static str,
    pub message: String,
}

impl PlanError {
    fn new(role: SystemRole, message: String) -> PlanError {
        let role_label = match role {
            SystemRole::Source => "source",
            SystemRole::Target => "target",
        };
        PlanError {
            role,
            role_label,
            message,
        }
    }
}

/// Everything one delivery is planned from.
pub struct PlanInput<'a> {
    pub kind: Kind,
    pub operation: EventOperation,
    /// The event payload (upserts).
    pub payload: Option<&'a Value>,
    /// The entity id in the source system.
    pub entity_id: &'a str,
    /// The entity id in the target, when mapped.
    pub target_id: Option<&'a str>,
    pub source: &'a SourceSystemConfig,
    pub target: &'a TargetSystemConfig,
    pub resolver: &'a dyn EntityIdResolver,
    pub now: jiff::Timestamp,
}

pub fn entity_type(kind: Kind) -> EntityType {
    match kind {
        Kind::User => EntityType::User,
        Kind::Group => EntityType::Group,
    }
}

/// `/Users` or `/Groups`.
pub fn resource_path(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "/Users",
        Kind::Group => "/Groups",
    }
}

/// A target property by its `ias.` name, falling back to its `scim.` twin (spec/domain.md §4.3).
pub fn target_property<'a>(target: &'a TargetSystemConfig, suffix: &str) -> Option<&'a str> {
    let ias = format!("ias.{suffix}");
    let scim = format!("scim.{suffix}");
    let (first, second) = if uses_ias_properties(target) {
        (ias, scim)
    } else {
        (scim, ias)
    };
    target
        .properties
        .get(&first)
        .or_else(|| target.properties.get(&second))
        .map(|v| v.trim())
}

fn uses_ias_properties(target: &TargetSystemConfig) -> bool {
    matches!(target.system_type, SystemType::IdentityAuthentication) && target.api_version >= 2
}

fn flag(target: &TargetSystemConfig, suffix: &str, default: bool) -> bool {
    target_property(target, suffix).map_or(default, |v| v.eq_ignore_ascii_case("true"))
}

/// Plans one delivery.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    match input.operation {
        EventOperation::Upsert => plan_upsert(input),
        EventOperation::Delete => plan_delete(input),
    }
}

fn plan_upsert(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let empty = Value::Object(Map::new());
    let payload = input.payload.unwrap_or(&empty);
    let entity = entity_type(input.kind);
    let operation = if input.target_id.is_some() {
        Operation::Update
    } else {
        Operation::Create
    };
    // Ids are resolved into the target only on the write side.
    let source_ctx = TransformContext {
        properties: &input.source.properties,
        operation,
        entity_id_source_system: Some(input.entity_id.to_string()),
        entity_id_target_system: input.target_id.map(str::to_string),
        resolver: &NoResolver,
        now: input.now,
    };
    let internal = match input
        .source
        .transformation
        .apply(entity, payload, &source_ctx)
        .map_err(|e| PlanError::new(SystemRole::Source, e.to_string()))?
    {
        TransformOutcome::Mapped { entity, .. } => entity,
        TransformOutcome::Skipped { reason } => {
            return Ok(skip(SystemRole::Source, "Entity Skipped", reason));
        }
    };
    let target_ctx = TransformContext {
        properties: &input.target.properties,
        operation,
        entity_id_source_system: Some(input.entity_id.to_string()),
        entity_id_target_system: input.target_id.map(str::to_string),
        resolver: input.resolver,
        now: input.now,
    };
    let (mut mapped, variables) = match input
        .target
        .transformation
        .apply(entity, &internal, &target_ctx)
        .map_err(|e| PlanError::new(SystemRole::Target, e.to_string()))?
    {
        TransformOutcome::Mapped { entity, variables } => (entity, variables),
        TransformOutcome::Skipped { reason } => {
            return Ok(skip(SystemRole::Target, "Entity Skipped", reason));
        }
    };
    let action = match input.target_id {
        None => {
            if let Some(object) = mapped.as_object_mut() {
                object.remove("id");
                object.remove("meta");
            }
            Action::Create {
                body: mapped.clone(),
            }
        }
        Some(target_id) => update_action(input.target, target_id, &mut mapped),
    };
    Ok(Plan {
        action,
        mapped: Some(mapped),
        variables,
    })
}

/// PUT or PATCH of `mapped` to `target_id` per the target's patch property.
pub fn update_action(target: &TargetSystemConfig, target_id: &str, mapped: &mut Value) -> Action {
    if let Some(object) = mapped.as_object_mut() {
        object.remove("meta");
        object.insert("id".into(), Value::String(target_id.to_string()));
    }
    if flag(target, "support.patch.operation", false) {
        Action::Patch {
            target_id: target_id.to_string(),
            body: patch_replace(mapped),
        }
    } else {
        Action::Replace {
            target_id: target_id.to_string(),
            body: mapped.clone(),
        }
    }
}

fn plan_delete(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    let Some(target_id) = input.target_id else {
        return Ok(skip(
            SystemRole::Target,
            "Entity Not Provisioned",
            "The entity was never provisioned to the target system.".to_string(),
        ));
    };
    let deactivation_allowed = !uses_ias_properties(input.target)
        || input.kind == Kind::Group
        || flag(input.target, "user.update.instead.delete", false);
    if deactivation_allowed
        && input
            .target
            .transformation
            .keeps_on_delete(entity_type(input.kind))
    {
        let ctx = TransformContext {
            properties: &input.target.properties,
            operation: Operation::Delete,
            entity_id_source_system: Some(input.entity_id.to_string()),
            entity_id_target_system: Some(target_id.to_string()),
            resolver: input.resolver,
            now: input.now,
        };
        let stub = json!({"id": input.entity_id});
        let outcome = input
            .target
            .transformation
            .apply(entity_type(input.kind), &stub, &ctx)
            .map_err(|e| PlanError::new(SystemRole::Target, e.to_string()))?;
        if let TransformOutcome::Mapped { entity, variables } = outcome
            && has_attributes(&entity)
        {
            return Ok(Plan {
                action: Action::Deactivate {
                    target_id: target_id.to_string(),
                    body: deactivation_body(&entity),
                },
                mapped: Some(entity),
                variables,
            });
        }
    }
    Ok(Plan {
        action: Action::Delete {
            target_id: target_id.to_string(),
        },
        mapped: None,
        variables: BTreeMap::new(),
    })
}

fn skip(role: SystemRole, state: &'static str, reason: String) -> Plan {
    Plan {
        action: Action::Skip {
            role,
            state,
            reason,
        },
        mapped: None,
        variables: BTreeMap::new(),
    }
}

/// Attributes other than `id`, `schemas`, `meta`.
fn has_attributes(entity: &Value) -> bool {
    entity.as_object().is_some_and(|o| {
        o.keys()
            .any(|k| !matches!(k.as_str(), "id" | "schemas" | "meta"))
    })
}

/// A PatchOp replacing every attribute of `entity` (except `id`, `schemas`, `meta`).
pub fn patch_replace(entity: &Value) -> Value {
    let value: Map<String, Value> = entity
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "id" | "schemas" | "meta"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [{"op": "replace", "value": value}],
    })
}

/// The PATCH body that deactivates instead of deleting: the `deleteEntity` mappings either
/// produce the attributes to replace (`{"active": false}`), or, as in SAP's documented example, a
/// complete PatchOp message, which is sent as it is (without `id`/`meta`).
pub fn deactivation_body(entity: &Value) -> Value {
    let is_patch_op = entity
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|schemas| schemas.iter().any(|s| s.as_str() == Some(PATCH_OP_SCHEMA)));
    if !is_patch_op {
        return patch_replace(entity);
    }
    let mut body = entity.clone();
    if let Some(obj) = body.as_object_mut() {
        obj.remove("id");
        obj.remove("meta");
    }
    body
}

/// Whether a create conflict (409) is resolved by looking the entity up (default true).
pub fn automatic_conflict_resolution(target: &TargetSystemConfig) -> bool {
    target
        .properties
        .get("ias.user.automatic.conflict.resolution")
        .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"))
}

/// The SCIM filters that find the existing entity after a create conflict, in the order to
/// try them: one per attribute of `ias.user.unique.attribute` (default `userName`) or
/// `ias.group.unique.attribute` (default the SAP group name, `displayName` for `scim.*`
/// targets) that has a value in `mapped`.
pub fn conflict_filters(target: &TargetSystemConfig, kind: Kind, mapped: &Value) -> Vec<String> {
    let configured = match kind {
        Kind::User => target_property(target, "user.unique.attribute"),
        Kind::Group => target_property(target, "group.unique.attribute"),
    };
    let default = match kind {
        Kind::User => "userName",
        Kind::Group if uses_ias_properties(target) => {
            "['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']"
        }
        Kind::Group => "displayName",
    };
    let attributes = configured.filter(|v| !v.is_empty()).unwrap_or(default);
    let mut filters = Vec::new();
    for attribute in split_attributes(attributes) {
        if let Some((path, value)) = attribute_value(&attribute, mapped) {
            filters.push(format!("{path} eq \"{}\"", escape_filter_string(&value)));
        }
    }
    filters
}

/// Splits `userName, emails[0].value` on commas outside brackets.
fn split_attributes(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in list.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `(SCIM filter path, string value)` of an attribute reference: `userName`,
/// `emails[0].value`, `name.familyName`, `['urn:…:Group']['name']`.
fn attribute_value(attribute: &str, entity: &Value) -> Option<(String, String)> {
    let mut segments: Vec<(String, Option<usize>)> = Vec::new();
    let mut rest = attribute.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("['") {
            let end = after.find("']")?;
            segments.push((after[..end].to_string(), None));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let index: usize = after[..end].trim().parse().ok()?;
            segments.last_mut()?.1 = Some(index);
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('.') {
            rest = after;
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            segments.push((rest[..end].to_string(), None));
            rest = &rest[end..];
        }
    }
    let mut current = entity;
    for (name, index) in &segments {
        current = current.get(name.as_str())?;
        if let Some(index) = index {
            current = current.get(*index)?;
        } else if let Some(first) = current.as_array().and_then(|a| a.first()) {
            current = first;
        }
    }
    let value = match current {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    let path = match segments.as_slice() {
        [(urn, None), rest @ ..] if urn.starts_with("urn:") && !rest.is_empty() => {
            let tail: Vec<&str> = rest.iter().map(|(n, _)| n.as_str()).collect();
            format!("{urn}:{}", tail.join("."))
        }
        _ => segments
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join("."),
    };
    Some((path, value))
}

fn escape_filter_string(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Source ids the target transformation may resolve through `resolveEntityIds` (group
/// members, a user's groups and manager), by entity type, to prefetch their mappings.
pub fn referenced_ids(kind: Kind, payload: &Value) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    let values = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.get("value").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    match kind {
        Kind::Group => {
            for id in values(payload.get("members")) {
                out.push((Kind::User, id.clone()));
                out.push((Kind::Group, id));
            }
        }
        Kind::User => {
            for id in values(payload.get("groups")) {
                out.push((Kind::Group, id));
            }
            if let Some(manager) = payload
                .get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
                .and_then(|e| e.get("manager"))
                .and_then(|m| m.get("value"))
                .and_then(Value::as_str)
            {
                out.push((Kind::User, manager.to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_references_become_filter_paths() {
        let user = json!({
            "userName": "alice",
            "emails": [{"value": "a@x.org"}, {"value": "b@x.org"}],
            "name": {"familyName": "Doe"},
            "urn:sap:cloud:scim:schemas:extension:custom:2.0:Group": {"name": "admins"},
        });
        assert_eq!(
            attribute_value("userName", &user),
            Some(("userName".into(), "alice".into()))
        );
        assert_eq!(
            attribute_value("emails[1].value", &user),
            Some(("emails.value".into(), "b@x.org".into()))
        );
        assert_eq!(
            attribute_value("name.familyName", &user),
            Some(("name.familyName".into(), "Doe".into()))
        );
        assert_eq!(
            attribute_value(
                "['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']",
                &user
            ),
            Some((
                "urn:sap:cloud:scim:schemas:extension:custom:2.0:Group:name".into(),
                "admins".into()
            ))
        );
        assert_eq!(attribute_value("phoneNumbers[0].value", &user), None);
        assert_eq!(
            split_attributes("userName, emails[0].value,['a']['b']"),
            vec!["userName", "emails[0].value", "['a']['b']"]
        );
    }

    #[test]
    fn patch_replace_skips_identity_fields() {
        let body = patch_replace(&json!({"id": "1", "schemas": ["s"], "active": false}));
        assert_eq!(
            body,
            json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": "replace", "value": {"active": false}}]})
        );
    }

    #[test]
    fn filter_strings_are_escaped() {
        assert_eq!(escape_filter_string(r#"a"b\c"#), r#"a\"b\\c"#);
    }

    use crate::delivery::tests::target;
    use crate::provisioning::transform::{NoResolver, Transformation};
    use crate::runtime::SourceSystemConfig;
    use std::sync::Arc;

    const TARGET_RULES: &str = r#"{"user": {"condition": "$.userName EMPTY false", "mappings": [
        {"sourcePath": "$.userName", "targetPath": "$.userName"},
        {"constant": false, "targetPath": "$.active", "scope": "deleteEntity"}
    ]}}"#;

    fn source() -> SourceSystemConfig {
        SourceSystemConfig {
            resource: "ns/s".into(),
            id: "source-1".into(),
            display_name: "S".into(),
            system_type: SystemType::IdentityAuthentication,
            url: None,
            auth: crate::runtime::OutboundAuth::None,
            properties: BTreeMap::new(),
            api_version: 2,
            transformation: Arc::new(
                Transformation::parse(
                    r#"{"user": {"mappings": [{"sourcePath": "$", "targetPath": "$"}]}}"#,
                )
                .unwrap(),
            ),
            enabled: true,
        }
    }

    fn plan_for(
        target: &TargetSystemConfig,
        operation: EventOperation,
        payload: Option<&Value>,
        mapped_to: Option<&str>,
    ) -> Plan {
        let source = source();
        plan(&PlanInput {
            kind: Kind::User,
            operation,
            payload,
            entity_id: "u1",
            target_id: mapped_to,
            source: &source,
            target,
            resolver: &NoResolver,
            now: jiff::Timestamp::UNIX_EPOCH,
        })
        .unwrap()
    }

    fn with(props: &[(&str, &str)], system_type: SystemType) -> TargetSystemConfig {
        let mut t = TargetSystemConfig::clone(&target("http://t/scim"));
        t.transformation = Arc::new(Transformation::parse(TARGET_RULES).unwrap());
        t.system_type = system_type;
        for (k, v) in props {
            t.properties.insert(k.to_string(), v.to_string());
        }
        t
    }

    #[test]
    fn create_then_put_or_patch() {
        let user = json!({"id": "u1", "userName": "alice"});
        let t = with(&[], SystemType::Scim);
        let p = plan_for(&t, EventOperation::Upsert, Some(&user), None);
        assert_eq!(
            p.action,
            Action::Create {
                body: json!({"userName": "alice"})
            }
        );
        let p = plan_for(&t, EventOperation::Upsert, Some(&user), Some("t1"));
        assert_eq!(
            p.action,
            Action::Replace {
                target_id: "t1".into(),
                body: json!({"userName": "alice", "id": "t1"})
            }
        );
        let t = with(
            &[("scim.support.patch.operation", "true")],
            SystemType::Scim,
        );
        let p = plan_for(&t, EventOperation::Upsert, Some(&user), Some("t1"));
        assert_eq!(p.action.operation_label(), Some("PATCH"));
        // The target condition skips.
        let p = plan_for(&t, EventOperation::Upsert, Some(&json!({"id": "u1"})), None);
        assert!(
            matches!(
                p.action,
                Action::Skip {
                    role: SystemRole::Target,
                    ..
                }
            ),
            "{p:?}"
        );
    }

    #[test]
    fn delete_deactivates_with_delete_entity_mappings() {
        let t = with(&[], SystemType::Scim);
        let p = plan_for(&t, EventOperation::Delete, None, Some("t1"));
        assert_eq!(
            p.action,
            Action::Deactivate {
                target_id: "t1".into(),
                body: patch_replace(&json!({"active": false}))
            }
        );
        // Identity Authentication v2 targets also need ias.user.update.instead.delete.
        let t = with(&[], SystemType::IdentityAuthentication);
        let p = plan_for(&t, EventOperation::Delete, None, Some("t1"));
        assert_eq!(
            p.action,
            Action::Delete {
                target_id: "t1".into()
            }
        );
        let t = with(
            &[("ias.user.update.instead.delete", "true")],
            SystemType::IdentityAuthentication,
        );
        let p = plan_for(&t, EventOperation::Delete, None, Some("t1"));
        assert_eq!(p.action.operation_label(), Some("PATCH"));
        // Never provisioned: nothing to delete.
        let p = plan_for(&t, EventOperation::Delete, None, None);
        assert!(matches!(
            p.action,
            Action::Skip {
                state: "Entity Not Provisioned",
                ..
            }
        ));
    }

    #[test]
    fn conflict_filters_follow_the_unique_attribute_property() {
        let t = with(&[], SystemType::Scim);
        let user = json!({"userName": "a\"b", "emails": [{"value": "a@x.org"}]});
        assert_eq!(
            conflict_filters(&t, Kind::User, &user),
            vec![r#"userName eq "a\"b""#]
        );
        let t = with(
            &[("scim.user.unique.attribute", "emails[0].value, userName")],
            SystemType::Scim,
        );
        assert_eq!(
            conflict_filters(&t, Kind::User, &user),
            vec![
                r#"emails.value eq "a@x.org""#.to_string(),
                r#"userName eq "a\"b""#.to_string()
            ]
        );
        assert_eq!(
            conflict_filters(&t, Kind::Group, &json!({"displayName": "G"})),
            vec![r#"displayName eq "G""#]
        );
    }

    #[test]
    fn referenced_ids_of_groups_and_users() {
        let group = json!({"members": [{"value": "u1"}, {"value": "g2"}]});
        assert_eq!(referenced_ids(Kind::Group, &group).len(), 4);
        let user = json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m"}}});
        assert_eq!(
            referenced_ids(Kind::User, &user),
            vec![(Kind::User, "m".to_string())]
        );
    }
}
