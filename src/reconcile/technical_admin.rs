//! Reconcile of `TechnicalAdmin`s: spec validation, tenant lookup, client-id uniqueness per
//! tenant, secret resolution and expiry, the admin part of the runtime configuration, and status.
//!
//! Outcomes (kstatus, architecture §6):
//! - invalid spec (bad client/user id, more than 2 secrets, no permission, duplicate client id in
//!   the tenant) → `Ready=False`, `Stalled=True`, reason `InvalidSpec`, message naming the field;
//!   the admin is left out of the configuration;
//! - tenant missing or not Ready → `Ready=False`, `Reconciling=True` (`TenantNotFound`,
//!   `TenantNotReady`);
//! - a Secret or key missing → `SecretResolved=False` and `Ready=False`, `Reconciling=True`
//!   (`SecretNotFound`, `SecretKeyNotFound`); the admin still logs on with its resolved secrets,
//!   so rotating one secret never locks it out;
//! - otherwise `Ready=True`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::conditions::{
    FALSE, Health, SECRET_RESOLVED, TRUE, condition, merge_conditions, reason,
};
use crate::api::refs::{is_dns1123_label, is_dns1123_subdomain, is_secret_key};
use crate::api::technical_admin::MAX_SECRETS;
use crate::api::{AdminSecretStatus, TechnicalAdmin, TechnicalAdminStatus};
use crate::runtime::{AdminConfig, AdminSecret};

use super::identity::{derived_client_id, derived_user_id, parse_client_id, parse_user_id};
use super::secrets::{SecretIndex, expires_at};
use super::tenant::TenantsOutcome;
use super::{ObjectKey, precedence};

/// The result of reconciling all TechnicalAdmins.
#[derive(Debug, Default)]
pub struct AdminsOutcome {
    /// Accepted admins with the tenant name they belong to.
    pub accepted: Vec<(String, AdminConfig)>,
    pub statuses: BTreeMap<ObjectKey, TechnicalAdminStatus>,
}

/// The effective ids of a valid spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub client_id: String,
    pub user_id: String,
}

/// Validates an admin on its own and computes its effective ids; the error names the field.
pub fn validate(admin: &TechnicalAdmin, key: &ObjectKey) -> Result<Ids, String> {
    let spec = &admin.spec;
    let tenant = spec.tenant_ref.name.as_str();
    if !is_dns1123_label(tenant) {
        return Err(format!(
            "spec.tenantRef.name: {tenant:?} is not a valid tenant name"
        ));
    }
    if spec.display_name.trim().is_empty() {
        return Err("spec.displayName: must not be empty".to_owned());
    }
    if spec.display_name.chars().count() > 256 {
        return Err("spec.displayName: at most 256 characters".to_owned());
    }
    if spec.permissions.is_empty() {
        return Err("spec.permissions: at least one permission is required".to_owned());
    }
    if spec.secrets.len() > MAX_SECRETS {
        return Err(format!(
            "spec.secrets[{MAX_SECRETS}]: at most {MAX_SECRETS} secrets"
        ));
    }
    let mut refs = BTreeSet::new();
    for (i, s) in spec.secrets.iter().enumerate() {
        if !is_dns1123_subdomain(&s.secret_ref.name) {
            return Err(format!(
                "spec.secrets[{i}].secretRef.name: {:?} is not a valid Secret name",
                s.secret_ref.name
            ));
        }
        if !is_secret_key(&s.secret_ref.key) {
            return Err(format!(
                "spec.secrets[{i}].secretRef.key: {:?} is not a valid Secret key",
                s.secret_ref.key
            ));
        }
        if !refs.insert(&s.secret_ref) {
            return Err(format!(
                "spec.secrets[{i}].secretRef: the same Secret key is listed twice"
            ));
        }
    }
    let client_id = match &spec.client_id {
        Some(v) => parse_client_id(v).map_err(|m| format!("spec.clientId: {m}"))?,
        None => derived_client_id(&key.namespace, tenant, &key.name),
    };
    let user_id = match &spec.user_id {
        Some(v) => parse_user_id(v).map_err(|m| format!("spec.userId: {m}"))?,
        None => derived_user_id(&key.namespace, tenant, &key.name),
    };
    Ok(Ids { client_id, user_id })
}

