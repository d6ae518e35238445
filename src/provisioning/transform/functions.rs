//! Mapping functions (`"functions": [...]` of a mapping): parsing their options and applying
//! them to a mapping's value.
//!
//! Every function accepts the common options `condition` (`@` = the element or value it is
//! applied to), `applyOnElements`, `applyOnAttribute` and `assignToAttribute`. String functions,
//! `putIfAbsent`, `putIfPresent`, `resolveEntityIds`, `copyMapEntry` and `renameMapEntry` apply
//! to each element when the value is an array; `elementAt`, `splitStringToArray` and
//! `randomPassword` take the value as a whole unless `applyOnElements` is set. An element
//! `resolveEntityIds` cannot resolve is dropped (a manager or member that does not exist in the
//! target is not written). Functions chain: each output feeds the next.

use std::borrow::Cow;

use rand::Rng;
use rand::seq::SliceRandom;
use regex::Regex;
use serde_json::{Map, Value};

use super::engine::Scope;
use super::java_regex;
use super::text;
use super::{Cond, EntityType, Lazy};

/// A parsed function of a mapping.
#[derive(Debug, Clone)]
pub(crate) struct Function {
    pub at: String,
    kind: Kind,
    condition: Option<Cond>,
    apply_on_elements: bool,
    apply_on_attribute: Option<String>,
    assign_to_attribute: Option<String>,
}

#[derive(Debug, Clone)]
enum Kind {
    ConcatString {
        prefix: String,
        suffix: String,
    },
    ToUpperCase,
    ToLowerCase,
    ReplaceString {
        target: String,
        replacement: String,
    },
    ReplaceFirst {
        regex: Lazy<Regex>,
        replacement: String,
    },
    ReplaceLast {
        regex: Lazy<Regex>,
        replacement: String,
    },
    ReplaceAll {
        regex: Lazy<Regex>,
        replacement: String,
    },
    Substring {
        begin: usize,
        end: Option<usize>,
    },
    ElementAt(i64),
    SplitStringToArray(String),
    PutIfAbsent {
        key: String,
        default: Value,
    },
    PutIfPresent {
        key: String,
        default: Value,
    },
    ResolveEntityIds(EntityType),
    RandomPassword(PasswordRules),
    ToString,
    MatchRegex(Lazy<Regex>),
    GetMatchedRegexGroup {
        regex: Lazy<Regex>,
        group: usize,
    },
    CompositeId {
        separator: String,
        sub_id: String,
    },
    CopyMapEntry {
        source_key: String,
        target_key: String,
    },
    RenameMapEntry {
        source_key: String,
        target_key: String,
    },
}

impl Kind {
    /// Whether the function works element by element on arrays even without
    /// `applyOnElements`.
    fn per_element(&self) -> bool {
        !matches!(
            self,
            Kind::ElementAt(_) | Kind::SplitStringToArray(_) | Kind::RandomPassword(_)
        )
    }
}

#[derive(Debug, Clone)]
struct PasswordRules {
    length: usize,
    lower: usize,
    upper: usize,
    digits: usize,
    special: usize,
    symbols: Vec<char>,
}

const KNOWN_UNSUPPORTED: [&str; 8] = [
    "convertCountryCode",
    "convertCountryRegion",
    "convertLocaleCode",
    "convertTimezoneCode",
    "decode",
    "encode",
    "manipulateDate",
    "applyOnJsonAttribute",
];

/// Reads a boolean option that SAP sometimes writes as a string (`"true"`).
pub(crate) fn flag(v: Option<&Value>, what: &str) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(format!("'{what}' must be true or false")),
    }
}

/// A string option; numbers and booleans are accepted as their text (SAP writes `"suffix": 123`).
fn text_opt(o: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(format!("'{key}' must be a string")),
    }
}

fn text_req(o: &Map<String, Value>, key: &str) -> Result<String, String> {
    text_opt(o, key)?.ok_or_else(|| format!("missing '{key}'"))
}

fn int_opt(o: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("'{key}' must be an integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("'{key}' must be an integer")),
        Some(_) => Err(format!("'{key}' must be an integer")),
    }
}

