//! `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) and the `returned` rules of the
//! schema: `always` attributes are never removed, `never` attributes (password) never leave,
//! `request` attributes only when asked for.
//!
//! Invariants:
//! - the paths of a parsed [`Projection`] carry canonical attribute names; names this resource
//!   type does not know are ignored (RFC 7644 §3.4.2.5), so parsing never fails;
//! - [`Projection::apply`] never outputs a `returned: never` attribute, always keeps `schemas`
//!   and every `returned: always` attribute (`id`, SAP `userId`), and removes extension
//!   objects and complex values that the projection left empty.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::ScimError;
use super::path::AttrPath;
use super::resource::lookup_attribute;
use super::schema::{AttrType, Attribute, ResourceType, Returned, Schema, SchemaRegistry};

/// A parsed projection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

/// How much of one attribute a list of paths names.
#[derive(Debug, PartialEq)]
enum Selection<'p> {
    None,
    Whole,
    Subs(Vec<&'p str>),
}

impl Projection {
    /// Parses the comma-separated query parameters (either may be absent).
    ///
    /// Each item is `[URN:]attr[.sub]` or a bare extension URN (which names every attribute of
    /// that extension). Unknown or malformed names are ignored, so this never fails today; the
    /// `Result` leaves room for stricter rules.
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
        rt: &ResourceType,
    ) -> Result<Self, ScimError> {
        Ok(Projection {
            attributes: parse_list(attributes.unwrap_or(""), rt),
            excluded: parse_list(excluded.unwrap_or(""), rt),
        })
    }

    /// The same from the string arrays of a SearchRequest body.
    pub fn from_lists(
        attributes: &[String],
        excluded: &[String],
        rt: &ResourceType,
    ) -> Result<Self, ScimError> {
        Self::parse(Some(&attributes.join(",")), Some(&excluded.join(",")), rt)
    }

    /// Whether nothing is projected (only the `returned` rules apply).
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }

    /// Whether `attributes` names this attribute (or one of its sub-attributes);
    /// `urn` is `None` for the core schema. Used for `returned: request` decisions such as the
    /// SAP group `children`.
    pub fn requests(&self, urn: Option<&str>, name: &str) -> bool {
        selection(&self.attributes, urn, name) != Selection::None
    }

    /// Applies the projection to a full resource (with `id`, `meta`, `schemas`, extension
    /// objects, `groups` or `members`).
    pub fn apply(&self, resource: &Value, rt: &ResourceType) -> Value {
        let Value::Object(map) = resource else {
            return resource.clone();
        };
        let mut out = Map::new();
        for (key, value) in map {
            if key.eq_ignore_ascii_case("schemas") {
                out.insert(key.clone(), value.clone());
                continue;
            }
            if let Some(schema) = rt.extension(key) {
                if let Some(v) = self.project_extension(schema, value) {
                    out.insert(key.clone(), v);
                }
                continue;
            }
            let attr = lookup_attribute(rt.schema, true, key);
            if let Some(v) = self.project(None, attr, key, value) {
                out.insert(key.clone(), v);
            }
        }
        Value::Object(out)
    }

    fn project_extension(&self, schema: &Schema, value: &Value) -> Option<Value> {
        let Value::Object(ext) = value else {
            return None;
        };
        let out: Map<String, Value> = ext
            .iter()
            .filter_map(|(k, v)| {
                let attr = lookup_attribute(schema, false, k);
                self.project(Some(&schema.id), attr, k, v)
                    .map(|v| (k.clone(), v))
            })
            .collect();
        (!out.is_empty()).then_some(Value::Object(out))
    }

    /// Projects one top-level attribute; `None` removes it.
    fn project(
        &self,
        urn: Option<&str>,
        attr: Option<&Attribute>,
        key: &str,
        value: &Value,
    ) -> Option<Value> {
        let returned = attr.map_or(Returned::Default, |a| a.returned);
        if returned == Returned::Never {
            return None;
        }
        let name = attr.map_or(key, |a| a.name.as_str());
        let mut v = value.clone();
        retain_subs(attr, &mut v, |sub| {
            sub.is_none_or(|s| s.returned != Returned::Never)
        });
        if returned == Returned::Always {
            return non_empty(v);
        }
        let requested = selection(&self.attributes, urn, name);
        if !self.attributes.is_empty() || returned == Returned::Request {
            match &requested {
                Selection::None => {
                    // Only sub-attributes that are always returned survive.
                    if attr.is_none_or(|a| a.attr_type != AttrType::Complex) {
                        return None;
                    }
                    retain_subs(attr, &mut v, |sub| {
                        sub.is_some_and(|s| s.returned == Returned::Always)
                    });
                }
                Selection::Whole => {}
                Selection::Subs(names) => retain_subs(attr, &mut v, |sub| {
                    sub.is_some_and(|s| {
                        s.returned == Returned::Always
                            || names.iter().any(|n| n.eq_ignore_ascii_case(&s.name))
                    })
                }),
            }
        }
        match selection(&self.excluded, urn, name) {
            Selection::None => {}
            Selection::Whole => {
                retain_subs(attr, &mut v, |sub| {
                    sub.is_some_and(|s| s.returned == Returned::Always)
                });
                if attr.is_none_or(|a| a.attr_type != AttrType::Complex) {
                    return None;
                }
            }
            Selection::Subs(names) => retain_subs(attr, &mut v, |sub| {
                sub.is_none_or(|s| {
                    s.returned == Returned::Always
                        || !names.iter().any(|n| n.eq_ignore_ascii_case(&s.name))
                })
            }),
        }
        non_empty(v)
    }
}

