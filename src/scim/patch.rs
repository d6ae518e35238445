//! The PATCH engine (RFC 7644 §3.5.2) with the quirks real clients send (Entra's capitalised
//! ops, string booleans, no-path replace with dotted keys, member removal with a value array,
//! the manager sent as an array; Okta's no-path `{"active":false}` and `id` inside no-path
//! values).
//!
//! Invariants:
//! - A PATCH request is atomic: the operations apply to a copy, which replaces the resource
//!   only when every operation and the final checks succeed.
//! - Attribute names are stored in the schema's spelling; extension attributes live under
//!   their URN key; `null`, empty arrays and empty objects are removed (unassigned).
//! - readOnly attributes are never changed (400 `mutability`), an immutable attribute's
//!   assigned value is never changed to another value (it may be removed: unassigning is not a
//!   change of value), required attributes are never removed.
//! - At most one value of a multi-valued attribute is `primary`.

use serde_json::{Map, Value};

use super::filter::{Filter, is_present, parse_datetime, values_equal};
use super::path::{PatchPath, TopAttribute, elements, get_ci, key_ci, parse_patch_path};
use super::schema::{AttrType, Attribute, Mutability, ResourceType};
use super::{ScimError, urn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Replace,
    Remove,
}

impl PatchOpKind {
    fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Replace => "replace",
            PatchOpKind::Remove => "remove",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOpKind,
    pub path: Option<String>,
    /// `Some(Value::Null)` when the client sent `"value": null`.
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

/// The member of an object with this key (exact first, then case-insensitive).
fn field<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Parses a PatchOp body (`schemas` + `Operations`). Keys and `op` values are matched
/// case-insensitively; an empty `path` counts as absent.
pub fn parse_patch_request(body: &Value) -> Result<PatchRequest, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("PATCH body must be a JSON object"))?;
    let has_patch_schema = field(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter().any(|u| {
                u.as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(urn::PATCH_OP))
            })
        });
    if !has_patch_schema {
        return Err(ScimError::invalid_syntax(format!(
            "'schemas' must contain {}",
            urn::PATCH_OP
        )));
    }
    let ops = field(obj, "Operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or_else(|| ScimError::invalid_syntax("'Operations' must be a non-empty array"))?;
    let mut operations = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let o = op.as_object().ok_or_else(|| {
            ScimError::invalid_syntax(format!("Operations[{i}] must be an object"))
        })?;
        let kind = match field(o, "op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("add") => PatchOpKind::Add,
            Some("replace") => PatchOpKind::Replace,
            Some("remove") => PatchOpKind::Remove,
            _ => {
                return Err(ScimError::invalid_syntax(format!(
                    "Operations[{i}].op must be 'add', 'replace' or 'remove'"
                )));
            }
        };
        let path = match field(o, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(_) => {
                return Err(ScimError::invalid_syntax(format!(
                    "Operations[{i}].path must be a string"
                )));
            }
        };
        operations.push(PatchOperation {
            op: kind,
            path,
            value: field(o, "value").cloned(),
        });
    }
    Ok(PatchRequest { operations })
}

/// Applies every operation to `resource` (the stored JSON form), atomically: on error the
/// resource is unchanged.
pub fn apply_patch(
    resource: &mut Value,
    request: &PatchRequest,
    rt: &ResourceType,
) -> Result<(), ScimError> {
    if !resource.is_object() {
        return Err(ScimError::internal("stored resource is not a JSON object"));
    }
    let mut work = resource.clone();
    for (i, op) in request.operations.iter().enumerate() {
        apply_operation(&mut work, op, rt).map_err(|e| {
            let path = op
                .path
                .as_deref()
                .map(|p| format!(" '{p}'"))
                .unwrap_or_default();
            ScimError {
                detail: format!("Operations[{i}] ({}{path}): {}", op.op.as_str(), e.detail),
                ..e
            }
        })?;
    }
    tidy(&mut work, rt);
    let mut before = resource.clone();
    tidy(&mut before, rt);
    check_invariants(&before, &work, rt)?;
    *resource = work;
    Ok(())
}

fn apply_operation(
    work: &mut Value,
    op: &PatchOperation,
    rt: &ResourceType,
) -> Result<(), ScimError> {
    let path = op.path.as_deref().map(str::trim).filter(|p| !p.is_empty());
    match op.op {
        PatchOpKind::Remove => {
            let path = path.ok_or_else(|| ScimError::no_target("remove requires a path"))?;
            if let Some(ext) = rt.extension(path) {
                if let Some(obj) = work.as_object_mut()
                    && let Some(k) = key_ci(obj, &ext.id)
                {
                    obj.shift_remove(&k);
                }
                return Ok(());
            }
            let pp = parse_patch_path(path, rt)?;
            remove(work, &pp, op.value.as_ref(), rt)
        }
        kind => {
            let value = op.value.as_ref().ok_or_else(|| {
                ScimError::invalid_syntax(format!("{} requires a value", kind.as_str()))
            })?;
            match path {
                None => apply_object(work, kind, value, rt, None),
                Some(p) => match rt.extension(p) {
                    Some(ext) => apply_object(work, kind, value, rt, Some(&ext.id)),
                    None => set(work, kind, &parse_patch_path(p, rt)?, value, rt, false),
                },
            }
        }
    }
}