fn uint_req(o: &Map<String, Value>, key: &str) -> Result<usize, String> {
    let n = int_opt(o, key)?.ok_or_else(|| format!("missing '{key}'"))?;
    usize::try_from(n).map_err(|_| format!("'{key}' must not be negative"))
}

fn regex_opt(o: &Map<String, Value>, key: &str, full: bool) -> Result<Lazy<Regex>, String> {
    let raw = text_req(o, key)?;
    if full {
        Lazy::new(raw, |s| java_regex::full(s, ""))
    } else {
        Lazy::new(raw, java_regex::find)
    }
}

impl Function {
    /// Parses one entry of `functions`.
    pub fn parse(v: &Value, at: String) -> Result<Function, String> {
        let Value::Object(o) = v else {
            return Err("a function must be an object".into());
        };
        let name = match (o.get("function"), o.get("type")) {
            (Some(Value::String(n)), _) | (None, Some(Value::String(n))) => n.as_str(),
            _ => return Err("missing the function name ('function' or 'type')".into()),
        };
        let kind = match name {
            "concatString" => Kind::ConcatString {
                prefix: text_opt(o, "prefix")?.unwrap_or_default(),
                suffix: text_opt(o, "suffix")?.unwrap_or_default(),
            },
            "toUpperCaseString" => Kind::ToUpperCase,
            "toLowerCaseString" => Kind::ToLowerCase,
            "replaceString" => Kind::ReplaceString {
                target: text_req(o, "target")?,
                replacement: text_req(o, "replacement")?,
            },
            "replaceFirstString" => Kind::ReplaceFirst {
                regex: regex_opt(o, "regex", false)?,
                replacement: text_req(o, "replacement")?,
            },
            "replaceLastString" => Kind::ReplaceLast {
                regex: regex_opt(o, "regex", false)?,
                replacement: text_req(o, "replacement")?,
            },
            "replaceAllString" => Kind::ReplaceAll {
                regex: regex_opt(o, "regex", false)?,
                replacement: text_req(o, "replacement")?,
            },
            "substring" => {
                let begin = uint_req(o, "beginIndex")?;
                let end = int_opt(o, "endIndex")?
                    .map(|e| {
                        usize::try_from(e)
                            .map_err(|_| "'endIndex' must not be negative".to_string())
                    })
                    .transpose()?;
                if end.is_some_and(|e| e < begin) {
                    return Err("'endIndex' must not be smaller than 'beginIndex'".into());
                }
                Kind::Substring { begin, end }
            }
            "elementAt" => Kind::ElementAt(int_opt(o, "index")?.ok_or("missing 'index'")?),
            "splitStringToArray" => {
                let sep = text_req(o, "separator")?;
                if sep.is_empty() {
                    return Err("'separator' must not be empty".into());
                }
                Kind::SplitStringToArray(sep)
            }
            "putIfAbsent" | "putIfPresent" => {
                let key = text_req(o, "key")?;
                let default = o
                    .get("defaultValue")
                    .cloned()
                    .ok_or("missing 'defaultValue'")?;
                if name == "putIfAbsent" {
                    Kind::PutIfAbsent { key, default }
                } else {
                    Kind::PutIfPresent { key, default }
                }
            }
            "resolveEntityIds" => {
                Kind::ResolveEntityIds(match text_opt(o, "entityType")?.as_deref() {
                    None | Some("user") => EntityType::User,
                    Some("group") => EntityType::Group,
                    Some(other) => {
                        return Err(format!("unknown entityType '{other}' (user or group)"));
                    }
                })
            }
            "randomPassword" => Kind::RandomPassword(password_rules(o)?),
            "toString" => Kind::ToString,
            "matchRegex" => Kind::MatchRegex(regex_opt(o, "regex", true)?),
            "getMatchedRegexGroup" => Kind::GetMatchedRegexGroup {
                regex: regex_opt(o, "regex", true)?,
                group: uint_req(o, "groupIndex")?,
            },
            "compositeId" => Kind::CompositeId {
                separator: text_opt(o, "separator")?.unwrap_or_else(|| ":".into()),
                sub_id: text_req(o, "subId")?,
            },
            "copyMapEntry" | "renameMapEntry" => {
                let source_key = text_req(o, "sourceKey")?;
                let target_key = text_req(o, "targetKey")?;
                if name == "copyMapEntry" {
                    Kind::CopyMapEntry {
                        source_key,
                        target_key,
                    }
                } else {
                    Kind::RenameMapEntry {
                        source_key,
                        target_key,
                    }
                }
            }
            other if KNOWN_UNSUPPORTED.contains(&other) => {
                return Err(format!("function '{other}' is not supported"));
            }
            other => return Err(format!("unknown function '{other}'")),
        };
        let condition = match o.get("condition") {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) => Some(Cond::parse(c)?),
            Some(_) => return Err("'condition' must be a string".into()),
        };
        Ok(Function {
            at,
            kind,
            condition,
            apply_on_elements: flag(o.get("applyOnElements"), "applyOnElements")?,
            apply_on_attribute: text_opt(o, "applyOnAttribute")?
                .or(text_opt(o, "applyOnJsonAttribute")?),
            assign_to_attribute: text_opt(o, "assignToAttribute")?,
        })
    }

    /// Applies the function to `value` (`None` = no value).
    pub fn apply(&self, value: Option<Value>, scope: &Scope<'_>) -> Result<Option<Value>, String> {
        let Some(value) = value else {
            return match &self.kind {
                Kind::RandomPassword(rules) => Ok(Some(Value::String(random_password(rules)))),
                _ => Ok(None),
            };
        };
        let per_element = self.apply_on_elements || self.kind.per_element();
        match value {
            Value::Array(items) if per_element => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if !self.condition_holds(&item, scope)? {
                        out.push(item);
                        continue;
                    }
                    if let Some(v) = self.apply_one(item, scope)? {
                        out.push(v);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            v => {
                if !self.condition_holds(&v, scope)? {
                    return Ok(Some(v));
                }
                self.apply_one(v, scope)
            }
        }
    }

    fn condition_holds(&self, current: &Value, scope: &Scope<'_>) -> Result<bool, String> {
        match &self.condition {
            None => Ok(true),
            Some(c) => c.holds(scope, scope.input, current),
        }
    }

    /// Applies the function to one element, honouring `applyOnAttribute`/`assignToAttribute`.
    fn apply_one(&self, item: Value, scope: &Scope<'_>) -> Result<Option<Value>, String> {
        match (&self.apply_on_attribute, &self.assign_to_attribute) {
            (None, None) => self.kind_apply(item, scope),
            (attr, assign) => {
                let Value::Object(mut o) = item else {
                    return Ok(Some(item));
                };
                let input = match attr {
                    Some(a) => match o.get(a) {
                        Some(v) => v.clone(),
                        None => return Ok(Some(Value::Object(o))),
                    },
                    None => Value::Object(o.clone()),
                };
                let target = assign
                    .as_ref()
                    .or(attr.as_ref())
                    .cloned()
                    .unwrap_or_default();
                match self.kind_apply(input, scope)? {
                    Some(r) => {
                        o.insert(target, r);
                        Ok(Some(Value::Object(o)))
                    }
                    None if matches!(self.kind, Kind::ResolveEntityIds(_)) => Ok(None),
                    None => Ok(Some(Value::Object(o))),
                }
            }
        }
    }

    fn kind_apply(&self, v: Value, scope: &Scope<'_>) -> Result<Option<Value>, String> {
        let render = |s: &str| -> String { text::render(s, scope).into_owned() };
        Ok(match &self.kind {
            Kind::ConcatString { prefix, suffix } => {
                let s = string_of(&v, "concatString")?;
                Some(Value::String(format!(
                    "{}{s}{}",
                    render(prefix),
                    render(suffix)
                )))
            }
            Kind::ToUpperCase => Some(Value::String(
                string_of(&v, "toUpperCaseString")?.to_uppercase(),
            )),
            Kind::ToLowerCase => Some(Value::String(
                string_of(&v, "toLowerCaseString")?.to_lowercase(),
            )),
            Kind::ReplaceString {
                target,
                replacement,
            } => {
                let s = string_of(&v, "replaceString")?;
                let t = render(target);
                if t.is_empty() {
                    Some(Value::String(s.into_owned()))
                } else {
                    Some(Value::String(s.replace(t.as_str(), &render(replacement))))
                }
            }
            Kind::ReplaceFirst { regex, replacement }
            | Kind::ReplaceLast { regex, replacement }
            | Kind::ReplaceAll { regex, replacement } => {
                let s = string_of(&v, "replace")?;
                let re = regex.get(scope)?;
                let rep = java_regex::replacement(&render(replacement));
                let out = match &self.kind {
                    Kind::ReplaceFirst { .. } => re.replace(&s, rep.as_str()).into_owned(),
                    Kind::ReplaceAll { .. } => re.replace_all(&s, rep.as_str()).into_owned(),
                    _ => match re.captures_iter(&s).last() {
                        None => s.into_owned(),
                        Some(caps) => {
                            let m = caps.get(0).map_or(0..0, |m| m.range());
                            let mut expanded = String::new();
                            caps.expand(&rep, &mut expanded);
                            format!("{}{expanded}{}", &s[..m.start], &s[m.end..])
                        }
                    },
                };
                Some(Value::String(out))
            }
            Kind::Substring { begin, end } => {
                let s = string_of(&v, "substring")?;
                let chars: Vec<char> = s.chars().collect();
                let b = (*begin).min(chars.len());
                let e = end.unwrap_or(chars.len()).min(chars.len());
                Some(Value::String(chars[b..e.max(b)].iter().collect()))
            }
            Kind::ElementAt(i) => match v {
                Value::Array(a) => {
                    let len = a.len() as i64;
                    let idx = if *i < 0 { len + i } else { *i };
                    usize::try_from(idx).ok().and_then(|n| a.into_iter().nth(n))
                }
                other => (*i == 0).then_some(other),
            },
            Kind::SplitStringToArray(sep) => {
                let s = string_of(&v, "splitStringToArray")?;
                let sep = render(sep);
                Some(Value::Array(
                    s.split(sep.as_str())
                        .map(|p| Value::String(p.to_string()))
                        .collect(),
                ))
            }
            Kind::PutIfAbsent { key, default } => match v {
                Value::Object(mut o) => {
                    let k = render(key);
                    if o.get(&k).is_none_or(Value::is_null) {
                        o.insert(k, text::render_value(default, scope));
                    }
                    Some(Value::Object(o))
                }
                other => Some(other),
            },
            Kind::PutIfPresent { key, default } => match v {
                Value::Object(mut o) => {
                    let k = render(key);
                    if o.get(&k).is_some_and(|x| !x.is_null()) {
                        o.insert(k, text::render_value(default, scope));
                    }
                    Some(Value::Object(o))
                }
                other => Some(other),
            },
            Kind::ResolveEntityIds(entity) => match v {
                Value::Object(mut o) => {
                    let resolved = o
                        .get("value")
                        .and_then(scalar_text)
                        .and_then(|id| scope.ctx.resolver.resolve(*entity, &id));
                    match resolved {
                        Some(id) => {
                            o.insert("value".into(), Value::String(id));
                            Some(Value::Object(o))
                        }
                        None => None,
                    }
                }
                other => scalar_text(&other)
                    .and_then(|id| scope.ctx.resolver.resolve(*entity, &id))
                    .map(Value::String),
            },
            Kind::RandomPassword(rules) => Some(Value::String(random_password(rules))),
            Kind::ToString => Some(Value::String(match v {
                Value::String(s) => s,
                Value::Array(bytes)
                    if bytes.iter().all(|b| b.as_u64().is_some_and(|n| n < 256)) =>
                {
                    let raw: Vec<u8> = bytes
                        .iter()
                        .filter_map(|b| b.as_u64())
                        .map(|n| n as u8)
                        .collect();
                    String::from_utf8_lossy(&raw).into_owned()
                }
                other => other.to_string(),
            })),
            Kind::MatchRegex(re) => {
                let s = string_of(&v, "matchRegex")?;
                Some(Value::Bool(re.get(scope)?.is_match(&s)))
            }
            Kind::GetMatchedRegexGroup { regex, group } => {
                let s = string_of(&v, "getMatchedRegexGroup")?;
                regex
                    .get(scope)?
                    .captures(&s)
                    .and_then(|c| c.get(*group))
                    .map(|m| Value::String(m.as_str().to_string()))
            }
            Kind::CompositeId { separator, sub_id } => {
                let s = string_of(&v, "compositeId")?;
                Some(Value::String(format!(
                    "{s}{}{}",
                    render(separator),
                    render(sub_id)
                )))
            }
            Kind::CopyMapEntry {
                source_key,
                target_key,
            }
            | Kind::RenameMapEntry {
                source_key,
                target_key,
            } => match v {
                Value::Object(mut o) => {
                    let rename = matches!(self.kind, Kind::RenameMapEntry { .. });
                    let found = if rename {
                        o.shift_remove(source_key.as_str())
                    } else {
                        o.get(source_key.as_str()).cloned()
                    };
                    if let Some(x) = found {
                        o.insert(target_key.clone(), x);
                    }
                    Some(Value::Object(o))
                }
                other => Some(other),
            },
        })
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn string_of<'v>(v: &'v Value, function: &str) -> Result<Cow<'v, str>, String> {
    match v {
        Value::String(s) => Ok(Cow::Borrowed(s)),
        Value::Number(n) => Ok(Cow::Owned(n.to_string())),
        Value::Bool(b) => Ok(Cow::Owned(b.to_string())),
        _ => Err(format!("{function} needs a string value")),
    }
}

