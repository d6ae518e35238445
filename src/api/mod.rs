//! The declarative API: Kubernetes custom resources of group `idrelay.dev`, version `v1alpha1`.
//!
//! One file per kind ([`tenant`], [`technical_admin`], [`source_system`], [`target_system`]),
//! outbound authentication of systems ([`outbound_auth`]), shared references ([`refs`]), condition
//! helpers ([`conditions`]) and the generated CRDs ([`crds`]). These types are the only source of
//! configuration for both drivers (files and operator).

pub mod conditions;
pub mod crds;
pub mod outbound_auth;
pub mod permission;
pub mod real_time_target;
pub mod refs;
pub mod source_system;
pub mod target_system;
pub mod technical_admin;
pub mod tenant;

pub use outbound_auth::{
    BasicAuth, BearerTokenAuth, ClientCertificateAuth, OAuthClientCredentials,
    OutboundAuthentication,
};
pub use permission::Permission;
pub use real_time_target::{
    RealTimeAuthentication, RealTimeTarget, RealTimeTargetSpec, RealTimeTargetStatus,
    RealTimeTargetType,
};
pub use refs::{SecretKeyRef, TenantRef};
pub use source_system::{
    RealTimeUrls, SourceSystem, SourceSystemSpec, SourceSystemStatus, SystemType,
};
pub use target_system::{SourceSystemRef, TargetSystem, TargetSystemSpec, TargetSystemStatus};
pub use technical_admin::{
    AdminSecretSpec, AdminSecretStatus, SecretExpiry, TechnicalAdmin, TechnicalAdminSpec,
    TechnicalAdminStatus,
};
pub use tenant::{Tenant, TenantSpec, TenantStatus};

/// API group of every idrelay resource.
pub const GROUP: &str = "idrelay.dev";
/// API version of every idrelay resource.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every idrelay resource.
pub const API_VERSION: &str = "idrelay.dev/v1alpha1";
