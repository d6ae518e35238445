//! The v1 searches `GET /Users` and `GET /Groups` (spec/domain.md §2.3 "User search"): the
//! v1 filter subset, id paging (`startId=initial|<id>`, `count`; the answer carries `startId`
//! and `nextId`, `<end>` on the last page) and index paging (`startIndex` from 1, `count`).
//!
//! Invariants: `count` defaults to 100, is at most 100 (users and groups alike), negative
//! counts as 0, and 0 answers only `totalResults`; `startIndex` below 1 counts as 1; results
//! are in creation order, so id paging is stable while users are added; a parameter that is
//! not a number, or a `startId` that names no resource, is 400 `INVALID_PAGING`.

use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::context::V1Context;
use super::{groups, users};
use crate::directory::scim_v2::context::Access;
use crate::directory::scim_v2::http::{query_pairs, query_param, scim_json};
use crate::directory::{Kind, ListQuery, Paging, Resource};
use crate::scim::list::{effective_count, effective_start_index};
use crate::scim::urn;
use crate::scim::v1::{
    END_MARKER, IdResolver, ResourceKind, V1Error, code, parse_v1_filter, v1_filter_to_v2,
};

/// The default and largest page of a v1 search.
pub const MAX_PAGE_SIZE: usize = 100;

/// The paging a v1 search asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V1Paging {
    /// `startId` given: `None` = `initial`.
    ById {
        start_id: Option<String>,
        count: usize,
    },
    ByIndex {
        start_index: usize,
        count: usize,
    },
}

fn invalid_paging(detail: String) -> V1Error {
    V1Error::invalid(code::INVALID_PAGING, detail)
}

fn integer(pairs: &[(String, String)], name: &str) -> Result<Option<i64>, V1Error> {
    query_param(pairs, name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| invalid_paging(format!("{name} must be an integer, not {v:?}")))
        })
        .transpose()
}

/// Reads the paging parameters of a v1 search.
pub fn paging(pairs: &[(String, String)]) -> Result<V1Paging, V1Error> {
    let count = effective_count(integer(pairs, "count")?, MAX_PAGE_SIZE, MAX_PAGE_SIZE);
    Ok(match query_param(pairs, "startId") {
        Some(start) => V1Paging::ById {
            start_id: (!start.eq_ignore_ascii_case("initial")).then(|| start.to_string()),
            count,
        },
        None => V1Paging::ByIndex {
            start_index: effective_start_index(integer(pairs, "startIndex")?),
            count,
        },
    })
}

fn v1_kind(kind: Kind) -> ResourceKind {
    match kind {
        Kind::User => ResourceKind::User,
        Kind::Group => ResourceKind::Group,
    }
}

fn render(ctx: &V1Context, kind: Kind, resource: &Resource) -> Value {
    match kind {
        Kind::User => users::render(ctx, resource),
        Kind::Group => groups::render(ctx, resource),
    }
}

fn v1_id_of(ids: &dyn IdResolver, kind: Kind, uuid: &str) -> String {
    match kind {
        Kind::User => ids.user_v1_id(uuid),
        Kind::Group => ids.group_v1_id(uuid),
    }
    .unwrap_or_else(|| uuid.to_string())
}

/// The ListResponse: only `totalResults` when the page size is 0.
fn list_body(
    total: usize,
    count: usize,
    extra: Map<String, Value>,
    resources: Vec<Value>,
) -> Value {
    let mut body = Map::new();
    body.insert("schemas".into(), json!([urn::LIST_RESPONSE]));
    body.insert("totalResults".into(), json!(total));
    if count > 0 {
        body.insert("itemsPerPage".into(), json!(resources.len()));
        body.extend(extra);
        body.insert("Resources".into(), Value::Array(resources));
    }
    Value::Object(body)
}