/// An add/replace without path (or with an extension URN as path): every key of the value
/// object is a path (`name.givenName`, `urn:...:User:employeeNumber`, an extension URN with
/// an object of its attributes). `schemas` keys are ignored (clients serialise extension
/// objects with their own `schemas`), and so is `meta` without path; readOnly attributes
/// sent with their current value (Okta sends `id`) are ignored.
fn apply_object(
    work: &mut Value,
    kind: PatchOpKind,
    value: &Value,
    rt: &ResourceType,
    ext: Option<&str>,
) -> Result<(), ScimError> {
    let Value::Object(obj) = value else {
        return Err(ScimError::invalid_value(
            "a value without path must be an object of attributes",
        ));
    };
    for (key, v) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if ext.is_none() {
            if key.eq_ignore_ascii_case("meta") {
                continue;
            }
            if let Some(schema) = rt.extension(key) {
                match v {
                    Value::Null => {}
                    _ => apply_object(work, kind, v, rt, Some(&schema.id))?,
                }
                continue;
            }
        }
        let qualified;
        let key_path = match ext {
            Some(u) => {
                qualified = format!("{u}:{key}");
                qualified.as_str()
            }
            None => key.as_str(),
        };
        let pp = parse_patch_path(key_path, rt)?;
        let top = resolve(&pp, rt)?;
        if top.attribute.mutability == Mutability::ReadOnly
            && pp.filter.is_none()
            && pp.sub.is_none()
            && pp
                .attr_path()
                .top_value(work, rt)
                .is_some_and(|cur| cur == v)
        {
            continue;
        }
        set(work, kind, &pp, v, rt, true)?;
    }
    Ok(())
}

fn resolve(pp: &PatchPath, rt: &ResourceType) -> Result<TopAttribute, ScimError> {
    pp.attr_path()
        .top(rt)
        .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute '{}'", pp.attr)))
}

fn sub_def(
    attr: &'static Attribute,
    pp: &PatchPath,
) -> Result<Option<&'static Attribute>, ScimError> {
    match &pp.sub {
        None => Ok(None),
        Some(s) => attr.sub_attribute(s).map(Some).ok_or_else(|| {
            ScimError::invalid_path(format!("unknown sub-attribute '{s}' of '{}'", attr.name))
        }),
    }
}

fn check_writable(attr: &Attribute, sub: Option<&Attribute>) -> Result<(), ScimError> {
    for a in std::iter::once(attr).chain(sub) {
        if a.mutability == Mutability::ReadOnly {
            return Err(ScimError::mutability(format!(
                "attribute '{}' is readOnly",
                a.name
            )));
        }
    }
    Ok(())
}

/// add / replace at a path. `lenient_filter` (no-path values) creates the element a value
/// filter designates instead of answering `noTarget`.
fn set(
    work: &mut Value,
    kind: PatchOpKind,
    pp: &PatchPath,
    value: &Value,
    rt: &ResourceType,
    lenient_filter: bool,
) -> Result<(), ScimError> {
    let top = resolve(pp, rt)?;
    let attr = top.attribute;
    let sub = sub_def(attr, pp)?;
    check_writable(attr, sub)?;
    let slot = slot_mut(work, top)?;
    match (&pp.filter, sub) {
        (None, None) => set_whole(slot, kind, attr, value),
        (None, Some(sd)) => set_sub_everywhere(slot, attr, sd, value),
        (Some(filter), sd) => {
            let create = kind == PatchOpKind::Add || lenient_filter;
            set_filtered(slot, attr, filter, sd, value, create)
        }
    }
}

/// The value slot of a top-level attribute, created as `null` (under its extension object
/// when needed), with its key in the schema's spelling.
fn slot_mut(work: &mut Value, top: TopAttribute) -> Result<&mut Value, ScimError> {
    let not_object = || ScimError::internal("stored resource is not a JSON object");
    let root = work.as_object_mut().ok_or_else(not_object)?;
    let container = match top.extension {
        Some(ext) => {
            let holder = entry_canonical(root, ext);
            if !holder.is_object() {
                *holder = Value::Object(Map::new());
            }
            holder.as_object_mut().ok_or_else(not_object)?
        }
        None => root,
    };
    Ok(entry_canonical(container, &top.attribute.name))
}

/// The member `name` (matched case-insensitively, re-keyed to `name`), inserted as `null`
/// when absent.
fn entry_canonical<'m>(obj: &'m mut Map<String, Value>, name: &str) -> &'m mut Value {
    if let Some(k) = key_ci(obj, name)
        && k != name
    {
        let v = obj.shift_remove(&k).unwrap_or(Value::Null);
        obj.insert(name.to_string(), v);
    }
    obj.entry(name.to_string()).or_insert(Value::Null)
}

/// The existing slot of a top-level attribute, if any.
fn existing_slot_mut(work: &mut Value, top: TopAttribute) -> Option<&mut Value> {
    let root = work.as_object_mut()?;
    let container = match top.extension {
        Some(ext) => {
            let k = key_ci(root, ext)?;
            root.get_mut(&k)?.as_object_mut()?
        }
        None => root,
    };
    let k = key_ci(container, &top.attribute.name)?;
    container.get_mut(&k)
}

/// A single-valued attribute's value: `[x]` is unwrapped (Entra sends `manager` as an
/// array), `[]` is `null`.
fn unwrap_single(value: &Value, def: &Attribute) -> Result<Value, ScimError> {
    match value {
        Value::Array(items) if !def.multi_valued => match items.as_slice() {
            [] => Ok(Value::Null),
            [one] => Ok(one.clone()),
            _ => Err(ScimError::invalid_value(format!(
                "'{}' is single-valued",
                def.name
            ))),
        },
        other => Ok(other.clone()),
    }
}

