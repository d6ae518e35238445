//! Users in the v1 shape: validation of a v1 body (spec/domain.md §2.3, §1.8), the move to the
//! v2 stored shape ([`user_v1_to_v2`]), the partial-merge semantics of the v1 PUT
//! ([`merge_user`]) and the v1 rendering of a v2 user ([`user_v2_to_v1`]).
//!
//! Invariants:
//! - A v1 body that breaks a rule is refused as a whole with a [`V1Error`]; nothing is mapped.
//! - Create applies the v1 defaults (`sendMail` "true", `mailVerified` "false", status `new`
//!   without `active`); an update maps only what the body names, JSON `null` meaning "remove".
//! - The merge changes only the attributes the update names; an empty `corporateGroups` list
//!   deletes them, an empty custom `attributes` list deletes every custom attribute.
//! - `sap:2.0:User.emails[0]` mirrors the primary email with its `verified` flag and
//!   `sap:2.0:User.phoneNumbers[0]` the first phone number ([`sync_verification`]).

use serde_json::{Map, Value, json};

use super::error::{V1Error, code};
use super::{IdResolver, field, get_path, given, object_at, set_path};
use crate::scim::urn;

/// What a v1 user body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserWrite {
    /// POST: the body is the whole user; v1 defaults apply.
    Create,
    /// PUT: only the attributes in the body change.
    Update,
}

/// Core attributes that keep their name between v1 and v2.
const CORE_SAME: &[&str] = &[
    "externalId",
    "userName",
    "name",
    "displayName",
    "emails",
    "phoneNumbers",
    "addresses",
    "locale",
    "active",
    "userType",
    "password",
];

/// v1 top-level string attributes stored at a path of the SAP v2 extension.
const SAP_STRING_MOVES: &[(&str, &[&str])] = &[
    ("passwordStatus", &["passwordDetails", "status"]),
    ("passwordPolicy", &["passwordDetails", "policy"]),
    ("sourceSystemId", &["sourceSystemId"]),
    ("industryCrm", &["industry"]),
    ("contactPreferenceEmail", &["contactPreferences", "email"]),
    (
        "contactPreferenceTelephone",
        &["contactPreferences", "telephone"],
    ),
    ("applicationId", &["applicationId"]),
    ("targetUrl", &["targetUrl"]),
    ("emailTemplateSetId", &["emailTemplateSetId"]),
];

/// v1 attributes stored in the enterprise extension.
const ENTERPRISE_MOVES: &[(&str, &str)] =
    &[("company", "organization"), ("department", "department")];

/// Attributes in which `<`, `>` and `:` are refused.
const NAME_CHECKED: &[&[&str]] = &[
    &["displayName"],
    &["name", "familyName"],
    &["name", "givenName"],
    &["name", "middleName"],
];

const USER_TYPES: &[&str] = &["public", "partner", "customer", "employee"];
const PASSWORD_STATUSES: &[&str] = &["importedPassword", "initial", "enabled", "disabled"];
const CUSTOM_VALUE_MAX_CHARS: usize = 256;
const CUSTOM_ATTRIBUTE_COUNT: usize = 10;

fn invalid(detail: impl Into<String>) -> V1Error {
    V1Error::invalid(code::INVALID_ATTRIBUTE, detail)
}

/// A v1 boolean: the strings "true"/"false" (any case) or a JSON boolean.
fn v1_bool(value: &Value, attr: &str) -> Result<bool, V1Error> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(format!("{attr} must be \"true\" or \"false\""))),
    }
}

/// A v1 integer: a JSON integer or a string of digits, within `range`.
fn v1_int(value: &Value, attr: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, V1Error> {
    let n = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    match n {
        Some(n) if range.contains(&n) => Ok(n),
        _ => Err(invalid(format!(
            "{attr} must be an integer from {} to {}",
            range.start(),
            range.end()
        ))),
    }
}

fn v1_string<'a>(value: &'a Value, attr: &str) -> Result<&'a str, V1Error> {
    value
        .as_str()
        .ok_or_else(|| invalid(format!("{attr} must be a string")))
}

