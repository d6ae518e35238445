//! The v1 search filter (spec/domain.md §2.3 "User search"): only `eq` and `and`, on `id`,
//! `userUuid`, `emails`, `userName`, `name.familyName`, `addresses.country` and `groups` for
//! users, and on `id`, `displayName` and `name` for groups. [`parse_v1_filter`] reads the
//! text into conditions; [`v1_filter_to_v2`] turns them into a SCIM 2.0 [`Filter`] over the
//! v2 shape.
//!
//! Invariants: anything outside the subset (another operator, `or`, `not`, parentheses,
//! brackets, another attribute) is a 400 `UNSUPPORTED_FILTER` that names what was refused;
//! values are JSON strings (`"…"`, escapes allowed) or bare words.

use serde_json::Value;

use super::IdResolver;
use super::ResourceKind as Kind;
use super::error::{V1Error, code};
use crate::scim::filter::{Filter, FilterLimits, parse_filter};
use crate::scim::urn;

/// The longest filter text accepted.
const MAX_FILTER_CHARS: usize = 4096;

/// One `attribute eq value` condition; the conditions of a filter are and-ed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Condition {
    /// The attribute as the v1 API names it (canonical spelling).
    pub attribute: &'static str,
    pub value: String,
}

const USER_ATTRIBUTES: &[&str] = &[
    "id",
    "userUuid",
    "emails",
    "userName",
    "name.familyName",
    "addresses.country",
    "groups",
];
const GROUP_ATTRIBUTES: &[&str] = &["id", "displayName", "name"];

fn unsupported(detail: impl Into<String>) -> V1Error {
    V1Error::new(
        crate::scim::ScimError::invalid_filter(detail),
        code::UNSUPPORTED_FILTER,
    )
}

/// The attributes a v1 filter on `kind` may use.
pub fn filter_attributes(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::User => USER_ATTRIBUTES,
        Kind::Group => GROUP_ATTRIBUTES,
    }
}

/// Splits the filter into tokens: bare words and JSON strings (kept with their quotes).
fn tokens(text: &str) -> Result<Vec<String>, V1Error> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut end = None;
            let mut escaped = false;
            for (i, ch) in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if ch == '\\' {
                    escaped = true;
                } else if ch == '"' {
                    end = Some(i);
                    break;
                }
            }
            let end = end.ok_or_else(|| unsupported("the filter has an unterminated string"))?;
            out.push(text[start..=end].to_string());
        } else if matches!(c, '(' | ')' | '[' | ']') {
            return Err(unsupported(format!(
                "{c:?} is not supported by the SCIM v1 search: only eq and and are"
            )));
        } else {
            let mut end = text.len();
            while let Some(&(i, ch)) = chars.peek() {
                if ch.is_whitespace() || matches!(ch, '"' | '(' | ')' | '[' | ']') {
                    end = i;
                    break;
                }
                chars.next();
            }
            out.push(text[start..end].to_string());
        }
    }
    Ok(out)
}

fn value_of(token: &str) -> Result<String, V1Error> {
    if token.starts_with('"') {
        serde_json::from_str::<String>(token)
            .map_err(|_| unsupported(format!("the filter value {token} is not a valid string")))
    } else {
        Ok(token.to_string())
    }
}

/// Parses `attr eq value [and attr eq value]…` for `kind`.
pub fn parse_v1_filter(text: &str, kind: Kind) -> Result<Vec<V1Condition>, V1Error> {
    if text.chars().count() > MAX_FILTER_CHARS {
        return Err(unsupported(format!(
            "the filter exceeds {MAX_FILTER_CHARS} characters"
        )));
    }
    let tokens = tokens(text)?;
    if tokens.is_empty() {
        return Err(unsupported("the filter is empty"));
    }
    let allowed = filter_attributes(kind);
    let mut out = Vec::new();
    let mut rest = tokens.as_slice();
    loop {
        let [attr, op, value, tail @ ..] = rest else {
            return Err(unsupported(format!(
                "incomplete filter {text:?}: expected attribute eq \"value\""
            )));
        };
        let attribute = allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(attr))
            .ok_or_else(|| {
                unsupported(format!(
                    "attribute {attr:?} cannot be searched; the SCIM v1 search supports {}",
                    allowed.join(", ")
                ))
            })?;
        if !op.eq_ignore_ascii_case("eq") {
            return Err(unsupported(format!(
                "operator {op:?} is not supported by the SCIM v1 search: only eq and and are"
            )));
        }
        out.push(V1Condition {
            attribute,
            value: value_of(value)?,
        });
        match tail {
            [] => return Ok(out),
            [word, more @ ..] if word.eq_ignore_ascii_case("and") => rest = more,
            [word, ..] => {
                return Err(unsupported(format!(
                    "{word:?} is not supported by the SCIM v1 search: only eq and and are"
                )));
            }
        }
    }
}

fn quoted(value: &str) -> String {
    Value::String(value.to_string()).to_string()
}

