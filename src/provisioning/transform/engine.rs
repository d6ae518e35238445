//! Applying an entity rule to one entity: entity-level checks, then each mapping in order.
//!
//! Per mapping: `ignore` and `scope` select it; its `condition` (on the input) must hold; the
//! value is read (a single-element array read from a path unwraps unless
//! `preserveArrayWithSingleElement`), replaced by `defaultValue` when missing, passed through the
//! functions, and written to `targetPath` (in the output) and/or `targetVariable`. A missing value
//! fails the entity unless the mapping is `optional`. `remove` and `rename` act on the output.
//! On create, a missing `${entityIdTargetSystem}` is not an error (the target assigns it).

use std::cell::OnceCell;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::expr::{self, loose_eq};
use super::rules::{Action, EntityRule, Mapping, MappingScope, Source};
use super::text::{self, Lookup};
use super::{Operation, TransformContext, TransformError, TransformOutcome};

/// What a mapping sees while it runs: the context, the input entity and the variables set so
/// far. Resolves `%property%` and `${variable}` placeholders.
pub(crate) struct Scope<'a> {
    pub ctx: &'a TransformContext<'a>,
    pub input: &'a Value,
    vars: &'a BTreeMap<String, Value>,
    current_date: &'a OnceCell<Result<String, String>>,
}

impl Scope<'_> {
    fn current_date(&self) -> Result<String, String> {
        self.current_date
            .get_or_init(|| {
                let pattern = self
                    .ctx
                    .properties
                    .get("ips.date.variable.format")
                    .map_or(text::DEFAULT_DATE_FORMAT, String::as_str);
                text::format_current_date(self.ctx.now, pattern)
            })
            .clone()
    }

    /// The value of a variable: set by an earlier mapping, else from the context.
    fn variable_value(&self, name: &str) -> Result<Option<Value>, String> {
        if let Some(v) = self.vars.get(name) {
            return Ok(Some(v.clone()));
        }
        Ok(match name {
            "entityIdSourceSystem" => self.ctx.entity_id_source_system.clone().map(Value::String),
            "entityIdTargetSystem" => self.ctx.entity_id_target_system.clone().map(Value::String),
            "currentDate" => Some(Value::String(self.current_date()?)),
            _ => None,
        })
    }

    fn env(&self) -> expr::Env<'_> {
        expr::Env {
            properties: self.ctx.properties,
        }
    }
}

impl Lookup for Scope<'_> {
    fn property(&self, name: &str) -> Option<String> {
        self.ctx.properties.get(name).cloned()
    }

    fn variable(&self, name: &str) -> Option<String> {
        match self.variable_value(name).ok().flatten()? {
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }
}

fn failed(at: &str, message: impl Into<String>) -> TransformError {
    TransformError::Failed {
        at: at.to_string(),
        message: message.into(),
    }
}

fn skipped_operation(op: Operation) -> TransformOutcome {
    TransformOutcome::Skipped {
        reason: format!(
            "Operation [{}] is skipped in target transformation",
            op.as_str()
        ),
    }
}

/// Applies `rule` to `input`.
pub(crate) fn apply(
    rule: &EntityRule,
    input: &Value,
    ctx: &TransformContext<'_>,
) -> Result<TransformOutcome, TransformError> {
    if rule.ignore {
        return Ok(TransformOutcome::Skipped {
            reason: format!(
                "The {} mappings are ignored in the transformation.",
                rule.name
            ),
        });
    }
    let current_date = OnceCell::new();
    let mut vars: BTreeMap<String, Value> = BTreeMap::new();
    let deleting = ctx.operation == Operation::Delete;
    if deleting {
        if rule.skip_operations.contains(&Operation::Delete) {
            return Ok(skipped_operation(Operation::Delete));
        }
    } else {
        if let Some(cond) = &rule.condition {
            let scope = Scope {
                ctx,
                input,
                vars: &vars,
                current_date: &current_date,
            };
            let holds = cond
                .holds(&scope, input, input)
                .map_err(|m| failed(&format!("{}.condition", rule.name), m))?;
            if !holds {
                return Ok(TransformOutcome::Skipped {
                    reason: format!("The condition: {}, is not fulfilled.", cond.raw()),
                });
            }
        }
        if rule.skip_operations.contains(&ctx.operation) {
            return Ok(skipped_operation(ctx.operation));
        }
    }
    let mut output = Value::Object(Map::new());
    for m in &rule.mappings {
        if m.ignore || !in_scope(m.scope, ctx.operation) {
            continue;
        }
        let scope = Scope {
            ctx,
            input,
            vars: &vars,
            current_date: &current_date,
        };
        if let Some(effect) =
            run_mapping(m, &scope, &mut output).map_err(|msg| failed(&m.at, msg))?
        {
            let (name, value) = effect;
            vars.insert(name, value);
        }
    }
    Ok(TransformOutcome::Mapped {
        entity: output,
        variables: vars,
    })
}

