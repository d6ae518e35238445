//! Sorting (RFC 7644 §3.4.2.3): `sortBy` an attribute path, `sortOrder` ascending or
//! descending; resources without a value sort last in ascending order (first in descending).
//! For multi-valued attributes the primary value (or the first) is the sort key.
//!
//! Invariant: the comparison is a total order for a fixed path (strings per `caseExact`,
//! dateTimes as instants, numbers numerically), so a stable sort is deterministic.

use std::cmp::Ordering;

use serde_json::Value;

use super::filter::{is_present, order_values};
use super::path::{AttrPath, get_ci};
use super::schema::ResourceType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

impl SortOrder {
    /// Parses a `sortOrder` parameter (case-insensitive); `None` for anything else.
    pub fn parse(text: &str) -> Option<SortOrder> {
        if text.eq_ignore_ascii_case("ascending") {
            Some(SortOrder::Ascending)
        } else if text.eq_ignore_ascii_case("descending") {
            Some(SortOrder::Descending)
        } else {
            None
        }
    }
}

/// Compares two resources by `path` in `order` (stable callers keep the previous order on ties).
pub fn compare(
    a: &Value,
    b: &Value,
    path: &AttrPath,
    order: SortOrder,
    rt: &ResourceType,
) -> Ordering {
    let def = path.compared_attribute(rt);
    let ascending = match (sort_key(a, path, rt), sort_key(b, path, rt)) {
        (Some(x), Some(y)) => order_values(x, y, def),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    match order {
        SortOrder::Ascending => ascending,
        SortOrder::Descending => ascending.reverse(),
    }
}

/// The sort key of one resource: for a multi-valued attribute its primary (else first)
/// value; for a complex value its sub-attribute (or `value`).
pub fn sort_key<'v>(resource: &'v Value, path: &AttrPath, rt: &ResourceType) -> Option<&'v Value> {
    let top = path.top_value(resource, rt)?;
    let element = match top {
        Value::Array(items) => items
            .iter()
            .find(|e| get_ci(e, "primary").and_then(Value::as_bool) == Some(true))
            .or_else(|| items.first())?,
        other => other,
    };
    let leaf = match (&path.sub, element) {
        (Some(sub), _) => get_ci(element, sub)?,
        (None, Value::Object(_)) => get_ci(element, "value")?,
        (None, other) => other,
    };
    let leaf = match leaf {
        Value::Array(items) => items.first()?,
        other => other,
    };
    is_present(leaf).then_some(leaf)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::path::parse_attr_path;
    use crate::scim::path::test_fixture::user_type;

    fn sorted(mut items: Vec<Value>, by: &str, order: SortOrder) -> Vec<String> {
        let rt = user_type();
        let path = parse_attr_path(by, &rt).unwrap();
        items.sort_by(|a, b| compare(a, b, &path, order, &rt));
        items
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn strings_fold_case_unless_case_exact_and_missing_last() {
        let items = vec![
            json!({"id": "1", "userName": "bob", "nickName": "b"}),
            json!({"id": "2", "userName": "Alice", "nickName": "B"}),
            json!({"id": "3"}),
            json!({"id": "4", "userName": "carol", "nickName": "a"}),
        ];
        assert_eq!(
            sorted(items.clone(), "userName", SortOrder::Ascending),
            ["2", "1", "4", "3"]
        );
        assert_eq!(
            sorted(items.clone(), "USERNAME", SortOrder::Descending),
            ["3", "4", "1", "2"]
        );
        // nickName is caseExact: "B" < "a" < "b".
        assert_eq!(
            sorted(items, "nickName", SortOrder::Ascending),
            ["2", "4", "1", "3"]
        );
    }

    #[test]
    fn multi_valued_uses_primary_else_first() {
        let items = vec![
            json!({"id": "1", "emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}),
            json!({"id": "2", "emails": [{"value": "m@x"}, {"value": "b@x"}]}),
            json!({"id": "3", "emails": []}),
        ];
        assert_eq!(
            sorted(items.clone(), "emails", SortOrder::Ascending),
            ["1", "2", "3"]
        );
        assert_eq!(
            sorted(items, "emails.value", SortOrder::Descending),
            ["3", "2", "1"]
        );
    }

    #[test]
    fn datetimes_and_numbers_compare_by_value() {
        let items = vec![
            json!({"id": "1", "meta": {"created": "2024-01-01T12:00:00+02:00"}, "loginCount": 10}),
            json!({"id": "2", "meta": {"created": "2024-01-01T11:00:00Z"}, "loginCount": 9}),
            json!({"id": "3", "meta": {"created": "2024-01-01T10:30:00Z"}, "loginCount": 100}),
        ];
        assert_eq!(
            sorted(items.clone(), "meta.created", SortOrder::Ascending),
            ["1", "3", "2"]
        );
        assert_eq!(
            sorted(items, "loginCount", SortOrder::Ascending),
            ["2", "1", "3"]
        );
    }

    #[test]
    fn extension_attributes_sort() {
        let ent = crate::scim::path::test_fixture::ENT;
        let items = vec![
            json!({"id": "1", ent: {"employeeNumber": "2"}}),
            json!({"id": "2", ent: {"employeeNumber": "1"}}),
        ];
        assert_eq!(
            sorted(
                items,
                &format!("{ent}:employeeNumber"),
                SortOrder::Ascending
            ),
            ["2", "1"]
        );
        assert_eq!(SortOrder::parse("DESCENDING"), Some(SortOrder::Descending));
        assert_eq!(SortOrder::parse("up"), None);
    }
}
