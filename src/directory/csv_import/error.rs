//! [`FileError`]: why a whole import file is refused. A file error means NOTHING was imported;
//! per-row problems are not file errors (they become failed rows of the report).
//!
//! Invariant: every message names the problem and, where there is one, the line, row or
//! column, so the file can be fixed without guessing.

use crate::scim::ScimError;

/// A problem with the file as a whole: nothing of it is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty: a header line with the column names is required")]
    Empty,
    #[error(
        "the file is not UTF-8 encoded (invalid byte sequence on line {line}); save it as UTF-8 and import it again"
    )]
    NotUtf8 { line: usize },
    #[error("unbalanced quotes: the quoted field starting on line {line} is never closed")]
    UnclosedQuote { line: usize },
    #[error(
        "unbalanced quotes on line {line}: a quote inside an unquoted field (quote the whole field and double the quotes inside it)"
    )]
    StrayQuote { line: usize },
    #[error("unbalanced quotes on line {line}: text after the closing quote of a field")]
    TextAfterQuote { line: usize },
    #[error("row {row} has {found} fields but the header has {expected}")]
    FieldCount {
        row: usize,
        found: usize,
        expected: usize,
    },
    #[error(
        "the application-level import file must be smaller than 100 KB (102400 bytes); this one has {size} bytes"
    )]
    TooLarge { size: usize },
    #[error("the full-profile import holds at most {max} users; this file has {rows}")]
    TooManyRows { rows: usize, max: usize },
    #[error("mandatory column missing: {0}")]
    MissingColumns(String),
    #[error("column {column}: {reason}")]
    Column { column: String, reason: String },
    #[error("unknown format {0:?}: use application or full")]
    UnknownFormat(String),
    #[error("{0}")]
    Request(String),
    #[error(
        "unsupported Content-Type {0:?}: send text/csv or multipart/form-data with a file field"
    )]
    MediaType(String),
}

impl FileError {
    /// The HTTP status of the refusal: 413 for the size limits, 415 for the media type, else 400.
    pub fn status(&self) -> u16 {
        match self {
            FileError::TooLarge { .. } | FileError::TooManyRows { .. } => 413,
            FileError::MediaType(_) => 415,
            _ => 400,
        }
    }

    /// The error as a SCIM error body (the tenant API's error form).
    pub fn to_scim_error(&self) -> ScimError {
        ScimError::new(self.status(), None, format!("{self}; nothing was imported"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limits_are_413_and_say_nothing_was_imported() {
        let err = FileError::TooLarge { size: 200_000 }.to_scim_error();
        assert_eq!(err.status, 413);
        assert!(
            err.detail.ends_with("nothing was imported"),
            "{}",
            err.detail
        );
        assert_eq!(FileError::MediaType("x".into()).status(), 415);
        assert_eq!(FileError::UnclosedQuote { line: 3 }.status(), 400);
    }
}
