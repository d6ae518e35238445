//! The legacy SAP Identity Authentication SCIM API v1 (`/service/scim`) as a pure view onto the
//! SCIM 2.0 directory: the v1 ↔ v2 attribute moves of spec/domain.md §2.4, the v1 payload rules
//! of §2.3 and §1.8, and the v1 search filter subset. No I/O: id lookups the mapping needs
//! (legacy user id `P…` ↔ UUID, legacy 24-character group id ↔ UUID) come through
//! [`IdResolver`].
//!
//! Schemas: v1 at SAP already used SCIM 2.0 URNs, so a v1 user carries
//! `urn:ietf:params:scim:schemas:core:2.0:User` plus the enterprise extension and the custom
//! extension `urn:sap:cloud:scim:schemas:extension:custom:2.0:User`; a v1 group carries
//! `urn:ietf:params:scim:schemas:core:2.0:Group` plus
//! `urn:sap:cloud:scim:schemas:extension:custom:2.0:Group`. The SAP v2 extension
//! (`…:extension:sap:2.0:User`) never appears in v1: its attributes are top-level v1
//! attributes there (`passwordStatus`, `mailVerified`, `sourceSystem`, …).
//!
//! Invariants:
//! - The v1 `id` of a user is the v2 `sap:2.0:User.userId`; `userUuid` is the v2 `id`.
//! - The v1 `id` of a group is the v2 custom `additionalId`; v1 custom `groupId` is the v2 `id`.
//! - v1 booleans `sendMail`, `mailVerified`, `telephoneVerified` are the strings
//!   `"true"`/`"false"` on output; input accepts those strings or JSON booleans.
//! - v1 `groups` on a user is read-only; v1 attributes without a v2 equivalent (`title`,
//!   `scenarios`, `newsletters`, `socialIdentities`, `telephoneVerificationAttempts`,
//!   `otpFailedLoginAttempts`, `companyRelationship`, `termsOfUse`, `privacyPolicy`) are
//!   validated where the spec gives a rule and otherwise not stored.
//!
//! Files: [`error`] (v1 errors and `X-message-code`), [`user`] (user mapping, validation and
//! the PUT merge), [`group`] (group mapping), [`filter`] (the search filter subset).

pub mod error;
pub mod filter;
pub mod group;
pub mod user;

use serde_json::{Map, Value};

pub use error::{V1Error, code};
pub use filter::{V1Condition, parse_v1_filter, v1_filter_to_v2};
pub use group::{GroupWrite, group_v1_to_v2, group_v2_to_v1};
pub use user::{UserWrite, merge_user, sync_verification, user_v1_to_v2, user_v2_to_v1};

/// The `schemas` of a v1 user (the enterprise and custom URNs only when those parts are set).
pub const USER_SCHEMAS: [&str; 3] = [
    super::urn::USER,
    super::urn::ENTERPRISE_USER,
    super::urn::SAP_CUSTOM_USER,
];

/// The `schemas` of a v1 group.
pub const GROUP_SCHEMAS: [&str; 2] = [super::urn::GROUP, super::urn::SAP_CUSTOM_GROUP];

/// The literal `nextId` of the last page of an id-paged search.
pub const END_MARKER: &str = "<end>";

/// The two resource kinds of the v1 API (the directory's kinds, kept here so that this pure
/// module does not depend on the directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    /// The SCIM 2.0 resource type the v1 kind is stored as.
    pub fn resource_type(self) -> &'static super::schema::ResourceType {
        let registry = super::schema::SchemaRegistry::get();
        match self {
            ResourceKind::User => &registry.user,
            ResourceKind::Group => &registry.group,
        }
    }
}

/// Id lookups between the v1 and v2 views of one tenant's directory.
pub trait IdResolver {
    /// The v2 UUID of a user named by its v1 id (`P…`) or by its UUID.
    fn user_uuid(&self, id: &str) -> Option<String>;
    /// The v1 id (`sap:2.0:User.userId`) of the user with this UUID.
    fn user_v1_id(&self, uuid: &str) -> Option<String>;
    /// The v2 UUID of a group named by its legacy 24-character id or by its UUID.
    fn group_uuid(&self, id: &str) -> Option<String>;
    /// The legacy id (custom `additionalId`) of the group with this UUID.
    fn group_v1_id(&self, uuid: &str) -> Option<String>;
    /// What a membership shows as `display` for the user or group with this UUID.
    fn display(&self, uuid: &str) -> Option<String> {
        let _ = uuid;
        None
    }
}

/// The member of a JSON object by case-insensitive key (exact match preferred).
pub(crate) fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A present, non-null member by case-insensitive key.
pub(crate) fn given<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    field(object, key).filter(|v| !v.is_null())
}

/// The object under `key` (case-insensitive), if it is one.
pub(crate) fn object_at<'a>(
    object: &'a Map<String, Value>,
    key: &str,
) -> Option<&'a Map<String, Value>> {
    field(object, key).and_then(Value::as_object)
}

/// Sets `path` (object keys) in `target`, creating intermediate objects.
pub(crate) fn set_path(target: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = target;
    for key in parents {
        let slot = current
            .entry((*key).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        current = next;
    }
    current.insert((*last).to_string(), value);
}

/// The value at `path` (keys matched case-insensitively).
pub(crate) fn get_path<'a>(object: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut current = object;
    for key in parents {
        current = object_at(current, key)?;
    }
    given(current, last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_set_and_read_case_insensitively() {
        let mut m = Map::new();
        set_path(&mut m, &["a", "b"], json!(1));
        set_path(&mut m, &["a", "c"], json!(2));
        set_path(&mut m, &["d"], json!(3));
        assert_eq!(
            Value::Object(m.clone()),
            json!({"a": {"b": 1, "c": 2}, "d": 3})
        );
        assert_eq!(get_path(&m, &["A", "B"]), Some(&json!(1)));
        assert_eq!(get_path(&m, &["a", "x"]), None);
        let m = json!({"k": null}).as_object().cloned().unwrap();
        assert!(field(&m, "K").is_some());
        assert!(given(&m, "k").is_none());
    }
}
