//! The JSONPath subset of SAP transformations, with Jayway JsonPath reading semantics and IPS
//! writing semantics.
//!
//! Supported: `$` / `@` roots, `.name`, `['name with : urn']`, `['a','b']` (merged object),
//! `[n]` (negative from the end), `[n,m]`, `[a:b]`, `[*]` / `.*`, filters `[?(<condition>)]`,
//! and a trailing `.length()` / `.size()`.
//!
//! Reading: a definite path (only names and single indexes) yields one value or nothing; any
//! other path yields the list of matches (possibly empty). Writing creates intermediate objects
//! and arrays; a filter selects the elements to write into and, when none matches, appends an
//! element that satisfies the filter's equalities; an existence filter as the last segment
//! (`$.emails[?(@.value)]`) appends one `{"value": v}` per written value. Writes never fail:
//! a segment that does not fit the data replaces it.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::expr::{self, Expr, Operand};

/// Where a path starts: the document root (`$`) or the current filter element (`@`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    Document,
    Current,
}

/// One step of a path.
#[derive(Debug, Clone)]
pub(crate) enum Segment {
    Name(String),
    Names(Vec<String>),
    Index(i64),
    Indexes(Vec<i64>),
    Slice(Option<i64>, Option<i64>),
    Wildcard,
    Filter(Box<Expr>),
}

/// A function applied to the result of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathFunction {
    Length,
}

/// A parsed path.
#[derive(Debug, Clone)]
pub(crate) struct JsonPath {
    pub root: Root,
    pub segments: Vec<Segment>,
    pub function: Option<PathFunction>,
}

/// The result of reading a path.
#[derive(Debug)]
pub(crate) enum Selection<'v> {
    /// A definite path that matched nothing.
    Missing,
    /// A definite path's value.
    One(Cow<'v, Value>),
    /// An indefinite path's matches.
    Many(Vec<Cow<'v, Value>>),
}

impl Selection<'_> {
    /// The selection as one JSON value: `None` when missing, an array for indefinite paths.
    pub fn into_value(self) -> Option<Value> {
        match self {
            Selection::Missing => None,
            Selection::One(v) => Some(v.into_owned()),
            Selection::Many(vs) => {
                Some(Value::Array(vs.into_iter().map(Cow::into_owned).collect()))
            }
        }
    }
}

fn normalize_index(i: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let idx = if i < 0 { len + i } else { i };
    (0..len).contains(&idx).then_some(idx as usize)
}

fn child<'v>(
    node: &Cow<'v, Value>,
    f: impl Fn(&Value) -> Option<&Value>,
) -> Option<Cow<'v, Value>> {
    match node {
        Cow::Borrowed(r) => f(r).map(Cow::Borrowed),
        Cow::Owned(o) => f(o).cloned().map(Cow::Owned),
    }
}

fn children<'v>(node: &Cow<'v, Value>) -> Vec<Cow<'v, Value>> {
    match node {
        Cow::Borrowed(Value::Array(a)) => a.iter().map(Cow::Borrowed).collect(),
        Cow::Borrowed(Value::Object(o)) => o.values().map(Cow::Borrowed).collect(),
        Cow::Owned(Value::Array(a)) => a.iter().cloned().map(Cow::Owned).collect(),
        Cow::Owned(Value::Object(o)) => o.values().cloned().map(Cow::Owned).collect(),
        _ => Vec::new(),
    }
}

/// The length Jayway's `length()` reports: array elements, object members or characters.
pub(crate) fn length_of(v: &Value) -> Option<usize> {
    match v {
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => Some(o.len()),
        Value::String(s) => Some(s.chars().count()),
        _ => None,
    }
}

