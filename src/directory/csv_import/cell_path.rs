//! [`ColumnPath`]: a full-profile column name as a place in a user document, such as
//! `emails[0].value`, `name.familyName`, `addresses[1].locality`, `roles` (`;`-separated
//! values) or `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, and
//! setting or removing the value at that place in the stored (normalised) form of a user.
//!
//! Invariants: a parsed path names a writable attribute of the user resource type (core or an
//! extension) and, for complex attributes, a writable sub-attribute; keys written are the
//! canonical attribute names, extension attributes live under the canonical URN key.

use serde_json::{Map, Value};

use crate::scim::resource::lookup_attribute;
use crate::scim::schema::{AttrType, Attribute, Mutability, Schema, SchemaRegistry};

/// A column of the full-profile format resolved against the user schemas.
#[derive(Debug, Clone, Copy)]
pub struct ColumnPath {
    /// The extension schema, `None` for the core schema.
    pub extension: Option<&'static Schema>,
    pub attr: &'static Attribute,
    /// `[n]` of a multi-valued complex attribute.
    pub index: Option<usize>,
    /// The sub-attribute of a complex attribute (`value` when the column names none).
    pub sub: Option<&'static Attribute>,
}

impl ColumnPath {
    /// Resolves a column name; the error says why it is not a writable user attribute.
    pub fn parse(text: &str) -> Result<ColumnPath, String> {
        let rt = &SchemaRegistry::get().user;
        let (schema, rest) = if text.len() > 4 && text[..4].eq_ignore_ascii_case("urn:") {
            rt.split_urn(text)
                .ok_or_else(|| "not an attribute of a user schema".to_string())?
        } else {
            (rt.schema, text)
        };
        let is_core = std::ptr::eq(schema, rt.schema);
        let name_end = rest.find(['[', '.']).unwrap_or(rest.len());
        let (name, mut tail) = rest.split_at(name_end);
        let attr = lookup_attribute(schema, is_core, name)
            .ok_or_else(|| format!("{name:?} is not an attribute of the user"))?;
        let mut index = None;
        if let Some(after) = tail.strip_prefix('[') {
            let close = after
                .find(']')
                .ok_or_else(|| "an index needs a closing ]".to_string())?;
            let n = after[..close]
                .parse::<usize>()
                .map_err(|_| "the index must be a number such as [0]".to_string())?;
            if !attr.multi_valued || attr.attr_type != AttrType::Complex {
                return Err(format!("{} does not take an index", attr.name));
            }
            index = Some(n);
            tail = &after[close + 1..];
        }
        let sub = match tail.strip_prefix('.') {
            Some(sub_name) => {
                if attr.attr_type != AttrType::Complex {
                    return Err(format!("{} has no sub-attributes", attr.name));
                }
                Some(attr.sub_attribute(sub_name).ok_or_else(|| {
                    format!("{sub_name:?} is not a sub-attribute of {}", attr.name)
                })?)
            }
            None if !tail.is_empty() => return Err("malformed attribute path".to_string()),
            None if attr.attr_type == AttrType::Complex => match attr.sub_attribute("value") {
                Some(value) => Some(value),
                None => {
                    return Err(format!(
                        "{} needs a sub-attribute, such as {}.{}",
                        attr.name,
                        attr.name,
                        attr.sub_attributes
                            .first()
                            .map_or("value", |s| s.name.as_str())
                    ));
                }
            },
            None => None,
        };
        let read_only = |a: &Attribute| a.mutability == Mutability::ReadOnly;
        if read_only(attr) || sub.is_some_and(read_only) {
            return Err("the attribute is read-only".to_string());
        }
        Ok(ColumnPath {
            extension: (!is_core).then_some(schema),
            attr,
            index,
            sub,
        })
    }

