//! Normalisation and validation of resource bodies sent by clients (POST, PUT, Bulk): canonical
//! attribute-name case, extension attributes under their URN key, string booleans coerced,
//! `null` treated as absent, read-only attributes dropped, types and required attributes checked.
//!
//! Invariants of the stored form that [`normalize`] returns:
//! - it is a JSON object without `id` and `meta` (the directory owns those);
//! - `schemas` is first and lists the core URN plus the URN of every extension present;
//! - every key is the canonical attribute name of the schema documents, in schema order, and
//!   extension attributes live in an object under the canonical extension URN;
//! - no `null`, no empty array, no empty complex value, no read-only attribute;
//! - every value has its schema type; multi-valued attributes are arrays with at most one
//!   `primary: true`.

use std::sync::OnceLock;

use serde_json::{Map, Number, Value};

use super::ScimError;
use super::schema::{AttrType, Attribute, Mutability, ResourceType, Returned, Schema};
use super::urn;

/// The maximum length (in characters) of an SAP custom attribute value.
pub const CUSTOM_ATTRIBUTE_MAX_CHARS: usize = 256;

/// The number of SAP custom attributes (`customAttribute1` ..= `customAttribute10`).
pub const CUSTOM_ATTRIBUTE_COUNT: usize = 10;

/// What the body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Create,
    Replace,
}

/// The common attributes of RFC 7643 §3.1, which the schema documents do not list.
const COMMON_ATTRIBUTES_JSON: &str = r#"[
  {"name": "id", "type": "string", "caseExact": true, "mutability": "readOnly",
   "returned": "always", "uniqueness": "server"},
  {"name": "externalId", "type": "string", "caseExact": true},
  {"name": "meta", "type": "complex", "mutability": "readOnly", "subAttributes": [
    {"name": "resourceType", "type": "string", "caseExact": true, "mutability": "readOnly"},
    {"name": "created", "type": "dateTime", "mutability": "readOnly"},
    {"name": "lastModified", "type": "dateTime", "mutability": "readOnly"},
    {"name": "location", "type": "reference", "caseExact": true, "mutability": "readOnly",
     "referenceTypes": ["uri"]},
    {"name": "version", "type": "string", "caseExact": true, "mutability": "readOnly"}
  ]}
]"#;

/// The common attributes `id`, `externalId` and `meta` (RFC 7643 §3.1) as attribute
/// definitions, so that filters, sorting and projection can treat them like schema attributes.
/// `schemas` is not among them: it is always returned and never written by clients.
pub fn common_attributes() -> &'static [Attribute] {
    static COMMON: OnceLock<Vec<Attribute>> = OnceLock::new();
    // The text is compiled in and covered by a test; an empty list would be a build defect.
    COMMON.get_or_init(|| serde_json::from_str(COMMON_ATTRIBUTES_JSON).unwrap_or_default())
}

/// The common attribute with this name (case-insensitive).
pub fn common_attribute(name: &str) -> Option<&'static Attribute> {
    common_attributes()
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

/// A top-level attribute of `schema`; for the core schema the common attributes are included.
pub fn lookup_attribute<'s>(
    schema: &'s Schema,
    is_core: bool,
    name: &str,
) -> Option<&'s Attribute> {
    schema.attribute(name).or_else(|| {
        if is_core {
            common_attribute(name)
        } else {
            None
        }
    })
}

/// The value under `key` of a JSON object, the key matched case-insensitively (exact match
/// preferred).
pub fn get_ci<'v>(object: &'v Value, key: &str) -> Option<&'v Value> {
    let map = object.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Schema-specific value rules beyond the RFC types.
#[derive(Debug, Clone, Copy)]
struct Rules {
    /// `canonicalValues` are enforced (SAP extensions: `status`, group `type`, ...).
    enforce_canonical: bool,
    /// Maximum string length in characters.
    max_chars: Option<usize>,
}

impl Rules {
    fn for_schema(schema: &Schema) -> Rules {
        let id = schema.id.as_str();
        Rules {
            enforce_canonical: id.eq_ignore_ascii_case(urn::SAP_USER)
                || id.eq_ignore_ascii_case(urn::SAP_GROUP),
            max_chars: id
                .eq_ignore_ascii_case(urn::SAP_CUSTOM_USER)
                .then_some(CUSTOM_ATTRIBUTE_MAX_CHARS),
        }
    }

