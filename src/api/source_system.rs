//! The `SourceSystem` custom resource: a provisioning source of one tenant (spec/domain.md §1.5,
//! §1.6): the tenant's own directory (type `IdentityAuthentication` without `url`), a remote
//! Identity Authentication tenant, or any SCIM 2.0 server (for jobs). Its system id appears in
//! the real-time provisioning URLs.
//!
//! Invariants: `displayName` follows SAP's rule for system names (at most 100 characters of
//! `a-z A-Z 0-9 - _ .` and space), checked by the schema and by reconcile alike; the system id is
//! stable (UUID v5 of `namespace/name` unless `spec.systemId` is set); status never holds a
//! secret value.
//!
//! CRD validation (CEL, checked client-side by `SourceSystem::validate_cel`): the system name
//! rule, `url` an http(s) URL and required for `SCIM` and `authentication` only with `url`, and the properties
//! idrelay interprets with a fixed set of values: `ias.api.version` 1|2 and the log retentions
//! `ips.realtime.log.retention.days` / `ips.job.log.retention.days` 7|14|30 (surrounding blanks
//! allowed, as reconcile trims them).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::outbound_auth::OutboundAuthentication;
use super::refs::TenantRef;

/// Schema pattern of a system display name (SAP: `a-z A-Z 0-9 - _ .` and space).
pub const SYSTEM_NAME_PATTERN: &str = r"^[a-zA-Z0-9 ._-]+$";
/// The longest system display name (SAP: 100 characters).
pub const SYSTEM_NAME_MAX: usize = 100;
/// CEL rule of a system display name ([`SYSTEM_NAME_PATTERN`], at most [`SYSTEM_NAME_MAX`]).
pub const SYSTEM_NAME_RULE: &str = "size(self) <= 100 && self.matches('^[a-zA-Z0-9 ._-]+$')";
/// Message of [`SYSTEM_NAME_RULE`].
pub const SYSTEM_NAME_MESSAGE: &str =
    "displayName: 1 to 100 characters of a-z A-Z 0-9 - _ . and space";

/// CEL rule on a system's `properties`: `ias.api.version` is 1 or 2.
pub const API_VERSION_PROPERTY_RULE: &str =
    "!('ias.api.version' in self) || self['ias.api.version'].trim() in ['1', '2']";
/// Message of [`API_VERSION_PROPERTY_RULE`].
pub const API_VERSION_PROPERTY_MESSAGE: &str = "properties[ias.api.version] must be 1 or 2";
/// CEL rule on a source system's `properties`: the real-time log retention is 7, 14 or 30 days.
pub const REALTIME_RETENTION_RULE: &str = "!('ips.realtime.log.retention.days' in self) || \
     self['ips.realtime.log.retention.days'].trim() in ['7', '14', '30']";
/// Message of [`REALTIME_RETENTION_RULE`].
pub const REALTIME_RETENTION_MESSAGE: &str =
    "properties[ips.realtime.log.retention.days] must be 7, 14 or 30";
/// CEL rule on a source system's `properties`: the job log retention is 7, 14 or 30 days.
pub const JOB_RETENTION_RULE: &str = "!('ips.job.log.retention.days' in self) || \
     self['ips.job.log.retention.days'].trim() in ['7', '14', '30']";
/// Message of [`JOB_RETENTION_RULE`].
pub const JOB_RETENTION_MESSAGE: &str =
    "properties[ips.job.log.retention.days] must be 7, 14 or 30";
