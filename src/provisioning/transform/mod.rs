//! The transformation engine of the provisioning service (spec/domain.md §4.5, §3.4 rules 24–35):
//! SAP Identity Provisioning's JSON transformations, parsed once and applied to one entity at a
//! time. Pure code: no I/O (ids of existing target entities come through [`EntityIdResolver`]).
//!
//! - [`Transformation::parse`] reads the JSON format (`{"user": EntityRule, "group": …}`, with
//!   `//` comments as in SAP's own defaults) and checks every path, condition, regular expression
//!   and function, so a transformation that parses only fails at run time on the data. Errors name
//!   the place: `user.mappings[3].functions[0]: unknown function 'foo'`.
//! - [`Transformation::apply`] runs one entity rule: `ignore`, the entity `condition`,
//!   `skipOperations`, then the mappings in order, honouring `scope` (`createEntity` only on
//!   create; on delete only `deleteEntity` mappings run and the entity condition is ignored).
//! - [`defaults`] holds SAP's default transformations per system type and API version.
//!
//! Invariants: applying never panics and never changes the input; a failing mapping fails the
//! whole entity with a [`TransformError`] naming the mapping; error messages carry paths and
//! configuration, never entity values.

pub mod defaults;
mod engine;
mod expr;
mod functions;
mod java_regex;
mod jsonpath;
mod parser;
mod rules;
#[cfg(test)]
mod tests;
mod text;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

pub(crate) use engine::Scope;

/// The kinds of entity a transformation has rules for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityType {
    User,
    Group,
}

impl EntityType {
    /// The key of the entity rule in the transformation JSON (`user`, `group`).
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::User => "user",
            EntityType::Group => "group",
        }
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The write operation a (target) transformation runs for. Source (read) transformations run
/// with [`Operation::Create`] or [`Operation::Update`]; scopes only matter on the write side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    /// The name used in `skipOperations` (`create`, `update`, `delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

/// Resolves the id of an entity in the source system to the id of the same entity in the
/// target system (`resolveEntityIds`); `None` when the target does not have it (yet).
pub trait EntityIdResolver: Send + Sync {
    fn resolve(&self, entity: EntityType, source_id: &str) -> Option<String>;
}

/// A resolver that knows no entity (for read transformations).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoResolver;

impl EntityIdResolver for NoResolver {
    fn resolve(&self, _entity: EntityType, _source_id: &str) -> Option<String> {
        None
    }
}

/// Everything a transformation may consult besides the entity.
pub struct TransformContext<'a> {
    /// The system's properties: `%property%` interpolation, `ips.date.variable.format`,
    /// `ips.application.id`.
    pub properties: &'a BTreeMap<String, String>,
    pub operation: Operation,
    /// `${entityIdSourceSystem}`.
    pub entity_id_source_system: Option<String>,
    /// `${entityIdTargetSystem}` (none before the entity is created in the target).
    pub entity_id_target_system: Option<String>,
    /// For `resolveEntityIds`.
    pub resolver: &'a dyn EntityIdResolver,
    /// `${currentDate}`, formatted in UTC with `ips.date.variable.format`.
    pub now: jiff::Timestamp,
}

/// The result of applying a transformation to one entity.
#[derive(Debug, Clone, PartialEq)]
pub enum TransformOutcome {
    /// The transformed entity and the variables its mappings set (`targetVariable`:
    /// `entityIdSourceSystem`, `entityIdTargetSystem`, `assignGroup`, `unassignGroup`, and any
    /// other name a mapping writes to).
    Mapped {
        entity: Value,
        variables: BTreeMap<String, Value>,
    },
    /// The entity is not provisioned, with the reason for the log.
    Skipped { reason: String },
}

/// A transformation that does not parse, or that failed on one entity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The text is not JSON (or not a JSON object).
    #[error("transformation is not valid JSON: {0}")]
    Json(String),
    /// A part of the transformation is invalid; `at` names it (`user.mappings[3].functions[0]`).
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
    /// Applying the transformation failed; `at` names the mapping (`user.mappings[2]`) or the
    /// entity condition (`user.condition`).
    #[error("mapping {at}: {message}")]
    Failed { at: String, message: String },
}

