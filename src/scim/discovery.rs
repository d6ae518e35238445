//! The discovery documents of RFC 7644 §4 (with the RFC 9865 `pagination` block):
//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas`.
//!
//! Invariants: the documents are derived from the [`SchemaRegistry`] and the configured
//! [`DiscoveryLimits`] only, so what is advertised is what the server enforces; every
//! document carries `schemas` and a `meta` with its `resourceType` and `location`.

use serde_json::{Value, json};

use super::schema::{ResourceType, SchemaRegistry};
use super::urn;

/// How long (seconds) a pagination cursor stays valid; advertised as `cursorTimeout`.
/// The cursor store must honour at least this long.
pub const CURSOR_TIMEOUT_SECS: u64 = 3600;

/// The limits the server enforces and advertises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryLimits {
    /// Bulk: maximum operations per request.
    pub max_operations: usize,
    /// Bulk: maximum request body size in bytes.
    pub max_payload_size: usize,
    /// Filter: maximum number of resources a filtered query returns.
    pub max_results: usize,
    /// Page size when the request has no `count`.
    pub default_page_size: usize,
    /// Largest page size; a larger `count` is reduced to it.
    pub max_page_size: usize,
}

impl Default for DiscoveryLimits {
    fn default() -> Self {
        DiscoveryLimits {
            max_operations: 1000,
            max_payload_size: 1024 * 1024,
            max_results: 1000,
            default_page_size: 100,
            max_page_size: 1000,
        }
    }
}

fn trim_base(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

/// The ServiceProviderConfig document (RFC 7643 §5, RFC 9865 §4), `base_url` being the SCIM
/// base URL such as `https://host/tenants/acme/scim`.
pub fn service_provider_config(base_url: &str, limits: &DiscoveryLimits) -> Value {
    let base = trim_base(base_url);
    json!({
        "schemas": [urn::SERVICE_PROVIDER_CONFIG],
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": limits.max_operations,
            "maxPayloadSize": limits.max_payload_size,
        },
        "filter": {"supported": true, "maxResults": limits.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": limits.default_page_size,
            "maxPageSize": limits.max_page_size,
            "cursorTimeout": CURSOR_TIMEOUT_SECS,
        },
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Bearer token from the tenant's /oauth2/token endpoint (client_credentials)",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "primary": true,
            },
            {
                "type": "httpbasic",
                "name": "HTTP Basic",
                "description": "Client id and secret of a technical administrator",
                "specUri": "https://www.rfc-editor.org/rfc/rfc7617",
            },
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

fn resource_type_json(rt: &ResourceType, base: &str) -> Value {
    let extensions: Vec<Value> = rt
        .extensions
        .iter()
        .map(|e| json!({"schema": e.schema.id, "required": e.required}))
        .collect();
    json!({
        "schemas": [urn::RESOURCE_TYPE],
        "id": rt.name,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base}/ResourceTypes/{}", rt.name),
        },
    })
}

/// Every resource type (`User`, `Group`) as served at `/ResourceTypes`.
pub fn resource_types(base_url: &str) -> Vec<Value> {
    let registry = SchemaRegistry::get();
    let base = trim_base(base_url);
    [&registry.user, &registry.group]
        .into_iter()
        .map(|rt| resource_type_json(rt, base))
        .collect()
}

/// One resource type by name (case-insensitive), as served at `/ResourceTypes/{name}`.
pub fn resource_type(base_url: &str, name: &str) -> Option<Value> {
    let registry = SchemaRegistry::get();
    [&registry.user, &registry.group]
        .into_iter()
        .find(|rt| rt.name.eq_ignore_ascii_case(name))
        .map(|rt| resource_type_json(rt, trim_base(base_url)))
}

/// Every schema as served at `/Schemas`.
pub fn schemas(base_url: &str) -> Vec<Value> {
    let base = trim_base(base_url);
    SchemaRegistry::get()
        .schemas
        .iter()
        .map(|s| SchemaRegistry::schema_json(s, base))
        .collect()
}

