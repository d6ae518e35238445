//! SCIM filters (RFC 7644 §3.4.2.2): a tokenizer and recursive-descent parser into an AST,
//! and its evaluation against a resource. Also owns the typed value comparison (strings per
//! `caseExact`, dateTimes as instants, numbers numerically) shared with sorting and PATCH.
//!
//! Invariants: `and` binds tighter than `or`; attribute names and operators are
//! case-insensitive; string comparisons follow `caseExact` of the attribute; parsing is bounded
//! by [`FilterLimits`] (length and nesting depth) so that no input can exhaust the stack.
//! A value-path followed by a sub-attribute (`emails[type eq "work"].value eq "x"`, as Entra
//! sends) is represented as `ValuePath { emails, (type eq "work") and (value eq "x") }`.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::ScimError;
use super::path::{AttrPath, check_name, elements, get_ci, parse_attr_path_raw};
use super::schema::{AttrType, Attribute, ResourceType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn from_word(word: &str) -> Option<CompareOp> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attrPath op compValue`; `value` is a JSON literal (string, number, bool, null).
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    /// `attrPath pr`.
    Present(AttrPath),
    /// `attr[filter]` (a complex attribute filter); the inner filter's paths are relative to
    /// the attribute's values. `path.sub` is always `None`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// Bounds applied while parsing.
#[derive(Debug, Clone, Copy)]
pub struct FilterLimits {
    pub max_length: usize,
    pub max_depth: usize,
}

impl Default for FilterLimits {
    fn default() -> Self {
        FilterLimits {
            max_length: 4096,
            max_depth: 32,
        }
    }
}

/// Parses a filter for a resource type (attribute names resolved against its schemas).
/// Unknown attributes are accepted (they evaluate as absent); every syntax error is 400
/// `invalidFilter` naming the offset and token.
pub fn parse_filter(
    text: &str,
    rt: &ResourceType,
    limits: &FilterLimits,
) -> Result<Filter, ScimError> {
    parse_in(text, Scope::Resource(rt), limits)
}

/// Parses the filter inside `attr[...]` with paths relative to `parent`'s sub-attributes.
pub(crate) fn parse_value_filter(
    text: &str,
    parent: &'static Attribute,
    limits: &FilterLimits,
) -> Result<Filter, ScimError> {
    parse_in(text, Scope::Element(Some(parent)), limits)
}

fn parse_in(text: &str, scope: Scope<'_>, limits: &FilterLimits) -> Result<Filter, ScimError> {
    if text.len() > limits.max_length {
        return Err(ScimError::invalid_filter(format!(
            "filter is longer than {} characters",
            limits.max_length
        )));
    }
    let tokens = tokenize(text).map_err(ScimError::invalid_filter)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
        max_depth: limits.max_depth,
        end: text.len(),
    };
    let filter = parser.or_expr(scope).map_err(ScimError::invalid_filter)?;
    match parser.peek() {
        None => Ok(filter),
        Some(t) => Err(ScimError::invalid_filter(format!(
            "unexpected {} at offset {}",
            t.tok, t.pos
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// Tokenizer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// An attribute path, operator or keyword (may start with `.` right after `]`).
    Word(String),
    Str(String),
    Num(Number),
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::LBracket => f.write_str("'['"),
            Tok::RBracket => f.write_str("']'"),
            Tok::Word(w) => write!(f, "'{w}'"),
            Tok::Str(s) => write!(f, "string \"{s}\""),
            Tok::Num(n) => write!(f, "number {n}"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '$')
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let c = bytes[i] as char;
        let start = i;
        let tok = match c {
            ' ' | '\t' | '\r' | '\n' => {
                i += 1;
                continue;
            }
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            '"' => {
                let end = string_end(bytes, i)
                    .ok_or_else(|| format!("unterminated string at offset {i}"))?;
                let s: String = serde_json::from_str(&text[i..=end])
                    .map_err(|_| format!("invalid string literal at offset {i}"))?;
                i = end + 1;
                tokens.push(Token {
                    tok: Tok::Str(s),
                    pos: start,
                });
                continue;
            }
            '-' | '0'..='9' => {
                let mut end = i + 1;
                while end < bytes.len()
                    && matches!(bytes[end], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    end += 1;
                }
                let n: Number = serde_json::from_str(&text[i..end])
                    .map_err(|_| format!("invalid number '{}' at offset {i}", &text[i..end]))?;
                i = end;
                tokens.push(Token {
                    tok: Tok::Num(n),
                    pos: start,
                });
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '$' || c == '.' => {
                let mut end = i + 1;
                while end < bytes.len() && is_word_char(bytes[end] as char) {
                    end += 1;
                }
                let w = text[i..end].to_string();
                i = end;
                tokens.push(Token {
                    tok: Tok::Word(w),
                    pos: start,
                });
                continue;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or(c);
                return Err(format!("unexpected character '{ch}' at offset {i}"));
            }
        };
        tokens.push(Token { tok, pos: start });
        i += 1;
    }
    Ok(tokens)
}

/// The index of the closing quote of the string starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Parser

/// What attribute names are relative to.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Resource(&'a ResourceType),
    /// Inside `attr[...]`: the sub-attributes of the (possibly unknown) parent.
    Element(Option<&'static Attribute>),
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    max_depth: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if t.tok == want => Ok(()),
            Some(t) => Err(format!(
                "expected {what} at offset {} but found {}",
                t.pos, t.tok
            )),
            None => Err(format!(
                "expected {what} at offset {} but the filter ended",
                self.end
            )),
        }
    }

    fn enter(&mut self, pos: usize) -> Result<(), String> {
        self.depth += 1;
        if self.depth > self.max_depth {
            Err(format!(
                "filter nested deeper than {} levels at offset {pos}",
                self.max_depth
            ))
        } else {
            Ok(())
        }
    }

    fn or_expr(&mut self, scope: Scope<'_>) -> Result<Filter, String> {
        let mut terms = vec![self.and_expr(scope)?];
        while self.peek_keyword("or") {
            self.pos += 1;
            terms.push(self.and_expr(scope)?);
        }
        balanced(terms, Filter::Or)
    }

    fn and_expr(&mut self, scope: Scope<'_>) -> Result<Filter, String> {
        let mut terms = vec![self.unary(scope)?];
        while self.peek_keyword("and") {
            self.pos += 1;
            terms.push(self.unary(scope)?);
        }
        balanced(terms, Filter::And)
    }

    fn unary(&mut self, scope: Scope<'_>) -> Result<Filter, String> {
        let Some(token) = self.next() else {
            return Err(format!(
                "expected an expression at offset {} but the filter ended",
                self.end
            ));
        };
        match token.tok {
            Tok::LParen => {
                self.enter(token.pos)?;
                let inner = self.or_expr(scope)?;
                self.expect(Tok::RParen, "')'")?;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("not") && !self.next_is_operator() => {
                self.enter(token.pos)?;
                let inner = self.unary(scope)?;
                self.depth -= 1;
                Ok(Filter::Not(Box::new(inner)))
            }
            Tok::Word(w) if !w.starts_with('.') => self.attr_expr(&w, token.pos, scope),
            other => Err(format!(
                "expected an attribute, '(' or 'not' at offset {} but found {other}",
                token.pos
            )),
        }
    }

    /// Whether the token after the current position is an operator (so a preceding `not`
    /// is an attribute name, not the keyword).
    fn next_is_operator(&self) -> bool {
        match self.peek() {
            Some(Token {
                tok: Tok::Word(w), ..
            }) => w.eq_ignore_ascii_case("pr") || CompareOp::from_word(w).is_some(),
            Some(Token {
                tok: Tok::LBracket, ..
            }) => true,
            _ => false,
        }
    }

    fn attr_expr(&mut self, word: &str, pos: usize, scope: Scope<'_>) -> Result<Filter, String> {
        let (path, def) = resolve_word(word, pos, scope)?;
        match self.next() {
            Some(Token {
                tok: Tok::LBracket,
                pos: bpos,
            }) => {
                let Scope::Resource(_) = scope else {
                    return Err(format!("nested value filter at offset {bpos}"));
                };
                if path.sub.is_some() {
                    return Err(format!("value filter on a sub-attribute at offset {bpos}"));
                }
                if def.is_some_and(|d| d.attr_type != AttrType::Complex && !d.multi_valued) {
                    return Err(format!(
                        "value filter on single-valued simple attribute '{}' at offset {pos}",
                        path.attr
                    ));
                }
                self.enter(bpos)?;
                let inner_scope = Scope::Element(def);
                let inner = self.or_expr(inner_scope)?;
                self.expect(Tok::RBracket, "']'")?;
                self.depth -= 1;
                let filter = match self.peek() {
                    Some(Token {
                        tok: Tok::Word(w),
                        pos: spos,
                    }) if w.starts_with('.') => {
                        let (sub, spos) = (w[1..].to_string(), *spos);
                        self.pos += 1;
                        let (sub_path, sub_def) = resolve_word(&sub, spos + 1, inner_scope)?;
                        let tail = self.operator_tail(sub_path, sub_def, spos)?;
                        Filter::And(Box::new(inner), Box::new(tail))
                    }
                    _ => inner,
                };
                Ok(Filter::ValuePath {
                    path,
                    filter: Box::new(filter),
                })
            }
            Some(Token {
                tok: Tok::Word(_), ..
            }) => {
                self.pos -= 1;
                self.operator_tail(path, def, pos)
            }
            Some(t) => Err(format!(
                "expected an operator after '{word}' at offset {} but found {}",
                t.pos, t.tok
            )),
            None => Err(format!(
                "expected an operator after '{word}' at offset {}",
                self.end
            )),
        }
    }

    /// `pr` or `op value` after an attribute path.
    fn operator_tail(
        &mut self,
        path: AttrPath,
        def: Option<&'static Attribute>,
        pos: usize,
    ) -> Result<Filter, String> {
        let Some(Token {
            tok: Tok::Word(op_word),
            pos: op_pos,
        }) = self.next()
        else {
            return Err(format!(
                "expected an operator after '{path}' at offset {pos}"
            ));
        };
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::from_word(&op_word)
            .ok_or_else(|| format!("unknown operator '{op_word}' at offset {op_pos}"))?;
        let value = match self.next() {
            Some(Token {
                tok: Tok::Str(s), ..
            }) => Value::String(s),
            Some(Token {
                tok: Tok::Num(n), ..
            }) => Value::Number(n),
            Some(Token {
                tok: Tok::Word(w), ..
            }) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Some(Token {
                tok: Tok::Word(w), ..
            }) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Some(Token {
                tok: Tok::Word(w), ..
            }) if w.eq_ignore_ascii_case("null") => Value::Null,
            Some(t) => {
                return Err(format!(
                    "expected a value after '{op_word}' at offset {} but found {}",
                    t.pos, t.tok
                ));
            }
            None => {
                return Err(format!(
                    "expected a value after '{op_word}' at offset {}",
                    self.end
                ));
            }
        };
        if op.is_ordering() {
            let leaf = def.map(|d| {
                if d.attr_type == AttrType::Complex {
                    d.sub_attribute("value")
                } else {
                    Some(d)
                }
            });
            if let Some(Some(leaf)) = leaf
                && matches!(leaf.attr_type, AttrType::Boolean | AttrType::Binary)
            {
                return Err(format!(
                    "'{op_word}' is not allowed on {} attribute '{path}' (offset {op_pos})",
                    if leaf.attr_type == AttrType::Boolean {
                        "boolean"
                    } else {
                        "binary"
                    }
                ));
            }
            if matches!(value, Value::Bool(_) | Value::Null) {
                return Err(format!(
                    "'{op_word}' needs a string or number value (offset {op_pos})"
                ));
            }
        }
        Ok(Filter::Compare { path, op, value })
    }
}

/// Joins a chain of `and` (or `or`) terms into a balanced tree, so that long chains stay
/// shallow (the operators are associative; evaluation order is unchanged).
fn balanced(
    mut terms: Vec<Filter>,
    join: fn(Box<Filter>, Box<Filter>) -> Filter,
) -> Result<Filter, String> {
    if terms.len() <= 1 {
        return terms.pop().ok_or_else(|| "empty expression".to_string());
    }
    let right = terms.split_off(terms.len() / 2);
    Ok(join(
        Box::new(balanced(terms, join)?),
        Box::new(balanced(right, join)?),
    ))
}

/// Resolves an attribute word in its scope: the path and, when known, the definition of the
/// attribute it designates.
fn resolve_word(
    word: &str,
    pos: usize,
    scope: Scope<'_>,
) -> Result<(AttrPath, Option<&'static Attribute>), String> {
    match scope {
        Scope::Resource(rt) => {
            let path = parse_attr_path_raw(word, rt).map_err(|e| format!("{e} at offset {pos}"))?;
            let def = path.attribute(rt);
            Ok((path, def))
        }
        Scope::Element(parent) => {
            check_name(word).map_err(|e| format!("{e} at offset {pos}"))?;
            let def = parent.and_then(|p| p.sub_attribute(word));
            let name = def
                .map(|d| d.name.clone())
                .unwrap_or_else(|| word.to_string());
            Ok((AttrPath::new(name), def))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation

impl Filter {
    /// Whether `resource` (a full SCIM resource in its JSON form) matches.
    pub fn matches(&self, resource: &Value, rt: &ResourceType) -> bool {
        self.eval(resource, Scope::Resource(rt))
    }

    /// Whether one value of a multi-valued complex attribute (defined by `parent`) matches
    /// this value filter.
    pub fn matches_element(&self, element: &Value, parent: Option<&'static Attribute>) -> bool {
        self.eval(element, Scope::Element(parent))
    }

    /// A top-level `attr eq "string"` term (directly or as a conjunct of top-level `and`s), for
    /// index lookups. Whether the index must fold case is [`AttrPath::case_exact`].
    pub fn eq_lookup(&self) -> Option<(&AttrPath, &str)> {
        match self {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: Value::String(s),
            } => Some((path, s.as_str())),
            Filter::And(a, b) => a.eq_lookup().or_else(|| b.eq_lookup()),
            _ => None,
        }
    }

    /// For a value filter made only of `and`-ed `eq` terms (`type eq "work"`), the
    /// (sub-attribute, value) pairs; used by PATCH `add` to create the element it targets.
    pub fn equalities(&self) -> Option<Vec<(String, Value)>> {
        match self {
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.urn.is_none() && path.sub.is_none() => {
                Some(vec![(path.attr.clone(), value.clone())])
            }
            Filter::And(a, b) => {
                let mut v = a.equalities()?;
                v.extend(b.equalities()?);
                Some(v)
            }
            _ => None,
        }
    }

    fn eval(&self, v: &Value, scope: Scope<'_>) -> bool {
        match self {
            Filter::And(a, b) => a.eval(v, scope) && b.eval(v, scope),
            Filter::Or(a, b) => a.eval(v, scope) || b.eval(v, scope),
            Filter::Not(a) => !a.eval(v, scope),
            Filter::Present(path) => leaf_values(path, v, scope, false)
                .0
                .into_iter()
                .any(is_present),
            Filter::Compare { path, op, value } => {
                let (values, def) = leaf_values(path, v, scope, true);
                match (op, value) {
                    (CompareOp::Eq, Value::Null) => !values.into_iter().any(is_present),
                    (CompareOp::Ne, Value::Null) => values.into_iter().any(is_present),
                    (CompareOp::Ne, lit) => !values
                        .into_iter()
                        .any(|x| compare(x, def, CompareOp::Eq, lit)),
                    (op, lit) => values.into_iter().any(|x| compare(x, def, *op, lit)),
                }
            }
            Filter::ValuePath { path, filter } => {
                let Scope::Resource(rt) = scope else {
                    return false;
                };
                let def = path.attribute(rt);
                path.top_value(v, rt)
                    .is_some_and(|top| elements(top).any(|el| filter.eval(el, Scope::Element(def))))
            }
        }
    }
}

/// The values at `path` in scope and the definition of the compared attribute.
fn leaf_values<'v>(
    path: &AttrPath,
    v: &'v Value,
    scope: Scope<'_>,
    descend_value: bool,
) -> (Vec<&'v Value>, Option<&'static Attribute>) {
    match scope {
        Scope::Resource(rt) => {
            let def = if descend_value {
                path.compared_attribute(rt)
            } else {
                path.attribute(rt)
            };
            (path.values(v, rt, descend_value), def)
        }
        Scope::Element(parent) => {
            let def = parent.and_then(|p| p.sub_attribute(&path.attr));
            let raw = match v {
                Value::Object(_) => get_ci(v, &path.attr),
                // A multi-valued simple attribute: `value` is the element itself.
                other if path.attr.eq_ignore_ascii_case("value") => Some(other),
                _ => None,
            };
            let values = raw
                .map(|r| elements(r).filter(|x| !x.is_null()).collect())
                .unwrap_or_default();
            (values, def)
        }
    }
}

/// Present and non-empty: not null, not an empty string, array or object.
pub(crate) fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

/// The effective type of a value: the definition's, else inferred from the JSON.
fn effective_type(v: &Value, def: Option<&Attribute>) -> Option<AttrType> {
    if let Some(d) = def {
        return Some(d.attr_type);
    }
    match v {
        Value::String(_) => Some(AttrType::String),
        Value::Bool(_) => Some(AttrType::Boolean),
        Value::Number(_) => Some(AttrType::Decimal),
        Value::Object(_) => Some(AttrType::Complex),
        _ => None,
    }
}

fn fold(s: &str, case_exact: bool) -> String {
    if case_exact {
        s.to_string()
    } else {
        s.to_lowercase()
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// `actual op literal` for one value.
fn compare(actual: &Value, def: Option<&Attribute>, op: CompareOp, lit: &Value) -> bool {
    let ty = effective_type(actual, def);
    match ty {
        Some(AttrType::Boolean) => match (as_bool(actual), as_bool(lit), op) {
            (Some(a), Some(b), CompareOp::Eq) => a == b,
            _ => false,
        },
        Some(AttrType::Integer | AttrType::Decimal) => {
            let (Some(a), Some(b)) = (actual.as_f64(), lit.as_f64()) else {
                return false;
            };
            match op {
                CompareOp::Eq | CompareOp::Ne => a == b,
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
            }
        }
        Some(
            t @ (AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime),
        ) => {
            let (Some(a), Some(b)) = (actual.as_str(), lit.as_str()) else {
                return false;
            };
            if t == AttrType::DateTime
                && !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
                && let (Some(x), Some(y)) = (parse_datetime(a), parse_datetime(b))
            {
                return ordering_holds(x.cmp(&y), op);
            }
            let case_exact = t == AttrType::Binary || def.is_some_and(|d| d.case_exact);
            if matches!(op, CompareOp::Eq | CompareOp::Ne)
                && (case_exact || (a.is_ascii() && b.is_ascii()))
            {
                return if case_exact {
                    a == b
                } else {
                    a.eq_ignore_ascii_case(b)
                };
            }
            let (a, b) = (fold(a, case_exact), fold(b, case_exact));
            match op {
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                _ => ordering_holds(a.cmp(&b), op),
            }
        }
        Some(AttrType::Complex) | None => false,
    }
}

fn ordering_holds(ord: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq | CompareOp::Ne => ord == Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// A total order on two values of one attribute (for sorting): strings per `caseExact`,
/// dateTimes as instants, numbers numerically, `false < true`; mixed kinds by kind.
pub(crate) fn order_values(a: &Value, b: &Value, def: Option<&Attribute>) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => {
            if def.is_some_and(|d| d.attr_type == AttrType::DateTime)
                && let (Some(p), Some(q)) = (parse_datetime(x), parse_datetime(y))
            {
                return p.cmp(&q);
            }
            let exact = def.is_some_and(|d| d.case_exact || d.attr_type == AttrType::Binary);
            fold(x, exact).cmp(&fold(y, exact))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Whether two values of one attribute are equal under its rules (caseExact, dateTime
/// instants, numbers numerically, string booleans).
pub(crate) fn values_equal(a: &Value, b: &Value, def: Option<&Attribute>) -> bool {
    if a.is_object() || a.is_array() || b.is_object() || b.is_array() {
        return a == b;
    }
    compare(a, def, CompareOp::Eq, b)
}

/// Parses an RFC 3339 / xsd:dateTime timestamp into (seconds since the epoch, nanoseconds).
/// A missing offset is taken as UTC.
pub fn parse_datetime(s: &str) -> Option<(i64, u32)> {
    let b = s.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let year = num(0..4)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (month, day) = (num(5..7)?, num(8..10)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = &b[start..i.min(start + 9)];
        let mut n: u32 = 0;
        for d in digits {
            n = n * 10 + u32::from(d - b'0');
        }
        nanos = n * 10u32.pow(9 - digits.len() as u32);
    }
    let offset_secs = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some((secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::ScimType;
    use crate::scim::path::test_fixture::{ENT, group_type, user_type};

    fn parse(text: &str) -> Result<Filter, ScimError> {
        parse_filter(text, &user_type(), &FilterLimits::default())
    }

    fn matches(text: &str, resource: &Value) -> bool {
        let rt = user_type();
        parse_filter(text, &rt, &FilterLimits::default())
            .unwrap()
            .matches(resource, &rt)
    }

    fn alice() -> Value {
        json!({
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "Ext-1",
            "userName": "alice@example.com",
            "displayName": "Alice Smith",
            "nickName": "Ali",
            "active": true,
            "loginCount": 42,
            "weight": 61.5,
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "emails": [
                {"value": "alice@work.example", "type": "work", "primary": true},
                {"value": "alice@home.example", "type": "home"}
            ],
            "x509Certificates": [{"value": "TUlJ"}],
            "tags": ["blue", "green"],
            "meta": {"created": "2024-01-01T10:00:00Z", "lastModified": "2024-06-01T12:00:00.5+02:00",
                     "resourceType": "User", "version": "W/\"1\""},
            ENT: {"employeeNumber": "701984", "manager": {"value": "boss-1"}}
        })
    }

    fn cmp(attr: &str, op: CompareOp, value: Value) -> Filter {
        let rt = user_type();
        Filter::Compare {
            path: parse_attr_path_raw(attr, &rt).unwrap(),
            op,
            value,
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let f = parse(r#"userName eq "a" or userName eq "b" and active eq true"#).unwrap();
        let expected = Filter::Or(
            Box::new(cmp("userName", CompareOp::Eq, json!("a"))),
            Box::new(Filter::And(
                Box::new(cmp("userName", CompareOp::Eq, json!("b"))),
                Box::new(cmp("active", CompareOp::Eq, json!(true))),
            )),
        );
        assert_eq!(f, expected);
        // a or (b and c): matches on `a` alone even though `c` is false.
        assert!(matches(
            r#"userName eq "alice@example.com" or userName eq "x" and active eq false"#,
            &alice()
        ));
        // (a or b) and c: grouping changes the result.
        assert!(!matches(
            r#"(userName eq "alice@example.com" or userName eq "x") and active eq false"#,
            &alice()
        ));
    }

    #[test]
    fn not_and_grouping() {
        assert!(matches(r#"not (userName eq "bob")"#, &alice()));
        assert!(!matches(
            r#"NOT (userName eq "alice@example.com")"#,
            &alice()
        ));
        assert!(matches(
            r#"not (active eq false) and (displayName sw "Ali" or nickName pr)"#,
            &alice()
        ));
        assert!(matches(r#"((((userName pr))))"#, &alice()));
    }

    #[test]
    fn operators_are_case_insensitive_and_strings_follow_case_exact() {
        assert!(matches(r#"USERNAME EQ "ALICE@EXAMPLE.COM""#, &alice()));
        assert!(matches(r#"userName Sw "ALICE""#, &alice()));
        assert!(matches(r#"userName ew ".COM""#, &alice()));
        assert!(matches(r#"userName co "E@EX""#, &alice()));
        // nickName is caseExact.
        assert!(matches(r#"nickName eq "Ali""#, &alice()));
        assert!(!matches(r#"nickName eq "ali""#, &alice()));
        // id and externalId are caseExact.
        assert!(!matches(r#"externalId eq "ext-1""#, &alice()));
        assert!(matches(r#"externalId eq "Ext-1""#, &alice()));
        assert!(!matches(
            r#"id eq "2819C223-7F76-453A-919D-413861904646""#,
            &alice()
        ));
    }

    #[test]
    fn complex_value_filters() {
        assert!(matches(
            r#"emails[type eq "work" and value co "@work.example"]"#,
            &alice()
        ));
        assert!(!matches(
            r#"emails[type eq "home" and value co "@work.example"]"#,
            &alice()
        ));
        assert!(matches(
            r#"emails[TYPE eq "WORK"].value eq "ALICE@work.example""#,
            &alice()
        ));
        assert!(!matches(
            r#"emails[type eq "home"].value eq "alice@work.example""#,
            &alice()
        ));
        assert!(matches(r#"emails[primary eq true].value pr"#, &alice()));
        assert!(matches(
            r#"userName pr and emails[not (type eq "work")]"#,
            &alice()
        ));
        // Multi-valued: any value; `emails eq` compares the `value` sub-attribute.
        assert!(matches(r#"emails eq "alice@home.example""#, &alice()));
        assert!(matches(r#"emails.type eq "home""#, &alice()));
        assert!(matches(r#"tags eq "green""#, &alice()));
        assert!(matches(r#"tags[value eq "blue"]"#, &alice()));
        assert!(matches(r#"name.familyName eq "smith""#, &alice()));
    }

    #[test]
    fn urn_qualified_attributes() {
        assert!(matches(
            &format!(r#"{ENT}:employeeNumber eq "701984""#),
            &alice()
        ));
        assert!(matches(
            &format!(r#"{ENT}:manager.value eq "boss-1""#),
            &alice()
        ));
        assert!(matches(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "alice@example.com""#,
            &alice()
        ));
        assert!(!matches(
            &format!(r#"{ENT}:employeeNumber eq "1""#),
            &alice()
        ));
        // Unknown schema or attribute: accepted, evaluates as absent.
        assert!(!matches(r#"urn:x:y:attr eq "1""#, &alice()));
        assert!(!matches(r#"unknownAttr eq "1""#, &alice()));
        assert!(matches(r#"unknownAttr ne "1""#, &alice()));
    }

    #[test]
    fn typed_comparisons() {
        assert!(matches(
            r#"meta.lastModified gt "2024-06-01T09:59:59Z""#,
            &alice()
        ));
        assert!(!matches(
            r#"meta.lastModified gt "2024-06-01T10:00:00.5Z""#,
            &alice()
        ));
        assert!(matches(
            r#"meta.lastModified eq "2024-06-01T10:00:00.500Z""#,
            &alice()
        ));
        assert!(matches(
            r#"meta.created lt "2024-01-01T11:00:00+00:30""#,
            &alice()
        ));
        assert!(matches(
            "loginCount gt 41 and loginCount le 42 and weight ge 61.5 and weight lt 1e2",
            &alice()
        ));
        assert!(!matches("loginCount eq 41", &alice()));
        assert!(matches(
            "active eq true and not (active eq false)",
            &alice()
        ));
        assert!(matches(
            r#"displayName gt "Alice" and displayName lt "Bob""#,
            &alice()
        ));
        assert!(!matches("loginCount co 4", &alice()));
    }

    #[test]
    fn present_ne_and_null() {
        let r = json!({"userName": "bob", "displayName": "", "emails": [], "name": {"givenName": null}});
        assert!(matches("userName pr", &r));
        assert!(!matches("displayName pr", &r));
        assert!(!matches("emails pr", &r));
        assert!(!matches("name pr", &r));
        assert!(!matches("nickName pr", &r));
        assert!(matches(r#"nickName ne "x""#, &r));
        assert!(matches("nickName eq null", &r));
        assert!(matches("userName ne null", &r));
        assert!(!matches(r#"userName ne "BOB""#, &r));
        assert!(matches("emails pr", &alice()));
    }

    #[test]
    fn ordering_on_boolean_or_binary_is_invalid_filter() {
        for f in [
            "active gt true",
            "active ge false",
            "x509Certificates lt \"a\"",
            "x509Certificates.value le \"a\"",
            "userName gt null",
            "userName lt true",
        ] {
            let e = parse(f).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{f}");
        }
    }

    #[test]
    fn syntax_errors_name_the_position() {
        let cases = [
            ("", "ended"),
            ("userName", "operator"),
            ("userName eq", "value"),
            ("userName foo \"x\"", "unknown operator 'foo'"),
            ("userName eq \"x", "unterminated"),
            ("(userName pr", "')'"),
            ("userName pr)", "offset 11"),
            ("userName pr and", "ended"),
            ("emails[type eq \"w\"", "']'"),
            ("emails[type[value eq \"x\"]]", "nested"),
            ("userName eq @", "'@'"),
            ("userName eq 12x", "offset 14"),
            ("userName eq \"\\q\"", "string literal"),
            ("1abc eq \"x\"", "offset 0"),
            ("userName pr or or", "after 'or'"),
        ];
        for (f, needle) in cases {
            let e = parse(f).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
            assert!(e.detail.contains(needle), "{f}: {}", e.detail);
        }
    }

    #[test]
    fn limits_are_enforced() {
        let rt = user_type();
        let limits = FilterLimits {
            max_length: 20,
            max_depth: 3,
        };
        let e = parse_filter(r#"userName eq "aaaaaaaaaaaaaaaaaaa""#, &rt, &limits).unwrap_err();
        assert!(e.detail.contains("longer"));
        let limits = FilterLimits {
            max_length: 1000,
            max_depth: 3,
        };
        assert!(parse_filter("(((userName pr)))", &rt, &limits).is_ok());
        let e = parse_filter("((((userName pr))))", &rt, &limits).unwrap_err();
        assert!(e.detail.contains("deeper"));
        let e = parse_filter("not not not not userName pr", &rt, &limits).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        // Deep input within the length limit never overflows the stack.
        let deep = "(".repeat(4000);
        assert!(parse_filter(&deep, &rt, &FilterLimits::default()).is_err());
    }

    #[test]
    fn long_chains_stay_shallow() {
        fn depth(f: &Filter) -> usize {
            match f {
                Filter::And(a, b) | Filter::Or(a, b) => 1 + depth(a).max(depth(b)),
                Filter::Not(a) => 1 + depth(a),
                _ => 0,
            }
        }
        let ids: Vec<String> = (0..1000).map(|i| format!("id eq \"{i}\"")).collect();
        let rt = user_type();
        let limits = FilterLimits {
            max_length: 100_000,
            max_depth: 32,
        };
        let f = parse_filter(&ids.join(" or "), &rt, &limits).unwrap();
        assert!(depth(&f) <= 10);
        assert!(f.matches(&json!({"id": "999"}), &rt));
        assert!(!f.matches(&json!({"id": "1000"}), &rt));
        let f = parse_filter(&ids.join(" and "), &rt, &limits).unwrap();
        assert!(!f.matches(&json!({"id": "1"}), &rt));
    }

    #[test]
    fn string_escapes_and_literals() {
        let r = json!({"userName": "a\"b\\c\u{e9}"});
        assert!(matches(r#"userName eq "a\"b\\c\u00e9""#, &r));
        assert!(matches("weight eq -1.5e0", &json!({"weight": -1.5})));
    }

    #[test]
    fn eq_lookup_finds_top_level_equality() {
        let f = parse(r#"userName eq "Alice""#).unwrap();
        let (p, v) = f.eq_lookup().unwrap();
        assert_eq!((p.attr.as_str(), v), ("userName", "Alice"));
        let f = parse(r#"active eq true and externalId eq "e1""#).unwrap();
        assert_eq!(f.eq_lookup().unwrap().0.attr, "externalId");
        assert!(
            parse(r#"userName eq "a" or userName eq "b""#)
                .unwrap()
                .eq_lookup()
                .is_none()
        );
        assert!(
            parse(r#"not (userName eq "a")"#)
                .unwrap()
                .eq_lookup()
                .is_none()
        );
        assert!(
            parse(r#"emails[value eq "a"]"#)
                .unwrap()
                .eq_lookup()
                .is_none()
        );
        assert!(parse("loginCount eq 1").unwrap().eq_lookup().is_none());
    }

    #[test]
    fn group_filters() {
        let rt = group_type();
        let g = json!({"displayName": "Admins", "members": [{"value": "u1"}, {"value": "u2"}]});
        let f = parse_filter(r#"displayName eq "admins""#, &rt, &FilterLimits::default()).unwrap();
        assert!(f.matches(&g, &rt));
        let f = parse_filter(r#"members[value eq "u2"]"#, &rt, &FilterLimits::default()).unwrap();
        assert!(f.matches(&g, &rt));
        // members.value is caseExact.
        let f = parse_filter(r#"members.value eq "U2""#, &rt, &FilterLimits::default()).unwrap();
        assert!(!f.matches(&g, &rt));
    }

    #[test]
    fn datetime_parser() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_datetime("1970-01-02T00:00:01.25Z"),
            Some((86_401, 250_000_000))
        );
        assert_eq!(
            parse_datetime("2000-03-01T01:00:00+01:00"),
            Some((951_868_800, 0))
        );
        assert_eq!(parse_datetime("1969-12-31T23:59:59Z"), Some((-1, 0)));
        assert_eq!(
            parse_datetime("2024-02-29T00:00:00Z").map(|x| x.0),
            Some(1_709_164_800)
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00.Z",
            "x",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }
}
