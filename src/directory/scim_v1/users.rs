//! `/Users/{id}` and `POST /Users` of the SCIM API v1: read, create (201 + `Location`), the
//! merging PUT and delete (204), on the v1 view of the directory.
//!
//! Invariants: the URI id is the v1 user id (`P…`; the UUID is accepted too); an unknown id
//! is 404 `USER_NOT_FOUND`. The PUT is a read-modify-write: the update is merged into the
//! version read and written with `If-Match` of that version; a concurrent change (412) makes
//! it read and merge again, at most [`MAX_MERGE_ATTEMPTS`](super::context::MAX_MERGE_ATTEMPTS) times (each lost race means another write won), so no concurrent change is
//! lost and nothing the body does not name changes.

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
use crate::scim::v1::{
    IdResolver, UserWrite, V1Error, code, merge_user, sync_verification, user_v1_to_v2,
    user_v2_to_v1,
};

/// The UUID of the user the URI names, or 404.
pub fn user_uuid(ids: &dyn IdResolver, id: &str) -> Result<String, V1Error> {
    ids.user_uuid(id)
        .ok_or_else(|| V1Error::not_found(code::USER_NOT_FOUND, format!("user {id} not found")))
}

/// The v1 JSON of a user resource.
pub fn render(ctx: &V1Context, resource: &Resource) -> Value {
    let v2 = resource.to_json(ctx.v2_base_url());
    user_v2_to_v1(&v2, &ctx.base_url, &ctx.ids())
}

fn response(ctx: &V1Context, status: StatusCode, resource: &Resource) -> Response {
    resource_response(status, &render(ctx, resource), &resource.etag())
}

/// `GET /Users/{id}`.
pub async fn get(ctx: V1Context, Path(id): Path<String>) -> Result<Response, V1Error> {
    ctx.authorize(Kind::User, Access::Read)?;
    let uuid = user_uuid(&ctx.ids(), &id)?;
    let resource = ctx
        .directory()
        .get(Kind::User, &uuid)
        .ok_or_else(|| V1Error::not_found(code::USER_NOT_FOUND, format!("user {id} not found")))?;
    Ok(response(&ctx, StatusCode::OK, &resource))
}

/// `POST /Users`: 201 with `Location`.
pub async fn create(ctx: V1Context, headers: HeaderMap, body: Body) -> Result<Response, V1Error> {
    ctx.authorize(Kind::User, Access::Write)?;
    let v1 = read_body(&headers, body).await?;
    let mut v2 = user_v1_to_v2(&v1, UserWrite::Create, &ctx.ids())?;
    if let Some(map) = v2.as_object_mut() {
        sync_verification(map);
    }
    let v2 = normalize(v2, Kind::User.resource_type(), WriteMode::Create)?;
    let resource = ctx
        .directory()
        .create(Kind::User, v2, ctx.scim.origin(Origin::ScimV1))
        .await?;
    Ok(response(&ctx, StatusCode::CREATED, &resource))
}

/// `PUT /Users/{id}`: merges the given attributes into the user (IAS v1 semantics).
pub async fn replace(
    ctx: V1Context,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, V1Error> {
    ctx.authorize(Kind::User, Access::Write)?;
    let v1 = read_body(&headers, body).await?;
    let uuid = user_uuid(&ctx.ids(), &id)?;
    let partial = user_v1_to_v2(&v1, UserWrite::Update, &ctx.ids())?;
    let missing = || V1Error::not_found(code::USER_NOT_FOUND, format!("user {id} not found"));
    let resource = ctx
        .merge_replace(Kind::User, &uuid, missing, |stored| {
            let mut merged = merge_user(stored, &partial);
            if let Some(map) = merged.as_object_mut() {
                sync_verification(map);
            }
            Ok(normalize(
                merged,
                Kind::User.resource_type(),
                WriteMode::Replace,
            )?)
        })
        .await?;
    Ok(response(&ctx, StatusCode::OK, &resource))
}

/// `DELETE /Users/{id}`: 204; an unknown user is 404.
pub async fn delete(ctx: V1Context, Path(id): Path<String>) -> Result<Response, V1Error> {
    ctx.authorize(Kind::User, Access::Write)?;
    let uuid = user_uuid(&ctx.ids(), &id)?;
    ctx.directory()
        .delete(Kind::User, &uuid, None, ctx.scim.origin(Origin::ScimV1))
        .await
        .map_err(|e| match e.status {
            404 => V1Error::not_found(code::USER_NOT_FOUND, format!("user {id} not found")),
            _ => V1Error::from(e),
        })?;
    Ok(no_content())
}