impl JsonPath {
    /// The path `$`.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty() && self.function.is_none()
    }

    /// Whether the path selects at most one value (Jayway "definite").
    pub fn is_definite(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Name(_) | Segment::Index(_)))
    }

    /// Reads the path. `root` is what `$` denotes, `current` what `@` denotes.
    pub fn read<'v>(
        &self,
        root: &'v Value,
        current: &'v Value,
        env: &expr::Env<'_>,
    ) -> Selection<'v> {
        let start = match self.root {
            Root::Document => root,
            Root::Current => current,
        };
        let mut nodes: Vec<Cow<'v, Value>> = vec![Cow::Borrowed(start)];
        for seg in &self.segments {
            let mut next = Vec::new();
            for node in &nodes {
                match seg {
                    Segment::Name(k) => next.extend(child(node, |v| v.get(k.as_str()))),
                    Segment::Names(ks) => {
                        if let Value::Object(o) = node.as_ref() {
                            let merged: Map<String, Value> = ks
                                .iter()
                                .filter_map(|k| o.get(k).map(|v| (k.clone(), v.clone())))
                                .collect();
                            next.push(Cow::Owned(Value::Object(merged)));
                        }
                    }
                    Segment::Index(i) => next.extend(child(node, |v| {
                        v.as_array()
                            .and_then(|a| normalize_index(*i, a.len()).map(|n| &a[n]))
                    })),
                    Segment::Indexes(is) => {
                        for i in is {
                            next.extend(child(node, |v| {
                                v.as_array()
                                    .and_then(|a| normalize_index(*i, a.len()).map(|n| &a[n]))
                            }));
                        }
                    }
                    Segment::Slice(from, to) => {
                        if let Some(len) = node.as_array().map(Vec::len) {
                            let (a, b) = slice_bounds(*from, *to, len);
                            let all = children(node);
                            next.extend(all.into_iter().skip(a).take(b.saturating_sub(a)));
                        }
                    }
                    Segment::Wildcard => next.extend(children(node)),
                    Segment::Filter(f) => match node.as_ref() {
                        Value::Array(_) => {
                            for el in children(node) {
                                if expr::eval(f, env, root, &el) {
                                    next.push(el);
                                }
                            }
                        }
                        Value::Object(_) if expr::eval(f, env, root, node) => {
                            next.push(node.clone());
                        }
                        _ => {}
                    },
                }
            }
            nodes = next;
        }
        let selection = if self.is_definite() {
            nodes
                .into_iter()
                .next()
                .map_or(Selection::Missing, Selection::One)
        } else {
            Selection::Many(nodes)
        };
        match self.function {
            None => selection,
            Some(PathFunction::Length) => {
                let len = match &selection {
                    Selection::Missing => None,
                    Selection::One(v) => length_of(v),
                    Selection::Many(vs) => Some(vs.len()),
                };
                len.map_or(Selection::Missing, |n| {
                    Selection::One(Cow::Owned(Value::from(n)))
                })
            }
        }
    }

    /// Writes `value` at the path in `target` (see the module doc for the semantics).
    pub fn set(&self, target: &mut Value, value: Value, env: &expr::Env<'_>) {
        set_at(target, &self.segments, value, env);
    }

    /// Removes what the path selects from `target`. Removing nothing is not an error.
    pub fn remove(&self, target: &mut Value, env: &expr::Env<'_>) {
        match self.segments.split_last() {
            None => *target = Value::Object(Map::new()),
            Some((last, parents)) => {
                for_each_node(target, parents, env, &mut |node| {
                    remove_last(node, last, env)
                });
            }
        }
    }

    /// Renames the last name segment of the path to `new_name`. Returns whether anything was
    /// renamed.
    pub fn rename(&self, target: &mut Value, new_name: &str, env: &expr::Env<'_>) -> bool {
        let Some((Segment::Name(old), parents)) = self.segments.split_last() else {
            return false;
        };
        let mut renamed = false;
        for_each_node(target, parents, env, &mut |node| {
            if let Value::Object(o) = node
                && let Some(v) = o.shift_remove(old.as_str())
            {
                o.insert(new_name.to_string(), v);
                renamed = true;
            }
        });
        renamed
    }
}

fn slice_bounds(from: Option<i64>, to: Option<i64>, len: usize) -> (usize, usize) {
    let l = len as i64;
    let fix = |i: i64| -> usize { (if i < 0 { (l + i).max(0) } else { i.min(l) }) as usize };
    (from.map_or(0, fix), to.map_or(len, fix))
}