fn in_scope(scope: Option<MappingScope>, op: Operation) -> bool {
    match (scope, op) {
        (Some(MappingScope::DeleteEntity), Operation::Delete) => true,
        (_, Operation::Delete) => false,
        (None, _) => true,
        (Some(MappingScope::CreateEntity), Operation::Create) => true,
        _ => false,
    }
}

/// Runs one mapping; returns the variable it sets, if any.
fn run_mapping(
    m: &Mapping,
    scope: &Scope<'_>,
    output: &mut Value,
) -> Result<Option<(String, Value)>, String> {
    let input = scope.input;
    if let Some(c) = &m.condition
        && !c.holds(scope, input, input)?
    {
        return Ok(None);
    }
    let env = scope.env();
    match &m.action {
        Action::Remove => {
            if let Some(t) = &m.target_path {
                t.get(scope)?.remove(output, &env);
            }
            return Ok(None);
        }
        Action::Rename(new_name) => {
            if let Some(t) = &m.target_path {
                let renamed = t
                    .get(scope)?
                    .rename(output, &text::render(new_name, scope), &env);
                if !renamed && !m.optional {
                    return Err(format!("nothing to rename at {}", t.raw()));
                }
            }
            return Ok(None);
        }
        Action::Set | Action::ValueMapping { .. } => {}
    }
    if m.target_path.is_none() && m.target_variable.is_none() {
        // A correlation-only mapping: nothing to write.
        return Ok(None);
    }
    let mut value = match &m.action {
        Action::ValueMapping { paths, table } => {
            let mut keys = Vec::with_capacity(paths.len());
            for p in paths {
                keys.push(p.get(scope)?.read(input, input, &env).into_value());
            }
            table
                .iter()
                .find(|(key, _)| {
                    key.iter()
                        .zip(&keys)
                        .all(|(k, v)| v.as_ref().is_some_and(|v| loose_eq(k, v)))
                })
                .map(|(_, mapped)| text::render_value(mapped, scope))
        }
        _ => read_source(m, scope)?,
    };
    if value.is_none() {
        if let Source::Variable(name) = &m.source
            && name == "entityIdTargetSystem"
            && scope.ctx.operation == Operation::Create
        {
            return Ok(None);
        }
        value = m.default.as_ref().map(|d| text::render_value(d, scope));
    }
    for f in &m.functions {
        value = f
            .apply(value, scope)
            .map_err(|msg| format!("{}: {msg}", f_at(&f.at, &m.at)))?;
    }
    let Some(value) = value else {
        if m.optional {
            return Ok(None);
        }
        return Err(missing_message(m));
    };
    if let Some(t) = &m.target_path {
        let path = t.get(scope)?;
        if path.is_root() {
            *output = value.clone();
        } else {
            path.set(output, value.clone(), &env);
        }
    }
    Ok(m.target_variable.clone().map(|name| (name, value)))
}

/// `functions[0]` relative to the mapping.
fn f_at<'a>(function_at: &'a str, mapping_at: &str) -> &'a str {
    function_at
        .strip_prefix(mapping_at)
        .map_or(function_at, |s| s.trim_start_matches('.'))
}

fn missing_message(m: &Mapping) -> String {
    match &m.source {
        Source::Path(p) => format!("no value at {}", p.raw()),
        Source::Variable(v) => format!("variable '{v}' has no value"),
        _ if matches!(m.action, Action::ValueMapping { .. }) => {
            "no value mapping matches and there is no defaultValue".to_string()
        }
        _ => "the functions produced no value".to_string(),
    }
}

fn read_source(m: &Mapping, scope: &Scope<'_>) -> Result<Option<Value>, String> {
    Ok(match &m.source {
        Source::None => None,
        Source::Constant(c) => Some(text::render_value(c, scope)),
        Source::Variable(name) => scope.variable_value(name)?,
        Source::Path(p) => {
            let path = p.get(scope)?;
            let read = path
                .read(scope.input, scope.input, &scope.env())
                .into_value();
            match read {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) if a.is_empty() && !path.is_definite() => None,
                Some(Value::Array(mut a)) if a.len() == 1 && !m.preserve_array => a.pop(),
                other => other,
            }
        }
    })
}