/// CEL rule of a system URL: absolute `http`/`https` with a host (what reconcile's URL check
/// accepts, give or take exotic forms it rejects).
pub const HTTP_URL_RULE: &str = "self.matches('^https?://[^/?# ]+([/?#][^ ]*)?$')";
/// Message of [`HTTP_URL_RULE`].
pub const HTTP_URL_MESSAGE: &str = "must be an absolute http(s) URL with a host";
/// CEL rule on the spec: a `SCIM` source needs `url`.
pub const SCIM_NEEDS_URL_RULE: &str = "self.type != 'SCIM' || has(self.url)";
/// Message of [`SCIM_NEEDS_URL_RULE`].
pub const SCIM_NEEDS_URL_MESSAGE: &str = "url: required for type SCIM";
/// CEL rule on the spec: `authentication` only together with `url`.
pub const AUTH_NEEDS_URL_RULE: &str = "!has(self.authentication) || has(self.url)";
/// Message of [`AUTH_NEEDS_URL_RULE`].
pub const AUTH_NEEDS_URL_MESSAGE: &str =
    "authentication: only used with url (without a url the source is this tenant's own directory)";

/// Whether `name` is a valid system display name: 1 to 100 characters of `a-z A-Z 0-9 - _ .`
/// and space (the same rule as [`SYSTEM_NAME_PATTERN`] and [`SYSTEM_NAME_MAX`]).
pub fn is_system_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= SYSTEM_NAME_MAX
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b' ' | b'.' | b'_' | b'-'))
}

/// The kind of back end a system connects to.
#[derive(
    JsonSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
)]
pub enum SystemType {
    /// An Identity Authentication tenant (`ias.api.version` picks SCIM v1 or the Identity
    /// Directory SCIM API v2). Without `url`: this tenant's own directory.
    #[default]
    IdentityAuthentication,
    /// Any SCIM 2.0 service provider.
    #[serde(rename = "SCIM")]
    Scim,
}

/// Desired state of a source system.
// Several `printcolumn(...)` entries are intended; clippy reads them as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "idrelay.dev",
    version = "v1alpha1",
    kind = "SourceSystem",
    namespaced,
    cel,
    status = "SourceSystemStatus",
    derive = "PartialEq",
    shortname = "idss",
    category = "idrelay",
    doc = "A provisioning source of a Tenant: its own directory, a remote Identity Authentication tenant or a SCIM 2.0 server. Its system id appears in the real-time provisioning URLs.",
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
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenantRef.name"),
    printcolumn(name = "SystemID", type_ = "string", json_path = ".status.systemId"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(SCIM_NEEDS_URL_RULE).message(SCIM_NEEDS_URL_MESSAGE),
    validation = Rule::new(AUTH_NEEDS_URL_RULE).message(AUTH_NEEDS_URL_MESSAGE)
)]
pub struct SourceSystemSpec {
    /// The Tenant (same namespace) this system belongs to.
    pub tenant_ref: TenantRef,
    /// System name: at most 100 characters of `a-z A-Z 0-9 - _ .` and space, unique among the
    /// tenant's source systems.
    #[schemars(length(min = 1, max = 100), pattern(SYSTEM_NAME_PATTERN))]
    #[x_kube(validation = Rule::new(SYSTEM_NAME_RULE).message(SYSTEM_NAME_MESSAGE))]
    pub display_name: String,
    /// `IdentityAuthentication` (default) or `SCIM`.
    #[serde(default, rename = "type")]
    pub system_type: SystemType,
    /// Base URL of the back end. Absent for `IdentityAuthentication` = this tenant's own
    /// directory; required for `SCIM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(HTTP_URL_RULE).message(HTTP_URL_MESSAGE))]
    pub url: Option<String>,
    /// How to authenticate to `url` (not used for the tenant's own directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<OutboundAuthentication>,
    /// The system id (a UUID) used in the real-time URLs. When absent, a stable UUID v5 of
    /// `namespace/name` is used; the effective value is in `status.systemId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_id: Option<String>,
    /// System properties (`ias.*`, `scim.*`, `ips.*` of spec/domain.md §4.3–§4.4). Unset
    /// properties take their documented defaults; `ias.api.version` defaults to `2`;
    /// `ips.realtime.log.retention.days` and `ips.job.log.retention.days` are 7 (default), 14 or 30.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(
        validation = Rule::new(API_VERSION_PROPERTY_RULE).message(API_VERSION_PROPERTY_MESSAGE),
        validation = Rule::new(REALTIME_RETENTION_RULE).message(REALTIME_RETENTION_MESSAGE),
        validation = Rule::new(JOB_RETENTION_RULE).message(JOB_RETENTION_MESSAGE)
    )]
    pub properties: BTreeMap<String, String>,
    /// The read transformation as JSON text (spec/domain.md §4.5). When absent, the default
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