/// Applies `f` to every existing node the segments select (no creation).
fn for_each_node(
    node: &mut Value,
    segs: &[Segment],
    env: &expr::Env<'_>,
    f: &mut dyn FnMut(&mut Value),
) {
    let Some((seg, rest)) = segs.split_first() else {
        f(node);
        return;
    };
    match (seg, node) {
        (Segment::Name(k), Value::Object(o)) => {
            if let Some(c) = o.get_mut(k.as_str()) {
                for_each_node(c, rest, env, f);
            }
        }
        (Segment::Names(ks), Value::Object(o)) => {
            for k in ks {
                if let Some(c) = o.get_mut(k.as_str()) {
                    for_each_node(c, rest, env, f);
                }
            }
        }
        (Segment::Index(i), Value::Array(a)) => {
            if let Some(n) = normalize_index(*i, a.len()) {
                for_each_node(&mut a[n], rest, env, f);
            }
        }
        (Segment::Indexes(is), Value::Array(a)) => {
            for i in is {
                if let Some(n) = normalize_index(*i, a.len()) {
                    for_each_node(&mut a[n], rest, env, f);
                }
            }
        }
        (Segment::Slice(from, to), Value::Array(a)) => {
            let (x, y) = slice_bounds(*from, *to, a.len());
            for el in a.iter_mut().skip(x).take(y.saturating_sub(x)) {
                for_each_node(el, rest, env, f);
            }
        }
        (Segment::Wildcard, Value::Array(a)) => {
            for el in a {
                for_each_node(el, rest, env, f);
            }
        }
        (Segment::Wildcard, Value::Object(o)) => {
            for el in o.values_mut() {
                for_each_node(el, rest, env, f);
            }
        }
        (Segment::Filter(x), Value::Array(a)) => {
            for el in a {
                if expr::eval(x, env, &Value::Null, el) {
                    for_each_node(el, rest, env, f);
                }
            }
        }
        _ => {}
    }
}

fn remove_last(node: &mut Value, last: &Segment, env: &expr::Env<'_>) {
    match (last, node) {
        (Segment::Name(k), Value::Object(o)) => {
            o.shift_remove(k.as_str());
        }
        (Segment::Names(ks), Value::Object(o)) => {
            for k in ks {
                o.shift_remove(k.as_str());
            }
        }
        (Segment::Index(i), Value::Array(a)) => {
            if let Some(n) = normalize_index(*i, a.len()) {
                a.remove(n);
            }
        }
        (Segment::Indexes(is), Value::Array(a)) => {
            let mut idx: Vec<usize> = is
                .iter()
                .filter_map(|i| normalize_index(*i, a.len()))
                .collect();
            idx.sort_unstable();
            idx.dedup();
            for n in idx.into_iter().rev() {
                a.remove(n);
            }
        }
        (Segment::Slice(from, to), Value::Array(a)) => {
            let (x, y) = slice_bounds(*from, *to, a.len());
            if x < y {
                a.drain(x..y);
            }
        }
        (Segment::Wildcard, Value::Array(a)) => a.clear(),
        (Segment::Wildcard, Value::Object(o)) => o.clear(),
        (Segment::Filter(x), Value::Array(a)) => {
            a.retain(|el| !expr::eval(x, env, &Value::Null, el));
        }
        _ => {}
    }
}

/// Makes `node` an object (replacing anything else) and returns its map.
fn as_object(node: &mut Value) -> &mut Map<String, Value> {
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    match node {
        Value::Object(o) => o,
        _ => unreachable!("node was just made an object"),
    }
}

/// Makes `node` an array (replacing anything else) and returns its elements.
fn as_array(node: &mut Value) -> &mut Vec<Value> {
    if !node.is_array() {
        *node = Value::Array(Vec::new());
    }
    match node {
        Value::Array(a) => a,
        _ => unreachable!("node was just made an array"),
    }
}

