//! `POST /Bulk` (RFC 7644 §3.7): parsing the BulkRequest into directory operations, the limits
//! (`maxOperations`, `maxPayloadSize` → 413), and rendering the BulkResponse.
//!
//! Invariants: a request over a limit or with a malformed operation is refused as a whole
//! before anything is written; the permission for every operation is checked before the
//! directory runs any; `bulkId` references (`bulkId:x` in paths and values) are resolved by the
//! directory; an id may not be the reserved word `bulkId`. Operations are reordered (stably)
//! so that an operation referring to `bulkId:x` runs after the POST that declares `x`, so
//! references resolve whatever order the client sent (cycles keep the client's order).

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::context::{Access, ScimContext};
use super::http::{check_content_type, parse_json_object, read_body, scim_json};
use super::limits;
use crate::directory::{BulkMethod, BulkOp, BulkOpResult, Kind, Origin};
use crate::scim::patch::parse_patch_request;
use crate::scim::{ScimError, urn};

/// A parsed BulkRequest.
#[derive(Debug)]
pub struct BulkRequest {
    pub operations: Vec<BulkOp>,
    /// Stop after this many errors (`failOnErrors`); `None` = run every operation.
    pub fail_on_errors: Option<usize>,
}

/// A member of a JSON object by case-insensitive name.
fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn method_name(method: BulkMethod) -> &'static str {
    match method {
        BulkMethod::Post => "POST",
        BulkMethod::Put => "PUT",
        BulkMethod::Patch => "PATCH",
        BulkMethod::Delete => "DELETE",
    }
}

fn parse_method(text: &str) -> Option<BulkMethod> {
    [
        BulkMethod::Post,
        BulkMethod::Put,
        BulkMethod::Patch,
        BulkMethod::Delete,
    ]
    .into_iter()
    .find(|m| method_name(*m).eq_ignore_ascii_case(text))
}

/// Parses an operation path: `/Users`, `/Groups/{id}`, with or without the leading slash.
pub fn parse_path(path: &str) -> Result<(Kind, Option<String>), ScimError> {
    let invalid = || {
        ScimError::invalid_value(format!(
            "bulk operation path {path:?} is not /Users[/id] or /Groups[/id]"
        ))
    };
    let trimmed = path.trim().trim_start_matches('/');
    let (collection, id) = match trimmed.split_once('/') {
        Some((collection, id)) => (collection, Some(id)),
        None => (trimmed, None),
    };
    let kind = if collection.eq_ignore_ascii_case("Users") {
        Kind::User
    } else if collection.eq_ignore_ascii_case("Groups") {
        Kind::Group
    } else {
        return Err(invalid());
    };
    match id {
        None => Ok((kind, None)),
        Some("") => Ok((kind, None)),
        Some(id) if id.contains('/') || id.contains('?') => Err(invalid()),
        Some(id) if id.eq_ignore_ascii_case("bulkId") => Err(ScimError::invalid_value(
            "\"bulkId\" is a reserved word and cannot be an id",
        )),
        Some(id) => Ok((kind, Some(id.to_string()))),
    }
}

/// Parses one operation; `index` (0-based) names it in errors.
fn parse_operation(index: usize, value: &Value) -> Result<BulkOp, ScimError> {
    let at = |detail: String| {
        ScimError::invalid_value(format!("bulk operation {}: {detail}", index + 1))
    };
    let object = value
        .as_object()
        .ok_or_else(|| at("must be a JSON object".into()))?;
    let text = |name: &str| -> Result<Option<String>, ScimError> {
        match member(object, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(at(format!("{name} must be a string"))),
        }
    };
    let method_text = text("method")?.ok_or_else(|| at("method is required".into()))?;
    let method = parse_method(&method_text)
        .ok_or_else(|| at(format!("unsupported method {method_text:?}")))?;
    let path = text("path")?.ok_or_else(|| at("path is required".into()))?;
    let (kind, id) = parse_path(&path).map_err(|e| at(e.detail))?;
    let bulk_id = text("bulkId")?;
    if let Some(b) = &bulk_id
        && b.is_empty()
    {
        return Err(at("bulkId must not be empty".into()));
    }
    let if_match = text("version")?;
    match (method, &id) {
        (BulkMethod::Post, Some(_)) => {
            return Err(at("POST takes a collection path such as /Users".into()));
        }
        (BulkMethod::Put | BulkMethod::Patch | BulkMethod::Delete, None) => {
            return Err(at(format!(
                "{} needs a resource path such as /Users/{{id}}",
                method_name(method)
            )));
        }
        _ => {}
    }
    let data = match member(object, "data") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err(at("data must be a JSON object".into())),
    };
    let (body, patch) = match method {
        BulkMethod::Post | BulkMethod::Put => (
            Some(data.ok_or_else(|| at(format!("{} needs data", method_name(method))))?),
            None,
        ),
        BulkMethod::Patch => {
            let data = data.ok_or_else(|| at("PATCH needs data".into()))?;
            let request = parse_patch_request(&data).map_err(|e| ScimError {
                detail: format!("bulk operation {}: {}", index + 1, e.detail),
                ..e
            })?;
            (None, Some(request))
        }
        BulkMethod::Delete => (None, None),
    };
    Ok(BulkOp {
        method,
        kind,
        id,
        bulk_id,
        body,
        patch,
        if_match,
    })
}