    /// The attribute whose value a cell holds.
    pub fn leaf(&self) -> &'static Attribute {
        self.sub.unwrap_or(self.attr)
    }

    /// Whether a cell holds `;`-separated values (a multi-valued attribute without an index).
    pub fn is_multi(&self) -> bool {
        self.attr.multi_valued && self.index.is_none()
    }

    /// The canonical path: `emails[0].value`, `urn:…:User:department`.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        if let Some(schema) = self.extension {
            out.push_str(&schema.id);
            out.push(':');
        }
        out.push_str(&self.attr.name);
        if let Some(i) = self.index {
            out.push_str(&format!("[{i}]"));
        }
        if let Some(sub) = self.sub {
            out.push('.');
            out.push_str(&sub.name);
        }
        out
    }

    fn container<'d>(&self, doc: &'d mut Map<String, Value>) -> &'d mut Map<String, Value> {
        match self.extension {
            Some(schema) => object_at(doc, &schema.id),
            None => doc,
        }
    }

    /// Sets the value; for a multi-valued column `value` is the array of the cell's values.
    pub fn set(&self, doc: &mut Map<String, Value>, value: Value) {
        let attr = self.attr;
        let container = self.container(doc);
        match (attr.multi_valued, self.index, self.sub) {
            (false, _, None) => {
                container.insert(attr.name.clone(), value);
            }
            (false, _, Some(sub)) => {
                object_at(container, &attr.name).insert(sub.name.clone(), value);
            }
            (true, Some(index), sub) => {
                let slot = container
                    .entry(attr.name.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                if let Value::Array(items) = slot {
                    while items.len() <= index {
                        items.push(Value::Object(Map::new()));
                    }
                    if !items[index].is_object() {
                        items[index] = Value::Object(Map::new());
                    }
                    if let (Value::Object(item), Some(sub)) = (&mut items[index], sub) {
                        item.insert(sub.name.clone(), value);
                    }
                }
            }
            (true, None, sub) => {
                let items = match value {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                let items = match sub {
                    Some(sub) => items
                        .into_iter()
                        .map(|v| {
                            let mut item = Map::new();
                            item.insert(sub.name.clone(), v);
                            Value::Object(item)
                        })
                        .collect(),
                    None => items,
                };
                container.insert(attr.name.clone(), Value::Array(items));
            }
        }
    }

    /// Removes the value (an empty cell).
    pub fn remove(&self, doc: &mut Map<String, Value>) {
        let attr = self.attr;
        let container = self.container(doc);
        match (attr.multi_valued, self.index, self.sub) {
            (true, Some(index), Some(sub)) => {
                if let Some(Value::Object(item)) = container
                    .get_mut(&attr.name)
                    .and_then(Value::as_array_mut)
                    .and_then(|items| items.get_mut(index))
                {
                    item.remove(&sub.name);
                }
            }
            (false, _, Some(sub)) => {
                let now_empty = match container.get_mut(&attr.name) {
                    Some(Value::Object(obj)) => {
                        obj.remove(&sub.name);
                        obj.is_empty()
                    }
                    _ => false,
                };
                if now_empty {
                    container.remove(&attr.name);
                }
            }
            _ => {
                container.remove(&attr.name);
            }
        }
        if let Some(schema) = self.extension
            && doc
                .get(&schema.id)
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
        {
            doc.remove(&schema.id);
        }
    }
}

/// The object under `key`, created (or replacing a non-object) when needed.
pub fn object_at<'m>(map: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let slot = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(obj) => obj,
        _ => unreachable!("the slot was just made an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parses_core_indexed_and_urn_paths() {
        let p = ColumnPath::parse("emails[0].value").unwrap();
        assert_eq!((p.attr.name.as_str(), p.index), ("emails", Some(0)));
        assert_eq!(p.canonical(), "emails[0].value");
        let p = ColumnPath::parse("NAME.familyname").unwrap();
        assert_eq!(p.canonical(), "name.familyName");
        let p = ColumnPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        )
        .unwrap();
        assert!(p.extension.is_some());
        assert_eq!(p.leaf().name, "department");
        let p = ColumnPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap();
        assert!(p.extension.is_none());
        let p = ColumnPath::parse("roles").unwrap();
        assert!(p.is_multi());
        assert_eq!(p.leaf().name, "value");
    }

    #[test]
    fn refuses_unknown_read_only_and_malformed_paths() {
        for bad in [
            "groups",
            "id",
            "nosuch",
            "name",
            "name[0].givenName",
            "emails[x].value",
            "emails[0].nope",
            "userName.x",
            "urn:example:foo",
            "urn:ietf:params:scim:schemas:extension:sap:2.0:User:userId",
        ] {
            assert!(ColumnPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_and_remove_in_core_and_extension() {
        let mut d = doc(json!({"userName": "a", "addresses": [{"locality": "X"}]}));
        ColumnPath::parse("addresses[1].locality")
            .unwrap()
            .set(&mut d, json!("Berlin"));
        ColumnPath::parse("name.familyName")
            .unwrap()
            .set(&mut d, json!("Doe"));
        let dept = ColumnPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        )
        .unwrap();
        dept.set(&mut d, json!("Sales"));
        ColumnPath::parse("emails.value")
            .unwrap()
            .set(&mut d, json!(["a@x.org", "b@x.org"]));
        assert_eq!(
            Value::Object(d.clone()),
            json!({"userName": "a",
                   "addresses": [{"locality": "X"}, {"locality": "Berlin"}],
                   "name": {"familyName": "Doe"},
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"},
                   "emails": [{"value": "a@x.org"}, {"value": "b@x.org"}]})
        );
        dept.remove(&mut d);
        ColumnPath::parse("name.familyName").unwrap().remove(&mut d);
        ColumnPath::parse("addresses[0].locality")
            .unwrap()
            .remove(&mut d);
        ColumnPath::parse("emails").unwrap().remove(&mut d);
        assert_eq!(
            Value::Object(d),
            json!({"userName": "a", "addresses": [{}, {"locality": "Berlin"}]})
        );
    }
}
