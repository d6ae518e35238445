//! System properties (spec/domain.md §4.3–§4.4): the documented defaults filled in for the
//! properties that apply to a system's role, type and API version, and checks of the values
//! idrelay itself interprets.
//!
//! Invariants: a property set in the spec always wins over a default; unknown property names are
//! kept as they are (SAP allows custom properties for `%name%` interpolation); `ias.api.version`
//! is `1` or `2` (default `2`); SCIM systems are API version 2.

use std::collections::BTreeMap;

use super::transformation::Role;
use crate::runtime::SystemType;

/// `ias.api.version`.
pub const IAS_API_VERSION: &str = "ias.api.version";

/// Defaults common to sources of every type.
const SOURCE_COMMON: &[(&str, &str)] = &[
    ("ips.delta.read", "disabled"),
    ("ips.date.variable.format", "yyyy-MM-dd HH:mm:ss.SSS"),
    ("ips.trace.entity.content.unlimited", "false"),
];

/// Defaults of an Identity Authentication source with API v2.
const SOURCE_IAS_V2: &[(&str, &str)] = &[
    ("ias.user.groups.paging.enabled", "false"),
    ("ias.group.members.paging.enabled", "false"),
];

/// Defaults common to targets of every type.
const TARGET_COMMON: &[(&str, &str)] = &[
    ("ips.failed.request.retry.attempts", "2"),
    ("ips.failed.request.retry.attempts.interval", "30"),
    ("ips.delete.existedbefore.entities", "false"),
    ("ips.date.variable.format", "yyyy-MM-dd HH:mm:ss.SSS"),
    ("ips.trace.entity.content.unlimited", "false"),
    ("ips.max.concurrency", "8"),
];

/// Defaults of an Identity Authentication target with API v2.
const TARGET_IAS_V2: &[(&str, &str)] = &[
    ("ias.support.patch.operation", "false"),
    ("ias.include.if.match.wildcard.header", "false"),
    ("ias.user.unique.attribute", "userName"),
    (
        "ias.group.unique.attribute",
        "['urn:sap:cloud:scim:schemas:extension:custom:2.0:Group']['name']",
    ),
    ("ias.content.type", "application/scim+json"),
    ("ias.user.automatic.conflict.resolution", "true"),
    ("ias.patch.group.members.above.threshold", "20000"),
    ("ias.user.update.instead.delete", "false"),
    ("ias.support.bulk.operation", "false"),
    ("ias.bulk.operations.max.count", "20"),
];

/// Defaults of a `scim.*` target: SCIM systems and Identity Authentication with API v1.
const TARGET_SCIM: &[(&str, &str)] = &[
    ("scim.support.patch.operation", "false"),
    ("scim.include.if.match.wildcard.header", "false"),
    ("scim.user.unique.attribute", "userName"),
    ("scim.group.unique.attribute", "displayName"),
    ("scim.content.type", "application/scim+json"),
];

/// Properties whose value must be `true` or `false`.
const BOOLEANS: &[&str] = &[
    "ias.user.groups.paging.enabled",
    "ias.group.members.paging.enabled",
    "ias.support.patch.operation",
    "ias.include.if.match.wildcard.header",
    "ias.user.automatic.conflict.resolution",
    "ias.user.update.instead.delete",
    "ias.support.bulk.operation",
    "scim.support.patch.operation",
    "scim.include.if.match.wildcard.header",
    "ips.delete.existedbefore.entities",
];

/// Properties whose value must be a whole number in the given range.
const NUMBERS: &[(&str, u64, u64)] = &[
    ("ias.patch.group.members.above.threshold", 1, 20000),
    ("ias.bulk.operations.max.count", 1, u64::MAX),
    ("ips.failed.request.retry.attempts", 0, 3),
    ("ips.failed.request.retry.attempts.interval", 0, 60),
    ("ips.max.concurrency", 1, 1024),
    ("ips.full.read.force.count", 0, u64::MAX),
    ("ips.delete.threshold.users", 1, u64::MAX),
    ("ips.delete.threshold.groups", 1, u64::MAX),
];