const DEFAULT_SPECIAL_SYMBOLS: &str = "~!@#$%^&*()_+";

fn password_rules(o: &Map<String, Value>) -> Result<PasswordRules, String> {
    let rules = PasswordRules {
        length: uint_req(o, "passwordLength")?,
        lower: uint_req(o, "minimumNumberOfLowercaseLetters")?,
        upper: uint_req(o, "minimumNumberOfUppercaseLetters")?,
        digits: uint_req(o, "minimumNumberOfDigits")?,
        special: uint_req(o, "minimumNumberOfSpecialSymbols")?,
        symbols: text_opt(o, "specialSymbols")?
            .unwrap_or_else(|| DEFAULT_SPECIAL_SYMBOLS.into())
            .chars()
            .collect(),
    };
    if rules.length == 0 || rules.length > 1024 {
        return Err("'passwordLength' must be between 1 and 1024".into());
    }
    if rules.lower + rules.upper + rules.digits + rules.special > rules.length {
        return Err("the minimum numbers of characters exceed 'passwordLength'".into());
    }
    if o.contains_key("specialSymbols") && rules.special == 0 {
        return Err(
            "'minimumNumberOfSpecialSymbols' must not be 0 with custom 'specialSymbols'".into(),
        );
    }
    if rules.symbols.is_empty() && rules.special > 0 {
        return Err("'specialSymbols' must not be empty".into());
    }
    Ok(rules)
}

fn random_password(rules: &PasswordRules) -> String {
    const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
    const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const DIGITS: &str = "0123456789";
    let lower: Vec<char> = LOWER.chars().collect();
    let upper: Vec<char> = UPPER.chars().collect();
    let digits: Vec<char> = DIGITS.chars().collect();
    let mut rng = rand::rng();
    let mut pick = |set: &[char], n: usize, out: &mut Vec<char>| {
        for _ in 0..n {
            out.push(set[rng.random_range(0..set.len())]);
        }
    };
    let mut out = Vec::with_capacity(rules.length);
    pick(&lower, rules.lower, &mut out);
    pick(&upper, rules.upper, &mut out);
    pick(&digits, rules.digits, &mut out);
    pick(&rules.symbols, rules.special, &mut out);
    let mut all: Vec<char> = [lower.as_slice(), upper.as_slice(), digits.as_slice()].concat();
    if rules.special > 0 || !rules.symbols.is_empty() {
        all.extend(&rules.symbols);
    }
    let remaining = rules.length - out.len();
    pick(&all, remaining, &mut out);
    out.shuffle(&mut rand::rng());
    out.into_iter().collect()
}
