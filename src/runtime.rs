//! The running runtime: what the drivers (files, operator) configure and what the HTTP server
//! serves. It holds the desired configuration (tenants, technical admins) computed by
//! `reconcile`, the store, and one [`Directory`](crate::directory::Directory) per tenant.
//!
//! Invariant (architecture §5.4): configuration comes only from the resources; the store holds
//! data. Applying the same [`RuntimeConfig`] twice is a no-op.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use crate::api::Permission;

/// Everything the runtime needs to serve, computed by reconcile from the resources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeConfig {
    /// By tenant name (the `/tenants/{name}` path segment).
    pub tenants: BTreeMap<String, TenantConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TenantConfig {
    pub name: String,
    /// Host names that reach this tenant at the root paths (`https://<host>/scim/Users`).
    pub hosts: Vec<String>,
    /// Technical admins by client id.
    pub admins: BTreeMap<String, AdminConfig>,
}

/// A technical administrator as the runtime authenticates it.
#[derive(Clone, PartialEq)]
pub struct AdminConfig {
    /// `namespace/name` of the resource.
    pub resource: String,
    pub display_name: String,
    pub client_id: String,
    pub user_id: String,
    pub permissions: BTreeSet<Permission>,
    /// Resolved secrets (at most 2).
    pub secrets: Vec<AdminSecret>,
    /// Lock the client id for 60 minutes after 5 failed logons with secrets.
    pub lock_after_failed_logons: bool,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("resource", &self.resource)
            .field("display_name", &self.display_name)
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .field("permissions", &self.permissions)
            .field("secrets", &self.secrets.len())
            .field("lock_after_failed_logons", &self.lock_after_failed_logons)
            .finish()
    }
}

/// One admin secret: the value and when it stops being accepted.
#[derive(Clone, PartialEq)]
pub struct AdminSecret {
    pub value: String,
    /// `None` = never expires.
    pub expires_at: Option<jiff::Timestamp>,
}

impl std::fmt::Debug for AdminSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSecret").field("value", &"<redacted>").field("expires_at", &self.expires_at).finish()
    }
}
