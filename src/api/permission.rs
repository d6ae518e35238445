//! The permissions a technical administrator can hold (SAP's role list, spec/domain.md §1.2).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A permission (SAP "role") of a technical administrator.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Permission {
    ManageApplications,
    ManageCorporateIdentityProviders,
    ManageUsers,
    ReadUsers,
    ManageGroups,
    ManageTenantConfiguration,
    AccessProxySystemAPI,
    AccessRealTimeProvisioningAPI,
    AccessIdentityProvisioningTenantAdminAPI,
}
