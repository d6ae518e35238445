//! Parser of JSONPath expressions and conditions (one recursive-descent parser, because
//! filters nest conditions in paths and conditions contain paths).
//!
//! Errors are plain messages naming the offending text; the caller adds the mapping location.

use serde_json::Value;

use super::expr::{CondFn, Expr, Op, Operand};
use super::java_regex;
use super::jsonpath::{JsonPath, PathFunction, Root, Segment};

/// Parses a whole string as a path (`$.a.b`, `@.x`).
pub(crate) fn parse_path(src: &str) -> Result<JsonPath, String> {
    let mut p = Parser::new(src);
    p.skip_ws();
    let path = p.path()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error("unexpected text after the path"));
    }
    Ok(path)
}

/// Parses a whole string as a condition.
pub(crate) fn parse_condition(src: &str) -> Result<Expr, String> {
    let mut p = Parser::new(src);
    let e = p.or()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error("unexpected text"));
    }
    Ok(e)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

fn is_name_char(c: char) -> bool {
    !(c.is_whitespace()
        || matches!(
            c,
            '.' | '['
                | ']'
                | '('
                | ')'
                | ','
                | '='
                | '!'
                | '<'
                | '>'
                | '&'
                | '|'
                | '~'
                | '\''
                | '"'
        ))
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser { src, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn error(&self, msg: &str) -> String {
        format!("{msg} at position {} in '{}'", self.pos, self.src)
    }

    /// A case-insensitive keyword not followed by an identifier character.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let rest = self.rest();
        if rest.len() >= kw.len()
            && rest.is_char_boundary(kw.len())
            && rest[..kw.len()].eq_ignore_ascii_case(kw)
            && !rest[kw.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn identifier(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        self.src[start..self.pos].to_string()
    }

    // ---- paths ----

    fn path(&mut self) -> Result<JsonPath, String> {
        let root = match self.bump() {
            Some('$') => Root::Document,
            Some('@') => Root::Current,
            _ => return Err(self.error("a path must start with '$' or '@'")),
        };
        let mut segments = Vec::new();
        let mut function = None;
        loop {
            if function.is_some() {
                if matches!(self.peek(), Some('.' | '[')) {
                    return Err(self.error("a path function must end the path"));
                }
                break;
            }
            if self.rest().starts_with("..") {
                return Err(self.error("deep scan '..' is not supported"));
            }
            if self.eat(".") {
                match self.peek() {
                    Some('*') => {
                        self.bump();
                        segments.push(Segment::Wildcard);
                    }
                    Some('[') => {
                        self.bump();
                        segments.push(self.bracket()?);
                    }
                    _ => {
                        let start = self.pos;
                        while self.peek().is_some_and(is_name_char) {
                            self.bump();
                        }
                        let name = &self.src[start..self.pos];
                        if name.is_empty() {
                            return Err(self.error("missing a name after '.'"));
                        }
                        if self.rest().starts_with("()") {
                            self.pos += 2;
                            function = Some(match name {
                                "length" | "size" => PathFunction::Length,
                                other => {
                                    return Err(self
                                        .error(&format!("unsupported path function '{other}()'")));
                                }
                            });
                        } else {
                            segments.push(Segment::Name(name.to_string()));
                        }
                    }
                }
            } else if self.eat("[") {
                segments.push(self.bracket()?);
            } else {
                break;
            }
        }
        Ok(JsonPath {
            root,
            segments,
            function,
        })
    }

    /// The inside of `[...]` after the `[`, consuming the `]`.
    fn bracket(&mut self) -> Result<Segment, String> {
        self.skip_ws();
        let seg = match self.peek() {
            Some('*') => {
                self.bump();
                Segment::Wildcard
            }
            Some('?') => {
                self.bump();
                self.skip_ws();
                if !self.eat("(") {
                    return Err(self.error("expected '(' after '?'"));
                }
                let e = self.or()?;
                self.skip_ws();
                if !self.eat(")") {
                    return Err(self.error("expected ')' closing the filter"));
                }
                Segment::Filter(Box::new(e))
            }
            Some('\'' | '"') => {
                let mut names = vec![self.quoted()?];
                loop {
                    self.skip_ws();
                    if !self.eat(",") {
                        break;
                    }
                    self.skip_ws();
                    names.push(self.quoted()?);
                }
                if names.len() == 1 {
                    Segment::Name(names.remove(0))
                } else {
                    Segment::Names(names)
                }
            }
            _ => {
                let first = self.opt_int()?;
                self.skip_ws();
                if self.eat(":") {
                    self.skip_ws();
                    let to = self.opt_int()?;
                    Segment::Slice(first, to)
                } else {
                    let Some(first) = first else {
                        return Err(self.error("expected an index, a quoted name, '*' or a filter"));
                    };
                    let mut idx = vec![first];
                    loop {
                        self.skip_ws();
                        if !self.eat(",") {
                            break;
                        }
                        self.skip_ws();
                        match self.opt_int()? {
                            Some(i) => idx.push(i),
                            None => return Err(self.error("expected an index")),
                        }
                    }
                    if idx.len() == 1 {
                        Segment::Index(first)
                    } else {
                        Segment::Indexes(idx)
                    }
                }
            }
        };
        self.skip_ws();
        if !self.eat("]") {
            return Err(self.error("expected ']'"));
        }
        Ok(seg)
    }

    fn opt_int(&mut self) -> Result<Option<i64>, String> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.bump();
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        let text = &self.src[start..self.pos];
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|_| self.error(&format!("invalid index '{text}'")))
    }

    fn quoted(&mut self) -> Result<String, String> {
        let Some(q @ ('\'' | '"')) = self.bump() else {
            return Err(self.error("expected a quoted string"));
        };
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error("unterminated string")),
                Some('\\') => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(c) => out.push(c),
                    None => return Err(self.error("unterminated string")),
                },
                Some(c) if c == q => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    // ---- conditions ----

    fn or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and()?];
        loop {
            self.skip_ws();
            if !self.eat("||") {
                break;
            }
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.unary()?];
        loop {
            self.skip_ws();
            if !self.eat("&&") {
                break;
            }
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        if self.peek() == Some('!') && !self.rest().starts_with("!=") {
            self.bump();
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let e = self.or()?;
            self.skip_ws();
            if !self.eat(")") {
                return Err(self.error("expected ')'"));
            }
            return Ok(e);
        }
        let left = self.operand()?;
        self.skip_ws();
        let Some(op) = self.operator() else {
            return Ok(Expr::Exists(left));
        };
        self.skip_ws();
        let right = if op == Op::Empty {
            if self.eat_keyword("true") {
                Operand::Literal(Value::Bool(true))
            } else if self.eat_keyword("false") {
                Operand::Literal(Value::Bool(false))
            } else {
                return Err(self.error("expected true or false after 'empty'"));
            }
        } else {
            self.operand()?
        };
        Ok(Expr::Compare(left, op, right))
    }

    fn operator(&mut self) -> Option<Op> {
        const SYMBOLS: [(&str, Op); 10] = [
            ("===", Op::StrictEq),
            ("!==", Op::StrictNe),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("=~", Op::Matches),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("<>", Op::Ne),
        ];
        for (s, op) in SYMBOLS {
            if self.eat(s) {
                return Some(op);
            }
        }
        const WORDS: [(&str, Op); 8] = [
            ("nin", Op::Nin),
            ("in", Op::In),
            ("contains", Op::Contains),
            ("empty", Op::Empty),
            ("size", Op::Size),
            ("subsetof", Op::SubsetOf),
            ("anyof", Op::AnyOf),
            ("noneof", Op::NoneOf),
        ];
        WORDS
            .into_iter()
            .find(|(w, _)| self.eat_keyword(w))
            .map(|(_, op)| op)
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("expected a value")),
            Some('$' | '@') => Ok(Operand::Path(self.path()?)),
            Some('\'' | '"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some('/') => self.regex(),
            Some('[') => Ok(Operand::Literal(self.array_literal()?)),
            Some(c) if c.is_ascii_digit() || c == '-' => Ok(Operand::Literal(self.number()?)),
            Some(c) if c.is_alphabetic() => {
                let save = self.pos;
                let word = self.identifier();
                match word.as_str() {
                    "true" => Ok(Operand::Literal(Value::Bool(true))),
                    "false" => Ok(Operand::Literal(Value::Bool(false))),
                    "null" => Ok(Operand::Literal(Value::Null)),
                    _ => self.call(&word).map_err(|e| {
                        if e.is_empty() {
                            self.pos = save;
                            self.error(&format!("unknown condition function '{word}'"))
                        } else {
                            e
                        }
                    }),
                }
            }
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.bump();
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+'))
        {
            self.bump();
        }
        let text = &self.src[start..self.pos];
        serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_number)
            .ok_or_else(|| self.error(&format!("invalid number '{text}'")))
    }

    fn array_literal(&mut self) -> Result<Value, String> {
        self.bump();
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat("]") {
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            let item = match self.operand()? {
                Operand::Literal(v) => v,
                _ => return Err(self.error("a list may only contain literal values")),
            };
            items.push(item);
            self.skip_ws();
            if self.eat("]") {
                return Ok(Value::Array(items));
            }
            if !self.eat(",") {
                return Err(self.error("expected ',' or ']' in the list"));
            }
        }
    }

    fn regex(&mut self) -> Result<Operand, String> {
        self.bump();
        let mut pattern = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error("unterminated regular expression")),
                Some('\\') => match self.bump() {
                    Some('/') => pattern.push('/'),
                    Some(c) => {
                        pattern.push('\\');
                        pattern.push(c);
                    }
                    None => return Err(self.error("unterminated regular expression")),
                },
                Some('/') => break,
                Some(c) => pattern.push(c),
            }
        }
        let flags = self.identifier();
        java_regex::full(&pattern, &flags).map(Operand::Regex)
    }

    /// A condition function call; an empty error means "not a known function".
    fn call(&mut self, name: &str) -> Result<Operand, String> {
        self.skip_ws();
        let mut args: Vec<String> = Vec::new();
        if self.eat("(") {
            loop {
                self.skip_ws();
                if self.eat(")") {
                    break;
                }
                let start = self.pos;
                let mut depth = 0usize;
                let mut quote: Option<char> = None;
                while let Some(c) = self.peek() {
                    match (quote, c) {
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), _) => {}
                        (None, '\'' | '"') => quote = Some(c),
                        (None, '(' | '[') => depth += 1,
                        (None, ')' | ']') if depth > 0 => depth -= 1,
                        (None, ')' | ',') if depth == 0 => break,
                        _ => {}
                    }
                    self.bump();
                }
                args.push(self.src[start..self.pos].trim().to_string());
                self.skip_ws();
                if self.eat(",") {
                    continue;
                }
                if !self.eat(")") {
                    return Err(self.error("expected ')' closing the function call"));
                }
                break;
            }
        }
        let unquote = |s: &str| s.trim_matches(|c| c == '\'' || c == '"').to_string();
        let arity = |n: usize| -> Result<(), String> {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!("{name} takes {n} argument(s), got {}", args.len()))
            }
        };
        let f = match name {
            "isValidEmail" => {
                arity(1)?;
                CondFn::IsValidEmail(parse_path(&args[0])?)
            }
            "isApplicationSpecificGroup" => {
                arity(0)?;
                CondFn::IsApplicationSpecificGroup
            }
            "isRegularGroup" => {
                arity(0)?;
                CondFn::IsRegularGroup
            }
            "isAttributeWithOptionalPrefix" => {
                arity(2)?;
                CondFn::IsAttributeWithOptionalPrefix(parse_path(&args[0])?, unquote(&args[1]))
            }
            "isAttributeWithMandatoryPrefix" => {
                arity(2)?;
                CondFn::IsAttributeWithMandatoryPrefix(parse_path(&args[0])?, unquote(&args[1]))
            }
            _ => return Err(String::new()),
        };
        Ok(Operand::Call(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        let p = parse_path(
            "$['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']['manager']['value']",
        )
        .unwrap();
        assert_eq!(p.segments.len(), 3);
        assert!(p.is_definite());
        let p = parse_path("$.emails[*].['value','display','primary']").unwrap();
        assert!(matches!(p.segments[2], Segment::Names(ref n) if n.len() == 3));
        assert!(!p.is_definite());
        let p = parse_path("$.emails[?(@.primary== true)].value").unwrap();
        assert!(matches!(p.segments[1], Segment::Filter(_)));
        let p = parse_path("$.emails.length()").unwrap();
        assert_eq!(p.function, Some(PathFunction::Length));
        assert!(parse_path("$").unwrap().is_root());
        assert!(parse_path("$.a[-1]").is_ok());
        assert!(parse_path("$.a[1:3]").is_ok());
        assert!(parse_path("$..a").is_err());
        assert!(parse_path("emails").is_err());
        assert!(parse_path("$.a[").is_err());
        assert!(parse_path("$.a.foo()").is_err());
    }

    #[test]
    fn conditions_parse() {
        for c in [
            "($.emails EMPTY false) && ($.userName EMPTY false) && isValidEmail($.emails[0].value)",
            "($.emails.length() > 0) && ($.name.familyName EMPTY false)",
            "$.emails[?(@.primary == true)].value == []",
            "$.emails[0].value =~ /.*@example.com/",
            "(@.type NIN ['work', 'home'])",
            "$.groups EMPTY true || $.groups[?(@.display === 'XYZ' )] empty true",
            "$.memberOf contains 'group1'",
            "isAttributeWithOptionalPrefix($.displayName, s4hana.afc.group.prefix)",
            "isRegularGroup() && !isApplicationSpecificGroup",
            "$.a !== 'x' || $.b != 1 || $.c <= 3 || $.d >= -1.5 || $.e in [1, 'a']",
            "$.userName =~ /.*EXPLORER.*/i",
        ] {
            assert!(parse_condition(c).is_ok(), "{c}: {:?}", parse_condition(c));
        }
        for bad in [
            "$.a ==",
            "($.a",
            "foo($.a)",
            "$.a =~ /(/",
            "$.a EMPTY maybe",
            "$.a == 'x' junk",
        ] {
            assert!(parse_condition(bad).is_err(), "{bad}");
        }
        assert!(
            parse_condition("foo($.a)")
                .unwrap_err()
                .contains("unknown condition function 'foo'")
        );
    }
}
