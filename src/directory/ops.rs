//! The pure write functions of the directory: create, replace, patch and delete applied to a
//! working [`TenantState`], appending the row writes (rows, memberships, change record) to a
//! [`Batch`]. The writer task runs them and commits the batch.
//!
//! Invariants:
//! - A function that fails leaves the state and the batch as they were ([`atomically`]).
//! - `userName` (users) and `displayName` (groups) are unique per tenant, case-insensitively;
//!   so is the SAP custom group `name` (which defaults to `displayName`).
//! - Every user gets a legacy `userId` and every group a legacy `additionalId` when created
//!   (see [`legacy_ids`]); a replacement or PATCH never changes them.
//! - Members reference existing users or groups of the tenant; a group is never its own member.
//! - The group limits hold (spec/domain.md §2.3): at most [`MAX_GROUPS_PER_TENANT`] groups,
//!   [`MAX_GROUPS_PER_USER`] groups per user and [`MAX_MEMBERS_AT_CREATION`] members when a
//!   group is created.
//! - A user body never holds `password` or SAP `sendMail` ([`write_only`]); a password on
//!   create leaves SAP `passwordDetails.status` = `initial` unless the client gave a status.
//! - Every change appends exactly one change record with its origin; a write that changes
//!   nothing writes nothing and keeps the version.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::legacy_ids;
use super::resource::render;
use super::state::{Entry, IndexKeys, KeyHashes, TenantState, get_ci};
use super::write_only;
use super::{Kind, Origin};
use crate::scim::ScimError;
use crate::scim::patch::{PatchRequest, apply_patch};
use crate::scim::resource::{WriteMode, check_immutable, normalize};
use crate::store::{Operation, RowWrite};

/// The row writes of one writer batch and the instant they happen at.
#[derive(Debug)]
pub struct Batch {
    pub now: Timestamp,
    pub writes: Vec<RowWrite>,
}

impl Batch {
    pub fn new(now: Timestamp) -> Batch {
        Batch {
            now,
            writes: Vec::new(),
        }
    }
}

/// Runs `f`; when it fails (or panics) the state and the batch are restored.
pub fn atomically<T>(
    state: &mut TenantState,
    batch: &mut Batch,
    f: impl FnOnce(&mut TenantState, &mut Batch) -> Result<T, ScimError>,
) -> Result<T, ScimError> {
    let saved = state.clone();
    let mark = batch.writes.len();
    let outcome = catch_unwind(AssertUnwindSafe(|| f(state, batch))).unwrap_or_else(|_| {
        Err(ScimError::internal(
            "the directory change failed unexpectedly",
        ))
    });
    if outcome.is_err() {
        *state = saved;
        batch.writes.truncate(mark);
    }
    outcome
}

/// Checks an `If-Match` header value against the entry's version; `*` matches anything.
pub fn check_if_match(entry: &Entry, if_match: Option<&str>) -> Result<(), ScimError> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = entry.version.to_string();
    let matches = header.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"') == current
    });
    if matches {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!(
            "If-Match {header} does not match the current version W/\"{current}\""
        )))
    }
}

/// A stored body, for groups the member references sent with it, and for users what the
/// write-only attributes stripped from it said.
type SplitBody = (Map<String, Value>, Option<Vec<Value>>, write_only::Stripped);

/// Splits a client body into the stored body and, for groups, the `members` list (`None` when
/// the body has no `members`). Drops `id`, `meta` and, for users, `groups` and the write-only
/// attributes (`password`, SAP `sendMail`): every write path (SCIM v2, v1, Bulk, CSV, jobs)
/// passes here, so neither is ever stored.
fn split_body(kind: Kind, body: Value) -> Result<SplitBody, ScimError> {
    let Value::Object(mut body) = body else {
        return Err(ScimError::invalid_syntax(
            "the resource must be a JSON object",
        ));
    };
    let mut members = None;
    body.retain(|key, value| {
        if key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("meta") {
            return false;
        }
        match kind {
            Kind::User => !key.eq_ignore_ascii_case("groups"),
            Kind::Group if key.eq_ignore_ascii_case("members") => {
                members = Some(match value.take() {
                    Value::Array(items) => items,
                    Value::Null => Vec::new(),
                    other => vec![other],
                });
                false
            }
            Kind::Group => true,
        }
    });
    let stripped = match kind {
        Kind::User => write_only::strip(&mut body),
        Kind::Group => write_only::Stripped::default(),
    };
    Ok((body, members, stripped))
}

