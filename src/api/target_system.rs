//! The `TargetSystem` custom resource: a provisioning target of one tenant (spec/domain.md §1.5):
//! a SCIM 2.0 server or an Identity Authentication tenant that receives the changes of the
//! connected source systems, with its outbound authentication from Secret references.
//!
//! Invariants: exactly one authentication method (schema and reconcile); `displayName` follows
//! the system name rule of [`super::source_system`]; status holds conditions and delivery
//! counters only (counters rewritten only when they change), never a secret value.
//!
//! CRD validation (CEL, checked client-side by `TargetSystem::validate_cel`): the system name
//! rule, `url` an http(s) URL, each SourceSystem listed once, exactly one authentication method ([`super::outbound_auth::OUTBOUND_ONE_OF_RULE`]),
//! `properties[ias.api.version]` 1|2 and the shape of every Secret and object reference.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::outbound_auth::OutboundAuthentication;
use super::real_time_target::OBJECT_NAME_MESSAGE;
use super::refs::{DNS1123_SUBDOMAIN_PATTERN, DNS1123_SUBDOMAIN_RULE, TenantRef};
use super::source_system::{
    API_VERSION_PROPERTY_MESSAGE, API_VERSION_PROPERTY_RULE, HTTP_URL_MESSAGE, HTTP_URL_RULE,
    SYSTEM_NAME_MESSAGE, SYSTEM_NAME_PATTERN, SYSTEM_NAME_RULE, SystemType,
};

/// Condition of a TargetSystem: the last live connection check succeeded.
pub const CONNECTION_VERIFIED: &str = "ConnectionVerified";
/// Condition of a TargetSystem: deliveries are flowing (circuit closed).
pub const DELIVERY_HEALTHY: &str = "DeliveryHealthy";

/// CEL rule on `sourceSystemRefs`: no SourceSystem is listed twice.
pub const UNIQUE_SOURCE_REFS_RULE: &str = "self.all(r, self.exists_one(o, o.name == r.name))";
/// Message of [`UNIQUE_SOURCE_REFS_RULE`].
pub const UNIQUE_SOURCE_REFS_MESSAGE: &str = "sourceSystemRefs: a SourceSystem is listed twice";

/// Desired state of a target system.
// Several `printcolumn(...)` entries are intended; clippy reads them as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "idrelay.dev",
    version = "v1alpha1",
    kind = "TargetSystem",
    namespaced,
    cel,
    status = "TargetSystemStatus",
    derive = "PartialEq",
    shortname = "idts",
    category = "idrelay",
    doc = "A provisioning target of a Tenant: a SCIM 2.0 server or an Identity Authentication tenant that receives the changes of its source systems.",
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
    printcolumn(name = "Pending", type_ = "integer", json_path = ".status.pending"),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.failed"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TargetSystemSpec {
    /// The Tenant (same namespace) this system belongs to.
    pub tenant_ref: TenantRef,
    /// System name: at most 100 characters of `a-z A-Z 0-9 - _ .` and space, unique among the
    /// tenant's target systems.
    #[schemars(length(min = 1, max = 100), pattern(SYSTEM_NAME_PATTERN))]
    #[x_kube(validation = Rule::new(SYSTEM_NAME_RULE).message(SYSTEM_NAME_MESSAGE))]
    pub display_name: String,
    /// The SourceSystems (same namespace, same tenant) whose changes this target receives (at
    /// most 100: the bound keeps the API server's CEL cost estimate of the per-item rule small).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[x_kube(validation = Rule::new(UNIQUE_SOURCE_REFS_RULE).message(UNIQUE_SOURCE_REFS_MESSAGE))]
    pub source_system_refs: Vec<SourceSystemRef>,
    /// `SCIM` or `IdentityAuthentication`.
    #[serde(rename = "type")]
    pub system_type: SystemType,
    /// Base URL of the target's SCIM API (e.g. `https://host/scim`); `/Users` and `/Groups` are
    /// appended.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(HTTP_URL_RULE).message(HTTP_URL_MESSAGE))]
    pub url: String,
    /// How to authenticate to the target: exactly one method.
    pub authentication: OutboundAuthentication,
    /// System properties (`ias.*`, `scim.*`, `ips.*` of spec/domain.md §4.3–§4.4). Unset
    /// properties take their documented defaults; `ias.api.version` is 1 or 2 (default 2).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new(API_VERSION_PROPERTY_RULE).message(API_VERSION_PROPERTY_MESSAGE))]
    pub properties: BTreeMap<String, String>,
    /// The write transformation as JSON text (spec/domain.md §4.5). When absent, the default
    /// transformation of the system type and API version applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation: Option<String>,
    /// Whether the system takes part in provisioning. Default true.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
}

fn enabled_default() -> bool {
    true
}

/// A reference to a `SourceSystem` in the same namespace.
#[derive(
    KubeSchema, Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct SourceSystemRef {
    /// Name of the SourceSystem (`metadata.name`), in the namespace of the target.
    #[schemars(length(min = 1, max = 253), pattern(DNS1123_SUBDOMAIN_PATTERN))]
    #[x_kube(validation = Rule::new(DNS1123_SUBDOMAIN_RULE).message(OBJECT_NAME_MESSAGE))]
    pub name: String,
}

/// Observed state of a target system.
#[derive(JsonSchema, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetSystemStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions: `Ready`, `Reconciling`, `Stalled`, `SecretResolved`, `ConnectionVerified`
    /// (a live check, re-run periodically and on change) and `DeliveryHealthy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::conditions::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The effective system id (UUID v5 of `namespace/name/target`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_id: Option<String>,
    /// Deliveries waiting to be sent (including retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
    /// Deliveries completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<u64>,
    /// Deliveries given up (dead letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_with_defaults() {
        let spec: TargetSystemSpec = serde_json::from_value(serde_json::json!({
            "tenantRef": {"name": "acme"}, "displayName": "Apps", "type": "SCIM",
            "url": "https://x/scim",
            "authentication": {"bearerToken": {"tokenRef": {"name": "t", "key": "k"}}},
            "sourceSystemRefs": [{"name": "ias"}]
        }))
        .unwrap();
        assert!(spec.enabled);
        assert_eq!(spec.system_type, SystemType::Scim);
        assert_eq!(spec.authentication.method_count(), 1);
        assert_eq!(spec.source_system_refs[0].name, "ias");
    }
}
