//! Single-resource endpoints of `/Users` and `/Groups`: create (POST), read (GET), replace
//! (PUT), modify (PATCH) and delete (DELETE).
//!
//! Invariants: POST answers 201 with `Location` = `meta.location` and `ETag`; GET answers 304
//! when `If-None-Match` matches the current version; PUT, PATCH and DELETE hand `If-Match` to
//! the directory, which refuses a stale version with 412 without changing anything; every
//! returned resource honours `attributes` / `excludedAttributes`.

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::context::{Access, ScimContext};
use super::http::{
    etag_list_matches, header_text, if_match, no_content, not_modified, query_pairs, query_param,
    read_json, scim_json, scim_json_bytes, set_header,
};
use super::limits;
use crate::directory::{Kind, Origin, Resource};
use crate::scim::ScimError;
use crate::scim::patch::parse_patch_request;
use crate::scim::projection::Projection;
use crate::scim::resource::{WriteMode, normalize};

/// The projection given by the `attributes` / `excludedAttributes` query parameters.
fn query_projection(raw: Option<&str>, kind: Kind) -> Result<Projection, ScimError> {
    let pairs = query_pairs(raw);
    Projection::parse(
        query_param(&pairs, "attributes"),
        query_param(&pairs, "excludedAttributes"),
        kind.resource_type(),
    )
}

/// The 404 of an unknown id.
pub fn not_found(kind: Kind, id: &str) -> ScimError {
    ScimError::not_found(format!("{kind} {id} not found"))
}

/// A resource response: projected body, `ETag`, and `Location` for creations.
fn resource_response(
    status: StatusCode,
    resource: &Resource,
    base_url: &str,
    projection: &Projection,
) -> Response {
    let mut bytes = Vec::new();
    let mut response = if projection.is_empty() && resource.write_default_json(base_url, &mut bytes)
    {
        scim_json_bytes(status, bytes)
    } else {
        let full = resource.to_json(base_url);
        scim_json(
            status,
            &projection.apply(&full, resource.kind.resource_type()),
        )
    };
    set_header(&mut response, header::ETAG, &resource.etag());
    if status == StatusCode::CREATED {
        set_header(
            &mut response,
            header::LOCATION,
            &resource.location(base_url),
        );
    }
    response
}

/// `GET /{Users,Groups}/{id}`.
pub async fn get(
    Extension(kind): Extension<Kind>,
    ctx: ScimContext,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    ctx.authorize(kind, Access::Read)?;
    let projection = query_projection(raw.as_deref(), kind)?;
    let resource = ctx
        .directory
        .get(kind, &id)
        .ok_or_else(|| not_found(kind, &id))?;
    if let Some(tags) = header_text(&headers, header::IF_NONE_MATCH)
        && etag_list_matches(&tags, &resource.etag())
    {
        return Ok(not_modified(&resource.etag()));
    }
    Ok(resource_response(
        StatusCode::OK,
        &resource,
        &ctx.base_url,
        &projection,
    ))
}

/// `POST /{Users,Groups}`.
pub async fn create(
    Extension(kind): Extension<Kind>,
    ctx: ScimContext,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    ctx.authorize(kind, Access::Write)?;
    let projection = query_projection(raw.as_deref(), kind)?;
    let body = read_json(&headers, body, limits().max_payload_size).await?;
    let body = normalize(body, kind.resource_type(), WriteMode::Create)?;
    let resource = ctx
        .directory
        .create(kind, body, ctx.origin(Origin::ScimV2))
        .await?;
    Ok(resource_response(
        StatusCode::CREATED,
        &resource,
        &ctx.base_url,
        &projection,
    ))
}

/// `PUT /{Users,Groups}/{id}`.
pub async fn replace(
    Extension(kind): Extension<Kind>,
    ctx: ScimContext,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    ctx.authorize(kind, Access::Write)?;
    let projection = query_projection(raw.as_deref(), kind)?;
    let body = read_json(&headers, body, limits().max_payload_size).await?;
    let body = normalize(body, kind.resource_type(), WriteMode::Replace)?;
    let resource = ctx
        .directory
        .replace(
            kind,
            &id,
            body,
            if_match(&headers),
            ctx.origin(Origin::ScimV2),
        )
        .await?;
    Ok(resource_response(
        StatusCode::OK,
        &resource,
        &ctx.base_url,
        &projection,
    ))
}

/// `PATCH /{Users,Groups}/{id}`: 200 with the modified resource.
pub async fn patch(
    Extension(kind): Extension<Kind>,
    ctx: ScimContext,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    ctx.authorize(kind, Access::Write)?;
    let projection = query_projection(raw.as_deref(), kind)?;
    let body = read_json(&headers, body, limits().max_payload_size).await?;
    let request = parse_patch_request(&body)?;
    let resource = ctx
        .directory
        .patch(
            kind,
            &id,
            request,
            if_match(&headers),
            ctx.origin(Origin::ScimV2),
        )
        .await?;
    Ok(resource_response(
        StatusCode::OK,
        &resource,
        &ctx.base_url,
        &projection,
    ))
}

/// `DELETE /{Users,Groups}/{id}`: 204.
pub async fn delete(
    Extension(kind): Extension<Kind>,
    ctx: ScimContext,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    ctx.authorize(kind, Access::Write)?;
    ctx.directory
        .delete(kind, &id, if_match(&headers), ctx.origin(Origin::ScimV2))
        .await?;
    Ok(no_content())
}
