//! Reconcile of `Tenant`s: validation, name and host uniqueness, the tenant part of the runtime
//! configuration, and each Tenant's status.
//!
//! Invariant: a tenant name and a host name each map to at most one accepted Tenant; the later
//! claimant (see [`super::precedence`]) is `Stalled` and left out of the configuration. Only an
//! accepted Tenant publishes its CA certificate ([`publish_ca_certificates`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::api::conditions::{Health, READY, is_condition_true, merge_conditions, reason};
use crate::api::refs::{is_dns1123_label, is_dns1123_subdomain};
use crate::api::{Tenant, TenantStatus};
use crate::runtime::{RuntimeConfig, TenantConfig};

use super::{ObjectKey, precedence};

/// The result of reconciling all Tenants.
#[derive(Debug, Default)]
pub struct TenantsOutcome {
    /// Accepted tenants (without admins yet).
    pub config: RuntimeConfig,
    /// Namespace of each accepted tenant, by tenant name.
    pub accepted: BTreeMap<String, String>,
    /// Every Tenant resource (accepted or not), so that admins can tell "not found" from "not ready".
    pub known: BTreeSet<ObjectKey>,
    pub statuses: BTreeMap<ObjectKey, TenantStatus>,
}

/// Validates a Tenant on its own; the error names the field.
pub fn validate(tenant: &Tenant) -> Result<(), String> {
    let name = tenant.metadata.name.as_deref().unwrap_or_default();
    if !is_dns1123_label(name) {
        return Err(format!(
            "metadata.name: {name:?} is not a valid tenant name (lower-case letters, digits and '-', at most 63)"
        ));
    }
    if let Some(d) = &tenant.spec.display_name
        && d.trim().is_empty()
    {
        return Err("spec.displayName: must not be empty when set".to_owned());
    }
    if tenant.spec.real_time_rate_limit == Some(0) {
        return Err("spec.realTimeRateLimit: must be at least 1 request per second".to_owned());
    }
    let mut seen = BTreeSet::new();
    for (i, host) in tenant.spec.hosts.iter().enumerate() {
        if !is_dns1123_subdomain(host) {
            return Err(format!(
                "spec.hosts[{i}]: {host:?} is not a valid host name (lower-case DNS name, no port)"
            ));
        }
        if !seen.insert(host.as_str()) {
            return Err(format!("spec.hosts[{i}]: duplicate host {host:?}"));
        }
    }
    Ok(())
}

/// Reconciles every Tenant.
pub fn reconcile_tenants(tenants: &[Tenant], now: jiff::Timestamp) -> TenantsOutcome {
    let mut ordered: Vec<&Tenant> = tenants.iter().collect();
    ordered.sort_by_key(|t| precedence(&t.metadata));
    let mut out = TenantsOutcome::default();
    let mut host_owner: BTreeMap<&str, &str> = BTreeMap::new();
    for tenant in ordered {
        let key = ObjectKey::of(&tenant.metadata);
        out.known.insert(key.clone());
        let health = match check(tenant, &key, &out.accepted, &host_owner) {
            Err(health) => health,
            Ok(()) => {
                for host in &tenant.spec.hosts {
                    host_owner.insert(host, tenant.metadata.name.as_deref().unwrap_or_default());
                }
                out.accepted.insert(key.name.clone(), key.namespace.clone());
                out.config.tenants.insert(
                    key.name.clone(),
                    TenantConfig {
                        name: key.name.clone(),
                        hosts: tenant.spec.hosts.clone(),
                        realtime_rate_per_second: tenant
                            .spec
                            .real_time_rate_limit
                            .unwrap_or(crate::api::tenant::DEFAULT_REAL_TIME_RATE_LIMIT),
                        ..TenantConfig::default()
                    },
                );
                Health::ready(format!("tenant is served under /tenants/{}", key.name))
            }
        };
        let generation = tenant.metadata.generation;
        let previous = tenant
            .status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default();
        let status = TenantStatus {
            observed_generation: generation,
            conditions: merge_conditions(previous, health.conditions(generation, now)),
            ca_certificate: None,
        };
        out.statuses.insert(key, status);
    }
    out
}

/// Publishes the CA certificate of every Ready tenant in its status (`status.caCertificate`);
/// other tenants publish none. `ca_pems` maps tenant names to their CA certificate PEM: the
/// driver reads them, after [`super::reconcile`], for the names in `outcome.config.tenants` from
/// `auth::certificates::TenantCas::get(name)?.cert_pem()` (which may create and persist a CA: I/O,
/// so it cannot happen in here), then calls this on `outcome.tenants`.
pub fn publish_ca_certificates(
    statuses: &mut BTreeMap<ObjectKey, TenantStatus>,
    ca_pems: &BTreeMap<String, String>,
) {
    for (key, status) in statuses {
        let ready = is_condition_true(&status.conditions, READY);
        status.ca_certificate = ca_pems.get(&key.name).filter(|_| ready).cloned();
    }
}

