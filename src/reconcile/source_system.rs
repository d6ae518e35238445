//! Reconcile of `SourceSystem`s: spec validation, properties with defaults, the transformation,
//! outbound credentials, tenant lookup, name and id uniqueness per tenant, the source part of the
//! runtime configuration, and status (system id and real-time URLs).
//!
//! Outcomes (kstatus):
//! - invalid spec → `Stalled`, reason `InvalidSpec` (message naming the field); a transformation
//!   that does not parse → `Stalled`, reason `InvalidTransformation` (message naming the mapping);
//!   a display name or system id already used in the tenant → `Stalled` (the newer resource);
//! - tenant missing or not Ready → `Reconciling` (`TenantNotFound`, `TenantNotReady`);
//! - a referenced Secret missing → `SecretResolved=False`, `Reconciling`. The system stays in the
//!   configuration without credentials, so real-time pushes (which do not use the source's
//!   credentials) keep being accepted while a Secret is rotated;
//! - otherwise `Ready=True` (reason `Disabled` when `enabled: false`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::api::conditions::{
    FALSE, Health, SECRET_RESOLVED, TRUE, condition, merge_conditions, reason,
};
use crate::api::{RealTimeUrls, SourceSystem, SourceSystemStatus, SystemType};
use crate::runtime::{OutboundAuth, RuntimeConfig, SourceSystemConfig};

use super::identity::{derived_source_system_id, parse_system_id};
use super::secrets::SecretIndex;
use super::systems::{
    Claims, DISABLED, check_auth_shape, check_names, check_tenant, check_url,
    properties_and_transformation, resolve_auth,
};
use super::tenant::TenantsOutcome;
use super::transformation::{self, Role};
use super::{ObjectKey, precedence};

/// Kind name used in messages.
const KIND: &str = "SourceSystem";

/// The result of reconciling all SourceSystems.
#[derive(Debug, Default)]
pub struct SourcesOutcome {
    /// Accepted systems with the tenant name they belong to.
    pub accepted: Vec<(String, Arc<SourceSystemConfig>)>,
    /// Tenant and system id of every accepted system, by resource.
    pub by_key: BTreeMap<ObjectKey, (String, String)>,
    /// Every SourceSystem resource (accepted or not), so targets can tell "not found" from
    /// "not ready".
    pub known: BTreeSet<ObjectKey>,
    pub statuses: BTreeMap<ObjectKey, SourceSystemStatus>,
}

/// A source whose spec is valid on its own.
#[derive(Debug)]
pub struct Validated {
    pub id: String,
    pub properties: BTreeMap<String, String>,
    pub api_version: u8,
    pub transformation: Arc<transformation::Transformation>,
}

/// Validates a source on its own; the error is the Stalled health naming the field.
pub fn validate(source: &SourceSystem, key: &ObjectKey) -> Result<Validated, Health> {
    let spec = &source.spec;
    let invalid = |m: String| Health::stalled(reason::INVALID_SPEC, m);
    check_names(&spec.tenant_ref.name, &spec.display_name).map_err(invalid)?;
    let id = match &spec.system_id {
        Some(v) => parse_system_id(v).map_err(|m| invalid(format!("spec.systemId: {m}")))?,
        None => derived_source_system_id(&key.namespace, &key.name),
    };
    match (&spec.url, spec.system_type) {
        (Some(url), _) => check_url("spec.url", url).map_err(invalid)?,
        (None, SystemType::Scim) => {
            return Err(invalid("spec.url: required for type SCIM".to_owned()));
        }
        (None, SystemType::IdentityAuthentication) => {
            if spec.authentication.is_some() {
                return Err(invalid(
                    "spec.authentication: only used with spec.url (without a URL the source is this tenant's own directory)"
                        .to_owned(),
                ));
            }
        }
    }
    if let Some(auth) = &spec.authentication {
        check_auth_shape("spec.authentication", auth).map_err(invalid)?;
    }
    let (properties, api_version, transformation) = properties_and_transformation(
        Role::Source,
        spec.system_type,
        &spec.properties,
        spec.transformation.as_deref(),
    )?;
    Ok(Validated {
        id,
        properties,
        api_version,
        transformation,
    })
}