/// Parses a BulkRequest body, enforcing `maxOperations` (413).
pub fn parse_bulk_request(body: &Value, max_operations: usize) -> Result<BulkRequest, ScimError> {
    let object = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest must be a JSON object"))?;
    let operations = match member(object, "Operations") {
        Some(Value::Array(ops)) => ops,
        _ => {
            return Err(ScimError::invalid_syntax(
                "a BulkRequest needs an Operations array",
            ));
        }
    };
    if operations.len() > max_operations {
        return Err(ScimError::payload_too_large(format!(
            "the BulkRequest has {} operations; at most {max_operations} are allowed",
            operations.len()
        )));
    }
    let fail_on_errors = match member(object, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => {
                return Err(ScimError::invalid_value(
                    "failOnErrors must be an integer of at least 1",
                ));
            }
        },
    };
    let operations = operations
        .iter()
        .enumerate()
        .map(|(i, op)| parse_operation(i, op))
        .collect::<Result<_, _>>()?;
    Ok(BulkRequest {
        operations,
        fail_on_errors,
    })
}

/// Adds the `bulkId:<x>` references in `text` to `out` (`<x>` ends at a quote, whitespace,
/// `]`, `)` or the end, as the directory resolves them).
fn references_in(text: &str, out: &mut BTreeSet<String>) {
    const MARK: &str = "bulkId:";
    let mut rest = text;
    while let Some(pos) = rest.find(MARK) {
        let after = &rest[pos + MARK.len()..];
        let end = after
            .find(|c: char| c == '"' || c == ']' || c == ')' || c.is_whitespace())
            .unwrap_or(after.len());
        out.insert(after[..end].to_string());
        rest = &after[end..];
    }
}

fn references_in_value(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => references_in(s, out),
        Value::Array(items) => items.iter().for_each(|v| references_in_value(v, out)),
        Value::Object(map) => map.values().for_each(|v| references_in_value(v, out)),
        _ => {}
    }
}

/// Every bulkId an operation refers to (in its path id, body or PATCH operations).
fn references(op: &BulkOp) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(id) = &op.id {
        references_in(id, &mut out);
    }
    if let Some(body) = &op.body {
        references_in_value(body, &mut out);
    }
    for operation in op.patch.iter().flat_map(|p| &p.operations) {
        if let Some(path) = &operation.path {
            references_in(path, &mut out);
        }
        if let Some(value) = &operation.value {
            references_in_value(value, &mut out);
        }
    }
    out
}

/// Orders the operations so that each runs after the POSTs whose bulkIds it refers to;
/// otherwise the client's order is kept. On a cycle the earliest remaining operation runs (its
/// unresolved reference then fails that operation alone).
pub fn order_by_references(ops: Vec<BulkOp>) -> Vec<BulkOp> {
    let mut producers: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let (BulkMethod::Post, Some(bulk_id)) = (op.method, op.bulk_id.as_deref()) {
            producers.entry(bulk_id).or_insert(i);
        }
    }
    if producers.is_empty() {
        return ops;
    }
    let deps: Vec<Vec<usize>> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            references(op)
                .iter()
                .filter_map(|r| producers.get(r.as_str()).copied())
                .filter(|p| *p != i)
                .collect()
        })
        .collect();
    let mut done = vec![false; ops.len()];
    let mut order = Vec::with_capacity(ops.len());
    while order.len() < ops.len() {
        let ready = (0..ops.len()).find(|&i| !done[i] && deps[i].iter().all(|d| done[*d]));
        let next = ready.or_else(|| (0..ops.len()).find(|&i| !done[i]));
        let Some(next) = next else { break };
        done[next] = true;
        order.push(next);
    }
    let mut slots: Vec<Option<BulkOp>> = ops.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// The success status of a method.