/// The rules of spec/domain.md §2.3 that a v1 body must follow before it is mapped.
fn validate(v1: &Map<String, Value>, mode: UserWrite) -> Result<(), V1Error> {
    let family = get_path(v1, &["name", "familyName"]);
    let family_named = object_at(v1, "name").is_some_and(|n| field(n, "familyName").is_some());
    let family_ok = family
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty());
    let needs_family = mode == UserWrite::Create || family_named;
    if needs_family && !family_ok {
        return Err(V1Error::invalid(
            code::FAMILY_NAME_REQUIRED,
            "name.familyName is mandatory",
        ));
    }
    for path in NAME_CHECKED {
        if let Some(value) = get_path(v1, path) {
            let text = v1_string(value, &path.join("."))?;
            if text.contains(['<', '>', ':']) {
                return Err(V1Error::invalid(
                    code::INVALID_CHARACTERS,
                    format!(
                        "{} must not contain the characters <, > or :",
                        path.join(".")
                    ),
                ));
            }
        }
    }
    if let Some(value) = given(v1, "userType") {
        let text = v1_string(value, "userType")?;
        if !USER_TYPES.iter().any(|t| t.eq_ignore_ascii_case(text)) {
            return Err(V1Error::invalid(
                code::INVALID_USER_TYPE,
                format!("userType {text:?} is not one of public, partner, customer, employee"),
            ));
        }
    }
    if let Some(value) = given(v1, "emails") {
        let items = value
            .as_array()
            .ok_or_else(|| invalid("emails must be a list"))?;
        if items.len() > 1 {
            return Err(invalid("emails supports only one value"));
        }
    }
    for attr in ["sendMail", "mailVerified", "telephoneVerified"] {
        if let Some(value) = given(v1, attr) {
            v1_bool(value, attr)?;
        }
    }
    if let Some(value) = given(v1, "passwordStatus") {
        let text = v1_string(value, "passwordStatus")?;
        if !PASSWORD_STATUSES.contains(&text) {
            return Err(invalid(format!(
                "passwordStatus {text:?} is not one of importedPassword, initial, enabled, disabled"
            )));
        }
    }
    for (attr, max) in [
        ("passwordFailedLoginAttempts", 5),
        ("telephoneVerificationAttempts", 5),
        ("otpFailedLoginAttempts", 4),
    ] {
        if let Some(value) = given(v1, attr) {
            v1_int(value, attr, 0..=max)?;
        }
    }
    if let Some(value) = given(v1, "sourceSystem") {
        v1_int(value, "sourceSystem", 0..=i64::from(i32::MAX))?;
    }
    for (attr, _) in SAP_STRING_MOVES {
        if let Some(value) = given(v1, attr) {
            v1_string(value, attr)?;
        }
    }
    if let Some(custom) = given(v1, urn::SAP_CUSTOM_USER) {
        validate_custom(custom)?;
    }
    Ok(())
}

/// Custom `attributes[{name, value}]`: names `customAttribute1..10`, values ≤ 256 characters.
fn validate_custom(custom: &Value) -> Result<(), V1Error> {
    let custom = custom
        .as_object()
        .ok_or_else(|| invalid(format!("{} must be an object", urn::SAP_CUSTOM_USER)))?;
    let Some(items) = given(custom, "attributes") else {
        return Ok(());
    };
    let items = items
        .as_array()
        .ok_or_else(|| invalid("custom attributes must be a list"))?;
    for item in items {
        let item = item
            .as_object()
            .ok_or_else(|| invalid("every custom attribute is an object {name, value}"))?;
        let name = given(item, "name").and_then(Value::as_str).unwrap_or("");
        if custom_index(name).is_none() {
            return Err(invalid(format!(
                "custom attribute name {name:?} is not customAttribute1 .. customAttribute{CUSTOM_ATTRIBUTE_COUNT}"
            )));
        }
        match given(item, "value") {
            None => {}
            Some(Value::String(s)) if s.chars().count() <= CUSTOM_VALUE_MAX_CHARS => {}
            Some(Value::String(_)) => {
                return Err(invalid(format!(
                    "the value of {name} exceeds {CUSTOM_VALUE_MAX_CHARS} characters"
                )));
            }
            Some(_) => return Err(invalid(format!("the value of {name} must be a string"))),
        }
    }
    Ok(())
}

/// `customAttributeN` (case-insensitive) → N in 1..=10.
fn custom_index(name: &str) -> Option<usize> {
    let prefix = name.get(..15)?;
    let digits = &name[15..];
    if !prefix.eq_ignore_ascii_case("customAttribute") || digits.starts_with('0') {
        return None;
    }
    digits
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=CUSTOM_ATTRIBUTE_COUNT).contains(n))
}

