//! What source and target systems share in reconcile: checks of the common spec fields, the
//! resolution of outbound authentication from Secrets, the tenant lookup, and the uniqueness of
//! system names and ids within a tenant.
//!
//! Invariants: a resolution failure names the field and the Secret, never a value; names and
//! ids are claimed in precedence order (older resource first), so the later claimant is the one
//! that stalls.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::api::OutboundAuthentication;
use crate::api::SystemType;
use crate::api::conditions::{Health, reason};
use crate::api::refs::{is_dns1123_label, is_dns1123_subdomain, is_secret_key};
use crate::api::source_system::is_system_name;
use crate::runtime::OutboundAuth;

use super::ObjectKey;
use super::secrets::{SecretIndex, Unresolved};
use super::tenant::TenantsOutcome;
use super::transformation::{self, Role, Transformation};

/// Reason: the transformation does not parse; the message names the mapping.
pub const INVALID_TRANSFORMATION: &str = "InvalidTransformation";
/// Reason: the system is disabled (takes no part in provisioning).
pub const DISABLED: &str = "Disabled";

/// Checks the tenant reference and display name; the error names the field.
pub fn check_names(tenant: &str, display_name: &str) -> Result<(), String> {
    if !is_dns1123_label(tenant) {
        return Err(format!(
            "spec.tenantRef.name: {tenant:?} is not a valid tenant name"
        ));
    }
    if !is_system_name(display_name) {
        return Err(format!(
            "spec.displayName: {display_name:?} must be 1 to 100 characters of a-z A-Z 0-9 - _ . and space"
        ));
    }
    Ok(())
}

/// Checks that `url` is an absolute `http`/`https` URL with a host; the error names `field`.
pub fn check_url(field: &str, url: &str) -> Result<(), String> {
    let bad = || format!("{field}: {url:?} is not an absolute http(s) URL");
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => Err(bad()),
    }
}

/// Checks the shape of an authentication object at `field`: exactly one method, valid Secret
/// reference names and keys, an absolute token URL.
pub fn check_auth_shape(field: &str, auth: &OutboundAuthentication) -> Result<(), String> {
    let n = auth.method_count();
    if n != 1 {
        return Err(format!(
            "{field}: exactly one of basic, bearerToken, oauth, clientCertificate must be set ({n} are)"
        ));
    }
    if let Some(b) = &auth.basic
        && b.username.is_empty()
    {
        return Err(format!("{field}.basic.username: must not be empty"));
    }
    if let Some(o) = &auth.oauth {
        check_url(&format!("{field}.oauth.tokenUrl"), &o.token_url)?;
        if o.client_id.is_empty() {
            return Err(format!("{field}.oauth.clientId: must not be empty"));
        }
    }
    for (path, r) in auth.secret_refs() {
        if !is_dns1123_subdomain(&r.name) {
            return Err(format!(
                "{field}.{path}.name: {:?} is not a valid Secret name",
                r.name
            ));
        }
        if !is_secret_key(&r.key) {
            return Err(format!(
                "{field}.{path}.key: {:?} is not a valid Secret key",
                r.key
            ));
        }
    }
    Ok(())
}

/// Resolves the Secrets of a checked authentication object at `field` into credentials.
pub fn resolve_auth(
    field: &str,
    auth: &OutboundAuthentication,
    namespace: &str,
    secrets: &SecretIndex<'_>,
) -> Result<OutboundAuth, Unresolved> {
    let get = |path: &str, r: &crate::api::SecretKeyRef| {
        secrets
            .resolve(namespace, r)
            .map(|v| v.value)
            .map_err(|e| Unresolved {
                reason: e.reason,
                message: format!("{field}.{path}: {}", e.message),
            })
    };
    if let Some(b) = &auth.basic {
        return Ok(OutboundAuth::Basic {
            username: b.username.clone(),
            password: get("basic.passwordRef", &b.password_ref)?,
        });
    }
    if let Some(b) = &auth.bearer_token {
        return Ok(OutboundAuth::BearerToken {
            token: get("bearerToken.tokenRef", &b.token_ref)?,
        });
    }
    if let Some(o) = &auth.oauth {
        return Ok(OutboundAuth::OAuthClientCredentials {
            token_url: o.token_url.clone(),
            client_id: o.client_id.clone(),
            client_secret: get("oauth.clientSecretRef", &o.client_secret_ref)?,
        });
    }
    if let Some(c) = &auth.client_certificate {
        return Ok(OutboundAuth::ClientCertificate {
            certificate_pem: get("clientCertificate.certificateRef", &c.certificate_ref)?,
            private_key_pem: get("clientCertificate.privateKeyRef", &c.private_key_ref)?,
        });
    }
    Ok(OutboundAuth::None)
}

/// A system's properties with their defaults, its API version and its (shared) transformation.
pub type SystemSettings = (BTreeMap<String, String>, u8, Arc<Transformation>);

/// A system's properties with their defaults, its API version and its transformation (the
/// spec's own, else the default for `role` and `system_type`); the error is the Stalled health
/// naming the field.
pub fn properties_and_transformation(
    role: Role,
    system_type: SystemType,
    properties: &BTreeMap<String, String>,
    transformation: Option<&str>,
) -> Result<SystemSettings, Health> {
    let (properties, api_version) = super::properties::with_defaults(role, system_type, properties)
        .map_err(|m| Health::stalled(reason::INVALID_SPEC, m))?;
    let transformation = match transformation {
        Some(text) => Arc::new(transformation::parse(text).map_err(|m| {
            Health::stalled(INVALID_TRANSFORMATION, format!("spec.transformation: {m}"))
        })?),
        None => transformation::default_for(role, system_type, api_version).map_err(|m| {
            Health::stalled(
                INVALID_TRANSFORMATION,
                format!("default transformation: {m}"),
            )
        })?,
    };
    Ok((properties, api_version, transformation))
}

