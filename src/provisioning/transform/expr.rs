//! Transformation conditions: Jayway JsonPath filter expressions plus SAP's condition
//! functions, and their evaluation.
//!
//! Semantics (Jayway unless noted): `==`/`!=` compare loosely (a number equals a string that
//! parses to it; arrays and objects structurally); `===`/`!==` also require the same JSON type;
//! `<`,`<=`,`>`,`>=` compare numbers or strings; `=~ /re/flags` must match the whole string (any
//! element of an array); `in`/`nin` test membership in a list; `contains` tests a substring or an
//! array element; `empty true|false` treats missing, null, `""`, `[]` and `{}` as empty (SAP's
//! documented reading); `size n` compares a length. A comparison with a missing left side is
//! false, except `!=`, `!==` and `nin`, which are true. Evaluation never fails.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::jsonpath::{JsonPath, Selection, length_of};

/// What condition functions may consult besides the entity.
pub(crate) struct Env<'a> {
    pub properties: &'a BTreeMap<String, String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    StrictEq,
    StrictNe,
    Lt,
    Le,
    Gt,
    Ge,
    Matches,
    In,
    Nin,
    Contains,
    Empty,
    Size,
    SubsetOf,
    AnyOf,
    NoneOf,
}

impl Op {
    pub fn is_equality(self) -> bool {
        matches!(self, Op::Eq | Op::StrictEq)
    }
}

/// A condition-only function (named as in SAP's transformations).
#[derive(Debug, Clone)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum CondFn {
    IsValidEmail(JsonPath),
    IsApplicationSpecificGroup,
    IsRegularGroup,
    IsAttributeWithOptionalPrefix(JsonPath, String),
    IsAttributeWithMandatoryPrefix(JsonPath, String),
}

/// One side of a comparison.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Path(JsonPath),
    Literal(Value),
    Regex(Regex),
    Call(CondFn),
}

/// A condition.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare(Operand, Op, Operand),
    /// An operand alone: a path exists (and is not null), a function returns true, a literal is
    /// `true`.
    Exists(Operand),
}

/// An evaluated operand.
enum Val<'v> {
    Undefined,
    Json(Cow<'v, Value>),
    Regex(&'v Regex),
}

/// Evaluates `expr` with `$` = `root` and `@` = `current`.
pub(crate) fn eval(expr: &Expr, env: &Env<'_>, root: &Value, current: &Value) -> bool {
    match expr {
        Expr::Or(parts) => parts.iter().any(|p| eval(p, env, root, current)),
        Expr::And(parts) => parts.iter().all(|p| eval(p, env, root, current)),
        Expr::Not(inner) => !eval(inner, env, root, current),
        Expr::Exists(op) => match operand(op, env, root, current) {
            Val::Undefined => false,
            Val::Json(v) => match v.as_ref() {
                Value::Null => false,
                Value::Bool(b) => match op {
                    Operand::Path(_) => true,
                    _ => *b,
                },
                _ => matches!(op, Operand::Path(_)),
            },
            Val::Regex(_) => false,
        },
        Expr::Compare(l, op, r) => {
            let lv = operand(l, env, root, current);
            let rv = operand(r, env, root, current);
            compare(&lv, *op, &rv)
        }
    }
}

fn operand<'v>(op: &'v Operand, env: &Env<'_>, root: &'v Value, current: &'v Value) -> Val<'v> {
    match op {
        Operand::Literal(v) => Val::Json(Cow::Borrowed(v)),
        Operand::Regex(r) => Val::Regex(r),
        Operand::Path(p) => match p.read(root, current, env) {
            Selection::Missing => Val::Undefined,
            Selection::One(v) => Val::Json(v),
            Selection::Many(vs) => Val::Json(Cow::Owned(Value::Array(
                vs.into_iter().map(Cow::into_owned).collect(),
            ))),
        },
        Operand::Call(f) => Val::Json(Cow::Owned(Value::Bool(call(f, env, root, current)))),
    }
}

/// The e-mail pattern of SAP's `isValidEmail` (atomic groups compiled as plain groups).
static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[a-zA-Z0-9!#$%&‘'*+/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&‘'*+/=?^_`{|}~-]+)*@(?:[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]?\.)+[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)$",
    )
    .ok()
});

const SAP_GROUP: &str = "urn:ietf:params:scim:schemas:extension:sap:2.0:Group";

fn group_attr<'v>(root: &'v Value, name: &str) -> Option<&'v Value> {
    root.get(SAP_GROUP)
        .and_then(|x| x.get(name))
        .or_else(|| root.get(name))
        .filter(|v| !is_empty(Some(v)))
}

