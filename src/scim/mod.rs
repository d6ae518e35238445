//! The SCIM 2.0 protocol library (RFC 7643, RFC 7644, RFC 9865 cursors) plus the SAP schema
//! extensions. Pure: no I/O, no HTTP framework types except the error's status code.
//!
//! Invariants:
//! - Attribute names and schema URNs are matched case-insensitively; string values follow the
//!   attribute's `caseExact`.
//! - Every failure is a [`ScimError`] carrying the HTTP status and `scimType` to answer with.

pub mod discovery;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;
pub mod sort;
pub mod v1;

pub use error::{ScimError, ScimType};

/// Schema URN constants.
pub mod urn {
    pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
    pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    pub const SAP_USER: &str = "urn:ietf:params:scim:schemas:extension:sap:2.0:User";
    pub const SAP_CUSTOM_USER: &str = "urn:sap:cloud:scim:schemas:extension:custom:2.0:User";
    pub const SAP_GROUP: &str = "urn:ietf:params:scim:schemas:extension:sap:2.0:Group";
    pub const SAP_CUSTOM_GROUP: &str = "urn:sap:cloud:scim:schemas:extension:custom:2.0:Group";
    pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
    pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
    pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
    pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
    pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
    pub const SERVICE_PROVIDER_CONFIG: &str =
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
    pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
    pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
}

/// The media type of every SCIM response body.
pub const SCIM_MEDIA_TYPE: &str = "application/scim+json";