/// Resolves member references to existing ids (deduplicated, in order).
fn resolve_members(
    state: &TenantState,
    group: Option<&str>,
    items: Vec<Value>,
) -> Result<Vec<Arc<str>>, ScimError> {
    let mut out: Vec<Arc<str>> = Vec::with_capacity(items.len());
    for item in items {
        let value = match &item {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => get_ci(o, "value").and_then(Value::as_str),
            _ => None,
        };
        let Some(value) = value else {
            return Err(ScimError::invalid_value(
                "every member needs a string \"value\"",
            ));
        };
        if Some(value) == group {
            return Err(ScimError::invalid_value(
                "a group cannot be a member of itself",
            ));
        }
        let id = state
            .get(Kind::User, value)
            .or_else(|| state.get(Kind::Group, value))
            .map(|e| e.id.clone())
            .ok_or_else(|| {
                ScimError::invalid_value(format!(
                    "member {value} is not a user or group of this tenant"
                ))
            })?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

fn check_keys(
    state: &TenantState,
    kind: Kind,
    keys: &IndexKeys,
    own_id: Option<&str>,
) -> Result<(), ScimError> {
    let attr = match kind {
        Kind::User => "userName",
        Kind::Group => "displayName",
    };
    let (Some(unique), Some(name)) = (&keys.unique_name, &keys.name) else {
        return Err(ScimError::invalid_value(format!("{attr} is required")));
    };
    if name.trim().is_empty() {
        return Err(ScimError::invalid_value(format!(
            "{attr} must not be empty"
        )));
    }
    if let Some(other) = state.of(kind).by_unique_name(unique)
        && Some(&**other) != own_id
    {
        return Err(ScimError::uniqueness(format!(
            "{attr} {name} already exists"
        )));
    }
    if let Some(custom) = &keys.custom_name
        && let Some(other) = state.of(kind).by_custom_name(custom)
        && Some(&**other) != own_id
    {
        return Err(ScimError::uniqueness(format!(
            "group name {custom} already exists"
        )));
    }
    Ok(())
}

fn body_text(body: &Map<String, Value>) -> Result<Arc<str>, ScimError> {
    serde_json::to_string(body)
        .map(Arc::from)
        .map_err(|_| ScimError::internal("the resource could not be serialised"))
}

fn add_membership(state: &mut TenantState, batch: &mut Batch, group: &Arc<str>, member: &Arc<str>) {
    let member_type = state.kind_of(member).unwrap_or(Kind::User);
    state.add_member(group, member);
    batch.writes.push(RowWrite::AddMember {
        tenant: state.tenant().clone(),
        group_id: group.clone(),
        member_id: member.clone(),
        member_type,
    });
}

fn change(
    state: &TenantState,
    batch: &mut Batch,
    kind: Kind,
    entry: &Entry,
    operation: Operation,
    origin: &Origin,
) {
    batch.writes.push(RowWrite::Change {
        tenant: state.tenant().clone(),
        kind,
        entity_id: entry.id.clone(),
        operation,
        origin: origin.clone(),
        at: batch.now,
    });
}

fn upsert(state: &TenantState, batch: &mut Batch, kind: Kind, entry: &Entry) {
    batch.writes.push(RowWrite::Upsert {
        tenant: state.tenant().clone(),
        kind,
        id: entry.id.clone(),
        seq: entry.seq,
        version: entry.version,
        created: entry.created,
        last_modified: entry.last_modified,
        body: entry.body.clone(),
    });
}

/// The most groups a tenant may have.
pub const MAX_GROUPS_PER_TENANT: usize = 10_000;
/// The most groups a user may be a direct member of.
pub const MAX_GROUPS_PER_USER: usize = 500;
/// The most members a group may be created with.
pub const MAX_MEMBERS_AT_CREATION: usize = 20_000;

/// Refuses adding `added` members when a user among them is already in
/// [`MAX_GROUPS_PER_USER`] groups.
fn check_groups_per_user(state: &TenantState, added: &[Arc<str>]) -> Result<(), ScimError> {
    for member in added {
        if state.kind_of(member) == Some(Kind::User)
            && state.groups_of(member).len() >= MAX_GROUPS_PER_USER
        {
            return Err(ScimError::invalid_value(format!(
                "user {member} is already in {MAX_GROUPS_PER_USER} groups, the most groups per user"
            )));
        }
    }
    Ok(())
}

/// Creates a user or group from a normalised body.
///
/// Checks everything before its first change to the state or the batch: when it fails, both
/// are as they were, without a rollback copy (the writer relies on this, see
/// [`super::writer::WriterHandle::submit_checked`]).
pub fn create(
    state: &mut TenantState,
    batch: &mut Batch,
    kind: Kind,
    body: Value,
    origin: &Origin,
) -> Result<Arc<Entry>, ScimError> {
    let (mut body, members, stripped) = split_body(kind, body)?;
    if stripped.password_given {
        write_only::mark_initial_password(&mut body);
    }
    let (legacy_id, next_user_number) = match kind {
        Kind::User => {
            let (user_id, next) = state.next_user_id();
            (user_id, Some(next))
        }
        Kind::Group => {
            legacy_ids::default_group_name(&mut body);
            let groups = state.of(Kind::Group);
            let additional_id =
                legacy_ids::new_group_additional_id(|id| groups.by_legacy_id(id).is_some());
            (additional_id, None)
        }
    };
    legacy_ids::stamp(kind, &mut body, &legacy_id);
    let keys = IndexKeys::of(kind, &body);
    check_keys(state, kind, &keys, None)?;
    let members = members.unwrap_or_default();
    if kind == Kind::Group {
        if state.of(Kind::Group).len() >= MAX_GROUPS_PER_TENANT {
            return Err(ScimError::invalid_value(format!(
                "the tenant already has {MAX_GROUPS_PER_TENANT} groups, the most groups per tenant"
            )));
        }
        if members.len() > MAX_MEMBERS_AT_CREATION {
            return Err(ScimError::invalid_value(format!(
                "{} members given; a group takes at most {MAX_MEMBERS_AT_CREATION} members at creation",
                members.len()
            )));
        }
    }
    let members = resolve_members(state, None, members)?;
    check_groups_per_user(state, &members)?;
    let body = body_text(&body)?;
    // Every check passed: from here on nothing fails.
    if let Some(next) = next_user_number {
        state.set_next_user_number(next);
    }
    // Version 7 (time-ordered): new ids append to the store's id index instead of touching a
    // random page of it per create.
    let id: Arc<str> = Arc::from(uuid::Uuid::now_v7().to_string());
    let entry = Arc::new(Entry {
        id: id.clone(),
        seq: state.take_seq(),
        version: 1,
        created: batch.now,
        last_modified: batch.now,
        body,
        display: keys.display.as_deref().map(Arc::from),
        unique_name: keys.unique_name.as_deref().map(Arc::from),
        hashes: KeyHashes::of(&keys),
    });
    state.insert(kind, entry.clone(), &keys);
    upsert(state, batch, kind, &entry);
    for member in &members {
        add_membership(state, batch, &id, member);
    }
    change(state, batch, kind, &entry, Operation::Create, origin);
    Ok(entry)
}

fn existing(state: &TenantState, kind: Kind, id: &str) -> Result<Arc<Entry>, ScimError> {
    state
        .get(kind, id)
        .cloned()
        .ok_or_else(|| ScimError::not_found(format!("{kind} {id} not found")))
}

/// Replaces a user or group with a normalised body (PUT). Without `members` in the body a
/// group keeps its members.
pub fn replace(
    state: &mut TenantState,
    batch: &mut Batch,
    kind: Kind,
    id: &str,
    body: Value,
    if_match: Option<&str>,
    origin: &Origin,
) -> Result<Arc<Entry>, ScimError> {
    let old = existing(state, kind, id)?;
    check_if_match(&old, if_match)?;
    let (body, members, _) = split_body(kind, body)?;
    check_immutable(
        &Value::Object(old.body_json()),
        &Value::Object(body.clone()),
        kind.resource_type(),
    )?;
    update(state, batch, kind, old, body, members, origin)
}

/// Applies a PATCH request to a user or group.
pub fn patch(
    state: &mut TenantState,
    batch: &mut Batch,
    kind: Kind,
    id: &str,
    request: &PatchRequest,
    if_match: Option<&str>,
    origin: &Origin,
) -> Result<Arc<Entry>, ScimError> {
    let old = existing(state, kind, id)?;
    check_if_match(&old, if_match)?;
    let rt = kind.resource_type();
    let mut doc = render(state, kind, &old, "");
    apply_patch(&mut doc, request, rt)?;
    let (body, members, _) = split_body(kind, doc)?;
    let body = match normalize(Value::Object(body), rt, WriteMode::Replace)? {
        Value::Object(body) => body,
        _ => {
            return Err(ScimError::invalid_syntax(
                "the patched resource is not a JSON object",
            ));
        }
    };
    let (body, _, _) = split_body(kind, Value::Object(body))?;
    check_immutable(
        &Value::Object(old.body_json()),
        &Value::Object(body.clone()),
        rt,
    )?;
    // After a PATCH the member list is complete: no `members` means none.
    let members = match kind {
        Kind::Group => Some(members.unwrap_or_default()),
        Kind::User => None,
    };
    update(state, batch, kind, old, body, members, origin)
}

fn update(
    state: &mut TenantState,
    batch: &mut Batch,
    kind: Kind,
    old: Arc<Entry>,
    mut body: Map<String, Value>,
    members: Option<Vec<Value>>,
    origin: &Origin,
) -> Result<Arc<Entry>, ScimError> {
    let old_body = old.body_json();
    let old_keys = IndexKeys::of(kind, &old_body);
    if let Some(legacy_id) = &old_keys.legacy_id {
        legacy_ids::stamp(kind, &mut body, legacy_id);
    }
    let keys = IndexKeys::of(kind, &body);
    check_keys(state, kind, &keys, Some(&old.id))?;
    let (added, removed) = match members {
        Some(items) => {
            let wanted = resolve_members(state, Some(&old.id), items)?;
            let current = state.members_of(&old.id);
            let added: Vec<Arc<str>> = wanted
                .iter()
                .filter(|m| !current.contains(m))
                .cloned()
                .collect();
            let removed: Vec<Arc<str>> = current
                .into_iter()
                .filter(|m| !wanted.contains(m))
                .collect();
            (added, removed)
        }
        None => (Vec::new(), Vec::new()),
    };
    check_groups_per_user(state, &added)?;
    if old_body == body && added.is_empty() && removed.is_empty() {
        return Ok(old);
    }
    let entry = Arc::new(Entry {
        id: old.id.clone(),
        seq: old.seq,
        version: old.version + 1,
        created: old.created,
        last_modified: batch.now,
        body: body_text(&body)?,
        display: keys.display.as_deref().map(Arc::from),
        unique_name: keys.unique_name.as_deref().map(Arc::from),
        hashes: KeyHashes::of(&keys),
    });
    state.replace(kind, entry.clone(), &old_keys, &keys);
    upsert(state, batch, kind, &entry);
    for member in &removed {
        state.remove_member(&entry.id, member);
        batch.writes.push(RowWrite::RemoveMember {
            tenant: state.tenant().clone(),
            group_id: entry.id.clone(),
            member_id: member.clone(),
        });
    }
    for member in &added {
        add_membership(state, batch, &entry.id, member);
    }
    change(state, batch, kind, &entry, Operation::Update, origin);
    Ok(entry)
}

/// Deletes a user or group and every membership it takes part in.
pub fn delete(
    state: &mut TenantState,
    batch: &mut Batch,
    kind: Kind,
    id: &str,
    if_match: Option<&str>,
    origin: &Origin,
) -> Result<(), ScimError> {
    let old = existing(state, kind, id)?;
    check_if_match(&old, if_match)?;
    let keys = IndexKeys::of(kind, &old.body_json());
    state.remove(kind, id, &keys);
    batch.writes.push(RowWrite::Delete {
        tenant: state.tenant().clone(),
        kind,
        id: old.id.clone(),
    });
    change(state, batch, kind, &old, Operation::Delete, origin);
    Ok(())
}

/// Replaces every `bulkId:<x>` reference in the strings of `value` with the id created for
/// `<x>`; an unknown reference is an error.
pub fn resolve_bulk_ids(
    value: &mut Value,
    ids: &BTreeMap<String, String>,
) -> Result<(), ScimError> {
    match value {
        Value::String(s) if s.contains("bulkId:") => {
            *s = resolve_bulk_ids_in(s, ids)?;
        }
        Value::Array(items) => {
            for item in items {
                resolve_bulk_ids(item, ids)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                resolve_bulk_ids(item, ids)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Replaces `bulkId:<x>` tokens in a string; `<x>` ends at a quote, whitespace, `]`, `)` or
/// the end.
pub fn resolve_bulk_ids_in(
    text: &str,
    ids: &BTreeMap<String, String>,
) -> Result<String, ScimError> {
    const MARK: &str = "bulkId:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(MARK) {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + MARK.len()..];
        let end = after
            .find(|c: char| c == '"' || c == ']' || c == ')' || c.is_whitespace())
            .unwrap_or(after.len());
        let key = &after[..end];
        let id = ids
            .get(key)
            .ok_or_else(|| ScimError::invalid_value(format!("unresolved bulkId {key}")))?;
        out.push_str(id);
        rest = &after[end..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts() -> Timestamp {
        Timestamp::from_millisecond(1_700_000_000_000).unwrap()
    }

    fn new_state() -> (TenantState, Batch) {
        (TenantState::new("acme"), Batch::new(ts()))
    }

    #[test]
    fn create_strips_read_only_parts_and_records_a_change() {
        let (mut s, mut b) = new_state();
        let e = create(
            &mut s,
            &mut b,
            Kind::User,
            json!({"id": "x", "meta": {}, "groups": [], "userName": "alice"}),
            &Origin::ScimV2,
        )
        .unwrap();
        // The directory adds the legacy userId (and lists its extension).
        assert_eq!(
            &*e.body,
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:sap:2.0:User"],"userName":"alice","urn:ietf:params:scim:schemas:extension:sap:2.0:User":{"userId":"P000001"}}"#
        );
        assert_eq!(e.version, 1);
        assert!(uuid::Uuid::parse_str(&e.id).is_ok());
        assert_eq!(b.writes.len(), 2);
        assert!(matches!(
            &b.writes[1],
            RowWrite::Change {
                operation: Operation::Create,
                origin: Origin::ScimV2,
                ..
            }
        ));
    }

    #[test]
    fn user_name_is_unique_case_insensitively_and_failure_changes_nothing() {
        let (mut s, mut b) = new_state();
        create(
            &mut s,
            &mut b,
            Kind::User,
            json!({"userName": "Alice"}),
            &Origin::ScimV2,
        )
        .unwrap();
        let writes = b.writes.len();
        let err = atomically(&mut s, &mut b, |s, b| {
            create(
                s,
                b,
                Kind::User,
                json!({"userName": "ALICE"}),
                &Origin::ScimV2,
            )
        })
        .unwrap_err();
        assert_eq!(err.status, 409);
        assert_eq!(err.detail, "userName ALICE already exists");
        assert_eq!(b.writes.len(), writes);
        assert_eq!(s.of(Kind::User).len(), 1);
        let err = create(
            &mut s,
            &mut b,
            Kind::User,
            json!({"name": {}}),
            &Origin::ScimV2,
        )
        .unwrap_err();
        assert_eq!(err.status, 400);
    }

    #[test]
    fn group_members_must_exist_and_are_diffed_on_replace() {
        let (mut s, mut b) = new_state();
        let u1 = create(
            &mut s,
            &mut b,
            Kind::User,
            json!({"userName": "a"}),
            &Origin::ScimV2,
        )
        .unwrap();
        let u2 = create(
            &mut s,
            &mut b,
            Kind::User,
            json!({"userName": "b"}),
            &Origin::ScimV2,
        )
        .unwrap();
        let err = create(
            &mut s,
            &mut b,
            Kind::Group,
            json!({"displayName": "G", "members": [{"value": "nope"}]}),
            &Origin::ScimV2,
        )
        .unwrap_err();
        assert_eq!(err.status, 400);
        let g = create(
            &mut s,
            &mut b,
            Kind::Group,
            json!({"displayName": "G", "members": [{"value": &*u1.id}]}),
            &Origin::ScimV2,
        )
        .unwrap();
        assert_eq!(s.members_of(&g.id), vec![u1.id.clone()]);
        let mark = b.writes.len();
        let g2 = replace(
            &mut s,
            &mut b,
            Kind::Group,
            &g.id,
            json!({"displayName": "G", "members": [{"value": &*u2.id}]}),
            None,
            &Origin::ScimV2,
        )
        .unwrap();
        assert_eq!(g2.version, 2);
        assert_eq!(s.members_of(&g.id), vec![u2.id.clone()]);
        assert!(
            b.writes[mark..]
                .iter()
                .any(|w| matches!(w, RowWrite::RemoveMember { .. }))
        );
        // PUT without members keeps them; an identical PUT changes nothing.
        let g3 = replace(
            &mut s,
            &mut b,
            Kind::Group,
            &g.id,
            json!({"displayName": "G"}),
            None,
            &Origin::ScimV2,
        )
        .unwrap();
        assert_eq!(g3.version, 2);
        let err = replace(
            &mut s,
            &mut b,
            Kind::Group,
            &g.id,
            json!({"displayName": "G", "members": [{"value": &*g.id}]}),
            None,
            &Origin::ScimV2,
        )
        .unwrap_err();
        assert_eq!(err.status, 400);
    }

    #[test]
    fn group_limits_per_user_per_tenant_and_at_creation() {
        let (mut s, mut b) = new_state();
        let user = |s: &mut TenantState, b: &mut Batch, name: &str| {
            create(s, b, Kind::User, json!({"userName": name}), &Origin::ScimV1).unwrap()
        };
        let u = user(&mut s, &mut b, "busy");
        let free = user(&mut s, &mut b, "free");
        let group = |s: &mut TenantState, b: &mut Batch, i: usize, members: Value| {
            create(
                s,
                b,
                Kind::Group,
                json!({"displayName": format!("g{i}"), "members": members}),
                &Origin::ScimV1,
            )
        };
        for i in 0..MAX_GROUPS_PER_USER {
            group(&mut s, &mut b, i, json!([{"value": &*u.id}])).unwrap();
        }
        let err = group(&mut s, &mut b, 9_999_999, json!([{"value": &*u.id}])).unwrap_err();
        assert!(err.detail.contains("groups per user"), "{}", err.detail);
        let g = group(&mut s, &mut b, 9_999_998, json!([{"value": &*free.id}])).unwrap();
        let err = replace(
            &mut s,
            &mut b,
            Kind::Group,
            &g.id,
            json!({"displayName": "g9999998", "members": [{"value": &*u.id}]}),
            None,
            &Origin::ScimV1,
        )
        .unwrap_err();
        assert!(err.detail.contains("groups per user"), "{}", err.detail);
        let too_many: Vec<Value> = (0..=MAX_MEMBERS_AT_CREATION)
            .map(|_| json!({"value": &*free.id}))
            .collect();
        let err = group(&mut s, &mut b, 9_999_997, json!(too_many)).unwrap_err();
        assert!(err.detail.contains("members at creation"), "{}", err.detail);
        let existing = s.of(Kind::Group).len();
        for i in existing..MAX_GROUPS_PER_TENANT {
            group(&mut s, &mut b, i + 1_000_000, json!([])).unwrap();
        }
        let err = group(&mut s, &mut b, 8_888_888, json!([])).unwrap_err();
        assert!(err.detail.contains("groups per tenant"), "{}", err.detail);
    }

    #[test]
    fn if_match_accepts_star_weak_and_strong_forms() {
        let (mut s, mut b) = new_state();
        let e = create(
            &mut s,
            &mut b,
            Kind::User,
            json!({"userName": "a"}),
            &Origin::ScimV2,
        )
        .unwrap();
        assert!(check_if_match(&e, Some("*")).is_ok());
        assert!(check_if_match(&e, Some("W/\"1\"")).is_ok());
        assert!(check_if_match(&e, Some("\"1\"")).is_ok());
        assert!(check_if_match(&e, Some("W/\"0\", W/\"1\"")).is_ok());
        assert_eq!(check_if_match(&e, Some("W/\"2\"")).unwrap_err().status, 412);
        let err = delete(
            &mut s,
            &mut b,
            Kind::User,
            &e.id,
            Some("W/\"9\""),
            &Origin::ScimV2,
        )
        .unwrap_err();
        assert_eq!(err.status, 412);
        delete(
            &mut s,
            &mut b,
            Kind::User,
            &e.id,
            Some("W/\"1\""),
            &Origin::ScimV2,
        )
        .unwrap();
        assert_eq!(
            delete(&mut s, &mut b, Kind::User, &e.id, None, &Origin::ScimV2)
                .unwrap_err()
                .status,
            404
        );
    }

    #[test]
    fn bulk_id_references_are_replaced_or_refused() {
        let ids = BTreeMap::from([("u1".to_string(), "abc".to_string())]);
        let mut v =
            json!({"members": [{"value": "bulkId:u1"}], "path": "members[value eq \"bulkId:u1\"]"});
        resolve_bulk_ids(&mut v, &ids).unwrap();
        assert_eq!(
            v,
            json!({"members": [{"value": "abc"}], "path": "members[value eq \"abc\"]"})
        );
        let mut v = json!(["bulkId:nope"]);
        assert_eq!(resolve_bulk_ids(&mut v, &ids).unwrap_err().status, 400);
    }
}
