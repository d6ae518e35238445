//! Listing: query parameters and `/.search` bodies, index paging (1-based `startIndex`,
//! `count`) and cursor paging (RFC 9865), and the ListResponse body.
//!
//! Invariants: parameter names are matched case-insensitively; a malformed number or sort
//! order is a 400 `invalidValue`, never a silent default; `totalResults`, `itemsPerPage` and
//! `startIndex` are JSON integers.

use serde_json::{Map, Value};

use super::ScimError;
use super::sort::SortOrder;
use super::urn;

/// The listing parameters of a GET query or a `/.search` body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListParams {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: SortOrder,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub cursor: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

impl ListParams {
    /// From URL query pairs (names case-insensitive; unknown names ignored; for a repeated
    /// name the last value wins; an empty value counts as absent, except `cursor`, where an
    /// empty value asks for the first page of cursor paging).
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, ScimError> {
        let mut params = ListParams::default();
        for (name, value) in pairs {
            let name = name.to_ascii_lowercase();
            if name == "cursor" {
                params.cursor = Some(value.clone());
                continue;
            }
            if value.trim().is_empty() {
                continue;
            }
            match name.as_str() {
                "filter" => params.filter = Some(value.clone()),
                "sortby" => params.sort_by = Some(value.clone()),
                "sortorder" => params.sort_order = parse_sort_order(value)?,
                "startindex" => params.start_index = Some(parse_integer("startIndex", value)?),
                "count" => params.count = Some(parse_integer("count", value)?),
                "attributes" => params.attributes = Some(value.clone()),
                "excludedattributes" => params.excluded_attributes = Some(value.clone()),
                _ => {}
            }
        }
        Ok(params)
    }

    /// From a `/.search` SearchRequest body (RFC 7644 §3.4.3). `schemas` must contain the
    /// SearchRequest URN (400 `invalidSyntax` otherwise); `attributes` and
    /// `excludedAttributes` are string arrays (a comma-separated string is accepted too) and
    /// are stored comma-joined.
    pub fn from_search_body(body: &Value) -> Result<Self, ScimError> {
        let Value::Object(map) = body else {
            return Err(ScimError::invalid_syntax(
                "the SearchRequest body must be a JSON object",
            ));
        };
        let has_urn = field(map, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .any(|u| u.eq_ignore_ascii_case(urn::SEARCH_REQUEST))
            });
        if !has_urn {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must contain {}",
                urn::SEARCH_REQUEST
            )));
        }
        let mut params = ListParams::default();
        for (key, value) in map {
            if value.is_null() {
                continue;
            }
            match key.to_ascii_lowercase().as_str() {
                "filter" => params.filter = Some(string_field("filter", value)?),
                "sortby" => params.sort_by = Some(string_field("sortBy", value)?),
                "sortorder" => {
                    params.sort_order = parse_sort_order(&string_field("sortOrder", value)?)?;
                }
                "startindex" => params.start_index = Some(integer_field("startIndex", value)?),
                "count" => params.count = Some(integer_field("count", value)?),
                "cursor" => params.cursor = Some(string_field("cursor", value)?),
                "attributes" => params.attributes = list_field("attributes", value)?,
                "excludedattributes" => {
                    params.excluded_attributes = list_field("excludedAttributes", value)?;
                }
                _ => {}
            }
        }
        Ok(params)
    }
}

fn field<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn parse_sort_order(text: &str) -> Result<SortOrder, ScimError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("ascending") {
        Ok(SortOrder::Ascending)
    } else if text.eq_ignore_ascii_case("descending") {
        Ok(SortOrder::Descending)
    } else {
        Err(ScimError::invalid_value(
            "'sortOrder' must be 'ascending' or 'descending'",
        ))
    }
}

fn parse_integer(name: &str, text: &str) -> Result<i64, ScimError> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| ScimError::invalid_value(format!("'{name}' must be an integer")))
}

fn string_field(name: &str, value: &Value) -> Result<String, ScimError> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ScimError::invalid_value(format!("'{name}' must be a string")))
}

fn integer_field(name: &str, value: &Value) -> Result<i64, ScimError> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| ScimError::invalid_value(format!("'{name}' must be an integer"))),
        Value::String(s) => parse_integer(name, s),
        _ => Err(ScimError::invalid_value(format!(
            "'{name}' must be an integer"
        ))),
    }
}

fn list_field(name: &str, value: &Value) -> Result<Option<String>, ScimError> {
    let items: Vec<&str> = match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str().ok_or_else(|| {
                    ScimError::invalid_value(format!("'{name}' must be an array of strings"))
                })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "'{name}' must be an array of strings"
            )));
        }
    };
    let joined = items.join(",");
    Ok((!joined.trim().is_empty()).then_some(joined))
}

/// The page size to use: absent → `default` (at most `max`), negative → 0, over `max` → `max`.
pub fn effective_count(count: Option<i64>, default: usize, max: usize) -> usize {
    match count {
        None => default.min(max),
        Some(c) if c < 0 => 0,
        Some(c) => usize::try_from(c).map_or(max, |c| c.min(max)),
    }
}

