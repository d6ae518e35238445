//! The two import formats and how a file's header tells them apart.
//!
//! Detection: a header with a `status` column and none of the full-profile key columns
//! (`userName`, `emails[0].value`, `name.familyName`, `SCIM ID`) is the application-level
//! format; anything else is the full-profile format (whose column checks then name what is
//! missing). An explicit `format` parameter overrides detection.

use super::error::FileError;

/// An import format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Users of a specific application (spec §5.1): fixed columns, < 100 KB.
    Application,
    /// The full user profile (spec §5.2): SCIM-path columns, up to 25,000 users.
    Full,
}

/// The `SCIM ID` column of the full-profile format.
pub const SCIM_ID_COLUMN: &str = "SCIM ID";

impl Format {
    /// `application` or `full` (case-insensitive).
    pub fn parse(text: &str) -> Result<Format, FileError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "application" | "app" => Ok(Format::Application),
            "full" | "full-profile" => Ok(Format::Full),
            _ => Err(FileError::UnknownFormat(text.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Application => "application",
            Format::Full => "full",
        }
    }

    /// The format a header implies.
    pub fn detect(header: &[String]) -> Format {
        let has = |name: &str| header.iter().any(|h| h.eq_ignore_ascii_case(name));
        let full_only = [
            "userName",
            "emails[0].value",
            "name.familyName",
            SCIM_ID_COLUMN,
        ];
        if has("status") && !full_only.iter().any(|c| has(c)) {
            Format::Application
        } else {
            Format::Full
        }
    }
}

/// The index of the column `name` (case-insensitive).
pub fn column(header: &[String], name: &str) -> Option<usize> {
    header.iter().position(|h| h.eq_ignore_ascii_case(name))
}

/// Refuses a header naming the same column twice.
pub fn check_unique_columns(header: &[String]) -> Result<(), FileError> {
    for (i, name) in header.iter().enumerate() {
        if name.is_empty() {
            return Err(FileError::Column {
                column: format!("#{}", i + 1),
                reason: "the column has no name".into(),
            });
        }
        if header[..i].iter().any(|h| h.eq_ignore_ascii_case(name)) {
            return Err(FileError::Column {
                column: name.clone(),
                reason: "the column appears twice".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn detection_and_explicit_format() {
        assert_eq!(
            Format::detect(&h(&["status", "loginName", "mail", "lastName"])),
            Format::Application
        );
        assert_eq!(
            Format::detect(&h(&["userName", "emails[0].value", "name.familyName"])),
            Format::Full
        );
        assert_eq!(
            Format::detect(&h(&["status", "userName", "mail", "lastName"])),
            Format::Full
        );
        assert_eq!(Format::parse("Full").unwrap(), Format::Full);
        assert_eq!(
            Format::parse("xml").unwrap_err(),
            FileError::UnknownFormat("xml".into())
        );
    }

    #[test]
    fn columns_must_be_named_once() {
        assert!(check_unique_columns(&h(&["a", "b"])).is_ok());
        assert!(check_unique_columns(&h(&["a", "A"])).is_err());
        assert!(check_unique_columns(&h(&["a", ""])).is_err());
    }
}
