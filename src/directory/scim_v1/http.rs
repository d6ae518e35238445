//! HTTP plumbing of the SCIM API v1: [`V1Error`] as a response (SCIM error body plus the
//! `X-message-code` header), v1 resource responses and the 405 answer. Request bodies are
//! read with the SCIM 2.0 helpers ([`read_json`]).
//!
//! Invariant: every error response of the v1 API carries `X-message-code`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::directory::scim_v2::http::{read_json, scim_json, set_header};
use crate::directory::scim_v2::limits;
use crate::scim::ScimError;
use crate::scim::v1::{V1Error, code};

/// The header IAS uses for detailed error codes.
pub const MESSAGE_CODE: HeaderName = HeaderName::from_static("x-message-code");

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        set_header(&mut response, MESSAGE_CODE, self.code);
        response
    }
}

/// Adds an `X-message-code` (derived from the status) to a response that lacks one, for
/// rejections produced outside the v1 layer (authentication).
pub fn with_message_code(mut response: Response) -> Response {
    if !response.headers().contains_key(MESSAGE_CODE) {
        let error = ScimError::new(response.status().as_u16(), None, "");
        let code = V1Error::from(error).code;
        set_header(&mut response, MESSAGE_CODE, code);
    }
    response
}

/// Reads a v1 JSON object body (media type, payload limit, JSON) like the SCIM 2.0 API.
pub async fn read_body(headers: &HeaderMap, body: Body) -> Result<Value, V1Error> {
    Ok(read_json(headers, body, limits().max_payload_size).await?)
}

/// A v1 resource response with its `ETag`, and `Location` (= `meta.location`) on 201.
pub fn resource_response(status: StatusCode, body: &Value, etag: &str) -> Response {
    let mut response = scim_json(status, body);
    set_header(&mut response, header::ETAG, etag);
    if status == StatusCode::CREATED
        && let Some(location) = body.pointer("/meta/location").and_then(Value::as_str)
    {
        set_header(&mut response, header::LOCATION, location);
    }
    response
}

/// The 405 answer for methods an endpoint does not support.
pub async fn method_not_allowed() -> V1Error {
    V1Error::new(
        ScimError::method_not_allowed("this method is not supported on this SCIM v1 endpoint"),
        code::METHOD_NOT_ALLOWED,
    )
}