/// Coerces one (non-array) value to `def`'s type: string booleans become booleans, numeric
/// strings numbers, numbers strings for string attributes; complex values get canonical
/// sub-attribute names, readOnly sub-attributes dropped, unknown ones kept as sent; a scalar
/// for a complex attribute with a `value` sub-attribute becomes `{"value": scalar}`.
fn coerce_value(v: &Value, def: &Attribute) -> Result<Value, ScimError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let wrong = |what: &str| ScimError::invalid_value(format!("'{}' must be {what}", def.name));
    match def.attr_type {
        AttrType::Complex => {
            let obj = match v {
                Value::Object(o) => o,
                scalar if !scalar.is_array() && def.sub_attribute("value").is_some() => {
                    let mut wrapped = Map::new();
                    wrapped.insert("value".into(), scalar.clone());
                    return coerce_value(&Value::Object(wrapped), def);
                }
                _ => return Err(wrong("a complex value (object)")),
            };
            let mut out = Map::new();
            for (k, sv) in obj {
                let Some(sd) = def.sub_attribute(k) else {
                    out.insert(k.clone(), sv.clone());
                    continue;
                };
                if sd.mutability == Mutability::ReadOnly {
                    continue;
                }
                let cv = if sd.multi_valued {
                    let items: Result<Vec<Value>, ScimError> = elements(sv)
                        .filter(|x| !x.is_null())
                        .map(|x| coerce_value(x, sd))
                        .collect();
                    Value::Array(items?)
                } else {
                    coerce_value(&unwrap_single(sv, sd)?, sd)?
                };
                out.insert(sd.name.clone(), cv);
            }
            Ok(Value::Object(out))
        }
        AttrType::Boolean => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong("a boolean")),
        },
        AttrType::Integer => match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(v.clone()),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| wrong("an integer")),
            _ => Err(wrong("an integer")),
        },
        AttrType::Decimal => match v {
            Value::Number(_) => Ok(v.clone()),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| wrong("a decimal")),
            _ => Err(wrong("a decimal")),
        },
        AttrType::DateTime => match v {
            Value::String(s) if parse_datetime(s).is_some() => Ok(v.clone()),
            _ => Err(wrong("an RFC 3339 dateTime")),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary => match v {
            Value::String(_) => Ok(v.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            _ => Err(wrong("a string")),
        },
    }
}

