//! The parsed form of an entity rule and its mappings (the JSON format of spec/domain.md §4.5),
//! with the checks that make a transformation parse only when every part is usable.

use serde_json::{Map, Value};

use super::functions::{Function, flag};
use super::jsonpath::{JsonPath, Root};
use super::parser;
use super::{Cond, Lazy, Operation, TransformError};

/// `user`, `group` (or any other entity type name) of a transformation.
#[derive(Debug, Clone)]
pub(crate) struct EntityRule {
    pub name: String,
    pub condition: Option<Cond>,
    pub ignore: bool,
    pub skip_operations: Vec<Operation>,
    pub mappings: Vec<Mapping>,
}

/// Where a mapping's value comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    None,
    Path(Lazy<JsonPath>),
    Variable(String),
    Constant(Value),
}

/// What a mapping does with its target.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Set,
    Remove,
    /// Renames the last segment of `targetPath` to this name.
    Rename(String),
    /// Looks the values at `paths` up in `table` (keys as long as `paths`).
    ValueMapping {
        paths: Vec<Lazy<JsonPath>>,
        table: Vec<(Vec<Value>, Value)>,
    },
}

/// `scope` of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum MappingScope {
    CreateEntity,
    DeleteEntity,
    PatchEntity,
}

/// One mapping.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    /// `user.mappings[3]`.
    pub at: String,
    pub source: Source,
    pub target_path: Option<Lazy<JsonPath>>,
    pub target_variable: Option<String>,
    pub action: Action,
    pub default: Option<Value>,
    pub optional: bool,
    pub preserve_array: bool,
    pub scope: Option<MappingScope>,
    pub condition: Option<Cond>,
    pub functions: Vec<Function>,
    pub ignore: bool,
}

const MAPPING_KEYS: [&str; 18] = [
    "sourcePath",
    "sourcePaths",
    "targetPath",
    "sourceVariable",
    "targetVariable",
    "constant",
    "type",
    "valueMappings",
    "defaultValue",
    "optional",
    "preserveArrayWithSingleElement",
    "scope",
    "condition",
    "functions",
    "ignore",
    "correlationAttribute",
    "description",
    "comment",
];

const RULE_KEYS: [&str; 6] = [
    "condition",
    "ignore",
    "skipOperations",
    "mappings",
    "description",
    "comment",
];

fn invalid(at: &str, message: impl Into<String>) -> TransformError {
    TransformError::Invalid {
        at: at.to_string(),
        message: message.into(),
    }
}

fn source_path(raw: &str) -> Result<Lazy<JsonPath>, String> {
    Lazy::new(raw.to_string(), parser::parse_path)
}

fn target_path(raw: &str) -> Result<Lazy<JsonPath>, String> {
    Lazy::new(raw.to_string(), |s| {
        let p = parser::parse_path(s)?;
        if p.root != Root::Document {
            return Err(format!("a targetPath must start with '$': '{s}'"));
        }
        if p.function.is_some() {
            return Err(format!("a targetPath cannot end with a function: '{s}'"));
        }
        Ok(p)
    })
}

fn string_field<'v>(
    o: &'v Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<&'v str>, TransformError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(invalid(at, format!("'{key}' must be a string"))),
    }
}

