//! The authenticated technical administrator of a request and its permission check.
//!
//! Invariant: a [`Principal`] only exists after successful authentication against the current
//! configuration of its tenant; its permissions are a copy of that configuration.

use std::collections::BTreeSet;

use crate::api::Permission;
use crate::runtime::AdminConfig;
use crate::scim::error::ScimError;

/// Who is calling: a technical administrator of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: String,
    pub client_id: String,
    pub user_id: String,
    pub display_name: String,
    pub permissions: BTreeSet<Permission>,
}

impl Principal {
    /// The principal of `admin` in `tenant`.
    pub fn from_admin(tenant: &str, admin: &AdminConfig) -> Self {
        Principal {
            tenant: tenant.to_string(),
            client_id: admin.client_id.clone(),
            user_id: admin.user_id.clone(),
            display_name: admin.display_name.clone(),
            permissions: admin.permissions.clone(),
        }
    }

    /// Whether the principal holds `permission`.
    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// `Ok` when the principal holds at least one of `any_of`; otherwise a 403 SCIM error naming
    /// the missing permission(s), e.g. "technical admin lacks ManageUsers". An empty list is `Ok`.
    pub fn require_any(&self, any_of: &[Permission]) -> Result<(), ScimError> {
        if any_of.is_empty() || any_of.iter().any(|p| self.has(*p)) {
            return Ok(());
        }
        let names: Vec<String> = any_of.iter().map(|p| format!("{p:?}")).collect();
        Err(ScimError::forbidden(format!(
            "technical admin lacks {}",
            names.join(" or ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(perms: &[Permission]) -> Principal {
        Principal {
            tenant: "acme".into(),
            client_id: "c".into(),
            user_id: "u".into(),
            display_name: "Provisioner".into(),
            permissions: perms.iter().copied().collect(),
        }
    }

    #[test]
    fn require_any_accepts_one_of() {
        let p = principal(&[Permission::ReadUsers]);
        assert!(
            p.require_any(&[Permission::ReadUsers, Permission::ManageUsers])
                .is_ok()
        );
        assert!(p.require_any(&[]).is_ok());
    }

    #[test]
    fn require_any_names_missing_permission() {
        let p = principal(&[Permission::ReadUsers]);
        let err = p.require_any(&[Permission::ManageUsers]).unwrap_err();
        assert_eq!(err.status, 403);
        assert_eq!(err.detail, "technical admin lacks ManageUsers");
        let err = principal(&[])
            .require_any(&[Permission::ReadUsers, Permission::ManageUsers])
            .unwrap_err();
        assert_eq!(err.detail, "technical admin lacks ReadUsers or ManageUsers");
    }
}
