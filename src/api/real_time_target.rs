//! The `RealTimeTarget` custom resource (spec/domain.md §1.7, architecture §4): where the
//! directory changes of a tenant are pushed at once — usually the tenant's own real-time
//! provisioning API of a source system (`sourceSystemRef`), or any real-time endpoint
//! (`scimUrl`) — in SCIM version 1 or 2, with Basic, OAuth or certificate authentication.
//!
//! Invariants: exactly one of `scimUrl` / `sourceSystemRef` and exactly one authentication
//! method (schema and reconcile); status never holds a secret value.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::refs::{DNS1123_SUBDOMAIN_PATTERN, SecretKeyRef, TenantRef};
use super::source_system::SYSTEM_NAME_PATTERN;
use super::target_system::SourceSystemRef;

/// Condition: the last Test Connection succeeded.
pub const CONNECTION_VERIFIED: &str = "ConnectionVerified";
/// Condition: the Provision of the current `provisionRequest` finished.
pub const PROVISIONED: &str = "Provisioned";
/// Condition: pushes are acknowledged (circuit closed).
pub const DELIVERY_HEALTHY: &str = "DeliveryHealthy";

/// Desired state of a real-time target.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "idrelay.dev",
    version = "v1alpha1",
    kind = "RealTimeTarget",
    namespaced,
    status = "RealTimeTargetStatus",
    derive = "PartialEq",
    shortname = "idrt",
    category = "idrelay",
    doc = "Pushes every user (and optionally group) change of a Tenant's directory at once to a real-time provisioning endpoint.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "Version", type_ = "integer", json_path = ".spec.version"),
    printcolumn(name = "Auth", type_ = "string", json_path = ".status.authentication"),
    printcolumn(name = "Pushed", type_ = "integer", json_path = ".status.pushed"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.scimUrl) != has(self.sourceSystemRef)",
     "message": "set exactly one of scimUrl and sourceSystemRef"}
]))]
pub struct RealTimeTargetSpec {
    /// The Tenant (same namespace) whose directory changes are pushed.
    pub tenant_ref: TenantRef,
    /// The name shown for the target (up to 100 characters of `a-z A-Z 0-9 - _ .` and space); may
    /// equal the source system's name.
    #[schemars(length(min = 1, max = 100), pattern(SYSTEM_NAME_PATTERN))]
    pub display_name: String,
    /// `IdentityProvisioning` (a real-time provisioning API) or `SAPJam` (a plain SCIM push).
    #[serde(rename = "type", default)]
    pub target_type: RealTimeTargetType,
    /// The user entity URL (`https://…/ipsproxy/service/api/v1/systems/{id}/entities/user`);
    /// groups go to the sibling `…/entities/group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub scim_url: Option<String>,
    /// A SourceSystem (same namespace and tenant): its real-time user URL on `runtimeUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_system_ref: Option<SourceSystemRef>,
    /// Where this runtime's tenant listener is reached, for `sourceSystemRef`
    /// (default `https://127.0.0.1:8443`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub runtime_url: Option<String>,
    /// SCIM version of the pushed bodies: 1 or 2 (default 2); must equal the source system's
    /// `ias.api.version`.
    #[serde(default = "version_default")]
    #[schemars(range(min = 1, max = 2))]
    pub version: u8,
    /// Only enabled targets receive pushes (default true).
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// Push group changes too (default false).
    #[serde(default)]
    pub groups: bool,
    /// Any change of this token requests a new Provision (every user pushed once more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision_request: Option<String>,
    pub authentication: RealTimeAuthentication,
}

fn version_default() -> u8 {
    2
}

fn enabled_default() -> bool {
    true
}

/// The kind of real-time target.
#[derive(JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RealTimeTargetType {
    #[default]
    IdentityProvisioning,
    #[serde(rename = "SAPJam")]
    SapJam,
}

/// Exactly one authentication method.
#[derive(JsonSchema, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct RealTimeAuthentication {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<RealTimeBasic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<RealTimeOAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<RealTimeCertificate>,
}

