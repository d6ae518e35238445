//! Errors of the SCIM API v1: a SCIM error (status, `scimType`, detail) plus the detailed
//! message code that IAS sends in the `X-message-code` response header.
//!
//! Invariants: every v1 error carries exactly one code from [`code`]; a directory
//! [`ScimError`] is classified into a code by [`V1Error::from`] (status first, then the
//! directory's limit messages), so the v1 layer never answers without a code.

use crate::scim::{ScimError, ScimType};

/// The `X-message-code` values. `Mismatched group id` is the literal IAS documents; the others
/// follow IAS's upper-case style (`PASSWORD_LOCKED`).
pub mod code {
    pub const MISMATCHED_GROUP_ID: &str = "Mismatched group id";
    pub const GROUP_ID_REQUIRED: &str = "GROUP_ID_REQUIRED";
    pub const FAMILY_NAME_REQUIRED: &str = "FAMILY_NAME_REQUIRED";
    pub const INVALID_CHARACTERS: &str = "INVALID_CHARACTERS";
    pub const INVALID_USER_TYPE: &str = "INVALID_USER_TYPE";
    pub const INVALID_ATTRIBUTE: &str = "INVALID_ATTRIBUTE";
    pub const INVALID_SYNTAX: &str = "INVALID_SYNTAX";
    pub const UNSUPPORTED_FILTER: &str = "UNSUPPORTED_FILTER";
    pub const INVALID_PAGING: &str = "INVALID_PAGING";
    pub const MANAGER_NOT_FOUND: &str = "MANAGER_NOT_FOUND";
    pub const MEMBER_NOT_FOUND: &str = "MEMBER_NOT_FOUND";
    pub const DISPLAY_NAME_REQUIRED: &str = "DISPLAY_NAME_REQUIRED";
    pub const GROUP_NAME_REQUIRED: &str = "GROUP_NAME_REQUIRED";
    pub const GROUPS_PER_USER_LIMIT: &str = "GROUPS_PER_USER_LIMIT";
    pub const GROUPS_PER_TENANT_LIMIT: &str = "GROUPS_PER_TENANT_LIMIT";
    pub const MEMBERS_AT_CREATION_LIMIT: &str = "MEMBERS_AT_CREATION_LIMIT";
    pub const USER_NOT_FOUND: &str = "USER_NOT_FOUND";
    pub const GROUP_NOT_FOUND: &str = "GROUP_NOT_FOUND";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const ALREADY_EXISTS: &str = "ALREADY_EXISTS";
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const CONCURRENT_MODIFICATION: &str = "CONCURRENT_MODIFICATION";
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

/// A v1 error: what to answer and the `X-message-code` to send with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error} [{code}]")]
pub struct V1Error {
    pub error: ScimError,
    pub code: &'static str,
}

impl V1Error {
    pub fn new(error: ScimError, code: &'static str) -> V1Error {
        V1Error { error, code }
    }

    /// 400 `invalidValue` with `code`.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> V1Error {
        V1Error::new(ScimError::invalid_value(detail), code)
    }

    /// 404 with `code`.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> V1Error {
        V1Error::new(ScimError::not_found(detail), code)
    }
}

/// The code of a directory error: by status, and for 400s by the limit the detail names.
fn classify(error: &ScimError) -> &'static str {
    let detail = error.detail.as_str();
    match error.status {
        400 if detail.contains("groups per user") => code::GROUPS_PER_USER_LIMIT,
        400 if detail.contains("groups per tenant") => code::GROUPS_PER_TENANT_LIMIT,
        400 if detail.contains("members at creation") => code::MEMBERS_AT_CREATION_LIMIT,
        400 if detail.starts_with("member ") => code::MEMBER_NOT_FOUND,
        400 => match error.scim_type {
            Some(ScimType::InvalidSyntax) => code::INVALID_SYNTAX,
            Some(ScimType::InvalidFilter) => code::UNSUPPORTED_FILTER,
            _ => code::INVALID_ATTRIBUTE,
        },
        401 => code::UNAUTHORIZED,
        403 => code::FORBIDDEN,
        404 => code::NOT_FOUND,
        405 => code::METHOD_NOT_ALLOWED,
        409 => code::ALREADY_EXISTS,
        412 => code::CONCURRENT_MODIFICATION,
        413 => code::PAYLOAD_TOO_LARGE,
        415 => code::UNSUPPORTED_MEDIA_TYPE,
        _ => code::INTERNAL_ERROR,
    }
}

impl From<ScimError> for V1Error {
    fn from(error: ScimError) -> V1Error {
        let code = classify(&error);
        V1Error { error, code }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_errors_get_a_code_by_status_and_limit() {
        assert_eq!(
            V1Error::from(ScimError::uniqueness("displayName G already exists")).code,
            code::ALREADY_EXISTS
        );
        assert_eq!(
            V1Error::from(ScimError::not_found("User x not found")).code,
            code::NOT_FOUND
        );
        assert_eq!(
            V1Error::from(ScimError::invalid_value(
                "user u is already in 500 groups; at most 500 groups per user"
            ))
            .code,
            code::GROUPS_PER_USER_LIMIT
        );
        assert_eq!(
            V1Error::from(ScimError::invalid_value(
                "member x is not a user or group of this tenant"
            ))
            .code,
            code::MEMBER_NOT_FOUND
        );
        assert_eq!(
            V1Error::from(ScimError::invalid_syntax("bad json")).code,
            code::INVALID_SYNTAX
        );
        assert_eq!(
            V1Error::from(ScimError::precondition_failed("stale")).code,
            code::CONCURRENT_MODIFICATION
        );
        assert_eq!(
            V1Error::from(ScimError::internal("x")).code,
            code::INTERNAL_ERROR
        );
    }
}