fn check(
    tenant: &Tenant,
    key: &ObjectKey,
    accepted: &BTreeMap<String, String>,
    host_owner: &BTreeMap<&str, &str>,
) -> Result<(), Health> {
    validate(tenant).map_err(|m| Health::stalled(reason::INVALID_SPEC, m))?;
    if let Some(ns) = accepted.get(&key.name) {
        return Err(Health::stalled(
            reason::NAME_CONFLICT,
            format!(
                "metadata.name: tenant {:?} is already defined in namespace {ns:?}",
                key.name
            ),
        ));
    }
    for (i, host) in tenant.spec.hosts.iter().enumerate() {
        if let Some(owner) = host_owner.get(host.as_str()) {
            return Err(Health::stalled(
                reason::INVALID_SPEC,
                format!("spec.hosts[{i}]: host {host:?} is already served by tenant {owner:?}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::conditions::{STALLED, find_condition};
    use crate::reconcile::test_support::*;

    #[test]
    fn only_accepted_tenants_publish_their_ca_certificate() {
        let mut newer = tenant("other", "acme", &[]);
        newer.metadata = meta("other", "acme", 1, 500);
        let tenants = [
            tenant("default", "acme", &[]),
            newer,
            tenant("default", "beta", &[]),
        ];
        let mut out = reconcile_tenants(&tenants, t(9));
        assert!(out.statuses.values().all(|s| s.ca_certificate.is_none()));
        let pems = BTreeMap::from([(
            "acme".to_owned(),
            "-----BEGIN CERTIFICATE-----\n".to_owned(),
        )]);
        publish_ca_certificates(&mut out.statuses, &pems);
        let ca = |ns: &str, name: &str| {
            out.statuses[&ObjectKey::new(ns, name)]
                .ca_certificate
                .clone()
        };
        assert_eq!(
            ca("default", "acme").as_deref(),
            Some("-----BEGIN CERTIFICATE-----\n")
        );
        assert_eq!(
            ca("other", "acme"),
            None,
            "the stalled duplicate publishes nothing"
        );
        assert_eq!(ca("default", "beta"), None, "no CA given");
    }

    #[test]
    fn valid_tenant_is_ready_and_configured() {
        let out = reconcile_tenants(&[tenant("default", "acme", &["acme.example.com"])], t(1));
        let st = &out.statuses[&ObjectKey::new("default", "acme")];
        assert_eq!(
            find_condition(&st.conditions, READY).unwrap().status,
            "True"
        );
        assert_eq!(st.observed_generation, Some(1));
        assert_eq!(out.config.tenants["acme"].hosts, ["acme.example.com"]);
        assert_eq!(out.config.tenants["acme"].realtime_rate_per_second, 200);
    }

    #[test]
    fn real_time_rate_limit_reaches_the_config_and_zero_is_invalid() {
        let mut t1 = tenant("default", "acme", &[]);
        t1.spec.real_time_rate_limit = Some(50);
        let out = reconcile_tenants(&[t1.clone()], t(1));
        assert_eq!(out.config.tenants["acme"].realtime_rate_per_second, 50);
        t1.spec.real_time_rate_limit = Some(0);
        let out = reconcile_tenants(&[t1], t(1));
        let st = &out.statuses[&ObjectKey::new("default", "acme")];
        assert!(
            find_condition(&st.conditions, READY)
                .unwrap()
                .message
                .starts_with("spec.realTimeRateLimit:")
        );
    }

    #[test]
    fn same_name_in_two_namespaces_stalls_the_newer() {
        let a = tenant("ns-a", "acme", &[]);
        let mut b = tenant("ns-b", "acme", &[]);
        b.metadata.creation_timestamp = a.metadata.creation_timestamp.clone();
        // Same creation time: namespace order decides; put b first in input to show order is not input order.
        let out = reconcile_tenants(&[b, a], t(1));
        let loser = &out.statuses[&ObjectKey::new("ns-b", "acme")];
        let stalled = find_condition(&loser.conditions, STALLED).unwrap();
        assert_eq!(stalled.status, "True");
        assert_eq!(stalled.reason, reason::NAME_CONFLICT);
        assert_eq!(out.accepted["acme"], "ns-a");
    }

    #[test]
    fn invalid_host_names_the_field() {
        let out = reconcile_tenants(
            &[tenant("default", "acme", &["ok.example", "Bad_Host"])],
            t(1),
        );
        let st = &out.statuses[&ObjectKey::new("default", "acme")];
        let ready = find_condition(&st.conditions, READY).unwrap();
        assert_eq!(ready.reason, reason::INVALID_SPEC);
        assert!(
            ready.message.starts_with("spec.hosts[1]:"),
            "{}",
            ready.message
        );
        assert!(out.config.tenants.is_empty());
    }

    #[test]
    fn host_shared_by_two_tenants_stalls_the_second() {
        let a = tenant("default", "a", &["x.example"]);
        let b = tenant("default", "b", &["x.example"]);
        let out = reconcile_tenants(&[a, b], t(1));
        let st = &out.statuses[&ObjectKey::new("default", "b")];
        assert!(
            find_condition(&st.conditions, STALLED)
                .unwrap()
                .message
                .contains("spec.hosts[0]")
        );
        assert_eq!(out.config.tenants.len(), 1);
    }
}
