//! HTTP plumbing of the SCIM 2.0 API: reading request bodies (media type, size limit, JSON),
//! query pairs, ETag preconditions, and building `application/scim+json` responses.
//!
//! Invariants: every body this module produces is `application/scim+json`; a request body is
//! never read past the payload limit (413 instead); malformed JSON is 400 `invalidSyntax`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::scim::{SCIM_MEDIA_TYPE, ScimError};

/// 415 Unsupported Media Type as a SCIM error.
fn unsupported_media_type(found: &str) -> ScimError {
    ScimError::new(
        415,
        None,
        format!(
            "unsupported Content-Type {found:?}: send application/scim+json or application/json"
        ),
    )
}

/// Accepts `application/scim+json`, `application/json` (any parameters) or no Content-Type.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ScimError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value
        .to_str()
        .map_err(|_| unsupported_media_type("<not text>"))?;
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/scim+json" | "application/json" | "" => Ok(()),
        _ => Err(unsupported_media_type(text)),
    }
}

/// Whether an error (or one of its sources) is the body length limit.
fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ScimError> {
    let too_large =
        || ScimError::payload_too_large(format!("the request body exceeds {limit} bytes"));
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let inner = e.into_inner();
            if is_length_limit(inner.as_ref()) {
                Err(too_large())
            } else {
                Err(ScimError::invalid_syntax(
                    "the request body could not be read",
                ))
            }
        }
    }
}

/// Parses a JSON body: it must be a JSON object.
pub fn parse_json_object(bytes: &[u8]) -> Result<Value, ScimError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax(
            "the request body is empty; a JSON object is required",
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

/// Checks the media type, reads (bounded) and parses a JSON object body.
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, ScimError> {
    check_content_type(headers)?;
    let bytes = read_body(body, limit).await?;
    parse_json_object(&bytes)
}

/// The query string as decoded pairs (never fails: undecodable bytes are replaced).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The value of a query parameter, name case-insensitive (the last occurrence wins).
pub fn query_param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A header as text; absent, empty or non-text headers are `None`.
pub fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The opaque part of an entity tag, without the weak prefix: `W/"3"` and `"3"` both give `3`.
fn opaque_tag(tag: &str) -> &str {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.trim_matches('"')
}

/// Whether an `If-None-Match` / `If-Match` header value (a list of tags or `*`) matches the
/// current entity tag, compared weakly (RFC 9110 §8.8.3.2).
pub fn etag_list_matches(header_value: &str, current: &str) -> bool {
    let current = opaque_tag(current);
    header_value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || (!tag.is_empty() && opaque_tag(tag) == current))
}

/// The `If-Match` value to hand to the directory: `None` when absent or `*` (any existing
/// version; a missing resource is a 404 anyway).
pub fn if_match(headers: &HeaderMap) -> Option<String> {
    header_text(headers, header::IF_MATCH).filter(|v| v != "*")
}

/// A SCIM JSON response with the given status.
pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => scim_json_bytes(status, bytes),
        Err(_) => ScimError::internal("the response could not be serialised").into_response(),
    }
}

/// A SCIM JSON response from an already serialised body.
pub fn scim_json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_MEDIA_TYPE),
    );
    response
}

/// Sets a header when the value is a valid header value (ids and URLs always are).
pub fn set_header(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

/// 304 Not Modified with the current ETag and no body.
pub fn not_modified(etag: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    set_header(&mut response, header::ETAG, etag);
    response
}

/// 204 No Content.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The 405 answer for methods an endpoint does not support.
pub async fn method_not_allowed() -> ScimError {
    ScimError::method_not_allowed("this method is not supported on this SCIM endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn content_type_accepts_scim_json_and_missing() {
        assert!(check_content_type(&HeaderMap::new()).is_ok());
        assert!(
            check_content_type(&headers_with(header::CONTENT_TYPE, "application/scim+json"))
                .is_ok()
        );
        assert!(
            check_content_type(&headers_with(
                header::CONTENT_TYPE,
                "Application/JSON; charset=utf-8"
            ))
            .is_ok()
        );
        let err =
            check_content_type(&headers_with(header::CONTENT_TYPE, "text/plain")).unwrap_err();
        assert_eq!(err.status, 415);
    }

    #[test]
    fn json_body_must_be_an_object() {
        assert_eq!(parse_json_object(b"{\"a\":1}").unwrap()["a"], 1);
        for bad in [&b"{"[..], b"[1]", b"", b"  ", b"\"x\""] {
            let err = parse_json_object(bad).unwrap_err();
            assert_eq!(err.status, 400);
            assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidSyntax));
        }
    }

    #[tokio::test]
    async fn body_over_the_limit_is_413() {
        let err = read_body(Body::from(vec![b'x'; 100]), 10)
            .await
            .unwrap_err();
        assert_eq!(err.status, 413);
        assert_eq!(
            read_body(Body::from("abc"), 10).await.unwrap(),
            Bytes::from("abc")
        );
    }

    #[test]
    fn etags_compare_weakly_and_in_lists() {
        assert!(etag_list_matches("W/\"3\"", "W/\"3\""));
        assert!(etag_list_matches("\"3\"", "W/\"3\""));
        assert!(etag_list_matches("W/\"1\", W/\"3\"", "W/\"3\""));
        assert!(etag_list_matches("*", "W/\"3\""));
        assert!(!etag_list_matches("W/\"4\"", "W/\"3\""));
        assert!(!etag_list_matches("", "W/\"3\""));
    }

    #[test]
    fn if_match_star_means_any() {
        assert_eq!(if_match(&headers_with(header::IF_MATCH, "*")), None);
        assert_eq!(
            if_match(&headers_with(header::IF_MATCH, "W/\"2\"")),
            Some("W/\"2\"".into())
        );
        assert_eq!(if_match(&HeaderMap::new()), None);
    }

    #[test]
    fn query_params_are_case_insensitive() {
        let pairs = query_pairs(Some("Filter=userName%20eq%20%22a%22&count=5"));
        assert_eq!(query_param(&pairs, "filter"), Some("userName eq \"a\""));
        assert_eq!(query_param(&pairs, "COUNT"), Some("5"));
        assert_eq!(query_param(&pairs, "startIndex"), None);
    }
}
