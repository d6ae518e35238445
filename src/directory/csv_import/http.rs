//! `POST /import/users` of a tenant (`/tenants/{t}/import/users`): the body is the CSV file
//! (`text/csv` and similar, or no Content-Type) or `multipart/form-data` with a file field
//! (`file`, else the first field with a file name, else the first field). Query parameters:
//! `format=application|full` (default: detected from the header) and `firstRow=<n>` (the row
//! number of the first data record, for chunked uploads; default 2).
//!
//! Invariants: the caller is authenticated and holds ManageUsers before the body is read; the
//! answer is 200 with the JSON [`ImportReport`] (also when rows failed), or a SCIM error for a
//! refused file (nothing imported).

use axum::extract::{FromRequest, Multipart, RawQuery, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::error::FileError;
use super::format::Format;
use super::report::ImportReport;
use super::run::{ImportOptions, import};
use crate::directory::Kind;
use crate::directory::scim_v2::context::{Access, ScimContext};
use crate::directory::scim_v2::http::{query_pairs, query_param};
use crate::scim::ScimError;

/// The import options of the query string.
pub fn options_from_query(raw: Option<&str>) -> Result<ImportOptions, FileError> {
    let pairs = query_pairs(raw);
    let mut options = ImportOptions::default();
    if let Some(format) = query_param(&pairs, "format").filter(|f| !f.is_empty()) {
        options.format = Some(Format::parse(format)?);
    }
    if let Some(first) = query_param(&pairs, "firstRow") {
        options.first_row = first
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 2)
            .ok_or_else(|| {
                FileError::Request(format!(
                    "firstRow must be a row number of at least 2, not {first:?}"
                ))
            })?;
    }
    Ok(options)
}

/// The media type without parameters, lower-cased.
fn essence(request: &Request) -> String {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The uploaded file's bytes.
async fn file_bytes(request: Request) -> Result<Bytes, FileError> {
    let unreadable = |e: String| FileError::Request(format!("the upload cannot be read: {e}"));
    match essence(&request).as_str() {
        "multipart/form-data" => {
            let mut multipart = Multipart::from_request(request, &())
                .await
                .map_err(|e| unreadable(e.body_text()))?;
            let mut chosen: Option<(u8, Bytes)> = None;
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|e| unreadable(e.body_text()))?
            {
                let rank = if field.name() == Some("file") {
                    0
                } else if field.file_name().is_some() {
                    1
                } else {
                    2
                };
                let data = field.bytes().await.map_err(|e| unreadable(e.body_text()))?;
                if chosen.as_ref().is_none_or(|(best, _)| rank < *best) {
                    chosen = Some((rank, data));
                }
            }
            chosen
                .map(|(_, data)| data)
                .ok_or_else(|| FileError::Request("the multipart upload has no file field".into()))
        }
        ""
        | "text/csv"
        | "application/csv"
        | "text/plain"
        | "application/octet-stream"
        | "application/vnd.ms-excel"
        | "text/comma-separated-values" => Bytes::from_request(request, &())
            .await
            .map_err(|e| unreadable(e.body_text())),
        other => Err(FileError::MediaType(other.to_string())),
    }
}

/// The endpoint.
pub async fn import_users(
    context: ScimContext,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    match run(&context, query.as_deref(), request).await {
        Ok(report) => (StatusCode::OK, axum::Json(report)).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn run(
    context: &ScimContext,
    query: Option<&str>,
    request: Request,
) -> Result<ImportReport, ScimError> {
    context.authorize(Kind::User, Access::Write)?;
    let options = options_from_query(query).map_err(|e| e.to_scim_error())?;
    let bytes = file_bytes(request).await.map_err(|e| e.to_scim_error())?;
    import(&context.directory, &bytes, options)
        .await
        .map_err(|e| e.to_scim_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_options() {
        let o = options_from_query(Some("format=full&firstRow=1002")).unwrap();
        assert_eq!(o.format, Some(Format::Full));
        assert_eq!(o.first_row, 1002);
        assert_eq!(options_from_query(None).unwrap(), ImportOptions::default());
        assert!(options_from_query(Some("firstRow=0")).is_err());
        assert!(options_from_query(Some("format=xls")).is_err());
    }
}
