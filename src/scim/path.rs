//! Attribute paths (RFC 7644 §3.10 and the PATCH `path` grammar of §3.5.2):
//! `[URN:]attr[.subAttr]` and `attr[valueFilter][.subAttr]`, plus the resolution of a path to
//! its attribute definition and to its values inside a resource's JSON form.
//!
//! Invariants:
//! - The URN, when given, is split off against the resource type's own schema URNs (an
//!   extension URN contains dots and colons, so it cannot be parsed without the registry).
//!   The core schema URN is normalised away (`urn == None`).
//! - Names are canonicalised to the schema's spelling whenever they resolve.
//! - The common attributes `id`, `externalId`, `meta` (and `schemas`) are not in the schema
//!   documents; they are described here by [`common_attribute`].
//! - Unqualified names resolve in the core schema first, then the common attributes, then
//!   (leniently, for clients that omit the URN) in exactly one extension that defines them.

use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::ScimError;
use super::filter::{Filter, FilterLimits, parse_value_filter};
use super::schema::{AttrType, Attribute, Mutability, ResourceType, Returned, Uniqueness};

/// A plain attribute reference: optional schema URN, attribute, optional sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// The schema URN when the path was qualified and the URN is not the core schema.
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

/// A PATCH path: an attribute, an optional value filter on it, an optional sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub urn: Option<String>,
    pub attr: String,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

/// A resolved top-level attribute: its definition and where its value lives.
#[derive(Debug, Clone, Copy)]
pub struct TopAttribute {
    pub attribute: &'static Attribute,
    /// The extension URN whose object holds the attribute (`None` for core and common ones).
    pub extension: Option<&'static str>,
}

/// Parses `[URN:]attr[.sub]`. Unknown attributes are accepted (check [`AttrPath::top`]);
/// malformed names are 400 `invalidPath`.
pub fn parse_attr_path(text: &str, rt: &ResourceType) -> Result<AttrPath, ScimError> {
    parse_attr_path_raw(text, rt).map_err(ScimError::invalid_path)
}

/// Parses a PATCH `path`, including value filters such as `emails[type eq "work"].value`.
/// Every attribute must resolve (else 400 `invalidPath`).
pub fn parse_patch_path(text: &str, rt: &ResourceType) -> Result<PatchPath, ScimError> {
    let text = text.trim();
    let Some(open) = text.find('[') else {
        let path = parse_attr_path(text, rt)?;
        let top = path
            .top(rt)
            .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute '{text}'")))?;
        if let Some(sub) = &path.sub {
            check_sub(top.attribute, sub, text)?;
        }
        return Ok(PatchPath {
            urn: path.urn,
            attr: path.attr,
            filter: None,
            sub: path.sub,
        });
    };
    let close = matching_bracket(text, open)
        .ok_or_else(|| ScimError::invalid_path(format!("unbalanced '[' in path '{text}'")))?;
    let base = parse_attr_path(&text[..open], rt)?;
    if base.sub.is_some() {
        return Err(ScimError::invalid_path(format!(
            "a value filter must follow a top-level attribute in '{text}'"
        )));
    }
    let top = base
        .top(rt)
        .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute '{}'", &text[..open])))?;
    if !top.attribute.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "value filter on single-valued attribute '{}'",
            top.attribute.name
        )));
    }
    let filter = parse_value_filter(
        &text[open + 1..close],
        top.attribute,
        &FilterLimits::default(),
    )
    .map_err(|e| {
        ScimError::invalid_path(format!("invalid value filter in '{text}': {}", e.detail))
    })?;
    let rest = &text[close + 1..];
    let sub = if rest.is_empty() {
        None
    } else if let Some(name) = rest.strip_prefix('.') {
        check_name(name).map_err(ScimError::invalid_path)?;
        Some(check_sub(top.attribute, name, text)?)
    } else {
        return Err(ScimError::invalid_path(format!(
            "unexpected '{rest}' after value filter in '{text}'"
        )));
    };
    Ok(PatchPath {
        urn: base.urn,
        attr: base.attr,
        filter: Some(filter),
        sub,
    })
}

