//! A user or group as the directory hands it out, and its SCIM JSON rendering.
//!
//! Invariants:
//! - `groups` (users) and `members` (groups) are derived from the memberships of the snapshot
//!   the resource was read from; they are never stored in the body.
//! - A user's SAP `userUuid` is its `id`, added when rendering (never stored).
//! - Group members carry `value`, `$ref` and `type`, no `display`: SAP's SCIM v2 API dropped
//!   `members.display` (domain spec §2.4). A user's `groups` keep their `display`.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::Kind;
use super::legacy_ids::render_user_uuid;
use super::state::{Entry, TenantState};
use crate::scim::projection::default_keeps_text;
use crate::scim::urn;
use crate::store::format_timestamp;

/// A user or group read from a committed snapshot.
#[derive(Clone)]
pub struct Resource {
    pub kind: Kind,
    pub id: String,
    entry: Arc<Entry>,
    snapshot: Arc<TenantState>,
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("version", &self.entry.version)
            .finish()
    }
}

impl Resource {
    pub(crate) fn new(kind: Kind, entry: Arc<Entry>, snapshot: Arc<TenantState>) -> Resource {
        Resource {
            kind,
            id: entry.id.to_string(),
            entry,
            snapshot,
        }
    }

    /// Weak ETag `W/"<version>"`.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.entry.version)
    }

    pub fn version(&self) -> i64 {
        self.entry.version
    }

    pub fn created(&self) -> Timestamp {
        self.entry.created
    }

    pub fn last_modified(&self) -> Timestamp {
        self.entry.last_modified
    }

    /// Insertion order within the tenant.
    pub fn seq(&self) -> i64 {
        self.entry.seq
    }

    /// The stored body (without `id`, `meta`, `groups`, `members`).
    pub fn body(&self) -> Map<String, Value> {
        self.entry.body_json()
    }

    /// The full SCIM JSON; `base_url` is the SCIM base, e.g. `https://host/tenants/acme/scim`.
    pub fn to_json(&self, base_url: &str) -> Value {
        render(&self.snapshot, self.kind, &self.entry, base_url)
    }

    /// `meta.location`: `<base_url>/Users/<id>` or `<base_url>/Groups/<id>`.
    pub fn location(&self, base_url: &str) -> String {
        let base = base_url.trim_end_matches('/');
        format!("{base}{}{}", endpoint(self.kind), self.entry.id)
    }

    /// Appends to `out` the serialised [`Resource::to_json`] as the empty projection returns it,
    /// written straight from the stored JSON text; `false` (and `out` unchanged) when the body
    /// needs the general path (see [`write_default_json`]).
    pub fn write_default_json(&self, base_url: &str, out: &mut Vec<u8>) -> bool {
        write_default_json(&self.snapshot, self.kind, &self.entry, base_url, out)
    }
}

fn endpoint(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "/Users/",
        Kind::Group => "/Groups/",
    }
}