fn set_at(node: &mut Value, segs: &[Segment], value: Value, env: &expr::Env<'_>) {
    let Some((seg, rest)) = segs.split_first() else {
        *node = value;
        return;
    };
    match seg {
        Segment::Name(k) => {
            let o = as_object(node);
            let slot = o.entry(k.clone()).or_insert(Value::Null);
            set_at(slot, rest, value, env);
        }
        Segment::Names(ks) => {
            let o = as_object(node);
            for k in ks {
                let slot = o.entry(k.clone()).or_insert(Value::Null);
                set_at(slot, rest, value.clone(), env);
            }
        }
        Segment::Index(i) => {
            let a = as_array(node);
            match normalize_index(*i, a.len()) {
                Some(n) => set_at(&mut a[n], rest, value, env),
                None if *i >= 0 => {
                    a.push(Value::Null);
                    let last = a.len() - 1;
                    set_at(&mut a[last], rest, value, env);
                }
                None => {}
            }
        }
        Segment::Indexes(is) => {
            let a = as_array(node);
            for i in is {
                if let Some(n) = normalize_index(*i, a.len()) {
                    set_at(&mut a[n], rest, value.clone(), env);
                }
            }
        }
        Segment::Slice(from, to) => {
            if let Value::Array(a) = node {
                let (x, y) = slice_bounds(*from, *to, a.len());
                for el in a.iter_mut().skip(x).take(y.saturating_sub(x)) {
                    set_at(el, rest, value.clone(), env);
                }
            }
        }
        Segment::Wildcard => match node {
            Value::Array(a) => {
                for el in a {
                    set_at(el, rest, value.clone(), env);
                }
            }
            Value::Object(o) => {
                for el in o.values_mut() {
                    set_at(el, rest, value.clone(), env);
                }
            }
            _ => {}
        },
        Segment::Filter(f) => set_filtered(node, f, rest, value, env),
    }
}

fn set_filtered(node: &mut Value, f: &Expr, rest: &[Segment], value: Value, env: &expr::Env<'_>) {
    let a = as_array(node);
    if rest.is_empty()
        && let Some(key) = existence_key(f)
    {
        let wrap = |v: Value| -> Value {
            if v.is_object() {
                v
            } else {
                let mut m = Map::new();
                m.insert(key.to_string(), v);
                Value::Object(m)
            }
        };
        match value {
            Value::Null => {}
            Value::Array(vs) => a.extend(vs.into_iter().filter(|v| !v.is_null()).map(wrap)),
            v => a.push(wrap(v)),
        }
        return;
    }
    let mut matched = false;
    for el in a.iter_mut() {
        if expr::eval(f, env, &Value::Null, el) {
            matched = true;
            set_at(el, rest, value.clone(), env);
        }
    }
    if !matched {
        let constraints = filter_seed(f);
        if rest.is_empty() {
            let mut element = value;
            if let Value::Object(o) = &mut element {
                for (k, v) in constraints {
                    o.entry(k).or_insert(v);
                }
            }
            a.push(element);
        } else {
            let mut seed = Value::Object(constraints);
            set_at(&mut seed, rest, value, env);
            a.push(seed);
        }
    }
}

/// `[?(@.key)]` → `key`.
fn existence_key(f: &Expr) -> Option<&str> {
    match f {
        Expr::Exists(Operand::Path(p)) if p.root == Root::Current && p.function.is_none() => {
            match p.segments.as_slice() {
                [Segment::Name(k)] => Some(k.as_str()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The members an element needs to satisfy a filter's `@.key == literal` conjunctions.
fn filter_seed(f: &Expr) -> Map<String, Value> {
    let mut m = Map::new();
    collect_seed(f, &mut m);
    m
}

fn collect_seed(f: &Expr, m: &mut Map<String, Value>) {
    match f {
        Expr::And(parts) => parts.iter().for_each(|p| collect_seed(p, m)),
        Expr::Compare(l, op, r) if op.is_equality() => {
            let (path, lit) = match (l, r) {
                (Operand::Path(p), Operand::Literal(v))
                | (Operand::Literal(v), Operand::Path(p)) => (p, v),
                _ => return,
            };
            if path.root == Root::Current
                && path.function.is_none()
                && let [Segment::Name(k)] = path.segments.as_slice()
            {
                m.insert(k.clone(), lit.clone());
            }
        }
        _ => {}
    }
}
