//! The `RealTimeTarget` custom resource (spec/domain.md §1.7, architecture §4): where the
//! directory changes of a tenant are pushed at once — usually the tenant's own real-time
//! provisioning API of a source system (`sourceSystemRef`), or any real-time endpoint
//! (`scimUrl`) — in SCIM version 1 or 2, with Basic, OAuth or certificate authentication.
//!
//! Invariants: exactly one of `scimUrl` / `sourceSystemRef` and exactly one authentication
//! method (CEL rules in the CRD, and reconcile); status never holds a secret value.
//!
//! CRD validation (CEL, checked client-side by `RealTimeTarget::validate_cel`): the two one-of
//! rules, `version` 1 or 2, http(s) URLs, the system name rule on `displayName`, the static common name bound
//! ([`COMMON_NAME_RULE`]) and the shape of every Secret and object reference.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::refs::{
    DNS1123_SUBDOMAIN_PATTERN, DNS1123_SUBDOMAIN_RULE, SECRET_NAME_MESSAGE, SecretKeyRef, TenantRef,
};
use super::source_system::{
    HTTP_URL_MESSAGE, HTTP_URL_RULE, SYSTEM_NAME_MESSAGE, SYSTEM_NAME_PATTERN, SYSTEM_NAME_RULE,
};
use super::target_system::SourceSystemRef;

/// CEL rule on the spec: exactly one of `scimUrl` and `sourceSystemRef`.
pub const URL_ONE_OF_RULE: &str = "has(self.scimUrl) != has(self.sourceSystemRef)";
/// Message of [`URL_ONE_OF_RULE`].
pub const URL_ONE_OF_MESSAGE: &str = "set exactly one of scimUrl and sourceSystemRef";
/// CEL rule on `spec.version`.
pub const VERSION_RULE: &str = "self == 1 || self == 2";
/// Message of [`VERSION_RULE`].
pub const VERSION_MESSAGE: &str = "version must be 1 or 2";
/// CEL rule on `spec.authentication`: exactly one method.
pub const AUTH_ONE_OF_RULE: &str =
    "(has(self.basic) ? 1 : 0) + (has(self.oauth) ? 1 : 0) + (has(self.certificate) ? 1 : 0) == 1";
/// Message of [`AUTH_ONE_OF_RULE`].
pub const AUTH_ONE_OF_MESSAGE: &str = "set exactly one of basic, oauth and certificate";
/// The longest `commonName` the CRD accepts: the subject CN `<commonName>(<userId>)` has at most
/// 64 characters, and the shortest admin user id (`T` + 6 digits; the others are UUIDs of 36)
/// has 7, so a longer common name can never fit: 64 - 2 - 7. It equals
/// `auth::certificates::STATIC_MAX_COMMON_NAME_LEN`; the exact limit (26 for a UUID user id)
/// is checked when the certificate is issued.
pub const COMMON_NAME_MAX: usize = 55;
/// CEL rule on `commonName` (the bound [`COMMON_NAME_MAX`]).
pub const COMMON_NAME_RULE: &str = "size(self) <= 55";
/// Message of [`COMMON_NAME_RULE`].
pub const COMMON_NAME_MESSAGE: &str = "commonName: at most 55 characters (the certificate's subject CN <commonName>(<admin userId>) is at most 64 characters, and a user id has at least 7)";
/// Message of the DNS rule on a TechnicalAdmin or SourceSystem reference.
pub const OBJECT_NAME_MESSAGE: &str = "must be an object name: a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', alphanumeric at both ends, at most 253 characters)";

/// Condition: the last Test Connection succeeded.
pub const CONNECTION_VERIFIED: &str = "ConnectionVerified";
/// Condition: the Provision of the current `provisionRequest` finished.
pub const PROVISIONED: &str = "Provisioned";
/// Condition: pushes are acknowledged (circuit closed).
pub const DELIVERY_HEALTHY: &str = "DeliveryHealthy";

/// Desired state of a real-time target.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "idrelay.dev",
    version = "v1alpha1",
    kind = "RealTimeTarget",
    namespaced,
    cel,
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
    printcolumn(
        name = "Auth",
        type_ = "string",
        description = "Authentication method of spec.authentication (Basic, OAuth or Certificate), as reconciled",
        json_path = ".status.authentication"
    ),
    printcolumn(name = "Pushed", type_ = "integer", json_path = ".status.pushed"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(URL_ONE_OF_RULE).message(URL_ONE_OF_MESSAGE))]