/// Renders an entry of `state` as SCIM JSON.
///
/// Keep [`write_default_json`] in step with this function: the test
/// `fast_rendering_matches_render` compares the two.
pub(crate) fn render(state: &TenantState, kind: Kind, entry: &Entry, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let mut body = entry.body_json();
    let mut out = Map::with_capacity(body.len() + 3);
    if let Some(schemas) = body.shift_remove("schemas") {
        out.insert("schemas".into(), schemas);
    }
    out.insert("id".into(), Value::String(entry.id.to_string()));
    out.extend(body);
    match kind {
        Kind::User => {
            render_user_uuid(&mut out, &entry.id);
            let groups: Vec<Value> = state
                .groups_of(&entry.id)
                .iter()
                .filter_map(|gid| state.get(Kind::Group, gid))
                .map(|g| {
                    let mut item = Map::new();
                    item.insert("value".into(), Value::String(g.id.to_string()));
                    if let Some(display) = &g.display {
                        item.insert("display".into(), Value::String(display.to_string()));
                    }
                    item.insert(
                        "$ref".into(),
                        Value::String(format!("{base}/Groups/{}", g.id)),
                    );
                    item.insert("type".into(), Value::String("direct".into()));
                    Value::Object(item)
                })
                .collect();
            if !groups.is_empty() {
                out.insert("groups".into(), Value::Array(groups));
            }
        }
        Kind::Group => {
            let members: Vec<Value> = state
                .members_of(&entry.id)
                .iter()
                .filter_map(|mid| {
                    let kind = state.kind_of(mid)?;
                    let member = state.get(kind, mid)?;
                    let mut item = Map::new();
                    item.insert("value".into(), Value::String(member.id.to_string()));
                    item.insert(
                        "$ref".into(),
                        Value::String(format!("{base}{}{}", endpoint(kind), member.id)),
                    );
                    item.insert("type".into(), Value::String(kind.to_string()));
                    Some(Value::Object(item))
                })
                .collect();
            if !members.is_empty() {
                out.insert("members".into(), Value::Array(members));
            }
        }
    }
    let version = format!("W/\"{}\"", entry.version);
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.to_string(),
            "created": format_timestamp(entry.created),
            "lastModified": format_timestamp(entry.last_modified),
            "version": version,
            "location": format!("{base}{}{}", endpoint(kind), entry.id),
        }),
    );
    Value::Object(out)
}

