//! Parsing of YAML text into resource documents (pure: text in, documents out).
//!
//! Invariants:
//! - one bad document never hides the others: a document whose kind and name can be read but
//!   whose body does not deserialize becomes [`Document::Invalid`] with a message naming the
//!   field (`spec.permissions[1]: unknown variant ...`);
//! - a YAML syntax error fails the whole file ([`FileError`]), so the caller can keep that file's
//!   last good documents instead of dropping its resources;
//! - nothing about a Secret's values reaches a message: Secret errors name only the field.

use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::api::{API_VERSION, RealTimeTarget, SourceSystem, TargetSystem, TechnicalAdmin, Tenant};
use crate::reconcile::{DEFAULT_NAMESPACE, ObjectKey};

/// `kind` of a Tenant.
pub const KIND_TENANT: &str = "Tenant";
/// `kind` of a TechnicalAdmin.
pub const KIND_TECHNICAL_ADMIN: &str = "TechnicalAdmin";
/// `kind` of a SourceSystem.
pub const KIND_SOURCE_SYSTEM: &str = "SourceSystem";
/// `kind` of a TargetSystem.
pub const KIND_TARGET_SYSTEM: &str = "TargetSystem";
/// `kind` of a RealTimeTarget.
pub const KIND_REAL_TIME_TARGET: &str = "RealTimeTarget";

/// One YAML document that idrelay understands.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    Tenant(Tenant),
    TechnicalAdmin(TechnicalAdmin),
    SourceSystem(SourceSystem),
    TargetSystem(TargetSystem),
    RealTimeTarget(RealTimeTarget),
    Secret(Secret),
    /// An idrelay resource whose body does not deserialize.
    Invalid(InvalidDocument),
}

/// A known kind with a readable name but an invalid body.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidDocument {
    /// [`KIND_TENANT`], [`KIND_TECHNICAL_ADMIN`], [`KIND_SOURCE_SYSTEM`] or
    /// [`KIND_TARGET_SYSTEM`].
    pub kind: &'static str,
    pub key: ObjectKey,
    /// The raw `spec` (for generation tracking); `null` when absent.
    pub spec: serde_json::Value,
    /// What is wrong, starting with the field path.
    pub message: String,
}

impl Document {
    /// `(kind, namespace/name)` of the document.
    pub fn identity(&self) -> (&'static str, ObjectKey) {
        match self {
            Document::Tenant(t) => (KIND_TENANT, ObjectKey::of(&t.metadata)),
            Document::TechnicalAdmin(a) => (KIND_TECHNICAL_ADMIN, ObjectKey::of(&a.metadata)),
            Document::SourceSystem(s) => (KIND_SOURCE_SYSTEM, ObjectKey::of(&s.metadata)),
            Document::TargetSystem(t) => (KIND_TARGET_SYSTEM, ObjectKey::of(&t.metadata)),
            Document::RealTimeTarget(t) => (KIND_REAL_TIME_TARGET, ObjectKey::of(&t.metadata)),
            Document::Secret(s) => ("Secret", ObjectKey::of(&s.metadata)),
            Document::Invalid(i) => (i.kind, i.key.clone()),
        }
    }
}

/// A file that could not be read as YAML at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct FileError {
    pub origin: String,
    pub message: String,
}

/// Documents of one file plus the problems worth logging (unknown kinds, unnamed documents).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFile {
    pub documents: Vec<Document>,
    pub problems: Vec<String>,
}