/// Takes the values of a slot as a vector (a lone value becomes one element); callers put
/// the vector back with `*slot = Value::Array(items)`.
fn take_array(slot: &mut Value) -> Vec<Value> {
    match std::mem::take(slot) {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// Sets (or with `null` removes) one member of an object, keyed in canonical spelling.
fn set_member(obj: &mut Map<String, Value>, name: &str, v: Value) {
    match key_ci(obj, name) {
        Some(k) if k == name && !v.is_null() => {
            if let Some(slot) = obj.get_mut(&k) {
                *slot = v;
            }
            return;
        }
        Some(k) => {
            obj.shift_remove(&k);
        }
        None => {}
    }
    if !v.is_null() {
        obj.insert(name.to_string(), v);
    }
}

/// Merges the members of `src` into `dst` (`null` members remove).
fn merge_into(dst: &mut Map<String, Value>, src: Map<String, Value>) {
    for (k, v) in src {
        if v.is_null() {
            if let Some(old) = key_ci(dst, &k) {
                dst.shift_remove(&old);
            }
        } else if let Some(old) = key_ci(dst, &k) {
            if let Some(slot) = dst.get_mut(&old) {
                *slot = v;
            }
        } else {
            dst.insert(k, v);
        }
    }
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(o.into_iter().filter(|(_, x)| !x.is_null()).collect()),
        other => other,
    }
}

fn set_whole(
    slot: &mut Value,
    kind: PatchOpKind,
    attr: &Attribute,
    value: &Value,
) -> Result<(), ScimError> {
    if attr.multi_valued {
        let mut items = Vec::new();
        for item in elements(value).filter(|x| !x.is_null()) {
            items.push(strip_nulls(coerce_value(item, attr)?));
        }
        let mut arr = take_array(slot);
        let touched: Vec<usize> = if kind == PatchOpKind::Replace {
            arr = items;
            (0..arr.len()).collect()
        } else {
            items
                .into_iter()
                .map(|item| merge_or_push(&mut arr, item, attr))
                .collect()
        };
        single_primary(&mut arr, &touched);
        *slot = Value::Array(arr);
        return Ok(());
    }
    let v = coerce_value(&unwrap_single(value, attr)?, attr)?;
    match (slot, v) {
        (Value::Object(dst), Value::Object(src)) => merge_into(dst, src),
        (slot, v) => *slot = strip_nulls(v),
    }
    Ok(())
}

/// Adds `item` to a multi-valued attribute: an identical value is not duplicated; a complex
/// value with the same `value` (and `type`) as an existing one is merged into it.
fn merge_or_push(arr: &mut Vec<Value>, item: Value, attr: &Attribute) -> usize {
    if let Some(i) = arr.iter().position(|e| *e == item) {
        return i;
    }
    let value_def = attr.sub_attribute("value");
    let same = |e: &Value| -> bool {
        let (Some(a), Some(b)) = (get_ci(e, "value"), get_ci(&item, "value")) else {
            return false;
        };
        let type_a = get_ci(e, "type")
            .and_then(Value::as_str)
            .map(str::to_lowercase);
        let type_b = get_ci(&item, "type")
            .and_then(Value::as_str)
            .map(str::to_lowercase);
        values_equal(a, b, value_def) && type_a == type_b
    };
    if let Some(i) = arr.iter().position(same) {
        if let (Some(Value::Object(dst)), Value::Object(src)) = (arr.get_mut(i), item) {
            merge_into(dst, src);
        }
        return i;
    }
    arr.push(item);
    arr.len() - 1
}

/// When one of `touched` is now primary, no other value stays primary (the last wins).
fn single_primary(arr: &mut [Value], touched: &[usize]) {
    let is_primary = |v: &Value| get_ci(v, "primary").and_then(Value::as_bool) == Some(true);
    let Some(&keep) = touched
        .iter()
        .rev()
        .find(|&&i| arr.get(i).is_some_and(is_primary))
    else {
        return;
    };
    for (i, v) in arr.iter_mut().enumerate() {
        if i != keep
            && is_primary(v)
            && let Value::Object(o) = v
        {
            set_member(o, "primary", Value::Bool(false));
        }
    }
}

fn coerce_for(sd: &Attribute, value: &Value) -> Result<Value, ScimError> {
    if sd.multi_valued {
        let items: Result<Vec<Value>, ScimError> = elements(value)
            .filter(|x| !x.is_null())
            .map(|x| coerce_value(x, sd))
            .collect();
        Ok(Value::Array(items?))
    } else {
        coerce_value(&unwrap_single(value, sd)?, sd)
    }
}

/// `attr.sub` without filter: the sub-attribute of a single complex value, or of every value
/// of a multi-valued one (creating one value when there is none).
fn set_sub_everywhere(
    slot: &mut Value,
    attr: &Attribute,
    sd: &Attribute,
    value: &Value,
) -> Result<(), ScimError> {
    let v = coerce_for(sd, value)?;
    if attr.multi_valued {
        let mut arr = take_array(slot);
        if arr.is_empty() {
            if !v.is_null() {
                let mut o = Map::new();
                o.insert(sd.name.clone(), v);
                arr.push(Value::Object(o));
            }
        } else {
            for e in arr.iter_mut() {
                if let Value::Object(o) = e {
                    set_member(o, &sd.name, v.clone());
                }
            }
        }
        *slot = Value::Array(arr);
        return Ok(());
    }
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(o) = slot {
        set_member(o, &sd.name, v);
    }
    Ok(())
}

/// `attr[filter]` or `attr[filter].sub`: changes the matching values. When nothing matches,
/// `create` adds the value the filter describes (for `eq` filters), else 400 `noTarget`.
fn set_filtered(
    slot: &mut Value,
    attr: &'static Attribute,
    filter: &Filter,
    sd: Option<&Attribute>,
    value: &Value,
    create: bool,
) -> Result<(), ScimError> {
    let mut arr = take_array(slot);
    let mut matched: Vec<usize> = (0..arr.len())
        .filter(|&i| filter.matches_element(&arr[i], Some(attr)))
        .collect();
    if matched.is_empty() {
        let no_target =
            || ScimError::no_target(format!("no value of '{}' matches the filter", attr.name));
        if !create {
            return Err(no_target());
        }
        let eqs = filter.equalities().ok_or_else(no_target)?;
        let mut seed = Map::new();
        for (k, v) in eqs {
            let name = attr.sub_attribute(&k).map(|d| d.name.clone()).unwrap_or(k);
            seed.insert(name, v);
        }
        let seed = coerce_value(&Value::Object(seed), attr)?;
        arr.push(seed);
        matched.push(arr.len() - 1);
    }
    let new = match sd {
        Some(sd) => coerce_for(sd, value)?,
        None => coerce_value(&unwrap_single(value, attr)?, attr)?,
    };
    for &i in &matched {
        let Some(Value::Object(el)) = arr.get_mut(i) else {
            continue;
        };
        match (sd, &new) {
            (Some(sd), v) => set_member(el, &sd.name, v.clone()),
            (None, Value::Object(src)) => merge_into(el, src.clone()),
            (None, _) => {
                return Err(ScimError::invalid_value(format!(
                    "'{}' values are objects",
                    attr.name
                )));
            }
        }
    }
    single_primary(&mut arr, &matched);
    *slot = Value::Array(arr);
    Ok(())
}

fn remove(
    work: &mut Value,
    pp: &PatchPath,
    value: Option<&Value>,
    rt: &ResourceType,
) -> Result<(), ScimError> {
    let top = resolve(pp, rt)?;
    let attr = top.attribute;
    let sub = sub_def(attr, pp)?;
    check_writable(attr, sub)?;
    if attr.required && pp.filter.is_none() && pp.sub.is_none() {
        return Err(ScimError::mutability(format!(
            "required attribute '{}' cannot be removed",
            attr.name
        )));
    }
    let Some(slot) = existing_slot_mut(work, top) else {
        return Ok(());
    };
    match (&pp.filter, sub) {
        (None, None) => match value {
            Some(listed) if attr.multi_valued && !listed.is_null() => {
                remove_listed(slot, attr, listed)
            }
            _ => *slot = Value::Null,
        },
        (None, Some(sd)) => {
            for e in as_array_view(slot) {
                if let Value::Object(o) = e {
                    set_member(o, &sd.name, Value::Null);
                }
            }
        }
        (Some(filter), sd) => {
            let mut arr = take_array(slot);
            match sd {
                Some(sd) => {
                    for e in arr
                        .iter_mut()
                        .filter(|e| filter.matches_element(e, Some(attr)))
                    {
                        if let Value::Object(o) = e {
                            set_member(o, &sd.name, Value::Null);
                        }
                    }
                }
                None => arr.retain(|e| !filter.matches_element(e, Some(attr))),
            }
            *slot = Value::Array(arr);
        }
    }
    Ok(())
}

/// The values of a slot, whether it holds one value or an array.
fn as_array_view(slot: &mut Value) -> Vec<&mut Value> {
    match slot {
        Value::Array(items) => items.iter_mut().collect(),
        other => vec![other],
    }
}

/// Entra's legacy member removal: `remove members` with a value array removes only the
/// listed values (matched on their `value` sub-attribute for complex attributes).
fn remove_listed(slot: &mut Value, attr: &Attribute, listed: &Value) {
    let value_def = attr.sub_attribute("value");
    let keys: Vec<&Value> = elements(listed).filter(|x| !x.is_null()).collect();
    let mut arr = take_array(slot);
    arr.retain(|e| {
        !keys
            .iter()
            .any(|k| match (attr.attr_type, get_ci(k, "value")) {
                (AttrType::Complex, Some(kv)) => {
                    get_ci(e, "value").is_some_and(|ev| values_equal(ev, kv, value_def))
                }
                (AttrType::Complex, None) if !k.is_object() => {
                    get_ci(e, "value").is_some_and(|ev| values_equal(ev, k, value_def))
                }
                _ => values_equal(e, k, Some(attr)),
            })
    });
    *slot = Value::Array(arr);
}

/// Removes `null`s, empty arrays and empty objects (unassigned values) and keeps a present
/// `schemas` array in step with the extension objects.
fn tidy(work: &mut Value, rt: &ResourceType) {
    prune(work);
    let Some(root) = work.as_object_mut() else {
        return;
    };
    let schemas_key = key_ci(root, "schemas");
    let present: Vec<(String, bool)> = rt
        .extensions
        .iter()
        .map(|e| (e.schema.id.clone(), key_ci(root, &e.schema.id).is_some()))
        .collect();
    if let Some(Value::Array(schemas)) = schemas_key.and_then(|k| root.get_mut(&k)) {
        for (id, has) in present {
            let listed = schemas
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&id)));
            if has && !listed {
                schemas.push(Value::String(id));
            } else if !has && listed {
                schemas.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&id)));
            }
        }
    }
}

