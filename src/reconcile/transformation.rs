//! The one seam between reconcile and the transformation engine: parsing a system's
//! transformation text and picking the default transformation of a system type and API version.
//!
//! Invariant: every transformation in the runtime configuration was parsed here; a parse error
//! is returned as the engine reports it (naming the mapping), for the resource's Stalled message.
//! The default transformations are parsed once per process and shared (one `Arc` per role, type
//! and version): every pass used to parse SAP's large default read transformation once per
//! system.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use crate::runtime::SystemType;

/// Which side of the pipeline a transformation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// A source system's read transformation.
    Source,
    /// A target system's write transformation.
    Target,
}

/// A parsed transformation (the engine's type).
pub use crate::provisioning::transform::Transformation;

/// Parses the transformation text of a resource.
pub fn parse(json: &str) -> Result<Transformation, String> {
    Transformation::parse(json).map_err(|e| e.to_string())
}

/// The default transformation text of a system of `system_type` and `api_version` in `role`
/// (SAP's documented defaults).
pub fn default_text(role: Role, system_type: SystemType, api_version: u8) -> &'static str {
    use crate::provisioning::transform::defaults;
    match role {
        Role::Source => defaults::source(system_type, api_version),
        Role::Target => defaults::target(system_type, api_version),
    }
}

/// The parsed default transformation (see [`default_text`]), parsed once and shared.
pub fn default_for(
    role: Role,
    system_type: SystemType,
    api_version: u8,
) -> Result<Arc<Transformation>, String> {
    type Parsed = BTreeMap<(Role, SystemType, u8), Arc<Transformation>>;
    static PARSED: LazyLock<Mutex<Parsed>> = LazyLock::new(|| Mutex::new(BTreeMap::new()));
    let key = (role, system_type, api_version);
    if let Some(t) = PARSED.lock().get(&key) {
        return Ok(Arc::clone(t));
    }
    let parsed = Arc::new(parse(default_text(role, system_type, api_version))?);
    Ok(Arc::clone(PARSED.lock().entry(key).or_insert(parsed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_transformations_are_parsed_once() {
        let a = default_for(Role::Source, SystemType::IdentityAuthentication, 2).unwrap();
        let b = default_for(Role::Source, SystemType::IdentityAuthentication, 2).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let other = default_for(Role::Source, SystemType::IdentityAuthentication, 1).unwrap();
        assert!(!Arc::ptr_eq(&a, &other));
    }

    #[test]
    fn defaults_parse_for_every_type_and_version() {
        for role in [Role::Source, Role::Target] {
            for t in [SystemType::IdentityAuthentication, SystemType::Scim] {
                for v in [1, 2] {
                    assert!(default_for(role, t, v).is_ok(), "{role:?} {t:?} v{v}");
                }
            }
        }
    }

    #[test]
    fn errors_name_the_part() {
        assert!(parse("{").unwrap_err().contains("not valid JSON"));
        let e = parse(r#"{"user": {"mappings": [{"sourcePath": "$.a", "targetPath": "$.b"}, {"sourcePath": "$.a", "targetPath": "$.b", "functions": [{"type": "nope"}]}]}}"#)
            .unwrap_err();
        assert!(e.starts_with("user.mappings[1]"), "{e}");
    }
}