impl RealTimeAuthentication {
    pub fn method_count(&self) -> usize {
        usize::from(self.basic.is_some())
            + usize::from(self.oauth.is_some())
            + usize::from(self.certificate.is_some())
    }

    /// `Basic`, `OAuth`, `Certificate` (the printer column), or `None` when not exactly one.
    pub fn method_name(&self) -> Option<&'static str> {
        match (&self.basic, &self.oauth, &self.certificate) {
            (Some(_), None, None) => Some("Basic"),
            (None, Some(_), None) => Some("OAuth"),
            (None, None, Some(_)) => Some("Certificate"),
            _ => None,
        }
    }
}

/// Basic: the technical administrator's client id and secret.
#[derive(JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealTimeBasic {
    /// The technical administrator's client id (the Basic user name).
    #[schemars(length(min = 1, max = 256))]
    pub client_id: String,
    pub secret_ref: SecretKeyRef,
}

/// OAuth client credentials.
#[derive(JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealTimeOAuth {
    /// Default: the tenant's own `/oauth2/token` next to the target URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub token_url: Option<String>,
    /// The technical administrator's client id.
    #[schemars(length(min = 1, max = 256))]
    pub client_id: String,
    pub client_secret_ref: SecretKeyRef,
}

/// A client certificate issued by the tenant CA for a technical administrator.
#[derive(JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealTimeCertificate {
    /// The common name; the certificate's subject CN is `<common name>(<admin user id>)`, at most
    /// 64 characters in all. The schema allows 55 (the longest that fits the shortest user id,
    /// `T` + 6 digits); the exact limit is checked when the certificate is issued.
    #[schemars(length(min = 1, max = 55))]
    pub common_name: String,
    /// The TechnicalAdmin (same namespace) the certificate is trusted for.
    pub technical_admin_ref: TechnicalAdminRef,
    /// The Secret key holding the PKCS#12 keystore password.
    pub password_ref: SecretKeyRef,
    /// The Secret the certificate, key and keystore are written to.
    #[schemars(length(min = 1, max = 253))]
    pub output_secret_name: String,
}

/// A reference to a `TechnicalAdmin` in the same namespace.
#[derive(JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TechnicalAdminRef {
    /// Name of the TechnicalAdmin (`metadata.name`).
    #[schemars(length(min = 1, max = 253), pattern(DNS1123_SUBDOMAIN_PATTERN))]
    pub name: String,
}

/// Observed state of a real-time target.
#[derive(JsonSchema, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealTimeTargetStatus {
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling`, `Stalled`, `SecretResolved`, `ConnectionVerified`,
    /// `Provisioned`, `DeliveryHealthy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::conditions::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The user entity URL pushes go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `Basic`, `OAuth` or `Certificate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<String>,
    /// Entities acknowledged by the target since the runtime started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<u64>,
    /// Entities skipped by loop prevention since the runtime started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
    /// Entities refused permanently since the runtime started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_with_defaults() {
        let spec: RealTimeTargetSpec = serde_json::from_value(serde_json::json!({
            "tenantRef": {"name": "acme"}, "displayName": "Push",
            "sourceSystemRef": {"name": "ias"},
            "authentication": {"basic": {"clientId": "c", "secretRef": {"name": "s", "key": "k"}}}
        }))
        .unwrap();
        assert_eq!(spec.version, 2);
        assert!(spec.enabled);
        assert!(!spec.groups);
        assert_eq!(spec.target_type, RealTimeTargetType::IdentityProvisioning);
        assert_eq!(spec.authentication.method_name(), Some("Basic"));
        let two = RealTimeAuthentication {
            basic: spec.authentication.basic.clone(),
            oauth: Some(RealTimeOAuth {
                token_url: None,
                client_id: "c".into(),
                client_secret_ref: SecretKeyRef {
                    name: "s".into(),
                    key: "k".into(),
                },
            }),
            certificate: None,
        };
        assert_eq!(two.method_count(), 2);
        assert_eq!(two.method_name(), None);
    }
}