/// The v2 filter text of one condition.
fn v2_condition(kind: Kind, c: &V1Condition, ids: &dyn IdResolver) -> String {
    let v = quoted(&c.value);
    match (kind, c.attribute) {
        (Kind::User, "id") => format!("{}:userId eq {v}", urn::SAP_USER),
        (Kind::User, "userUuid") => format!("id eq {v}"),
        (Kind::User, "emails") => format!("emails.value eq {v}"),
        (Kind::User, "groups") => match ids.group_uuid(&c.value) {
            Some(uuid) => format!("groups.value eq {}", quoted(&uuid)),
            None => format!("groups.display eq {v}"),
        },
        (Kind::Group, "id") => match ids.group_uuid(&c.value) {
            Some(uuid) => format!("id eq {}", quoted(&uuid)),
            None => format!("{}:additionalId eq {v}", urn::SAP_CUSTOM_GROUP),
        },
        (Kind::Group, "name") => format!("{}:name eq {v}", urn::SAP_CUSTOM_GROUP),
        (_, attr) => format!("{attr} eq {v}"),
    }
}

/// The SCIM 2.0 filter equivalent to the v1 conditions (and-ed) over the v2 shape of `kind`.
/// `groups` and group `id` values are resolved to UUIDs through `ids` when they name a group.
pub fn v1_filter_to_v2(
    conditions: &[V1Condition],
    kind: Kind,
    ids: &dyn IdResolver,
) -> Result<Filter, V1Error> {
    let text = conditions
        .iter()
        .map(|c| v2_condition(kind, c, ids))
        .collect::<Vec<_>>()
        .join(" and ");
    let limits = FilterLimits {
        max_length: usize::MAX,
        ..FilterLimits::default()
    };
    parse_filter(&text, kind.resource_type(), &limits).map_err(V1Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::v1::user::tests::Ids;
    use serde_json::json;

    #[test]
    fn parses_eq_and_and() {
        let c = parse_v1_filter(
            r#"userName eq "j doe" AND name.familyname eq Doe and emails EQ "a\"b@x""#,
            Kind::User,
        )
        .unwrap();
        assert_eq!(
            c,
            vec![
                V1Condition {
                    attribute: "userName",
                    value: "j doe".into()
                },
                V1Condition {
                    attribute: "name.familyName",
                    value: "Doe".into()
                },
                V1Condition {
                    attribute: "emails",
                    value: "a\"b@x".into()
                },
            ]
        );
    }

    #[test]
    fn everything_else_is_refused_with_a_clear_message() {
        for (text, needle) in [
            (r#"userName co "j""#, "operator \"co\""),
            (r#"userName ne "j""#, "operator \"ne\""),
            (r#"userName eq "a" or userName eq "b""#, "\"or\""),
            (r#"not (userName eq "a")"#, "'('"),
            (r#"emails[value eq "a"]"#, "'['"),
            (r#"displayName eq "a""#, "attribute \"displayName\""),
            (r#"userName pr"#, "incomplete"),
            (r#"userName eq "a"#, "unterminated"),
            ("", "empty"),
        ] {
            let err = parse_v1_filter(text, Kind::User).unwrap_err();
            assert_eq!(err.code, code::UNSUPPORTED_FILTER, "{text}");
            assert_eq!(err.error.status, 400);
            assert!(
                err.error.detail.contains(needle),
                "{text}: {}",
                err.error.detail
            );
        }
        assert!(parse_v1_filter(r#"displayName eq "a""#, Kind::Group).is_ok());
        assert!(parse_v1_filter(r#"userName eq "a""#, Kind::Group).is_err());
    }

    #[test]
    fn translates_to_v2_filters_that_match_the_v2_shape() {
        let user = json!({
            "id": "u-1",
            "userName": "jdoe",
            "name": {"familyName": "Doe"},
            "emails": [{"value": "j@x"}],
            "addresses": [{"country": "DE"}],
            "groups": [{"value": "g-1", "display": "Sales"}],
            urn::SAP_USER: {"userId": "P000001"}
        });
        let rt = Kind::User.resource_type();
        for (text, expected) in [
            (r#"id eq "P000001""#, true),
            (r#"id eq "P000002""#, false),
            (r#"userUuid eq "u-1""#, true),
            (r#"emails eq "j@x""#, true),
            (r#"userName eq "JDOE""#, true),
            (
                r#"name.familyName eq "Doe" and addresses.country eq "DE""#,
                true,
            ),
            (r#"addresses.country eq "FR""#, false),
            (r#"groups eq "63c468ode3c07406970900kc""#, true),
            (r#"groups eq "Sales""#, true),
            (r#"groups eq "Other""#, false),
        ] {
            let c = parse_v1_filter(text, Kind::User).unwrap();
            let f = v1_filter_to_v2(&c, Kind::User, &Ids).unwrap();
            assert_eq!(f.matches(&user, rt), expected, "{text}");
        }
        let group = json!({"id": "g-1", "displayName": "Sales",
            urn::SAP_CUSTOM_GROUP: {"name": "sales", "additionalId": "63c468ode3c07406970900kc"}});
        let rt = Kind::Group.resource_type();
        for (text, expected) in [
            (r#"id eq "63c468ode3c07406970900kc""#, true),
            (r#"displayName eq "Sales""#, true),
            (r#"name eq "sales""#, true),
            (r#"name eq "x""#, false),
        ] {
            let c = parse_v1_filter(text, Kind::Group).unwrap();
            let f = v1_filter_to_v2(&c, Kind::Group, &Ids).unwrap();
            assert_eq!(f.matches(&group, rt), expected, "{text}");
        }
    }
}