    /// Sub-attributes keep the length limit; canonical values are enforced at the top level only.
    fn for_sub(self) -> Rules {
        Rules {
            enforce_canonical: false,
            ..self
        }
    }
}

/// Normalises a client-supplied resource into the stored form (without `id` and `meta`).
///
/// Unknown attributes and unknown extension URNs are ignored (RFC 7644 §3.3); read-only
/// attributes are dropped silently. `mode` does not change the rules today: a replacement is
/// a complete resource, so it is validated exactly like a creation (immutability is checked
/// separately by [`check_immutable`]).
pub fn normalize(body: Value, rt: &ResourceType, mode: WriteMode) -> Result<Value, ScimError> {
    let _ = mode;
    let Value::Object(input) = body else {
        return Err(ScimError::invalid_syntax(
            "the resource body must be a JSON object",
        ));
    };
    let mut core = Fields::new(rt.schema, true);
    let mut extensions: Vec<Fields<'_>> = rt
        .extensions
        .iter()
        .map(|e| Fields::new(e.schema, false))
        .collect();

    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(schema) = rt.extension(&key) {
            let Some(target) = extension_fields(&mut extensions, schema) else {
                continue;
            };
            match value {
                Value::Null => target.clear(),
                Value::Object(members) => {
                    for (member, v) in members {
                        set_attribute(target, &member, v)?;
                    }
                }
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "extension '{}' must be a JSON object",
                        schema.id
                    )));
                }
            }
        } else if let Some((schema, rest)) = rt.split_urn(&key) {
            if std::ptr::eq(schema, rt.schema) {
                set_attribute(&mut core, rest, value)?;
            } else if let Some(target) = extension_fields(&mut extensions, schema) {
                set_attribute(target, rest, value)?;
            }
        } else if starts_with_ci(&key, "urn:") {
            // An extension this resource type does not have: ignored, never stored.
            continue;
        } else {
            set_attribute(&mut core, &key, value)?;
        }
    }

    core.check_required()?;
    for ext in &rt.extensions {
        let present = extensions
            .iter()
            .find(|f| std::ptr::eq(f.schema, ext.schema))
            .is_some_and(|f| !f.is_empty());
        if ext.required && !present {
            return Err(ScimError::invalid_value(format!(
                "extension '{}' is required",
                ext.schema.id
            )));
        }
    }

    let mut out = Map::new();
    let mut schemas = vec![Value::String(rt.schema.id.clone())];
    for fields in &extensions {
        if !fields.is_empty() {
            schemas.push(Value::String(fields.schema.id.clone()));
        }
    }
    out.insert("schemas".into(), Value::Array(schemas));
    core.append_to(&mut out);
    for fields in extensions {
        if fields.is_empty() {
            continue;
        }
        fields.check_required()?;
        let schema = fields.schema;
        let mut map = Map::new();
        fields.append_to(&mut map);
        if schema.id == urn::SAP_CUSTOM_USER {
            check_custom_attribute_names(&map)?;
        }
        out.insert(schema.id.clone(), Value::Object(map));
    }
    Ok(Value::Object(out))
}

/// The top-level attributes of one schema gathered from a body, each with its place in the
/// stored form: for the core schema `externalId` first (slot 0), then schema order (slot
/// `i + 1` for the schema's attribute `i`); for an extension, schema order (slot `i`). Kept
/// as a short list searched by slot, and put in order once at the end, so normalising neither
/// hashes nor copies an attribute name more than once.
struct Fields<'s> {
    schema: &'s Schema,
    is_core: bool,
    /// `(slot, attribute, value)`, at most one entry per slot.
    entries: Vec<(usize, &'s Attribute, Value)>,
}

