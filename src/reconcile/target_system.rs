//! Reconcile of `TargetSystem`s: spec validation, properties with defaults, the transformation,
//! outbound credentials, tenant and source lookup, name uniqueness per tenant, the target part
//! of the runtime configuration, and status from the observations (connection check, delivery
//! health and counters).
//!
//! Outcomes (kstatus):
//! - invalid spec (including not exactly one authentication method, or a source of another
//!   tenant) → `Stalled`, `InvalidSpec`; a transformation that does not parse → `Stalled`,
//!   `InvalidTransformation`; a display name already used in the tenant → `Stalled`,
//!   `NameConflict` (the newer resource);
//! - tenant missing or not Ready, a Secret key missing → `Reconciling`; such a target is left out
//!   of the configuration (nothing is sent without its credentials);
//! - a referenced SourceSystem missing or not accepted → `Reconciling`, `SourceSystemNotFound` /
//!   `SourceSystemNotReady`; the target is configured with the sources that exist;
//! - connection not checked yet → `Reconciling`, `NotYetChecked`; check failed → `Reconciling`
//!   with the check's reason, or `Stalled` when the credentials were rejected (`Unauthorized`,
//!   `Forbidden`: nothing changes until the spec or the Secret does); delivery unhealthy (circuit
//!   open) → `Reconciling` with the engine's reason;
//! - otherwise `Ready=True` (reason `Disabled` when `enabled: false`: no checks are needed).
//!
//! `ConnectionVerified` and `DeliveryHealthy` are `Unknown` until observed. The counters keep
//! their previous values when the delivery engine reported nothing, so status does not change.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::api::conditions::{
    FALSE, Health, SECRET_RESOLVED, TRUE, UNKNOWN, condition, merge_conditions, reason,
};
use crate::api::target_system::{CONNECTION_VERIFIED, DELIVERY_HEALTHY};
use crate::api::{TargetSystem, TargetSystemStatus};
use crate::runtime::TargetSystemConfig;

use super::identity::derived_target_system_id;
use super::observations::Observations;
use super::secrets::SecretIndex;
use super::source_system::SourcesOutcome;
use super::systems::{
    Claims, DISABLED, check_auth_shape, check_names, check_tenant, check_url,
    properties_and_transformation, resolve_auth,
};
use super::tenant::TenantsOutcome;
use super::transformation::{self, Role};
use super::{ObjectKey, precedence};

/// Kind name used in messages.
const KIND: &str = "TargetSystem";
/// Reason: a referenced SourceSystem does not exist in the namespace.
pub const SOURCE_SYSTEM_NOT_FOUND: &str = "SourceSystemNotFound";
/// Reason: a referenced SourceSystem exists but is not accepted (stalled or tenant missing).
pub const SOURCE_SYSTEM_NOT_READY: &str = "SourceSystemNotReady";
/// Reason of `ConnectionVerified=Unknown` before the first check.
pub const NOT_YET_CHECKED: &str = "NotYetChecked";
/// Reason of `DeliveryHealthy=Unknown` before the engine reported.
pub const NOT_YET_OBSERVED: &str = "NotYetObserved";

/// Check reasons that mean "the credentials were rejected": terminal until something changes.
const REJECTED: &[&str] = &["Unauthorized", "Forbidden"];

/// The result of reconciling all TargetSystems.
#[derive(Debug, Default)]
pub struct TargetsOutcome {
    /// Accepted systems with the tenant name they belong to.
    pub accepted: Vec<(String, Arc<TargetSystemConfig>)>,
    pub statuses: BTreeMap<ObjectKey, TargetSystemStatus>,
}

/// A target whose spec is valid on its own.
#[derive(Debug)]
pub struct Validated {
    pub id: String,
    pub properties: BTreeMap<String, String>,
    pub api_version: u8,
    pub transformation: Arc<transformation::Transformation>,
}