fn call(f: &CondFn, env: &Env<'_>, root: &Value, current: &Value) -> bool {
    match f {
        CondFn::IsValidEmail(p) => {
            let Some(re) = EMAIL.as_ref() else {
                return false;
            };
            let valid = |v: &Value| v.as_str().is_some_and(|s| re.is_match(s));
            match p.read(root, current, env) {
                Selection::Missing => false,
                Selection::One(v) => valid(&v),
                Selection::Many(vs) => !vs.is_empty() && vs.iter().all(|v| valid(v)),
            }
        }
        CondFn::IsApplicationSpecificGroup => {
            let Some(app) = env.properties.get("ips.application.id") else {
                return false;
            };
            group_attr(root, "applicationId").and_then(Value::as_str) == Some(app.as_str())
        }
        CondFn::IsRegularGroup => {
            group_attr(root, "supportedOperations").is_none()
                || group_attr(root, "applicationId").is_none()
        }
        CondFn::IsAttributeWithOptionalPrefix(p, prop) => {
            let value = p.read(root, current, env).into_value();
            match (
                value.as_ref().and_then(Value::as_str),
                env.properties.get(prop),
            ) {
                (None, _) | (_, None) => true,
                (Some(v), Some(prefix)) => v.starts_with(prefix.as_str()),
            }
        }
        CondFn::IsAttributeWithMandatoryPrefix(p, prop) => {
            let value = p.read(root, current, env).into_value();
            match (
                value.as_ref().and_then(Value::as_str),
                env.properties.get(prop),
            ) {
                (Some(v), Some(prefix)) => v.starts_with(prefix.as_str()),
                _ => false,
            }
        }
    }
}

/// SAP's emptiness: missing, null, `""`, `[]`, `{}`.
pub(crate) fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Jayway's `==`: numbers and numeric strings compare numerically, the rest structurally.
pub(crate) fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            matches!((as_number(a), as_number(b)), (Some(x), Some(y)) if x == y)
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn ordering(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => as_number(a)?.partial_cmp(&as_number(b)?),
    }
}

fn compare(l: &Val<'_>, op: Op, r: &Val<'_>) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let json = |v: &Val<'_>| -> Option<Value> {
        match v {
            Val::Json(j) => Some(j.as_ref().clone()),
            _ => None,
        }
    };
    match op {
        Op::Empty => {
            let want = match r {
                Val::Json(v) => match v.as_ref() {
                    Value::Bool(b) => *b,
                    Value::String(s) => s.eq_ignore_ascii_case("true"),
                    _ => return false,
                },
                _ => return false,
            };
            let left = match l {
                Val::Json(v) => Some(v.as_ref()),
                _ => None,
            };
            is_empty(left) == want
        }
        Op::Matches => {
            let (input, re) = match (l, r) {
                (Val::Json(v), Val::Regex(re)) | (Val::Regex(re), Val::Json(v)) => {
                    (v.as_ref(), *re)
                }
                _ => return false,
            };
            let text = |v: &Value| -> Option<String> {
                match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                }
            };
            match input {
                Value::Array(a) => a.iter().filter_map(text).any(|s| re.is_match(&s)),
                v => text(v).is_some_and(|s| re.is_match(&s)),
            }
        }
        Op::Ne => !compare(l, Op::Eq, r),
        Op::StrictNe => !compare(l, Op::StrictEq, r),
        Op::Nin => !compare(l, Op::In, r),
        Op::NoneOf => !compare(l, Op::AnyOf, r),
        _ => {
            let (Some(a), Some(b)) = (json(l), json(r)) else {
                return false;
            };
            match op {
                Op::Eq => loose_eq(&a, &b),
                Op::StrictEq => same_type(&a, &b) && loose_eq(&a, &b),
                Op::Lt => ordering(&a, &b) == Some(Less),
                Op::Le => matches!(ordering(&a, &b), Some(Less | Equal)),
                Op::Gt => ordering(&a, &b) == Some(Greater),
                Op::Ge => matches!(ordering(&a, &b), Some(Greater | Equal)),
                Op::In => b
                    .as_array()
                    .is_some_and(|list| list.iter().any(|x| loose_eq(&a, x))),
                Op::Contains => match (&a, &b) {
                    (Value::String(s), Value::String(t)) => s.contains(t.as_str()),
                    (Value::Array(list), x) => list.iter().any(|e| loose_eq(e, x)),
                    _ => false,
                },
                Op::Size => match (length_of(&a), as_number(&b)) {
                    (Some(n), Some(m)) => n as f64 == m,
                    _ => false,
                },
                Op::SubsetOf => match (&a, &b) {
                    (Value::Array(x), Value::Array(y)) => {
                        x.iter().all(|e| y.iter().any(|f| loose_eq(e, f)))
                    }
                    _ => false,
                },
                Op::AnyOf => match (&a, &b) {
                    (Value::Array(x), Value::Array(y)) => {
                        x.iter().any(|e| y.iter().any(|f| loose_eq(e, f)))
                    }
                    _ => false,
                },
                Op::Ne | Op::StrictNe | Op::Nin | Op::NoneOf | Op::Empty | Op::Matches => false,
            }
        }
    }
}
