//! Resolution of admin secrets from `v1/Secret` keys, and their expiry.
//!
//! Invariants: a resolution failure names the Secret and key but never a value; `stringData`
//! wins over `data` for the same key (as the API server merges them); the start of a secret's
//! validity is the Secret's `creationTimestamp`, else the `validFrom` already recorded in status
//! for the same reference, else `now` — so it is stable from one pass to the next.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use super::ObjectKey;
use crate::api::conditions::reason;
use crate::api::{SecretExpiry, SecretKeyRef};

/// Secrets by namespace and name.
#[derive(Debug, Default)]
pub struct SecretIndex<'a> {
    by_key: BTreeMap<ObjectKey, &'a Secret>,
}

/// Why a Secret key could not be used. The message never contains a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// CamelCase reason for the `SecretResolved` condition.
    pub reason: &'static str,
    pub message: String,
}

/// A resolved secret value with the start of its validity.
#[derive(Clone, PartialEq)]
pub struct Resolved {
    pub value: String,
    /// `metadata.creationTimestamp` of the Secret, when it has one.
    pub created: Option<jiff::Timestamp>,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("value", &"<redacted>")
            .field("created", &self.created)
            .finish()
    }
}

/// Reason used when a Secret key holds an unusable value (empty or not UTF-8).
pub const SECRET_INVALID: &str = "SecretInvalid";

impl<'a> SecretIndex<'a> {
    pub fn new(secrets: &'a [Secret]) -> Self {
        SecretIndex {
            by_key: secrets
                .iter()
                .map(|s| (ObjectKey::of(&s.metadata), s))
                .collect(),
        }
    }

    /// The value of `reference` in `namespace`.
    pub fn resolve(
        &self,
        namespace: &str,
        reference: &SecretKeyRef,
    ) -> Result<Resolved, Unresolved> {
        let key = ObjectKey::new(namespace, reference.name.clone());
        let Some(secret) = self.by_key.get(&key) else {
            return Err(Unresolved {
                reason: reason::SECRET_NOT_FOUND,
                message: format!("Secret {key} not found"),
            });
        };
        let from_string = secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(&reference.key))
            .map(|s| s.as_bytes());
        let from_data = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&reference.key))
            .map(|b| b.0.as_slice());
        let Some(bytes) = from_string.or(from_data) else {
            return Err(Unresolved {
                reason: reason::SECRET_KEY_NOT_FOUND,
                message: format!("Secret {key} has no key {:?}", reference.key),
            });
        };
        let value = std::str::from_utf8(bytes).map_err(|_| Unresolved {
            reason: SECRET_INVALID,
            message: format!("key {:?} of Secret {key} is not valid UTF-8", reference.key),
        })?;
        if value.is_empty() {
            return Err(Unresolved {
                reason: SECRET_INVALID,
                message: format!("key {:?} of Secret {key} is empty", reference.key),
            });
        }
        Ok(Resolved {
            value: value.to_owned(),
            created: secret.metadata.creation_timestamp.as_ref().map(|t| t.0),
        })
    }
}

/// When a secret valid from `valid_from` stops being accepted; `None` = never.
pub fn expires_at(valid_from: jiff::Timestamp, expiry: SecretExpiry) -> Option<jiff::Timestamp> {
    let years = expiry.years()?;
    let start = valid_from.to_zoned(jiff::tz::TimeZone::UTC);
    // Out of jiff's range (year 9999) means "never" in practice.
    start
        .checked_add(jiff::Span::new().years(years))
        .ok()
        .map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::test_support::*;

    fn r(name: &str, key: &str) -> SecretKeyRef {
        SecretKeyRef {
            name: name.into(),
            key: key.into(),
        }
    }

    #[test]
    fn resolves_data_and_string_data() {
        let mut s = secret("default", "s", "k", "from-data");
        let secrets = [s.clone()];
        let idx = SecretIndex::new(&secrets);
        assert_eq!(
            idx.resolve("default", &r("s", "k")).unwrap().value,
            "from-data"
        );
        s.string_data = Some(BTreeMap::from([("k".to_owned(), "from-string".to_owned())]));
        let secrets = [s];
        let idx = SecretIndex::new(&secrets);
        assert_eq!(
            idx.resolve("default", &r("s", "k")).unwrap().value,
            "from-string"
        );
    }

    #[test]
    fn failures_name_the_cause_not_the_value() {
        let secrets = [
            secret("default", "s", "k", "hunter2"),
            secret("default", "e", "k", ""),
        ];
        let idx = SecretIndex::new(&secrets);
        let e = idx.resolve("other", &r("s", "k")).unwrap_err();
        assert_eq!(e.reason, reason::SECRET_NOT_FOUND);
        assert_eq!(e.message, "Secret other/s not found");
        let e = idx.resolve("default", &r("s", "x")).unwrap_err();
        assert_eq!(e.reason, reason::SECRET_KEY_NOT_FOUND);
        assert!(!e.message.contains("hunter2"));
        assert_eq!(
            idx.resolve("default", &r("e", "k")).unwrap_err().reason,
            SECRET_INVALID
        );
    }

    #[test]
    fn expiry_is_calendar_years() {
        let start: jiff::Timestamp = "2024-02-29T10:00:00Z".parse().unwrap();
        assert_eq!(expires_at(start, SecretExpiry::Never), None);
        assert_eq!(
            expires_at(start, SecretExpiry::OneYear)
                .unwrap()
                .to_string(),
            "2025-02-28T10:00:00Z"
        );
        assert_eq!(
            expires_at(start, SecretExpiry::TwoYears)
                .unwrap()
                .to_string(),
            "2026-02-28T10:00:00Z"
        );
    }
}
