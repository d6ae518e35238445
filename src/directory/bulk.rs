//! Bulk (RFC 7644 §3.7) inside one writer job: the operations run in order, each one atomic on
//! its own, and all of them are committed together.
//!
//! Invariants: a failed operation changes nothing; `bulkId:<x>` in a later operation's id, body,
//! patch path or values is replaced by the id created by the operation with bulkId `<x>`
//! (unresolved → 400 `invalidValue` for that operation); processing stops once
//! `fail_on_errors` operations have failed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::ops::{self, Batch, atomically, resolve_bulk_ids, resolve_bulk_ids_in};
use super::resource::Resource;
use super::state::{Entry, TenantState};
use super::{Kind, Origin};
use crate::scim::ScimError;
use crate::scim::patch::PatchRequest;
use crate::scim::resource::{WriteMode, normalize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

/// One operation of a bulk request.
#[derive(Debug, Clone)]
pub struct BulkOp {
    pub method: BulkMethod,
    pub kind: Kind,
    pub id: Option<String>,
    pub bulk_id: Option<String>,
    pub body: Option<Value>,
    pub patch: Option<PatchRequest>,
    pub if_match: Option<String>,
}

/// The outcome of one operation: the resource written (`None` for a delete) or the error.
#[derive(Debug, Clone)]
pub struct BulkOpResult {
    pub bulk_id: Option<String>,
    pub method: BulkMethod,
    pub kind: Kind,
    pub result: Result<Option<Resource>, ScimError>,
}

/// An operation's outcome before the batch is committed.
pub(crate) struct Outcome {
    pub bulk_id: Option<String>,
    pub method: BulkMethod,
    pub kind: Kind,
    pub result: Result<Option<Arc<Entry>>, ScimError>,
}

impl Outcome {
    pub fn publish(self, snapshot: &Arc<TenantState>) -> BulkOpResult {
        let kind = self.kind;
        BulkOpResult {
            bulk_id: self.bulk_id,
            method: self.method,
            kind,
            result: self
                .result
                .map(|entry| entry.map(|e| Resource::new(kind, e, snapshot.clone()))),
        }
    }
}

/// Runs the operations in order on the working state.
pub(crate) fn run(
    state: &mut TenantState,
    batch: &mut Batch,
    ops: Vec<BulkOp>,
    fail_on_errors: Option<usize>,
    origin: &Origin,
) -> Vec<Outcome> {
    let mut created: BTreeMap<String, String> = BTreeMap::new();
    let mut errors = 0;
    let mut outcomes = Vec::with_capacity(ops.len());
    for op in ops {
        if fail_on_errors.is_some_and(|limit| limit > 0 && errors >= limit) {
            break;
        }
        let (bulk_id, method, kind) = (op.bulk_id.clone(), op.method, op.kind);
        let result = atomically(state, batch, |state, batch| {
            run_one(state, batch, op, &created, origin)
        });
        match &result {
            Ok(Some(entry)) if method == BulkMethod::Post => {
                if let Some(bulk_id) = &bulk_id {
                    created.insert(bulk_id.clone(), entry.id.to_string());
                }
            }
            Err(_) => errors += 1,
            _ => {}
        }
        outcomes.push(Outcome {
            bulk_id,
            method,
            kind,
            result,
        });
    }
    outcomes
}

fn run_one(
    state: &mut TenantState,
    batch: &mut Batch,
    op: BulkOp,
    created: &BTreeMap<String, String>,
    origin: &Origin,
) -> Result<Option<Arc<Entry>>, ScimError> {
    let rt = op.kind.resource_type();
    let id = match &op.id {
        Some(id) => Some(resolve_bulk_ids_in(id, created)?),
        None => None,
    };
    let need_id = || ScimError::invalid_syntax("the operation needs a resource id in its path");
    let body = |body: Option<Value>, mode| -> Result<Value, ScimError> {
        let mut body = body.ok_or_else(|| ScimError::invalid_syntax("the operation needs data"))?;
        resolve_bulk_ids(&mut body, created)?;
        normalize(body, rt, mode)
    };
    let if_match = op.if_match.as_deref();
    match op.method {
        BulkMethod::Post => ops::create(
            state,
            batch,
            op.kind,
            body(op.body, WriteMode::Create)?,
            origin,
        )
        .map(Some),
        BulkMethod::Put => {
            let id = id.ok_or_else(need_id)?;
            let body = body(op.body, WriteMode::Replace)?;
            ops::replace(state, batch, op.kind, &id, body, if_match, origin).map(Some)
        }
        BulkMethod::Patch => {
            let id = id.ok_or_else(need_id)?;
            let mut request = op
                .patch
                .ok_or_else(|| ScimError::invalid_syntax("the operation needs PatchOp data"))?;
            for operation in &mut request.operations {
                if let Some(path) = &operation.path {
                    operation.path = Some(resolve_bulk_ids_in(path, created)?);
                }
                if let Some(value) = &mut operation.value {
                    resolve_bulk_ids(value, created)?;
                }
            }
            ops::patch(state, batch, op.kind, &id, &request, if_match, origin).map(Some)
        }
        BulkMethod::Delete => {
            let id = id.ok_or_else(need_id)?;
            ops::delete(state, batch, op.kind, &id, if_match, origin).map(|()| None)
        }
    }
}
