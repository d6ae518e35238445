//! Groups in the v1 shape (spec/domain.md §2.3 "Group payload"): the v1 body mapped to the v2
//! shape ([`group_v1_to_v2`]), the v1 PUT applied to a stored group ([`merge_group`]) and the
//! v1 rendering of a v2 group ([`group_v2_to_v1`]).
//!
//! Invariants:
//! - v1 `id` = v2 custom `additionalId` (legacy 24-character id); v1 custom `groupId` = v2 `id`.
//! - Members are named in v1 by user id (`P…`) and stored in v2 by UUID; an unknown member is
//!   refused (400), never dropped.
//! - A PUT replaces the membership: no `members` means no members. It names the group in its
//!   body (`id` equal to the URI id) and must give `name` when it changes `description`.
//! - A create lists at most [`MAX_MEMBERS_AT_CREATION`] members; a rendering lists at most
//!   [`MAX_LISTED_MEMBERS`].

use serde_json::{Map, Value, json};

use super::error::{V1Error, code};
use super::user::merge_into;
use super::{GROUP_SCHEMAS, IdResolver, field, given, object_at};
use crate::scim::urn;

/// The most members a group may be created with.
pub const MAX_MEMBERS_AT_CREATION: usize = 20_000;
/// The most members a v1 group response lists.
pub const MAX_LISTED_MEMBERS: usize = 100;

/// What a v1 group body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupWrite<'a> {
    /// POST.
    Create,
    /// PUT on the group the URI names (its v1 id as written in the URI).
    Update { uri_id: &'a str },
}

fn invalid(detail: impl Into<String>) -> V1Error {
    V1Error::invalid(code::INVALID_ATTRIBUTE, detail)
}

/// Resolves v1 member references (user ids `P…`, or UUIDs, or group ids) to UUIDs.
fn resolve_members(items: &[Value], ids: &dyn IdResolver) -> Result<Vec<Value>, V1Error> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        let value = match item {
            Value::Object(o) => given(o, "value").and_then(Value::as_str),
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
        .ok_or_else(|| invalid("every member needs a string \"value\""))?;
        let uuid = ids
            .user_uuid(value)
            .or_else(|| ids.group_uuid(value))
            .ok_or_else(|| {
                V1Error::invalid(
                    code::MEMBER_NOT_FOUND,
                    format!("member {value} is not a user of this tenant"),
                )
            })?;
        let member = json!({ "value": uuid });
        if !out.contains(&member) {
            out.push(member);
        }
    }
    Ok(out)
}

/// Maps a v1 group body to the v2 shape: `displayName`, the custom extension (`name` defaults
/// to `displayName` on create) and `members` by UUID (always present on update: the PUT
/// replaces the membership).
pub fn group_v1_to_v2(
    v1: &Value,
    mode: GroupWrite<'_>,
    ids: &dyn IdResolver,
) -> Result<Value, V1Error> {
    let v1 = v1
        .as_object()
        .ok_or_else(|| V1Error::invalid(code::INVALID_SYNTAX, "the group must be a JSON object"))?;
    if let GroupWrite::Update { uri_id } = mode {
        let body_id = given(v1, "id").and_then(Value::as_str).ok_or_else(|| {
            V1Error::invalid(code::GROUP_ID_REQUIRED, "the body must carry the group id")
        })?;
        let same = body_id == uri_id
            || ids
                .group_uuid(body_id)
                .is_some_and(|b| ids.group_uuid(uri_id) == Some(b));
        if !same {
            return Err(V1Error::invalid(
                code::MISMATCHED_GROUP_ID,
                format!("Mismatched group id: the body names {body_id}, the URI {uri_id}"),
            ));
        }
    }
    let display_name = given(v1, "displayName")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| V1Error::invalid(code::DISPLAY_NAME_REQUIRED, "displayName is required"))?;

    let mut custom = Map::new();
    match field(v1, urn::SAP_CUSTOM_GROUP) {
        None | Some(Value::Null) => {}
        Some(Value::Object(ext)) => {
            for key in ["name", "description"] {
                match given(ext, key) {
                    None => {}
                    Some(Value::String(s)) => {
                        custom.insert(key.into(), json!(s));
                    }
                    Some(_) => return Err(invalid(format!("{key} must be a string"))),
                }
            }
        }
        Some(_) => {
            return Err(invalid(format!(
                "{} must be an object",
                urn::SAP_CUSTOM_GROUP
            )));
        }
    }
    match mode {
        GroupWrite::Create => {
            custom.entry("name").or_insert_with(|| json!(display_name));
        }
        GroupWrite::Update { .. } => {
            if custom.contains_key("description") && !custom.contains_key("name") {
                return Err(V1Error::invalid(
                    code::GROUP_NAME_REQUIRED,
                    "updating description requires name in the same request",
                ));
            }
        }
    }

    let items: Vec<Value> = match given(v1, "members") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(invalid("members must be a list")),
    };
    if mode == GroupWrite::Create && items.len() > MAX_MEMBERS_AT_CREATION {
        return Err(V1Error::invalid(
            code::MEMBERS_AT_CREATION_LIMIT,
            format!(
                "a group is created with at most {MAX_MEMBERS_AT_CREATION} members at creation; the request has {}",
                items.len()
            ),
        ));
    }
    let members = resolve_members(&items, ids)?;

    let mut out = Map::new();
    out.insert("schemas".into(), json!([urn::GROUP, urn::SAP_CUSTOM_GROUP]));
    out.insert("displayName".into(), json!(display_name));
    out.insert("members".into(), Value::Array(members));
    out.insert(urn::SAP_CUSTOM_GROUP.into(), Value::Object(custom));
    Ok(Value::Object(out))
}