/// Observed state of a source system.
#[derive(JsonSchema, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSystemStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions: `Ready`, `Reconciling`, `Stalled`, and `SecretResolved` when the spec
    /// references Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::conditions::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The effective system id (from spec, or derived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_id: Option<String>,
    /// The real-time provisioning URLs of this system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_time_urls: Option<RealTimeUrls>,
}

/// Where the real-time provisioning API of a source system is reached.
#[derive(JsonSchema, Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealTimeUrls {
    /// Path for users on any listener of the runtime:
    /// `/tenants/{tenant}/ipsproxy/service/api/v1/systems/{id}/entities/user`.
    pub user: String,
    /// Path for groups on any listener of the runtime:
    /// `/tenants/{tenant}/ipsproxy/service/api/v1/systems/{id}/entities/group`.
    pub group: String,
    /// Path for users on the tenant's own host names (`https://{host}` + this path), set when the
    /// tenant has `spec.hosts`: `/ipsproxy/service/api/v1/systems/{id}/entities/user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_user: Option<String>,
    /// Path for groups on the tenant's own host names, set when the tenant has `spec.hosts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_group: Option<String>,
}

impl RealTimeUrls {
    /// The URLs of system `id` of `tenant`; the host forms only when the tenant has hosts.
    pub fn new(tenant: &str, id: &str, tenant_has_hosts: bool) -> Self {
        let path =
            |entity: &str| format!("/ipsproxy/service/api/v1/systems/{id}/entities/{entity}");
        RealTimeUrls {
            user: format!("/tenants/{tenant}{}", path("user")),
            group: format!("/tenants/{tenant}{}", path("group")),
            host_user: tenant_has_hosts.then(|| path("user")),
            host_group: tenant_has_hosts.then(|| path("group")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_names() {
        assert!(is_system_name("IAS source - prod_1.eu"));
        assert!(is_system_name(&"a".repeat(100)));
        assert!(!is_system_name(&"a".repeat(101)));
        assert!(!is_system_name(""));
        assert!(!is_system_name("a/b"));
        assert!(!is_system_name("naïve"));
        let re = regex::Regex::new(SYSTEM_NAME_PATTERN).unwrap();
        assert!(re.is_match("IAS source - prod_1.eu") && !re.is_match("a/b"));
    }

    #[test]
    fn spec_defaults_and_type_names() {
        let spec: SourceSystemSpec = serde_json::from_value(serde_json::json!({
            "tenantRef": {"name": "acme"}, "displayName": "IAS"
        }))
        .unwrap();
        assert!(spec.enabled);
        assert_eq!(spec.system_type, SystemType::IdentityAuthentication);
        let t: SystemType = serde_json::from_value(serde_json::json!("SCIM")).unwrap();
        assert_eq!(t, SystemType::Scim);
    }

    #[test]
    fn real_time_urls() {
        let u = RealTimeUrls::new("acme", "x", false);
        assert_eq!(
            u.user,
            "/tenants/acme/ipsproxy/service/api/v1/systems/x/entities/user"
        );
        assert!(u.group.ends_with("/entities/group") && u.host_user.is_none());
        let h = RealTimeUrls::new("acme", "x", true);
        assert_eq!(
            h.host_group.as_deref(),
            Some("/ipsproxy/service/api/v1/systems/x/entities/group")
        );
    }
}