/// Reconciles every SourceSystem against the accepted tenants (`config` gives their hosts).
pub fn reconcile_sources(
    sources: &[SourceSystem],
    tenants: &TenantsOutcome,
    config: &RuntimeConfig,
    secrets: &SecretIndex<'_>,
    now: jiff::Timestamp,
) -> SourcesOutcome {
    let mut ordered: Vec<&SourceSystem> = sources.iter().collect();
    ordered.sort_by_key(|s| precedence(&s.metadata));
    let mut out = SourcesOutcome::default();
    let mut claims = Claims::default();
    for source in ordered {
        let key = ObjectKey::of(&source.metadata);
        out.known.insert(key.clone());
        let (status, accepted) =
            reconcile_one(source, &key, tenants, config, secrets, &mut claims, now);
        if let Some(c) = accepted {
            let tenant = source.spec.tenant_ref.name.clone();
            out.by_key
                .insert(key.clone(), (tenant.clone(), c.id.clone()));
            out.accepted.push((tenant, Arc::new(c)));
        }
        out.statuses.insert(key, status);
    }
    out
}

fn reconcile_one(
    source: &SourceSystem,
    key: &ObjectKey,
    tenants: &TenantsOutcome,
    config: &RuntimeConfig,
    secrets: &SecretIndex<'_>,
    claims: &mut Claims,
    now: jiff::Timestamp,
) -> (SourceSystemStatus, Option<SourceSystemConfig>) {
    let generation = source.metadata.generation;
    let previous = source.status.clone().unwrap_or_default();
    let tenant = source.spec.tenant_ref.name.as_str();
    let finish = |health: Health, extra: Vec<_>, id: Option<&str>| {
        let mut desired = health.conditions(generation, now);
        desired.extend(extra);
        let has_hosts = config
            .tenants
            .get(tenant)
            .is_some_and(|t| !t.hosts.is_empty());
        SourceSystemStatus {
            observed_generation: generation,
            conditions: merge_conditions(&previous.conditions, desired),
            system_id: id.map(str::to_owned),
            real_time_urls: id.map(|id| RealTimeUrls::new(tenant, id, has_hosts)),
        }
    };
    let valid = match validate(source, key) {
        Ok(v) => v,
        Err(health) => return (finish(health, vec![], None), None),
    };

    // Secrets are resolved whatever the tenant's state, so SecretResolved is always accurate.
    let mut extra = Vec::new();
    let mut unresolved = None;
    let auth = match &source.spec.authentication {
        None => OutboundAuth::None,
        Some(a) => match resolve_auth("spec.authentication", a, &key.namespace, secrets) {
            Ok(auth) => {
                extra.push(condition(
                    SECRET_RESOLVED,
                    TRUE,
                    reason::SECRET_RESOLVED,
                    "all referenced Secret keys were found",
                    generation,
                    now,
                ));
                auth
            }
            Err(e) => {
                extra.push(condition(
                    SECRET_RESOLVED,
                    FALSE,
                    e.reason,
                    e.message.clone(),
                    generation,
                    now,
                ));
                unresolved = Some(e);
                OutboundAuth::None
            }
        },
    };

    let spec = &source.spec;
    let health = match check_tenant(key, tenant, tenants)
        .and_then(|()| claims.check(KIND, tenant, &spec.display_name, &valid.id))
    {
        Err(h) => h,
        Ok(()) => match &unresolved {
            Some(e) => Health::progressing(e.reason, e.message.clone()),
            None if !spec.enabled => Health::Ready {
                reason: DISABLED.to_owned(),
                message: "the system is disabled: it takes no part in provisioning".to_owned(),
            },
            None => Health::ready(format!(
                "real-time provisioning: {}",
                RealTimeUrls::new(tenant, &valid.id, false).user
            )),
        },
    };
    let in_config =
        check_tenant(key, tenant, tenants).is_ok() && !matches!(health, Health::Stalled { .. });
    let config = in_config.then(|| {
        claims.claim(tenant, &spec.display_name, &valid.id, key);
        SourceSystemConfig {
            resource: key.to_string(),
            id: valid.id.clone(),
            display_name: spec.display_name.clone(),
            system_type: spec.system_type,
            url: spec.url.clone(),
            auth,
            properties: valid.properties,
            api_version: valid.api_version,
            transformation: valid.transformation,
            enabled: spec.enabled,
        }
    });
    (finish(health, extra, Some(&valid.id)), config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::conditions::{READY, RECONCILING, STALLED, find_condition};
    use crate::api::*;
    use crate::reconcile::systems::INVALID_TRANSFORMATION;
    use crate::reconcile::test_support::*;
    use crate::reconcile::{Observations, Outcome, Resources, reconcile};
    use k8s_openapi::api::core::v1::Secret;

    fn run(tenants: &[Tenant], sources: &[SourceSystem], secrets: &[Secret]) -> Outcome {
        reconcile(
            Resources {
                tenants,
                technical_admins: &[],
                secrets,
                source_systems: sources,
                target_systems: &[],
                observations: Observations::none(),
            },
            t(1000),
        )
    }

    fn cond<'a>(
        out: &'a Outcome,
        name: &str,
        type_: &str,
    ) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
        find_condition(
            &out.source_systems[&ObjectKey::new("default", name)].conditions,
            type_,
        )
    }

    fn reason_of(out: &Outcome, name: &str) -> (String, String) {
        let r = cond(out, name, READY).unwrap();
        (r.reason.clone(), r.message.clone())
    }

    #[test]
    fn own_directory_source_is_ready_with_id_and_urls() {
        let out = run(
            &[tenant("default", "acme", &["id.acme.test"])],
            &[source("default", "ias", "acme")],
            &[],
        );
        assert_eq!(cond(&out, "ias", READY).unwrap().status, "True");
        assert!(cond(&out, "ias", SECRET_RESOLVED).is_none());
        let st = &out.source_systems[&ObjectKey::new("default", "ias")];
        let id = derived_source_system_id("default", "ias");
        assert_eq!(st.system_id.as_deref(), Some(id.as_str()));
        let urls = st.real_time_urls.as_ref().unwrap();
        assert_eq!(
            urls.user,
            format!("/tenants/acme/ipsproxy/service/api/v1/systems/{id}/entities/user")
        );
        assert!(urls.host_user.is_some());
        let c = &out.config.tenants["acme"].source_systems[&id];
        assert_eq!(c.resource, "default/ias");
        assert_eq!(c.api_version, 2);
        assert_eq!(c.properties["ias.api.version"], "2");
        assert_eq!(c.auth, OutboundAuth::None);
        assert!(c.url.is_none() && c.enabled);
    }

    #[test]
    fn spec_system_id_is_canonical() {
        let mut s = source("default", "ias", "acme");
        s.spec.system_id = Some("1AB7C243-5DE5-4530-8A14-1234A26373AB".into());
        let out = run(&[tenant("default", "acme", &[])], &[s], &[]);
        assert!(
            out.config.tenants["acme"]
                .source_systems
                .contains_key("1ab7c243-5de5-4530-8a14-1234a26373ab")
        );
    }

    type Case = (Box<dyn Fn(&mut SourceSystem)>, &'static str, &'static str);

    #[test]
    fn invalid_specs_stall_naming_the_field() {
        let cases: Vec<Case> = vec![
            (
                Box::new(|s| s.spec.display_name = "bad/name".into()),
                reason::INVALID_SPEC,
                "spec.displayName:",
            ),
            (
                Box::new(|s| s.spec.display_name = "x".repeat(101)),
                reason::INVALID_SPEC,
                "spec.displayName:",
            ),
            (
                Box::new(|s| s.spec.system_type = SystemType::Scim),
                reason::INVALID_SPEC,
                "spec.url: required",
            ),
            (
                Box::new(|s| s.spec.system_id = Some("nope".into())),
                reason::INVALID_SPEC,
                "spec.systemId:",
            ),
            (
                Box::new(|s| s.spec.url = Some("not a url".into())),
                reason::INVALID_SPEC,
                "spec.url:",
            ),
            (
                Box::new(|s| {
                    s.spec
                        .properties
                        .insert("ias.api.version".into(), "7".into());
                }),
                reason::INVALID_SPEC,
                "spec.properties[ias.api.version]",
            ),
            (
                Box::new(|s| {
                    s.spec.transformation = Some(r#"{"user": {"mappings": [{"sourcePath": "$.a", "targetPath": "$.b", "functions": [{"type": "nope"}]}]}}"#.into())
                }),
                INVALID_TRANSFORMATION,
                "spec.transformation: user.mappings[0]",
            ),
            (
                Box::new(|s| s.spec.authentication = Some(OutboundAuthentication::default())),
                reason::INVALID_SPEC,
                "spec.authentication: only used with spec.url",
            ),
            (
                Box::new(|s| {
                    s.spec.url = Some("https://x.example".into());
                    s.spec.authentication = Some(OutboundAuthentication::default());
                }),
                reason::INVALID_SPEC,
                "spec.authentication: exactly one",
            ),
        ];
        for (edit, want_reason, prefix) in cases {
            let mut s = source("default", "ias", "acme");
            edit(&mut s);
            let out = run(&[tenant("default", "acme", &[])], &[s], &[]);
            let (r, m) = reason_of(&out, "ias");
            assert_eq!(r, want_reason, "{m}");
            assert!(m.starts_with(prefix), "{m}");
            assert_eq!(cond(&out, "ias", STALLED).unwrap().status, "True");
            assert!(out.config.tenants["acme"].source_systems.is_empty());
        }
    }

    #[test]
    fn missing_tenant_is_transient() {
        let out = run(&[], &[source("default", "ias", "acme")], &[]);
        assert_eq!(reason_of(&out, "ias").0, reason::TENANT_NOT_FOUND);
        assert_eq!(cond(&out, "ias", RECONCILING).unwrap().status, "True");
        assert!(out.config.tenants.is_empty());
    }

    #[test]
    fn duplicate_names_stall_the_newer() {
        let a = source("default", "a", "acme");
        let mut b = source("default", "b", "acme");
        b.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(500)));
        b.spec.display_name = a.spec.display_name.clone();
        let out = run(&[tenant("default", "acme", &[])], &[b, a], &[]);
        assert_eq!(cond(&out, "a", READY).unwrap().status, "True");
        let (r, m) = reason_of(&out, "b");
        assert_eq!(r, reason::NAME_CONFLICT);
        assert!(m.contains("default/a"), "{m}");
        assert_eq!(out.config.tenants["acme"].source_systems.len(), 1);
    }

    #[test]
    fn remote_source_resolves_secrets_and_reports_missing_ones() {
        let mut s = source("default", "remote", "acme");
        s.spec.url = Some("https://remote.example".into());
        s.spec.authentication = Some(OutboundAuthentication {
            basic: Some(BasicAuth {
                username: "client".into(),
                password_ref: SecretKeyRef {
                    name: "cred".into(),
                    key: "pw".into(),
                },
            }),
            ..Default::default()
        });
        let tenants = [tenant("default", "acme", &[])];
        let out = run(&tenants, std::slice::from_ref(&s), &[]);
        let sr = cond(&out, "remote", SECRET_RESOLVED).unwrap();
        assert_eq!(
            (sr.status.as_str(), sr.reason.as_str()),
            ("False", reason::SECRET_NOT_FOUND)
        );
        assert!(
            sr.message
                .starts_with("spec.authentication.basic.passwordRef: Secret default/cred")
        );
        assert_eq!(cond(&out, "remote", RECONCILING).unwrap().status, "True");
        // Still accepting real-time pushes.
        assert_eq!(out.config.tenants["acme"].source_systems.len(), 1);

        let out = run(
            &tenants,
            &[s],
            &[secret("default", "cred", "pw", "hunter2")],
        );
        assert_eq!(cond(&out, "remote", READY).unwrap().status, "True");
        let c = out.config.tenants["acme"]
            .source_systems
            .values()
            .next()
            .unwrap();
        assert_eq!(
            c.auth,
            OutboundAuth::Basic {
                username: "client".into(),
                password: "hunter2".into()
            }
        );
        assert!(!format!("{:?}", out.source_systems).contains("hunter2"));
    }

    #[test]
    fn disabled_source_is_configured_and_ready() {
        let mut s = source("default", "ias", "acme");
        s.spec.enabled = false;
        let out = run(&[tenant("default", "acme", &[])], &[s], &[]);
        assert_eq!(reason_of(&out, "ias").0, DISABLED);
        assert!(
            !out.config.tenants["acme"]
                .source_systems
                .values()
                .next()
                .unwrap()
                .enabled
        );
    }

    #[test]
    fn noop_pass_is_identical() {
        let tenants = [tenant("default", "acme", &[])];
        let mut sources = [source("default", "ias", "acme")];
        let first = run(&tenants, &sources, &[]);
        sources[0].status = first
            .source_systems
            .get(&ObjectKey::new("default", "ias"))
            .cloned();
        let second = reconcile(
            Resources {
                tenants: &tenants,
                technical_admins: &[],
                secrets: &[],
                source_systems: &sources,
                target_systems: &[],
                observations: Observations::none(),
            },
            t(9000),
        );
        assert_eq!(first.source_systems, second.source_systems);
    }
}
