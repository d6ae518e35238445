//! The application-level import format (spec §5.1): the fixed columns, their rules, which
//! existing user a row updates, and the user body a row produces.
//!
//! Rules: `status` (active|inactive), `mail` and `lastName` are mandatory; `loginName`, `mail`,
//! `firstName`, `lastName` have at most 64 characters; `language` is a two- or four-letter
//! code (stored as `locale`); `validFrom`/`validTo` are `yyyyMMddHHmmss'Z'`; `userType` is one
//! of the seven lower-case types; `…sap:2.0:User:mailVerified` is true or false (default
//! false); `spCustomAttribute1..5` go to the SAP custom attributes 1..5; `groups` lists
//! existing group names. Unknown columns are ignored.
//!
//! Matching: a row updates the user having its `mail`; otherwise the user whose `userName` is
//! its `loginName` (then the mail must be that user's: the email of an existing user cannot
//! change); otherwise it creates a user (`userName` = `loginName`, else the mail).
//!
//! Update semantics: every attribute this format manages is rewritten from the row, so a value
//! left out is deleted (the file repeats what stays); other attributes are kept. Exceptions:
//! the user name stays when `loginName` is empty (a user always has one), and the emails stay
//! (the mail cannot change). `active` without a password gives status `new` (no `active`),
//! with one status `active`; `inactive` gives `active: false`. With a `groups` column the
//! user's memberships become exactly the listed groups.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::cell_path::object_at;
use super::error::FileError;
use super::file::Record;
use super::format::column;
use super::groups::{GroupNames, split_names};
use super::master_data::{USER_TYPES, compact_timestamp, is_email, locale, user_type};
use super::plan::{GroupChanges, RowError, RowPlan, SeenKeys, Target, emails_of, users_with_email};
use crate::directory::Kind;
use crate::directory::state::TenantState;
use crate::scim::resource::CUSTOM_ATTRIBUTE_MAX_CHARS;
use crate::scim::urn;

/// The mail-verified column, named by its SCIM v2 path.
pub const MAIL_VERIFIED: &str = "urn:ietf:params:scim:schemas:extension:sap:2.0:User:mailVerified";
/// The longest `loginName`, `mail`, `firstName` and `lastName`.
pub const MAX_CHARS: usize = 64;
/// How many `spCustomAttribute<n>` columns there are.
const CUSTOM_COLUMNS: usize = 5;

/// The columns of an application-level file.
#[derive(Debug, Clone)]
pub struct AppColumns {
    status: usize,
    mail: usize,
    last_name: usize,
    login_name: Option<usize>,
    first_name: Option<usize>,
    language: Option<usize>,
    valid_from: Option<usize>,
    valid_to: Option<usize>,
    user_type: Option<usize>,
    mail_verified: Option<usize>,
    custom: [Option<usize>; CUSTOM_COLUMNS],
    groups: Option<usize>,
}

impl AppColumns {
    /// Finds the columns; a missing mandatory column refuses the file.
    pub fn from_header(header: &[String]) -> Result<AppColumns, FileError> {
        let find = |name: &str| column(header, name);
        let missing: Vec<&str> = ["status", "mail", "lastName"]
            .into_iter()
            .filter(|c| find(c).is_none())
            .collect();
        let (Some(status), Some(mail), Some(last_name)) =
            (find("status"), find("mail"), find("lastName"))
        else {
            return Err(FileError::MissingColumns(missing.join(", ")));
        };
        let mut custom = [None; CUSTOM_COLUMNS];
        for (n, slot) in custom.iter_mut().enumerate() {
            *slot = find(&format!("spCustomAttribute{}", n + 1));
        }
        Ok(AppColumns {
            status,
            mail,
            last_name,
            login_name: find("loginName"),
            first_name: find("firstName"),
            language: find("language"),
            valid_from: find("validFrom"),
            valid_to: find("validTo"),
            user_type: find("userType"),
            mail_verified: find(MAIL_VERIFIED),
            custom,
            groups: find("groups"),
        })
    }

    pub fn has_groups(&self) -> bool {
        self.groups.is_some()
    }
}

/// The checked values of one row.
struct RowValues<'r> {
    active: bool,
    mail: &'r str,
    login_name: Option<&'r str>,
    first_name: Option<&'r str>,
    last_name: &'r str,
    locale: Option<String>,
    valid_from: Option<String>,
    valid_to: Option<String>,
    user_type: Option<&'static str>,
    mail_verified: bool,
    custom: [Option<&'r str>; CUSTOM_COLUMNS],
    groups: Option<Vec<Arc<str>>>,
}

