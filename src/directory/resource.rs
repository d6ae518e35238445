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
}

fn endpoint(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "/Users/",
        Kind::Group => "/Groups/",
    }
}

/// Renders an entry of `state` as SCIM JSON.
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