impl<'s> Fields<'s> {
    fn new(schema: &'s Schema, is_core: bool) -> Fields<'s> {
        Fields {
            schema,
            is_core,
            entries: Vec::new(),
        }
    }

    /// The slot and definition of the top-level attribute `name` (case-insensitive); for the
    /// core schema the common attributes are included (`id` and `meta` are read-only, so
    /// their slot is never used).
    fn lookup(&self, name: &str) -> Option<(usize, &'s Attribute)> {
        let schema = self.schema;
        let first = usize::from(self.is_core);
        match schema
            .attributes
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(name))
        {
            Some(i) => Some((i + first, &schema.attributes[i])),
            None if self.is_core => common_attribute(name).map(|a| (0, a)),
            None => None,
        }
    }

    fn position(&self, slot: usize) -> Option<usize> {
        self.entries.iter().position(|(s, _, _)| *s == slot)
    }

    /// Sets (`Some`) or unassigns (`None`) the attribute in `slot`.
    fn set(&mut self, slot: usize, attr: &'s Attribute, value: Option<Value>) {
        match (self.position(slot), value) {
            (Some(i), Some(v)) => self.entries[i].2 = v,
            (Some(i), None) => {
                self.entries.remove(i);
            }
            (None, Some(v)) => self.entries.push((slot, attr, v)),
            (None, None) => {}
        }
    }

    /// The value in `slot`, inserted by `init` when unassigned.
    fn entry(
        &mut self,
        slot: usize,
        attr: &'s Attribute,
        init: impl FnOnce() -> Value,
    ) -> (usize, &mut Value) {
        let i = match self.position(slot) {
            Some(i) => i,
            None => {
                self.entries.push((slot, attr, init()));
                self.entries.len() - 1
            }
        };
        (i, &mut self.entries[i].2)
    }

    fn clear(&mut self) {
        self.entries.clear();
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Required attributes (not read-only ones) must be present.
    fn check_required(&self) -> Result<(), ScimError> {
        for attr in &self.schema.attributes {
            if attr.required
                && attr.mutability != Mutability::ReadOnly
                && !self.entries.iter().any(|(_, a, _)| std::ptr::eq(*a, attr))
            {
                return Err(ScimError::invalid_value(format!(
                    "attribute '{}' is required",
                    Label::of(self.schema, self.is_core, &attr.name)
                )));
            }
        }
        Ok(())
    }

    /// Appends the attributes to `out` in slot order, under their canonical names.
    fn append_to(mut self, out: &mut Map<String, Value>) {
        self.entries.sort_unstable_by_key(|(slot, _, _)| *slot);
        for (_, attr, value) in self.entries {
            out.insert(attr.name.clone(), value);
        }
    }
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn extension_fields<'f, 's>(
    extensions: &'f mut [Fields<'s>],
    schema: &Schema,
) -> Option<&'f mut Fields<'s>> {
    extensions
        .iter_mut()
        .find(|f| std::ptr::eq(f.schema, schema))
}

/// The name used in error details: plain for the core schema, URN-qualified otherwise, with the
/// sub-attribute after a dot. Formatted only when an error names it, so normalising a valid
/// body formats nothing.
#[derive(Debug, Clone, Copy)]
struct Label<'a> {
    schema: Option<&'a str>,
    name: &'a str,
    sub: Option<&'a str>,
}

impl<'a> Label<'a> {
    fn of(schema: &'a Schema, is_core: bool, name: &'a str) -> Label<'a> {
        Label {
            schema: (!is_core).then_some(schema.id.as_str()),
            name,
            sub: None,
        }
    }

    fn sub(self, sub: &'a str) -> Label<'a> {
        Label {
            sub: Some(sub),
            ..self
        }
    }
}

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(schema) = self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(self.name)?;
        if let Some(sub) = self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Sets `path` (`attr` or `attr.sub`) in `target`, normalising the value.
