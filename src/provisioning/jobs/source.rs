//! Reading a source system for a job: every user or group matching a filter, page by page.
//!
//! - A SCIM source, or an Identity Authentication source with a URL (SCIM v2 or v1 per
//!   `ias.api.version`): `GET /Users` / `/Groups` with `startIndex`/`count` paging through the
//!   outbound [`ScimClient`] with the source's authentication.
//! - An Identity Authentication source without URL: the tenant's own [`Directory`], listed
//!   from one committed snapshot per page (cursor paging, stable under concurrent writes);
//!   rendered in the v1 shape when the source uses `ias.api.version` 1.
//!
//! Invariant: a read either returns every matching entity or an error; a partial read is
//! never presented as complete (deletions rely on it).

use std::sync::Arc;

use reqwest::Method;
use serde_json::Value;

use crate::delivery::pipeline::resource_path;
use crate::delivery::{ClientSettings, ScimClient};
use crate::directory::scim_v1::context::SnapshotIds;
use crate::directory::{Directory, Kind, ListQuery, Paging};
use crate::runtime::SourceSystemConfig;
use crate::scim::filter::{FilterLimits, parse_filter};

/// Entities per page.
pub const PAGE_SIZE: usize = 100;
/// Upper bound of pages per read (10 million entities), against a server that never ends.
const MAX_PAGES: usize = 100_000;

/// Why a source read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Client(String),
    #[error("the source answered {0}")]
    Status(String),
    #[error("the source answered a page without a Resources list")]
    Malformed,
    #[error("the source filter is not valid: {0}")]
    Filter(String),
    #[error("the tenant's directory is not served")]
    NoDirectory,
}

/// Where a source's entities come from.
pub enum SourceReader {
    /// The tenant's own directory.
    Directory {
        directory: Arc<Directory>,
        /// `/tenants/{tenant}`: the prefix of the rendered `meta.location`s.
        tenant_base: String,
        /// Render SCIM API v1 resources (`ias.api.version` 1).
        v1: bool,
    },
    /// A SCIM server (v2, or IAS v1 under `/service/scim`).
    Scim(Box<ScimClient>),
}

impl SourceReader {
    /// The reader of `source`: its URL through the outbound client, or `directory` (the
    /// tenant's own) when it has none.
    pub fn new(
        source: &SourceSystemConfig,
        tenant: &str,
        directory: Option<Arc<Directory>>,
    ) -> Result<SourceReader, ReadError> {
        match &source.url {
            Some(url) => {
                let settings = ClientSettings::new(
                    &source.system_type,
                    url,
                    source.api_version,
                    &source.auth,
                    &source.properties,
                );
                let client =
                    ScimClient::new(&settings).map_err(|e| ReadError::Client(e.to_string()))?;
                Ok(SourceReader::Scim(Box::new(client)))
            }
            None => {
                let directory = directory.ok_or(ReadError::NoDirectory)?;
                Ok(SourceReader::Directory {
                    directory,
                    tenant_base: format!("/tenants/{tenant}"),
                    v1: source.api_version == 1,
                })
            }
        }
    }

    /// Every `kind` matching `filter`.
    pub async fn read(&self, kind: Kind, filter: Option<&str>) -> Result<Vec<Value>, ReadError> {
        match self {
            SourceReader::Scim(client) => read_scim(client, kind, filter).await,
            SourceReader::Directory {
                directory,
                tenant_base,
                v1,
            } => read_directory(directory, kind, filter, tenant_base, *v1),
        }
    }
}

async fn read_scim(
    client: &ScimClient,
    kind: Kind,
    filter: Option<&str>,
) -> Result<Vec<Value>, ReadError> {
    let mut out = Vec::new();
    let mut start_index = 1usize;
    let count = PAGE_SIZE.to_string();
    for _ in 0..MAX_PAGES {
        let start = start_index.to_string();
        let mut query = vec![("startIndex", start.as_str()), ("count", count.as_str())];
        if let Some(filter) = filter {
            query.push(("filter", filter));
        }
        let reply = client
            .send(Method::GET, resource_path(kind), &query, None)
            .await
            .map_err(|e| ReadError::Client(e.to_string()))?;
        if !reply.is_success() {
            return Err(ReadError::Status(reply.describe()));
        }
        let page = page_resources(&reply.body)?;
        let total = reply
            .body
            .get("totalResults")
            .and_then(Value::as_u64)
            .and_then(|t| usize::try_from(t).ok());
        let received = page.len();
        out.extend(page);
        start_index += received;
        let done = received == 0 || total.is_none_or(|t| start_index > t);
        if done {
            return Ok(out);
        }
    }
    Ok(out)
}

/// The `Resources` of a list answer (absent = empty page only when `totalResults` is 0).
fn page_resources(body: &Value) -> Result<Vec<Value>, ReadError> {
    match body.get("Resources").or_else(|| body.get("resources")) {
        Some(Value::Array(items)) => Ok(items.clone()),
        None if body.get("totalResults").and_then(Value::as_u64) == Some(0) => Ok(Vec::new()),
        _ => Err(ReadError::Malformed),
    }
}

fn read_directory(
    directory: &Directory,
    kind: Kind,
    filter: Option<&str>,
    tenant_base: &str,
    v1: bool,
) -> Result<Vec<Value>, ReadError> {
    let v2_base = format!("{tenant_base}/scim");
    let v1_base = format!("{tenant_base}/service/scim");
    let filter = filter
        .map(|text| parse_filter(text, kind.resource_type(), &FilterLimits::default()))
        .transpose()
        .map_err(|e| ReadError::Filter(e.to_string()))?;
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let query = ListQuery {
            filter: filter.clone(),
            sort: None,
            paging: Paging::Cursor {
                cursor: cursor.take(),
                count: PAGE_SIZE * 10,
            },
        };
        let page = directory
            .list(kind, &query)
            .map_err(|e| ReadError::Filter(e.to_string()))?;
        let ids = v1.then(|| SnapshotIds(directory.snapshot()));
        for resource in &page.resources {
            let v2 = resource.to_json(&v2_base);
            out.push(match (&ids, kind) {
                (Some(ids), Kind::User) => crate::scim::v1::user_v2_to_v1(&v2, &v1_base, ids),
                (Some(ids), Kind::Group) => crate::scim::v1::group_v2_to_v1(&v2, &v1_base, ids),
                (None, _) => v2,
            });
        }
        match page.next_cursor {
            Some(next) if !page.resources.is_empty() => cursor = Some(next),
            _ => return Ok(out),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_need_a_resources_list() {
        assert_eq!(
            page_resources(&json!({"Resources": [{"id": "1"}], "totalResults": 1})).unwrap(),
            vec![json!({"id": "1"})]
        );
        assert!(
            page_resources(&json!({"totalResults": 0}))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            page_resources(&json!({"totalResults": 3})),
            Err(ReadError::Malformed)
        );
    }
}
