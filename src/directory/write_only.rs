//! Write-only user attributes: the core `password` and the SAP extension's `sendMail`.
//!
//! idrelay does not authenticate end users, so a password a client sends is never stored; only
//! what SAP semantics need of it is kept: a password supplied on create sets the SAP extension's
//! `passwordDetails.status` to `initial` (spec/domain.md §2.4, v1 `passwordStatus` maps to it)
//! unless the client set a status itself. `sendMail` only matters at create and is never
//! returned, so it is not stored either.
//!
//! Invariants:
//! - After [`strip`] a user body holds no `password` (any spelling) and its SAP user extension
//!   (any spelling of the URN) no `sendMail`.
//! - [`mark_initial_password`] never overwrites a status the client gave.

use serde_json::{Map, Value};

use crate::scim::urn;

/// What [`strip`] removed that later steps need to know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stripped {
    /// A (non-null) `password` was supplied.
    pub password_given: bool,
}

/// Removes the write-only attributes from a user body.
pub fn strip(body: &mut Map<String, Value>) -> Stripped {
    let mut stripped = Stripped::default();
    body.retain(|key, value| {
        if key.eq_ignore_ascii_case("password") {
            stripped.password_given |= !value.is_null();
            return false;
        }
        true
    });
    for (key, value) in body.iter_mut() {
        if key.eq_ignore_ascii_case(urn::SAP_USER)
            && let Value::Object(ext) = value
        {
            ext.retain(|k, _| !k.eq_ignore_ascii_case("sendMail"));
        }
    }
    stripped
}

/// On create with a password: sets SAP `passwordDetails.status` to `initial` unless a status is
/// given. The extension is created under its canonical URN when absent (the caller lists it in
/// `schemas`, as it does for the legacy id it stamps into the same extension).
pub fn mark_initial_password(body: &mut Map<String, Value>) {
    let key = body
        .keys()
        .find(|k| k.eq_ignore_ascii_case(urn::SAP_USER))
        .cloned()
        .unwrap_or_else(|| urn::SAP_USER.to_string());
    let ext = body.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !ext.is_object() {
        *ext = Value::Object(Map::new());
    }
    let Value::Object(ext) = ext else {
        return;
    };
    let details_key = ext
        .keys()
        .find(|k| k.eq_ignore_ascii_case("passwordDetails"))
        .cloned()
        .unwrap_or_else(|| "passwordDetails".to_string());
    let details = ext
        .entry(details_key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !details.is_object() {
        *details = Value::Object(Map::new());
    }
    let Value::Object(details) = details else {
        return;
    };
    let has_status = details
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("status") && !v.is_null());
    if !has_status {
        details.retain(|k, _| !k.eq_ignore_ascii_case("status"));
        details.shift_insert(0, "status".into(), Value::String("initial".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn strip_removes_password_and_send_mail_in_any_spelling() {
        let mut body = obj(json!({
            "userName": "a",
            "Password": "s3cret",
            "urn:ietf:params:scim:schemas:extension:SAP:2.0:User": {"SendMail": true, "status": "new"}
        }));
        assert!(strip(&mut body).password_given);
        assert_eq!(
            Value::Object(body),
            json!({"userName": "a",
                   "urn:ietf:params:scim:schemas:extension:SAP:2.0:User": {"status": "new"}})
        );
        let mut none = obj(json!({"userName": "b", "password": null}));
        assert!(!strip(&mut none).password_given);
        assert_eq!(Value::Object(none), json!({"userName": "b"}));
    }

    #[test]
    fn initial_status_is_set_only_when_absent() {
        let mut body = obj(json!({"userName": "a"}));
        mark_initial_password(&mut body);
        assert_eq!(
            body[urn::SAP_USER],
            json!({"passwordDetails": {"status": "initial"}})
        );
        let mut given =
            obj(json!({urn::SAP_USER: {"passwordDetails": {"status": "enabled", "policy": "p"}}}));
        mark_initial_password(&mut given);
        assert_eq!(
            given[urn::SAP_USER]["passwordDetails"],
            json!({"status": "enabled", "policy": "p"})
        );
        let mut policy_only = obj(json!({urn::SAP_USER: {"passwordDetails": {"policy": "p"}}}));
        mark_initial_password(&mut policy_only);
        assert_eq!(
            policy_only[urn::SAP_USER]["passwordDetails"],
            json!({"status": "initial", "policy": "p"})
        );
    }
}