fn success_status(method: BulkMethod) -> StatusCode {
    match method {
        BulkMethod::Post => StatusCode::CREATED,
        BulkMethod::Put | BulkMethod::Patch => StatusCode::OK,
        BulkMethod::Delete => StatusCode::NO_CONTENT,
    }
}

/// The collection path segment of a kind.
fn collection(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "Users",
        Kind::Group => "Groups",
    }
}

/// One BulkResponse operation (RFC 7644 §3.7.3). `id` is the resource id the operation named
/// (used for the location of deletions and failed writes).
pub fn render_result(result: &BulkOpResult, id: Option<&str>, base_url: &str) -> Value {
    let mut out = Map::new();
    out.insert("method".into(), method_name(result.method).into());
    if let Some(bulk_id) = &result.bulk_id {
        out.insert("bulkId".into(), bulk_id.clone().into());
    }
    match &result.result {
        Ok(resource) => {
            let location = match resource {
                Some(r) => Some(format!("{base_url}/{}/{}", collection(r.kind), r.id)),
                None => id
                    .filter(|i| !i.starts_with("bulkId:"))
                    .map(|i| format!("{base_url}/{}/{i}", collection(result.kind))),
            };
            if let Some(location) = location {
                out.insert("location".into(), location.into());
            }
            if let Some(r) = resource {
                out.insert("version".into(), r.etag().into());
            }
            out.insert(
                "status".into(),
                success_status(result.method).as_u16().to_string().into(),
            );
        }
        Err(error) => {
            if let Some(i) = id.filter(|i| !i.starts_with("bulkId:")) {
                out.insert(
                    "location".into(),
                    format!("{base_url}/{}/{i}", collection(result.kind)).into(),
                );
            }
            out.insert("status".into(), error.status.to_string().into());
            out.insert("response".into(), error.to_json());
        }
    }
    Value::Object(out)
}

/// The BulkResponse body. `ids[i]` is the id named by the i-th operation of the request;
/// results are matched to operations by position.
pub fn bulk_response(results: &[BulkOpResult], ids: &[Option<String>], base_url: &str) -> Value {
    let operations: Vec<Value> = results
        .iter()
        .enumerate()
        .map(|(i, r)| render_result(r, ids.get(i).and_then(|id| id.as_deref()), base_url))
        .collect();
    json!({ "schemas": [urn::BULK_RESPONSE], "Operations": operations })
}