async fn search(ctx: V1Context, kind: Kind, raw: Option<String>) -> Result<Response, V1Error> {
    let pairs = query_pairs(raw.as_deref());
    let paging = paging(&pairs)?;
    let ids = ctx.ids();
    let filter = match query_param(&pairs, "filter").map(str::trim) {
        Some(text) if !text.is_empty() => {
            let conditions = parse_v1_filter(text, v1_kind(kind))?;
            Some(v1_filter_to_v2(&conditions, v1_kind(kind), &ids)?)
        }
        _ => None,
    };
    let body = match paging {
        V1Paging::ByIndex { start_index, count } => {
            let query = ListQuery {
                filter,
                sort: None,
                paging: Paging::Index { start_index, count },
            };
            let page = ctx.directory().list(kind, &query)?;
            let resources = page
                .resources
                .iter()
                .map(|r| render(&ctx, kind, r))
                .collect();
            let mut extra = Map::new();
            extra.insert("startIndex".into(), json!(start_index));
            list_body(page.total_results, count, extra, resources)
        }
        V1Paging::ById { start_id, count } => {
            let query = ListQuery {
                filter,
                sort: None,
                paging: Paging::Index {
                    start_index: 1,
                    count: usize::MAX,
                },
            };
            let all = ctx.directory().list(kind, &query)?.resources;
            let start = match &start_id {
                None => 0,
                Some(id) => {
                    let uuid = match kind {
                        Kind::User => ids.user_uuid(id),
                        Kind::Group => ids.group_uuid(id),
                    };
                    let seq = uuid
                        .and_then(|u| ids.0.get(kind, &u).map(|e| e.seq))
                        .ok_or_else(|| {
                            invalid_paging(format!("startId {id} names no {kind} of this tenant"))
                        })?;
                    all.partition_point(|r| r.seq() < seq)
                }
            };
            let page: Vec<&Resource> = all.iter().skip(start).take(count).collect();
            let next_id = all
                .get(start + page.len())
                .map(|r| v1_id_of(&ids, kind, &r.id))
                .unwrap_or_else(|| END_MARKER.to_string());
            let first_id = start_id.unwrap_or_else(|| "initial".to_string());
            let resources = page.iter().map(|r| render(&ctx, kind, r)).collect();
            let mut extra = Map::new();
            extra.insert("startId".into(), json!(first_id));
            extra.insert("nextId".into(), json!(next_id));
            list_body(all.len(), count, extra, resources)
        }
    };
    Ok(scim_json(StatusCode::OK, &body))
}

/// `GET /Users` (and `/Users/`).
pub async fn search_users(ctx: V1Context, RawQuery(raw): RawQuery) -> Result<Response, V1Error> {
    ctx.authorize(Kind::User, Access::Read)?;
    search(ctx, Kind::User, raw).await
}

/// `GET /Groups` (and `/Groups/`): at most 100 groups per page.
pub async fn search_groups(ctx: V1Context, RawQuery(raw): RawQuery) -> Result<Response, V1Error> {
    ctx.authorize(Kind::Group, Access::Read)?;
    search(ctx, Kind::Group, raw).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        query_pairs(Some(q))
    }

    #[test]
    fn paging_defaults_caps_and_modes() {
        assert_eq!(
            paging(&pairs("")).unwrap(),
            V1Paging::ByIndex {
                start_index: 1,
                count: 100
            }
        );
        assert_eq!(
            paging(&pairs("startIndex=-3&count=500")).unwrap(),
            V1Paging::ByIndex {
                start_index: 1,
                count: 100
            }
        );
        assert_eq!(
            paging(&pairs("startIndex=7&count=-1")).unwrap(),
            V1Paging::ByIndex {
                start_index: 7,
                count: 0
            }
        );
        assert_eq!(
            paging(&pairs("startId=initial&count=10")).unwrap(),
            V1Paging::ById {
                start_id: None,
                count: 10
            }
        );
        assert_eq!(
            paging(&pairs("startid=P000009")).unwrap(),
            V1Paging::ById {
                start_id: Some("P000009".into()),
                count: 100
            }
        );
        let err = paging(&pairs("count=ten")).unwrap_err();
        assert_eq!(err.code, code::INVALID_PAGING);
    }

    #[test]
    fn zero_count_answers_only_total_results() {
        let body = list_body(5, 0, Map::new(), vec![]);
        assert_eq!(
            body,
            json!({"schemas": [urn::LIST_RESPONSE], "totalResults": 5})
        );
        let mut extra = Map::new();
        extra.insert("startIndex".into(), json!(1));
        let body = list_body(5, 2, extra, vec![json!({}), json!({})]);
        assert_eq!(body["itemsPerPage"], 2);
        assert_eq!(body["startIndex"], 1);
    }
}
