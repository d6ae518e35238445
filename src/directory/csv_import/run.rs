//! Running an import against a tenant's [`Directory`]: the file checks that refuse a whole
//! file ([`prepare`]), then, chunk by chunk, planning each row against the committed state and
//! writing the good rows in one directory bulk (one commit per chunk), all with
//! [`Origin::Csv`].
//!
//! Invariants: a file error is raised before anything is written; a failed row writes nothing
//! (each user write is atomic in the bulk, and group memberships are changed only for rows
//! whose user write succeeded, in a second bulk); each chunk is planned against the state the
//! previous chunk committed, and updates carry the planned version so a concurrent change
//! fails the row instead of being overwritten.

use std::sync::Arc;

use serde_json::json;

use super::app::AppColumns;
use super::error::FileError;
use super::file::{self, CsvFile, FIRST_DATA_ROW, Record};
use super::format::{Format, check_unique_columns};
use super::full::{FullColumns, MAX_USERS};
use super::groups::GroupNames;
use super::plan::{RowError, RowPlan, SeenKeys, Target};
use super::report::{ImportReport, RowReport, RowStatus};
use crate::directory::state::TenantState;
use crate::directory::{BulkMethod, BulkOp, Directory, Kind, Origin};
use crate::scim::ScimError;
use crate::scim::patch::{PatchOpKind, PatchOperation, PatchRequest};

/// The application-level file must be smaller than this many bytes (100 KB).
pub const APP_MAX_BYTES: usize = 100 * 1024;
/// Rows written per directory bulk (one commit).
pub const BULK_ROWS: usize = 500;

/// How to read an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// The format; `None` detects it from the header.
    pub format: Option<Format>,
    /// The row number of the first data record (a chunk of a larger file starts later).
    pub first_row: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            format: None,
            first_row: FIRST_DATA_ROW,
        }
    }
}

/// How the rows of a file are planned.
#[derive(Debug, Clone)]
pub enum Columns {
    Application(AppColumns),
    Full(FullColumns),
}

/// A file that passed every whole-file check.
#[derive(Debug, Clone)]
pub struct Prepared<'t> {
    pub format: Format,
    pub file: CsvFile<'t>,
    pub columns: Columns,
}

/// Runs every whole-file check: encoding, quoting, field counts, the format's size limit and
/// its mandatory and supported columns.
pub fn prepare(bytes: &[u8], options: ImportOptions) -> Result<Prepared<'_>, FileError> {
    let file = file::parse(bytes, options.first_row)?;
    let format = options
        .format
        .unwrap_or_else(|| Format::detect(&file.header));
    let columns = match format {
        Format::Application => {
            if bytes.len() >= APP_MAX_BYTES {
                return Err(FileError::TooLarge { size: bytes.len() });
            }
            Columns::Application(AppColumns::from_header(&file.header)?)
        }
        Format::Full => {
            if file.records.len() > MAX_USERS {
                return Err(FileError::TooManyRows {
                    rows: file.records.len(),
                    max: MAX_USERS,
                });
            }
            check_unique_columns(&file.header)?;
            Columns::Full(FullColumns::from_header(&file.header)?)
        }
    };
    Ok(Prepared {
        format,
        file,
        columns,
    })
}

impl Columns {
    fn plan(
        &self,
        record: &Record,
        state: &TenantState,
        groups: &GroupNames,
        seen: &mut SeenKeys,
    ) -> Result<RowPlan, RowError> {
        match self {
            Columns::Application(c) => c.plan(record, state, groups, seen),
            Columns::Full(c) => c.plan(record, state, seen),
        }
    }
}

/// Imports an upload into `directory`. A file error means nothing was written.
pub async fn import(
    directory: &Directory,
    bytes: &[u8],
    options: ImportOptions,
) -> Result<ImportReport, FileError> {
    let prepared = prepare(bytes, options)?;
    let with_groups = matches!(&prepared.columns, Columns::Application(c) if c.has_groups());
    let mut seen = SeenKeys::default();
    let mut rows = Vec::with_capacity(prepared.file.records.len());
    for chunk in prepared.file.records.chunks(BULK_ROWS) {
        let state = directory.snapshot();
        let groups = if with_groups {
            GroupNames::of(&state)
        } else {
            GroupNames::default()
        };
        let mut plans = Vec::with_capacity(chunk.len());
        for record in chunk {
            match prepared.columns.plan(record, &state, &groups, &mut seen) {
                Ok(plan) => plans.push(plan),
                Err(e) => rows.push(RowReport::failed(record.row, e.column, e.reason)),
            }
        }
        rows.extend(write(directory, plans).await);
    }
    Ok(ImportReport::new(rows))
}

fn user_op(plan: &RowPlan) -> BulkOp {
    let (method, id, if_match) = match &plan.target {
        Target::Create => (BulkMethod::Post, None, None),
        Target::Update { id, version } => (
            BulkMethod::Put,
            Some(id.to_string()),
            Some(format!("W/\"{version}\"")),
        ),
    };
    BulkOp {
        method,
        kind: Kind::User,
        id,
        bulk_id: None,
        body: Some(plan.body.clone()),
        patch: None,
        if_match,
    }
}

