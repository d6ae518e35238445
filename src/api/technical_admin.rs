//! The `TechnicalAdmin` custom resource: a system administrator (technical user) of one tenant,
//! with permissions, a client id and up to two secrets taken from `v1/Secret` keys
//! (spec/domain.md §1.2, §1.3).
//!
//! Invariants: `displayName` is immutable (CEL `self == oldSelf` in the CRD); status never holds a
//! secret value, only where it comes from and when it expires.
//!
//! CRD validation (CEL, checked client-side by `TechnicalAdmin::validate_cel` and
//! `validate_cel_update`): the immutable, non-blank `displayName` (a transition rule), at least one
//! permission, `clientId` a UUID, `userId` a UUID or a T-user id (`T` + 6-10 digits: what the
//! certificate common name bound relies on) and the shape of every Secret reference.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Permission;
use super::refs::{SecretKeyRef, TenantRef};

/// The most secrets a technical admin may have (SAP: "at most 2 secrets per system").
pub const MAX_SECRETS: usize = 2;

/// CEL transition rule on `displayName`.
pub const DISPLAY_NAME_IMMUTABLE_RULE: &str = "self == oldSelf";
/// Message of [`DISPLAY_NAME_IMMUTABLE_RULE`].
pub const DISPLAY_NAME_IMMUTABLE_MESSAGE: &str = "displayName is immutable";
/// CEL rule on `displayName`: not blank.
pub const DISPLAY_NAME_RULE: &str = "size(self.trim()) > 0";
/// Message of [`DISPLAY_NAME_RULE`].
pub const DISPLAY_NAME_MESSAGE: &str = "displayName must not be blank";
/// CEL rule on `permissions`.
pub const PERMISSIONS_RULE: &str = "size(self) >= 1";
/// Message of [`PERMISSIONS_RULE`].
pub const PERMISSIONS_MESSAGE: &str = "permissions: at least one permission is required";
/// CEL rule on `clientId`: a UUID in one of the forms reconcile parses (hyphenated, simple,
/// braced, `urn:uuid:`). Deliberately loose about which form: reconcile decides exactly.
pub const CLIENT_ID_RULE: &str = "self.matches('^(urn:uuid:)?[{]?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}[}]?$')";
/// Message of [`CLIENT_ID_RULE`].
pub const CLIENT_ID_MESSAGE: &str = "clientId must be a UUID";
/// CEL rule on `userId`: a UUID or an SAP T-user id (`T` followed by 6-10 digits).
pub const USER_ID_RULE: &str = "self.matches('^T[0-9]{6,10}$') || self.matches('^(urn:uuid:)?[{]?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}[}]?$')";
/// Message of [`USER_ID_RULE`].
pub const USER_ID_MESSAGE: &str =
    "userId must be a UUID or a T-user id (T followed by 6-10 digits)";

/// Desired state of a technical administrator of a tenant.
// Several `printcolumn(...)` entries are intended; clippy reads them as duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "idrelay.dev",
    version = "v1alpha1",
    kind = "TechnicalAdmin",
    namespaced,
    cel,
    status = "TechnicalAdminStatus",
    derive = "PartialEq",
    shortname = "idta",
    category = "idrelay",
    doc = "A technical (system) administrator of a Tenant: permissions, a client id and up to two secrets from Secret keys.",
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
    printcolumn(name = "ClientID", type_ = "string", json_path = ".status.clientId"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TechnicalAdminSpec {
    /// The Tenant (same namespace) this administrator belongs to.
    pub tenant_ref: TenantRef,
    /// Name of the administrator. Cannot be changed after creation (as in SAP).
    #[x_kube(
        validation = Rule::new(DISPLAY_NAME_IMMUTABLE_RULE).message(DISPLAY_NAME_IMMUTABLE_MESSAGE),
        validation = Rule::new(DISPLAY_NAME_RULE).message(DISPLAY_NAME_MESSAGE)
    )]
    #[schemars(length(min = 1, max = 256))]
    pub display_name: String,
    /// Permissions (SAP roles) granted to this administrator; at least one.
    #[serde(default)]
    #[x_kube(validation = Rule::new(PERMISSIONS_RULE).message(PERMISSIONS_MESSAGE))]
    pub permissions: Vec<Permission>,
    /// Client id (a UUID) used to log on. When absent, a stable UUID v5 is derived from
    /// `namespace/tenant/name`, so it survives restarts; the effective value is in `status.clientId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 45))]
    #[x_kube(validation = Rule::new(CLIENT_ID_RULE).message(CLIENT_ID_MESSAGE))]
    pub client_id: Option<String>,
    /// SCIM id of the administrator's technical user. When absent, a stable UUID v5 is derived
    /// from `namespace/tenant/name/user`; the effective value is in `status.userId`. Set: a UUID or
    /// an SAP T-user id (`T` followed by 6-10 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 45))]
    #[x_kube(validation = Rule::new(USER_ID_RULE).message(USER_ID_MESSAGE))]
    pub user_id: Option<String>,
    /// Secrets accepted for this client id (at most 2, to allow rotation), each from a Secret key.
    #[serde(default)]
    #[schemars(length(max = 2))]
    pub secrets: Vec<AdminSecretSpec>,
    /// Lock the client id for 60 minutes after 5 failed logons with secrets. Default false.
    #[serde(default)]
    pub lock_on_failed_logons: bool,
}

/// One secret of a technical administrator.
#[derive(JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminSecretSpec {
    /// The Secret key (same namespace) holding the secret value.
    pub secret_ref: SecretKeyRef,
    /// How long the secret is accepted: `1y`, `2y` or `Never` (default). Counted from the
    /// Secret's `metadata.creationTimestamp`, or, when it has none, from when idrelay first saw
    /// this reference (recorded in `status.secrets[].validFrom`).
    #[serde(default)]
    pub expires_in: SecretExpiry,
    /// Free text describing the secret (who uses it, where it is stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Lifetime of an admin secret, as offered by SAP ("Expire in").
#[derive(JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SecretExpiry {
    /// One year.
    #[serde(rename = "1y")]
    OneYear,
    /// Two years.
    #[serde(rename = "2y")]
    TwoYears,
    /// Never expires.
    #[default]
    Never,
}

impl SecretExpiry {
    /// The lifetime in whole years; `None` for `Never`.
    pub fn years(self) -> Option<i64> {
        match self {
            SecretExpiry::OneYear => Some(1),
            SecretExpiry::TwoYears => Some(2),
            SecretExpiry::Never => None,
        }
    }
}

/// Observed state of a technical administrator. Never holds a secret value.
#[derive(JsonSchema, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TechnicalAdminStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions: `Ready`, `Reconciling`, `Stalled`, `SecretResolved`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::conditions::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The effective client id (from spec, or derived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The effective user id (from spec, or derived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Per secret of the spec, in order: where it comes from and when it expires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<AdminSecretStatus>,
}

/// Observed state of one admin secret (never its value).
#[derive(JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminSecretStatus {
    /// The Secret key this entry describes.
    pub secret_ref: SecretKeyRef,
    /// Whether the Secret key was found.
    pub resolved: bool,
    /// Start of the validity: the Secret's creationTimestamp, else when idrelay first saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Time>,
    /// When the secret stops being accepted; absent when it never expires or is unresolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
}