/// Validates a target on its own; the error is the Stalled health naming the field.
pub fn validate(target: &TargetSystem, key: &ObjectKey) -> Result<Validated, Health> {
    let spec = &target.spec;
    let invalid = |m: String| Health::stalled(reason::INVALID_SPEC, m);
    check_names(&spec.tenant_ref.name, &spec.display_name).map_err(invalid)?;
    check_url("spec.url", &spec.url).map_err(invalid)?;
    check_auth_shape("spec.authentication", &spec.authentication).map_err(invalid)?;
    let mut seen = BTreeSet::new();
    for (i, r) in spec.source_system_refs.iter().enumerate() {
        if !crate::api::refs::is_dns1123_subdomain(&r.name) {
            return Err(invalid(format!(
                "spec.sourceSystemRefs[{i}].name: {:?} is not a valid resource name",
                r.name
            )));
        }
        if !seen.insert(&r.name) {
            return Err(invalid(format!(
                "spec.sourceSystemRefs[{i}]: {:?} is listed twice",
                r.name
            )));
        }
    }
    let (properties, api_version, transformation) = properties_and_transformation(
        Role::Target,
        spec.system_type,
        &spec.properties,
        spec.transformation.as_deref(),
    )?;
    Ok(Validated {
        id: derived_target_system_id(&key.namespace, &key.name),
        properties,
        api_version,
        transformation,
    })
}

/// Reconciles every TargetSystem against the accepted tenants and sources and the observations.
pub fn reconcile_targets(
    targets: &[TargetSystem],
    tenants: &TenantsOutcome,
    sources: &SourcesOutcome,
    secrets: &SecretIndex<'_>,
    observations: &Observations,
    now: jiff::Timestamp,
) -> TargetsOutcome {
    let mut ordered: Vec<&TargetSystem> = targets.iter().collect();
    ordered.sort_by_key(|s| precedence(&s.metadata));
    let mut out = TargetsOutcome::default();
    let mut claims = Claims::default();
    for target in ordered {
        let key = ObjectKey::of(&target.metadata);
        let ctx = Context {
            tenants,
            sources,
            secrets,
            observations,
            now,
        };
        let (status, accepted) = reconcile_one(target, &key, &ctx, &mut claims);
        if let Some(c) = accepted {
            out.accepted
                .push((target.spec.tenant_ref.name.clone(), Arc::new(c)));
        }
        out.statuses.insert(key, status);
    }
    out
}

struct Context<'a, 'b> {
    tenants: &'a TenantsOutcome,
    sources: &'a SourcesOutcome,
    secrets: &'a SecretIndex<'b>,
    observations: &'a Observations,
    now: jiff::Timestamp,
}

/// The ids of the referenced sources that exist in the tenant, or the health explaining why
/// some are missing (transient) or wrong (stalled).
fn resolve_sources(
    target: &TargetSystem,
    key: &ObjectKey,
    sources: &SourcesOutcome,
) -> (Vec<String>, Option<Health>) {
    let tenant = &target.spec.tenant_ref.name;
    let mut ids = Vec::new();
    let mut problem = None;
    for (i, r) in target.spec.source_system_refs.iter().enumerate() {
        let source_key = ObjectKey::new(key.namespace.clone(), r.name.clone());
        match sources.by_key.get(&source_key) {
            Some((t, id)) if t == tenant => ids.push(id.clone()),
            Some((t, _)) => {
                return (
                    ids,
                    Some(Health::stalled(
                        reason::INVALID_SPEC,
                        format!(
                            "spec.sourceSystemRefs[{i}]: SourceSystem {source_key} belongs to tenant {t:?}, not {tenant:?}"
                        ),
                    )),
                );
            }
            None if sources.known.contains(&source_key) => {
                problem.get_or_insert(Health::progressing(
                    SOURCE_SYSTEM_NOT_READY,
                    format!("spec.sourceSystemRefs[{i}]: SourceSystem {source_key} is not Ready"),
                ));
            }
            None => {
                problem.get_or_insert(Health::progressing(
                    SOURCE_SYSTEM_NOT_FOUND,
                    format!("spec.sourceSystemRefs[{i}]: SourceSystem {source_key} not found"),
                ));
            }
        }
    }
    (ids, problem)
}