/// The quoted, lowercased names of the attributes and sub-attributes (any schema of `rt`) that
/// an empty projection removes: `returned: never` and `returned: request`.
fn hidden_by_default(rt: &ResourceType) -> Vec<String> {
    let mut names = Vec::new();
    let mut visit = |attr: &Attribute| {
        if matches!(attr.returned, Returned::Never | Returned::Request) {
            names.push(format!("\"{}\"", attr.name.to_ascii_lowercase()));
        }
    };
    for schema in rt.schemas() {
        for attr in &schema.attributes {
            visit(attr);
            attr.sub_attributes.iter().for_each(&mut visit);
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Whether the empty projection keeps every member of a resource's JSON text unchanged, judged
/// conservatively from the text alone: no `returned: never`/`request` attribute name of `rt`
/// appears as a JSON string anywhere (case-insensitively) and no empty object or array does
/// (the projection drops those). `false` only means "use [`Projection::apply`]".
pub fn default_keeps_text(json_text: &str, rt: &ResourceType) -> bool {
    static HIDDEN: OnceLock<Vec<(&'static str, Vec<String>)>> = OnceLock::new();
    let hidden = HIDDEN.get_or_init(|| {
        let registry = SchemaRegistry::get();
        [&registry.user, &registry.group]
            .into_iter()
            .map(|rt| (rt.name, hidden_by_default(rt)))
            .collect()
    });
    if json_text.contains("{}") || json_text.contains("[]") {
        return false;
    }
    let lower = json_text.to_ascii_lowercase();
    let names = hidden.iter().find(|(name, _)| *name == rt.name);
    match names {
        Some((_, names)) => !names.iter().any(|n| lower.contains(n.as_str())),
        None => !hidden_by_default(rt)
            .iter()
            .any(|n| lower.contains(n.as_str())),
    }
}

/// `None` for an empty object or array (and for arrays whose elements all became empty).
fn non_empty(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) if m.is_empty() => None,
        Value::Array(items) => {
            let items: Vec<Value> = items
                .into_iter()
                .filter(|i| !matches!(i, Value::Object(m) if m.is_empty()))
                .collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        other => Some(other),
    }
}

/// Keeps the sub-attributes of a complex value (or of each element of a multi-valued one) for
/// which `keep(definition)` holds. Does nothing for simple attributes.
fn retain_subs(
    attr: Option<&Attribute>,
    value: &mut Value,
    keep: impl Fn(Option<&Attribute>) -> bool,
) {
    let Some(attr) = attr.filter(|a| a.attr_type == AttrType::Complex) else {
        return;
    };
    let apply = |v: &mut Value| {
        if let Value::Object(m) = v {
            m.retain(|k, _| keep(attr.sub_attribute(k)));
        }
    };
    match value {
        Value::Array(items) => items.iter_mut().for_each(apply),
        other => apply(other),
    }
}

/// What `paths` name of the attribute `name` in the schema `urn` (`None` = core).
fn selection<'p>(paths: &'p [AttrPath], urn: Option<&str>, name: &str) -> Selection<'p> {
    let mut subs = Vec::new();
    for p in paths {
        let same_schema = match (p.urn.as_deref(), urn) {
            (None, None) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        };
        if !same_schema || !p.attr.eq_ignore_ascii_case(name) {
            continue;
        }
        match &p.sub {
            None => return Selection::Whole,
            Some(sub) => subs.push(sub.as_str()),
        }
    }
    if subs.is_empty() {
        Selection::None
    } else {
        Selection::Subs(subs)
    }
}

/// Parses a comma-separated attribute list into canonical paths, ignoring unknown names.
fn parse_list(text: &str, rt: &ResourceType) -> Vec<AttrPath> {
    let mut out: Vec<AttrPath> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let resolved: Vec<AttrPath> = if let Some(schema) = rt.extension(item) {
            // A bare extension URN names the whole extension.
            schema
                .attributes
                .iter()
                .map(|a| AttrPath {
                    urn: Some(schema.id.clone()),
                    attr: a.name.clone(),
                    sub: None,
                })
                .collect()
        } else if let Some((schema, rest)) = rt.split_urn(item) {
            let is_core = std::ptr::eq(schema, rt.schema);
            resolve(schema, is_core, rest).into_iter().collect()
        } else if item.len() >= 4 && item[..4].eq_ignore_ascii_case("urn:") {
            Vec::new()
        } else {
            resolve(rt.schema, true, item).into_iter().collect()
        };
        for p in resolved {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Resolves `attr[.sub]` against one schema to canonical names.
fn resolve(schema: &Schema, is_core: bool, path: &str) -> Option<AttrPath> {
    let (name, sub) = match path.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (path, None),
    };
    let attr = lookup_attribute(schema, is_core, name)?;
    let sub = match sub {
        None => None,
        Some(sub) => Some(attr.sub_attribute(sub)?.name.clone()),
    };
    Some(AttrPath {
        urn: (!is_core).then(|| schema.id.clone()),
        attr: attr.name.clone(),
        sub,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::SchemaRegistry;
    use crate::scim::urn;
    use serde_json::json;

    #[test]
    fn default_keeps_text_refuses_hidden_names_and_empty_values() {
        let rt = &SchemaRegistry::get().user;
        assert!(default_keeps_text(
            r#"{"schemas":["x"],"userName":"a","emails":[{"value":"a@b"}]}"#,
            rt
        ));
        for text in [
            r#"{"userName":"a","Password":"s"}"#,
            r#"{"userName":"a","urn:ietf:params:scim:schemas:extension:sap:2.0:User":{"sendMail":true}}"#,
            r#"{"userName":"a","emails":[]}"#,
            r#"{"userName":"a","name":{}}"#,
        ] {
            assert!(!default_keeps_text(text, rt), "{text}");
        }
    }

    fn user_resource() -> Value {
        json!({
            "schemas": [urn::USER, urn::ENTERPRISE_USER, urn::SAP_USER],
            "id": "u-1",
            "externalId": "e-1",
            "userName": "alice",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "password": "secret",
            "emails": [{"value": "a@x", "type": "work", "primary": true}],
            "groups": [{"value": "g-1", "display": "Admins"}],
            urn::ENTERPRISE_USER: {"department": "R&D", "employeeNumber": "7"},
            urn::SAP_USER: {"userId": "P000001", "status": "active", "sendMail": true},
            "meta": {"resourceType": "User", "location": "https://h/scim/Users/u-1", "version": "W/\"1\""}
        })
    }

    fn project(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        let rt = &SchemaRegistry::get().user;
        Projection::parse(attributes, excluded, rt)
            .unwrap()
            .apply(&user_resource(), rt)
    }

    #[test]
    fn parse_canonicalises_and_ignores_unknown_names() {
        let rt = &SchemaRegistry::get().user;
        let p = Projection::parse(
            Some("USERNAME, name.GIVENNAME,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Department,bogus,urn:x:y:z,emails[type,"),
            None,
            rt,
        )
        .unwrap();
        assert_eq!(
            p.attributes,
            vec![
                AttrPath {
                    urn: None,
                    attr: "userName".into(),
                    sub: None
                },
                AttrPath {
                    urn: None,
                    attr: "name".into(),
                    sub: Some("givenName".into())
                },
                AttrPath {
                    urn: Some(urn::ENTERPRISE_USER.into()),
                    attr: "department".into(),
                    sub: None
                },
            ]
        );
        assert!(p.requests(Some(&urn::ENTERPRISE_USER.to_lowercase()), "DEPARTMENT"));
        assert!(!p.requests(None, "emails"));
    }

    #[test]
    fn no_projection_applies_returned_rules_only() {
        let out = project(None, None);
        let mut expected = user_resource();
        let obj = expected.as_object_mut().unwrap();
        obj.remove("password");
        obj[urn::SAP_USER]
            .as_object_mut()
            .unwrap()
            .remove("sendMail");
        assert_eq!(out, expected);
    }

    #[test]
    fn attributes_user_name_keeps_id_and_schemas() {
        let out = project(Some("userName"), None);
        assert_eq!(
            out,
            json!({
                "schemas": [urn::USER, urn::ENTERPRISE_USER, urn::SAP_USER],
                "id": "u-1",
                "userName": "alice",
                urn::SAP_USER: {"userId": "P000001"}
            })
        );
    }

    #[test]
    fn password_is_never_returned_even_when_asked_for() {
        let out = project(Some("password,userName"), None);
        assert!(out.get("password").is_none());
        assert_eq!(out["userName"], "alice");
    }

    #[test]
    fn sub_attributes_and_extension_urns() {
        let out = project(
            Some(
                "name.givenName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            ),
            None,
        );
        assert_eq!(out["name"], json!({"givenName": "Alice"}));
        assert_eq!(out["emails"], json!([{"value": "a@x"}]));
        assert_eq!(
            out[urn::ENTERPRISE_USER],
            json!({"department": "R&D", "employeeNumber": "7"})
        );
        assert!(out.get("meta").is_none());
        let out = project(Some("meta.location"), None);
        assert_eq!(out["meta"], json!({"location": "https://h/scim/Users/u-1"}));
    }

    #[test]
    fn excluded_attributes() {
        let out = project(
            None,
            Some(
                "groups,name.familyName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,employeeNumber,id,meta",
            ),
        );
        assert!(out.get("groups").is_none());
        assert!(out.get("meta").is_none());
        assert_eq!(out["id"], "u-1", "id is returned always");
        assert_eq!(out["name"], json!({"givenName": "Alice"}));
        // employeeNumber is not a core attribute: unqualified names are core only.
        assert_eq!(out[urn::ENTERPRISE_USER], json!({"employeeNumber": "7"}));
        let out = project(
            None,
            Some(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            ),
        );
        assert!(
            out.get(urn::ENTERPRISE_USER).is_none(),
            "emptied extension removed"
        );
    }

    #[test]
    fn excluded_members_on_groups_and_children_by_default() {
        let rt = &SchemaRegistry::get().group;
        let group = json!({
            "schemas": [urn::GROUP, urn::SAP_GROUP],
            "id": "g-1",
            "displayName": "Admins",
            "members": [{"value": "u-1", "type": "User"}],
            urn::SAP_GROUP: {"type": "userGroup", "children": [{"value": "g-2"}]},
            "meta": {"resourceType": "Group"}
        });
        let out = Projection::parse(None, Some("members"), rt)
            .unwrap()
            .apply(&group, rt);
        assert_eq!(
            out,
            json!({
                "schemas": [urn::GROUP, urn::SAP_GROUP],
                "id": "g-1",
                "displayName": "Admins",
                // `children` is `returned: default` in idrelay (SAP: on request only).
                urn::SAP_GROUP: {"type": "userGroup", "children": [{"value": "g-2"}]},
                "meta": {"resourceType": "Group"}
            })
        );
        let p = Projection::parse(
            Some("displayName,urn:ietf:params:scim:schemas:extension:sap:2.0:Group:children"),
            None,
            rt,
        )
        .unwrap();
        assert!(p.requests(Some(urn::SAP_GROUP), "children"));
        let out = p.apply(&group, rt);
        assert_eq!(out[urn::SAP_GROUP], json!({"children": [{"value": "g-2"}]}));
        assert!(out.get("members").is_none());
    }
}
