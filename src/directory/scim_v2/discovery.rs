//! The read-only discovery endpoints (RFC 7644 §4): `/ServiceProviderConfig`,
//! `/ResourceTypes[/{name}]` and `/Schemas[/{urn}]`. Writes to them answer 405 (wired in the
//! router).
//!
//! Invariants: any authenticated admin may read them; the documents come from
//! [`crate::scim::discovery`], so what is advertised is what the library implements; the
//! collections are ListResponses with every item on one page.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::context::ScimContext;
use super::http::scim_json;
use super::limits;
use crate::scim::ScimError;
use crate::scim::discovery;
use crate::scim::list::list_response;

/// A collection as a ListResponse (every item on one page).
pub fn collection_body(items: Vec<Value>) -> Value {
    list_response(Some(items.len()), Some(1), items, None)
}

/// `GET /ServiceProviderConfig`.
pub async fn service_provider_config(ctx: ScimContext) -> Response {
    scim_json(
        StatusCode::OK,
        &discovery::service_provider_config(&ctx.base_url, &limits()),
    )
}

/// `GET /ResourceTypes`.
pub async fn resource_types(ctx: ScimContext) -> Response {
    scim_json(
        StatusCode::OK,
        &collection_body(discovery::resource_types(&ctx.base_url)),
    )
}

/// `GET /ResourceTypes/{name}`.
pub async fn resource_type(
    ctx: ScimContext,
    Path(name): Path<String>,
) -> Result<Response, ScimError> {
    let item = discovery::resource_type(&ctx.base_url, &name)
        .ok_or_else(|| ScimError::not_found(format!("resource type {name} not found")))?;
    Ok(scim_json(StatusCode::OK, &item))
}

/// `GET /Schemas`.
pub async fn schemas(ctx: ScimContext) -> Response {
    scim_json(
        StatusCode::OK,
        &collection_body(discovery::schemas(&ctx.base_url)),
    )
}

/// `GET /Schemas/{urn}`.
pub async fn schema(ctx: ScimContext, Path(urn): Path<String>) -> Result<Response, ScimError> {
    let item = discovery::schema(&ctx.base_url, &urn)
        .ok_or_else(|| ScimError::not_found(format!("schema {urn} not found")))?;
    Ok(scim_json(StatusCode::OK, &item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_are_list_responses_on_one_page() {
        let body = collection_body(discovery::resource_types("http://h/scim"));
        assert_eq!(body["totalResults"], 2);
        assert_eq!(body["itemsPerPage"], 2);
        assert_eq!(body["startIndex"], 1);
        assert_eq!(body["Resources"].as_array().unwrap().len(), 2);
    }
}
