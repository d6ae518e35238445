//! Schema metadata (RFC 7643 §7): the attribute definitions that drive case rules, mutability,
//! `returned`, uniqueness and type checks. The definitions are the JSON documents in
//! `src/scim/schemas/`, served as-is at `/Schemas` and parsed once into a [`SchemaRegistry`].
//!
//! Invariant: every lookup is case-insensitive on attribute names and schema URNs.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    #[default]
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    #[default]
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    #[default]
    None,
    Server,
    Global,
}

/// One attribute definition (RFC 7643 §7 "attributes").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub attr_type: AttrType,
    #[serde(default)]
    pub multi_valued: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub case_exact: bool,
    #[serde(default)]
    pub mutability: Mutability,
    #[serde(default)]
    pub returned: Returned,
    #[serde(default)]
    pub uniqueness: Uniqueness,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<Attribute>,
}

impl Attribute {
    /// The sub-attribute with this name (case-insensitive).
    pub fn sub_attribute(&self, name: &str) -> Option<&Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// One schema document (RFC 7643 §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub attributes: Vec<Attribute>,
}

impl Schema {
    /// The top-level attribute with this name (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema extension of a resource type.
#[derive(Debug, Clone)]
pub struct SchemaExtension {
    pub schema: &'static Schema,
    pub required: bool,
}

/// A resource type (RFC 7643 §6): `User` or `Group` with their extensions.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// `User` or `Group`.
    pub name: &'static str,
    /// `/Users` or `/Groups`.
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static Schema,
    pub extensions: Vec<SchemaExtension>,
}

/// Where an attribute lives: its schema (core or extension) and its definition.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttribute<'a> {
    pub schema: &'a Schema,
    /// `true` when `schema` is an extension (the attribute lives under the URN key).
    pub in_extension: bool,
    pub attribute: &'a Attribute,
}

impl ResourceType {
    /// Every schema of this type, core first.
    pub fn schemas(&self) -> impl Iterator<Item = &'static Schema> + '_ {
        std::iter::once(self.schema).chain(self.extensions.iter().map(|e| e.schema))
    }

    /// The extension schema with this URN (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<&'static Schema> {
        self.extensions
            .iter()
            .map(|e| e.schema)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Resolves a top-level attribute name, optionally qualified by a schema URN.
    /// `urn == None` looks in the core schema only (RFC 7644 §3.10: unqualified names are core).
    pub fn resolve(&self, urn: Option<&str>, name: &str) -> Option<ResolvedAttribute<'static>> {
        match urn {
            None => self
                .schema
                .attribute(name)
                .map(|attribute| ResolvedAttribute {
                    schema: self.schema,
                    in_extension: false,
                    attribute,
                }),
            Some(urn) if urn.eq_ignore_ascii_case(&self.schema.id) => self.resolve(None, name),
            Some(urn) => {
                let schema = self.extension(urn)?;
                schema.attribute(name).map(|attribute| ResolvedAttribute {
                    schema,
                    in_extension: true,
                    attribute,
                })
            }
        }
    }

    /// Splits a fully qualified attribute reference such as
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber` into
    /// (schema URN, remainder) when it starts with one of this type's schema URNs.
    pub fn split_urn<'p>(&self, path: &'p str) -> Option<(&'static Schema, &'p str)> {
        self.schemas().find_map(|s| {
            let id = s.id.as_str();
            if path.len() > id.len()
                && path[..id.len()].eq_ignore_ascii_case(id)
                && path.as_bytes()[id.len()] == b':'
            {
                Some((s, &path[id.len() + 1..]))
            } else {
                None
            }
        })
    }
}

/// All schemas and resource types the directory serves.
#[derive(Debug)]
pub struct SchemaRegistry {
    pub schemas: Vec<&'static Schema>,
    pub user: ResourceType,
    pub group: ResourceType,
}

const SCHEMA_SOURCES: &[&str] = &[
    include_str!("schemas/user.json"),
    include_str!("schemas/enterprise_user.json"),
    include_str!("schemas/sap_user.json"),
    include_str!("schemas/sap_custom_user.json"),
    include_str!("schemas/group.json"),
    include_str!("schemas/sap_group.json"),
    include_str!("schemas/sap_custom_group.json"),
];

fn load_schema(source: &str) -> &'static Schema {
    // The sources are compiled in and covered by tests; a parse failure is a build defect.
    let schema: Schema = match serde_json::from_str(source) {
        Ok(s) => s,
        Err(e) => panic!("embedded SCIM schema does not parse: {e}"),
    };
    Box::leak(Box::new(schema))
}

impl SchemaRegistry {
    /// The process-wide registry (parsed once).
    pub fn get() -> &'static SchemaRegistry {
        static REGISTRY: OnceLock<SchemaRegistry> = OnceLock::new();
        REGISTRY.get_or_init(|| {
            let schemas: Vec<&'static Schema> =
                SCHEMA_SOURCES.iter().map(|s| load_schema(s)).collect();
            let find = |urn: &str| -> &'static Schema {
                match schemas.iter().find(|s| s.id == urn) {
                    Some(s) => s,
                    None => panic!("embedded SCIM schema {urn} missing"),
                }
            };
            use super::urn;
            let user = ResourceType {
                name: "User",
                endpoint: "/Users",
                description: "User Account",
                schema: find(urn::USER),
                extensions: vec![
                    SchemaExtension {
                        schema: find(urn::ENTERPRISE_USER),
                        required: false,
                    },
                    SchemaExtension {
                        schema: find(urn::SAP_USER),
                        required: false,
                    },
                    SchemaExtension {
                        schema: find(urn::SAP_CUSTOM_USER),
                        required: false,
                    },
                ],
            };
            let group = ResourceType {
                name: "Group",
                endpoint: "/Groups",
                description: "Group",
                schema: find(urn::GROUP),
                extensions: vec![
                    SchemaExtension {
                        schema: find(urn::SAP_GROUP),
                        required: false,
                    },
                    SchemaExtension {
                        schema: find(urn::SAP_CUSTOM_GROUP),
                        required: false,
                    },
                ],
            };
            SchemaRegistry {
                schemas,
                user,
                group,
            }
        })
    }

    /// The `/Schemas` representation of one schema (with `meta`), `base` being the SCIM base URL.
    pub fn schema_json(schema: &Schema, base: &str) -> Value {
        let mut v = serde_json::to_value(schema).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "schemas".into(),
                Value::Array(vec![super::urn::SCHEMA.into()]),
            );
            obj.insert(
                "meta".into(),
                serde_json::json!({
                    "resourceType": "Schema",
                    "location": format!("{base}/Schemas/{}", schema.id),
                }),
            );
        }
        v
    }
}
