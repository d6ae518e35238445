//! The server-managed SAP identifiers of users and groups (domain spec §2.3, §2.4):
//!
//! - a user's legacy id `userId` (SCIM v1 `id`, v2 `urn:…:sap:2.0:User:userId`): `P` and a
//!   per-tenant sequence number of at least six digits (`P000001`, …, `P999999`,
//!   `P1000000`);
//! - a group's legacy id (SCIM v1 `id`, v2 `urn:sap:…:custom:2.0:Group:additionalId`): 24
//!   random characters of `[0-9a-z]`;
//! - a group's custom `name`, which defaults to its `displayName` at creation.
//!
//! Invariants:
//! - The legacy ids are assigned by the directory once, at creation, and are carried over
//!   unchanged by every replacement ([`stamp`]); clients never set them (they are readOnly).
//! - A stamped body lists the URN of every extension it holds in `schemas`.
//! - The functions here are pure, except that [`new_group_additional_id`] draws randomness.

use rand::Rng as _;
use serde_json::{Map, Value};

use super::Kind;
use super::state::get_ci;
use crate::scim::urn;

/// The length of a group's legacy id.
pub const GROUP_ADDITIONAL_ID_LEN: usize = 24;

/// The alphabet of a group's legacy id.
const ADDITIONAL_ID_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The legacy user id of sequence number `n`: `P` and at least six digits.
pub fn format_user_id(n: u64) -> String {
    format!("P{n:06}")
}

/// The sequence number of a legacy user id in the form [`format_user_id`] makes.
pub fn parse_user_id(user_id: &str) -> Option<u64> {
    let digits = user_id.strip_prefix('P')?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The sequence number of a legacy user id exactly as [`format_user_id`] writes it (so that
/// `format_user_id(n) == user_id`): six digits, or more without a leading zero.
pub fn canonical_user_number(user_id: &str) -> Option<u64> {
    let digits = user_id.strip_prefix('P')?;
    if digits.len() > 6 && digits.starts_with('0') {
        return None;
    }
    parse_user_id(user_id)
}

/// A fresh random group legacy id (24 characters of `[0-9a-z]`) that `taken` refuses not.
pub fn new_group_additional_id(taken: impl Fn(&str) -> bool) -> String {
    let mut rng = rand::rng();
    loop {
        let id: String = (0..GROUP_ADDITIONAL_ID_LEN)
            .map(|_| {
                let i = rng.random_range(0..ADDITIONAL_ID_ALPHABET.len());
                char::from(ADDITIONAL_ID_ALPHABET[i])
            })
            .collect();
        if !taken(&id) {
            return id;
        }
    }
}

/// The extension holding the legacy id of `kind`, and the attribute's name in it.
pub fn legacy_id_attribute(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::User => (urn::SAP_USER, "userId"),
        Kind::Group => (urn::SAP_CUSTOM_GROUP, "additionalId"),
    }
}

/// The string attribute `name` of extension `ext` in a stored body.
pub fn extension_text<'b>(body: &'b Map<String, Value>, ext: &str, name: &str) -> Option<&'b str> {
    get_ci(body, ext)
        .and_then(Value::as_object)
        .and_then(|o| get_ci(o, name))
        .and_then(Value::as_str)
}

/// The legacy id stored in a body of `kind`.
pub fn legacy_id(kind: Kind, body: &Map<String, Value>) -> Option<&str> {
    let (ext, name) = legacy_id_attribute(kind);
    extension_text(body, ext, name)
}

/// The object of extension `ext` in `body` (created when absent, re-keyed to the canonical
/// URN spelling).
fn extension_mut<'b>(
    body: &'b mut Map<String, Value>,
    ext: &str,
) -> Option<&'b mut Map<String, Value>> {
    if let Some(key) = body
        .keys()
        .find(|k| k.eq_ignore_ascii_case(ext) && k.as_str() != ext)
        .cloned()
        && let Some(v) = body.shift_remove(&key)
    {
        body.insert(ext.to_string(), v);
    }
    let slot = body
        .entry(ext.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// Sets `name` to `value` in `obj` (replacing any spelling of it).
fn put(obj: &mut Map<String, Value>, name: &str, value: Value) {
    if let Some(key) = obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned() {
        obj.shift_remove(&key);
    }
    obj.insert(name.to_string(), value);
}

/// Orders the attributes of extension `ext` of a `kind` body as its schema lists them
/// (unknown keys last, in their order).
fn order_by_schema(obj: &mut Map<String, Value>, kind: Kind, ext: &str) {
    let Some(schema) = kind.resource_type().extension(ext) else {
        return;
    };
    let mut ordered = Map::with_capacity(obj.len());
    for attr in &schema.attributes {
        if let Some(v) = obj.shift_remove(&attr.name) {
            ordered.insert(attr.name.clone(), v);
        }
    }
    ordered.append(obj);
    *obj = ordered;
}

/// Adds `ext` to the body's `schemas` (creating `schemas`, first, with the core URN of `kind`
/// when absent).
fn list_schema(body: &mut Map<String, Value>, kind: Kind, ext: &str) {
    if !body.contains_key("schemas") {
        let core = kind.resource_type().schema.id.clone();
        body.shift_insert(0, "schemas".into(), Value::Array(vec![Value::String(core)]));
    }
    if let Some(Value::Array(items)) = body.get_mut("schemas")
        && !items
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(ext)))
    {
        items.push(Value::String(ext.to_string()));
    }
}

