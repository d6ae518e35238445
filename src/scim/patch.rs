//! The PATCH engine (RFC 7644 §3.5.2) with the quirks real clients send (Entra's capitalised
//! ops, string booleans, no-path replace with dotted keys, member removal with a value array;
//! Okta's no-path `{"active":false}`).
//!
//! Invariant: a PATCH request is atomic: either every operation applies or the resource is
//! left exactly as it was.

use serde_json::Value;

use super::ScimError;
use super::schema::ResourceType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOpKind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

/// Parses a PatchOp body (`schemas` + `Operations`).
pub fn parse_patch_request(body: &Value) -> Result<PatchRequest, ScimError> {
    let _ = body;
    Err(ScimError::invalid_syntax("not implemented"))
}

/// Applies every operation to `resource` (the stored JSON form), atomically.
pub fn apply_patch(resource: &mut Value, request: &PatchRequest, rt: &ResourceType) -> Result<(), ScimError> {
    let _ = (resource, request, rt);
    Err(ScimError::invalid_syntax("not implemented"))
}
