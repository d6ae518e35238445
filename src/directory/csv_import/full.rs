//! The full-profile import format (spec §5.2): SCIM-path columns, their value rules, which user
//! a row creates or updates, and the cell semantics.
//!
//! Columns: any writable user attribute path ([`ColumnPath`]); the aliases `loginName`,
//! `mail`, `firstName`, `lastName`; the key column `SCIM ID`. `userName`, `emails[0].value`
//! and `name.familyName` (or their aliases) are mandatory columns and need a value in every
//! row. `groups` and `spCustomAttribute<n>` are not supported; any other unknown or read-only
//! column refuses the file (a typo would otherwise drop data silently).
//!
//! Cells: a value sets the attribute, an empty cell deletes it, an absent column leaves it
//! unchanged; a multi-valued attribute without an index takes `;`-separated values. Values are
//! checked against the attribute type and master data: `locale`, `addresses[n].country` (ISO
//! 3166-1 alpha-2), enterprise `department` (non-empty), `name.honorificPrefix` (the listed
//! salutations).
//!
//! Matching: with a `SCIM ID` column every row updates the user with that id (an unknown id
//! fails the row) and may change `userName` and emails. Without it a row updates the user
//! with its `userName` (its emails must stay as they are) or creates a user (its emails must
//! not belong to another user).

use serde_json::{Map, Number, Value};

use super::cell_path::ColumnPath;
use super::error::FileError;
use super::file::Record;
use super::format::SCIM_ID_COLUMN;
use super::master_data::{
    HONORIFIC_PREFIXES, compact_timestamp, country, honorific_prefix, locale,
};
use super::plan::{
    GroupChanges, RowError, RowPlan, SeenKeys, Target, check_emails_free, emails_of,
};
use crate::directory::Kind;
use crate::directory::state::TenantState;
use crate::scim::resource::is_date_time;
use crate::scim::schema::AttrType;
use crate::scim::urn;

/// The most users one full-profile import holds.
pub const MAX_USERS: usize = 25_000;

/// One attribute column.
#[derive(Debug, Clone)]
struct Column {
    index: usize,
    /// The name as written in the header.
    name: String,
    path: ColumnPath,
}

/// The columns of a full-profile file.
#[derive(Debug, Clone)]
pub struct FullColumns {
    scim_id: Option<usize>,
    columns: Vec<Column>,
    /// Positions in `columns` of the mandatory columns.
    user_name: usize,
    email: usize,
    family_name: usize,
}

fn alias(name: &str) -> &str {
    for (alias, path) in [
        ("loginName", "userName"),
        ("mail", "emails[0].value"),
        ("lastName", "name.familyName"),
        ("firstName", "name.givenName"),
    ] {
        if name.eq_ignore_ascii_case(alias) {
            return path;
        }
    }
    name
}

impl FullColumns {
    pub fn from_header(header: &[String]) -> Result<FullColumns, FileError> {
        let mut scim_id = None;
        let mut columns: Vec<Column> = Vec::new();
        for (index, name) in header.iter().enumerate() {
            if name.eq_ignore_ascii_case(SCIM_ID_COLUMN) {
                scim_id = Some(index);
                continue;
            }
            let lower = name.to_ascii_lowercase();
            if lower == "groups" || lower.starts_with("spcustomattribute") {
                return Err(FileError::Column {
                    column: name.clone(),
                    reason: "not supported in the full-profile import (use the application-level import or the SCIM API)".into(),
                });
            }
            let path = ColumnPath::parse(alias(name)).map_err(|reason| FileError::Column {
                column: name.clone(),
                reason,
            })?;
            if let Some(other) = columns
                .iter()
                .find(|c| c.path.canonical() == path.canonical())
            {
                return Err(FileError::Column {
                    column: name.clone(),
                    reason: format!("the same attribute as column {}", other.name),
                });
            }
            columns.push(Column {
                index,
                name: name.clone(),
                path,
            });
        }
        let find = |canonical: &str| columns.iter().position(|c| c.path.canonical() == canonical);
        let (user_name, email, family_name) = (
            find("userName"),
            find("emails[0].value"),
            find("name.familyName"),
        );
        let (Some(user_name), Some(email), Some(family_name)) = (user_name, email, family_name)
        else {
            let missing: Vec<&str> = [
                (user_name, "userName (or loginName)"),
                (email, "emails[0].value (or mail)"),
                (family_name, "name.familyName (or lastName)"),
            ]
            .into_iter()
            .filter(|(found, _)| found.is_none())
            .map(|(_, name)| name)
            .collect();
            return Err(FileError::MissingColumns(missing.join(", ")));
        };
        Ok(FullColumns {
            scim_id,
            columns,
            user_name,
            email,
            family_name,
        })
    }