/// Parses every document of a YAML stream. `origin` (a file name) prefixes problems.
pub fn parse_documents(text: &str, origin: &str) -> Result<ParsedFile, FileError> {
    let mut values = Vec::new();
    for de in serde_norway::Deserializer::from_str(text) {
        let value = serde_json::Value::deserialize(de).map_err(|e| FileError {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        values.push(value);
    }
    let mut parsed = ParsedFile::default();
    for (index, value) in values.into_iter().enumerate() {
        if value.is_null() {
            continue;
        }
        match classify(value) {
            Ok(doc) => parsed.documents.push(doc),
            Err(problem) => parsed
                .problems
                .push(format!("{origin} (document {}): {problem}", index + 1)),
        }
    }
    Ok(parsed)
}

fn classify(mut value: serde_json::Value) -> Result<Document, String> {
    let Some(obj) = value.as_object_mut() else {
        return Err("not a mapping; ignored".to_owned());
    };
    let api_version = obj
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let kind = obj
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let kind: &'static str = match (api_version.as_str(), kind.as_str()) {
        (API_VERSION, KIND_TENANT) => KIND_TENANT,
        (API_VERSION, KIND_TECHNICAL_ADMIN) => KIND_TECHNICAL_ADMIN,
        (API_VERSION, KIND_SOURCE_SYSTEM) => KIND_SOURCE_SYSTEM,
        (API_VERSION, KIND_TARGET_SYSTEM) => KIND_TARGET_SYSTEM,
        (API_VERSION, KIND_REAL_TIME_TARGET) => KIND_REAL_TIME_TARGET,
        ("v1", "Secret") => "Secret",
        _ => {
            return Err(format!(
                "unknown kind {kind:?} (apiVersion {api_version:?}); ignored"
            ));
        }
    };
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(|n| n.as_str())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("{kind} without metadata.name; ignored"))?;
    // Namespace defaults to `default`, written into the document so every consumer agrees.
    let namespace = match obj.get("metadata").and_then(|m| m.get("namespace")) {
        Some(serde_json::Value::String(ns)) if !ns.is_empty() => ns.clone(),
        _ => DEFAULT_NAMESPACE.to_owned(),
    };
    if let Some(meta) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.insert("namespace".to_owned(), namespace.clone().into());
    }
    let key = ObjectKey { namespace, name };
    let spec = obj.get("spec").cloned().unwrap_or(serde_json::Value::Null);
    let invalid = |message: String| {
        Document::Invalid(InvalidDocument {
            kind,
            key: key.clone(),
            spec: spec.clone(),
            message,
        })
    };
    match kind {
        KIND_TENANT => Ok(typed::<Tenant>(value)
            .map(Document::Tenant)
            .unwrap_or_else(invalid)),
        KIND_TECHNICAL_ADMIN => Ok(typed::<TechnicalAdmin>(value)
            .map(Document::TechnicalAdmin)
            .unwrap_or_else(invalid)),
        KIND_SOURCE_SYSTEM => Ok(typed::<SourceSystem>(value)
            .map(Document::SourceSystem)
            .unwrap_or_else(invalid)),
        KIND_TARGET_SYSTEM => Ok(typed::<TargetSystem>(value)
            .map(Document::TargetSystem)
            .unwrap_or_else(invalid)),
        KIND_REAL_TIME_TARGET => Ok(typed::<RealTimeTarget>(value)
            .map(Document::RealTimeTarget)
            .unwrap_or_else(invalid)),
        _ => {
            let mut track = serde_path_to_error::Track::new();
            let de = serde_path_to_error::Deserializer::new(value, &mut track);
            Secret::deserialize(de).map(Document::Secret).map_err(|_| {
                // Only the path: serde messages may quote the (secret) value.
                format!("Secret {key}: {}: invalid value; ignored", track.path())
            })
        }
    }
}

/// Deserializes with the failing field's path in the message.
fn typed<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &str = r#"
# a comment-only first document
---
apiVersion: idrelay.dev/v1alpha1
kind: Tenant
metadata: {name: acme}
spec: {hosts: [acme.example.com]}
---
apiVersion: idrelay.dev/v1alpha1
kind: TechnicalAdmin
metadata: {name: bad, namespace: team}
spec:
  tenantRef: {name: acme}
  displayName: Bad
  permissions: [ManageUsers, Fly]
