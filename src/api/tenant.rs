//! The `Tenant` custom resource: one identity directory, reachable under `/tenants/{name}/…` and,
//! for each of `spec.hosts`, at the root paths of that host.
//!
//! Invariant: a tenant's name (`metadata.name`) is unique across namespaces; the reconciler
//! stalls the later of two Tenants with the same name.
//!
//! CRD validation: host names are DNS names (schema pattern), at most 100, each listed once (CEL,
//! checked client-side by `Tenant::validate_cel`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::refs::DNS1123_SUBDOMAIN_PATTERN;

/// Desired state of a Tenant: an identity directory with its SCIM APIs and OAuth endpoint.
// Several `printcolumn(...)` entries are intended; clippy reads them as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "idrelay.dev",
    version = "v1alpha1",
    kind = "Tenant",
    namespaced,
    cel,
    status = "TenantStatus",
    derive = "PartialEq",
    shortname = "idt",
    category = "idrelay",
    doc = "An identity directory (users, groups, technical administrators) served under /tenants/{name} and on its host names.",
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
    printcolumn(name = "Hosts", type_ = "string", json_path = ".spec.hosts"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// Human-readable name of the tenant, shown in tools. Defaults to the resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Host names (DNS names, lower case, no port) whose requests reach this tenant at the root
    /// paths, e.g. `https://<host>/scim/Users`. A host may belong to one tenant only. The tenant is
    /// always reachable under the path prefix `/tenants/{name}/` as well.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 100),
        inner(length(max = 253), pattern(DNS1123_SUBDOMAIN_PATTERN))
    )]
    #[x_kube(validation = Rule::new(UNIQUE_HOSTS_RULE).message(UNIQUE_HOSTS_MESSAGE))]
    pub hosts: Vec<String>,
    /// Requests per second the real-time provisioning API accepts for this tenant (token bucket,
    /// burst = 2 × rate); above it, requests get 429 with `Retry-After`. Default 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        range(min = 1, max = 1000000),
        extend("default" = DEFAULT_REAL_TIME_RATE_LIMIT)
    )]
    pub real_time_rate_limit: Option<u32>,
}

/// CEL rule on `hosts`: no host is listed twice.
pub const UNIQUE_HOSTS_RULE: &str = "self.all(h, self.exists_one(o, o == h))";
/// Message of [`UNIQUE_HOSTS_RULE`].
pub const UNIQUE_HOSTS_MESSAGE: &str = "hosts: a host is listed twice";

/// Default of `spec.realTimeRateLimit` (requests per second).
pub const DEFAULT_REAL_TIME_RATE_LIMIT: u32 = 200;

/// Observed state of a Tenant.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions: `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::conditions::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The tenant's certificate authority certificate (PEM; public, never the key). Client
    /// certificates issued for `certificate` authentication chain to it, and the runtime's HTTPS
    /// listener accepts client certificates of this tenant's technical administrators signed by
    /// it. Set while the tenant is Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
}