fn set_attribute(target: &mut Fields<'_>, path: &str, value: Value) -> Result<(), ScimError> {
    let (name, sub) = match path.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (path, None),
    };
    let Some((slot, attr)) = target.lookup(name) else {
        return Ok(());
    };
    if attr.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    let rules = Rules::for_schema(target.schema);
    let attr_label = Label::of(target.schema, target.is_core, &attr.name);
    let Some(sub) = sub else {
        let normalized = normalize_value(attr, value, attr_label, rules)?;
        target.set(slot, attr, normalized);
        return Ok(());
    };
    if attr.attr_type != AttrType::Complex {
        return Ok(());
    }
    if attr.multi_valued {
        return Err(ScimError::invalid_value(format!(
            "'{}': a sub-attribute of a multi-valued attribute cannot be set without its value",
            attr_label.sub(sub)
        )));
    }
    let Some(sub_attr) = attr.sub_attribute(sub) else {
        return Ok(());
    };
    if sub_attr.mutability == Mutability::ReadOnly {
        return Ok(());
    }
    let normalized = normalize_value(
        sub_attr,
        value,
        attr_label.sub(&sub_attr.name),
        rules.for_sub(),
    )?;
    let (i, entry) = target.entry(slot, attr, || Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(obj) = entry {
        match normalized {
            Some(v) => obj.insert(sub_attr.name.clone(), v),
            None => obj.remove(&sub_attr.name),
        };
        if obj.is_empty() {
            target.entries.remove(i);
        }
    }
    Ok(())
}

/// Normalises the value of one attribute (single- or multi-valued); `None` means unassigned.
fn normalize_value(
    attr: &Attribute,
    value: Value,
    label: Label<'_>,
    rules: Rules,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if !attr.multi_valued {
        let value = match value {
            // Entra sends the single-valued `manager` as a one-element array.
            Value::Array(mut items) if attr.attr_type == AttrType::Complex && items.len() <= 1 => {
                match items.pop() {
                    Some(v) => v,
                    None => return Ok(None),
                }
            }
            other => other,
        };
        return normalize_single(attr, value, label, rules);
    }
    let items = match value {
        Value::Array(items) => items,
        obj @ Value::Object(_) if attr.attr_type == AttrType::Complex => vec![obj],
        _ => {
            return Err(ScimError::invalid_value(format!(
                "attribute '{label}' is multi-valued and must be an array"
            )));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(v) = normalize_single(attr, item, label, rules)? {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    let primaries = out
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "attribute '{label}' has more than one value with primary true"
        )));
    }
    Ok(Some(Value::Array(out)))
}

/// Normalises one value (one element of a multi-valued attribute, or the single value).
fn normalize_single(
    attr: &Attribute,
    value: Value,
    label: Label<'_>,
    rules: Rules,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.attr_type != AttrType::Complex {
        return normalize_scalar(attr, value, label, rules).map(Some);
    }
    let members = match value {
        Value::Object(members) => members,
        // A bare string for a single-valued complex attribute with a `value` sub-attribute
        // (`"manager": "id"`) is read as `{"value": ...}`.
        Value::String(s) if !attr.multi_valued && attr.sub_attribute("value").is_some() => {
            let mut m = Map::new();
            m.insert("value".into(), Value::String(s));
            m
        }
        _ => {
            return Err(ScimError::invalid_value(format!(
                "attribute '{label}' must be a complex value (a JSON object)"
            )));
        }
    };
    let mut out = Map::new();
    for (key, v) in members {
        let Some(sub) = attr.sub_attribute(&key) else {
            continue;
        };
        if sub.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = normalize_value(sub, v, label.sub(&sub.name), rules.for_sub())? {
            out.insert(sub.name.clone(), v);
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    for sub in &attr.sub_attributes {
        if sub.required && sub.mutability != Mutability::ReadOnly && !out.contains_key(&sub.name) {
            return Err(ScimError::invalid_value(format!(
                "attribute '{}' is required",
                label.sub(&sub.name)
            )));
        }
    }
    Ok(Some(Value::Object(out)))
}

/// Checks and coerces a simple (non-complex) value.
fn normalize_scalar(
    attr: &Attribute,
    value: Value,
    label: Label<'_>,
    rules: Rules,
) -> Result<Value, ScimError> {
    let wrong =
        |what: &str| ScimError::invalid_value(format!("attribute '{label}' must be {what}"));
    match attr.attr_type {
        AttrType::String => {
            let Value::String(s) = value else {
                return Err(wrong("a string"));
            };
            if let Some(max) = rules.max_chars
                && s.chars().count() > max
            {
                return Err(ScimError::invalid_value(format!(
                    "attribute '{label}' is longer than {max} characters"
                )));
            }
            if rules.enforce_canonical && !attr.canonical_values.is_empty() {
                return match attr
                    .canonical_values
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(&s))
                {
                    Some(c) => Ok(Value::String(c.clone())),
                    None => Err(ScimError::invalid_value(format!(
                        "attribute '{label}' must be one of {}",
                        attr.canonical_values.join(", ")
                    ))),
                };
            }
            Ok(Value::String(s))
        }
        AttrType::Boolean => match value {
            Value::Bool(b) => Ok(Value::Bool(b)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong("a boolean")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Value::Number(n)),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    // Exact: |f| < 2^53, so the conversion loses nothing.
                    Ok(Value::Number(Number::from(f as i64)))
                }
                _ => Err(wrong("an integer")),
            },
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(|i| Value::Number(Number::from(i)))
                .map_err(|_| wrong("an integer")),
            _ => Err(wrong("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(n) => Ok(Value::Number(n)),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| wrong("a decimal number")),
            _ => Err(wrong("a decimal number")),
        },
        AttrType::DateTime => match value {
            Value::String(s) if is_date_time(&s) => Ok(Value::String(s)),
            _ => Err(wrong("a dateTime (RFC 3339, e.g. 2024-01-31T12:00:00Z)")),
        },
        AttrType::Reference | AttrType::Binary => match value {
            Value::String(s) => Ok(Value::String(s)),
            _ => Err(wrong("a string")),
        },
        AttrType::Complex => Err(wrong("a simple value")),
    }
}

/// Whether `s` is an xsd:dateTime with a time zone, in the RFC 3339 form
/// `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)`.
pub fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let (Some(_), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) else {
        return false;
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return false;
    }
    if second > 60 {
        return false;
    }
    let mut rest = &b[19..];
    if let Some((b'.', tail)) = rest.split_first() {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &tail[n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let ok = [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit());
            ok && (h1 - b'0') * 10 + (h2 - b'0') <= 23 && (m1 - b'0') * 10 + (m2 - b'0') <= 59
        }
        _ => false,
    }
}