impl EntityRule {
    pub fn parse(name: &str, v: &Value) -> Result<EntityRule, TransformError> {
        let Value::Object(o) = v else {
            return Err(invalid(
                name,
                "an entity rule must be an object with 'mappings'",
            ));
        };
        if let Some(k) = o.keys().find(|k| !RULE_KEYS.contains(&k.as_str())) {
            return Err(invalid(name, format!("unknown key '{k}'")));
        }
        let condition = string_field(o, "condition", name)?
            .map(Cond::parse)
            .transpose()
            .map_err(|m| invalid(&format!("{name}.condition"), m))?;
        let ignore = flag(o.get("ignore"), "ignore").map_err(|m| invalid(name, m))?;
        let mut skip_operations = Vec::new();
        match o.get("skipOperations") {
            None | Some(Value::Null) => {}
            Some(Value::Array(ops)) => {
                for op in ops {
                    let parsed = match op.as_str().map(str::to_ascii_lowercase).as_deref() {
                        Some("create") => Operation::Create,
                        Some("update") => Operation::Update,
                        Some("delete") => Operation::Delete,
                        _ => {
                            return Err(invalid(
                                &format!("{name}.skipOperations"),
                                format!("unknown operation {op} (create, update or delete)"),
                            ));
                        }
                    };
                    skip_operations.push(parsed);
                }
            }
            Some(_) => return Err(invalid(name, "'skipOperations' must be a list")),
        }
        let mappings = match o.get("mappings") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ms)) => ms
                .iter()
                .enumerate()
                .map(|(i, m)| Mapping::parse(m, format!("{name}.mappings[{i}]")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(name, "'mappings' must be a list")),
        };
        Ok(EntityRule {
            name: name.to_string(),
            condition,
            ignore,
            skip_operations,
            mappings,
        })
    }

    pub fn has_delete_mappings(&self) -> bool {
        !self.ignore
            && self
                .mappings
                .iter()
                .any(|m| !m.ignore && m.scope == Some(MappingScope::DeleteEntity))
    }
}