/// The canonical sub-attribute name of `parent`, or 400 `invalidPath`.
fn check_sub(parent: &Attribute, sub: &str, text: &str) -> Result<String, ScimError> {
    if parent.attr_type != AttrType::Complex {
        return Err(ScimError::invalid_path(format!(
            "'{}' has no sub-attributes (path '{text}')",
            parent.name
        )));
    }
    parent
        .sub_attribute(sub)
        .map(|a| a.name.clone())
        .ok_or_else(|| {
            ScimError::invalid_path(format!(
                "unknown sub-attribute '{sub}' of '{}'",
                parent.name
            ))
        })
}

/// The index of the `]` matching the `[` at `open`, skipping quoted strings.
fn matching_bracket(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices().skip_while(|(i, _)| *i < open) {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' => depth += 1,
            ']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Parses `[URN:]attr[.sub]`, returning a plain message on error (callers pick the
/// `scimType`).
pub(crate) fn parse_attr_path_raw(text: &str, rt: &ResourceType) -> Result<AttrPath, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty attribute path".into());
    }
    let (urn, rest): (Option<String>, &str) = if starts_with_ci(text, "urn:") {
        match rt.split_urn(text) {
            Some((schema, rest)) if schema.id == rt.schema.id => (None, rest),
            Some((schema, rest)) => (Some(schema.id.clone()), rest),
            None => match text.rfind(':') {
                // An unknown schema: keep it, the attribute will not resolve.
                Some(i) if i + 1 < text.len() => (Some(text[..i].to_string()), &text[i + 1..]),
                _ => return Err(format!("malformed attribute path '{text}'")),
            },
        }
    } else {
        (None, text)
    };
    let mut parts = rest.split('.');
    let attr = parts.next().unwrap_or_default();
    let sub = parts.next();
    if parts.next().is_some() {
        return Err(format!("too many '.' in attribute path '{text}'"));
    }
    check_name(attr)?;
    if let Some(sub) = sub {
        check_name(sub)?;
    }
    let mut path = AttrPath {
        urn,
        attr: attr.to_string(),
        sub: sub.map(str::to_string),
    };
    path.canonicalise(rt);
    Ok(path)
}

/// ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA; plus `$ref`.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.eq_ignore_ascii_case("$ref") {
        return Ok(());
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        Some(_) => return Err(format!("invalid attribute name '{name}'")),
        None => return Err("empty attribute name".into()),
    }
    if chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(format!("invalid attribute name '{name}'"))
    }
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

impl AttrPath {
    /// A path to a top-level core attribute.
    pub fn new(attr: impl Into<String>) -> Self {
        AttrPath {
            urn: None,
            attr: attr.into(),
            sub: None,
        }
    }

    /// Resolves the top-level attribute of this path.
    pub fn top(&self, rt: &ResourceType) -> Option<TopAttribute> {
        resolve_top(rt, self.urn.as_deref(), &self.attr)
    }