/// Reconciles every TechnicalAdmin against the accepted tenants and the Secrets.
pub fn reconcile_admins(
    admins: &[TechnicalAdmin],
    tenants: &TenantsOutcome,
    secrets: &SecretIndex<'_>,
    now: jiff::Timestamp,
) -> AdminsOutcome {
    let mut ordered: Vec<&TechnicalAdmin> = admins.iter().collect();
    ordered.sort_by_key(|a| precedence(&a.metadata));
    let mut out = AdminsOutcome::default();
    // (tenant, client id) -> owner
    let mut client_owner: BTreeMap<(String, String), ObjectKey> = BTreeMap::new();
    for admin in ordered {
        let key = ObjectKey::of(&admin.metadata);
        let (status, accepted) =
            reconcile_one(admin, &key, tenants, secrets, &mut client_owner, now);
        if let Some(a) = accepted {
            out.accepted.push((admin.spec.tenant_ref.name.clone(), a));
        }
        out.statuses.insert(key, status);
    }
    out
}

fn reconcile_one(
    admin: &TechnicalAdmin,
    key: &ObjectKey,
    tenants: &TenantsOutcome,
    secrets: &SecretIndex<'_>,
    client_owner: &mut BTreeMap<(String, String), ObjectKey>,
    now: jiff::Timestamp,
) -> (TechnicalAdminStatus, Option<AdminConfig>) {
    let generation = admin.metadata.generation;
    let previous = admin.status.clone().unwrap_or_default();
    let tenant = admin.spec.tenant_ref.name.clone();
    let finish =
        |health: Health, ids: Option<&Ids>, extra: Vec<_>, secrets: Vec<AdminSecretStatus>| {
            let mut desired = health.conditions(generation, now);
            desired.extend(extra);
            TechnicalAdminStatus {
                observed_generation: generation,
                conditions: merge_conditions(&previous.conditions, desired),
                client_id: ids.map(|i| i.client_id.clone()),
                user_id: ids.map(|i| i.user_id.clone()),
                secrets,
            }
        };

    let ids = match validate(admin, key) {
        Ok(ids) => ids,
        Err(m) => {
            return (
                finish(
                    Health::stalled(reason::INVALID_SPEC, m),
                    None,
                    vec![],
                    vec![],
                ),
                None,
            );
        }
    };

    // Secrets are resolved whatever the tenant's state, so SecretResolved is always accurate.
    let mut resolved = Vec::new();
    let mut secret_statuses = Vec::new();
    let mut first_failure = None;
    for (i, s) in admin.spec.secrets.iter().enumerate() {
        let prior = previous
            .secrets
            .iter()
            .find(|p| p.secret_ref == s.secret_ref);
        match secrets.resolve(&key.namespace, &s.secret_ref) {
            Ok(r) => {
                let valid_from = r
                    .created
                    .or_else(|| prior.and_then(|p| p.valid_from.as_ref().map(|t| t.0)))
                    .unwrap_or(now);
                let expires = expires_at(valid_from, s.expires_in);
                secret_statuses.push(AdminSecretStatus {
                    secret_ref: s.secret_ref.clone(),
                    resolved: true,
                    valid_from: Some(Time(valid_from)),
                    expires_at: expires.map(Time),
                });
                resolved.push(AdminSecret {
                    value: r.value,
                    expires_at: expires,
                });
            }
            Err(e) => {
                secret_statuses.push(AdminSecretStatus {
                    secret_ref: s.secret_ref.clone(),
                    resolved: false,
                    valid_from: None,
                    expires_at: None,
                });
                first_failure
                    .get_or_insert((e.reason, format!("spec.secrets[{i}]: {}", e.message)));
            }
        }
    }
    let secret_condition = match &first_failure {
        Some((r, m)) => condition(SECRET_RESOLVED, FALSE, r, m.clone(), generation, now),
        None if admin.spec.secrets.is_empty() => condition(
            SECRET_RESOLVED,
            TRUE,
            reason::NO_SECRETS,
            "no secrets configured: the admin cannot log on with a secret",
            generation,
            now,
        ),
        None => condition(
            SECRET_RESOLVED,
            TRUE,
            reason::SECRET_RESOLVED,
            format!(
                "{} of {} secrets resolved",
                resolved.len(),
                admin.spec.secrets.len()
            ),
            generation,
            now,
        ),
    };

    let tenant_here = tenants
        .accepted
        .get(&tenant)
        .is_some_and(|ns| *ns == key.namespace);
    let health = if !tenant_here {
        if tenants
            .known
            .contains(&ObjectKey::new(key.namespace.clone(), tenant.clone()))
        {
            Health::progressing(
                reason::TENANT_NOT_READY,
                format!("Tenant {}/{tenant} is not Ready", key.namespace),
            )
        } else {
            Health::progressing(
                reason::TENANT_NOT_FOUND,
                format!(
                    "spec.tenantRef.name: Tenant {tenant:?} not found in namespace {:?}",
                    key.namespace
                ),
            )
        }
    } else if let Some(owner) = client_owner.get(&(tenant.clone(), ids.client_id.clone())) {
        Health::stalled(
            reason::INVALID_SPEC,
            format!(
                "spec.clientId: client id {} is already used by TechnicalAdmin {owner} in tenant {tenant:?}",
                ids.client_id
            ),
        )
    } else if let Some((r, m)) = &first_failure {
        Health::progressing(r, m.clone())
    } else {
        Health::ready(format!(
            "client id {} can log on to tenant {tenant:?}",
            ids.client_id
        ))
    };

    let accepted = tenant_here && !matches!(health, Health::Stalled { .. });
    let config = accepted.then(|| {
        client_owner.insert((tenant.clone(), ids.client_id.clone()), key.clone());
        AdminConfig {
            resource: key.to_string(),
            display_name: admin.spec.display_name.clone(),
            client_id: ids.client_id.clone(),
            user_id: ids.user_id.clone(),
            permissions: admin.spec.permissions.iter().copied().collect(),
            secrets: resolved,
            lock_after_failed_logons: admin.spec.lock_on_failed_logons,
        }
    });
    (
        finish(health, Some(&ids), vec![secret_condition], secret_statuses),
        config,
    )
}