    /// Plans one row against the directory state.
    pub fn plan(
        &self,
        record: &Record,
        state: &TenantState,
        seen: &mut SeenKeys,
    ) -> Result<RowPlan, RowError> {
        let cell = |c: &Column| record.cells.get(c.index).map_or("", String::as_str);
        for mandatory in [self.user_name, self.email, self.family_name] {
            let column = &self.columns[mandatory];
            if cell(column).is_empty() {
                return Err(RowError::at(&column.name, "a value is required"));
            }
        }
        let user_name_column = &self.columns[self.user_name];
        let email_column = &self.columns[self.email];
        let user_name = cell(user_name_column);
        let existing = match self.scim_id {
            Some(index) => {
                let id = record.cells.get(index).map_or("", String::as_str);
                if id.is_empty() {
                    return Err(RowError::at(
                        SCIM_ID_COLUMN,
                        "a value is required: with a SCIM ID column every row updates an existing user",
                    ));
                }
                Some(state.get(Kind::User, id).cloned().ok_or_else(|| {
                    RowError::at(
                        SCIM_ID_COLUMN,
                        format!("no user has the SCIM ID {id:?}; with a SCIM ID column rows only update existing users"),
                    )
                })?)
            }
            None => state
                .of(Kind::User)
                .by_unique_name(user_name)
                .and_then(|id| state.get(Kind::User, id))
                .cloned(),
        };
        let mut doc = existing
            .as_ref()
            .map(|e| e.body_json())
            .unwrap_or_else(Map::new);
        let old_emails = emails_of(&doc);
        for column in &self.columns {
            match cell(column) {
                "" => column.path.remove(&mut doc),
                text => {
                    let value = cell_value(&column.path, text)
                        .map_err(|reason| RowError::at(&column.name, reason))?;
                    column.path.set(&mut doc, value);
                }
            }
        }
        let new_emails = emails_of(&doc);
        let own_id = existing.as_ref().map(|e| &*e.id);
        if self.scim_id.is_none() && existing.is_some() {
            let same = old_emails.len() == new_emails.len()
                && old_emails
                    .iter()
                    .zip(&new_emails)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b));
            if !same {
                return Err(RowError::at(
                    &email_column.name,
                    "changing the emails of an existing user needs the SCIM ID column",
                ));
            }
        } else {
            let reason_column = &email_column.name;
            check_emails_free(state, &new_emails, own_id, reason_column).map_err(|e| {
                if self.scim_id.is_none() {
                    RowError {
                        reason: format!(
                            "{} (changing userName needs the SCIM ID column)",
                            e.reason
                        ),
                        ..e
                    }
                } else {
                    e
                }
            })?;
        }
        seen.check(
            Some((&user_name_column.name, user_name)),
            &new_emails,
            &email_column.name,
        )?;
        // The directory bulk normalises (and validates) the body; a schema error fails the row there.
        let body = Value::Object(doc);
        seen.record(record.row, Some(user_name), &new_emails);
        Ok(RowPlan {
            row: record.row,
            target: match existing {
                Some(e) => Target::Update {
                    id: e.id.clone(),
                    version: e.version,
                },
                None => Target::Create,
            },
            body,
            groups: GroupChanges::default(),
            user_name_column: user_name_column.name.clone(),
        })
    }
}

/// The JSON value of a non-empty cell: typed per the attribute, `;`-split for multi-valued
/// columns, master data checked.
fn cell_value(path: &ColumnPath, text: &str) -> Result<Value, String> {
    if path.is_multi() {
        let items = text
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| scalar(path, s))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Array(items));
    }
    scalar(path, text)
}

