//! The in-memory state of one tenant's directory: users and groups by id, their lookup indexes,
//! memberships in both directions and insertion order.
//!
//! Invariants:
//! - Every index agrees with the entries. The hashed indexes (unique name, `externalId`,
//!   emails; [`super::hashed_index`]) hold a superset of the entries' [`KeyHashes`] pairs and
//!   are shared by every clone: each lookup keeps only the candidates whose own entry in this
//!   state has the hash (and, for the unique name, the exact lowercased name), so a pair another
//!   state added or one that went stale never answers. `legacy_ids` holds the SAP legacy id
//!   (user `userId`, group `additionalId`, case-exact) and `custom_names` the lowercased SAP
//!   custom group `name` of every entry that has one.
//! - `next_user_number` is above the number of every stored `userId` (see `legacy_ids`).
//! - `members` and `member_of` are mirror images; every membership refers to an existing group
//!   and an existing user or group.
//! - Cloning is O(1) (persistent `imbl` maps and the shared hashed indexes), so the writer
//!   works on a copy and readers keep the snapshot they loaded. Ids and legacy ids are kept in
//!   ordered maps whose keys put what the directory generates at the end (see
//!   [`super::keys`]), so a batch of creates path-copies one right-hand path instead of one
//!   random path per create.
//! - Bodies are kept as compact JSON text and parsed on demand.

use std::ops::Bound;
use std::sync::Arc;

use imbl::{HashMap, OrdMap, OrdSet};
use jiff::Timestamp;
use serde_json::Value;

use super::Kind;
use super::hashed_index::{HashedIndex, HashedIndexes};
use super::keys::{IdKey, LegacyKey, text_hash};
use super::legacy_ids;
use crate::scim::urn;
use crate::store::{StoreError, TenantRows};

/// One stored user or group.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: Arc<str>,
    /// Insertion order within the tenant (stable listing, cursors).
    pub seq: i64,
    /// Incremented on every change; the ETag is `W/"<version>"`.
    pub version: i64,
    pub created: Timestamp,
    pub last_modified: Timestamp,
    /// The SCIM JSON without `id`, `meta`, `groups` and `members`.
    pub body: Arc<str>,
    /// What a membership shows as `display`: `displayName` (or the `userName` of a user without
    /// one).
    pub display: Option<Arc<str>>,
    /// The lowercased `userName` (users) or `displayName` (groups): what the unique-name index
    /// checks its candidates against.
    pub unique_name: Option<Arc<str>>,
    /// The hashes of the entry's indexed values: what the hashed indexes hold for it and check
    /// their candidates against.
    pub hashes: KeyHashes,
}

/// The [`text_hash`]es of an entry's indexed values (see [`IndexKeys`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyHashes {
    pub unique_name: Option<u64>,
    pub external_id: Option<u64>,
    pub emails: Box<[u64]>,
}

impl KeyHashes {
    pub fn of(keys: &IndexKeys) -> KeyHashes {
        KeyHashes {
            unique_name: keys.unique_name.as_deref().map(text_hash),
            external_id: keys.external_id.as_deref().map(text_hash),
            emails: keys.emails.iter().map(|e| text_hash(e)).collect(),
        }
    }

    /// Each `(index, hash)` pair, in a fixed order.
    fn pairs<'a>(
        &'a self,
        indexes: &'a HashedIndexes,
    ) -> impl Iterator<Item = (&'a HashedIndex, u64)> + 'a {
        let one = |index, hash: Option<u64>| hash.map(|h| (index, h));
        one(&indexes.unique_names, self.unique_name)
            .into_iter()
            .chain(one(&indexes.external_ids, self.external_id))
            .chain(self.emails.iter().map(|h| (&indexes.emails, *h)))
    }

    /// How many of these pairs `newer` (none: the entry is gone) no longer has.
    fn dropped_by(&self, newer: Option<&KeyHashes>) -> usize {
        let Some(newer) = newer else {
            return usize::from(self.unique_name.is_some())
                + usize::from(self.external_id.is_some())
                + self.emails.len();
        };
        usize::from(self.unique_name.is_some() && self.unique_name != newer.unique_name)
            + usize::from(self.external_id.is_some() && self.external_id != newer.external_id)
            + self
                .emails
                .iter()
                .filter(|h| !newer.emails.contains(h))
                .count()
    }
}

