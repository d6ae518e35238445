//! Attribute paths (RFC 7644 §3.10 and the PATCH `path` grammar of §3.5.2):
//! `[URN:]attr[.subAttr]` and `attr[valueFilter][.subAttr]`.
//!
//! Invariant: the URN, when given, is split off against the resource type's own schema URNs
//! (an extension URN contains dots and colons, so it cannot be parsed without the registry).

use super::ScimError;
use super::filter::Filter;
use super::schema::ResourceType;

/// A plain attribute reference: optional schema URN, attribute, optional sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// The schema URN when the path was qualified and the URN is not the core schema.
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

/// A PATCH path: an attribute, an optional value filter on it, an optional sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub urn: Option<String>,
    pub attr: String,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

/// Parses `[URN:]attr[.sub]`.
pub fn parse_attr_path(text: &str, rt: &ResourceType) -> Result<AttrPath, ScimError> {
    let _ = (text, rt);
    Err(ScimError::invalid_path("not implemented"))
}

/// Parses a PATCH `path`, including value filters such as `emails[type eq "work"].value`.
pub fn parse_patch_path(text: &str, rt: &ResourceType) -> Result<PatchPath, ScimError> {
    let _ = (text, rt);
    Err(ScimError::invalid_path("not implemented"))
}
