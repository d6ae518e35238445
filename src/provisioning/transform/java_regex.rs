//! Java regular expressions (as written in SAP transformations) compiled with the `regex` crate.
//!
//! Translates the Java-only constructs SAP's transformations use: atomic groups `(?>…)` and
//! possessive quantifiers (compiled as their ordinary counterparts), POSIX classes such as
//! `\p{Punct}`, and `\Q…\E` quoting; and Java replacement strings (`$1`, `${name}`, `\$`).
//! `full` patterns must match the whole input (Java `String.matches`), `find` patterns anywhere.

use regex::Regex;

/// Compiles a Java pattern that must match the whole input.
pub(crate) fn full(pattern: &str, flags: &str) -> Result<Regex, String> {
    compile(pattern, flags, true)
}

/// Compiles a Java pattern that may match anywhere in the input.
pub(crate) fn find(pattern: &str) -> Result<Regex, String> {
    compile(pattern, "", false)
}

fn compile(pattern: &str, flags: &str, anchored: bool) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    let mut src = String::new();
    let flags: String = flags
        .chars()
        .filter(|c| matches!(c, 'i' | 'm' | 's' | 'x'))
        .collect();
    if !flags.is_empty() {
        src.push_str(&format!("(?{flags})"));
    }
    if anchored {
        src.push_str(&format!("^(?:{translated})$"));
    } else {
        src.push_str(&translated);
    }
    Regex::new(&src).map_err(|e| format!("invalid regular expression '{pattern}': {e}"))
}

fn posix_class(name: &str) -> Option<&'static str> {
    Some(match name {
        "Punct" => "punct",
        "Alpha" => "alpha",
        "Alnum" => "alnum",
        "Digit" => "digit",
        "Upper" => "upper",
        "Lower" => "lower",
        "Space" => "space",
        "Graph" => "graph",
        "Print" => "print",
        "Blank" => "blank",
        "Cntrl" => "cntrl",
        "XDigit" => "xdigit",
        "ASCII" => "ascii",
        _ => return None,
    })
}

/// Rewrites Java regex syntax into `regex` crate syntax.
fn translate(p: &str) -> Result<String, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut class_depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err(format!(
                        "invalid regular expression '{p}': trailing backslash"
                    ));
                };
                if n == 'Q' {
                    let rest: String = chars[i + 2..].iter().collect();
                    let (quoted, consumed) = match rest.find("\\E") {
                        Some(e) => (&rest[..e], e + 2),
                        None => (rest.as_str(), rest.len()),
                    };
                    out.push_str(&regex::escape(quoted));
                    i += 2 + rest[..consumed].chars().count();
                    continue;
                }
                if (n == 'p' || n == 'P') && chars.get(i + 2) == Some(&'{') {
                    let name: String = chars[i + 3..].iter().take_while(|&&ch| ch != '}').collect();
                    if let Some(posix) = posix_class(&name) {
                        let neg = if n == 'P' { "^" } else { "" };
                        if class_depth > 0 && n == 'p' {
                            out.push_str(&format!("[:{posix}:]"));
                        } else {
                            out.push_str(&format!("[[:{neg}{posix}:]]"));
                        }
                        i += 3 + name.chars().count() + 1;
                        continue;
                    }
                }
                if n == 'Z' {
                    out.push_str(r"\z");
                    i += 2;
                    continue;
                }
                out.push(c);
                out.push(n);
                i += 2;
                continue;
            }
            '[' => {
                class_depth += 1;
                out.push(c);
                // A leading ']' or '^]' is literal in Java and must be escaped for `regex`.
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(c);
            }
            '(' if class_depth == 0
                && chars.get(i + 1) == Some(&'?')
                && chars.get(i + 2) == Some(&'>') =>
            {
                out.push_str("(?:");
                i += 3;
                continue;
            }
            '+' if class_depth == 0 && i > 0 && is_quantifier_end(&chars, i - 1) => {
                // Possessive quantifier: compile as greedy.
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// Whether `chars[j]` ends a quantifier (`*`, `+`, `?`, `}`) that is not escaped.
fn is_quantifier_end(chars: &[char], j: usize) -> bool {
    if !matches!(chars[j], '*' | '+' | '?' | '}') {
        return false;
    }
    // Count preceding backslashes: an escaped char is a literal, not a quantifier.
    let mut k = j;
    let mut backslashes = 0;
    while k > 0 && chars[k - 1] == '\\' {
        backslashes += 1;
        k -= 1;
    }
    if backslashes % 2 == 1 {
        return false;
    }
    // `(?` and `(+`… are not quantifiers; a `+` after a quantifier `+` is handled by caller.
    !(chars[j] == '?' && j > 0 && chars[j - 1] == '(')
}

/// Translates a Java replacement string (`$1`, `${name}`, `\x` escapes) into `regex` syntax.
pub(crate) fn replacement(java: &str) -> String {
    let chars: Vec<char> = java.chars().collect();
    let mut out = String::with_capacity(java.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if let Some(&n) = chars.get(i + 1) {
                    if n == '$' {
                        out.push_str("$$");
                    } else {
                        out.push(n);
                    }
                }
                i += 2;
            }
            '$' => {
                if chars.get(i + 1) == Some(&'{') {
                    let name: String = chars[i + 2..].iter().take_while(|&&c| c != '}').collect();
                    out.push_str(&format!("${{{name}}}"));
                    i += 3 + name.chars().count();
                } else {
                    let digits: String = chars[i + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .collect();
                    if digits.is_empty() {
                        out.push_str("$$");
                        i += 1;
                    } else {
                        out.push_str(&format!("${{{digits}}}"));
                        i += 1 + digits.len();
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_constructs_compile() {
        let re = find(r"[\s\p{Punct}]").unwrap();
        assert_eq!(re.replace_all("My Group.Name-1", "_"), "My_Group_Name_1");
        let re = full(r"(?>a+)b", "").unwrap();
        assert!(re.is_match("aab"));
        let re = full(r"a*+b", "").unwrap();
        assert!(re.is_match("aaab"));
        let re = full(r"\Q1+1\E=2", "").unwrap();
        assert!(re.is_match("1+1=2"));
        let re = full(r"a\+", "").unwrap();
        assert!(re.is_match("a+"));
        assert!(full("abc", "i").unwrap().is_match("ABC"));
        assert!(!full("abc", "").unwrap().is_match("xabc"));
        assert!(find("(").is_err());
    }

    #[test]
    fn java_replacements_translate() {
        let re = find(r"(\w+)@(\w+)").unwrap();
        assert_eq!(re.replace("a@b", replacement("$2-$1").as_str()), "b-a");
        assert_eq!(re.replace("a@b", replacement(r"\$1").as_str()), "$1");
        assert_eq!(re.replace("a@b", replacement("x$").as_str()), "x$");
    }
}
