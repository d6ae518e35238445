//! Group names of a tenant for the `groups` column of the application-level import: a group
//! is found by its custom-schema `name` (`urn:sap:cloud:scim:schemas:extension:custom:2.0:Group`)
//! or, failing that, by its `displayName`, case-insensitively.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::directory::Kind;
use crate::directory::state::TenantState;
use crate::scim::urn;

/// Group ids by lower-cased name.
#[derive(Debug, Default)]
pub struct GroupNames {
    by_name: HashMap<String, Arc<str>>,
}

impl GroupNames {
    pub fn of(state: &TenantState) -> GroupNames {
        let mut by_name = HashMap::new();
        let groups = state.of(Kind::Group);
        for (_, id) in groups.ordered(None) {
            let Some(entry) = groups.get(id) else {
                continue;
            };
            let body = entry.body_json();
            let custom = body
                .get(urn::SAP_CUSTOM_GROUP)
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str);
            let display = body.get("displayName").and_then(Value::as_str);
            // Display names first, so that a custom-schema name wins on a clash.
            for name in [display, custom].into_iter().flatten() {
                by_name.insert(name.to_lowercase(), id.clone());
            }
        }
        GroupNames { by_name }
    }

    pub fn id_of(&self, name: &str) -> Option<&Arc<str>> {
        self.by_name.get(&name.to_lowercase())
    }
}

/// The names of a `groups` cell: `"Managers, Employees, HR"` → three names.
pub fn split_names(cell: &str) -> Vec<&str> {
    cell.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_on_commas() {
        assert_eq!(
            split_names("Managers, Employees,HR, "),
            vec!["Managers", "Employees", "HR"]
        );
        assert!(split_names("").is_empty());
    }
}