/// Maps a v1 user body to the v2 shape (core, enterprise, SAP and custom extensions), ready for
/// [`normalize`](crate::scim::resource::normalize) on create or for [`merge_user`] on update.
/// The enterprise `manager.value` (a v1 id or UUID) is resolved to the manager's UUID.
pub fn user_v1_to_v2(v1: &Value, mode: UserWrite, ids: &dyn IdResolver) -> Result<Value, V1Error> {
    let v1 = v1
        .as_object()
        .ok_or_else(|| V1Error::invalid(code::INVALID_SYNTAX, "the user must be a JSON object"))?;
    validate(v1, mode)?;
    let create = mode == UserWrite::Create;
    // On create a null is the same as absent; on update it removes the attribute.
    let take = |key: &str| field(v1, key).filter(|v| !(create && v.is_null()));

    let mut core = Map::new();
    for key in CORE_SAME {
        if let Some(value) = take(key) {
            core.insert((*key).to_string(), value.clone());
        }
    }
    if let Some(Value::String(t)) = core.get("userType") {
        let lower = t.to_ascii_lowercase();
        core.insert("userType".into(), Value::String(lower));
    }
    if let Some(value) = take("timeZone") {
        core.insert("timezone".into(), value.clone());
    }

    let mut sap = Map::new();
    for (v1_name, path) in SAP_STRING_MOVES {
        if let Some(value) = take(v1_name) {
            set_path(&mut sap, path, value.clone());
        }
    }
    if let Some(value) = take("sourceSystem") {
        let stored = match value {
            Value::Null => Value::Null,
            v => json!(v1_int(v, "sourceSystem", 0..=i64::from(i32::MAX))?),
        };
        sap.insert("sourceSystem".into(), stored);
    }
    if let Some(value) = take("passwordFailedLoginAttempts") {
        let stored = match value {
            Value::Null => Value::Null,
            v => json!(v1_int(v, "passwordFailedLoginAttempts", 0..=5)?),
        };
        set_path(
            &mut sap,
            &["passwordDetails", "failedLoginAttempts"],
            stored,
        );
    }
    for (v1_name, v2_name) in [("sendMail", "sendMail"), ("mailVerified", "mailVerified")] {
        if let Some(value) = take(v1_name) {
            let stored = match value {
                Value::Null => Value::Null,
                v => Value::Bool(v1_bool(v, v1_name)?),
            };
            sap.insert(v2_name.into(), stored);
        }
    }
    if let Some(value) = take("telephoneVerified") {
        let stored = match value {
            Value::Null => Value::Null,
            v => json!([{ "verified": v1_bool(v, "telephoneVerified")? }]),
        };
        sap.insert("phoneNumbers".into(), stored);
    }
    if let Some(value) = take("corporateGroups") {
        sap.insert("corporateGroups".into(), value.clone());
    }
    match given(v1, "active") {
        Some(Value::Bool(true)) => {
            sap.insert("status".into(), json!("active"));
        }
        Some(Value::Bool(false)) => {
            sap.insert("status".into(), json!("inactive"));
        }
        Some(_) => return Err(invalid("active must be true or false")),
        None if create => {
            sap.insert("status".into(), json!("new"));
        }
        None => {}
    }
    if given(v1, "password").is_some() && given(v1, "passwordStatus").is_none() {
        set_path(&mut sap, &["passwordDetails", "status"], json!("initial"));
    }
    if create {
        sap.entry("sendMail").or_insert(Value::Bool(true));
        sap.entry("mailVerified").or_insert(Value::Bool(false));
    }

    let mut enterprise = match take(urn::ENTERPRISE_USER) {
        Some(Value::Object(e)) => e.clone(),
        Some(Value::Null) | None => Map::new(),
        Some(_) => {
            return Err(invalid(format!(
                "{} must be an object",
                urn::ENTERPRISE_USER
            )));
        }
    };
    for (v1_name, v2_name) in ENTERPRISE_MOVES {
        if let Some(value) = take(v1_name) {
            enterprise.retain(|k, _| !k.eq_ignore_ascii_case(v2_name));
            enterprise.insert((*v2_name).to_string(), value.clone());
        }
    }
    resolve_manager(&mut enterprise, ids)?;

    let custom = match take(urn::SAP_CUSTOM_USER) {
        Some(Value::Object(c)) => given(c, "attributes").map(|a| json!({ "attributes": a })),
        Some(Value::Null) => Some(Value::Null),
        _ => None,
    };

    let mut out = Map::new();
    let mut schemas = vec![json!(urn::USER)];
    out.extend(core);
    for (uri, part) in [(urn::ENTERPRISE_USER, enterprise), (urn::SAP_USER, sap)] {
        if !part.is_empty() {
            schemas.push(json!(uri));
            out.insert(uri.into(), Value::Object(part));
        }
    }
    if let Some(custom) = custom {
        schemas.push(json!(urn::SAP_CUSTOM_USER));
        out.insert(urn::SAP_CUSTOM_USER.into(), custom);
    }
    out.insert("schemas".into(), Value::Array(schemas));
    Ok(Value::Object(out))
}

/// Replaces `manager.value` (v1 id or UUID) with the manager's UUID; unknown → 400.
fn resolve_manager(
    enterprise: &mut Map<String, Value>,
    ids: &dyn IdResolver,
) -> Result<(), V1Error> {
    let Some(Value::Object(manager)) = enterprise
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case("manager"))
        .map(|(_, v)| v)
    else {
        return Ok(());
    };
    manager
        .retain(|k, _| !k.eq_ignore_ascii_case("$ref") && !k.eq_ignore_ascii_case("displayName"));
    let Some(value) = given(manager, "value") else {
        return Ok(());
    };
    let id = v1_string(value, "manager.value")?.to_string();
    let uuid = ids.user_uuid(&id).ok_or_else(|| {
        V1Error::invalid(
            code::MANAGER_NOT_FOUND,
            format!("manager id {id} is unknown"),
        )
    })?;
    manager.retain(|k, _| !k.eq_ignore_ascii_case("value"));
    manager.insert("value".into(), Value::String(uuid));
    Ok(())
}

/// Merges `patch` into `target`: `null` and empty lists remove, objects merge member by
/// member, anything else replaces. Keys match case-insensitively (the target's spelling stays).
pub(crate) fn merge_into(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        let existing = target.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
        let slot_key = existing.clone().unwrap_or_else(|| key.clone());
        match value {
            Value::Null => {
                if let Some(k) = existing {
                    target.shift_remove(&k);
                }
            }
            Value::Array(items) if items.is_empty() => {
                if let Some(k) = existing {
                    target.shift_remove(&k);
                }
            }
            Value::Object(members) => {
                let mut merged = match existing.as_ref().and_then(|k| target.get(k)) {
                    Some(Value::Object(old)) => old.clone(),
                    _ => Map::new(),
                };
                merge_into(&mut merged, members);
                if merged.is_empty() {
                    target.shift_remove(&slot_key);
                } else {
                    target.insert(slot_key, Value::Object(merged));
                }
            }
            other => {
                target.insert(slot_key, other.clone());
            }
        }
    }
}

/// The custom attributes of a custom-extension object: the `attributes` list plus any
/// `customAttributeN` members, as `(name, value)` in order, names canonical.
fn custom_pairs(custom: &Map<String, Value>) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut push = |name: &str, value: &Value| {
        if let Some(n) = custom_index(name) {
            let name = format!("customAttribute{n}");
            out.retain(|(k, _)| *k != name);
            out.push((name, value.clone()));
        }
    };
    for (key, value) in custom {
        if custom_index(key).is_some() {
            push(key, value);
        }
    }
    if let Some(Value::Array(items)) = given(custom, "attributes") {
        for item in items.iter().filter_map(Value::as_object) {
            let name = given(item, "name").and_then(Value::as_str).unwrap_or("");
            push(name, given(item, "value").unwrap_or(&Value::Null));
        }
    }
    out
}

