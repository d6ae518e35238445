//! Stable identities: the client id and user id of technical admins and the ids of source and
//! target systems, used when the spec does not set them, and the checks for values the spec
//! does set.
//!
//! Invariant: derivation depends only on the resource's namespace and name (and, for admins, its
//! tenant), so the same resource gets the same ids after a restart or on another replica (UUID v5
//! under a fixed idrelay namespace UUID).

use uuid::Uuid;

/// The fixed namespace UUID of idrelay's derived ids: UUID v5 of the DNS name `idrelay.dev`.
pub fn idrelay_namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"idrelay.dev")
}

/// Client id used when `spec.clientId` is absent: UUID v5 of `namespace/tenant/name`.
pub fn derived_client_id(namespace: &str, tenant: &str, name: &str) -> String {
    Uuid::new_v5(
        &idrelay_namespace(),
        format!("{namespace}/{tenant}/{name}").as_bytes(),
    )
    .to_string()
}

/// User id used when `spec.userId` is absent: UUID v5 of `namespace/tenant/name/user`.
pub fn derived_user_id(namespace: &str, tenant: &str, name: &str) -> String {
    Uuid::new_v5(
        &idrelay_namespace(),
        format!("{namespace}/{tenant}/{name}/user").as_bytes(),
    )
    .to_string()
}

/// Source system id used when `spec.systemId` is absent: UUID v5 of `namespace/name`.
pub fn derived_source_system_id(namespace: &str, name: &str) -> String {
    Uuid::new_v5(
        &idrelay_namespace(),
        format!("{namespace}/{name}").as_bytes(),
    )
    .to_string()
}

/// Target system id: UUID v5 of `namespace/name/target` (distinct from a source of the same name).
pub fn derived_target_system_id(namespace: &str, name: &str) -> String {
    Uuid::new_v5(
        &idrelay_namespace(),
        format!("{namespace}/{name}/target").as_bytes(),
    )
    .to_string()
}

/// A system id from the spec in canonical form (lower-case hyphenated UUID), or why it is invalid.
pub fn parse_system_id(value: &str) -> Result<String, String> {
    parse_client_id(value)
}

/// A client id from the spec in canonical form (lower-case hyphenated UUID), or why it is invalid.
pub fn parse_client_id(value: &str) -> Result<String, String> {
    Uuid::try_parse(value)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| format!("{value:?} is not a UUID"))
}

/// A user id from the spec: a UUID (canonical form), or an SAP T-user id (`T` and 6-10 digits).
pub fn parse_user_id(value: &str) -> Result<String, String> {
    if let Ok(u) = Uuid::try_parse(value) {
        return Ok(u.hyphenated().to_string());
    }
    let digits = value.strip_prefix('T').unwrap_or("");
    if (6..=10).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(value.to_owned());
    }
    Err(format!(
        "{value:?} is neither a UUID nor a T-user id (T followed by 6-10 digits)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = derived_client_id("default", "acme", "admin");
        assert_eq!(a, derived_client_id("default", "acme", "admin"));
        assert_ne!(a, derived_client_id("other", "acme", "admin"));
        assert_ne!(a, derived_user_id("default", "acme", "admin"));
        assert_eq!(Uuid::parse_str(&a).unwrap().get_version_num(), 5);
        let s = derived_source_system_id("default", "ias");
        assert_eq!(
            s,
            Uuid::new_v5(&idrelay_namespace(), b"default/ias").to_string()
        );
        assert_ne!(s, derived_target_system_id("default", "ias"));
    }

    #[test]
    fn parse_ids() {
        assert_eq!(
            parse_client_id("1AB7C243-5DE5-4530-8A14-1234A26373AB").unwrap(),
            "1ab7c243-5de5-4530-8a14-1234a26373ab"
        );
        assert!(parse_client_id("1ab7c243-5de5-4530-8g14-1234h26373ab").is_err());
        assert_eq!(parse_user_id("T000003").unwrap(), "T000003");
        assert!(parse_user_id("T12").is_err());
        assert!(parse_user_id("bob").is_err());
    }
}