impl Entry {
    /// The stored body as JSON (an empty object if the text is not an object, which the writer
    /// never stores).
    pub fn body_json(&self) -> serde_json::Map<String, Value> {
        match serde_json::from_str::<Value>(&self.body) {
            Ok(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }
}

/// The index keys of a body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexKeys {
    /// Lowercased `userName` (users) or `displayName` (groups).
    pub unique_name: Option<String>,
    /// The name as given (for error messages).
    pub name: Option<String>,
    /// Lowercased `externalId`.
    pub external_id: Option<String>,
    /// Lowercased `emails[].value` (users).
    pub emails: Vec<String>,
    pub display: Option<String>,
    /// The SAP legacy id: user `userId`, group `additionalId` (case-exact).
    pub legacy_id: Option<String>,
    /// The SAP custom group `name` as given (groups).
    pub custom_name: Option<String>,
}

/// Case-insensitive attribute lookup in a JSON object.
pub fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

impl IndexKeys {
    pub fn of(kind: Kind, body: &serde_json::Map<String, Value>) -> IndexKeys {
        let text = |name: &str| {
            get_ci(body, name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let name = match kind {
            Kind::User => text("userName"),
            Kind::Group => text("displayName"),
        };
        let emails = match (kind, get_ci(body, "emails")) {
            (Kind::User, Some(Value::Array(items))) => items
                .iter()
                .filter_map(|item| {
                    item.as_object()
                        .and_then(|o| get_ci(o, "value"))
                        .and_then(Value::as_str)
                })
                .map(str::to_lowercase)
                .collect(),
            _ => Vec::new(),
        };
        let custom_name = match kind {
            Kind::Group => legacy_ids::extension_text(body, urn::SAP_CUSTOM_GROUP, "name"),
            Kind::User => None,
        };
        IndexKeys {
            legacy_id: legacy_ids::legacy_id(kind, body).map(str::to_string),
            custom_name: custom_name.map(str::to_string),
            unique_name: name.as_deref().map(str::to_lowercase),
            external_id: text("externalId").map(|s| s.to_lowercase()),
            emails,
            display: text("displayName").or_else(|| name.clone()),
            name,
        }
    }
}

/// The entries of one kind and their indexes.
#[derive(Debug, Clone, Default)]
pub struct KindState {
    /// Ordered, not hashed: new (version 7) ids append at its end (see [`super::keys`]).
    by_id: OrdMap<IdKey, Arc<Entry>>,
    by_seq: OrdMap<i64, Arc<str>>,
    /// Unique name, `externalId` and email hashes with their ids: shared with every clone,
    /// candidates only (see [`super::hashed_index`]).
    hashed: Arc<HashedIndexes>,
    /// Ordered, not hashed: new legacy user ids count up and append at its end.
    legacy_ids: OrdMap<LegacyKey, Arc<str>>,
    custom_names: HashMap<Arc<str>, Arc<str>>,
}

impl KindState {
    pub fn get(&self, id: &str) -> Option<&Arc<Entry>> {
        self.by_id.get(&IdKey::lookup(id))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Ids in insertion order, starting after `after_seq` when given.
    pub fn ordered(&self, after_seq: Option<i64>) -> impl Iterator<Item = (i64, &Arc<str>)> {
        let lower = after_seq.map_or(Bound::Unbounded, Bound::Excluded);
        self.by_seq
            .range((lower, Bound::Unbounded))
            .map(|(seq, id)| (*seq, id))
    }

    /// The id holding the (case-insensitive) unique name.
    pub fn by_unique_name(&self, name: &str) -> Option<&Arc<str>> {
        let name = name.to_lowercase();
        let hash = text_hash(&name);
        self.candidates(&self.hashed.unique_names, hash)
            .find(|entry| {
                entry.hashes.unique_name == Some(hash)
                    && entry.unique_name.as_deref() == Some(name.as_str())
            })
            .map(|entry| &entry.id)
    }

    /// The id holding this SAP legacy id (user `userId`, group `additionalId`; case-exact).
    pub fn by_legacy_id(&self, legacy_id: &str) -> Option<&Arc<str>> {
        self.legacy_ids.get(&LegacyKey::of(legacy_id))
    }

    /// The id holding this SAP custom group `name` (case-insensitive).
    pub fn by_custom_name(&self, name: &str) -> Option<&Arc<str>> {
        self.custom_names.get(name.to_lowercase().as_str())
    }

    /// Ids whose lowercased `externalId` has the hash of `value` lowercased (a superset of
    /// those whose `externalId` equals `value` case-insensitively, by a hash collision at
    /// most: callers check the candidates).
    pub fn by_external_id(&self, value: &str) -> Vec<Arc<str>> {
        let hash = text_hash(&value.to_lowercase());
        self.candidates(&self.hashed.external_ids, hash)
            .filter(|entry| entry.hashes.external_id == Some(hash))
            .map(|entry| entry.id.clone())
            .collect()
    }

    /// Ids having an email whose lowercase has the hash of `value` lowercased (a superset, as
    /// for [`KindState::by_external_id`]).
    pub fn by_email(&self, value: &str) -> Vec<Arc<str>> {
        let hash = text_hash(&value.to_lowercase());
        self.candidates(&self.hashed.emails, hash)
            .filter(|entry| entry.hashes.emails.contains(&hash))
            .map(|entry| entry.id.clone())
            .collect()
    }

    /// The entries of this state that a hashed index holds under `hash` (each still to be
    /// checked: the index is shared and only grows).
    fn candidates<'s>(
        &'s self,
        index: &HashedIndex,
        hash: u64,
    ) -> impl Iterator<Item = &'s Arc<Entry>> + use<'s> {
        index
            .candidates(hash)
            .into_iter()
            .filter_map(|id| self.by_id.get(&id))
    }

    /// Adds the entry's pairs to the hashed indexes.
    fn index_hashes(indexes: &HashedIndexes, id: &Arc<str>, hashes: &KeyHashes) {
        let key = IdKey::of(id);
        let inserted = hashes
            .pairs(indexes)
            .filter(|(index, hash)| index.insert(*hash, key.clone()))
            .count();
        indexes.note_inserted(inserted);
    }

    /// Records that `old`'s pairs that `new` lacks went stale, and builds the hashed indexes
    /// afresh from this state's entries once stale pairs outnumber live ones.
    fn drop_hashes(&mut self, old: &KeyHashes, new: Option<&KeyHashes>) {
        self.hashed.note_stale(old.dropped_by(new));
        if self.hashed.wants_rebuild() {
            let fresh = HashedIndexes::default();
            for entry in self.by_id.values() {
                KindState::index_hashes(&fresh, &entry.id, &entry.hashes);
            }
            self.hashed = Arc::new(fresh);
        }
    }

    fn insert(&mut self, entry: Arc<Entry>, keys: &IndexKeys) {
        let id = entry.id.clone();
        KindState::index_hashes(&self.hashed, &id, &entry.hashes);
        if let Some(legacy) = &keys.legacy_id {
            self.legacy_ids.insert(LegacyKey::of(legacy), id.clone());
        }
        if let Some(name) = &keys.custom_name {
            self.custom_names
                .insert(Arc::from(name.to_lowercase().as_str()), id.clone());
        }
        self.by_seq.insert(entry.seq, id.clone());
        self.by_id.insert(IdKey::of(&id), entry);
    }

    fn remove(&mut self, id: &str) -> Option<Arc<Entry>> {
        let entry = self.by_id.remove(&IdKey::lookup(id))?;
        self.by_seq.remove(&entry.seq);
        Some(entry)
    }

    /// Removes the legacy id and custom name of `keys` (the hashed indexes keep their pairs:
    /// see [`KindState::drop_hashes`]).
    fn remove_keys(&mut self, id: &Arc<str>, keys: &IndexKeys) {
        if let Some(legacy) = &keys.legacy_id {
            let key = LegacyKey::of(legacy);
            if self.legacy_ids.get(&key) == Some(id) {
                self.legacy_ids.remove(&key);
            }
        }
        if let Some(name) = &keys.custom_name {
            let name = name.to_lowercase();
            if self.custom_names.get(name.as_str()) == Some(id) {
                self.custom_names.remove(name.as_str());
            }
        }
    }
}

fn prefix_lookup(set: &OrdSet<(Arc<str>, Arc<str>)>, key: &str) -> Vec<Arc<str>> {
    let start: (Arc<str>, Arc<str>) = (Arc::from(key), Arc::from(""));
    set.range((Bound::Included(start), Bound::Unbounded))
        .take_while(|(k, _)| &**k == key)
        .map(|(_, id)| id.clone())
        .collect()
}

/// The whole directory state of one tenant.
#[derive(Debug, Clone)]
pub struct TenantState {
    tenant: Arc<str>,
    users: KindState,
    groups: KindState,
    /// `(group id, member id)`.
    members: OrdSet<(Arc<str>, Arc<str>)>,
    /// `(member id, group id)`.
    member_of: OrdSet<(Arc<str>, Arc<str>)>,
    next_seq: i64,
    /// The number of the next user's legacy `userId`.
    next_user_number: u64,
}

impl TenantState {
    pub fn new(tenant: &str) -> TenantState {
        TenantState {
            tenant: Arc::from(tenant),
            users: KindState::default(),
            groups: KindState::default(),
            members: OrdSet::new(),
            member_of: OrdSet::new(),
            next_seq: 1,
            next_user_number: 1,
        }
    }

    /// Builds the state from the stored rows.
    pub fn from_rows(tenant: &str, rows: TenantRows) -> Result<TenantState, StoreError> {
        let mut state = TenantState::new(tenant);
        for (kind, table, list) in [
            (Kind::User, "users", rows.users),
            (Kind::Group, "groups", rows.groups),
        ] {
            for row in list {
                let body = match serde_json::from_str::<Value>(&row.body) {
                    Ok(Value::Object(map)) => map,
                    _ => {
                        return Err(StoreError::Corrupt {
                            table,
                            detail: format!("body of {} is not a JSON object", row.id),
                        });
                    }
                };
                let keys = IndexKeys::of(kind, &body);
                state.next_seq = state.next_seq.max(row.seq + 1);
                if kind == Kind::User
                    && let Some(n) = keys
                        .legacy_id
                        .as_deref()
                        .and_then(legacy_ids::parse_user_id)
                {
                    state.next_user_number = state.next_user_number.max(n.saturating_add(1));
                }
                let entry = Entry {
                    id: Arc::from(row.id),
                    seq: row.seq,
                    version: row.version,
                    created: row.created,
                    last_modified: row.last_modified,
                    body: Arc::from(row.body),
                    display: keys.display.as_deref().map(Arc::from),
                    unique_name: keys.unique_name.as_deref().map(Arc::from),
                    hashes: KeyHashes::of(&keys),
                };
                state.insert(kind, Arc::new(entry), &keys);
            }
        }
        for m in rows.memberships {
            let (Some(group), Some(member)) = (
                state.groups.get(&m.group_id).map(|e| e.id.clone()),
                state
                    .of(m.member_type)
                    .get(&m.member_id)
                    .map(|e| e.id.clone()),
            ) else {
                return Err(StoreError::Corrupt {
                    table: "memberships",
                    detail: format!(
                        "{} -> {} refers to a missing resource",
                        m.group_id, m.member_id
                    ),
                });
            };
            state.add_member(&group, &member);
        }
        Ok(state)
    }

    pub fn tenant(&self) -> &Arc<str> {
        &self.tenant
    }

    pub fn of(&self, kind: Kind) -> &KindState {
        match kind {
            Kind::User => &self.users,
            Kind::Group => &self.groups,
        }
    }

    fn of_mut(&mut self, kind: Kind) -> &mut KindState {
        match kind {
            Kind::User => &mut self.users,
            Kind::Group => &mut self.groups,
        }
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<&Arc<Entry>> {
        self.of(kind).get(id)
    }

    /// The kind of an existing user or group id.
    pub fn kind_of(&self, id: &str) -> Option<Kind> {
        if self.users.get(id).is_some() {
            Some(Kind::User)
        } else if self.groups.get(id).is_some() {
            Some(Kind::Group)
        } else {
            None
        }
    }

    /// Takes the next insertion sequence number.
    pub fn take_seq(&mut self) -> i64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// The legacy `userId` the next new user gets (`P` and the per-tenant sequence, skipping any
    /// value already held) and the sequence number after it, without taking it (see [`TenantState::set_next_user_number`]).
    pub fn next_user_id(&self) -> (String, u64) {
        let mut number = self.next_user_number;
        loop {
            let user_id = legacy_ids::format_user_id(number);
            number = number.saturating_add(1);
            if self.users.by_legacy_id(&user_id).is_none() {
                return (user_id, number);
            }
        }
    }

    /// Takes the legacy `userId`s up to `next` (from [`TenantState::next_user_id`]).
    pub fn set_next_user_number(&mut self, next: u64) {
        self.next_user_number = self.next_user_number.max(next);
    }

    /// Inserts a new entry (no entry with this id may exist).
    pub fn insert(&mut self, kind: Kind, entry: Arc<Entry>, keys: &IndexKeys) {
        self.of_mut(kind).insert(entry, keys);
    }

    /// Replaces an entry: `old_keys` are the keys of the entry being replaced.
    pub fn replace(
        &mut self,
        kind: Kind,
        entry: Arc<Entry>,
        old_keys: &IndexKeys,
        keys: &IndexKeys,
    ) {
        let ks = self.of_mut(kind);
        ks.remove_keys(&entry.id, old_keys);
        if let Some(old) = ks.remove(&entry.id) {
            ks.drop_hashes(&old.hashes, Some(&entry.hashes));
        }
        ks.insert(entry, keys);
    }

    /// Removes an entry, its index keys and every membership it takes part in.
    pub fn remove(&mut self, kind: Kind, id: &str, keys: &IndexKeys) -> Option<Arc<Entry>> {
        let entry = self.of_mut(kind).remove(id)?;
        self.of_mut(kind).remove_keys(&entry.id, keys);
        self.of_mut(kind).drop_hashes(&entry.hashes, None);
        for member in self.members_of(id) {
            self.remove_member(&entry.id, &member);
        }
        for group in self.groups_of(id) {
            self.remove_member(&group, &entry.id);
        }
        Some(entry)
    }

    pub fn add_member(&mut self, group: &Arc<str>, member: &Arc<str>) {
        self.members.insert((group.clone(), member.clone()));
        self.member_of.insert((member.clone(), group.clone()));
    }

    pub fn remove_member(&mut self, group: &Arc<str>, member: &Arc<str>) {
        self.members.remove(&(group.clone(), member.clone()));
        self.member_of.remove(&(member.clone(), group.clone()));
    }

    /// Direct members of a group, ordered by id.
    pub fn members_of(&self, group: &str) -> Vec<Arc<str>> {
        prefix_lookup(&self.members, group)
    }

    /// Groups a user or group is a direct member of, ordered by id.
    pub fn groups_of(&self, member: &str) -> Vec<Arc<str>> {
        prefix_lookup(&self.member_of, member)
    }

    pub fn is_member(&self, group: &Arc<str>, member: &Arc<str>) -> bool {
        self.members.contains(&(group.clone(), member.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(id: &str, seq: i64, body: Value) -> (Arc<Entry>, IndexKeys) {
        let kind = if body.get("userName").is_some() {
            Kind::User
        } else {
            Kind::Group
        };
        let keys = IndexKeys::of(kind, body.as_object().unwrap());
        let e = Entry {
            id: Arc::from(id),
            seq,
            version: 1,
            created: Timestamp::UNIX_EPOCH,
            last_modified: Timestamp::UNIX_EPOCH,
            body: Arc::from(body.to_string()),
            display: keys.display.as_deref().map(Arc::from),
            unique_name: keys.unique_name.as_deref().map(Arc::from),
            hashes: KeyHashes::of(&keys),
        };
        (Arc::new(e), keys)
    }

    #[test]
    fn index_keys_are_lowercased_and_display_falls_back_to_user_name() {
        let body = json!({"userName": "Alice", "externalId": "X1",
            "emails": [{"value": "A@Example.com"}, {"value": "b@example.com"}]});
        let keys = IndexKeys::of(Kind::User, body.as_object().unwrap());
        assert_eq!(keys.unique_name.as_deref(), Some("alice"));
        assert_eq!(keys.name.as_deref(), Some("Alice"));
        assert_eq!(keys.external_id.as_deref(), Some("x1"));
        assert_eq!(keys.emails, vec!["a@example.com", "b@example.com"]);
        assert_eq!(keys.display.as_deref(), Some("Alice"));
    }

    #[test]
    fn indexes_follow_insert_replace_and_remove() {
        let mut s = TenantState::new("t");
        let (u, k) = entry(
            "u1",
            1,
            json!({"userName": "Alice", "emails": [{"value": "a@x.org"}]}),
        );
        s.insert(Kind::User, u.clone(), &k);
        assert_eq!(
            s.of(Kind::User).by_unique_name("ALICE").map(|i| &**i),
            Some("u1")
        );
        assert_eq!(
            s.of(Kind::User).by_email("A@X.ORG"),
            vec![Arc::<str>::from("u1")]
        );
        let snapshot = s.clone();

        let (u2, k2) = entry("u1", 1, json!({"userName": "Bob", "externalId": "e"}));
        s.replace(Kind::User, u2, &k, &k2);
        assert!(s.of(Kind::User).by_unique_name("alice").is_none());
        assert!(s.of(Kind::User).by_email("a@x.org").is_empty());
        assert_eq!(s.of(Kind::User).by_external_id("E").len(), 1);
        // The snapshot taken before is unaffected.
        assert!(snapshot.of(Kind::User).by_unique_name("alice").is_some());

        let (g, gk) = entry("g1", 2, json!({"displayName": "Admins"}));
        s.insert(Kind::Group, g.clone(), &gk);
        s.add_member(&g.id, &u.id);
        assert_eq!(s.groups_of("u1"), vec![Arc::<str>::from("g1")]);
        assert_eq!(s.members_of("g1"), vec![Arc::<str>::from("u1")]);
        s.remove(Kind::User, "u1", &k2);
        assert!(s.members_of("g1").is_empty());
        assert!(s.get(Kind::User, "u1").is_none());
        assert_eq!(s.of(Kind::User).len(), 0);
        assert_eq!(s.kind_of("g1"), Some(Kind::Group));
    }

    #[test]
    fn unique_name_candidates_are_checked_against_their_entry() {
        let mut s = TenantState::new("t");
        let (u, k) = entry("u1", 1, json!({"userName": "Alice"}));
        s.insert(Kind::User, u.clone(), &k);
        // A hash shared with another name (a collision) points at an entry whose name differs:
        // the lookup must not answer with it.
        s.users
            .hashed
            .unique_names
            .insert(text_hash("mallory"), IdKey::of(&u.id));
        assert!(s.of(Kind::User).by_unique_name("Mallory").is_none());
        assert_eq!(
            s.of(Kind::User).by_unique_name("alice").map(|i| &**i),
            Some("u1")
        );
        // A candidate whose entry is gone answers nothing either.
        s.users
            .hashed
            .unique_names
            .insert(text_hash("bob"), IdKey::lookup("gone"));
        assert!(s.of(Kind::User).by_unique_name("bob").is_none());
    }

    #[test]
    fn a_copy_thrown_away_leaves_nothing_the_original_can_find() {
        let mut s = TenantState::new("t");
        let (u, k) = entry("u1", 1, json!({"userName": "Alice"}));
        s.insert(Kind::User, u, &k);
        let mut copy = s.clone();
        let (v, vk) = entry(
            "u2",
            2,
            json!({"userName": "Vera", "externalId": "V", "emails": [{"value": "v@x.org"}]}),
        );
        copy.insert(Kind::User, v, &vk);
        assert!(copy.of(Kind::User).by_unique_name("vera").is_some());
        drop(copy);
        // The shared index holds Vera's pairs now; the original has no such entry.
        assert!(s.of(Kind::User).by_unique_name("vera").is_none());
        assert!(s.of(Kind::User).by_external_id("v").is_empty());
        assert!(s.of(Kind::User).by_email("v@x.org").is_empty());
    }

    #[test]
    fn stale_pairs_are_built_away_while_older_snapshots_keep_theirs() {
        let mut s = TenantState::new("t");
        let n = 3000;
        let mut keys = Vec::new();
        for i in 0..n {
            let (e, k) = entry(
                &format!("u{i}"),
                i + 1,
                json!({"userName": format!("old{i}"), "emails": [{"value": format!("old{i}@x.org")}]}),
            );
            s.insert(Kind::User, e, &k);
            keys.push(k);
        }
        assert_eq!(s.users.hashed.counts(), (2 * n as usize, 0));
        let before = s.clone();
        for (i, old_keys) in keys.iter().enumerate() {
            let (e, k) = entry(
                &format!("u{i}"),
                i as i64 + 1,
                json!({"userName": format!("new{i}"), "emails": [{"value": format!("new{i}@x.org")}]}),
            );
            s.replace(Kind::User, e, old_keys, &k);
        }
        // Every rename made two pairs stale; once they outnumbered the live ones the state
        // built its own index: it holds far fewer than the 4n pairs added in all.
        let (held, stale) = s.users.hashed.counts();
        assert!(held < 3 * n as usize, "held {held} stale {stale}");
        assert!(!Arc::ptr_eq(&s.users.hashed, &before.users.hashed));
        for i in [0, 1, n / 2, n - 1] {
            let id = format!("u{i}");
            let users = s.of(Kind::User);
            assert_eq!(
                users.by_unique_name(&format!("NEW{i}")).map(|i| &**i),
                Some(id.as_str())
            );
            assert!(users.by_unique_name(&format!("old{i}")).is_none());
            assert_eq!(
                users.by_email(&format!("new{i}@x.org")),
                vec![Arc::<str>::from(id.as_str())]
            );
            assert!(users.by_email(&format!("old{i}@x.org")).is_empty());
            // The snapshot from before the renames still answers with its own names.
            let old = before.of(Kind::User);
            assert_eq!(
                old.by_unique_name(&format!("old{i}")).map(|i| &**i),
                Some(id.as_str())
            );
            assert!(old.by_unique_name(&format!("new{i}")).is_none());
            assert_eq!(old.by_email(&format!("old{i}@x.org")).len(), 1);
        }
        // Deleting every user leaves nothing to find, in an index rebuilt again.
        for i in 0..n {
            let id = format!("u{i}");
            let current = s.get(Kind::User, &id).unwrap().clone();
            let k = IndexKeys::of(Kind::User, &current.body_json());
            // What the entry keeps is what its body gives.
            assert_eq!(KeyHashes::of(&k), current.hashes);
            s.remove(Kind::User, &id, &k);
        }
        assert!(s.of(Kind::User).is_empty());
        assert!(s.users.hashed.counts().0 < 2 * n as usize);
        assert!(s.of(Kind::User).by_unique_name("new0").is_none());
    }

    #[test]
    fn ordered_listing_follows_seq_and_starts_after_cursor() {
        let mut s = TenantState::new("t");
        for (i, name) in ["c", "a", "b"].iter().enumerate() {
            let (e, k) = entry(name, i as i64 + 1, json!({"userName": name}));
            s.insert(Kind::User, e, &k);
        }
        let ids: Vec<_> = s
            .of(Kind::User)
            .ordered(None)
            .map(|(_, id)| id.to_string())
            .collect();
        assert_eq!(ids, vec!["c", "a", "b"]);
        let ids: Vec<_> = s
            .of(Kind::User)
            .ordered(Some(1))
            .map(|(_, id)| id.to_string())
            .collect();
        assert_eq!(ids, vec!["a", "b"]);
    }
}
