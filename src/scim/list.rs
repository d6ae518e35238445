//! Listing: query parameters and `/.search` bodies, index paging (1-based `startIndex`,
//! `count`) and cursor paging (RFC 9865), and the ListResponse body.

use serde_json::Value;

use super::ScimError;
use super::sort::SortOrder;

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
    /// From URL query pairs (names case-insensitive).
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, ScimError> {
        let _ = pairs;
        Ok(ListParams::default())
    }

    /// From a `/.search` SearchRequest body.
    pub fn from_search_body(body: &Value) -> Result<Self, ScimError> {
        let _ = body;
        Ok(ListParams::default())
    }
}

/// A ListResponse body.
pub fn list_response(
    total_results: Option<usize>,
    start_index: Option<usize>,
    resources: Vec<Value>,
    next_cursor: Option<String>,
) -> Value {
    let _ = (total_results, start_index, next_cursor);
    serde_json::json!({
        "schemas": [super::urn::LIST_RESPONSE],
        "Resources": resources,
    })
}