/// The v1 form `attributes[{name, value}]` names `customAttribute1` ..= `customAttribute10`.
fn check_custom_attribute_names(map: &Map<String, Value>) -> Result<(), ScimError> {
    let Some(Value::Array(items)) = map.get("attributes") else {
        return Ok(());
    };
    for item in items {
        let name = item.get("name").and_then(Value::as_str).unwrap_or("");
        let valid = name
            .get(..15)
            .filter(|p| p.eq_ignore_ascii_case("customAttribute"))
            .and_then(|_| name[15..].parse::<usize>().ok())
            .is_some_and(|n| {
                (1..=CUSTOM_ATTRIBUTE_COUNT).contains(&n) && !name[15..].starts_with('0')
            });
        if !valid {
            return Err(ScimError::invalid_value(format!(
                "attribute '{}:attributes.name' must be customAttribute1 .. customAttribute{CUSTOM_ATTRIBUTE_COUNT}",
                urn::SAP_CUSTOM_USER
            )));
        }
    }
    Ok(())
}

/// Checks that a replacement does not change `immutable` attributes that already have a value
/// to another value (RFC 7644 §3.5.1: input values must match). Leaving such an attribute out
/// of the replacement unassigns it, which is allowed (it is not a change to another value).
/// Immutable sub-attributes of multi-valued attributes (`members.value`) are not checked here:
/// values may be added and removed, and there is no identity to compare them by.
pub fn check_immutable(old: &Value, new: &Value, rt: &ResourceType) -> Result<(), ScimError> {
    for schema in rt.schemas() {
        let is_core = std::ptr::eq(schema, rt.schema);
        let (old_obj, new_obj) = if is_core {
            (Some(old), Some(new))
        } else {
            (get_ci(old, &schema.id), get_ci(new, &schema.id))
        };
        let Some(old_obj) = old_obj else {
            continue;
        };
        for attr in &schema.attributes {
            let old_v = get_ci(old_obj, &attr.name).filter(|v| !v.is_null());
            let new_v = new_obj
                .and_then(|o| get_ci(o, &attr.name))
                .filter(|v| !v.is_null());
            let Some(old_v) = old_v else {
                continue;
            };
            let name = Label::of(schema, is_core, &attr.name);
            if attr.mutability == Mutability::Immutable {
                if new_v.is_some_and(|n| !values_equal(attr, old_v, n)) {
                    return Err(ScimError::mutability(format!(
                        "attribute '{name}' is immutable and cannot be changed"
                    )));
                }
                continue;
            }
            if attr.attr_type != AttrType::Complex || attr.multi_valued {
                continue;
            }
            for sub in &attr.sub_attributes {
                if sub.mutability != Mutability::Immutable {
                    continue;
                }
                let Some(old_s) = get_ci(old_v, &sub.name).filter(|v| !v.is_null()) else {
                    continue;
                };
                let new_s = new_v
                    .and_then(|n| get_ci(n, &sub.name))
                    .filter(|v| !v.is_null());
                if new_s.is_some_and(|n| !values_equal(sub, old_s, n)) {
                    return Err(ScimError::mutability(format!(
                        "attribute '{name}.{}' is immutable and cannot be changed",
                        sub.name
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Equality of two values of `attr`, strings compared per `caseExact`.
fn values_equal(attr: &Attribute, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if !attr.case_exact => x.eq_ignore_ascii_case(y),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, xv)| {
                    let sub = attr.sub_attribute(k);
                    get_ci(b, k).is_some_and(|yv| match sub {
                        Some(sub) => values_equal(sub, xv, yv),
                        None => xv == yv,
                    })
                })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(xv, yv)| values_equal(attr, xv, yv))
        }
        _ => a == b,
    }
}

/// Removes every `returned: never` attribute and sub-attribute (`password`, SAP `sendMail`)
/// from a resource in its JSON form, core and extensions alike (keys matched
/// case-insensitively).
pub fn strip_never_returned(resource: &mut Value, rt: &ResourceType) {
    for schema in rt.schemas() {
        let is_core = std::ptr::eq(schema, rt.schema);
        let target = if is_core {
            Some(&mut *resource)
        } else {
            resource.as_object_mut().and_then(|map| {
                map.iter_mut()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&schema.id))
                    .map(|(_, v)| v)
            })
        };
        let Some(Value::Object(map)) = target else {
            continue;
        };
        map.retain(|key, value| {
            let Some(attr) = lookup_attribute(schema, is_core, key) else {
                return true;
            };
            if attr.returned == Returned::Never {
                return false;
            }
            strip_never_subs(attr, value);
            true
        });
    }
}

fn strip_never_subs(attr: &Attribute, value: &mut Value) {
    if attr.sub_attributes.is_empty() {
        return;
    }
    let strip = |v: &mut Value| {
        if let Value::Object(m) = v {
            m.retain(|k, _| {
                attr.sub_attribute(k)
                    .is_none_or(|s| s.returned != Returned::Never)
            });
        }
    };
    match value {
        Value::Array(items) => items.iter_mut().for_each(strip),
        other => strip(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ScimType;
    use crate::scim::schema::SchemaRegistry;
    use serde_json::json;

    fn user(body: Value) -> Result<Value, ScimError> {
        normalize(body, &SchemaRegistry::get().user, WriteMode::Create)
    }

    fn group(body: Value) -> Result<Value, ScimError> {
        normalize(body, &SchemaRegistry::get().group, WriteMode::Create)
    }

    fn assert_invalid_value(result: Result<Value, ScimError>, needle: &str) {
        let err = result.expect_err("must fail");
        assert_eq!(err.status, 400);
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue), "{err}");
        assert!(err.detail.contains(needle), "{}", err.detail);
    }

    #[test]
    fn common_attributes_parse() {
        assert_eq!(common_attributes().len(), 3);
        let meta = common_attribute("META").unwrap();
        assert_eq!(
            meta.sub_attribute("lastmodified").unwrap().attr_type,
            AttrType::DateTime
        );
        assert_eq!(common_attribute("id").unwrap().returned, Returned::Always);
    }

    #[test]
    fn microsoft_capitalised_names_and_string_booleans() {
        let out = user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "UserName": "alice@example.com",
            "Active": "False",
            "ExternalID": "ext-1",
            "Name": {"GivenName": "Alice", "familyname": "Smith"},
            "Emails": [{"Primary": "True", "Type": "work", "Value": "alice@example.com"}],
            "meta": {"resourceType": "User"},
            "roles": [],
            "nickName": null,
            "id": "client-chosen"
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "externalId": "ext-1",
                "userName": "alice@example.com",
                "name": {"givenName": "Alice", "familyName": "Smith"},
                "active": false,
                "emails": [{"primary": true, "type": "work", "value": "alice@example.com"}]
            })
        );
    }

    #[test]
    fn extensions_by_urn_key_and_flat_keys() {
        let out = user(json!({
            "userName": "bob",
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER": {"Department": "R&D"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "m-1",
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "Bob",
            "urn:example:unknown:2.0:User": {"x": 1},
            "urn:ietf:params:scim:schemas:extension:sap:2.0:User": {
                "status": "Active", "sourceSystem": "39", "mailVerified": "true",
                "userId": "P000001", "validFrom": "2024-01-31T10:00:00.5+01:00"
            }
        }))
        .unwrap();
        assert_eq!(
            out["schemas"],
            json!([urn::USER, urn::ENTERPRISE_USER, urn::SAP_USER])
        );
        assert_eq!(out["displayName"], "Bob");
        assert_eq!(
            out[urn::ENTERPRISE_USER],
            json!({"employeeNumber": "42", "department": "R&D", "manager": {"value": "m-1"}})
        );
        // userId is read-only; status takes its canonical spelling; sourceSystem an integer.
        assert_eq!(
            out[urn::SAP_USER],
            json!({"mailVerified": true, "status": "active", "sourceSystem": 39,
                   "validFrom": "2024-01-31T10:00:00.5+01:00"})
        );
        assert!(out.get("urn:example:unknown:2.0:User").is_none());
    }

    #[test]
    fn entra_manager_array_is_unwrapped() {
        let out = user(json!({
            "userName": "c",
            urn::ENTERPRISE_USER: {"manager": [{"value": "m-2", "$ref": "../Users/m-2", "displayName": "x"}]}
        }))
        .unwrap();
        assert_eq!(
            out[urn::ENTERPRISE_USER]["manager"],
            json!({"value": "m-2", "$ref": "../Users/m-2"})
        );
        let out = user(json!({"userName": "c", urn::ENTERPRISE_USER: {"manager": "m-3"}})).unwrap();
        assert_eq!(
            out[urn::ENTERPRISE_USER]["manager"],
            json!({"value": "m-3"})
        );
    }

    #[test]
    fn single_object_for_multi_valued_complex_is_wrapped() {
        let out = user(json!({"userName": "d", "emails": {"value": "d@x"}})).unwrap();
        assert_eq!(out["emails"], json!([{"value": "d@x"}]));
    }

    #[test]
    fn type_errors_name_the_attribute() {
        assert_invalid_value(user(json!({"userName": 5})), "'userName'");
        assert_invalid_value(user(json!({"userName": "e", "active": "yes"})), "'active'");
        assert_invalid_value(user(json!({"userName": "e", "emails": "e@x"})), "'emails'");
        assert_invalid_value(user(json!({"userName": "e", "name": "E"})), "'name'");
        assert_invalid_value(
            user(json!({"userName": "e", urn::SAP_USER: {"sourceSystem": "abc"}})),
            "sourceSystem",
        );
        assert_invalid_value(
            user(json!({"userName": "e", urn::SAP_USER: {"validTo": "tomorrow"}})),
            "validTo",
        );
        assert_invalid_value(
            user(json!({"userName": "e", urn::SAP_USER: {"status": "deleted"}})),
            "status",
        );
        assert_invalid_value(user(json!({"userName": "e", "active": [true]})), "'active'");
        let err = user(json!(["not", "an", "object"])).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn required_attributes() {
        assert_invalid_value(user(json!({"displayName": "x"})), "'userName' is required");
        assert_invalid_value(user(json!({"userName": null})), "'userName' is required");
        assert_invalid_value(group(json!({"members": []})), "'displayName' is required");
    }

    #[test]
    fn at_most_one_primary() {
        assert_invalid_value(
            user(json!({"userName": "f", "emails": [
                {"value": "a@x", "primary": true}, {"value": "b@x", "Primary": "True"}]})),
            "more than one value with primary true",
        );
        assert!(
            user(json!({"userName": "f", "emails": [
                {"value": "a@x", "primary": true}, {"value": "b@x", "primary": false}]}))
            .is_ok()
        );
    }

    #[test]
    fn custom_attributes_are_limited_to_256_characters() {
        let ok = "x".repeat(256);
        let out =
            user(json!({"userName": "g", urn::SAP_CUSTOM_USER: {"customattribute1": ok}})).unwrap();
        assert_eq!(
            out[urn::SAP_CUSTOM_USER]["customAttribute1"]
                .as_str()
                .unwrap()
                .len(),
            256
        );
        assert_invalid_value(
            user(
                json!({"userName": "g", urn::SAP_CUSTOM_USER: {"customAttribute2": "x".repeat(257)}}),
            ),
            "longer than 256",
        );
        let v1 = user(json!({"userName": "g", urn::SAP_CUSTOM_USER: {
            "attributes": [{"name": "customAttribute10", "value": "v"}]}}))
        .unwrap();
        assert_eq!(
            v1[urn::SAP_CUSTOM_USER]["attributes"],
            json!([{"name": "customAttribute10", "value": "v"}])
        );
        assert_invalid_value(
            user(json!({"userName": "g", urn::SAP_CUSTOM_USER: {
                "attributes": [{"name": "customAttribute11", "value": "v"}]}})),
            "customAttribute1 .. customAttribute10",
        );
    }

    #[test]
    fn group_members_drop_read_only_display_and_password_passes_to_the_directory() {
        let out = group(json!({
            "displayName": "Admins",
            "members": [{"value": "u1", "display": "User One", "type": "User"}],
            urn::SAP_GROUP: {"type": "authorization", "externalName": "adm"}
        }))
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "u1", "type": "User"}]));
        assert_eq!(out["schemas"], json!([urn::GROUP, urn::SAP_GROUP]));
        assert_invalid_value(
            group(json!({"displayName": "A", urn::SAP_GROUP: {"type": "x"}})),
            "type",
        );
        let out = user(json!({"userName": "h", "password": "s3cret", "groups": [{"value": "g"}]}))
            .unwrap();
        assert_eq!(out["password"], "s3cret");
        assert!(out.get("groups").is_none());
    }

    #[test]
    fn immutable_attributes_cannot_change() {
        let rt = &SchemaRegistry::get().group;
        let old = json!({"displayName": "A", urn::SAP_GROUP: {"externalName": "n1"}});
        let same = json!({"displayName": "B", urn::SAP_GROUP: {"externalName": "N1"}});
        assert!(check_immutable(&old, &same, rt).is_ok());
        let changed = json!({"displayName": "A", urn::SAP_GROUP: {"externalName": "n2"}});
        let err = check_immutable(&old, &changed, rt).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::Mutability));
        assert!(err.detail.contains("externalName"));
        // Leaving it out unassigns it: allowed.
        let dropped = json!({"displayName": "A"});
        assert!(check_immutable(&old, &dropped, rt).is_ok());
        // No value before: setting one is allowed.
        assert!(check_immutable(&json!({"displayName": "A"}), &changed, rt).is_ok());
    }

    #[test]
    fn never_returned_attributes_are_stripped() {
        let rt = &SchemaRegistry::get().user;
        let mut v = json!({"userName": "a", "Password": "x", urn::SAP_USER: {"sendMail": true, "status": "new"}});
        strip_never_returned(&mut v, rt);
        assert_eq!(
            v,
            json!({"userName": "a", urn::SAP_USER: {"status": "new"}})
        );
    }

    #[test]
    fn date_time_syntax() {
        for ok in [
            "2024-01-31T12:00:00Z",
            "2024-01-31t12:00:00.123z",
            "2024-12-01T00:00:00-05:30",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "2024-01-31",
            "2024-13-01T00:00:00Z",
            "2024-01-31T12:00:00",
            "2024-01-31T12:00:00.Z",
            "x",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }
}