    /// The definition of the attribute this path designates (the sub-attribute when given).
    pub fn attribute(&self, rt: &ResourceType) -> Option<&'static Attribute> {
        let top = self.top(rt)?.attribute;
        match &self.sub {
            Some(sub) => top.sub_attribute(sub),
            None => Some(top),
        }
    }

    /// The definition whose values a comparison uses: the designated attribute, or for a
    /// complex attribute without sub-attribute its `value` sub-attribute.
    pub fn compared_attribute(&self, rt: &ResourceType) -> Option<&'static Attribute> {
        let a = self.attribute(rt)?;
        if a.attr_type == AttrType::Complex {
            a.sub_attribute("value")
        } else {
            Some(a)
        }
    }

    /// Whether string values at this path compare case-sensitively (unknown → `false`).
    pub fn case_exact(&self, rt: &ResourceType) -> bool {
        self.compared_attribute(rt)
            .is_some_and(|a| a.case_exact || a.attr_type == AttrType::Binary)
    }

    /// The raw value of the top-level attribute in `resource`.
    pub fn top_value<'v>(&self, resource: &'v Value, rt: &ResourceType) -> Option<&'v Value> {
        let top = self.top(rt);
        let container = match (top.and_then(|t| t.extension), &self.urn) {
            (Some(ext), _) => get_ci(resource, ext)?,
            (None, Some(urn)) if top.is_none() => get_ci(resource, urn)?,
            _ => resource,
        };
        let name = top.map(|t| t.attribute.name.as_str()).unwrap_or(&self.attr);
        get_ci(container, name).filter(|v| !v.is_null())
    }

    /// Every leaf value at this path: arrays are flattened; with a sub-attribute the
    /// sub-attribute of each element; with `descend_value` a complex element without
    /// sub-attribute yields its `value` sub-attribute.
    pub fn values<'v>(
        &self,
        resource: &'v Value,
        rt: &ResourceType,
        descend_value: bool,
    ) -> Vec<&'v Value> {
        let mut out = Vec::new();
        let Some(top) = self.top_value(resource, rt) else {
            return out;
        };
        for element in elements(top) {
            let leaf = match &self.sub {
                Some(sub) => get_ci(element, sub),
                None if descend_value && element.is_object() => get_ci(element, "value"),
                None => Some(element),
            };
            if let Some(leaf) = leaf {
                out.extend(elements(leaf).filter(|v| !v.is_null()));
            }
        }
        out
    }

    fn canonicalise(&mut self, rt: &ResourceType) {
        let Some(top) = self.top(rt) else {
            return;
        };
        self.attr = top.attribute.name.clone();
        if let Some(ext) = top.extension {
            self.urn = Some(ext.to_string());
        }
        if let Some(sub) = self.sub.as_mut()
            && let Some(def) = top.attribute.sub_attribute(sub)
        {
            *sub = def.name.clone();
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl PatchPath {
    /// The path without its value filter.
    pub fn attr_path(&self) -> AttrPath {
        AttrPath {
            urn: self.urn.clone(),
            attr: self.attr.clone(),
            sub: self.sub.clone(),
        }
    }
}

/// Resolves a top-level attribute name (see the module invariants for the lookup order).
pub fn resolve_top(rt: &ResourceType, urn: Option<&str>, name: &str) -> Option<TopAttribute> {
    if let Some(urn) = urn {
        let r = rt.resolve(Some(urn), name)?;
        return Some(TopAttribute {
            attribute: r.attribute,
            extension: r.in_extension.then_some(r.schema.id.as_str()),
        });
    }
    if let Some(r) = rt.resolve(None, name) {
        return Some(TopAttribute {
            attribute: r.attribute,
            extension: None,
        });
    }
    if let Some(attribute) = common_attribute(name) {
        return Some(TopAttribute {
            attribute,
            extension: None,
        });
    }
    let mut found = rt.extensions.iter().filter_map(|e| {
        e.schema.attribute(name).map(|attribute| TopAttribute {
            attribute,
            extension: Some(e.schema.id.as_str()),
        })
    });
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// The common attributes of every resource (RFC 7643 §3.1), absent from the schema documents.
pub fn common_attribute(name: &str) -> Option<&'static Attribute> {
    static COMMON: OnceLock<Vec<Attribute>> = OnceLock::new();
    COMMON
        .get_or_init(common_attributes)
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

fn simple(name: &str, attr_type: AttrType, case_exact: bool, mutability: Mutability) -> Attribute {
    Attribute {
        name: name.into(),
        attr_type,
        multi_valued: false,
        description: String::new(),
        required: false,
        case_exact,
        mutability,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: Vec::new(),
        reference_types: Vec::new(),
        sub_attributes: Vec::new(),
    }
}

fn common_attributes() -> Vec<Attribute> {
    use AttrType::*;
    use Mutability::*;
    let mut id = simple("id", String, true, ReadOnly);
    id.returned = Returned::Always;
    id.uniqueness = Uniqueness::Server;
    let external_id = simple("externalId", String, true, ReadWrite);
    let mut schemas = simple("schemas", Reference, false, ReadOnly);
    schemas.multi_valued = true;
    let mut meta = simple("meta", Complex, false, ReadOnly);
    meta.sub_attributes = vec![
        simple("resourceType", String, true, ReadOnly),
        simple("created", DateTime, false, ReadOnly),
        simple("lastModified", DateTime, false, ReadOnly),
        simple("location", Reference, true, ReadOnly),
        simple("version", String, true, ReadOnly),
    ];
    vec![id, external_id, schemas, meta]
}

/// The values of a JSON value seen as a multi-valued attribute: an array's elements, or the
/// value itself.
pub(crate) fn elements(v: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match v {
        Value::Array(items) => Box::new(items.iter()),
        other => Box::new(std::iter::once(other)),
    }
}

/// The member of an object with this key (exact spelling first, then case-insensitive).
pub(crate) fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The actual key in `obj` matching `key` case-insensitively.
pub(crate) fn key_ci(obj: &Map<String, Value>, key: &str) -> Option<String> {
    if obj.contains_key(key) {
        return Some(key.to_string());
    }
    obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

#[cfg(test)]
pub(crate) mod test_fixture {
    //! A small hand-built User type (core + enterprise extension) and Group type for the
    //! unit tests of path, filter, sort and patch (independent of the shipped schema files).

    use serde_json::json;

    use crate::scim::schema::{ResourceType, Schema, SchemaExtension};

    fn leak(v: serde_json::Value) -> &'static Schema {
        Box::leak(Box::new(serde_json::from_value(v).unwrap()))
    }

    pub const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    pub fn user_type() -> ResourceType {
        let core = leak(json!({
            "id": "urn:ietf:params:scim:schemas:core:2.0:User", "name": "User",
            "attributes": [
                {"name": "userName", "type": "string", "required": true, "uniqueness": "server"},
                {"name": "name", "type": "complex", "subAttributes": [
                    {"name": "givenName", "type": "string"},
                    {"name": "familyName", "type": "string"},
                    {"name": "formatted", "type": "string"}]},
                {"name": "displayName", "type": "string"},
                {"name": "active", "type": "boolean"},
                {"name": "password", "type": "string", "mutability": "writeOnly", "returned": "never"},
                {"name": "emails", "type": "complex", "multiValued": true, "subAttributes": [
                    {"name": "value", "type": "string"},
                    {"name": "type", "type": "string"},
                    {"name": "primary", "type": "boolean"},
                    {"name": "display", "type": "string"}]},
                {"name": "phoneNumbers", "type": "complex", "multiValued": true, "subAttributes": [
                    {"name": "value", "type": "string"},
                    {"name": "type", "type": "string"},
                    {"name": "primary", "type": "boolean"}]},
                {"name": "roles", "type": "complex", "multiValued": true, "subAttributes": [
                    {"name": "value", "type": "string"},
                    {"name": "primary", "type": "boolean"}]},
                {"name": "x509Certificates", "type": "complex", "multiValued": true, "subAttributes": [
                    {"name": "value", "type": "binary"}]},
                {"name": "groups", "type": "complex", "multiValued": true, "mutability": "readOnly",
                 "subAttributes": [
                    {"name": "value", "type": "string", "mutability": "readOnly"},
                    {"name": "display", "type": "string", "mutability": "readOnly"}]},
                {"name": "nickName", "type": "string", "caseExact": true},
                {"name": "loginCount", "type": "integer"},
                {"name": "weight", "type": "decimal"},
                {"name": "birthday", "type": "dateTime"},
                {"name": "badgeId", "type": "string", "mutability": "immutable"},
                {"name": "tags", "type": "string", "multiValued": true}
            ]
        }));
        let ent = leak(json!({
            "id": ENT, "name": "EnterpriseUser",
            "attributes": [
                {"name": "employeeNumber", "type": "string"},
                {"name": "department", "type": "string"},
                {"name": "manager", "type": "complex", "subAttributes": [
                    {"name": "value", "type": "string"},
                    {"name": "$ref", "type": "reference"},
                    {"name": "displayName", "type": "string", "mutability": "readOnly"}]}
            ]
        }));
        ResourceType {
            name: "User",
            endpoint: "/Users",
            description: "User Account",
            schema: core,
            extensions: vec![SchemaExtension {
                schema: ent,
                required: false,
            }],
        }
    }

    pub fn group_type() -> ResourceType {
        let core = leak(json!({
            "id": "urn:ietf:params:scim:schemas:core:2.0:Group", "name": "Group",
            "attributes": [
                {"name": "displayName", "type": "string", "required": true},
                {"name": "members", "type": "complex", "multiValued": true, "subAttributes": [
                    {"name": "value", "type": "string", "caseExact": true, "mutability": "immutable"},
                    {"name": "$ref", "type": "reference", "mutability": "immutable"},
                    {"name": "type", "type": "string", "mutability": "immutable"}]}
            ]
        }));
        ResourceType {
            name: "Group",
            endpoint: "/Groups",
            description: "Group",
            schema: core,
            extensions: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_fixture::{ENT, user_type};
    use super::*;
    use crate::scim::ScimType;

    #[test]
    fn plain_and_sub_paths_are_canonicalised() {
        let rt = user_type();
        let p = parse_attr_path("USERNAME", &rt).unwrap();
        assert_eq!(
            p,
            AttrPath {
                urn: None,
                attr: "userName".into(),
                sub: None
            }
        );
        let p = parse_attr_path("name.GIVENNAME", &rt).unwrap();
        assert_eq!(p.attr, "name");
        assert_eq!(p.sub.as_deref(), Some("givenName"));
        let p = parse_attr_path("meta.LASTMODIFIED", &rt).unwrap();
        assert_eq!(p.to_string(), "meta.lastModified");
        assert_eq!(
            parse_attr_path("members.$REF", &rt).unwrap().sub.as_deref(),
            Some("$REF")
        );
    }

    #[test]
    fn core_urn_is_normalised_and_extension_urn_kept() {
        let rt = user_type();
        let p =
            parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:User:userName", &rt).unwrap();
        assert_eq!(p, AttrPath::new("userName"));
        let p = parse_attr_path(&format!("{}:EMPLOYEENUMBER", ENT.to_uppercase()), &rt).unwrap();
        assert_eq!(p.urn.as_deref(), Some(ENT));
        assert_eq!(p.attr, "employeeNumber");
        let p = parse_attr_path(&format!("{ENT}:manager.value"), &rt).unwrap();
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert_eq!(p.to_string(), format!("{ENT}:manager.value"));
    }

    #[test]
    fn unqualified_extension_attribute_resolves_leniently() {
        let rt = user_type();
        let p = parse_attr_path("employeenumber", &rt).unwrap();
        assert_eq!(p.urn.as_deref(), Some(ENT));
        assert_eq!(p.attr, "employeeNumber");
    }

    #[test]
    fn malformed_names_are_invalid_path() {
        let rt = user_type();
        for bad in ["", "1abc", "a b", "a.b.c", "na$me", "name.", "urn:"] {
            let e = parse_attr_path(bad, &rt).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}");
        }
        // Unknown but well-formed: accepted, does not resolve.
        let p = parse_attr_path("fooBar", &rt).unwrap();
        assert!(p.top(&rt).is_none());
    }

    #[test]
    fn patch_paths() {
        let rt = user_type();
        let p = parse_patch_path(r#"emails[type eq "work"].value"#, &rt).unwrap();
        assert_eq!(p.attr, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert!(p.filter.is_some());
        let p = parse_patch_path(&format!("{ENT}:employeeNumber"), &rt).unwrap();
        assert_eq!(p.urn.as_deref(), Some(ENT));
        let p = parse_patch_path(r#"emails[value eq "a]b"]"#, &rt).unwrap();
        assert!(p.sub.is_none());
        let g = super::test_fixture::group_type();
        let p = parse_patch_path(r#"members[value eq "2819c223"]"#, &g).unwrap();
        assert_eq!(p.attr, "members");
    }

    #[test]
    fn bad_patch_paths_are_invalid_path() {
        let rt = user_type();
        for bad in [
            "nope",
            "name.nope",
            "userName.x",
            r#"emails[type eq "work""#,
            r#"emails[type eq "work"]x"#,
            r#"userName[value eq "x"]"#,
            r#"emails[type eq]"#,
            "urn:unknown:schema:attr",
        ] {
            let e = parse_patch_path(bad, &rt).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}");
        }
    }

    #[test]
    fn values_flatten_multi_valued_attributes() {
        let rt = user_type();
        let r = serde_json::json!({
            "emails": [{"value": "a@x", "type": "work"}, {"value": "b@x"}],
            ENT: {"employeeNumber": "7"}
        });
        let p = parse_attr_path("emails", &rt).unwrap();
        assert_eq!(p.values(&r, &rt, true), vec!["a@x", "b@x"]);
        assert_eq!(
            parse_attr_path("emails.type", &rt)
                .unwrap()
                .values(&r, &rt, false),
            vec!["work"]
        );
        assert_eq!(
            parse_attr_path("employeeNumber", &rt)
                .unwrap()
                .values(&r, &rt, false),
            vec!["7"]
        );
    }
}