/// A parsed transformation.
#[derive(Debug, Clone)]
pub struct Transformation {
    /// The JSON it was parsed from (comments removed): equality is equality of this.
    source: Value,
    rules: BTreeMap<String, rules::EntityRule>,
}

impl PartialEq for Transformation {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Transformation {
    /// Parses and checks a transformation.
    pub fn parse(json: &str) -> Result<Transformation, TransformError> {
        let clean = text::strip_json_comments(json);
        let source: Value =
            serde_json::from_str(&clean).map_err(|e| TransformError::Json(e.to_string()))?;
        let Value::Object(top) = &source else {
            return Err(TransformError::Json(
                "the top level must be an object such as {\"user\": {...}, \"group\": {...}}"
                    .into(),
            ));
        };
        let mut rules = BTreeMap::new();
        for (name, rule) in top {
            rules.insert(name.clone(), rules::EntityRule::parse(name, rule)?);
        }
        Ok(Transformation { source, rules })
    }

    /// The transformation as JSON (comments removed).
    pub fn as_json(&self) -> &Value {
        &self.source
    }

    /// Whether the rule for `entity` keeps entities on delete: it has `deleteEntity` mappings,
    /// so a delete becomes an update with their output instead of a DELETE (rule 29).
    pub fn keeps_on_delete(&self, entity: EntityType) -> bool {
        self.rules
            .get(entity.as_str())
            .is_some_and(rules::EntityRule::has_delete_mappings)
    }

    /// Applies the rule for `entity` to `input`.
    pub fn apply(
        &self,
        entity: EntityType,
        input: &Value,
        ctx: &TransformContext<'_>,
    ) -> Result<TransformOutcome, TransformError> {
        match self.rules.get(entity.as_str()) {
            None => Ok(TransformOutcome::Skipped {
                reason: format!("The transformation has no {entity} mappings."),
            }),
            Some(rule) => engine::apply(rule, input, ctx),
        }
    }
}

/// A value compiled from text that may contain `%property%` / `${variable}` placeholders:
/// compiled once at parse time when it has none, otherwise checked at parse time (with dummy
/// values) and compiled on each use after rendering.
#[derive(Debug, Clone)]
pub(crate) struct Lazy<T: Clone> {
    raw: String,
    ready: Option<T>,
    compile: fn(&str) -> Result<T, String>,
}

impl<T: Clone> Lazy<T> {
    pub fn new(raw: String, compile: fn(&str) -> Result<T, String>) -> Result<Self, String> {
        let ready = if text::has_placeholders(&raw) {
            compile(&text::render_dummy(&raw))?;
            None
        } else {
            Some(compile(&raw)?)
        };
        Ok(Lazy {
            raw,
            ready,
            compile,
        })
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    pub fn get(&self, lookup: &dyn text::Lookup) -> Result<Cow<'_, T>, String> {
        match &self.ready {
            Some(t) => Ok(Cow::Borrowed(t)),
            None => (self.compile)(&text::render(&self.raw, lookup)).map(Cow::Owned),
        }
    }
}

/// A condition (entity, mapping or function level).
#[derive(Debug, Clone)]
pub(crate) struct Cond {
    expr: Lazy<expr::Expr>,
}

impl Cond {
    pub fn parse(raw: &str) -> Result<Cond, String> {
        Ok(Cond {
            expr: Lazy::new(raw.to_string(), parser::parse_condition)?,
        })
    }

    pub fn raw(&self) -> &str {
        self.expr.raw()
    }

    /// Evaluates the condition with `$` = `root` and `@` = `current`. Variable values (which
    /// may come from entity data) are escaped so they cannot change the condition's syntax.
    pub fn holds(&self, scope: &Scope<'_>, root: &Value, current: &Value) -> Result<bool, String> {
        let e = self.expr.get(&text::QuotedVariables(scope))?;
        let env = expr::Env {
            properties: scope.ctx.properties,
        };
        Ok(expr::eval(&e, &env, root, current))
    }
}
