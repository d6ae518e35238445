//! Listing: filter, sort and page the users or groups of one committed snapshot.
//!
//! Invariants:
//! - Without `sortBy` the order is insertion order (`seq`), stable across pages.
//! - An index (id, `userName`, group `displayName`, `externalId`, `emails.value`) only narrows
//!   the candidates; every candidate is still checked against the whole filter.
//! - Cursors (RFC 9865) are opaque base64url text: `s:<last seq>` for unsorted listings (stable
//!   under concurrent writes), `o:<offset>` for sorted ones. Anything else is `invalidCursor`.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::Kind;
use super::resource::{Resource, render};
use super::state::{Entry, TenantState};
use crate::scim::ScimError;
use crate::scim::filter::{CompareOp, Filter};
use crate::scim::path::AttrPath;
use crate::scim::sort::{SortOrder, compare};

/// What to list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort: Option<(AttrPath, SortOrder)>,
    pub paging: Paging,
}

/// Index paging (`startIndex`, 1-based) or cursor paging (RFC 9865).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    Index {
        start_index: usize,
        count: usize,
    },
    Cursor {
        cursor: Option<String>,
        count: usize,
    },
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub total_results: usize,
    /// Set for index paging.
    pub start_index: Option<usize>,
    /// Set for cursor paging when more results follow.
    pub next_cursor: Option<String>,
    pub resources: Vec<Resource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    AfterSeq(i64),
    Offset(usize),
}

fn encode_cursor(cursor: Cursor) -> String {
    let text = match cursor {
        Cursor::AfterSeq(seq) => format!("s:{seq}"),
        Cursor::Offset(offset) => format!("o:{offset}"),
    };
    URL_SAFE_NO_PAD.encode(text)
}

fn invalid_cursor() -> ScimError {
    ScimError::bad_request(
        crate::scim::ScimType::InvalidCursor,
        "the cursor is not valid for this listing",
    )
}

fn decode_cursor(text: &str) -> Result<Cursor, ScimError> {
    let invalid = invalid_cursor;
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| invalid())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
    if let Some(seq) = text.strip_prefix("s:") {
        seq.parse().map(Cursor::AfterSeq).map_err(|_| invalid())
    } else if let Some(offset) = text.strip_prefix("o:") {
        offset.parse().map(Cursor::Offset).map_err(|_| invalid())
    } else {
        Err(invalid())
    }
}