fn cell(record: &Record, index: usize) -> &str {
    record.cells.get(index).map_or("", String::as_str)
}

fn optional(record: &Record, index: Option<usize>) -> Option<&str> {
    index.map(|i| cell(record, i)).filter(|s| !s.is_empty())
}

fn limited<'r>(value: &'r str, column: &str) -> Result<&'r str, RowError> {
    if value.chars().count() > MAX_CHARS {
        return Err(RowError::at(
            column,
            format!("at most {MAX_CHARS} characters are allowed"),
        ));
    }
    Ok(value)
}

fn required<'r>(record: &'r Record, index: usize, column: &str) -> Result<&'r str, RowError> {
    let value = cell(record, index);
    if value.is_empty() {
        return Err(RowError::at(column, "a value is required"));
    }
    limited(value, column)
}

fn timestamp(
    record: &Record,
    index: Option<usize>,
    column: &str,
) -> Result<Option<String>, RowError> {
    optional(record, index)
        .map(|v| {
            compact_timestamp(v).ok_or_else(|| {
                RowError::at(
                    column,
                    format!("{v:?} is not a timestamp of the form yyyyMMddHHmmss'Z' (e.g. 20240131120000Z)"),
                )
            })
        })
        .transpose()
}

impl AppColumns {
    fn values<'r>(
        &self,
        record: &'r Record,
        groups: &GroupNames,
    ) -> Result<RowValues<'r>, RowError> {
        let active = match cell(record, self.status) {
            "" => {
                return Err(RowError::at(
                    "status",
                    "a value is required: active or inactive",
                ));
            }
            s if s.eq_ignore_ascii_case("active") => true,
            s if s.eq_ignore_ascii_case("inactive") => false,
            other => {
                return Err(RowError::at(
                    "status",
                    format!("must be active or inactive, not {other:?}"),
                ));
            }
        };
        let mail = required(record, self.mail, "mail")?;
        if !is_email(mail) {
            return Err(RowError::at(
                "mail",
                format!("{mail:?} is not an email address"),
            ));
        }
        let last_name = required(record, self.last_name, "lastName")?;
        let login_name = optional(record, self.login_name)
            .map(|v| limited(v, "loginName"))
            .transpose()?;
        let first_name = optional(record, self.first_name)
            .map(|v| limited(v, "firstName"))
            .transpose()?;
        let locale = optional(record, self.language)
            .map(|v| {
                locale(v).ok_or_else(|| {
                    RowError::at(
                        "language",
                        format!(
                            "{v:?} is not a two- or four-letter language code such as en or enUS"
                        ),
                    )
                })
            })
            .transpose()?;
        let valid_from = timestamp(record, self.valid_from, "validFrom")?;
        let valid_to = timestamp(record, self.valid_to, "validTo")?;
        if let (Some(from), Some(to)) = (&valid_from, &valid_to)
            && to <= from
        {
            return Err(RowError::at("validTo", "must be later than validFrom"));
        }
        let user_type = optional(record, self.user_type)
            .map(|v| {
                user_type(v).ok_or_else(|| {
                    RowError::at(
                        "userType",
                        format!("{v:?} is not one of {}", USER_TYPES.join(", ")),
                    )
                })
            })
            .transpose()?;
        let mail_verified = match optional(record, self.mail_verified) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(RowError::at(
                    MAIL_VERIFIED,
                    format!("must be true or false, not {v:?}"),
                ));
            }
        };
        let mut custom = [None; CUSTOM_COLUMNS];
        for (n, slot) in custom.iter_mut().enumerate() {
            if let Some(v) = optional(record, self.custom[n]) {
                if v.chars().count() > CUSTOM_ATTRIBUTE_MAX_CHARS {
                    return Err(RowError::at(
                        &format!("spCustomAttribute{}", n + 1),
                        format!("at most {CUSTOM_ATTRIBUTE_MAX_CHARS} characters are allowed"),
                    ));
                }
                *slot = Some(v);
            }
        }
        let groups = match self.groups {
            None => None,
            Some(index) => {
                let mut ids: Vec<Arc<str>> = Vec::new();
                for name in split_names(cell(record, index)) {
                    let id = groups.id_of(name).ok_or_else(|| {
                        RowError::at("groups", format!("group {name:?} does not exist"))
                    })?;
                    if !ids.contains(id) {
                        ids.push(id.clone());
                    }
                }
                Some(ids)
            }
        };
        Ok(RowValues {
            active,
            mail,
            login_name,
            first_name,
            last_name,
            locale,
            valid_from,
            valid_to,
            user_type,
            mail_verified,
            custom,
            groups,
        })
    }

    /// Plans one row against the directory state.
    pub fn plan(
        &self,
        record: &Record,
        state: &TenantState,
        groups: &GroupNames,
        seen: &mut SeenKeys,
    ) -> Result<RowPlan, RowError> {
        let v = self.values(record, groups)?;
        seen.check(
            v.login_name.map(|l| ("loginName", l)),
            &[v.mail.to_string()],
            "mail",
        )?;
        let by_mail = users_with_email(state, v.mail);
        if by_mail.len() > 1 {
            return Err(RowError::at(
                "mail",
                format!("{} users have the email {}", by_mail.len(), v.mail),
            ));
        }
        let by_login = v
            .login_name
            .and_then(|l| state.of(Kind::User).by_unique_name(l).cloned());
        let existing = match (by_mail.first(), &by_login) {
            (Some(m), Some(l)) if m != l => {
                return Err(RowError::at(
                    "loginName",
                    format!(
                        "{:?} is the login name of another user than the one with mail {}",
                        v.login_name.unwrap_or_default(),
                        v.mail
                    ),
                ));
            }
            (Some(id), _) => state.get(Kind::User, id).cloned(),
            (None, Some(id)) => {
                let current = state
                    .get(Kind::User, id)
                    .map(|e| emails_of(&e.body_json()))
                    .unwrap_or_default();
                return Err(RowError::at(
                    "mail",
                    format!(
                        "the email of an existing user cannot change (user {:?} has {})",
                        v.login_name.unwrap_or_default(),
                        current.first().map_or("no email", String::as_str)
                    ),
                ));
            }
            (None, None) => None,
        };
        let (target, mut doc, current_groups) = match &existing {
            Some(entry) => (
                Target::Update {
                    id: entry.id.clone(),
                    version: entry.version,
                },
                entry.body_json(),
                state.groups_of(&entry.id),
            ),
            None => (Target::Create, Map::new(), Vec::new()),
        };
        let user_name = v
            .login_name
            .map(str::to_string)
            .or_else(|| {
                doc.get("userName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| v.mail.to_string());
        apply(&mut doc, &v, user_name);
        // The directory bulk normalises (and validates) the body; a schema error fails the row there.
        let body = Value::Object(doc);
        let groups = match v.groups {
            None => GroupChanges::default(),
            Some(wanted) => GroupChanges {
                add: wanted
                    .iter()
                    .filter(|g| !current_groups.contains(g))
                    .cloned()
                    .collect(),
                remove: current_groups
                    .into_iter()
                    .filter(|g| !wanted.contains(g))
                    .collect(),
            },
        };
        seen.record(record.row, v.login_name, &[v.mail.to_string()]);
        Ok(RowPlan {
            row: record.row,
            target,
            body,
            groups,
            user_name_column: if v.login_name.is_some() {
                "loginName".into()
            } else {
                "mail".into()
            },
        })
    }
}

/// Rewrites every attribute this format manages from the row's values.
fn apply(doc: &mut Map<String, Value>, v: &RowValues<'_>, user_name: String) {
    let has_password = doc.contains_key("password");
    doc.insert("userName".into(), Value::String(user_name));
    let has_mail = emails_of(doc)
        .iter()
        .any(|e| e.eq_ignore_ascii_case(v.mail));
    if !has_mail {
        doc.insert("emails".into(), json!([{"value": v.mail, "primary": true}]));
    }
    let name = object_at(doc, "name");
    name.remove("givenName");
    if let Some(first) = v.first_name {
        name.insert("givenName".into(), json!(first));
    }
    name.insert("familyName".into(), json!(v.last_name));
    for (key, value) in [("locale", v.locale.as_deref()), ("userType", v.user_type)] {
        match value {
            Some(value) => doc.insert(key.into(), json!(value)),
            None => doc.remove(key),
        };
    }
    let status = match (v.active, has_password) {
        (true, true) => {
            doc.insert("active".into(), json!(true));
            "active"
        }
        (true, false) => {
            doc.remove("active");
            "new"
        }
        (false, _) => {
            doc.insert("active".into(), json!(false));
            "inactive"
        }
    };
    let sap = object_at(doc, urn::SAP_USER);
    sap.insert("status".into(), json!(status));
    sap.insert("mailVerified".into(), json!(v.mail_verified));
    for (key, value) in [("validFrom", &v.valid_from), ("validTo", &v.valid_to)] {
        match value {
            Some(value) => sap.insert(key.into(), json!(value)),
            None => sap.remove(key),
        };
    }
    let custom = object_at(doc, urn::SAP_CUSTOM_USER);
    for (n, value) in v.custom.iter().enumerate() {
        let key = format!("customAttribute{}", n + 1);
        match value {
            Some(value) => custom.insert(key, json!(value)),
            None => custom.remove(&key),
        };
    }
    if custom.is_empty() {
        doc.remove(urn::SAP_CUSTOM_USER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn mandatory_columns_are_named_when_missing() {
        let err = AppColumns::from_header(&header(&["loginName", "mail"])).unwrap_err();
        assert_eq!(err, FileError::MissingColumns("status, lastName".into()));
    }

    #[test]
    fn a_new_row_becomes_a_new_user_with_status_new() {
        let cols = AppColumns::from_header(&header(&[
            "status",
            "loginName",
            "mail",
            "firstName",
            "lastName",
            "language",
            "validFrom",
            "userType",
            MAIL_VERIFIED,
            "spCustomAttribute2",
            "unknownColumn",
        ]))
        .unwrap();
        let state = TenantState::new("acme");
        let plan = cols
            .plan(
                &record(&[
                    "active",
                    "jdoe",
                    "j@x.org",
                    "John",
                    "Doe",
                    "deDE",
                    "20240101000000Z",
                    "employee",
                    "true",
                    "c2",
                    "ignored",
                ]),
                &state,
                &GroupNames::default(),
                &mut SeenKeys::default(),
            )
            .unwrap();
        assert_eq!(plan.target, Target::Create);
        let b = &plan.body;
        assert_eq!(b["userName"], "jdoe");
        assert_eq!(b["emails"][0]["value"], "j@x.org");
        assert_eq!(b["name"]["givenName"], "John");
        assert_eq!(b["locale"], "de-DE");
        assert_eq!(b["userType"], "employee");
        assert!(b.get("active").is_none());
        assert_eq!(b[urn::SAP_USER]["status"], "new");
        assert_eq!(b[urn::SAP_USER]["mailVerified"], true);
        assert_eq!(b[urn::SAP_USER]["validFrom"], "2024-01-01T00:00:00Z");
        assert_eq!(b[urn::SAP_CUSTOM_USER]["customAttribute2"], "c2");
    }

    #[test]
    fn each_rule_fails_the_row_naming_the_column() {
        let cols = AppColumns::from_header(&header(&[
            "status",
            "loginName",
            "mail",
            "lastName",
            "language",
            "validFrom",
            "validTo",
            "userType",
            MAIL_VERIFIED,
            "groups",
        ]))
        .unwrap();
        let state = TenantState::new("acme");
        let long = "x".repeat(65);
        let long_mail = format!("{long}@x.org");
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (
                vec!["enabled", "", "a@x.org", "D", "", "", "", "", "", ""],
                "status",
            ),
            (
                vec!["", "", "a@x.org", "D", "", "", "", "", "", ""],
                "status",
            ),
            (vec!["active", "", "", "D", "", "", "", "", "", ""], "mail"),
            (
                vec!["active", "", "nomail", "D", "", "", "", "", "", ""],
                "mail",
            ),
            (
                vec!["active", "", &long_mail, "D", "", "", "", "", "", ""],
                "mail",
            ),
            (
                vec!["active", &long, "a@x.org", "D", "", "", "", "", "", ""],
                "loginName",
            ),
            (
                vec!["active", "", "a@x.org", "", "", "", "", "", "", ""],
                "lastName",
            ),
            (
                vec!["active", "", "a@x.org", "D", "klingon", "", "", "", "", ""],
                "language",
            ),
            (
                vec![
                    "active",
                    "",
                    "a@x.org",
                    "D",
                    "",
                    "2024-01-01",
                    "",
                    "",
                    "",
                    "",
                ],
                "validFrom",
            ),
            (
                vec![
                    "active",
                    "",
                    "a@x.org",
                    "D",
                    "",
                    "20240102000000Z",
                    "20240101000000Z",
                    "",
                    "",
                    "",
                ],
                "validTo",
            ),
            (
                vec!["active", "", "a@x.org", "D", "", "", "", "Employee", "", ""],
                "userType",
            ),
            (
                vec!["active", "", "a@x.org", "D", "", "", "", "", "yes", ""],
                MAIL_VERIFIED,
            ),
            (
                vec!["active", "", "a@x.org", "D", "", "", "", "", "", "Nope"],
                "groups",
            ),
        ];
        for (cells, column) in cases {
            let err = cols
                .plan(
                    &record(&cells),
                    &state,
                    &GroupNames::default(),
                    &mut SeenKeys::default(),
                )
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