/// The top-level members of a JSON object text as `(key, raw value)` pairs, in order; `None`
/// when the text is not an object or a key holds an escape (the general path handles those).
/// Assumes valid JSON, which the writer always stores.
fn top_level_members(text: &str) -> Option<Vec<(&str, &str)>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut members = Vec::with_capacity(16);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(members);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i)?;
        let key = text.get(i + 1..key_end - 1)?;
        if key.contains('\\') {
            return None;
        }
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let value_end = value_end(b, i)?;
        members.push((key, text.get(i..value_end)?));
        i = skip_ws(b, value_end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return (skip_ws(b, i + 1) == b.len()).then_some(members),
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The index after the closing quote of the string starting at `start` (a `"`).
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The index after the JSON value starting at `start`.
fn value_end(b: &[u8], start: usize) -> Option<usize> {
    match *b.get(start)? {
        b'"' => string_end(b, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while let Some(&c) = b.get(i) {
                match c {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let mut i = start;
            while b
                .get(i)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                i += 1;
            }
            (i > start).then_some(i)
        }
    }
}

/// Appends a JSON string.
fn write_str(out: &mut Vec<u8>, s: &str) -> bool {
    serde_json::to_writer(&mut *out, s).is_ok()
}

/// Writes the JSON string of `parts` joined, as [`write_str`] would write their concatenation;
/// parts with nothing to escape (the usual ids, endpoints and base URLs) are copied as they are.
fn write_joined_str(out: &mut Vec<u8>, parts: &[&str]) -> bool {
    let plain = |p: &&str| !p.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
    if !parts.iter().all(plain) {
        return write_str(out, &parts.concat());
    }
    out.push(b'"');
    for part in parts {
        out.extend_from_slice(part.as_bytes());
    }
    out.push(b'"');
    true
}

/// Writes a timestamp as the JSON string of [`format_timestamp`] (its text needs no escaping).
fn write_timestamp(out: &mut Vec<u8>, ts: jiff::Timestamp) -> bool {
    use std::io::Write as _;
    write!(out, "\"{ts:.3}\"").is_ok()
}

/// Writes the weak ETag `W/"<version>"` as a JSON string.
fn write_version(out: &mut Vec<u8>, version: i64) -> bool {
    use std::io::Write as _;
    write!(out, "\"W/\\\"{version}\\\"\"").is_ok()
}

/// Whether the JSON text `text` holds the string `s` (with its quotes).
fn contains_quoted(text: &str, s: &str) -> bool {
    text.match_indices(s)
        .any(|(at, _)| text[..at].ends_with('"') && text[at + s.len()..].starts_with('"'))
}

/// The members the rendering adds; a body holding one of them takes the general path.
const RENDERED_KEYS: [&str; 5] = ["schemas", "id", "meta", "groups", "members"];

/// Appends to `out` exactly the bytes `serde_json::to_vec` gives for
/// `Projection::default().apply(&render(state, kind, entry, base_url))`, splicing the stored
/// JSON text instead of building a tree. Returns `false` with `out` unchanged when the body
/// needs the general path: an attribute the empty projection removes (see
/// [`default_keeps_text`]), a member spelled unlike its canonical key, a user without the SAP
/// extension, or text this writer does not split.
pub(crate) fn write_default_json(
    state: &TenantState,
    kind: Kind,
    entry: &Entry,
    base_url: &str,
    out: &mut Vec<u8>,
) -> bool {
    let start = out.len();
    let ok = try_write_default_json(state, kind, entry, base_url, out).is_some();
    if !ok {
        out.truncate(start);
    }
    ok
}

fn try_write_default_json(
    state: &TenantState,
    kind: Kind,
    entry: &Entry,
    base_url: &str,
    out: &mut Vec<u8>,
) -> Option<()> {
    let rt = kind.resource_type();
    if !default_keeps_text(&entry.body, rt) {
        return None;
    }
    let members = top_level_members(&entry.body)?;
    let mut schemas = None;
    for (key, value) in &members {
        if let Some(canonical) = RENDERED_KEYS.iter().find(|k| k.eq_ignore_ascii_case(key)) {
            if *key != "schemas" || *canonical != "schemas" {
                return None;
            }
            schemas = Some(*value);
        } else if let Some(ext) = rt.extension(key)
            && (ext.id != *key || !value.starts_with('{'))
        {
            return None;
        }
    }
    let schemas = schemas?;
    if kind == Kind::User
        && (!contains_quoted(schemas, urn::SAP_USER)
            || !members.iter().any(|(k, _)| *k == urn::SAP_USER))
    {
        return None;
    }
    let base = base_url.trim_end_matches('/');
    out.reserve(entry.body.len() + 512 + base.len() * 2);
    out.extend_from_slice(b"{\"schemas\":");
    out.extend_from_slice(schemas.as_bytes());
    out.extend_from_slice(b",\"id\":");
    write_str(out, &entry.id).then_some(())?;
    for (key, value) in &members {
        if *key == "schemas" {
            continue;
        }
        out.push(b',');
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        if kind == Kind::User && *key == urn::SAP_USER {
            write_sap_user_extension(value, &entry.id, out)?;
        } else {
            out.extend_from_slice(value.as_bytes());
        }
    }
    match kind {
        Kind::User => write_groups(state, &entry.id, base, out)?,
        Kind::Group => write_members(state, &entry.id, base, out)?,
    }
    out.extend_from_slice(b",\"meta\":{\"resourceType\":\"");
    out.extend_from_slice(kind.name().as_bytes());
    out.extend_from_slice(b"\",\"created\":");
    write_timestamp(out, entry.created).then_some(())?;
    out.extend_from_slice(b",\"lastModified\":");
    write_timestamp(out, entry.last_modified).then_some(())?;
    out.extend_from_slice(b",\"version\":");
    write_version(out, entry.version).then_some(())?;
    out.extend_from_slice(b",\"location\":");
    write_joined_str(out, &[base, endpoint(kind), &entry.id]).then_some(())?;
    out.extend_from_slice(b"}}");
    Some(())
}

/// The SAP user extension with the rendered-only `userUuid`, as [`render_user_uuid`] makes it:
/// the attributes in schema order (`userUuid` among them), then unknown keys in their order.
/// `None` when a key is spelled unlike its schema name (the general path re-keys those).
fn write_sap_user_extension(raw: &str, id: &str, out: &mut Vec<u8>) -> Option<()> {
    const USER_UUID: &str = "userUuid";
    let schema = Kind::User.resource_type().extension(urn::SAP_USER)?;
    let members = top_level_members(raw)?;
    let known = |key: &str| {
        schema
            .attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(key))
    };
    if members
        .iter()
        .any(|(k, _)| known(k).is_some_and(|a| a.name != *k) || k.eq_ignore_ascii_case(USER_UUID))
    {
        return None;
    }
    let mut first = true;
    let mut member = |out: &mut Vec<u8>, key: &str| {
        out.extend_from_slice(if first { b"{\"" } else { b",\"" });
        first = false;
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
    };
    for attr in &schema.attributes {
        if attr.name == USER_UUID {
            member(out, USER_UUID);
            write_str(out, id).then_some(())?;
        } else if let Some((key, value)) = members.iter().find(|(k, _)| *k == attr.name) {
            member(out, key);
            out.extend_from_slice(value.as_bytes());
        }
    }
    for (key, value) in members.iter().filter(|(k, _)| known(k).is_none()) {
        member(out, key);
        out.extend_from_slice(value.as_bytes());
    }
    if first {
        out.push(b'{');
    }
    out.push(b'}');
    Some(())
}

/// `,"groups":[…]` of a user (nothing without memberships).
fn write_groups(state: &TenantState, id: &str, base: &str, out: &mut Vec<u8>) -> Option<()> {
    let mut first = true;
    for g in state
        .groups_of(id)
        .iter()
        .filter_map(|gid| state.get(Kind::Group, gid))
    {
        out.extend_from_slice(if first {
            b",\"groups\":[{\"value\":"
        } else {
            b",{\"value\":"
        });
        first = false;
        write_str(out, &g.id).then_some(())?;
        if let Some(display) = &g.display {
            out.extend_from_slice(b",\"display\":");
            write_str(out, display).then_some(())?;
        }
        out.extend_from_slice(b",\"$ref\":");
        write_str(out, &format!("{base}/Groups/{}", g.id)).then_some(())?;
        out.extend_from_slice(b",\"type\":\"direct\"}");
    }
    if !first {
        out.push(b']');
    }
    Some(())
}

/// `,"members":[…]` of a group (nothing without members).
fn write_members(state: &TenantState, id: &str, base: &str, out: &mut Vec<u8>) -> Option<()> {
    let mut first = true;
    for mid in state.members_of(id).iter() {
        let Some(kind) = state.kind_of(mid) else {
            continue;
        };
        let Some(member) = state.get(kind, mid) else {
            continue;
        };
        out.extend_from_slice(if first {
            b",\"members\":[{\"value\":"
        } else {
            b",{\"value\":"
        });
        first = false;
        write_str(out, &member.id).then_some(())?;
        out.extend_from_slice(b",\"$ref\":");
        write_str(out, &format!("{base}{}{}", endpoint(kind), member.id)).then_some(())?;
        out.extend_from_slice(b",\"type\":");
        write_str(out, &kind.to_string()).then_some(())?;
        out.push(b'}');
    }
    if !first {
        out.push(b']');
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Origin;
    use crate::directory::ops::{Batch, create};
    use crate::scim::projection::Projection;
    use serde_json::json;

    const BASE: &str = "https://h/tenants/acme/scim/";

    fn slow(state: &TenantState, kind: Kind, entry: &Entry) -> Vec<u8> {
        let full = render(state, kind, entry, BASE);
        serde_json::to_vec(&Projection::default().apply(&full, kind.resource_type())).unwrap()
    }

    fn fast(state: &TenantState, kind: Kind, entry: &Entry) -> Option<Vec<u8>> {
        let mut out = b"prefix".to_vec();
        let written = write_default_json(state, kind, entry, BASE, &mut out);
        if !written {
            assert_eq!(
                out, b"prefix",
                "a refused write leaves the buffer as it was"
            );
            return None;
        }
        Some(out.split_off(6))
    }

    #[test]
    fn fast_rendering_matches_render() {
        let mut state = TenantState::new("acme");
        let mut batch = Batch::new(Timestamp::from_millisecond(1_700_000_000_000).unwrap());
        let mut add = |state: &mut TenantState, kind: Kind, body: Value| {
            create(state, &mut batch, kind, body, &Origin::ScimV2).unwrap()
        };
        let alice = add(
            &mut state,
            Kind::User,
            json!({
                "schemas": [urn::USER, urn::ENTERPRISE_USER],
                "userName": "alice",
                "name": {"givenName": "Al\"ice", "familyName": "Smith"},
                "displayName": "Alice ü",
                "emails": [{"value": "a@example.com", "type": "work", "primary": true}],
                urn::ENTERPRISE_USER: {"employeeNumber": "7"},
                urn::SAP_USER: {"zzz": [1], "status": "active", "mailVerified": true},
                "active": true
            }),
        );
        let bare = add(&mut state, Kind::User, json!({"userName": "bare"}));
        let secret = add(
            &mut state,
            Kind::User,
            json!({"userName": "carol", "password": "s3cret", "name": {}}),
        );
        let sub = add(&mut state, Kind::Group, json!({"displayName": "Sub"}));
        let group = add(
            &mut state,
            Kind::Group,
            json!({
                "schemas": [urn::GROUP],
                "displayName": "Admins",
                "members": [{"value": &*alice.id}, {"value": &*sub.id}, {"value": &*bare.id}]
            }),
        );
        let cases = [
            (Kind::User, &alice),
            (Kind::User, &bare),
            (Kind::User, &secret),
            (Kind::Group, &sub),
            (Kind::Group, &group),
        ];
        let mut fast_count = 0;
        for (kind, entry) in cases {
            let entry = state.get(kind, &entry.id).unwrap().clone();
            let expected = slow(&state, kind, &entry);
            if let Some(got) = fast(&state, kind, &entry) {
                fast_count += 1;
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(expected).unwrap(),
                    "{}",
                    entry.body
                );
            }
        }
        // The password is never stored (directory::write_only), so only the empty `name`
        // (which the default projection drops) sends that user down the general path.
        assert_eq!(fast_count, 4);
        assert!(fast(&state, Kind::User, &secret).is_none());
        assert!(!secret.body.contains("s3cret"));
    }

    #[test]
    fn joined_strings_and_versions_are_written_as_json_strings() {
        for parts in [
            &["https://h/t/", "/Users/", "u-1"][..],
            &["https://h/\"q\"\\", "/Users/", "\u{1}"][..],
            &[][..],
        ] {
            let mut out = Vec::new();
            assert!(write_joined_str(&mut out, parts));
            let expected = serde_json::to_vec(&parts.concat()).unwrap();
            assert_eq!(out, expected, "{parts:?}");
        }
        let mut out = Vec::new();
        assert!(write_version(&mut out, 42));
        assert_eq!(out, serde_json::to_vec("W/\"42\"").unwrap());
        let ts = Timestamp::from_millisecond(1_700_000_000_123).unwrap();
        let mut out = Vec::new();
        assert!(write_timestamp(&mut out, ts));
        assert_eq!(out, serde_json::to_vec(&format_timestamp(ts)).unwrap());
    }

    #[test]
    fn quoted_strings_are_found_only_whole() {
        let schemas = format!(r#"["{}","{}x"]"#, urn::USER, urn::SAP_USER);
        assert!(contains_quoted(&schemas, urn::USER));
        assert!(!contains_quoted(&schemas, urn::SAP_USER));
        let schemas = format!(r#"["{}x","{}"]"#, urn::SAP_USER, urn::SAP_USER);
        assert!(contains_quoted(&schemas, urn::SAP_USER));
    }

    #[test]
    fn top_level_members_split_compact_and_spaced_text() {
        let text = r#" { "a" : [1, {"b": "}\"]"}], "c":{"d":null} ,"e":-1.5e3,"f":"x\\"} "#;
        assert_eq!(
            top_level_members(text).unwrap(),
            vec![
                ("a", r#"[1, {"b": "}\"]"}]"#),
                ("c", r#"{"d":null}"#),
                ("e", "-1.5e3"),
                ("f", r#""x\\""#),
            ]
        );
        assert_eq!(top_level_members("{}").unwrap(), vec![]);
        for bad in ["[]", "{\"a\":1", "{\"a\\u0041\":1}", "{\"a\":1} x", ""] {
            assert!(top_level_members(bad).is_none(), "{bad}");
        }
    }
}