/// Recursively drops `null` members and elements, then empty arrays and objects.
fn prune(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for x in o.values_mut() {
                prune(x);
            }
            o.retain(|_, x| !is_unassigned(x));
        }
        Value::Array(items) => {
            for x in items.iter_mut() {
                prune(x);
            }
            items.retain(|x| !is_unassigned(x));
        }
        _ => {}
    }
}

fn is_unassigned(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Required attributes stay present; an immutable attribute's assigned value is not changed to
/// another one (removing it is allowed).
fn check_invariants(before: &Value, after: &Value, rt: &ResourceType) -> Result<(), ScimError> {
    for schema in rt.schemas() {
        let ext = (schema.id != rt.schema.id).then_some(schema.id.as_str());
        for attribute in &schema.attributes {
            let top = TopAttribute {
                attribute,
                extension: ext,
            };
            let old = top_value(before, top).filter(|v| is_present(v));
            let new = top_value(after, top).filter(|v| is_present(v));
            if attribute.required && old.is_some() && new.is_none() {
                return Err(ScimError::mutability(format!(
                    "required attribute '{}' cannot be removed",
                    attribute.name
                )));
            }
            if attribute.mutability == Mutability::Immutable
                && old.is_some()
                && new.is_some()
                && old != new
            {
                return Err(ScimError::mutability(format!(
                    "immutable attribute '{}' cannot be changed",
                    attribute.name
                )));
            }
        }
    }
    Ok(())
}

fn top_value(resource: &Value, top: TopAttribute) -> Option<&Value> {
    let container = match top.extension {
        Some(ext) => get_ci(resource, ext)?,
        None => resource,
    };
    get_ci(container, &top.attribute.name)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::ScimType;
    use crate::scim::path::test_fixture::{ENT, group_type, user_type};

    fn request(ops: Value) -> PatchRequest {
        parse_patch_request(&json!({"schemas": [urn::PATCH_OP], "Operations": ops})).unwrap()
    }

    fn patch(resource: &Value, ops: Value) -> Result<Value, ScimError> {
        let mut r = resource.clone();
        apply_patch(&mut r, &request(ops), &user_type())?;
        Ok(r)
    }

    fn patch_group(resource: &Value, ops: Value) -> Result<Value, ScimError> {
        let mut r = resource.clone();
        apply_patch(&mut r, &request(ops), &group_type())?;
        Ok(r)
    }

    fn kind(e: ScimError) -> Option<ScimType> {
        assert_eq!(e.status, 400, "{e}");
        e.scim_type
    }

    fn bob() -> Value {
        json!({
            "id": "u1",
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "bob",
            "active": true,
            "name": {"givenName": "Bob", "familyName": "Jones"},
            "emails": [
                {"value": "bob@work.example", "type": "work", "primary": true},
                {"value": "bob@home.example", "type": "home"}
            ],
            "groups": [{"value": "g1", "display": "Staff"}],
            "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z"}
        })
    }

    #[test]
    fn parse_request_shape() {
        let ok = json!({"schemas": [urn::PATCH_OP], "operations": [
            {"OP": "Replace", "Path": "active", "Value": "False"},
            {"op": "remove", "path": ""}, {"op": "ADD", "value": {"a": 1}}]});
        let r = parse_patch_request(&ok).unwrap();
        assert_eq!(r.operations.len(), 3);
        assert_eq!(r.operations[0].op, PatchOpKind::Replace);
        assert_eq!(r.operations[0].path.as_deref(), Some("active"));
        assert_eq!(r.operations[0].value, Some(json!("False")));
        assert_eq!(r.operations[1].path, None);
        assert_eq!(r.operations[2].op, PatchOpKind::Add);
        let bad = [
            json!([]),
            json!({"Operations": [{"op": "add", "value": {}}]}),
            json!({"schemas": ["urn:x"], "Operations": [{"op": "add", "value": {}}]}),
            json!({"schemas": [urn::PATCH_OP]}),
            json!({"schemas": [urn::PATCH_OP], "Operations": []}),
            json!({"schemas": [urn::PATCH_OP], "Operations": {"op": "add"}}),
            json!({"schemas": [urn::PATCH_OP], "Operations": [{"op": "merge", "value": {}}]}),
            json!({"schemas": [urn::PATCH_OP], "Operations": [{"value": {}}]}),
            json!({"schemas": [urn::PATCH_OP], "Operations": [{"op": "add", "path": 3, "value": 1}]}),
            json!({"schemas": [urn::PATCH_OP], "Operations": ["add"]}),
        ];
        for b in bad {
            assert_eq!(
                kind(parse_patch_request(&b).unwrap_err()),
                Some(ScimType::InvalidSyntax),
                "{b}"
            );
        }
    }

    #[test]
    fn add_single_valued_replaces_and_complex_merges() {
        let r = patch(&bob(), json!([
            {"op": "add", "path": "displayName", "value": "Bobby"},
            {"op": "add", "path": "name", "value": {"givenName": "Robert", "formatted": "Robert Jones"}},
            {"op": "add", "path": "nickName", "value": "B"}
        ]))
        .unwrap();
        assert_eq!(r["displayName"], "Bobby");
        assert_eq!(
            r["name"],
            json!({"givenName": "Robert", "familyName": "Jones", "formatted": "Robert Jones"})
        );
        let r = patch(&r, json!([{"op": "add", "path": "nickName", "value": "C"}])).unwrap();
        assert_eq!(r["nickName"], "C");
    }

    #[test]
    fn add_multi_valued_appends_without_duplicates() {
        let r = patch(
            &bob(),
            json!([
                {"op": "add", "path": "emails", "value": [
                    {"value": "bob@work.example", "type": "work", "primary": true},
                    {"value": "bob@other.example", "type": "other"}]},
                {"op": "add", "path": "tags", "value": ["a", "b"]},
                {"op": "add", "path": "tags", "value": "a"}
            ]),
        )
        .unwrap();
        let emails = r["emails"].as_array().unwrap();
        assert_eq!(emails.len(), 3);
        assert_eq!(emails[2]["value"], "bob@other.example");
        assert_eq!(r["tags"], json!(["a", "b"]));
    }

    #[test]
    fn no_path_add_with_dotted_and_urn_keys() {
        let r = patch(
            &bob(),
            json!([{"op": "Add", "value": {
                "name.givenName": "Rob",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42",
                ENT: {"department": "R&D"},
                "DisplayName": "Rob Jones"
            }}]),
        )
        .unwrap();
        assert_eq!(r["name"]["givenName"], "Rob");
        assert_eq!(r["name"]["familyName"], "Jones");
        assert_eq!(r[ENT], json!({"employeeNumber": "42", "department": "R&D"}));
        assert_eq!(r["displayName"], "Rob Jones");
        // `schemas` follows the extension.
        assert!(r["schemas"].as_array().unwrap().contains(&json!(ENT)));
        let r = patch(&r, json!([{"op": "remove", "path": ENT}])).unwrap();
        assert!(r.get(ENT).is_none());
        assert!(!r["schemas"].as_array().unwrap().contains(&json!(ENT)));
    }

    #[test]
    fn replace_forms() {
        // Multi-valued without filter: replaced.
        let r = patch(&bob(), json!([{"op": "replace", "path": "emails", "value": [{"value": "x@y", "type": "work"}]}]))
            .unwrap();
        assert_eq!(r["emails"], json!([{"value": "x@y", "type": "work"}]));
        // Missing attribute: behaves like add.
        let r = patch(
            &bob(),
            json!([{"op": "replace", "path": "nickName", "value": "bb"}]),
        )
        .unwrap();
        assert_eq!(r["nickName"], "bb");
        // Sub-attribute of the matching value only.
        let r = patch(&bob(), json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@work.example"}
        ]))
        .unwrap();
        assert_eq!(r["emails"][0]["value"], "new@work.example");
        assert_eq!(r["emails"][1]["value"], "bob@home.example");
        // Filter without sub-attribute merges into the matching value.
        let r = patch(
            &bob(),
            json!([{"op": "replace", "path": "emails[value eq \"BOB@home.example\"]",
            "value": {"type": "other"}}]),
        )
        .unwrap();
        assert_eq!(
            r["emails"][1],
            json!({"value": "bob@home.example", "type": "other"})
        );
        // No-path replace of a multi-valued attribute replaces it.
        let r = patch(
            &bob(),
            json!([{"op": "replace", "value": {"emails": [{"value": "z@z"}]}}]),
        )
        .unwrap();
        assert_eq!(r["emails"], json!([{"value": "z@z"}]));
    }

    #[test]
    fn replace_filter_matching_nothing_is_no_target_but_add_creates() {
        let e = patch(
            &bob(),
            json!([
                {"op": "replace", "path": "emails[type eq \"other\"].value", "value": "o@x"}
            ]),
        )
        .unwrap_err();
        assert_eq!(kind(e), Some(ScimType::NoTarget));
        let r = patch(
            &bob(),
            json!([{"op": "add", "path": "emails[type eq \"other\"].value", "value": "o@x"}]),
        )
        .unwrap();
        assert_eq!(r["emails"][2], json!({"type": "other", "value": "o@x"}));
        // Entra's no-path form with a filtered key creates too.
        let r = patch(
            &bob(),
            json!([{"op": "replace", "value": {"phoneNumbers[type eq \"mobile\"].value": "+1"}}]),
        )
        .unwrap();
        assert_eq!(
            r["phoneNumbers"],
            json!([{"type": "mobile", "value": "+1"}])
        );
        // A non-equality filter cannot describe the value to create.
        let e = patch(
            &bob(),
            json!([{"op": "add", "path": "emails[type co \"x\"].value", "value": "o@x"}]),
        )
        .unwrap_err();
        assert_eq!(kind(e), Some(ScimType::NoTarget));
    }

    #[test]
    fn remove_forms() {
        let e = patch(&bob(), json!([{"op": "remove"}])).unwrap_err();
        assert_eq!(kind(e), Some(ScimType::NoTarget));
        let r = patch(
            &bob(),
            json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
        )
        .unwrap();
        assert_eq!(
            r["emails"],
            json!([{"value": "bob@home.example", "type": "home"}])
        );
        let r = patch(&bob(), json!([{"op": "remove", "path": "emails"}])).unwrap();
        assert!(r.get("emails").is_none());
        let r = patch(&bob(), json!([{"op": "remove", "path": "name.givenName"}])).unwrap();
        assert_eq!(r["name"], json!({"familyName": "Jones"}));
        let r = patch(
            &bob(),
            json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]),
        )
        .unwrap();
        assert!(r["emails"][0].get("primary").is_none());
        // Removing all values drops the attribute; removing a missing one is a no-op.
        let r = patch(&bob(), json!([{"op": "remove", "path": "emails[value ew \".example\"]"},
            {"op": "remove", "path": "nickName"}, {"op": "remove", "path": "emails[type eq \"x\"]"}]))
        .unwrap();
        assert!(r.get("emails").is_none());
        // Required attributes cannot be removed, directly or by replacing with null.
        for ops in [
            json!([{"op": "remove", "path": "userName"}]),
            json!([{"op": "replace", "path": "userName", "value": null}]),
            json!([{"op": "replace", "value": {"userName": ""}}]),
        ] {
            assert_eq!(
                kind(patch(&bob(), ops).unwrap_err()),
                Some(ScimType::Mutability)
            );
        }
    }

    #[test]
    fn group_membership_forms() {
        let g = json!({"id": "g1", "displayName": "Staff",
            "members": [{"value": "u1"}, {"value": "u2"}, {"value": "u3"}]});
        // Entra legacy: remove with a value array removes only the listed members.
        let r = patch_group(&g, json!([{"op": "Remove", "path": "members", "value": [{"value": "u2"}, {"value": "zz"}]}]))
            .unwrap();
        assert_eq!(r["members"], json!([{"value": "u1"}, {"value": "u3"}]));
        // Value-filter removal (Okta, Entra with the flag).
        let r = patch_group(
            &g,
            json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]),
        )
        .unwrap();
        assert_eq!(r["members"], json!([{"value": "u2"}, {"value": "u3"}]));
        // members.value is caseExact: no match, nothing removed.
        let r = patch_group(
            &g,
            json!([{"op": "remove", "path": "members[value eq \"U1\"]"}]),
        )
        .unwrap();
        assert_eq!(r["members"].as_array().unwrap().len(), 3);
        // Add with a value array appends and de-duplicates; unknown sub-attributes kept.
        let r = patch_group(
            &g,
            json!([{"op": "Add", "path": "members",
            "value": [{"value": "u3"}, {"value": "u4", "display": "Dana"}]}]),
        )
        .unwrap();
        assert_eq!(r["members"].as_array().unwrap().len(), 4);
        assert_eq!(r["members"][3], json!({"value": "u4", "display": "Dana"}));
        // Full replace; then an Okta-style rename carrying the unchanged id.
        let r = patch_group(
            &g,
            json!([{"op": "replace", "path": "members", "value": [{"value": "u9"}]},
            {"op": "replace", "value": {"id": "g1", "displayName": "Staff 2"}}]),
        )
        .unwrap();
        assert_eq!(r["members"], json!([{"value": "u9"}]));
        assert_eq!(r["displayName"], "Staff 2");
        // Remove all members.
        let r = patch_group(&g, json!([{"op": "remove", "path": "members"}])).unwrap();
        assert!(r.get("members").is_none());
    }

    #[test]
    fn entra_and_okta_quirks() {
        // Entra without the flag: capitalised op, string boolean.
        let r = patch(
            &bob(),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .unwrap();
        assert_eq!(r["active"], false);
        let r = patch(&r, json!([{"op": "replace", "value": {"Active": "TRUE"}}])).unwrap();
        assert_eq!(r["active"], true);
        // Okta deactivation: no path.
        let r = patch(
            &bob(),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .unwrap();
        assert_eq!(r["active"], false);
        // Entra manager as an array for a single-valued complex attribute.
        let r = patch(
            &bob(),
            json!([{"op": "Add", "path": format!("{ENT}:manager"),
            "value": [{"$ref": null, "value": "boss"}]}]),
        )
        .unwrap();
        assert_eq!(r[ENT]["manager"], json!({"value": "boss"}));
        let r = patch(
            &r,
            json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": "boss2"}]),
        )
        .unwrap();
        assert_eq!(r[ENT]["manager"], json!({"value": "boss2"}));
        let r = patch(
            &r,
            json!([{"op": "Remove", "path": format!("{ENT}:manager")}]),
        )
        .unwrap();
        assert!(r.get(ENT).is_none());
        // Entra string booleans inside complex values.
        let r = patch(
            &bob(),
            json!([{"op": "add", "path": "emails",
            "value": [{"value": "n@x", "Primary": "True"}]}]),
        )
        .unwrap();
        assert_eq!(r["emails"][2], json!({"value": "n@x", "primary": true}));
    }

    #[test]
    fn primary_true_clears_the_others() {
        let r = patch(
            &bob(),
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
        )
        .unwrap();
        assert_eq!(r["emails"][0]["primary"], false);
        assert_eq!(r["emails"][1]["primary"], true);
        let r = patch(
            &bob(),
            json!([{"op": "add", "path": "emails", "value": {"value": "p@x", "primary": true}}]),
        )
        .unwrap();
        assert_eq!(r["emails"][0]["primary"], false);
        assert_eq!(r["emails"][2]["primary"], true);
    }

    #[test]
    fn mutability_rules() {
        for ops in [
            json!([{"op": "replace", "path": "id", "value": "u2"}]),
            json!([{"op": "replace", "path": "meta.lastModified", "value": "2024-01-01T00:00:00Z"}]),
            json!([{"op": "add", "path": "groups", "value": [{"value": "g2"}]}]),
            json!([{"op": "remove", "path": "groups"}]),
            json!([{"op": "replace", "value": {"id": "other"}}]),
            json!([{"op": "replace", "path": format!("{ENT}:manager.displayName"), "value": "x"}]),
        ] {
            assert_eq!(
                kind(patch(&bob(), ops.clone()).unwrap_err()),
                Some(ScimType::Mutability),
                "{ops}"
            );
        }
        // Immutable: may be set once and removed, never changed to another value.
        let r = patch(
            &bob(),
            json!([{"op": "add", "path": "badgeId", "value": "B1"}]),
        )
        .unwrap();
        assert_eq!(r["badgeId"], "B1");
        assert!(
            patch(
                &r,
                json!([{"op": "replace", "path": "badgeId", "value": "B1"}])
            )
            .is_ok()
        );
        assert_eq!(
            kind(
                patch(
                    &r,
                    json!([{"op": "replace", "path": "badgeId", "value": "B2"}])
                )
                .unwrap_err()
            ),
            Some(ScimType::Mutability)
        );
        let removed = patch(&r, json!([{"op": "remove", "path": "badgeId"}])).unwrap();
        assert!(removed.get("badgeId").is_none());
        // readOnly sub-attributes inside values are ignored.
        let r = patch(
            &bob(),
            json!([{"op": "add", "path": format!("{ENT}:manager"),
            "value": {"value": "m", "displayName": "ignored"}}]),
        )
        .unwrap();
        assert_eq!(r[ENT]["manager"], json!({"value": "m"}));
    }

    #[test]
    fn names_are_canonicalised() {
        let mut stored = bob();
        stored["NickName"] = json!("old");
        let r = patch(
            &stored,
            json!([{"op": "replace", "path": "NICKNAME", "value": "new"},
            {"op": "add", "path": "NAME.GIVENNAME", "value": "R"},
            {"op": "add", "path": "EMAILS", "value": [{"VALUE": "c@x", "TYPE": "x"}]}]),
        )
        .unwrap();
        assert_eq!(r["nickName"], "new");
        assert!(r.get("NickName").is_none());
        assert_eq!(r["name"]["givenName"], "R");
        assert_eq!(r["emails"][2], json!({"value": "c@x", "type": "x"}));
    }

    #[test]
    fn invalid_paths_and_values() {
        for (ops, want) in [
            (
                json!([{"op": "add", "path": "nope", "value": 1}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "add", "value": {"nope": 1}}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "remove", "path": "name.nope"}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "add", "path": "emails[type eq]", "value": 1}]),
                ScimType::InvalidPath,
            ),
            (
                json!([{"op": "add", "path": "active", "value": "maybe"}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "add", "path": "birthday", "value": "yesterday"}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "add", "path": "loginCount", "value": 1.5}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "add", "path": "name", "value": [1, 2]}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "add", "path": "displayName", "value": {"a": 1}}]),
                ScimType::InvalidValue,
            ),
            (json!([{"op": "add", "value": "x"}]), ScimType::InvalidValue),
            (
                json!([{"op": "add", "path": "displayName"}]),
                ScimType::InvalidSyntax,
            ),
        ] {
            assert_eq!(
                kind(patch(&bob(), ops.clone()).unwrap_err()),
                Some(want),
                "{ops}"
            );
        }
        let r = patch(
            &bob(),
            json!([{"op": "add", "value": {"loginCount": "7", "weight": 70, "birthday":
            "1990-01-01T00:00:00Z", "displayName": 5}}]),
        )
        .unwrap();
        assert_eq!(
            (r["loginCount"].clone(), r["displayName"].clone()),
            (json!(7), json!("5"))
        );
    }

    #[test]
    fn patch_is_atomic() {
        let before = bob();
        let mut r = before.clone();
        let req = request(json!([
            {"op": "replace", "path": "displayName", "value": "changed"},
            {"op": "remove", "path": "emails"},
            {"op": "replace", "path": "emails[type eq \"nope\"].value", "value": "x"}
        ]));
        let e = apply_patch(&mut r, &req, &user_type()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
        assert!(
            e.detail.starts_with("Operations[2] (replace"),
            "{}",
            e.detail
        );
        assert_eq!(r, before);
        // A failing final check (required attribute) also leaves the resource unchanged.
        let req = request(json!([{"op": "add", "path": "displayName", "value": "x"},
            {"op": "replace", "path": "userName", "value": ""}]));
        assert!(apply_patch(&mut r, &req, &user_type()).is_err());
        assert_eq!(r, before);
    }

    #[test]
    fn extension_path_values_may_carry_their_own_schemas() {
        // Clients serialise an extension object with its `schemas` (scim2-models does).
        for op in ["add", "replace"] {
            let r = patch(
                &bob(),
                json!([{"op": op, "path": ENT,
                    "value": {"schemas": [ENT], "employeeNumber": "42"}}]),
            )
            .unwrap();
            assert_eq!(r[ENT], json!({"employeeNumber": "42"}), "{op}");
        }
    }

    #[test]
    fn removing_an_extension_with_an_immutable_attribute_unassigns_it() {
        let rt = &crate::scim::schema::SchemaRegistry::get().group;
        let group = json!({"displayName": "G", "schemas": [urn::GROUP, urn::SAP_GROUP],
            urn::SAP_GROUP: {"applicationId": "app", "externalName": "ext-1"}});
        let mut removed = group.clone();
        apply_patch(
            &mut removed,
            &request(json!([{"op": "remove", "path": urn::SAP_GROUP}])),
            rt,
        )
        .unwrap();
        assert!(removed.get(urn::SAP_GROUP).is_none(), "{removed}");
        assert_eq!(removed["schemas"], json!([urn::GROUP]));
        // Changing the assigned value to another one stays a mutability error.
        let path = format!("{}:externalName", urn::SAP_GROUP);
        let mut changed = group.clone();
        let err = apply_patch(
            &mut changed,
            &request(json!([{"op": "replace", "path": path, "value": "ext-2"}])),
            rt,
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::Mutability));
        assert_eq!(changed, group);
    }
}