/// Candidate ids from an index for an `eq` comparison the filter requires, if any.
fn index_candidates(state: &TenantState, kind: Kind, filter: &Filter) -> Option<Vec<Arc<str>>> {
    match filter {
        Filter::And(a, b) => {
            index_candidates(state, kind, a).or_else(|| index_candidates(state, kind, b))
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(value),
        } if path.urn.is_none() => {
            let ks = state.of(kind);
            let attr = path.attr.to_ascii_lowercase();
            let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
            match (kind, attr.as_str(), sub.as_deref()) {
                (_, "id", None) => Some(
                    ks.get(value)
                        .map(|e| vec![e.id.clone()])
                        .unwrap_or_default(),
                ),
                (Kind::User, "username", None) | (Kind::Group, "displayname", None) => {
                    Some(ks.by_unique_name(value).cloned().into_iter().collect())
                }
                (_, "externalid", None) => Some(ks.by_external_id(value)),
                (Kind::User, "emails", Some("value")) => Some(ks.by_email(value)),
                _ => None,
            }
        }
        Filter::ValuePath { path, filter }
            if path.urn.is_none() && path.attr.eq_ignore_ascii_case("emails") =>
        {
            match &**filter {
                Filter::Compare {
                    path: inner,
                    op: CompareOp::Eq,
                    value: Value::String(value),
                } if kind == Kind::User
                    && inner.attr.eq_ignore_ascii_case("value")
                    && inner.sub.is_none() =>
                {
                    Some(state.of(kind).by_email(value))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether `filter` is exactly an `eq` lookup that [`index_candidates`] answers without false
/// positives, so that every candidate matches: `id` (exact key), `userName` (users) or
/// `displayName` (groups), whose index keys are the `to_lowercase` of the name — equal exactly
/// when the filter's case-insensitive comparison (ASCII folding, or `to_lowercase` for other
/// text) finds them equal.
fn answered_by_index(kind: Kind, filter: &Filter) -> bool {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(_),
        } if path.urn.is_none() && path.sub.is_none() => matches!(
            (kind, path.attr.to_ascii_lowercase().as_str()),
            (_, "id") | (Kind::User, "username") | (Kind::Group, "displayname")
        ),
        _ => false,
    }
}

/// Lists `kind` in `state` (a committed snapshot).
pub fn list(
    state: &Arc<TenantState>,
    kind: Kind,
    query: &ListQuery,
) -> Result<ListPage, ScimError> {
    let cursor = match &query.paging {
        Paging::Cursor {
            cursor: Some(text), ..
        } if !text.is_empty() => Some(decode_cursor(text)?),
        _ => None,
    };
    let resource = |entry: &Arc<Entry>| Resource::new(kind, entry.clone(), state.clone());
    let ks = state.of(kind);

    // Fast path: everything, in insertion order.
    if query.filter.is_none() && query.sort.is_none() {
        let total_results = ks.len();
        return Ok(match &query.paging {
            Paging::Index { start_index, count } => {
                let start = (*start_index).max(1);
                let resources = ks
                    .ordered(None)
                    .skip(start - 1)
                    .take(*count)
                    .filter_map(|(_, id)| ks.get(id).map(resource))
                    .collect();
                ListPage {
                    total_results,
                    start_index: Some(start),
                    next_cursor: None,
                    resources,
                }
            }
            Paging::Cursor { count, .. } => {
                let after = match cursor {
                    None => None,
                    Some(Cursor::AfterSeq(seq)) => Some(seq),
                    Some(Cursor::Offset(_)) => return Err(invalid_cursor()),
                };
                let mut ids = ks.ordered(after).take(count.saturating_add(1));
                let resources: Vec<Resource> = ids
                    .by_ref()
                    .take(*count)
                    .filter_map(|(_, id)| ks.get(id).map(resource))
                    .collect();
                let more = ids.next().is_some();
                let next_cursor = (more && *count > 0)
                    .then(|| {
                        resources
                            .last()
                            .map(|r| encode_cursor(Cursor::AfterSeq(r.seq())))
                    })
                    .flatten();
                ListPage {
                    total_results,
                    start_index: None,
                    next_cursor,
                    resources,
                }
            }
        });
    }

    let rt = kind.resource_type();
    let candidates: Vec<Arc<Entry>> = match query
        .filter
        .as_ref()
        .and_then(|f| index_candidates(state, kind, f))
    {
        Some(ids) => {
            let mut entries: Vec<Arc<Entry>> =
                ids.iter().filter_map(|id| ks.get(id).cloned()).collect();
            entries.sort_by_key(|e| e.seq);
            entries
        }
        None => ks
            .ordered(None)
            .filter_map(|(_, id)| ks.get(id).cloned())
            .collect(),
    };
    // A filter the index answers exactly needs no evaluation (and no rendering).
    let filter = query
        .filter
        .as_ref()
        .filter(|f| !answered_by_index(kind, f));
    let mut matched: Vec<(Option<Value>, Arc<Entry>)> = Vec::new();
    for entry in candidates {
        let json = if filter.is_some() || query.sort.is_some() {
            Some(render(state, kind, &entry, ""))
        } else {
            None
        };
        let keep = match (filter, &json) {
            (Some(filter), Some(json)) => filter.matches(json, rt),
            _ => true,
        };
        if keep {
            let json = if query.sort.is_some() { json } else { None };
            matched.push((json, entry));
        }
    }
    if let Some((path, order)) = &query.sort {
        let null = Value::Null;
        matched.sort_by(|(a, _), (b, _)| {
            compare(
                a.as_ref().unwrap_or(&null),
                b.as_ref().unwrap_or(&null),
                path,
                *order,
                rt,
            )
        });
    }
    let total_results = matched.len();
    let page = |skip: usize, count: usize| -> Vec<Resource> {
        matched
            .iter()
            .skip(skip)
            .take(count)
            .map(|(_, e)| resource(e))
            .collect()
    };
    Ok(match &query.paging {
        Paging::Index { start_index, count } => {
            let start = (*start_index).max(1);
            ListPage {
                total_results,
                start_index: Some(start),
                next_cursor: None,
                resources: page(start - 1, *count),
            }
        }
        Paging::Cursor { count, .. } => {
            let sorted = query.sort.is_some();
            let skip = match (cursor, sorted) {
                (None, _) => 0,
                (Some(Cursor::Offset(offset)), true) => offset,
                (Some(Cursor::AfterSeq(seq)), false) => {
                    matched.partition_point(|(_, e)| e.seq <= seq)
                }
                _ => return Err(invalid_cursor()),
            };
            let resources = page(skip, *count);
            let end = skip + resources.len();
            let next_cursor = (end < total_results && *count > 0)
                .then(|| match (sorted, resources.last()) {
                    (true, _) => Some(encode_cursor(Cursor::Offset(end))),
                    (false, Some(last)) => Some(encode_cursor(Cursor::AfterSeq(last.seq()))),
                    (false, None) => None,
                })
                .flatten();
            ListPage {
                total_results,
                start_index: None,
                next_cursor,
                resources,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unique_eq_lookups_are_answered_by_the_index() {
        let rt = Kind::User.resource_type();
        let parse = |text: &str| {
            crate::scim::filter::parse_filter(
                text,
                rt,
                &crate::scim::filter::FilterLimits::default(),
            )
            .unwrap()
        };
        assert!(answered_by_index(Kind::User, &parse("userName eq \"Ä\"")));
        assert!(answered_by_index(Kind::User, &parse("id eq \"x\"")));
        assert!(!answered_by_index(Kind::Group, &parse("userName eq \"a\"")));
        for text in [
            "userName eq \"a\" and active eq true",
            "userName sw \"a\"",
            "externalId eq \"a\"",
            "emails.value eq \"a\"",
        ] {
            assert!(!answered_by_index(Kind::User, &parse(text)), "{text}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_invalid_cursor() {
        for c in [Cursor::AfterSeq(42), Cursor::Offset(7)] {
            assert_eq!(decode_cursor(&encode_cursor(c)).unwrap(), c);
        }
        for bad in ["!!", "eA", &URL_SAFE_NO_PAD.encode("s:x")] {
            let err = decode_cursor(bad).unwrap_err();
            assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidCursor));
        }
    }
}