pub struct RealTimeTargetSpec {
    /// The Tenant (same namespace) whose directory changes are pushed.
    pub tenant_ref: TenantRef,
    /// The name shown for the target (up to 100 characters of `a-z A-Z 0-9 - _ .` and space); may
    /// equal the source system's name.
    #[schemars(length(min = 1, max = 100), pattern(SYSTEM_NAME_PATTERN))]
    #[x_kube(validation = Rule::new(SYSTEM_NAME_RULE).message(SYSTEM_NAME_MESSAGE))]
    pub display_name: String,
    /// `IdentityProvisioning` (a real-time provisioning API) or `SAPJam` (a plain SCIM push).
    #[serde(rename = "type", default)]
    pub target_type: RealTimeTargetType,
    /// The user entity URL (`https://…/ipsproxy/service/api/v1/systems/{id}/entities/user`);
    /// groups go to the sibling `…/entities/group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(HTTP_URL_RULE).message(HTTP_URL_MESSAGE))]
    pub scim_url: Option<String>,
    /// A SourceSystem (same namespace and tenant): its real-time user URL on `runtimeUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_system_ref: Option<SourceSystemRef>,
    /// Where this runtime's tenant listener is reached, for `sourceSystemRef`
    /// (default `https://127.0.0.1:8443`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), extend("default" = DEFAULT_RUNTIME_URL))]
    #[x_kube(validation = Rule::new(HTTP_URL_RULE).message(HTTP_URL_MESSAGE))]
    pub runtime_url: Option<String>,
    /// SCIM version of the pushed bodies: 1 or 2 (default 2); must equal the source system's
    /// `ias.api.version`.
    #[serde(default = "version_default")]
    #[schemars(range(min = 1, max = 2))]
    #[x_kube(validation = Rule::new(VERSION_RULE).message(VERSION_MESSAGE))]
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
    /// How pushes authenticate to the target: exactly one of `basic`, `oauth`, `certificate`.
    pub authentication: RealTimeAuthentication,
    /// A Secret key holding PEM CA certificates trusted for the target's TLS server certificate,
    /// on top of the system's trust store (e.g. `ca.crt` of the runtime's own self-signed or
    /// tenant-CA-issued listener certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_ref: Option<SecretKeyRef>,
}

/// Default of `spec.runtimeUrl` (the runtime's HTTPS listener on loopback).
pub const DEFAULT_RUNTIME_URL: &str = "https://127.0.0.1:8443";

fn version_default() -> u8 {
    2
}

fn enabled_default() -> bool {
    true
}

/// The kind of real-time target.
#[derive(JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RealTimeTargetType {
    /// A real-time provisioning API (`…/systems/{id}/entities/user`).
    #[default]
    IdentityProvisioning,
    /// A plain SCIM endpoint that receives the pushes.
    #[serde(rename = "SAPJam")]
    SapJam,
}

/// Exactly one authentication method.
#[derive(KubeSchema, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
#[x_kube(validation = Rule::new(AUTH_ONE_OF_RULE).message(AUTH_ONE_OF_MESSAGE))]
pub struct RealTimeAuthentication {
    /// HTTP Basic with a technical administrator's client id and secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<RealTimeBasic>,
    /// OAuth client credentials of a technical administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<RealTimeOAuth>,
    /// A client certificate issued by the tenant CA for a technical administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<RealTimeCertificate>,
}

impl RealTimeAuthentication {
    /// How many methods are set (valid: exactly one).
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
    /// The Secret key holding the technical administrator's secret (the Basic password).
    pub secret_ref: SecretKeyRef,
}

/// OAuth client credentials.
#[derive(KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealTimeOAuth {
    /// Default: the tenant's own `/oauth2/token` next to the target URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(HTTP_URL_RULE).message(HTTP_URL_MESSAGE))]
    pub token_url: Option<String>,
    /// The technical administrator's client id.
    #[schemars(length(min = 1, max = 256))]
    pub client_id: String,
    /// The Secret key holding the technical administrator's secret (the client secret).
    pub client_secret_ref: SecretKeyRef,
}

/// A client certificate issued by the tenant CA for a technical administrator.
#[derive(KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealTimeCertificate {
    /// The common name; the certificate's subject CN is `<common name>(<admin user id>)`, at most
    /// 64 characters in all. The schema allows 55 (the longest that fits the shortest user id,
    /// `T` + 6 digits); the exact limit is checked when the certificate is issued.
    #[schemars(length(min = 1, max = 55))]
    #[x_kube(validation = Rule::new(COMMON_NAME_RULE).message(COMMON_NAME_MESSAGE))]
    pub common_name: String,
    /// The TechnicalAdmin (same namespace) the certificate is trusted for.
    pub technical_admin_ref: TechnicalAdminRef,
    /// The Secret key holding the PKCS#12 keystore password.
    pub password_ref: SecretKeyRef,
    /// The Secret (same namespace) the certificate, key and keystore are written to: `tls.crt`,
    /// `tls.key`, `ca.crt` and `keystore.p12`.
    #[schemars(length(min = 1, max = 253), pattern(DNS1123_SUBDOMAIN_PATTERN))]
    #[x_kube(validation = Rule::new(DNS1123_SUBDOMAIN_RULE).message(SECRET_NAME_MESSAGE))]
    pub output_secret_name: String,
}

/// A reference to a `TechnicalAdmin` in the same namespace.
#[derive(KubeSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TechnicalAdminRef {
    /// Name of the TechnicalAdmin (`metadata.name`).
    #[schemars(length(min = 1, max = 253), pattern(DNS1123_SUBDOMAIN_PATTERN))]
    #[x_kube(validation = Rule::new(DNS1123_SUBDOMAIN_RULE).message(OBJECT_NAME_MESSAGE))]
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