fn scalar(path: &ColumnPath, text: &str) -> Result<Value, String> {
    let leaf = path.leaf();
    let in_extension = |id: &str| {
        path.extension
            .is_some_and(|s| s.id.eq_ignore_ascii_case(id))
    };
    match leaf.attr_type {
        AttrType::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("must be true or false, not {text:?}")),
        },
        AttrType::Integer => text
            .parse::<i64>()
            .map(|n| Value::Number(n.into()))
            .map_err(|_| format!("{text:?} is not an integer")),
        AttrType::Decimal => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("{text:?} is not a number")),
        AttrType::DateTime => {
            if is_date_time(text) {
                Ok(Value::String(text.to_string()))
            } else {
                compact_timestamp(text).map(Value::String).ok_or_else(|| {
                    format!("{text:?} is not a dateTime (2024-01-31T12:00:00Z or 20240131120000Z)")
                })
            }
        }
        _ => {
            let attr = path.attr;
            let master = if path.extension.is_none() && attr.name == "locale" {
                Some(locale(text).ok_or_else(|| {
                    format!("{text:?} is not a known locale (a language code such as de or de-DE)")
                })?)
            } else if path.extension.is_none() && attr.name == "addresses" && leaf.name == "country"
            {
                Some(country(text).ok_or_else(|| {
                    format!("{text:?} is not an ISO 3166-1 alpha-2 country code such as DE")
                })?)
            } else if path.extension.is_none()
                && attr.name == "name"
                && leaf.name == "honorificPrefix"
            {
                Some(
                    honorific_prefix(text)
                        .ok_or_else(|| {
                            format!("{text:?} is not one of {}", HONORIFIC_PREFIXES.join(", "))
                        })?
                        .to_string(),
                )
            } else if in_extension(urn::ENTERPRISE_USER) && attr.name == "department" {
                if text.trim().is_empty() {
                    return Err("the department must not be empty".into());
                }
                None
            } else if in_extension(urn::SAP_USER) && !leaf.canonical_values.is_empty() {
                Some(
                    leaf.canonical_values
                        .iter()
                        .find(|c| c.eq_ignore_ascii_case(text))
                        .cloned()
                        .ok_or_else(|| {
                            format!("must be one of {}", leaf.canonical_values.join(", "))
                        })?,
                )
            } else {
                None
            };
            Ok(Value::String(master.unwrap_or_else(|| text.to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn record(cells: &[&str]) -> Record {
        Record {
            row: 2,
            start: 0,
            cells: cells.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn header_rules() {
        let err = FullColumns::from_header(&header(&["userName", "displayName"])).unwrap_err();
        assert_eq!(
            err,
            FileError::MissingColumns(
                "emails[0].value (or mail), name.familyName (or lastName)".into()
            )
        );
        for bad in ["groups", "spCustomAttribute1", "nickname2", "id"] {
            let err = FullColumns::from_header(&header(&["loginName", "mail", "lastName", bad]))
                .unwrap_err();
            assert!(
                matches!(&err, FileError::Column { column, .. } if column == bad),
                "{bad}: {err}"
            );
        }
        let err = FullColumns::from_header(&header(&["loginName", "userName", "mail", "lastName"]))
            .unwrap_err();
        assert!(matches!(err, FileError::Column { .. }));
        assert!(FullColumns::from_header(&header(&["loginName", "mail", "lastName"])).is_ok());
    }

    #[test]
    fn cells_set_and_type_values() {
        let cols = FullColumns::from_header(&header(&[
            "userName",
            "emails[0].value",
            "name.familyName",
            "addresses[1].locality",
            "addresses[0].country",
            "roles",
            "active",
            "locale",
            "name.honorificPrefix",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:ietf:params:scim:schemas:extension:sap:2.0:User:validFrom",
        ]))
        .unwrap();
        let plan = cols
            .plan(
                &record(&[
                    "jdoe",
                    "j@x.org",
                    "Doe",
                    "Berlin",
                    "de",
                    "a; b",
                    "TRUE",
                    "de_DE",
                    "dr",
                    "Sales",
                    "20240101000000Z",
                ]),
                &TenantState::new("acme"),
                &mut SeenKeys::default(),
            )
            .unwrap();
        let b = &plan.body;
        assert_eq!(
            b["addresses"],
            json!([{"country": "DE"}, {"locality": "Berlin"}])
        );
        assert_eq!(b["roles"], json!([{"value": "a"}, {"value": "b"}]));
        assert_eq!(b["active"], true);
        assert_eq!(b["locale"], "de-DE");
        assert_eq!(b["name"]["honorificPrefix"], "Dr.");
        assert_eq!(b[urn::ENTERPRISE_USER]["department"], "Sales");
        assert_eq!(b[urn::SAP_USER]["validFrom"], "2024-01-01T00:00:00Z");
    }

    #[test]
    fn master_data_and_types_fail_the_row_naming_the_column() {
        let cols = FullColumns::from_header(&header(&[
            "userName",
            "mail",
            "lastName",
            "addresses[0].country",
            "locale",
            "name.honorificPrefix",
            "active",
            "urn:ietf:params:scim:schemas:extension:sap:2.0:User:status",
        ]))
        .unwrap();
        let state = TenantState::new("acme");
        for (cells, column) in [
            (
                ["u", "u@x.org", "D", "XX", "", "", "", ""],
                "addresses[0].country",
            ),
            (["u", "u@x.org", "D", "", "xx-YY", "", "", ""], "locale"),
            (
                ["u", "u@x.org", "D", "", "", "Lord", "", ""],
                "name.honorificPrefix",
            ),
            (["u", "u@x.org", "D", "", "", "", "maybe", ""], "active"),
            (
                ["u", "u@x.org", "D", "", "", "", "", "deleted"],
                "urn:ietf:params:scim:schemas:extension:sap:2.0:User:status",
            ),
            (["", "u@x.org", "D", "", "", "", "", ""], "userName"),
            (["u", "", "D", "", "", "", "", ""], "mail"),
        ] {
            let err = cols
                .plan(&record(&cells), &state, &mut SeenKeys::default())
                .unwrap_err();
            assert_eq!(
                err.column.as_deref(),
                Some(column),
                "{cells:?}: {}",
                err.reason
            );
        }
    }
}