/// `POST /Bulk`.
pub async fn bulk(ctx: ScimContext, headers: HeaderMap, body: Body) -> Result<Response, ScimError> {
    let limits = limits();
    check_content_type(&headers)?;
    let bytes = read_body(body, limits.max_payload_size).await?;
    let body = parse_json_object(&bytes)?;
    let request = parse_bulk_request(&body, limits.max_operations)?;
    for op in &request.operations {
        ctx.authorize(op.kind, Access::Write)?;
    }
    let operations = order_by_references(request.operations);
    let ids: Vec<Option<String>> = operations.iter().map(|op| op.id.clone()).collect();
    let results = ctx
        .directory
        .bulk(
            operations,
            request.fail_on_errors,
            ctx.origin(Origin::ScimV2),
        )
        .await?;
    Ok(scim_json(
        StatusCode::OK,
        &bulk_response(&results, &ids, &ctx.base_url),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_and_without_slash() {
        assert_eq!(parse_path("/Users").unwrap(), (Kind::User, None));
        assert_eq!(
            parse_path("Groups/abc").unwrap(),
            (Kind::Group, Some("abc".into()))
        );
        assert_eq!(
            parse_path("/users/bulkId:q1").unwrap(),
            (Kind::User, Some("bulkId:q1".into()))
        );
        assert_eq!(parse_path("/Users/bulkId").unwrap_err().status, 400);
        assert_eq!(parse_path("/Schemas").unwrap_err().status, 400);
        assert_eq!(parse_path("/Users/a/b").unwrap_err().status, 400);
    }

    #[test]
    fn parses_operations_and_fail_on_errors() {
        let body = json!({
            "schemas": [urn::BULK_REQUEST],
            "failOnErrors": 1,
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "q1", "data": {"userName": "a"}},
                {"method": "delete", "path": "/Groups/g1", "version": "W/\"2\""},
            ]
        });
        let request = parse_bulk_request(&body, 10).unwrap();
        assert_eq!(request.fail_on_errors, Some(1));
        assert_eq!(request.operations.len(), 2);
        let post = &request.operations[0];
        assert_eq!(
            (post.method, post.kind, post.bulk_id.as_deref()),
            (BulkMethod::Post, Kind::User, Some("q1"))
        );
        assert_eq!(post.body.as_ref().unwrap()["userName"], "a");
        let delete = &request.operations[1];
        assert_eq!(
            (delete.method, delete.kind, delete.id.as_deref()),
            (BulkMethod::Delete, Kind::Group, Some("g1"))
        );
        assert_eq!(delete.if_match.as_deref(), Some("W/\"2\""));
    }

    #[test]
    fn too_many_operations_is_413() {
        let op = json!({"method": "DELETE", "path": "/Users/x"});
        let body = json!({"Operations": [op.clone(), op.clone(), op]});
        assert_eq!(parse_bulk_request(&body, 2).unwrap_err().status, 413);
        assert!(parse_bulk_request(&body, 3).is_ok());
    }

    #[test]
    fn malformed_operations_are_refused() {
        for op in [
            json!({"method": "GET", "path": "/Users"}),
            json!({"method": "POST", "path": "/Users/x", "data": {}}),
            json!({"method": "POST", "path": "/Users"}),
            json!({"method": "PUT", "path": "/Users", "data": {}}),
            json!({"method": "DELETE"}),
            json!({"method": "POST", "path": "/Users", "data": [1]}),
            json!("POST /Users"),
        ] {
            let err = parse_bulk_request(&json!({"Operations": [op]}), 10).unwrap_err();
            assert_eq!(err.status, 400, "{err}");
        }
        assert_eq!(
            parse_bulk_request(&json!({"failOnErrors": 0, "Operations": []}), 10)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_bulk_request(&json!({"operations": 1}), 10)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn references_run_after_their_declaration() {
        let body = json!({"Operations": [
            {"method": "PATCH", "path": "/Groups/bulkId:g", "data": {"schemas": [urn::PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": "bulkId:u2"}]}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "G", "members": [{"value": "bulkId:u1"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "a"}},
            {"method": "DELETE", "path": "/Users/x"},
            {"method": "POST", "path": "/Users", "bulkId": "u2", "data": {"userName": "b"}},
        ]});
        let ops = parse_bulk_request(&body, 10).unwrap().operations;
        let order: Vec<String> = order_by_references(ops)
            .iter()
            .map(|op| op.bulk_id.clone().or_else(|| op.id.clone()).unwrap())
            .collect();
        assert_eq!(order, vec!["u1", "g", "x", "u2", "bulkId:g"]);
    }

    #[test]
    fn reference_cycles_keep_the_client_order() {
        let body = json!({"Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"displayName": "A", "members": [{"value": "bulkId:b"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "b", "data": {"displayName": "B", "members": [{"value": "bulkId:a"}]}},
        ]});
        let ops = parse_bulk_request(&body, 10).unwrap().operations;
        let order: Vec<Option<String>> = order_by_references(ops)
            .into_iter()
            .map(|op| op.bulk_id)
            .collect();
        assert_eq!(order, vec![Some("a".into()), Some("b".into())]);
    }

    #[test]
    fn error_results_carry_string_status_and_error_body() {
        let result = BulkOpResult {
            bulk_id: Some("q1".into()),
            method: BulkMethod::Post,
            kind: Kind::User,
            result: Err(ScimError::uniqueness("userName exists")),
        };
        let rendered = render_result(&result, None, "http://h/scim");
        assert_eq!(rendered["status"], "409");
        assert_eq!(rendered["method"], "POST");
        assert_eq!(rendered["bulkId"], "q1");
        assert_eq!(rendered["response"]["scimType"], "uniqueness");
        assert!(rendered.get("location").is_none());

        let deleted = BulkOpResult {
            bulk_id: None,
            method: BulkMethod::Delete,
            kind: Kind::Group,
            result: Ok(None),
        };
        let rendered = render_result(&deleted, Some("g1"), "http://h/scim");
        assert_eq!(rendered["status"], "204");
        assert_eq!(rendered["location"], "http://h/scim/Groups/g1");
    }
}