/// The properties with defaults filled, and the API version; the error names the property.
pub fn with_defaults(
    role: Role,
    system_type: SystemType,
    spec: &BTreeMap<String, String>,
) -> Result<(BTreeMap<String, String>, u8), String> {
    let api_version = match system_type {
        SystemType::Scim => 2,
        SystemType::IdentityAuthentication => match spec.get(IAS_API_VERSION).map(|v| v.trim()) {
            None | Some("2") => 2,
            Some("1") => 1,
            Some(other) => {
                return Err(format!(
                    "spec.properties[{IAS_API_VERSION}]: {other:?} is not an API version (1 or 2)"
                ));
            }
        },
    };
    for name in BOOLEANS {
        if let Some(v) = spec.get(*name)
            && !matches!(v.trim(), "true" | "false")
        {
            return Err(format!(
                "spec.properties[{name}]: {v:?} is not a boolean (true or false)"
            ));
        }
    }
    for (name, min, max) in NUMBERS {
        if let Some(v) = spec.get(*name) {
            let n: u64 = v
                .trim()
                .parse()
                .map_err(|_| format!("spec.properties[{name}]: {v:?} is not a whole number"))?;
            if n < *min || n > *max {
                let range = if *max == u64::MAX {
                    format!("at least {min}")
                } else {
                    format!("between {min} and {max}")
                };
                return Err(format!("spec.properties[{name}]: {n} must be {range}"));
            }
        }
    }
    let mut out = BTreeMap::new();
    let mut fill = |defaults: &[(&str, &str)]| {
        for (k, v) in defaults {
            out.insert((*k).to_owned(), (*v).to_owned());
        }
    };
    match (role, system_type, api_version) {
        (Role::Source, SystemType::IdentityAuthentication, 2) => {
            fill(SOURCE_COMMON);
            fill(SOURCE_IAS_V2);
        }
        (Role::Source, _, _) => fill(SOURCE_COMMON),
        (Role::Target, SystemType::IdentityAuthentication, 2) => {
            fill(TARGET_COMMON);
            fill(TARGET_IAS_V2);
        }
        (Role::Target, _, _) => {
            fill(TARGET_COMMON);
            fill(TARGET_SCIM);
        }
    }
    if system_type == SystemType::IdentityAuthentication {
        out.insert(IAS_API_VERSION.to_owned(), api_version.to_string());
    }
    for (k, v) in spec {
        out.insert(k.clone(), v.clone());
    }
    Ok((out, api_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ias_source_defaults_to_v2() {
        let (p, v) = with_defaults(
            Role::Source,
            SystemType::IdentityAuthentication,
            &props(&[]),
        )
        .unwrap();
        assert_eq!(v, 2);
        assert_eq!(p[IAS_API_VERSION], "2");
        assert_eq!(p["ias.user.groups.paging.enabled"], "false");
        assert!(!p.contains_key("ias.user.unique.attribute"));
    }

    #[test]
    fn spec_wins_and_v1_uses_scim_names() {
        let (p, v) = with_defaults(
            Role::Target,
            SystemType::IdentityAuthentication,
            &props(&[("ias.api.version", "1"), ("custom.x", "y")]),
        )
        .unwrap();
        assert_eq!(v, 1);
        assert_eq!(p["scim.group.unique.attribute"], "displayName");
        assert!(!p.contains_key("ias.support.patch.operation"));
        assert_eq!(p["custom.x"], "y");
        let (p, v) = with_defaults(
            Role::Target,
            SystemType::Scim,
            &props(&[("scim.support.patch.operation", "true")]),
        )
        .unwrap();
        assert_eq!(v, 2);
        assert_eq!(p["scim.support.patch.operation"], "true");
        assert_eq!(p["ips.max.concurrency"], "8");
        assert!(!p.contains_key(IAS_API_VERSION));
    }

    #[test]
    fn bad_values_name_the_property() {
        let e = with_defaults(
            Role::Source,
            SystemType::IdentityAuthentication,
            &props(&[("ias.api.version", "3")]),
        )
        .unwrap_err();
        assert!(e.starts_with("spec.properties[ias.api.version]"), "{e}");
        let e = with_defaults(
            Role::Target,
            SystemType::Scim,
            &props(&[("ias.support.patch.operation", "yes")]),
        )
        .unwrap_err();
        assert!(e.contains("not a boolean"), "{e}");
        let e = with_defaults(
            Role::Target,
            SystemType::Scim,
            &props(&[("ias.patch.group.members.above.threshold", "20001")]),
        )
        .unwrap_err();
        assert!(e.contains("between 1 and 20000"), "{e}");
    }
}