#[cfg(test)]
mod tests {
    use crate::api::conditions::{
        READY, RECONCILING, SECRET_RESOLVED, STALLED, find_condition, reason,
    };
    use crate::api::*;
    use crate::reconcile::test_support::*;
    use crate::reconcile::{ObjectKey, Outcome, Resources, reconcile};
    use k8s_openapi::api::core::v1::Secret;

    fn run(tenants: &[Tenant], admins: &[TechnicalAdmin], secrets: &[Secret], now: i64) -> Outcome {
        reconcile(
            Resources {
                tenants,
                technical_admins: admins,
                secrets,
                source_systems: &[],
                target_systems: &[],
                observations: crate::reconcile::Observations::none(),
            },
            t(now),
        )
    }

    fn cond<'a>(
        out: &'a Outcome,
        name: &str,
        type_: &str,
    ) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
        find_condition(
            &out.technical_admins[&ObjectKey::new("default", name)].conditions,
            type_,
        )
    }

    #[test]
    fn ready_admin_reaches_the_config() {
        let out = run(
            &[tenant("default", "acme", &[])],
            &[admin("default", "a", "acme", Some(("s", "k")))],
            &[secret("default", "s", "k", "pw")],
            1,
        );
        assert_eq!(cond(&out, "a", READY).unwrap().status, "True");
        assert_eq!(cond(&out, "a", SECRET_RESOLVED).unwrap().status, "True");
        assert!(cond(&out, "a", RECONCILING).is_none() && cond(&out, "a", STALLED).is_none());
        let admins = &out.config.tenants["acme"].admins;
        assert_eq!(admins.len(), 1);
        let a = admins.values().next().unwrap();
        assert_eq!(a.secrets[0].value, "pw");
        assert_eq!(a.resource, "default/a");
        let st = &out.technical_admins[&ObjectKey::new("default", "a")];
        assert_eq!(st.client_id.as_deref(), Some(a.client_id.as_str()));
        assert!(!format!("{st:?}").contains("pw"));
    }

    #[test]
    fn missing_tenant_is_transient() {
        let out = run(&[], &[admin("default", "a", "acme", None)], &[], 1);
        let ready = cond(&out, "a", READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reason::TENANT_NOT_FOUND)
        );
        assert_eq!(cond(&out, "a", RECONCILING).unwrap().status, "True");
        assert!(cond(&out, "a", STALLED).is_none());
        assert!(out.config.tenants.is_empty());
    }

    #[test]
    fn tenant_in_other_namespace_is_not_found() {
        let out = run(
            &[tenant("other", "acme", &[])],
            &[admin("default", "a", "acme", None)],
            &[],
            1,
        );
        assert_eq!(
            cond(&out, "a", READY).unwrap().reason,
            reason::TENANT_NOT_FOUND
        );
    }

    #[test]
    fn missing_secret_and_key_are_transient_and_named() {
        let tenants = [tenant("default", "acme", &[])];
        let out = run(
            &tenants,
            &[admin("default", "a", "acme", Some(("s", "k")))],
            &[],
            1,
        );
        let sr = cond(&out, "a", SECRET_RESOLVED).unwrap();
        assert_eq!(
            (sr.status.as_str(), sr.reason.as_str()),
            ("False", reason::SECRET_NOT_FOUND)
        );
        assert_eq!(sr.message, "spec.secrets[0]: Secret default/s not found");
        assert_eq!(cond(&out, "a", RECONCILING).unwrap().status, "True");

        let out = run(
            &tenants,
            &[admin("default", "a", "acme", Some(("s", "k")))],
            &[secret("default", "s", "other", "x")],
            1,
        );
        assert_eq!(
            cond(&out, "a", SECRET_RESOLVED).unwrap().reason,
            reason::SECRET_KEY_NOT_FOUND
        );
        assert_eq!(
            cond(&out, "a", READY).unwrap().reason,
            reason::SECRET_KEY_NOT_FOUND
        );
        // Still configured (no secrets) so a partial rotation never locks the admin out.
        let admins = &out.config.tenants["acme"].admins;
        assert_eq!(admins.len(), 1);
        assert!(admins.values().all(|a| a.secrets.is_empty()));
    }

    fn assert_invalid(a: TechnicalAdmin, field_message: &str) {
        let out = run(&[tenant("default", "acme", &[])], &[a], &[], 1);
        let ready = cond(&out, "a", READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reason::INVALID_SPEC)
        );
        assert!(
            ready.message.starts_with(field_message),
            "{}",
            ready.message
        );
        assert_eq!(cond(&out, "a", STALLED).unwrap().status, "True");
        assert!(cond(&out, "a", RECONCILING).is_none());
        assert!(out.config.tenants["acme"].admins.is_empty());
    }

    #[test]
    fn invalid_specs_stall_with_the_field() {
        let mut a = admin("default", "a", "acme", None);
        a.spec.client_id = Some("not-a-uuid".into());
        assert_invalid(a, "spec.clientId:");

        let mut a = admin("default", "a", "acme", None);
        let s = AdminSecretSpec {
            secret_ref: SecretKeyRef {
                name: "s".into(),
                key: "k".into(),
            },
            expires_in: SecretExpiry::Never,
            description: None,
        };
        a.spec.secrets = (0..3)
            .map(|i| AdminSecretSpec {
                secret_ref: SecretKeyRef {
                    name: format!("s{i}"),
                    key: "k".into(),
                },
                ..s.clone()
            })
            .collect();
        assert_invalid(a, "spec.secrets[2]: at most 2 secrets");

        let mut a = admin("default", "a", "acme", None);
        a.spec.permissions.clear();
        assert_invalid(a, "spec.permissions:");

        let mut a = admin("default", "a", "acme", None);
        a.spec.user_id = Some("bob".into());
        assert_invalid(a, "spec.userId:");
    }

    #[test]
    fn duplicate_client_id_in_a_tenant_stalls_the_newer() {
        let id = "1ab7c243-5de5-4530-8a14-1234a26373ab";
        let mut a = admin("default", "a", "acme", None);
        a.spec.client_id = Some(id.into());
        let mut b = admin("default", "b", "acme", None);
        b.spec.client_id = Some(id.to_uppercase());
        b.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(300)));
        let out = run(&[tenant("default", "acme", &[])], &[b, a], &[], 1);
        assert_eq!(cond(&out, "a", READY).unwrap().status, "True");
        let ready = cond(&out, "b", READY).unwrap();
        assert_eq!(ready.reason, reason::INVALID_SPEC);
        assert!(
            ready
                .message
                .starts_with("spec.clientId: client id 1ab7c243"),
            "{}",
            ready.message
        );
        assert_eq!(cond(&out, "b", STALLED).unwrap().status, "True");
        assert_eq!(out.config.tenants["acme"].admins[id].resource, "default/a");
    }

    fn with_previous(tenants: &mut [Tenant], admins: &mut [TechnicalAdmin], out: &Outcome) {
        for t in tenants {
            t.status = out.tenants.get(&ObjectKey::of(&t.metadata)).cloned();
        }
        for a in admins {
            a.status = out
                .technical_admins
                .get(&ObjectKey::of(&a.metadata))
                .cloned();
        }
    }

    #[test]
    fn noop_pass_yields_identical_status_and_keeps_times() {
        let mut tenants = [tenant("default", "acme", &[])];
        let mut a = admin("default", "a", "acme", Some(("s", "k")));
        a.spec.secrets[0].expires_in = SecretExpiry::OneYear;
        let mut admins = [a];
        let secrets = [secret("default", "s", "k", "pw")];
        let first = run(&tenants, &admins, &secrets, 1000);
        with_previous(&mut tenants, &mut admins, &first);
        let second = run(&tenants, &admins, &secrets, 5000);
        assert_eq!(first, second);
        let st = &second.technical_admins[&ObjectKey::new("default", "a")];
        assert_eq!(st.secrets[0].valid_from.as_ref().unwrap().0, t(1000));
        assert!(st.secrets[0].expires_at.is_some());

        // A spec change bumps generation: observedGeneration moves, Ready keeps its transition time.
        admins[0].metadata.generation = Some(2);
        admins[0].spec.permissions.push(Permission::ManageGroups);
        let third = run(&tenants, &admins, &secrets, 9000);
        let ready = cond(&third, "a", READY).unwrap();
        assert_eq!(ready.observed_generation, Some(2));
        assert_eq!(ready.last_transition_time.0, t(1000));
        assert_eq!(
            third.technical_admins[&ObjectKey::new("default", "a")].observed_generation,
            Some(2)
        );
    }

    #[test]
    fn expiry_counts_from_secret_creation_when_known() {
        let mut s = secret("default", "s", "k", "pw");
        s.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2025-01-01T00:00:00Z".parse().unwrap(),
        ));
        let mut a = admin("default", "a", "acme", Some(("s", "k")));
        a.spec.secrets[0].expires_in = SecretExpiry::TwoYears;
        let out = run(&[tenant("default", "acme", &[])], &[a], &[s], 1);
        let admin = out.config.tenants["acme"].admins.values().next().unwrap();
        assert_eq!(
            admin.secrets[0].expires_at.unwrap().to_string(),
            "2027-01-01T00:00:00Z"
        );
    }
}
