//! Listing and searching: `GET /Users`, `GET /Groups`, `POST /{Users,Groups}/.search` and the
//! root `POST /.search` across both kinds (RFC 7644 §3.4.2, §3.4.3; cursors per RFC 9865).
//!
//! Invariants: a filter that matches nothing is a 200 ListResponse with `totalResults: 0`
//! (never 404); every page is bounded by the page-size limit; `attributes` /
//! `excludedAttributes` apply to every resource of the page. The root search concatenates the
//! users' result and the groups' result (each sorted on its own) and pages over the
//! concatenation; its cursors carry the kind they continue in (`u…`, `g…`).

use axum::Extension;
use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::context::{Access, ScimContext};
use super::http::{query_pairs, read_json, scim_json_bytes};
use super::limits;
use crate::directory::{Kind, ListPage, ListQuery, Paging};
use crate::scim::ScimError;
use crate::scim::discovery::DiscoveryLimits;
use crate::scim::filter::{FilterLimits, parse_filter};
#[cfg(doc)]
use crate::scim::list::list_response;
use crate::scim::list::{ListParams, effective_count, effective_start_index};
use crate::scim::path::parse_attr_path;
use crate::scim::projection::Projection;
use crate::scim::schema::ResourceType;
use crate::scim::urn;

/// The paging a request asks for: cursor paging when a `cursor` parameter is present (even
/// empty), index paging otherwise; `count` defaulted and capped by the limits.
pub fn paging(params: &ListParams, limits: &DiscoveryLimits) -> Paging {
    let count = effective_count(params.count, limits.default_page_size, limits.max_page_size);
    match &params.cursor {
        Some(cursor) => Paging::Cursor {
            cursor: (!cursor.is_empty()).then(|| cursor.clone()),
            count,
        },
        None => Paging::Index {
            start_index: effective_start_index(params.start_index),
            count,
        },
    }
}

/// The directory query for one kind: parsed filter, parsed sort key, paging.
pub fn list_query(
    params: &ListParams,
    rt: &ResourceType,
    paging: Paging,
) -> Result<ListQuery, ScimError> {
    let filter = match params.filter.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => Some(parse_filter(text, rt, &FilterLimits::default())?),
        _ => None,
    };
    let sort = match params.sort_by.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => Some((parse_attr_path(text, rt)?, params.sort_order)),
        _ => None,
    };
    Ok(ListQuery {
        filter,
        sort,
        paging,
    })
}

/// The projection of the request for one resource type.
pub fn projection(params: &ListParams, rt: &ResourceType) -> Result<Projection, ScimError> {
    Projection::parse(
        params.attributes.as_deref(),
        params.excluded_attributes.as_deref(),
        rt,
    )
}