---
apiVersion: v1
kind: Secret
metadata: {name: s}
data: {k: aHVudGVyMg==}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
---
apiVersion: v1
kind: Secret
metadata: {name: broken}
data: {k: "!!not base64 hunter2"}
"#;

    #[test]
    fn multi_document_with_invalid_isolation() {
        let parsed = parse_documents(MULTI, "a.yaml").unwrap();
        assert_eq!(parsed.documents.len(), 3, "{parsed:?}");
        let Document::Tenant(t) = &parsed.documents[0] else {
            panic!()
        };
        assert_eq!(t.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(t.spec.hosts, ["acme.example.com"]);
        let Document::Invalid(bad) = &parsed.documents[1] else {
            panic!()
        };
        assert_eq!(bad.kind, KIND_TECHNICAL_ADMIN);
        assert_eq!(bad.key, ObjectKey::new("team", "bad"));
        assert!(
            bad.message
                .starts_with("spec.permissions[1]: unknown variant `Fly`"),
            "{}",
            bad.message
        );
        let Document::Secret(s) = &parsed.documents[2] else {
            panic!()
        };
        assert_eq!(s.data.as_ref().unwrap()["k"].0, b"hunter2");
        assert_eq!(parsed.problems.len(), 2);
        assert!(parsed.problems[0].contains("Deployment"));
        assert!(
            parsed.problems[1].contains("data.k"),
            "{}",
            parsed.problems[1]
        );
        assert!(!parsed.problems[1].contains("hunter2"));
    }

    #[test]
    fn unknown_expiry_names_the_field() {
        let text = r#"
apiVersion: idrelay.dev/v1alpha1
kind: TechnicalAdmin
metadata: {name: a}
spec:
  tenantRef: {name: acme}
  displayName: A
  permissions: [ReadUsers]
  secrets:
  - secretRef: {name: s, key: k}
    expiresIn: 3y
"#;
        let parsed = parse_documents(text, "a.yaml").unwrap();
        let Document::Invalid(bad) = &parsed.documents[0] else {
            panic!("{parsed:?}")
        };
        assert!(
            bad.message
                .starts_with("spec.secrets[0].expiresIn: unknown variant `3y`"),
            "{}",
            bad.message
        );
    }

    const SYSTEMS: &str = r#"
apiVersion: idrelay.dev/v1alpha1
kind: SourceSystem
metadata: {name: ias}
spec:
  tenantRef: {name: acme}
  displayName: IAS
---
apiVersion: idrelay.dev/v1alpha1
kind: TargetSystem
metadata: {name: apps, namespace: team}
spec:
  tenantRef: {name: acme}
  displayName: Apps
  type: SCIM
  url: https://127.0.0.1:8443/tenants/apps/scim
  sourceSystemRefs: [{name: ias}]
  authentication:
    basic: {username: client, passwordRef: {name: s, key: pw}}
  properties: {scim.support.patch.operation: "true"}
---
apiVersion: idrelay.dev/v1alpha1
kind: TargetSystem
metadata: {name: bad}
spec:
  tenantRef: {name: acme}
  displayName: Bad
  type: LDAP
  url: https://x
  authentication: {}
"#;

    #[test]
    fn loads_source_and_target_systems() {
        let parsed = parse_documents(SYSTEMS, "s.yaml").unwrap();
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let Document::SourceSystem(s) = &parsed.documents[0] else {
            panic!("{parsed:?}")
        };
        assert!(s.spec.enabled && s.spec.url.is_none());
        assert_eq!(
            s.spec.system_type,
            crate::api::SystemType::IdentityAuthentication
        );
        let Document::TargetSystem(t) = &parsed.documents[1] else {
            panic!("{parsed:?}")
        };
        assert_eq!(
            parsed.documents[1].identity(),
            (KIND_TARGET_SYSTEM, ObjectKey::new("team", "apps"))
        );
        assert_eq!(t.spec.authentication.method_count(), 1);
        assert_eq!(t.spec.properties["scim.support.patch.operation"], "true");
        let Document::Invalid(bad) = &parsed.documents[2] else {
            panic!("{parsed:?}")
        };
        assert_eq!(bad.kind, KIND_TARGET_SYSTEM);
        assert!(
            bad.message.starts_with("spec.type: unknown variant `LDAP`"),
            "{}",
            bad.message
        );
    }

    #[test]
    fn syntax_error_fails_the_file() {
        let err = parse_documents("a: [1, 2\n---\nb: 1\n", "x.yaml").unwrap_err();
        assert_eq!(err.origin, "x.yaml");
    }

    #[test]
    fn missing_spec_is_invalid_not_dropped() {
        let parsed = parse_documents(
            "apiVersion: idrelay.dev/v1alpha1\nkind: Tenant\nmetadata: {name: t}\n",
            "x",
        )
        .unwrap();
        let Document::Invalid(bad) = &parsed.documents[0] else {
            panic!("{parsed:?}")
        };
        assert!(bad.message.contains("spec"), "{}", bad.message);
    }
}
