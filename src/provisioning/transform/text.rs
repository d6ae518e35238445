//! Text helpers of the transformation engine: `//` and `/* */` comments in transformation JSON
//! (SAP's own defaults carry them), `%property.name%` and `${variable}` interpolation, and the
//! translation of Java `DateTimeFormatter` patterns (`ips.date.variable.format`) for
//! `${currentDate}`.
//!
//! Invariants: interpolation never fails — a placeholder whose property or variable is unknown is
//! left as written; comment stripping never touches text inside JSON strings.

use serde_json::Value;
use std::borrow::Cow;

/// Removes `//…` line comments and `/*…*/` block comments outside JSON strings.
pub(crate) fn strip_json_comments(src: &str) -> Cow<'_, str> {
    if !src.contains("//") && !src.contains("/*") {
        return Cow::Borrowed(src);
    }
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    if n == '\n' {
                        out.push('\n');
                    }
                    prev = n;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_placeholder_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Whether `s` contains a `%property%` or `${variable}` placeholder.
pub(crate) fn has_placeholders(s: &str) -> bool {
    scan(s, &mut |_, _| None::<String>).1
}

/// Replaces every placeholder with `lookup(kind, name)`; `None` keeps the placeholder text.
/// Returns the text and whether any placeholder was seen.
fn scan(s: &str, lookup: &mut dyn FnMut(Kind, &str) -> Option<String>) -> (String, bool) {
    let mut out = String::with_capacity(s.len());
    let mut seen = false;
    let mut rest = s;
    while let Some(i) = rest.find(['%', '$']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (kind, open, close) = if tail.starts_with("${") {
            (Kind::Variable, 2, '}')
        } else if tail.starts_with('%') {
            (Kind::Property, 1, '%')
        } else {
            out.push('$');
            rest = &tail[1..];
            continue;
        };
        let body = &tail[open..];
        let end = body.find(|c: char| !is_placeholder_char(c));
        match end {
            Some(e) if e > 0 && body[e..].starts_with(close) => {
                seen = true;
                let name = &body[..e];
                match lookup(kind, name) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&tail[..open + e + 1]),
                }
                rest = &body[e + 1..];
            }
            _ => {
                out.push_str(&tail[..open]);
                rest = &tail[open..];
            }
        }
    }
    out.push_str(rest);
    (out, seen)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Property,
    Variable,
}

/// What placeholders resolve against.
pub(crate) trait Lookup {
    fn property(&self, name: &str) -> Option<String>;
    fn variable(&self, name: &str) -> Option<String>;
}

/// A [`Lookup`] whose variable values are escaped for use inside a quoted condition string.
pub(crate) struct QuotedVariables<'a>(pub &'a dyn Lookup);

impl Lookup for QuotedVariables<'_> {
    fn property(&self, name: &str) -> Option<String> {
        self.0.property(name)
    }
    fn variable(&self, name: &str) -> Option<String> {
        let v = self.0.variable(name)?;
        let mut out = String::with_capacity(v.len());
        for c in v.chars() {
            if matches!(c, '\\' | '\'' | '"') {
                out.push('\\');
            }
            out.push(c);
        }
        Some(out)
    }
}

/// Renders `%property%` and `${variable}` placeholders of `s`.
pub(crate) fn render<'s>(s: &'s str, env: &dyn Lookup) -> Cow<'s, str> {
    if !s.contains('%') && !s.contains("${") {
        return Cow::Borrowed(s);
    }
    let (out, _) = scan(s, &mut |kind, name| match kind {
        Kind::Property => env.property(name),
        Kind::Variable => env.variable(name),
    });
    Cow::Owned(out)
}

