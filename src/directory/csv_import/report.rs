//! The import report: one line per data row (created, updated or failed with the column and
//! the rule), the counts, and the summary in SAP's words (`<n> users imported or updated`).
//! Reports of the chunks of one file merge into one report.
//!
//! Invariants: `created + updated + failed == rows.len()`; rows are in row-number order; the
//! summary counts created and updated rows.

use serde::{Deserialize, Serialize};

/// What happened to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    Created,
    Updated,
    Failed,
}

/// The outcome of one data row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowReport {
    /// The row number in the file (the header is row 1).
    pub row: usize,
    pub status: RowStatus,
    /// The user's SCIM id (created and updated rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The column at fault (failed rows, when one column is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Why the row failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RowReport {
    pub fn done(row: usize, status: RowStatus, id: impl Into<String>) -> RowReport {
        RowReport {
            row,
            status,
            id: Some(id.into()),
            column: None,
            reason: None,
        }
    }

    pub fn failed(row: usize, column: Option<String>, reason: impl Into<String>) -> RowReport {
        RowReport {
            row,
            status: RowStatus::Failed,
            id: None,
            column,
            reason: Some(reason.into()),
        }
    }
}

/// The report of an import (or of one chunk of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub summary: String,
    pub created: usize,
    pub updated: usize,
    pub failed: usize,
    pub rows: Vec<RowReport>,
}

/// The summary line: `<n> users imported or updated`.
pub fn summary_text(imported_or_updated: usize) -> String {
    format!("{imported_or_updated} users imported or updated")
}

impl ImportReport {
    /// The report of these rows (sorted by row number).
    pub fn new(mut rows: Vec<RowReport>) -> ImportReport {
        rows.sort_by_key(|r| r.row);
        let count = |s: RowStatus| rows.iter().filter(|r| r.status == s).count();
        let (created, updated, failed) = (
            count(RowStatus::Created),
            count(RowStatus::Updated),
            count(RowStatus::Failed),
        );
        ImportReport {
            summary: summary_text(created + updated),
            created,
            updated,
            failed,
            rows,
        }
    }

    /// One report of the rows of several (chunk) reports.
    pub fn merge(reports: impl IntoIterator<Item = ImportReport>) -> ImportReport {
        ImportReport::new(reports.into_iter().flat_map(|r| r.rows).collect())
    }

    pub fn failed_rows(&self) -> impl Iterator<Item = &RowReport> {
        self.rows.iter().filter(|r| r.status == RowStatus::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_summary_merge_and_json_form() {
        let a = ImportReport::new(vec![
            RowReport::failed(3, Some("mail".into()), "mail is required"),
            RowReport::done(2, RowStatus::Created, "u1"),
        ]);
        let b = ImportReport::new(vec![RowReport::done(4, RowStatus::Updated, "u2")]);
        let merged = ImportReport::merge([b, a]);
        assert_eq!(merged.summary, "2 users imported or updated");
        assert_eq!((merged.created, merged.updated, merged.failed), (1, 1, 1));
        assert_eq!(
            merged.rows.iter().map(|r| r.row).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        let v = serde_json::to_value(&merged).unwrap();
        assert_eq!(
            v["rows"][0],
            json!({"row": 2, "status": "created", "id": "u1"})
        );
        assert_eq!(
            v["rows"][1],
            json!({"row": 3, "status": "failed", "column": "mail", "reason": "mail is required"})
        );
        let back: ImportReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, merged);
        assert_eq!(merged.failed_rows().count(), 1);
    }
}