/// The serialised ListResponse of a page (the members [`list_response`] gives, in its order):
/// every resource rendered with its kind's projection (`None`: the `returned` rules only).
/// Resources the empty projection keeps whole are written straight from their stored text.
pub fn write_page<'p>(
    page: &ListPage,
    base_url: &str,
    projection: impl Fn(Kind) -> Option<&'p Projection>,
) -> Result<Vec<u8>, ScimError> {
    let serialise = |_| ScimError::internal("the response could not be serialised");
    let mut out = Vec::with_capacity(160 + page.resources.len() * 1024);
    out.extend_from_slice(b"{\"schemas\":[");
    serde_json::to_writer(&mut out, urn::LIST_RESPONSE).map_err(serialise)?;
    out.extend_from_slice(b"],\"totalResults\":");
    out.extend_from_slice(page.total_results.to_string().as_bytes());
    out.extend_from_slice(b",\"itemsPerPage\":");
    out.extend_from_slice(page.resources.len().to_string().as_bytes());
    if let Some(start) = page.start_index {
        out.extend_from_slice(b",\"startIndex\":");
        out.extend_from_slice(start.to_string().as_bytes());
    }
    if let Some(cursor) = &page.next_cursor {
        out.extend_from_slice(b",\"nextCursor\":");
        serde_json::to_writer(&mut out, cursor).map_err(serialise)?;
    }
    out.extend_from_slice(b",\"Resources\":[");
    for (i, resource) in page.resources.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let projection = projection(resource.kind);
        let empty = projection.is_none_or(Projection::is_empty);
        if !(empty && resource.write_default_json(base_url, &mut out)) {
            let full = resource.to_json(base_url);
            let rt = resource.kind.resource_type();
            let projected =
                Projection::apply(projection.unwrap_or(&Projection::default()), &full, rt);
            serde_json::to_writer(&mut out, &projected).map_err(serialise)?;
        }
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// Lists one kind.
fn list_kind(ctx: &ScimContext, kind: Kind, params: &ListParams) -> Result<Response, ScimError> {
    ctx.authorize(kind, Access::Read)?;
    let rt = kind.resource_type();
    let query = list_query(params, rt, paging(params, &limits()))?;
    let projection = projection(params, rt)?;
    let page = ctx.directory.list(kind, &query)?;
    let body = write_page(&page, &ctx.base_url, |_| Some(&projection))?;
    Ok(scim_json_bytes(StatusCode::OK, body))
}

/// `GET /Users`, `GET /Groups`.
pub async fn list(
    Extension(kind): Extension<Kind>,
    ctx: ScimContext,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let params = ListParams::from_query(&query_pairs(raw.as_deref()))?;
    list_kind(&ctx, kind, &params)
}

/// `POST /Users/.search`, `POST /Groups/.search`.
pub async fn search(
    Extension(kind): Extension<Kind>,
    ctx: ScimContext,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    ctx.authorize(kind, Access::Read)?;
    let body = read_json(&headers, body, limits().max_payload_size).await?;
    let params = ListParams::from_search_body(&body)?;
    list_kind(&ctx, kind, &params)
}

/// One kind's part of a root search.
pub struct KindSearch {
    pub kind: Kind,
    pub query: ListQuery,
}

/// The cursor prefix of a kind in root-search cursors.
fn cursor_prefix(kind: Kind) -> char {
    match kind {
        Kind::User => 'u',
        Kind::Group => 'g',
    }
}

/// Pages over the concatenation of the kinds' results (in the order given). `fetch` runs one
/// directory listing; the queries' own paging is ignored and replaced by `paging`.
pub fn root_page(
    kinds: &[KindSearch],
    paging: &Paging,
    mut fetch: impl FnMut(Kind, &ListQuery) -> Result<ListPage, ScimError>,
) -> Result<ListPage, ScimError> {
    let with_paging = |search: &KindSearch, paging: Paging| ListQuery {
        paging,
        ..search.query.clone()
    };
    let mut resources = Vec::new();
    let mut total = 0;
    match paging {
        Paging::Index { start_index, count } => {
            for search in kinds {
                let start = if *start_index > total {
                    start_index - total
                } else {
                    1
                };
                let remaining = count.saturating_sub(resources.len());
                let page = fetch(
                    search.kind,
                    &with_paging(
                        search,
                        Paging::Index {
                            start_index: start,
                            count: remaining,
                        },
                    ),
                )?;
                total += page.total_results;
                resources.extend(page.resources);
            }
            Ok(ListPage {
                total_results: total,
                start_index: Some(*start_index),
                next_cursor: None,
                resources,
            })
        }
        Paging::Cursor { cursor, count } => {
            let (first, mut inner) = match cursor.as_deref() {
                None | Some("") => (0, None),
                Some(text) => {
                    let mut chars = text.chars();
                    let prefix = chars.next();
                    let position = kinds
                        .iter()
                        .position(|k| Some(cursor_prefix(k.kind)) == prefix);
                    let Some(position) = position else {
                        return Err(ScimError::bad_request(
                            crate::scim::ScimType::InvalidCursor,
                            "the cursor was not issued by this search",
                        ));
                    };
                    let rest = chars.as_str();
                    (position, (!rest.is_empty()).then(|| rest.to_string()))
                }
            };
            let mut next_cursor = None;
            let mut fetched = vec![false; kinds.len()];
            for (i, search) in kinds.iter().enumerate().skip(first) {
                let remaining = count.saturating_sub(resources.len());
                if remaining == 0 && i > first {
                    next_cursor = Some(cursor_prefix(search.kind).to_string());
                    break;
                }
                let page = fetch(
                    search.kind,
                    &with_paging(
                        search,
                        Paging::Cursor {
                            cursor: inner.take(),
                            count: remaining,
                        },
                    ),
                )?;
                fetched[i] = true;
                total += page.total_results;
                resources.extend(page.resources);
                if let Some(next) = page.next_cursor {
                    next_cursor = Some(format!("{}{next}", cursor_prefix(search.kind)));
                    break;
                }
                if remaining == 0 {
                    break;
                }
            }
            for (i, search) in kinds.iter().enumerate() {
                if !fetched[i] {
                    let page = fetch(
                        search.kind,
                        &with_paging(
                            search,
                            Paging::Index {
                                start_index: 1,
                                count: 0,
                            },
                        ),
                    )?;
                    total += page.total_results;
                }
            }
            Ok(ListPage {
                total_results: total,
                start_index: None,
                next_cursor,
                resources,
            })
        }
    }
}

/// `POST /.search`: users and groups the principal may read, in one ListResponse.
pub async fn root_search(
    ctx: ScimContext,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ScimError> {
    let readable: Vec<Kind> = [Kind::User, Kind::Group]
        .into_iter()
        .filter(|k| ctx.may(*k, Access::Read))
        .collect();
    if readable.is_empty() {
        ctx.authorize(Kind::User, Access::Read)?;
    }
    let body = read_json(&headers, body, limits().max_payload_size).await?;
    let params = ListParams::from_search_body(&body)?;
    let paging = paging(&params, &limits());
    // A filter or projection that does not fit a kind (an attribute it lacks) leaves that
    // kind out; when it fits none, the first error is the answer.
    let mut searches = Vec::new();
    let mut projections = Vec::new();
    let mut first_error = None;
    for kind in readable {
        let rt = kind.resource_type();
        match list_query(&params, rt, paging.clone())
            .and_then(|q| Ok((q, projection(&params, rt)?)))
        {
            Ok((query, projection)) => {
                searches.push(KindSearch { kind, query });
                projections.push((kind, projection));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if searches.is_empty() {
        return Err(first_error.unwrap_or_else(|| ScimError::internal("nothing to search")));
    }
    let page = root_page(&searches, &paging, |kind, query| {
        ctx.directory.list(kind, query)
    })?;
    let body = write_page(&page, &ctx.base_url, |kind| {
        projections
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, projection)| projection)
    })?;
    Ok(scim_json_bytes(StatusCode::OK, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::ScimType;

    fn params(
        filter: Option<&str>,
        sort_by: Option<&str>,
        cursor: Option<&str>,
        count: Option<i64>,
    ) -> ListParams {
        ListParams {
            filter: filter.map(Into::into),
            sort_by: sort_by.map(Into::into),
            cursor: cursor.map(Into::into),
            count,
            ..ListParams::default()
        }
    }

    #[test]
    fn cursor_parameter_selects_cursor_paging() {
        let limits = DiscoveryLimits::default();
        assert_eq!(
            paging(&params(None, None, None, None), &limits),
            Paging::Index {
                start_index: 1,
                count: 100
            }
        );
        assert_eq!(
            paging(&params(None, None, Some(""), Some(5000)), &limits),
            Paging::Cursor {
                cursor: None,
                count: 1000
            }
        );
        assert_eq!(
            paging(&params(None, None, Some("abc"), Some(-1)), &limits),
            Paging::Cursor {
                cursor: Some("abc".into()),
                count: 0
            }
        );
    }

    #[test]
    fn list_query_parses_filter_and_sort() {
        let rt = Kind::User.resource_type();
        let page = Paging::Index {
            start_index: 1,
            count: 10,
        };
        let q = list_query(
            &params(
                Some("emails[type eq \"work\"].value eq \"x\""),
                Some("name.familyName"),
                None,
                None,
            ),
            rt,
            page.clone(),
        )
        .unwrap();
        assert!(q.filter.is_some());
        assert_eq!(q.sort.as_ref().unwrap().0.attr, "name");
        let err = list_query(
            &params(Some("userName eq"), None, None, None),
            rt,
            page.clone(),
        )
        .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
        let deep = format!("{}userName pr{}", "(".repeat(100), ")".repeat(100));
        let err = list_query(&params(Some(&deep), None, None, None), rt, page.clone()).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
        let q = list_query(&params(Some("  "), Some(""), None, None), rt, page).unwrap();
        assert!(q.filter.is_none() && q.sort.is_none());
    }

    #[test]
    fn written_page_has_the_list_response_members_in_order() {
        let index = Paging::Index {
            start_index: 3,
            count: 0,
        };
        let cursor = Paging::Cursor {
            cursor: None,
            count: 0,
        };
        for page in [
            empty_page(7, &index, None),
            empty_page(2, &cursor, Some("c\"1")),
        ] {
            let expected = crate::scim::list::list_response(
                Some(page.total_results),
                page.start_index,
                Vec::new(),
                page.next_cursor.clone(),
            );
            let written = write_page(&page, "https://h/scim", |_| None).unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
        }
    }

    fn empty_page(total: usize, paging: &Paging, next_cursor: Option<&str>) -> ListPage {
        let start_index = match paging {
            Paging::Index { start_index, .. } => Some(*start_index),
            Paging::Cursor { .. } => None,
        };
        ListPage {
            total_results: total,
            start_index,
            next_cursor: next_cursor.map(Into::into),
            resources: Vec::new(),
        }
    }

    fn both(paging: &Paging) -> Vec<KindSearch> {
        [Kind::User, Kind::Group]
            .into_iter()
            .map(|kind| KindSearch {
                kind,
                query: ListQuery {
                    filter: None,
                    sort: None,
                    paging: paging.clone(),
                },
            })
            .collect()
    }

    #[test]
    fn root_index_paging_continues_into_groups() {
        let paging = Paging::Index {
            start_index: 8,
            count: 10,
        };
        let mut calls = Vec::new();
        let page = root_page(&both(&paging), &paging, |kind, q| {
            calls.push((kind, q.paging.clone()));
            Ok(empty_page(
                if kind == Kind::User { 5 } else { 20 },
                &q.paging,
                None,
            ))
        })
        .unwrap();
        assert_eq!(page.total_results, 25);
        assert_eq!(page.start_index, Some(8));
        assert_eq!(
            calls,
            vec![
                (
                    Kind::User,
                    Paging::Index {
                        start_index: 8,
                        count: 10
                    }
                ),
                (
                    Kind::Group,
                    Paging::Index {
                        start_index: 3,
                        count: 10
                    }
                ),
            ]
        );
    }

    #[test]
    fn root_cursor_paging_prefixes_the_kind() {
        let paging = Paging::Cursor {
            cursor: None,
            count: 2,
        };
        let page = root_page(&both(&paging), &paging, |kind, q| {
            Ok(match (kind, &q.paging) {
                (Kind::User, Paging::Cursor { cursor: None, .. }) => {
                    empty_page(3, &q.paging, Some("C1"))
                }
                (Kind::Group, Paging::Index { count: 0, .. }) => empty_page(4, &q.paging, None),
                other => panic!("unexpected fetch {other:?}"),
            })
        })
        .unwrap();
        assert_eq!(page.total_results, 7);
        assert_eq!(page.next_cursor.as_deref(), Some("uC1"));

        let paging = Paging::Cursor {
            cursor: Some("uC1".into()),
            count: 2,
        };
        let mut calls = Vec::new();
        let page = root_page(&both(&paging), &paging, |kind, q| {
            calls.push((kind, q.paging.clone()));
            Ok(match kind {
                Kind::User => empty_page(3, &q.paging, None),
                Kind::Group => empty_page(4, &q.paging, Some("G9")),
            })
        })
        .unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("gG9"));
        assert_eq!(
            calls[0],
            (
                Kind::User,
                Paging::Cursor {
                    cursor: Some("C1".into()),
                    count: 2
                }
            )
        );
        assert_eq!(
            calls[1],
            (
                Kind::Group,
                Paging::Cursor {
                    cursor: None,
                    count: 2
                }
            )
        );

        let paging = Paging::Cursor {
            cursor: Some("x1".into()),
            count: 2,
        };
        let err = root_page(&both(&paging), &paging, |_, q| {
            Ok(empty_page(0, &q.paging, None))
        })
        .unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidCursor));
    }
}