/// Renders the placeholders of every string inside `v`.
pub(crate) fn render_value(v: &Value, env: &dyn Lookup) -> Value {
    match v {
        Value::String(s) => Value::String(render(s, env).into_owned()),
        Value::Array(a) => Value::Array(a.iter().map(|e| render_value(e, env)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, e)| (k.clone(), render_value(e, env)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replaces every placeholder with `x`: used to check the syntax of templated conditions and
/// paths when the transformation is parsed.
pub(crate) fn render_dummy(s: &str) -> String {
    scan(s, &mut |_, _| Some("x".to_string())).0
}

/// The default `ips.date.variable.format`.
pub(crate) const DEFAULT_DATE_FORMAT: &str = "yyyy-MM-dd HH:mm:ss.SSS";

/// Translates a Java `DateTimeFormatter` pattern into a jiff `strftime` format.
pub(crate) fn java_date_pattern_to_strftime(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal; '' is a single quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                push_literal(&mut out, chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        i += n;
        let spec: Cow<'static, str> = match (c, n) {
            ('y' | 'u', 2) => "%y".into(),
            ('y' | 'u', _) => "%Y".into(),
            ('M' | 'L', 1) => "%-m".into(),
            ('M' | 'L', 2) => "%m".into(),
            ('M' | 'L', 3) => "%b".into(),
            ('M' | 'L', _) => "%B".into(),
            ('d', 1) => "%-d".into(),
            ('d', _) => "%d".into(),
            ('D', _) => "%j".into(),
            ('H', 1) => "%-H".into(),
            ('H', _) => "%H".into(),
            ('h', 1) => "%-I".into(),
            ('h', _) => "%I".into(),
            ('m', 1) => "%-M".into(),
            ('m', _) => "%M".into(),
            ('s', 1) => "%-S".into(),
            ('s', _) => "%S".into(),
            ('S', n) => format!("%{}f", n.min(9)).into(),
            ('n', _) => "%N".into(),
            ('a', _) => "%p".into(),
            ('E', 1..=3) => "%a".into(),
            ('E', _) => "%A".into(),
            ('z', _) | ('V', _) => "%Z".into(),
            ('Z', 1..=3) | ('x', 1..=2) | ('X', 1..=2) => "%z".into(),
            ('Z', _) | ('x', _) | ('X', _) => "%:z".into(),
            _ => {
                return Err(format!(
                    "unsupported date pattern letter '{c}' in '{pattern}'"
                ));
            }
        };
        out.push_str(&spec);
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// Formats `now` (UTC) with a Java `DateTimeFormatter` pattern.
pub(crate) fn format_current_date(
    now: jiff::Timestamp,
    java_pattern: &str,
) -> Result<String, String> {
    let fmt = java_date_pattern_to_strftime(java_pattern)?;
    let zoned = now.to_zoned(jiff::tz::TimeZone::UTC);
    jiff::fmt::strtime::format(fmt.as_str(), &zoned)
        .map_err(|e| format!("cannot format the current date with '{java_pattern}': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Env;
    impl Lookup for Env {
        fn property(&self, name: &str) -> Option<String> {
            (name == "aad.domain.name").then(|| "mail.acme.com".to_string())
        }
        fn variable(&self, name: &str) -> Option<String> {
            (name == "currentDate").then(|| "2024-01-02".to_string())
        }
    }

    #[test]
    fn comments_are_stripped_outside_strings_only() {
        let src = "{\n // a comment\n \"a\": \"http://x/*y*/\", /* block */ \"b\": 1 }";
        let v: Value = serde_json::from_str(&strip_json_comments(src)).unwrap();
        assert_eq!(v["a"], "http://x/*y*/");
        assert_eq!(v["b"], 1);
    }

    #[test]
    fn placeholders_render_and_unknown_ones_stay() {
        assert_eq!(render("@%aad.domain.name%", &Env), "@mail.acme.com");
        assert_eq!(render("'${currentDate}'", &Env), "'2024-01-02'");
        assert_eq!(
            render("%unknown.prop%-${nope}", &Env),
            "%unknown.prop%-${nope}"
        );
        assert_eq!(render("100% sure $5", &Env), "100% sure $5");
        assert!(has_placeholders("%a.b%"));
        assert!(has_placeholders("x${y}"));
        assert!(!has_placeholders("100% of $x"));
        assert_eq!(render_dummy("$.%ldap.attribute.user.id%[0]"), "$.x[0]");
    }

    #[test]
    fn java_date_patterns_translate() {
        let ts: jiff::Timestamp = "2024-03-05T07:08:09.123456Z".parse().unwrap();
        assert_eq!(
            format_current_date(ts, DEFAULT_DATE_FORMAT).unwrap(),
            "2024-03-05 07:08:09.123"
        );
        assert_eq!(
            format_current_date(ts, "yyyy-MM-dd'T'HH:mm:ss'Z'").unwrap(),
            "2024-03-05T07:08:09Z"
        );
        assert_eq!(format_current_date(ts, "MM/dd/yyyy").unwrap(), "03/05/2024");
        assert_eq!(format_current_date(ts, "d MMM uuuu").unwrap(), "5 Mar 2024");
        assert!(format_current_date(ts, "yyyy-QQ").is_err());
    }
}
