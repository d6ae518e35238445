//! References from one resource to another: [`SecretKeyRef`] (a key of a `v1/Secret`) and
//! [`TenantRef`] (a `Tenant`). References are always to objects in the referrer's own namespace
//! (no cross-namespace references without a double opt-in; api-conventions).
//!
//! Invariant: the schema patterns and CEL rules here are the same ones [`is_dns1123_subdomain`],
//! [`is_dns1123_label`] and [`is_secret_key`] check, so the files driver and the API server
//! accept the same values.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// DNS-1123 subdomain, as the schema pattern (Kubernetes object names).
pub const DNS1123_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A key in a Secret's `data`, as the schema pattern.
pub const SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";

/// CEL rule: the value is a DNS-1123 subdomain ([`DNS1123_SUBDOMAIN_PATTERN`], at most 253
/// characters). `[.]` instead of `\.` keeps the rule free of escapes.
pub const DNS1123_SUBDOMAIN_RULE: &str = "size(self) <= 253 && \
     self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')";
/// CEL rule: the value is a DNS-1123 label ([`DNS1123_LABEL_PATTERN`], at most 63 characters).
pub const DNS1123_LABEL_RULE: &str =
    "size(self) <= 63 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')";
/// CEL rule: the value is a Secret data key ([`SECRET_KEY_PATTERN`]).
pub const SECRET_KEY_RULE: &str = "self.matches('^[-._a-zA-Z0-9]+$')";
/// Message of [`DNS1123_SUBDOMAIN_RULE`] on a Secret name.
pub const SECRET_NAME_MESSAGE: &str = "must be a Secret name: a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', alphanumeric at both ends, at most 253 characters)";
/// Message of [`SECRET_KEY_RULE`].
pub const SECRET_KEY_MESSAGE: &str =
    "must be a Secret key: one or more of letters, digits, '-', '_' and '.'";
/// Message of [`DNS1123_LABEL_RULE`] on a Tenant name.
pub const TENANT_NAME_MESSAGE: &str = "must be a Tenant name: a DNS-1123 label (lower-case letters, digits and '-', alphanumeric at both ends, at most 63 characters)";

/// A reference to one key of a `v1/Secret` in the same namespace.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, KubeSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the namespace of the referring resource.
    #[schemars(length(min = 1, max = 253), pattern(DNS1123_SUBDOMAIN_PATTERN))]
    #[x_kube(validation = Rule::new(DNS1123_SUBDOMAIN_RULE).message(SECRET_NAME_MESSAGE))]
    pub name: String,
    /// Key inside the Secret's `data` (or `stringData`) that holds the value.
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_PATTERN))]
    #[x_kube(validation = Rule::new(SECRET_KEY_RULE).message(SECRET_KEY_MESSAGE))]
    pub key: String,
}

/// A reference to a `Tenant` in the same namespace.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, KubeSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct TenantRef {
    /// Name of the Tenant (`metadata.name`), in the namespace of the referring resource.
    #[schemars(length(min = 1, max = 63), pattern(DNS1123_LABEL_PATTERN))]
    #[x_kube(validation = Rule::new(DNS1123_LABEL_RULE).message(TENANT_NAME_MESSAGE))]
    pub name: String,
}

/// DNS-1123 label, as the schema pattern (tenant names: they are URL path segments).
pub const DNS1123_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// Whether `s` is a DNS-1123 label (at most 63 characters of `[a-z0-9-]`, alphanumeric at both ends).
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `s` is a DNS-1123 subdomain (dot-separated labels, at most 253 characters).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Whether `s` is a valid Secret data key (`^[-._a-zA-Z0-9]+$`, at most 253 characters).
pub fn is_secret_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns1123_label("acme"));
        assert!(is_dns1123_label("a-1"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label("A"));
        assert!(!is_dns1123_label(""));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain("acme.example.com"));
        assert!(!is_dns1123_subdomain("acme..com"));
        assert!(!is_dns1123_subdomain("acme_x"));
    }

    #[test]
    fn secret_keys() {
        assert!(is_secret_key("client-secret_1.txt"));
        assert!(!is_secret_key("a/b"));
        assert!(!is_secret_key(""));
    }

    #[test]
    fn schema_has_patterns() {
        let schema = serde_json::to_value(schemars::schema_for!(SecretKeyRef)).unwrap();
        assert_eq!(schema["properties"]["key"]["pattern"], SECRET_KEY_PATTERN);
        assert_eq!(schema["properties"]["name"]["maxLength"], 253);
    }
}