/// The 1-based start index to use: absent or below 1 → 1.
pub fn effective_start_index(start_index: Option<i64>) -> usize {
    match start_index {
        Some(i) if i > 1 => usize::try_from(i).unwrap_or(usize::MAX),
        _ => 1,
    }
}

/// A ListResponse body: `totalResults` when known, `itemsPerPage` (the number of resources on
/// this page), `startIndex` when index paging, `nextCursor` when there is a next cursor page,
/// and `Resources` (always present, possibly empty).
pub fn list_response(
    total_results: Option<usize>,
    start_index: Option<usize>,
    resources: Vec<Value>,
    next_cursor: Option<String>,
) -> Value {
    let mut body = Map::new();
    body.insert(
        "schemas".into(),
        Value::Array(vec![Value::String(urn::LIST_RESPONSE.into())]),
    );
    if let Some(total) = total_results {
        body.insert("totalResults".into(), Value::from(total));
    }
    body.insert("itemsPerPage".into(), Value::from(resources.len()));
    if let Some(start) = start_index {
        body.insert("startIndex".into(), Value::from(start));
    }
    if let Some(cursor) = next_cursor {
        body.insert("nextCursor".into(), Value::String(cursor));
    }
    body.insert("Resources".into(), Value::Array(resources));
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ScimType;
    use serde_json::json;

    fn q(pairs: &[(&str, &str)]) -> Result<ListParams, ScimError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ListParams::from_query(&pairs)
    }

    #[test]
    fn query_names_are_case_insensitive() {
        let p = q(&[
            ("Filter", "userName eq \"a\""),
            ("SORTBY", "userName"),
            ("sortorder", "Descending"),
            ("startIndex", "3"),
            ("COUNT", " 10 "),
            ("excludedattributes", "members"),
            ("Attributes", "userName"),
            ("cursor", ""),
            ("unknown", "x"),
        ])
        .unwrap();
        assert_eq!(
            p,
            ListParams {
                filter: Some("userName eq \"a\"".into()),
                sort_by: Some("userName".into()),
                sort_order: SortOrder::Descending,
                start_index: Some(3),
                count: Some(10),
                cursor: Some(String::new()),
                attributes: Some("userName".into()),
                excluded_attributes: Some("members".into()),
            }
        );
        assert_eq!(q(&[]).unwrap(), ListParams::default());
    }

    #[test]
    fn bad_numbers_and_sort_order_are_invalid_value() {
        for pairs in [
            [("count", "ten")],
            [("startIndex", "1.5")],
            [("sortOrder", "up")],
        ] {
            let err = q(&pairs).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidValue), "{pairs:?}");
        }
        assert_eq!(q(&[("count", "-5")]).unwrap().count, Some(-5));
    }

    #[test]
    fn search_body() {
        let p = ListParams::from_search_body(&json!({
            "schemas": [urn::SEARCH_REQUEST],
            "attributes": ["userName", "emails.value"],
            "excludedAttributes": [],
            "filter": "active eq true",
            "startIndex": 1,
            "count": 10,
            "sortOrder": "ascending"
        }))
        .unwrap();
        assert_eq!(p.attributes.as_deref(), Some("userName,emails.value"));
        assert_eq!(p.excluded_attributes, None);
        assert_eq!(p.filter.as_deref(), Some("active eq true"));
        assert_eq!((p.start_index, p.count), (Some(1), Some(10)));

        let err = ListParams::from_search_body(&json!({"filter": "x"})).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
        let err = ListParams::from_search_body(&json!({"schemas": [urn::PATCH_OP]})).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
        let err =
            ListParams::from_search_body(&json!({"schemas": [urn::SEARCH_REQUEST], "count": "x"}))
                .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
        let err = ListParams::from_search_body(
            &json!({"schemas": [urn::SEARCH_REQUEST], "attributes": [1]}),
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn effective_paging_values() {
        assert_eq!(effective_count(None, 100, 1000), 100);
        assert_eq!(effective_count(None, 100, 50), 50);
        assert_eq!(effective_count(Some(-1), 100, 1000), 0);
        assert_eq!(effective_count(Some(0), 100, 1000), 0);
        assert_eq!(effective_count(Some(5000), 100, 1000), 1000);
        assert_eq!(effective_count(Some(7), 100, 1000), 7);
        assert_eq!(effective_start_index(None), 1);
        assert_eq!(effective_start_index(Some(-3)), 1);
        assert_eq!(effective_start_index(Some(0)), 1);
        assert_eq!(effective_start_index(Some(42)), 42);
    }

    #[test]
    fn list_response_shapes() {
        let body = list_response(Some(3), Some(1), vec![json!({"id": "a"})], None);
        assert_eq!(
            body,
            json!({"schemas": [urn::LIST_RESPONSE], "totalResults": 3, "itemsPerPage": 1,
                   "startIndex": 1, "Resources": [{"id": "a"}]})
        );
        let body = list_response(None, None, vec![], Some("c1".into()));
        assert_eq!(
            body,
            json!({"schemas": [urn::LIST_RESPONSE], "itemsPerPage": 0, "nextCursor": "c1",
                   "Resources": []})
        );
    }
}