fn reconcile_one(
    target: &TargetSystem,
    key: &ObjectKey,
    ctx: &Context<'_, '_>,
    claims: &mut Claims,
) -> (TargetSystemStatus, Option<TargetSystemConfig>) {
    let generation = target.metadata.generation;
    let now = ctx.now;
    let previous = target.status.clone().unwrap_or_default();
    let spec = &target.spec;
    let tenant = spec.tenant_ref.name.as_str();
    type Counters = (Option<u64>, Option<u64>, Option<u64>);
    let finish =
        |health: Health, extra: Vec<Condition>, id: Option<&str>, counters: Option<Counters>| {
            let mut desired = health.conditions(generation, now);
            desired.extend(extra);
            let (pending, delivered, failed) =
                counters.unwrap_or((previous.pending, previous.delivered, previous.failed));
            TargetSystemStatus {
                observed_generation: generation,
                conditions: merge_conditions(&previous.conditions, desired),
                system_id: id.map(str::to_owned),
                pending,
                delivered,
                failed,
            }
        };
    let valid = match validate(target, key) {
        Ok(v) => v,
        Err(health) => return (finish(health, vec![], None, None), None),
    };
    let id = valid.id.as_str();

    let mut extra = Vec::new();
    let auth = match resolve_auth(
        "spec.authentication",
        &spec.authentication,
        &key.namespace,
        ctx.secrets,
    ) {
        Ok(auth) => {
            extra.push(condition(
                SECRET_RESOLVED,
                TRUE,
                reason::SECRET_RESOLVED,
                "all referenced Secret keys were found",
                generation,
                now,
            ));
            Ok(auth)
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
            Err(Health::progressing(e.reason, e.message))
        }
    };
    let (source_ids, source_problem) = resolve_sources(target, key, ctx.sources);
    let mut blocking = check_tenant(key, tenant, ctx.tenants)
        .and_then(|()| claims.check(KIND, tenant, &spec.display_name, id));
    if let Some(h @ Health::Stalled { .. }) = &source_problem {
        blocking = blocking.and(Err(h.clone()));
    }
    let auth = match (blocking, auth) {
        (Err(h), _) | (Ok(()), Err(h)) => {
            return (finish(h, extra, Some(id), None), None);
        }
        (Ok(()), Ok(auth)) => auth,
    };
    claims.claim(tenant, &spec.display_name, id, key);

    // In the configuration from here on: observed conditions apply.
    let check = ctx.observations.connection.get(id);
    let delivery = ctx.observations.delivery.get(id);
    extra.push(match check {
        None => condition(
            CONNECTION_VERIFIED,
            UNKNOWN,
            NOT_YET_CHECKED,
            "the connection has not been checked yet",
            generation,
            now,
        ),
        Some(c) => condition(
            CONNECTION_VERIFIED,
            if c.ok { TRUE } else { FALSE },
            &c.reason,
            c.message.clone(),
            generation,
            now,
        ),
    });
    extra.push(match delivery {
        None => condition(
            DELIVERY_HEALTHY,
            UNKNOWN,
            NOT_YET_OBSERVED,
            "the delivery engine has not reported on this target yet",
            generation,
            now,
        ),
        Some(d) => condition(
            DELIVERY_HEALTHY,
            if d.healthy { TRUE } else { FALSE },
            &d.reason,
            d.message.clone(),
            generation,
            now,
        ),
    });
    let health = if let Some(h) = source_problem {
        h
    } else if !spec.enabled {
        Health::Ready {
            reason: DISABLED.to_owned(),
            message: "the system is disabled: it takes no part in provisioning".to_owned(),
        }
    } else {
        match (check, delivery) {
            (None, _) => {
                Health::progressing(NOT_YET_CHECKED, "waiting for the first connection check")
            }
            (Some(c), _) if !c.ok && REJECTED.contains(&c.reason.as_str()) => {
                Health::stalled(&c.reason, c.message.clone())
            }
            (Some(c), _) if !c.ok => Health::progressing(&c.reason, c.message.clone()),
            (_, Some(d)) if !d.healthy => Health::progressing(&d.reason, d.message.clone()),
            _ => Health::ready(format!(
                "connected; receives the changes of {} source system(s)",
                source_ids.len()
            )),
        }
    };
    let counters = delivery.map(|d| (Some(d.pending), Some(d.delivered), Some(d.failed)));
    let config = TargetSystemConfig {
        resource: key.to_string(),
        id: id.to_owned(),
        display_name: spec.display_name.clone(),
        source_system_ids: source_ids,
        system_type: spec.system_type,
        url: spec.url.clone(),
        auth,
        properties: valid.properties,
        api_version: valid.api_version,
        transformation: valid.transformation,
        enabled: spec.enabled,
    };
    (finish(health, extra, Some(id), counters), Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::conditions::{READY, RECONCILING, STALLED, find_condition};
    use crate::api::*;
    use crate::reconcile::observations::{ConnectionCheck, DeliveryHealth};
    use crate::reconcile::systems::INVALID_TRANSFORMATION;
    use crate::reconcile::test_support::*;
    use crate::reconcile::{Outcome, Resources, reconcile};
    use crate::runtime::OutboundAuth;
    use k8s_openapi::api::core::v1::Secret;

    struct World {
        tenants: Vec<Tenant>,
        sources: Vec<SourceSystem>,
        targets: Vec<TargetSystem>,
        secrets: Vec<Secret>,
        observations: Observations,
    }

    impl World {
        fn new() -> Self {
            World {
                tenants: vec![tenant("default", "acme", &[])],
                sources: vec![source("default", "ias", "acme")],
                targets: vec![target("default", "apps", "acme", &["ias"])],
                secrets: vec![secret("default", "apps-cred", "password", "hunter2")],
                observations: Observations::default(),
            }
        }

        fn run(&self, now: i64) -> Outcome {
            reconcile(
                Resources {
                    tenants: &self.tenants,
                    technical_admins: &[],
                    secrets: &self.secrets,
                    source_systems: &self.sources,
                    target_systems: &self.targets,
                    observations: &self.observations,
                },
                t(now),
            )
        }

        fn id(&self) -> String {
            derived_target_system_id("default", "apps")
        }

        fn connected(mut self) -> Self {
            self.observations.connection.insert(
                self.id(),
                ConnectionCheck {
                    ok: true,
                    reason: "Connected".into(),
                    message: "ok".into(),
                },
            );
            self
        }
    }

    fn cond<'a>(out: &'a Outcome, name: &str, type_: &str) -> Option<&'a Condition> {
        find_condition(
            &out.target_systems[&ObjectKey::new("default", name)].conditions,
            type_,
        )
    }

    fn ready(out: &Outcome) -> (String, String, String) {
        let r = cond(out, "apps", READY).unwrap();
        (r.status.clone(), r.reason.clone(), r.message.clone())
    }

    #[test]
    fn connected_target_is_ready_and_configured() {
        let w = World::new().connected();
        let out = w.run(1000);
        assert_eq!(ready(&out).0, "True", "{:?}", ready(&out));
        assert_eq!(
            cond(&out, "apps", CONNECTION_VERIFIED).unwrap().status,
            "True"
        );
        assert_eq!(
            cond(&out, "apps", DELIVERY_HEALTHY).unwrap().status,
            "Unknown"
        );
        assert_eq!(cond(&out, "apps", SECRET_RESOLVED).unwrap().status, "True");
        let tenant = &out.config.tenants["acme"];
        let c = &tenant.target_systems[&w.id()];
        let source_id = super::super::identity::derived_source_system_id("default", "ias");
        assert_eq!(c.source_system_ids, std::slice::from_ref(&source_id));
        assert_eq!(
            c.auth,
            OutboundAuth::Basic {
                username: "client".into(),
                password: "hunter2".into()
            }
        );
        assert_eq!(c.properties["scim.user.unique.attribute"], "userName");
        assert_eq!(tenant.targets_of(&source_id).count(), 1);
        let st = &out.target_systems[&ObjectKey::new("default", "apps")];
        assert_eq!(st.system_id.as_deref(), Some(w.id().as_str()));
        assert!(!format!("{st:?}").contains("hunter2"));
    }

    #[test]
    fn first_check_pending_is_transient() {
        let out = World::new().run(1000);
        let (status, r, _) = ready(&out);
        assert_eq!((status.as_str(), r.as_str()), ("False", NOT_YET_CHECKED));
        assert_eq!(cond(&out, "apps", RECONCILING).unwrap().status, "True");
        let cv = cond(&out, "apps", CONNECTION_VERIFIED).unwrap();
        assert_eq!(
            (cv.status.as_str(), cv.reason.as_str()),
            ("Unknown", NOT_YET_CHECKED)
        );
        assert_eq!(out.config.tenants["acme"].target_systems.len(), 1);
    }

    #[test]
    fn failed_checks_transient_or_terminal() {
        let mut w = World::new();
        let id = w.id();
        w.observations.connection.insert(
            id.clone(),
            ConnectionCheck {
                ok: false,
                reason: "ConnectError".into(),
                message: "https://x: connection refused".into(),
            },
        );
        let out = w.run(1000);
        assert_eq!(ready(&out).1, "ConnectError");
        assert!(cond(&out, "apps", RECONCILING).is_some());
        assert_eq!(
            cond(&out, "apps", CONNECTION_VERIFIED).unwrap().status,
            "False"
        );
        w.observations.connection.insert(
            id,
            ConnectionCheck {
                ok: false,
                reason: "Unauthorized".into(),
                message: "HTTP 401".into(),
            },
        );
        let out = w.run(1000);
        assert_eq!(ready(&out).1, "Unauthorized");
        assert_eq!(cond(&out, "apps", STALLED).unwrap().status, "True");
    }

    #[test]
    fn delivery_health_and_counters() {
        let mut w = World::new().connected();
        let id = w.id();
        w.observations.delivery.insert(
            id.clone(),
            DeliveryHealth {
                pending: 3,
                delivered: 10,
                failed: 1,
                healthy: false,
                reason: "CircuitOpen".into(),
                message: "5 consecutive transient failures".into(),
            },
        );
        let out = w.run(1000);
        assert_eq!(ready(&out).1, "CircuitOpen");
        assert_eq!(
            cond(&out, "apps", DELIVERY_HEALTHY).unwrap().status,
            "False"
        );
        let st = out.target_systems[&ObjectKey::new("default", "apps")].clone();
        assert_eq!(
            (st.pending, st.delivered, st.failed),
            (Some(3), Some(10), Some(1))
        );
        // Without a new report, the counters keep their values and the status is unchanged.
        w.targets[0].status = Some(st.clone());
        w.observations.delivery.clear();
        let again = w.run(2000);
        let st2 = &again.target_systems[&ObjectKey::new("default", "apps")];
        assert_eq!(
            (st2.pending, st2.delivered, st2.failed),
            (Some(3), Some(10), Some(1))
        );
    }

    #[test]
    fn noop_pass_is_identical() {
        let mut w = World::new().connected();
        let first = w.run(1000);
        for (k, s) in &first.source_systems {
            w.sources
                .iter_mut()
                .filter(|x| ObjectKey::of(&x.metadata) == *k)
                .for_each(|x| x.status = Some(s.clone()));
        }
        w.targets[0].status = first.target_systems.values().next().cloned();
        let second = w.run(5000);
        assert_eq!(first.target_systems, second.target_systems);
        assert_eq!(first.config, second.config);
    }

    #[test]
    fn missing_source_is_transient_and_keeps_the_others() {
        let mut w = World::new().connected();
        w.targets[0].spec.source_system_refs.push(SourceSystemRef {
            name: "gone".into(),
        });
        let out = w.run(1000);
        let (status, r, m) = ready(&out);
        assert_eq!(
            (status.as_str(), r.as_str()),
            ("False", SOURCE_SYSTEM_NOT_FOUND)
        );
        assert!(
            m.starts_with("spec.sourceSystemRefs[1]: SourceSystem default/gone"),
            "{m}"
        );
        assert_eq!(cond(&out, "apps", RECONCILING).unwrap().status, "True");
        assert_eq!(
            out.config.tenants["acme"].target_systems[&w.id()]
                .source_system_ids
                .len(),
            1
        );
    }

    #[test]
    fn source_of_another_tenant_stalls() {
        let mut w = World::new();
        w.tenants.push(tenant("default", "beta", &[]));
        w.sources.push(source("default", "beta-src", "beta"));
        w.targets[0].spec.source_system_refs = vec![SourceSystemRef {
            name: "beta-src".into(),
        }];
        let out = w.run(1000);
        let (_, r, m) = ready(&out);
        assert_eq!(r, reason::INVALID_SPEC);
        assert!(m.contains("belongs to tenant \"beta\""), "{m}");
        assert!(out.config.tenants["acme"].target_systems.is_empty());
    }

    #[test]
    fn missing_secret_keeps_target_out() {
        let mut w = World::new().connected();
        w.secrets.clear();
        let out = w.run(1000);
        assert_eq!(ready(&out).1, reason::SECRET_NOT_FOUND);
        assert_eq!(cond(&out, "apps", SECRET_RESOLVED).unwrap().status, "False");
        assert!(cond(&out, "apps", RECONCILING).is_some());
        assert!(out.config.tenants["acme"].target_systems.is_empty());
    }

    type Case = (Box<dyn Fn(&mut TargetSystem)>, &'static str, &'static str);

    #[test]
    fn invalid_specs_stall_naming_the_field() {
        let cases: Vec<Case> = vec![
            (
                Box::new(|s| s.spec.display_name = "a:b".into()),
                reason::INVALID_SPEC,
                "spec.displayName:",
            ),
            (
                Box::new(|s| s.spec.url = "x".into()),
                reason::INVALID_SPEC,
                "spec.url:",
            ),
            (
                Box::new(|s| {
                    s.spec.authentication.bearer_token = Some(BearerTokenAuth {
                        token_ref: SecretKeyRef {
                            name: "t".into(),
                            key: "k".into(),
                        },
                    })
                }),
                reason::INVALID_SPEC,
                "spec.authentication: exactly one",
            ),
            (
                Box::new(|s| {
                    s.spec
                        .source_system_refs
                        .push(SourceSystemRef { name: "ias".into() })
                }),
                reason::INVALID_SPEC,
                "spec.sourceSystemRefs[1]: \"ias\" is listed twice",
            ),
            (
                Box::new(|s| s.spec.transformation = Some("[]".into())),
                INVALID_TRANSFORMATION,
                "spec.transformation:",
            ),
            (
                Box::new(|s| {
                    s.spec
                        .properties
                        .insert("ips.max.concurrency".into(), "0".into());
                }),
                reason::INVALID_SPEC,
                "spec.properties[ips.max.concurrency]",
            ),
        ];
        for (edit, want, prefix) in cases {
            let mut w = World::new().connected();
            edit(&mut w.targets[0]);
            let out = w.run(1000);
            let (_, r, m) = ready(&out);
            assert_eq!(r, want, "{m}");
            assert!(m.starts_with(prefix), "{m}");
            assert_eq!(cond(&out, "apps", STALLED).unwrap().status, "True");
            assert!(out.config.tenants["acme"].target_systems.is_empty());
        }
    }

    #[test]
    fn duplicate_names_stall_the_newer_and_missing_tenant_is_transient() {
        let mut w = World::new().connected();
        let mut b = target("default", "apps2", "acme", &["ias"]);
        b.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(900)));
        w.targets.push(b);
        let out = w.run(1000);
        assert_eq!(
            cond(&out, "apps2", READY).unwrap().reason,
            reason::NAME_CONFLICT
        );
        assert_eq!(out.config.tenants["acme"].target_systems.len(), 1);

        let mut w = World::new();
        w.tenants.clear();
        let out = w.run(1000);
        assert_eq!(ready(&out).1, reason::TENANT_NOT_FOUND);
        assert!(cond(&out, "apps", RECONCILING).is_some());
    }

    #[test]
    fn disabled_target_is_ready_without_checks() {
        let mut w = World::new();
        w.targets[0].spec.enabled = false;
        let out = w.run(1000);
        assert_eq!(ready(&out).1, DISABLED);
        let tenant = &out.config.tenants["acme"];
        assert!(!tenant.target_systems[&w.id()].enabled);
        let source_id = super::super::identity::derived_source_system_id("default", "ias");
        assert_eq!(tenant.targets_of(&source_id).count(), 0);
    }
}