/// `Err(health)` unless `tenant` is an accepted Tenant in `key`'s namespace (transient).
pub fn check_tenant(key: &ObjectKey, tenant: &str, tenants: &TenantsOutcome) -> Result<(), Health> {
    if tenants
        .accepted
        .get(tenant)
        .is_some_and(|ns| *ns == key.namespace)
    {
        return Ok(());
    }
    if tenants
        .known
        .contains(&ObjectKey::new(key.namespace.clone(), tenant))
    {
        Err(Health::progressing(
            reason::TENANT_NOT_READY,
            format!("Tenant {}/{tenant} is not Ready", key.namespace),
        ))
    } else {
        Err(Health::progressing(
            reason::TENANT_NOT_FOUND,
            format!(
                "spec.tenantRef.name: Tenant {tenant:?} not found in namespace {:?}",
                key.namespace
            ),
        ))
    }
}

/// Claims of display names and ids within each tenant, for one kind of system.
#[derive(Debug, Default)]
pub struct Claims {
    names: BTreeMap<(String, String), ObjectKey>,
    ids: BTreeMap<(String, String), ObjectKey>,
}

impl Claims {
    /// Checks that neither `display_name` nor `id` is claimed in `tenant` by another resource.
    pub fn check(
        &self,
        kind: &str,
        tenant: &str,
        display_name: &str,
        id: &str,
    ) -> Result<(), Health> {
        if let Some(owner) = self
            .names
            .get(&(tenant.to_owned(), display_name.to_owned()))
        {
            return Err(Health::stalled(
                reason::NAME_CONFLICT,
                format!(
                    "spec.displayName: {kind} {owner} of tenant {tenant:?} already has the name {display_name:?}"
                ),
            ));
        }
        if let Some(owner) = self.ids.get(&(tenant.to_owned(), id.to_owned())) {
            return Err(Health::stalled(
                reason::INVALID_SPEC,
                format!(
                    "spec.systemId: {kind} {owner} of tenant {tenant:?} already has the id {id}"
                ),
            ));
        }
        Ok(())
    }

    /// Records `key` as the owner of `display_name` and `id` in `tenant`.
    pub fn claim(&mut self, tenant: &str, display_name: &str, id: &str, key: &ObjectKey) {
        self.names
            .insert((tenant.to_owned(), display_name.to_owned()), key.clone());
        self.ids
            .insert((tenant.to_owned(), id.to_owned()), key.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BasicAuth, BearerTokenAuth, SecretKeyRef};
    use crate::reconcile::test_support::secret;

    fn r(name: &str, key: &str) -> SecretKeyRef {
        SecretKeyRef {
            name: name.into(),
            key: key.into(),
        }
    }

    #[test]
    fn urls() {
        assert!(check_url("spec.url", "https://127.0.0.1:8443/tenants/apps/scim").is_ok());
        assert!(check_url("spec.url", "http://x/scim").is_ok());
        assert!(check_url("spec.url", "ftp://x").is_err());
        assert_eq!(
            check_url("spec.url", "/scim").unwrap_err(),
            "spec.url: \"/scim\" is not an absolute http(s) URL"
        );
    }

    #[test]
    fn auth_shape_and_resolution() {
        let mut a = OutboundAuthentication::default();
        assert!(
            check_auth_shape("spec.authentication", &a)
                .unwrap_err()
                .contains("(0 are)")
        );
        a.basic = Some(BasicAuth {
            username: "u".into(),
            password_ref: r("s", "pw"),
        });
        check_auth_shape("spec.authentication", &a).unwrap();
        let secrets = [secret("default", "s", "pw", "hunter2")];
        let idx = SecretIndex::new(&secrets);
        assert_eq!(
            resolve_auth("spec.authentication", &a, "default", &idx).unwrap(),
            OutboundAuth::Basic {
                username: "u".into(),
                password: "hunter2".into()
            }
        );
        a.bearer_token = Some(BearerTokenAuth {
            token_ref: r("s", "tok"),
        });
        assert!(check_auth_shape("spec.authentication", &a).is_err());
        a.basic = None;
        let e = resolve_auth("spec.authentication", &a, "default", &idx).unwrap_err();
        assert_eq!(e.reason, reason::SECRET_KEY_NOT_FOUND);
        assert!(
            e.message
                .starts_with("spec.authentication.bearerToken.tokenRef: Secret default/s"),
            "{}",
            e.message
        );
        a.bearer_token = Some(BearerTokenAuth {
            token_ref: r("Bad_Name", "k"),
        });
        assert!(
            check_auth_shape("spec.authentication", &a)
                .unwrap_err()
                .starts_with("spec.authentication.bearerToken.tokenRef.name")
        );
    }

    #[test]
    fn claims_detect_duplicates() {
        let mut c = Claims::default();
        let a = ObjectKey::new("default", "a");
        c.check("SourceSystem", "acme", "IAS", "1").unwrap();
        c.claim("acme", "IAS", "1", &a);
        assert!(matches!(
            c.check("SourceSystem", "acme", "IAS", "2"),
            Err(Health::Stalled { reason, .. }) if reason == "NameConflict"
        ));
        assert!(c.check("SourceSystem", "acme", "Other", "1").is_err());
        assert!(c.check("SourceSystem", "beta", "IAS", "1").is_ok());
    }
}