/// The v1 PUT applied to a stored v2 group body: `displayName` and the named custom members
/// replaced, everything else (`additionalId`, SAP extension, `externalId`) kept, `members`
/// replaced by the update's list.
pub fn merge_group(stored: &Map<String, Value>, update: &Value) -> Value {
    let mut merged = stored.clone();
    let Some(update) = update.as_object() else {
        return Value::Object(merged);
    };
    let mut patch = update.clone();
    patch.retain(|k, _| !k.eq_ignore_ascii_case("schemas") && !k.eq_ignore_ascii_case("members"));
    merge_into(&mut merged, &patch);
    merged.retain(|k, _| !k.eq_ignore_ascii_case("members"));
    merged.insert(
        "members".into(),
        given(update, "members")
            .cloned()
            .unwrap_or_else(|| json!([])),
    );
    Value::Object(merged)
}

/// Renders a full v2 group in the v1 shape; `base` is the v1 base URL (`…/service/scim`).
pub fn group_v2_to_v1(v2_full: &Value, base: &str, ids: &dyn IdResolver) -> Value {
    let base = base.trim_end_matches('/');
    let empty = Map::new();
    let v2 = v2_full.as_object().unwrap_or(&empty);
    let custom = object_at(v2, urn::SAP_CUSTOM_GROUP).unwrap_or(&empty);
    let uuid = given(v2, "id").and_then(Value::as_str).unwrap_or("");
    let v1_id = given(custom, "additionalId")
        .and_then(Value::as_str)
        .unwrap_or(uuid)
        .to_string();
    let mut out = Map::new();
    out.insert("schemas".into(), json!(GROUP_SCHEMAS));
    out.insert("id".into(), json!(v1_id));
    if let Some(v) = given(v2, "displayName") {
        out.insert("displayName".into(), v.clone());
    }
    if let Some(Value::Array(members)) = given(v2, "members") {
        let members: Vec<Value> = members
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|m| {
                let uuid = given(m, "value")?.as_str()?;
                let is_group = given(m, "type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("Group"));
                let (id, endpoint) = if is_group {
                    (ids.group_v1_id(uuid), "Groups")
                } else {
                    (ids.user_v1_id(uuid), "Users")
                };
                let id = id.unwrap_or_else(|| uuid.to_string());
                let mut item = Map::new();
                item.insert("value".into(), json!(id));
                item.insert("$ref".into(), json!(format!("{base}/{endpoint}/{id}")));
                let display = given(m, "display")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| ids.display(uuid));
                if let Some(d) = display {
                    item.insert("display".into(), json!(d));
                }
                Some(Value::Object(item))
            })
            .take(MAX_LISTED_MEMBERS)
            .collect();
        if !members.is_empty() {
            out.insert("members".into(), Value::Array(members));
        }
    }
    let mut ext = Map::new();
    for key in ["name", "description"] {
        if let Some(v) = given(custom, key) {
            ext.insert(key.into(), v.clone());
        }
    }
    ext.insert("groupId".into(), json!(uuid));
    out.insert(urn::SAP_CUSTOM_GROUP.into(), Value::Object(ext));
    if let Some(meta) = object_at(v2, "meta") {
        let mut m = Map::new();
        m.insert("resourceType".into(), json!("Group"));
        for key in ["created", "lastModified", "version"] {
            if let Some(v) = given(meta, key) {
                m.insert(key.into(), v.clone());
            }
        }
        m.insert("location".into(), json!(format!("{base}/Groups/{v1_id}")));
        out.insert("meta".into(), Value::Object(m));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::v1::user::tests::Ids;

    const LEGACY: &str = "63c468ode3c07406970900kc";

    #[test]
    fn create_maps_members_to_uuids_and_defaults_name() {
        let v1 = json!({
            "displayName": "Sales",
            urn::SAP_CUSTOM_GROUP: {"description": "the sales team"},
            "members": [{"value": "P000001"}, {"value": "P000002", "display": "x"}, {"value": "P000001"}]
        });
        let v2 = group_v1_to_v2(&v1, GroupWrite::Create, &Ids).unwrap();
        assert_eq!(v2["displayName"], "Sales");
        assert_eq!(v2["members"], json!([{"value": "u-1"}, {"value": "u-2"}]));
        assert_eq!(
            v2[urn::SAP_CUSTOM_GROUP],
            json!({"description": "the sales team", "name": "Sales"})
        );
    }

    #[test]
    fn group_rules_are_enforced_with_codes() {
        let put = GroupWrite::Update { uri_id: LEGACY };
        let cases = [
            (json!({"displayName": "G"}), put, code::GROUP_ID_REQUIRED),
            (
                json!({"id": "other", "displayName": "G"}),
                put,
                code::MISMATCHED_GROUP_ID,
            ),
            (json!({"id": LEGACY}), put, code::DISPLAY_NAME_REQUIRED),
            (
                json!({"id": LEGACY, "displayName": "G", urn::SAP_CUSTOM_GROUP: {"description": "d"}}),
                put,
                code::GROUP_NAME_REQUIRED,
            ),
            (
                json!({"displayName": "G", "members": [{"value": "P404"}]}),
                GroupWrite::Create,
                code::MEMBER_NOT_FOUND,
            ),
            (
                json!({"displayName": "G", "members": "P000001"}),
                GroupWrite::Create,
                code::INVALID_ATTRIBUTE,
            ),
        ];
        for (body, mode, expected) in cases {
            let err = group_v1_to_v2(&body, mode, &Ids).unwrap_err();
            assert_eq!(err.code, expected, "{body}");
            assert_eq!(err.error.status, 400);
        }
        let many: Vec<Value> = (0..=MAX_MEMBERS_AT_CREATION)
            .map(|_| json!({"value": "P000001"}))
            .collect();
        let err = group_v1_to_v2(
            &json!({"displayName": "G", "members": many}),
            GroupWrite::Create,
            &Ids,
        )
        .unwrap_err();
        assert_eq!(err.code, code::MEMBERS_AT_CREATION_LIMIT);
        // The body may name the group by its UUID when the URI uses the legacy id.
        let ok = group_v1_to_v2(&json!({"id": "g-1", "displayName": "G"}), put, &Ids).unwrap();
        assert_eq!(ok["members"], json!([]));
        assert_eq!(ok[urn::SAP_CUSTOM_GROUP], json!({}));
    }

    #[test]
    fn put_replaces_membership_and_keeps_the_legacy_id() {
        let stored = json!({
            "displayName": "Old",
            urn::SAP_CUSTOM_GROUP: {"name": "old", "description": "d", "additionalId": LEGACY},
        });
        let update = group_v1_to_v2(
            &json!({"id": LEGACY, "displayName": "New", urn::SAP_CUSTOM_GROUP: {"name": "new"}}),
            GroupWrite::Update { uri_id: LEGACY },
            &Ids,
        )
        .unwrap();
        let merged = merge_group(stored.as_object().unwrap(), &update);
        assert_eq!(merged["displayName"], "New");
        assert_eq!(
            merged[urn::SAP_CUSTOM_GROUP],
            json!({"name": "new", "description": "d", "additionalId": LEGACY})
        );
        assert_eq!(merged["members"], json!([]));
    }

    #[test]
    fn v2_group_renders_as_v1() {
        let members: Vec<Value> = (0..150)
            .map(|i| json!({"value": if i == 0 { "u-1".to_string() } else { format!("x-{i}") }, "type": "User", "display": "d"}))
            .collect();
        let v2 = json!({
            "id": "g-1",
            "displayName": "Sales",
            "members": members,
            urn::SAP_CUSTOM_GROUP: {"name": "sales", "description": "d", "additionalId": LEGACY},
            "meta": {"version": "W/\"2\"", "created": "c", "lastModified": "l", "location": "v2"}
        });
        let v1 = group_v2_to_v1(&v2, "https://h/service/scim", &Ids);
        assert_eq!(v1["id"], LEGACY);
        assert_eq!(v1["schemas"], json!([urn::GROUP, urn::SAP_CUSTOM_GROUP]));
        assert_eq!(
            v1[urn::SAP_CUSTOM_GROUP],
            json!({"name": "sales", "description": "d", "groupId": "g-1"})
        );
        let listed = v1["members"].as_array().unwrap();
        assert_eq!(listed.len(), MAX_LISTED_MEMBERS);
        assert_eq!(
            listed[0],
            json!({"value": "P000001", "$ref": "https://h/service/scim/Users/P000001", "display": "d"})
        );
        assert_eq!(
            v1["meta"]["location"],
            format!("https://h/service/scim/Groups/{LEGACY}")
        );
        assert_eq!(v1["meta"]["resourceType"], "Group");
    }
}