fn membership_op(group: &Arc<str>, user: &str, add: bool) -> BulkOp {
    let operation = if add {
        PatchOperation {
            op: PatchOpKind::Add,
            path: Some("members".into()),
            value: Some(json!([{"value": user}])),
        }
    } else {
        PatchOperation {
            op: PatchOpKind::Remove,
            path: Some(format!("members[value eq \"{user}\"]")),
            value: None,
        }
    };
    BulkOp {
        method: BulkMethod::Patch,
        kind: Kind::Group,
        id: Some(group.to_string()),
        bulk_id: None,
        body: None,
        patch: Some(PatchRequest {
            operations: vec![operation],
        }),
        if_match: None,
    }
}

/// The failed row of a directory refusal.
fn refused(plan: &RowPlan, error: &ScimError) -> RowReport {
    let (column, reason) = match error.status {
        409 => (Some(plan.user_name_column.clone()), error.detail.clone()),
        412 => (
            None,
            "the user was changed by someone else during the import; import the row again".into(),
        ),
        404 => (None, "the user was deleted during the import".into()),
        _ => (None, error.detail.clone()),
    };
    RowReport::failed(plan.row, column, reason)
}

/// Writes the planned rows in one bulk, then their group memberships in a second one.
async fn write(directory: &Directory, plans: Vec<RowPlan>) -> Vec<RowReport> {
    if plans.is_empty() {
        return Vec::new();
    }
    let ops = plans.iter().map(user_op).collect();
    let results = match directory.bulk(ops, None, Origin::Csv).await {
        Ok(results) => results,
        Err(e) => {
            return plans
                .iter()
                .map(|p| RowReport::failed(p.row, None, format!("not stored: {}", e.detail)))
                .collect();
        }
    };
    let mut results = results.into_iter();
    let mut reports = Vec::with_capacity(plans.len());
    let mut group_ops = Vec::new();
    // For each group op: the index of its row's report.
    let mut group_owner = Vec::new();
    for plan in &plans {
        let report = match results.next().map(|r| r.result) {
            Some(Ok(Some(resource))) => {
                for (groups, add) in [(&plan.groups.add, true), (&plan.groups.remove, false)] {
                    for group in groups {
                        group_ops.push(membership_op(group, &resource.id, add));
                        group_owner.push(reports.len());
                    }
                }
                let status = match plan.target {
                    Target::Create => RowStatus::Created,
                    Target::Update { .. } => RowStatus::Updated,
                };
                RowReport::done(plan.row, status, resource.id)
            }
            Some(Err(e)) => refused(plan, &e),
            Some(Ok(None)) | None => {
                RowReport::failed(plan.row, None, "the directory returned no result")
            }
        };
        reports.push(report);
    }
    if !group_ops.is_empty() {
        let outcome = directory.bulk(group_ops, None, Origin::Csv).await;
        let errors: Vec<(usize, String)> = match outcome {
            Ok(results) => group_owner
                .iter()
                .zip(results)
                .filter_map(|(owner, r)| r.result.err().map(|e| (*owner, e.detail)))
                .collect(),
            Err(e) => group_owner.iter().map(|o| (*o, e.detail.clone())).collect(),
        };
        for (owner, detail) in errors {
            let report = &mut reports[owner];
            *report = RowReport::failed(
                report.row,
                Some("groups".into()),
                format!(
                    "the user was written but its group memberships were not changed: {detail}"
                ),
            );
        }
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_applies_the_limits_of_each_format() {
        let mut app = String::from("status,mail,lastName\n");
        while app.len() < APP_MAX_BYTES {
            app.push_str("active,someone@example.com,Last\n");
        }
        let err = prepare(app.as_bytes(), ImportOptions::default()).unwrap_err();
        assert!(matches!(err, FileError::TooLarge { .. }), "{err}");
        // The same size is fine for the full-profile format.
        let full = app.replacen("status,mail,lastName", "userName,mail,lastName", 1);
        let prepared = prepare(full.as_bytes(), ImportOptions::default()).unwrap();
        assert_eq!(prepared.format, Format::Full);
        let mut many = String::from("userName,mail,lastName\n");
        for i in 0..=MAX_USERS {
            many.push_str(&format!("u{i},u{i}@x.io,L\n"));
        }
        let err = prepare(many.as_bytes(), ImportOptions::default()).unwrap_err();
        assert_eq!(
            err,
            FileError::TooManyRows {
                rows: MAX_USERS + 1,
                max: MAX_USERS
            }
        );
        let err = prepare(b"userName,mail,lastName,MAIL\n", ImportOptions::default()).unwrap_err();
        assert!(matches!(err, FileError::Column { .. }), "{err}");
    }

    #[test]
    fn directory_refusals_name_the_column_or_the_cause() {
        let plan = RowPlan {
            row: 7,
            target: Target::Create,
            body: json!({}),
            groups: Default::default(),
            user_name_column: "loginName".into(),
        };
        let r = refused(&plan, &ScimError::uniqueness("userName a already exists"));
        assert_eq!((r.row, r.column.as_deref()), (7, Some("loginName")));
        let r = refused(&plan, &ScimError::precondition_failed("stale"));
        assert!(r.reason.unwrap().contains("changed by someone else"));
        assert_eq!(r.column, None);
    }
}