/// Puts the legacy id into a body about to be stored (the extension's attributes end up in
/// schema order, the extension listed in `schemas`).
pub fn stamp(kind: Kind, body: &mut Map<String, Value>, legacy_id: &str) {
    let (ext, name) = legacy_id_attribute(kind);
    if let Some(obj) = extension_mut(body, ext) {
        put(obj, name, Value::String(legacy_id.to_string()));
        order_by_schema(obj, kind, ext);
    }
    list_schema(body, kind, ext);
}

/// At group creation: the custom `name` defaults to the `displayName`.
pub fn default_group_name(body: &mut Map<String, Value>) {
    if extension_text(body, urn::SAP_CUSTOM_GROUP, "name").is_some() {
        return;
    }
    let Some(display) = get_ci(body, "displayName")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    if let Some(obj) = extension_mut(body, urn::SAP_CUSTOM_GROUP) {
        put(obj, "name", Value::String(display));
        order_by_schema(obj, Kind::Group, urn::SAP_CUSTOM_GROUP);
    }
    list_schema(body, Kind::Group, urn::SAP_CUSTOM_GROUP);
}

/// Adds the rendered-only `userUuid` (the user's id) to the SAP user extension of a rendered
/// user, in schema order (after `userId`).
pub fn render_user_uuid(out: &mut Map<String, Value>, id: &str) {
    if let Some(ext) = extension_mut(out, urn::SAP_USER) {
        put(ext, "userUuid", Value::String(id.to_string()));
        order_by_schema(ext, Kind::User, urn::SAP_USER);
    }
    list_schema(out, Kind::User, urn::SAP_USER);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn user_ids_have_six_digits_at_least_and_parse_back() {
        assert_eq!(format_user_id(1), "P000001");
        assert_eq!(format_user_id(999_999), "P999999");
        assert_eq!(format_user_id(1_000_000), "P1000000");
        assert_eq!(parse_user_id("P000042"), Some(42));
        assert_eq!(parse_user_id("P1000000"), Some(1_000_000));
        for bad in ["P12345", "p000001", "X000001", "P00000a", "", "P"] {
            assert_eq!(parse_user_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn group_additional_ids_are_24_lowercase_alphanumerics_and_avoid_taken_ones() {
        let a = new_group_additional_id(|_| false);
        assert_eq!(a.len(), GROUP_ADDITIONAL_ID_LEN);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        );
        let first = std::cell::Cell::new(true);
        // The first draw is refused: a second one is made.
        let b = new_group_additional_id(|_| first.replace(false));
        assert_eq!(b.len(), GROUP_ADDITIONAL_ID_LEN);
        assert!(!first.get());
    }

    #[test]
    fn stamping_a_user_puts_user_id_first_and_lists_the_extension() {
        let mut body = obj(json!({"schemas": [urn::USER], "userName": "a",
            "urn:ietf:params:scim:schemas:extension:SAP:2.0:User": {"status": "new", "userId": "X"}}));
        stamp(Kind::User, &mut body, "P000007");
        assert_eq!(
            Value::Object(body.clone()),
            json!({"schemas": [urn::USER, urn::SAP_USER], "userName": "a",
                urn::SAP_USER: {"userId": "P000007", "status": "new"}})
        );
        assert_eq!(legacy_id(Kind::User, &body), Some("P000007"));
        let mut bare = obj(json!({"userName": "b"}));
        stamp(Kind::User, &mut bare, "P000008");
        assert_eq!(bare["schemas"], json!([urn::USER, urn::SAP_USER]));
    }

    #[test]
    fn stamping_a_group_defaults_the_custom_name_to_the_display_name() {
        let mut body = obj(json!({"schemas": [urn::GROUP], "displayName": "Admins"}));
        default_group_name(&mut body);
        stamp(Kind::Group, &mut body, "abc");
        assert_eq!(body["schemas"], json!([urn::GROUP, urn::SAP_CUSTOM_GROUP]));
        assert_eq!(
            body[urn::SAP_CUSTOM_GROUP],
            json!({"name": "Admins", "additionalId": "abc"})
        );
        assert_eq!(legacy_id(Kind::Group, &body), Some("abc"));
        let mut named = obj(json!({"displayName": "Admins",
            urn::SAP_CUSTOM_GROUP: {"name": "admins-legacy", "description": "d"}}));
        default_group_name(&mut named);
        stamp(Kind::Group, &mut named, "abc");
        assert_eq!(
            named[urn::SAP_CUSTOM_GROUP],
            json!({"name": "admins-legacy", "description": "d", "additionalId": "abc"})
        );
    }

    #[test]
    fn user_uuid_follows_user_id_in_the_rendering() {
        let mut out = obj(json!({urn::SAP_USER: {"userId": "P000001", "status": "new"}}));
        render_user_uuid(&mut out, "u-1");
        assert_eq!(
            out[urn::SAP_USER],
            json!({"userId": "P000001", "userUuid": "u-1", "status": "new"})
        );
        let keys: Vec<_> = out[urn::SAP_USER].as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["userId", "userUuid", "status"]);
    }
}
