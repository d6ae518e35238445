//! The per-tenant identity directory: users, groups and memberships, kept in memory for reads
//! and written through the store with group commit. The SCIM handlers (v2 now, v1 and CSV
//! later) sit on top of [`Directory`].
//!
//! Invariants:
//! - A write is acknowledged only after its transaction (rows + change record) is committed.
//! - Readers see committed state only (snapshots are published after the commit).
//! - Every write records its [`Origin`] in the change log, in the same transaction.

use std::fmt;

mod bulk;
pub mod csv_import;
mod hashed_index;
mod keys;
pub mod legacy_ids;
mod ops;
mod query;
mod resource;
pub mod scim_v1;
pub mod scim_v2;
mod service;
pub mod state;
mod write_only;
mod writer;

#[cfg(test)]
mod tests;

pub use bulk::{BulkMethod, BulkOp, BulkOpResult};
pub use query::{ListPage, ListQuery, Paging};
pub use resource::Resource;
pub use service::Directory;
pub use writer::{MAX_BATCH, WriterHandle};

/// Who made a directory change. Real-time provisioning uses it to prevent loops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The admin API / console.
    AdminApi,
    /// SCIM API v1 (`/service/scim`).
    ScimV1,
    /// SCIM API v2 (`/scim`).
    ScimV2,
    /// CSV import.
    Csv,
    /// A provisioning job of the named system.
    ProvisioningJob { system_id: String },
}

impl Origin {
    /// The stored form: `admin`, `scim-v1`, `scim-v2`, `csv`, `job:<system id>`.
    pub fn as_stored(&self) -> String {
        match self {
            Origin::AdminApi => "admin".into(),
            Origin::ScimV1 => "scim-v1".into(),
            Origin::ScimV2 => "scim-v2".into(),
            Origin::Csv => "csv".into(),
            Origin::ProvisioningJob { system_id } => format!("job:{system_id}"),
        }
    }

    /// Parses the stored form.
    pub fn from_stored(s: &str) -> Option<Origin> {
        Some(match s {
            "admin" => Origin::AdminApi,
            "scim-v1" => Origin::ScimV1,
            "scim-v2" => Origin::ScimV2,
            "csv" => Origin::Csv,
            other => Origin::ProvisioningJob {
                system_id: other.strip_prefix("job:")?.to_string(),
            },
        })
    }
}

/// The two resource kinds of the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn resource_type(self) -> &'static crate::scim::schema::ResourceType {
        let reg = crate::scim::schema::SchemaRegistry::get();
        match self {
            Kind::User => &reg.user,
            Kind::Group => &reg.group,
        }
    }

    /// The resource type name, `User` or `Group`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
