//! `/Groups/{id}` and `POST /Groups` of the SCIM API v1: read, create (201 + `Location`),
//! PUT (replaces the membership) and delete (204), on the v1 view of the directory.
//!
//! Invariants: the URI id is the legacy 24-character group id (the UUID is accepted too); an
//! unknown id is 404 `GROUP_NOT_FOUND`. The group limits (10,000 groups per tenant, 500 groups
//! per user, 20,000 members at creation) are enforced by the directory inside the write and
//! answered with their `X-message-code`; the members-at-creation limit is also checked before
//! the members are looked up. A PUT writes with `If-Match` of the version it merged into and
//! retries on 412 like the user PUT.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::context::V1Context;
use super::http::{read_body, resource_response};
use crate::directory::scim_v2::context::Access;
use crate::directory::scim_v2::http::no_content;
use crate::directory::{Kind, Origin, Resource};
use crate::scim::resource::{WriteMode, normalize};
use crate::scim::v1::group::merge_group;
use crate::scim::v1::{GroupWrite, IdResolver, V1Error, code, group_v1_to_v2, group_v2_to_v1};

fn not_found(id: &str) -> V1Error {
    V1Error::not_found(code::GROUP_NOT_FOUND, format!("group {id} not found"))
}

/// The UUID of the group the URI names, or 404.
pub fn group_uuid(ids: &dyn IdResolver, id: &str) -> Result<String, V1Error> {
    ids.group_uuid(id).ok_or_else(|| not_found(id))
}

/// The v1 JSON of a group resource.
pub fn render(ctx: &V1Context, resource: &Resource) -> Value {
    let v2 = resource.to_json(ctx.v2_base_url());
    group_v2_to_v1(&v2, &ctx.base_url, &ctx.ids())
}

fn response(ctx: &V1Context, status: StatusCode, resource: &Resource) -> Response {
    resource_response(status, &render(ctx, resource), &resource.etag())
}

/// `GET /Groups/{id}`.
pub async fn get(ctx: V1Context, Path(id): Path<String>) -> Result<Response, V1Error> {
    ctx.authorize(Kind::Group, Access::Read)?;
    let uuid = group_uuid(&ctx.ids(), &id)?;
    let resource = ctx
        .directory()
        .get(Kind::Group, &uuid)
        .ok_or_else(|| not_found(&id))?;
    Ok(response(&ctx, StatusCode::OK, &resource))
}

/// `POST /Groups`: 201 with `Location`; 409 when the name exists.
pub async fn create(ctx: V1Context, headers: HeaderMap, body: Body) -> Result<Response, V1Error> {
    ctx.authorize(Kind::Group, Access::Write)?;
    let v1 = read_body(&headers, body).await?;
    let v2 = group_v1_to_v2(&v1, GroupWrite::Create, &ctx.ids())?;
    let v2 = normalize(v2, Kind::Group.resource_type(), WriteMode::Create)?;
    let resource = ctx
        .directory()
        .create(Kind::Group, v2, ctx.scim.origin(Origin::ScimV1))
        .await?;
    Ok(response(&ctx, StatusCode::CREATED, &resource))
}

/// `PUT /Groups/{id}`: replaces the membership (no `members` → no members).
pub async fn replace(
    ctx: V1Context,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, V1Error> {
    ctx.authorize(Kind::Group, Access::Write)?;
    let v1 = read_body(&headers, body).await?;
    let uuid = group_uuid(&ctx.ids(), &id)?;
    let update = group_v1_to_v2(&v1, GroupWrite::Update { uri_id: &id }, &ctx.ids())?;
    let resource = ctx
        .merge_replace(
            Kind::Group,
            &uuid,
            || not_found(&id),
            |stored| {
                let merged = merge_group(stored, &update);
                let mut merged =
                    normalize(merged, Kind::Group.resource_type(), WriteMode::Replace)?;
                // Normalising drops an empty `members`; the PUT still means "no members".
                if let Some(map) = merged.as_object_mut() {
                    map.entry("members")
                        .or_insert_with(|| Value::Array(Vec::new()));
                }
                Ok(merged)
            },
        )
        .await?;
    Ok(response(&ctx, StatusCode::OK, &resource))
}

/// `DELETE /Groups/{id}`: 204 (every member unassigned); an unknown group is 404.
pub async fn delete(ctx: V1Context, Path(id): Path<String>) -> Result<Response, V1Error> {
    ctx.authorize(Kind::Group, Access::Write)?;
    let uuid = group_uuid(&ctx.ids(), &id)?;
    ctx.directory()
        .delete(Kind::Group, &uuid, None, ctx.scim.origin(Origin::ScimV1))
        .await
        .map_err(|e| match e.status {
            404 => not_found(&id),
            _ => V1Error::from(e),
        })?;
    Ok(no_content())
}