fn custom_object(pairs: Vec<(String, Value)>) -> Option<Value> {
    let items: Vec<Value> = pairs
        .into_iter()
        .filter(|(_, v)| v.as_str().is_some_and(|s| !s.is_empty()))
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    (!items.is_empty()).then(|| json!({ "attributes": items }))
}

/// The v1 PUT: `partial` (from [`user_v1_to_v2`] with [`UserWrite::Update`]) merged into the
/// stored v2 body. Only named attributes change. Custom attributes merge by name (an empty
/// value removes one); an empty `attributes` list removes them all.
pub fn merge_user(stored: &Map<String, Value>, partial: &Value) -> Value {
    let mut merged = stored.clone();
    let Some(partial) = partial.as_object() else {
        return Value::Object(merged);
    };
    let mut patch = partial.clone();
    patch.retain(|k, _| !k.eq_ignore_ascii_case("schemas"));
    let custom_key = patch
        .keys()
        .find(|k| k.eq_ignore_ascii_case(urn::SAP_CUSTOM_USER))
        .cloned();
    if let Some(key) = custom_key {
        let update = patch.shift_remove(&key).unwrap_or(Value::Null);
        let stored_key = merged
            .keys()
            .find(|k| k.eq_ignore_ascii_case(urn::SAP_CUSTOM_USER))
            .cloned();
        let old = stored_key
            .as_ref()
            .and_then(|k| merged.get(k))
            .and_then(Value::as_object)
            .map(custom_pairs)
            .unwrap_or_default();
        let new = match &update {
            Value::Object(u) => match given(u, "attributes") {
                Some(Value::Array(items)) if items.is_empty() => None,
                Some(_) => {
                    let mut pairs = old;
                    for (name, value) in custom_pairs(u) {
                        pairs.retain(|(k, _)| *k != name);
                        pairs.push((name, value));
                    }
                    custom_object(pairs)
                }
                None => custom_object(old),
            },
            _ => None,
        };
        if let Some(k) = stored_key {
            merged.shift_remove(&k);
        }
        if let Some(new) = new {
            merged.insert(urn::SAP_CUSTOM_USER.into(), new);
        }
    }
    merge_into(&mut merged, &patch);
    Value::Object(merged)
}

/// The first `value` of a multi-valued core attribute (the primary one when marked).
fn first_value(doc: &Map<String, Value>, attr: &str) -> Option<Value> {
    let items = given(doc, attr)?.as_array()?;
    let primary = items
        .iter()
        .find(|i| i.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| items.first())?;
    given(primary.as_object()?, "value").cloned()
}

/// Keeps the SAP mirrors in step with the core values: `sap.emails = [{value: <primary
/// email>, verified: sap.mailVerified}]` and `sap.phoneNumbers[0].value` = the first phone.
pub fn sync_verification(doc: &mut Map<String, Value>) {
    let email = first_value(doc, "emails");
    let phone = first_value(doc, "phoneNumbers");
    let Some(Value::Object(sap)) = doc
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(urn::SAP_USER))
        .map(|(_, v)| v)
    else {
        return;
    };
    let verified = given(sap, "mailVerified")
        .and_then(Value::as_bool)
        .or_else(|| {
            get_path(sap, &["emails"])
                .and_then(|e| e.get(0))
                .and_then(|e| e.get("verified"))
                .and_then(Value::as_bool)
        });
    match (email, verified) {
        (Some(value), Some(verified)) => {
            sap.insert(
                "emails".into(),
                json!([{ "value": value, "verified": verified }]),
            );
        }
        _ => {
            sap.shift_remove("emails");
        }
    }
    let phone_verified = get_path(sap, &["phoneNumbers"])
        .and_then(|p| p.get(0))
        .and_then(|p| p.get("verified"))
        .and_then(Value::as_bool);
    match (phone, phone_verified) {
        (Some(value), Some(verified)) => {
            sap.insert(
                "phoneNumbers".into(),
                json!([{ "value": value, "verified": verified }]),
            );
        }
        _ => {
            sap.shift_remove("phoneNumbers");
        }
    }
}

fn bool_text(b: bool) -> Value {
    Value::String(if b { "true" } else { "false" }.into())
}

