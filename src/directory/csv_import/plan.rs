//! What one data row asks of the directory ([`RowPlan`]) or why it cannot ([`RowError`]), and
//! the checks both formats share: uniqueness of `userName` and emails within the upload
//! ([`SeenKeys`]) and against the directory.
//!
//! Invariant: a plan's body is the complete user; the directory bulk normalises and validates
//! it (a schema error fails that row only); an update plan carries the version it was computed
//! from, so a concurrent change makes the row fail instead of being overwritten.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::directory::Kind;
use crate::directory::state::TenantState;

/// Why a row fails: the column at fault (if one is) and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub column: Option<String>,
    pub reason: String,
}

impl RowError {
    pub fn at(column: &str, reason: impl Into<String>) -> RowError {
        RowError {
            column: Some(column.to_string()),
            reason: reason.into(),
        }
    }

    pub fn general(reason: impl Into<String>) -> RowError {
        RowError {
            column: None,
            reason: reason.into(),
        }
    }
}

/// Whether a row creates a user or updates one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Create,
    Update { id: Arc<str>, version: i64 },
}

/// Group memberships a row changes (application-level format).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupChanges {
    pub add: Vec<Arc<str>>,
    pub remove: Vec<Arc<str>>,
}

/// What one row asks of the directory.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan {
    pub row: usize,
    pub target: Target,
    /// The complete, normalised user body.
    pub body: Value,
    pub groups: GroupChanges,
    /// The column holding the user name (blamed for a `userName` conflict).
    pub user_name_column: String,
}

/// `userName`s and emails (lower-cased) of the rows planned so far in this upload.
#[derive(Debug, Default)]
pub struct SeenKeys {
    user_names: HashMap<String, usize>,
    emails: HashMap<String, usize>,
}

impl SeenKeys {
    /// Fails when an earlier row of the upload has the same user name or email.
    pub fn check(
        &self,
        user_name: Option<(&str, &str)>,
        emails: &[String],
        email_column: &str,
    ) -> Result<(), RowError> {
        if let Some((column, name)) = user_name
            && let Some(row) = self.user_names.get(&name.to_lowercase())
        {
            return Err(RowError::at(
                column,
                format!("row {row} of the file has the same value {name:?}"),
            ));
        }
        for email in emails {
            if let Some(row) = self.emails.get(&email.to_lowercase()) {
                return Err(RowError::at(
                    email_column,
                    format!("row {row} of the file has the same email {email:?}"),
                ));
            }
        }
        Ok(())
    }

    pub fn record(&mut self, row: usize, user_name: Option<&str>, emails: &[String]) {
        if let Some(name) = user_name {
            self.user_names.insert(name.to_lowercase(), row);
        }
        for email in emails {
            self.emails.insert(email.to_lowercase(), row);
        }
    }
}

/// The ids of users having `email` (case-insensitive).
pub fn users_with_email(state: &TenantState, email: &str) -> Vec<Arc<str>> {
    state
        .of(Kind::User)
        .by_email(email)
        .into_iter()
        .filter(|id| {
            state.get(Kind::User, id).is_some_and(|e| {
                emails_of(&e.body_json())
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(email))
            })
        })
        .collect()
}

/// The `emails[].value`s of a user body, in order.
pub fn emails_of(body: &Map<String, Value>) -> Vec<String> {
    body.get("emails")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("value").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Fails when one of `emails` belongs to a user other than `own_id`.
pub fn check_emails_free(
    state: &TenantState,
    emails: &[String],
    own_id: Option<&str>,
    column: &str,
) -> Result<(), RowError> {
    for email in emails {
        if users_with_email(state, email)
            .iter()
            .any(|id| Some(&**id) != own_id)
        {
            return Err(RowError::at(
                column,
                format!("{email} is already the email of another user (emails are unique)"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_keys_find_duplicates_case_insensitively() {
        let mut seen = SeenKeys::default();
        seen.record(2, Some("Alice"), &["a@x.org".into()]);
        let err = seen
            .check(Some(("loginName", "ALICE")), &[], "mail")
            .unwrap_err();
        assert_eq!(err.column.as_deref(), Some("loginName"));
        assert!(err.reason.contains("row 2"), "{}", err.reason);
        let err = seen.check(None, &["A@x.org".into()], "mail").unwrap_err();
        assert_eq!(err.column.as_deref(), Some("mail"));
        assert!(
            seen.check(Some(("loginName", "bob")), &["b@x.org".into()], "mail")
                .is_ok()
        );
    }
}