/// One schema by URN (case-insensitive), as served at `/Schemas/{id}`.
pub fn schema(base_url: &str, id: &str) -> Option<Value> {
    SchemaRegistry::get()
        .schemas
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
        .map(|s| SchemaRegistry::schema_json(s, trim_base(base_url)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{AttrType, Mutability, Returned, Uniqueness};

    const BASE: &str = "https://h/tenants/acme/scim/";

    #[test]
    fn registry_loads_the_schema_documents() {
        let reg = SchemaRegistry::get();
        assert_eq!(reg.schemas.len(), 7);
        let user = reg.user.schema;
        assert_eq!(user.id, urn::USER);
        assert!(user.attribute("id").is_none() && user.attribute("meta").is_none());
        let user_name = user.attribute("USERNAME").unwrap();
        assert!(user_name.required && !user_name.case_exact);
        assert_eq!(user_name.uniqueness, Uniqueness::Server);
        let password = user.attribute("password").unwrap();
        assert_eq!(
            (password.mutability, password.returned),
            (Mutability::WriteOnly, Returned::Never)
        );
        let groups = user.attribute("groups").unwrap();
        assert!(groups.multi_valued && groups.mutability == Mutability::ReadOnly);
        assert!(groups.sub_attribute("$ref").is_some());
        for name in [
            "emails",
            "phoneNumbers",
            "ims",
            "photos",
            "addresses",
            "entitlements",
            "roles",
            "x509Certificates",
        ] {
            assert!(
                user.attribute(name).is_some_and(|a| a.multi_valued),
                "{name}"
            );
        }
        let group = reg.group.schema;
        let display = group.attribute("displayName").unwrap();
        assert!(display.required && display.uniqueness == Uniqueness::Server);
        let members = group.attribute("members").unwrap();
        assert_eq!(
            members.sub_attribute("value").unwrap().mutability,
            Mutability::Immutable
        );
        assert_eq!(
            members.sub_attribute("display").unwrap().mutability,
            Mutability::ReadOnly
        );
        assert_eq!(
            members.sub_attribute("type").unwrap().canonical_values,
            vec!["User", "Group"]
        );
        let sap = reg
            .user
            .resolve(Some(urn::SAP_USER), "userid")
            .unwrap()
            .attribute;
        assert_eq!(
            (sap.mutability, sap.returned),
            (Mutability::ReadOnly, Returned::Always)
        );
        let status = reg
            .user
            .resolve(Some(urn::SAP_USER), "status")
            .unwrap()
            .attribute;
        assert_eq!(status.canonical_values, vec!["active", "inactive", "new"]);
        let source = reg
            .user
            .resolve(Some(urn::SAP_USER), "sourceSystem")
            .unwrap()
            .attribute;
        assert_eq!(source.attr_type, AttrType::Integer);
        assert!(
            reg.user
                .resolve(Some(urn::SAP_CUSTOM_USER), "customAttribute10")
                .is_some()
        );
        let children = reg
            .group
            .resolve(Some(urn::SAP_GROUP), "children")
            .unwrap()
            .attribute;
        // Deviation from SAP (returned: request), see the schema's description.
        assert_eq!(children.returned, Returned::Default);
        let external = reg
            .group
            .resolve(Some(urn::SAP_GROUP), "externalName")
            .unwrap()
            .attribute;
        assert_eq!(external.mutability, Mutability::Immutable);
        assert!(
            reg.group
                .resolve(Some(urn::SAP_CUSTOM_GROUP), "groupId")
                .is_some()
        );
        let manager = reg
            .user
            .resolve(Some(urn::ENTERPRISE_USER), "manager")
            .unwrap()
            .attribute;
        assert!(!manager.multi_valued && manager.sub_attribute("displayName").is_some());
    }

    #[test]
    fn service_provider_config_advertises_limits() {
        let limits = DiscoveryLimits {
            max_operations: 7,
            ..DiscoveryLimits::default()
        };
        let spc = service_provider_config(BASE, &limits);
        assert_eq!(spc["schemas"][0], urn::SERVICE_PROVIDER_CONFIG);
        assert_eq!(spc["bulk"]["maxOperations"], 7);
        assert_eq!(spc["bulk"]["maxPayloadSize"], 1024 * 1024);
        assert_eq!(spc["filter"]["maxResults"], 1000);
        assert_eq!(spc["pagination"]["defaultPageSize"], 100);
        assert_eq!(spc["pagination"]["maxPageSize"], 1000);
        assert_eq!(spc["changePassword"]["supported"], false);
        assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert_eq!(spc["authenticationSchemes"][1]["type"], "httpbasic");
        assert_eq!(
            spc["meta"]["location"],
            "https://h/tenants/acme/scim/ServiceProviderConfig"
        );
    }

    #[test]
    fn resource_types_and_schemas() {
        let types = resource_types(BASE);
        assert_eq!(types.len(), 2);
        let user = resource_type(BASE, "user").unwrap();
        assert_eq!(user, types[0]);
        assert_eq!(user["endpoint"], "/Users");
        assert_eq!(user["schema"], urn::USER);
        assert_eq!(user["schemaExtensions"].as_array().unwrap().len(), 3);
        assert_eq!(
            user["schemaExtensions"][0],
            json!({"schema": urn::ENTERPRISE_USER, "required": false})
        );
        assert_eq!(
            user["meta"]["location"],
            "https://h/tenants/acme/scim/ResourceTypes/User"
        );
        assert!(resource_type(BASE, "Device").is_none());

        let all = schemas(BASE);
        assert_eq!(all.len(), 7);
        let group = schema(BASE, &urn::GROUP.to_uppercase()).unwrap();
        assert_eq!(group["id"], urn::GROUP);
        assert_eq!(group["schemas"][0], urn::SCHEMA);
        assert_eq!(group["attributes"][0]["name"], "displayName");
        assert_eq!(
            group["meta"]["location"],
            format!("https://h/tenants/acme/scim/Schemas/{}", urn::GROUP)
        );
    }
}