/// Renders a full v2 user (as [`Resource::to_json`](crate::directory::Resource::to_json)
/// gives it) in the v1 shape. `base` is the v1 base URL (`…/service/scim`).
pub fn user_v2_to_v1(v2_full: &Value, base: &str, ids: &dyn IdResolver) -> Value {
    let base = base.trim_end_matches('/');
    let empty = Map::new();
    let v2 = v2_full.as_object().unwrap_or(&empty);
    let sap = object_at(v2, urn::SAP_USER).unwrap_or(&empty);
    let uuid = given(v2, "id").and_then(Value::as_str).unwrap_or("");
    let v1_id = given(sap, "userId")
        .and_then(Value::as_str)
        .unwrap_or(uuid)
        .to_string();

    let mut out = Map::new();
    let mut schemas = vec![json!(urn::USER)];
    out.insert("id".into(), json!(v1_id));
    out.insert("userUuid".into(), json!(uuid));
    if let Some(meta) = object_at(v2, "meta") {
        let mut m = Map::new();
        m.insert("resourceType".into(), json!("User"));
        for key in ["created", "lastModified", "version"] {
            if let Some(v) = given(meta, key) {
                m.insert(key.into(), v.clone());
            }
        }
        m.insert("location".into(), json!(format!("{base}/Users/{v1_id}")));
        out.insert("meta".into(), Value::Object(m));
    }
    for key in CORE_SAME {
        if *key == "password" {
            continue;
        }
        if let Some(v) = given(v2, key) {
            out.insert((*key).to_string(), v.clone());
        }
    }
    if let Some(v) = given(v2, "timezone") {
        out.insert("timeZone".into(), v.clone());
    }
    for (v1_name, path) in SAP_STRING_MOVES {
        if let Some(v) = get_path(sap, path) {
            out.insert((*v1_name).to_string(), v.clone());
        }
    }
    if let Some(v) = get_path(sap, &["passwordDetails", "failedLoginAttempts"]) {
        out.insert("passwordFailedLoginAttempts".into(), v.clone());
    }
    if let Some(v) = given(sap, "sourceSystem") {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.insert("sourceSystem".into(), json!(text));
    }
    let mail_verified = given(sap, "mailVerified")
        .and_then(Value::as_bool)
        .or_else(|| {
            given(sap, "emails")
                .and_then(|e| e.get(0))
                .and_then(|e| e.get("verified"))
                .and_then(Value::as_bool)
        })
        .unwrap_or(false);
    out.insert("mailVerified".into(), bool_text(mail_verified));
    if let Some(b) = given(sap, "sendMail").and_then(Value::as_bool) {
        out.insert("sendMail".into(), bool_text(b));
    }
    if let Some(b) = given(sap, "phoneNumbers")
        .and_then(|p| p.get(0))
        .and_then(|p| p.get("verified"))
        .and_then(Value::as_bool)
    {
        out.insert("telephoneVerified".into(), bool_text(b));
    }
    if let Some(v) = given(sap, "corporateGroups") {
        out.insert("corporateGroups".into(), v.clone());
    }
    if let Some(Value::Array(groups)) = given(v2, "groups") {
        let groups: Vec<Value> = groups
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|g| {
                let uuid = given(g, "value")?.as_str()?;
                let id = ids.group_v1_id(uuid).unwrap_or_else(|| uuid.to_string());
                let mut item = Map::new();
                item.insert("value".into(), json!(id));
                let display = given(g, "display")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| ids.display(uuid));
                if let Some(d) = display {
                    item.insert("display".into(), json!(d));
                }
                item.insert("$ref".into(), json!(format!("{base}/Groups/{id}")));
                Some(Value::Object(item))
            })
            .collect();
        if !groups.is_empty() {
            out.insert("groups".into(), Value::Array(groups));
        }
    }
    if let Some(enterprise) = object_at(v2, urn::ENTERPRISE_USER) {
        for (v1_name, v2_name) in ENTERPRISE_MOVES {
            if let Some(v) = given(enterprise, v2_name) {
                out.insert((*v1_name).to_string(), v.clone());
            }
        }
        let mut enterprise = enterprise.clone();
        if let Some(Value::Object(manager)) = enterprise.get_mut("manager")
            && let Some(uuid) = given(manager, "value").and_then(Value::as_str)
        {
            let id = ids.user_v1_id(uuid).unwrap_or_else(|| uuid.to_string());
            manager.insert("value".into(), json!(id));
            manager.insert("$ref".into(), json!(format!("{base}/Users/{id}")));
        }
        schemas.push(json!(urn::ENTERPRISE_USER));
        out.insert(urn::ENTERPRISE_USER.into(), Value::Object(enterprise));
    }
    if let Some(custom) =
        object_at(v2, urn::SAP_CUSTOM_USER).and_then(|c| custom_object(custom_pairs(c)))
    {
        schemas.push(json!(urn::SAP_CUSTOM_USER));
        out.insert(urn::SAP_CUSTOM_USER.into(), custom);
    }
    out.insert("schemas".into(), Value::Array(schemas));
    Value::Object(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Users `P000001`/`u-1` and `P000002`/`u-2`; group `63c468ode3c07406970900kc`/`g-1`.
    pub(crate) struct Ids;

    impl IdResolver for Ids {
        fn user_uuid(&self, id: &str) -> Option<String> {
            match id {
                "P000001" | "u-1" => Some("u-1".into()),
                "P000002" | "u-2" => Some("u-2".into()),
                _ => None,
            }
        }
        fn user_v1_id(&self, uuid: &str) -> Option<String> {
            match uuid {
                "u-1" => Some("P000001".into()),
                "u-2" => Some("P000002".into()),
                _ => None,
            }
        }
        fn group_uuid(&self, id: &str) -> Option<String> {
            matches!(id, "63c468ode3c07406970900kc" | "g-1").then(|| "g-1".into())
        }
        fn group_v1_id(&self, uuid: &str) -> Option<String> {
            (uuid == "g-1").then(|| "63c468ode3c07406970900kc".into())
        }
    }

    fn full_v1() -> Value {
        json!({
            "schemas": [urn::USER, urn::ENTERPRISE_USER, urn::SAP_CUSTOM_USER],
            "userName": "jdoe",
            "name": {"givenName": "John", "familyName": "Doe", "honorificPrefix": "Mr."},
            "displayName": "John Doe",
            "emails": [{"value": "john@example.com", "primary": true}],
            "phoneNumbers": [{"value": "+49 1", "type": "work"}],
            "addresses": [{"type": "work", "locality": "Walldorf", "country": "DE"}],
            "locale": "de_DE",
            "timeZone": "Europe/Berlin",
            "active": true,
            "userType": "Employee",
            "passwordStatus": "enabled",
            "passwordPolicy": "https://policy.example/x",
            "passwordFailedLoginAttempts": 2,
            "sendMail": "false",
            "mailVerified": "true",
            "telephoneVerified": "true",
            "sourceSystem": "39",
            "sourceSystemId": "src-1",
            "company": "ACME",
            "department": "Sales",
            "industryCrm": "Retail",
            "contactPreferenceEmail": "yes",
            "contactPreferenceTelephone": "no",
            "corporateGroups": [{"value": "cg1"}],
            "applicationId": "app-1",
            "targetUrl": "https://app.example",
            "emailTemplateSetId": "ets-1",
            "groups": [{"value": "ignored"}],
            "title": "dropped",
            urn::ENTERPRISE_USER: {"costCenter": "CC1", "manager": {"value": "P000002"}},
            urn::SAP_CUSTOM_USER: {"attributes": [{"name": "customAttribute1", "value": "v1"}]}
        })
    }

    #[test]
    fn create_moves_every_v1_attribute_to_its_v2_place() {
        let v2 = user_v1_to_v2(&full_v1(), UserWrite::Create, &Ids).unwrap();
        let sap = &v2[urn::SAP_USER];
        let ent = &v2[urn::ENTERPRISE_USER];
        assert_eq!(v2["userName"], "jdoe");
        assert_eq!(v2["name"]["familyName"], "Doe");
        assert_eq!(v2["timezone"], "Europe/Berlin");
        assert!(v2.get("timeZone").is_none());
        assert_eq!(v2["userType"], "employee");
        assert!(v2.get("groups").is_none());
        assert!(v2.get("title").is_none());
        assert_eq!(sap["passwordDetails"]["status"], "enabled");
        assert_eq!(sap["passwordDetails"]["policy"], "https://policy.example/x");
        assert_eq!(sap["passwordDetails"]["failedLoginAttempts"], 2);
        assert_eq!(sap["sendMail"], false);
        assert_eq!(sap["mailVerified"], true);
        assert_eq!(sap["phoneNumbers"][0]["verified"], true);
        assert_eq!(sap["sourceSystem"], 39);
        assert_eq!(sap["sourceSystemId"], "src-1");
        assert_eq!(sap["industry"], "Retail");
        assert_eq!(
            sap["contactPreferences"],
            json!({"email": "yes", "telephone": "no"})
        );
        assert_eq!(sap["corporateGroups"], json!([{"value": "cg1"}]));
        assert_eq!(sap["applicationId"], "app-1");
        assert_eq!(sap["targetUrl"], "https://app.example");
        assert_eq!(sap["emailTemplateSetId"], "ets-1");
        assert_eq!(sap["status"], "active");
        assert_eq!(ent["organization"], "ACME");
        assert_eq!(ent["department"], "Sales");
        assert_eq!(ent["costCenter"], "CC1");
        assert_eq!(ent["manager"], json!({"value": "u-2"}));
        assert_eq!(
            v2[urn::SAP_CUSTOM_USER],
            json!({"attributes": [{"name": "customAttribute1", "value": "v1"}]})
        );
    }

    #[test]
    fn create_defaults_and_status_from_active() {
        let base = json!({"userName": "a", "name": {"familyName": "A"}});
        let v2 = user_v1_to_v2(&base, UserWrite::Create, &Ids).unwrap();
        assert_eq!(v2[urn::SAP_USER]["status"], "new");
        assert_eq!(v2[urn::SAP_USER]["sendMail"], true);
        assert_eq!(v2[urn::SAP_USER]["mailVerified"], false);
        assert!(v2.get("active").is_none());
        let mut inactive = base.clone();
        inactive["active"] = json!(false);
        let v2 = user_v1_to_v2(&inactive, UserWrite::Create, &Ids).unwrap();
        assert_eq!(v2[urn::SAP_USER]["status"], "inactive");
        assert_eq!(v2["active"], false);
        let mut with_password = base;
        with_password["password"] = json!("Secret123!");
        let v2 = user_v1_to_v2(&with_password, UserWrite::Create, &Ids).unwrap();
        assert_eq!(v2[urn::SAP_USER]["passwordDetails"]["status"], "initial");
        // An update names only what it changes: no defaults.
        let v2 = user_v1_to_v2(&json!({"locale": "en"}), UserWrite::Update, &Ids).unwrap();
        assert!(v2.get(urn::SAP_USER).is_none());
    }

    #[test]
    fn v1_rules_are_enforced_with_codes() {
        let cases = [
            (json!({"userName": "a"}), code::FAMILY_NAME_REQUIRED),
            (
                json!({"userName": "a", "name": {"familyName": " "}}),
                code::FAMILY_NAME_REQUIRED,
            ),
            (
                json!({"name": {"familyName": "A<b"}}),
                code::INVALID_CHARACTERS,
            ),
            (
                json!({"name": {"familyName": "A", "givenName": "x:y"}}),
                code::INVALID_CHARACTERS,
            ),
            (
                json!({"name": {"familyName": "A", "middleName": "x>"}}),
                code::INVALID_CHARACTERS,
            ),
            (
                json!({"name": {"familyName": "A"}, "displayName": "a:b"}),
                code::INVALID_CHARACTERS,
            ),
            (
                json!({"name": {"familyName": "A"}, "userType": "alumni"}),
                code::INVALID_USER_TYPE,
            ),
            (
                json!({"name": {"familyName": "A"}, "sendMail": "yes"}),
                code::INVALID_ATTRIBUTE,
            ),
            (
                json!({"name": {"familyName": "A"}, "passwordStatus": "x"}),
                code::INVALID_ATTRIBUTE,
            ),
            (
                json!({"name": {"familyName": "A"}, "passwordFailedLoginAttempts": 6}),
                code::INVALID_ATTRIBUTE,
            ),
            (
                json!({"name": {"familyName": "A"}, "otpFailedLoginAttempts": 5}),
                code::INVALID_ATTRIBUTE,
            ),
            (
                json!({"name": {"familyName": "A"}, "emails": [{"value": "a@x"}, {"value": "b@x"}]}),
                code::INVALID_ATTRIBUTE,
            ),
            (
                json!({"name": {"familyName": "A"}, urn::SAP_CUSTOM_USER: {"attributes": [{"name": "customAttribute11", "value": "x"}]}}),
                code::INVALID_ATTRIBUTE,
            ),
            (
                json!({"name": {"familyName": "A"}, urn::SAP_CUSTOM_USER: {"attributes": [{"name": "customAttribute1", "value": "x".repeat(257)}]}}),
                code::INVALID_ATTRIBUTE,
            ),
            (
                json!({"name": {"familyName": "A"}, urn::ENTERPRISE_USER: {"manager": {"value": "P999"}}}),
                code::MANAGER_NOT_FOUND,
            ),
            (json!([1]), code::INVALID_SYNTAX),
        ];
        for (body, expected) in cases {
            let err = user_v1_to_v2(&body, UserWrite::Create, &Ids).unwrap_err();
            assert_eq!(err.code, expected, "{body}");
            assert_eq!(err.error.status, 400);
        }
        // Update: familyName only checked when named.
        assert!(user_v1_to_v2(&json!({"locale": "de"}), UserWrite::Update, &Ids).is_ok());
        let err = user_v1_to_v2(
            &json!({"name": {"familyName": null}}),
            UserWrite::Update,
            &Ids,
        )
        .unwrap_err();
        assert_eq!(err.code, code::FAMILY_NAME_REQUIRED);
        let ok = json!({"name": {"familyName": "A"}, "sendMail": true, "userType": "Partner",
            urn::SAP_CUSTOM_USER: {"attributes": [{"name": "customattribute10", "value": "x".repeat(256)}]}});
        assert!(user_v1_to_v2(&ok, UserWrite::Create, &Ids).is_ok());
    }

    fn stored_v2() -> Map<String, Value> {
        let mut v2 = user_v1_to_v2(&full_v1(), UserWrite::Create, &Ids).unwrap();
        let map = v2.as_object_mut().unwrap();
        sync_verification(map);
        map.clone()
    }

    #[test]
    fn merge_changes_only_named_attributes() {
        let stored = stored_v2();
        let partial = user_v1_to_v2(
            &json!({"name": {"givenName": "Jack"}, "locale": "en_US", "company": "Other"}),
            UserWrite::Update,
            &Ids,
        )
        .unwrap();
        let merged = merge_user(&stored, &partial);
        assert_eq!(merged["name"]["givenName"], "Jack");
        assert_eq!(merged["name"]["familyName"], "Doe");
        assert_eq!(merged["locale"], "en_US");
        assert_eq!(merged["timezone"], "Europe/Berlin");
        assert_eq!(merged[urn::ENTERPRISE_USER]["organization"], "Other");
        assert_eq!(merged[urn::ENTERPRISE_USER]["costCenter"], "CC1");
        assert_eq!(
            merged[urn::SAP_USER]["corporateGroups"],
            json!([{"value": "cg1"}])
        );
        assert_eq!(merged[urn::SAP_CUSTOM_USER], stored[urn::SAP_CUSTOM_USER]);
        assert_eq!(merged[urn::SAP_USER]["status"], "active");
    }

    #[test]
    fn corporate_groups_overwrite_keep_or_delete() {
        let stored = stored_v2();
        let put = |body: Value| {
            let partial = user_v1_to_v2(&body, UserWrite::Update, &Ids).unwrap();
            merge_user(&stored, &partial)
        };
        let m = put(json!({"corporateGroups": [{"value": "cg2"}, {"value": "cg3"}]}));
        assert_eq!(
            m[urn::SAP_USER]["corporateGroups"],
            json!([{"value": "cg2"}, {"value": "cg3"}])
        );
        let m = put(json!({"locale": "x"}));
        assert_eq!(
            m[urn::SAP_USER]["corporateGroups"],
            json!([{"value": "cg1"}])
        );
        let m = put(json!({"corporateGroups": []}));
        assert!(m[urn::SAP_USER].get("corporateGroups").is_none());
    }

    #[test]
    fn custom_attributes_merge_by_name_and_empty_list_deletes_all() {
        let stored = stored_v2();
        let put = |body: Value| {
            let partial = user_v1_to_v2(&body, UserWrite::Update, &Ids).unwrap();
            merge_user(&stored, &partial)
        };
        let m = put(
            json!({urn::SAP_CUSTOM_USER: {"attributes": [{"name": "customAttribute2", "value": "two"}]}}),
        );
        assert_eq!(
            m[urn::SAP_CUSTOM_USER]["attributes"],
            json!([{"name": "customAttribute1", "value": "v1"}, {"name": "customAttribute2", "value": "two"}])
        );
        let m = put(
            json!({urn::SAP_CUSTOM_USER: {"attributes": [{"name": "customAttribute1", "value": ""}]}}),
        );
        assert!(m.get(urn::SAP_CUSTOM_USER).is_none());
        let m = put(json!({urn::SAP_CUSTOM_USER: {"attributes": []}}));
        assert!(m.get(urn::SAP_CUSTOM_USER).is_none());
    }

    #[test]
    fn merge_null_removes_and_active_sets_status() {
        let stored = stored_v2();
        let partial = user_v1_to_v2(
            &json!({"locale": null, "active": false, "industryCrm": null}),
            UserWrite::Update,
            &Ids,
        )
        .unwrap();
        let m = merge_user(&stored, &partial);
        assert!(m.get("locale").is_none());
        assert_eq!(m["active"], false);
        assert_eq!(m[urn::SAP_USER]["status"], "inactive");
        assert!(m[urn::SAP_USER].get("industry").is_none());
    }

    #[test]
    fn verification_mirrors_follow_the_core_values() {
        let stored = stored_v2();
        assert_eq!(
            stored[urn::SAP_USER]["emails"],
            json!([{"value": "john@example.com", "verified": true}])
        );
        assert_eq!(
            stored[urn::SAP_USER]["phoneNumbers"],
            json!([{"value": "+49 1", "verified": true}])
        );
        let partial = user_v1_to_v2(
            &json!({"emails": [{"value": "new@example.com"}], "mailVerified": "false"}),
            UserWrite::Update,
            &Ids,
        )
        .unwrap();
        let mut m = merge_user(&stored, &partial);
        sync_verification(m.as_object_mut().unwrap());
        assert_eq!(
            m[urn::SAP_USER]["emails"],
            json!([{"value": "new@example.com", "verified": false}])
        );
    }

    #[test]
    fn v2_renders_as_v1_with_every_move_reversed() {
        let mut v2 = Value::Object(stored_v2());
        v2["id"] = json!("u-1");
        v2[urn::SAP_USER]["userId"] = json!("P000001");
        v2["groups"] = json!([{"value": "g-1", "display": "G", "$ref": "x", "type": "direct"}]);
        v2["meta"] = json!({"resourceType": "User", "version": "W/\"3\"", "created": "c", "lastModified": "l", "location": "v2"});
        v2["password"] = json!("never");
        let v1 = user_v2_to_v1(&v2, "https://h/service/scim/", &Ids);
        assert_eq!(v1["id"], "P000001");
        assert_eq!(v1["userUuid"], "u-1");
        assert_eq!(
            v1["meta"]["location"],
            "https://h/service/scim/Users/P000001"
        );
        assert_eq!(v1["meta"]["version"], "W/\"3\"");
        assert_eq!(v1["timeZone"], "Europe/Berlin");
        assert!(v1.get("timezone").is_none());
        assert!(v1.get("password").is_none());
        assert!(v1.get(urn::SAP_USER).is_none());
        for (attr, value) in [
            ("passwordStatus", json!("enabled")),
            ("passwordPolicy", json!("https://policy.example/x")),
            ("passwordFailedLoginAttempts", json!(2)),
            ("sendMail", json!("false")),
            ("mailVerified", json!("true")),
            ("telephoneVerified", json!("true")),
            ("sourceSystem", json!("39")),
            ("sourceSystemId", json!("src-1")),
            ("company", json!("ACME")),
            ("department", json!("Sales")),
            ("industryCrm", json!("Retail")),
            ("contactPreferenceEmail", json!("yes")),
            ("contactPreferenceTelephone", json!("no")),
            ("corporateGroups", json!([{"value": "cg1"}])),
            ("applicationId", json!("app-1")),
            ("targetUrl", json!("https://app.example")),
            ("emailTemplateSetId", json!("ets-1")),
            ("userType", json!("employee")),
            ("active", json!(true)),
        ] {
            assert_eq!(v1[attr], value, "{attr}");
        }
        assert_eq!(
            v1["groups"],
            json!([{"value": "63c468ode3c07406970900kc", "display": "G",
                "$ref": "https://h/service/scim/Groups/63c468ode3c07406970900kc"}])
        );
        assert_eq!(v1[urn::ENTERPRISE_USER]["organization"], "ACME");
        assert_eq!(v1[urn::ENTERPRISE_USER]["manager"]["value"], "P000002");
        assert_eq!(
            v1[urn::ENTERPRISE_USER]["manager"]["$ref"],
            "https://h/service/scim/Users/P000002"
        );
        assert_eq!(
            v1[urn::SAP_CUSTOM_USER],
            json!({"attributes": [{"name": "customAttribute1", "value": "v1"}]})
        );
        assert_eq!(
            v1["schemas"],
            json!([urn::USER, urn::ENTERPRISE_USER, urn::SAP_CUSTOM_USER])
        );
    }

    #[test]
    fn v2_only_custom_attribute_members_appear_in_the_v1_list() {
        let v2 = json!({"id": "u-9", urn::SAP_CUSTOM_USER: {"customAttribute3": "c3"}});
        let v1 = user_v2_to_v1(&v2, "b", &Ids);
        assert_eq!(v1["id"], "u-9", "falls back to the UUID without a userId");
        assert_eq!(v1["mailVerified"], "false");
        assert_eq!(
            v1[urn::SAP_CUSTOM_USER]["attributes"],
            json!([{"name": "customAttribute3", "value": "c3"}])
        );
    }
}