impl Mapping {
    pub fn parse(v: &Value, at: String) -> Result<Mapping, TransformError> {
        let Value::Object(o) = v else {
            return Err(invalid(&at, "a mapping must be an object"));
        };
        if let Some(k) = o.keys().find(|k| !MAPPING_KEYS.contains(&k.as_str())) {
            return Err(invalid(&at, format!("unknown key '{k}'")));
        }
        let e = |m: String| invalid(&at, m);
        let kind = string_field(o, "type", &at)?.unwrap_or("set");
        let source_path_raw = string_field(o, "sourcePath", &at)?;
        let source_variable = string_field(o, "sourceVariable", &at)?;
        let constant = o.get("constant").filter(|c| !c.is_null());
        let given = [
            source_path_raw.is_some(),
            source_variable.is_some(),
            constant.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        let target_raw = string_field(o, "targetPath", &at)?;
        let target = target_raw.map(target_path).transpose().map_err(e)?;
        let target_variable = string_field(o, "targetVariable", &at)?.map(str::to_string);
        let functions = match o.get("functions") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(fs)) => fs
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let fat = format!("{at}.functions[{i}]");
                    Function::parse(f, fat.clone()).map_err(|m| invalid(&fat, m))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(&at, "'functions' must be a list")),
        };
        if o.contains_key("sourcePaths") && kind != "valueMapping" {
            return Err(invalid(
                &at,
                "'sourcePaths' is only allowed with \"type\": \"valueMapping\"",
            ));
        }
        let action =
            match kind {
                "set" => Action::Set,
                "remove" => Action::Remove,
                "rename" => match constant {
                    Some(Value::String(n)) if !n.is_empty() => Action::Rename(n.clone()),
                    _ => {
                        return Err(invalid(
                            &at,
                            "a rename needs the new name as a string 'constant'",
                        ));
                    }
                },
                "valueMapping" => {
                    let mut raws: Vec<&str> = Vec::new();
                    match o.get("sourcePaths") {
                        Some(Value::Array(ps)) => {
                            for p in ps {
                                raws.push(p.as_str().ok_or_else(|| {
                                    invalid(&at, "'sourcePaths' must hold strings")
                                })?);
                            }
                        }
                        Some(_) => return Err(invalid(&at, "'sourcePaths' must be a list")),
                        None => raws.extend(source_path_raw),
                    }
                    if raws.is_empty() {
                        return Err(invalid(&at, "a valueMapping needs 'sourcePaths'"));
                    }
                    let paths = raws
                        .iter()
                        .map(|r| source_path(r))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(e)?;
                    let Some(Value::Array(entries)) = o.get("valueMappings") else {
                        return Err(invalid(&at, "a valueMapping needs a 'valueMappings' list"));
                    };
                    let mut table = Vec::with_capacity(entries.len());
                    for (i, entry) in entries.iter().enumerate() {
                        let eat = format!("{at}.valueMappings[{i}]");
                        let key = match entry.get("key") {
                            Some(Value::Array(k)) => k.clone(),
                            Some(Value::Null) | None => return Err(invalid(&eat, "missing 'key'")),
                            Some(scalar) => vec![scalar.clone()],
                        };
                        if key.len() != paths.len() {
                            return Err(invalid(
                                &eat,
                                format!(
                                    "the key has {} value(s) but there are {} sourcePaths",
                                    key.len(),
                                    paths.len()
                                ),
                            ));
                        }
                        let mapped = entry
                            .get("mappedValue")
                            .cloned()
                            .ok_or_else(|| invalid(&eat, "missing 'mappedValue'"))?;
                        table.push((key, mapped));
                    }
                    Action::ValueMapping { paths, table }
                }
                other => {
                    return Err(invalid(
                        &at,
                        format!("unknown type '{other}' (set, remove, rename or valueMapping)"),
                    ));
                }
            };
        let source = match (&action, source_path_raw, source_variable, constant) {
            (Action::Set, _, _, _) if given > 1 => {
                return Err(invalid(
                    &at,
                    "give only one of 'sourcePath', 'sourceVariable' and 'constant'",
                ));
            }
            (Action::Set, Some(p), _, _) => Source::Path(source_path(p).map_err(e)?),
            (Action::Set, _, Some(v), _) => Source::Variable(v.to_string()),
            (Action::Set, _, _, Some(c)) => Source::Constant(c.clone()),
            _ => Source::None,
        };
        match action {
            Action::Set
                if matches!(source, Source::None)
                    && functions.is_empty()
                    && (target.is_some() || target_variable.is_some()) =>
            {
                return Err(invalid(
                    &at,
                    "the mapping has no value: give 'sourcePath', 'sourceVariable', 'constant' or a function",
                ));
            }
            Action::Remove | Action::Rename(_) if target.is_none() => {
                return Err(invalid(&at, format!("a {kind} needs a 'targetPath'")));
            }
            Action::ValueMapping { .. } if target.is_none() && target_variable.is_none() => {
                return Err(invalid(
                    &at,
                    "a valueMapping needs a 'targetPath' or 'targetVariable'",
                ));
            }
            _ => {}
        }
        if let (Action::Rename(_), Some(t)) = (&action, &target) {
            let ok = parser::parse_path(&super::text::render_dummy(t.raw())).is_ok_and(|p| {
                matches!(p.segments.last(), Some(super::jsonpath::Segment::Name(_)))
            });
            if !ok {
                return Err(invalid(&at, "a rename's targetPath must end with a name"));
            }
        }
        let scope = match string_field(o, "scope", &at)? {
            None => None,
            Some("createEntity") => Some(MappingScope::CreateEntity),
            Some("deleteEntity") => Some(MappingScope::DeleteEntity),
            Some("patchEntity") => Some(MappingScope::PatchEntity),
            Some(other) => {
                return Err(invalid(
                    &at,
                    format!("unknown scope '{other}' (createEntity, deleteEntity or patchEntity)"),
                ));
            }
        };
        let condition = string_field(o, "condition", &at)?
            .map(Cond::parse)
            .transpose()
            .map_err(e)?;
        let bool_opt = |k: &str| flag(o.get(k), k).map_err(|m| invalid(&at, m));
        Ok(Mapping {
            source,
            target_path: target,
            target_variable,
            action,
            default: o.get("defaultValue").cloned(),
            optional: bool_opt("optional")?,
            preserve_array: bool_opt("preserveArrayWithSingleElement")?,
            scope,
            condition,
            functions,
            ignore: bool_opt("ignore")?,
            at,
        })
    }
}
