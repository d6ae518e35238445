//! SCIM errors as HTTP responses: `application/scim+json`, the RFC 7644 §3.12 body and the
//! error's status.
//!
//! Invariant: every error the tenant APIs produce goes through this one conversion.

use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};

use crate::scim::error::ScimError;

/// Media type of SCIM bodies (RFC 7644 §8.1).
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.to_json().to_string();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE));
        response
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn scim_error_response_has_status_type_and_body() {
        let response = ScimError::forbidden("technical admin lacks ManageUsers").into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[CONTENT_TYPE], SCIM_CONTENT_TYPE);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["status"], "403");
        assert_eq!(body["detail"], "technical admin lacks ManageUsers");
    }

    #[test]
    fn invalid_status_becomes_500() {
        let response = ScimError::new(1000, None, "odd").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
