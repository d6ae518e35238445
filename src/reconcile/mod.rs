//! Pure reconcile: all resources in, the runtime configuration and one status per resource out.
//!
//! No I/O and no Kubernetes client: both drivers (files, operator) call [`reconcile`] with what
//! they observed. Each resource carries its previous status in `.status`; `now` is the only clock.
//!
//! Invariants (architecture §5.3, §6):
//! - level-based and idempotent: the same input yields the same output; a pass that changes
//!   nothing returns statuses identical to the previous ones (no timestamp churn);
//! - every status and condition carries the `observedGeneration` it was computed from;
//! - secret values go only into [`RuntimeConfig`], never into a status or a message.
//!
//! Precedence between conflicting resources (two Tenants with one name, one host on two Tenants,
//! one client id on two admins of a tenant): the older resource (`metadata.creationTimestamp`,
//! missing = newest) wins, then namespace and name order; the loser is `Stalled`.

pub mod identity;
pub mod observations;
pub mod properties;
pub mod real_time_target;
pub mod secrets;
pub mod source_system;
pub mod systems;
pub mod target_system;
pub mod technical_admin;
pub mod tenant;
pub mod transformation;

pub use observations::{ConnectionCheck, DeliveryHealth, Observations};

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::{
    SourceSystem, SourceSystemStatus, TargetSystem, TargetSystemStatus, TechnicalAdmin,
    TechnicalAdminStatus, Tenant, TenantStatus,
};
use crate::runtime::RuntimeConfig;

/// Namespace used when a resource has none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Identifies a namespaced resource of one kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of an object's metadata (namespace defaults to `default`).
    pub fn of(meta: &ObjectMeta) -> Self {
        ObjectKey {
            namespace: meta
                .namespace
                .clone()
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Everything the reconciler reads. Every resource carries its previous status.
#[derive(Debug, Clone, Copy)]
pub struct Resources<'a> {
    pub tenants: &'a [Tenant],
    pub technical_admins: &'a [TechnicalAdmin],
    pub secrets: &'a [Secret],
    pub source_systems: &'a [SourceSystem],
    pub target_systems: &'a [TargetSystem],
    /// Connection checks and delivery health observed by the driver
    /// ([`Observations::none`] when there are none).
    pub observations: &'a Observations,
}

/// The result of one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// What the runtime should serve.
    pub config: RuntimeConfig,
    /// The next status of every Tenant.
    pub tenants: BTreeMap<ObjectKey, TenantStatus>,
    /// The next status of every TechnicalAdmin.
    pub technical_admins: BTreeMap<ObjectKey, TechnicalAdminStatus>,
    /// The next status of every SourceSystem.
    pub source_systems: BTreeMap<ObjectKey, SourceSystemStatus>,
    /// The next status of every TargetSystem.
    pub target_systems: BTreeMap<ObjectKey, TargetSystemStatus>,
}

/// One reconcile pass over all resources. `now` is truncated to whole seconds, the precision
/// of `metav1.Time`, so statuses survive a round trip through the API server unchanged.
pub fn reconcile(resources: Resources<'_>, now: jiff::Timestamp) -> Outcome {
    let now = whole_seconds(now);
    let tenants = tenant::reconcile_tenants(resources.tenants, now);
    let secret_index = secrets::SecretIndex::new(resources.secrets);
    let admins =
        technical_admin::reconcile_admins(resources.technical_admins, &tenants, &secret_index, now);
    let sources = source_system::reconcile_sources(
        resources.source_systems,
        &tenants,
        &tenants.config,
        &secret_index,
        now,
    );
    let targets = target_system::reconcile_targets(
        resources.target_systems,
        &tenants,
        &sources,
        &secret_index,
        resources.observations,
        now,
    );
    let mut config = tenants.config;
    for (tenant_name, admin) in admins.accepted {
        if let Some(t) = config.tenants.get_mut(&tenant_name) {
            t.admins.insert(admin.client_id.clone(), admin);
        }
    }
    for (tenant_name, source) in sources.accepted {
        if let Some(t) = config.tenants.get_mut(&tenant_name) {
            t.source_systems.insert(source.id.clone(), source);
        }
    }
    for (tenant_name, target) in targets.accepted {
        if let Some(t) = config.tenants.get_mut(&tenant_name) {
            t.target_systems.insert(target.id.clone(), target);
        }
    }
    let mut tenant_statuses = tenants.statuses;
    tenant::publish_ca_certificates(
        &mut tenant_statuses,
        &resources.observations.ca_certificates,
    );
    Outcome {
        config,
        tenants: tenant_statuses,
        technical_admins: admins.statuses,
        source_systems: sources.statuses,
        target_systems: targets.statuses,
    }
}

/// `t` without its sub-second part.
pub fn whole_seconds(t: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// Sort key for precedence: older first (missing creation time = newest), then namespace, name.
pub(crate) fn precedence(meta: &ObjectMeta) -> (bool, Option<jiff::Timestamp>, ObjectKey) {
    let created = meta.creation_timestamp.as_ref().map(|t| t.0);
    (created.is_none(), created, ObjectKey::of(meta))
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    use crate::api::*;

    pub fn t(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(secs).unwrap()
    }

    pub fn meta(ns: &str, name: &str, generation: i64, created: i64) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(ns.into()),
            name: Some(name.into()),
            generation: Some(generation),
            creation_timestamp: Some(Time(t(created))),
            ..Default::default()
        }
    }

    pub fn tenant(ns: &str, name: &str, hosts: &[&str]) -> Tenant {
        Tenant {
            metadata: meta(ns, name, 1, 100),
            spec: TenantSpec {
                display_name: None,
                hosts: hosts.iter().map(|h| h.to_string()).collect(),
                real_time_rate_limit: None,
            },
            status: None,
        }
    }

    /// A SourceSystem for the tenant's own directory, display name = name.
    pub fn source(ns: &str, name: &str, tenant: &str) -> SourceSystem {
        SourceSystem {
            metadata: meta(ns, name, 1, 300),
            spec: SourceSystemSpec {
                tenant_ref: TenantRef {
                    name: tenant.into(),
                },
                display_name: name.into(),
                system_type: SystemType::IdentityAuthentication,
                url: None,
                authentication: None,
                system_id: None,
                properties: BTreeMap::new(),
                transformation: None,
                enabled: true,
            },
            status: None,
        }
    }

    /// A SCIM TargetSystem with Basic auth (`client`, Secret `apps-cred` key `password`).
    pub fn target(ns: &str, name: &str, tenant: &str, sources: &[&str]) -> TargetSystem {
        TargetSystem {
            metadata: meta(ns, name, 1, 400),
            spec: TargetSystemSpec {
                tenant_ref: TenantRef {
                    name: tenant.into(),
                },
                display_name: "Apps target".into(),
                source_system_refs: sources
                    .iter()
                    .map(|s| SourceSystemRef {
                        name: s.to_string(),
                    })
                    .collect(),
                system_type: SystemType::Scim,
                url: "https://127.0.0.1:8443/tenants/apps/scim".into(),
                authentication: OutboundAuthentication {
                    basic: Some(BasicAuth {
                        username: "client".into(),
                        password_ref: SecretKeyRef {
                            name: "apps-cred".into(),
                            key: "password".into(),
                        },
                    }),
                    ..Default::default()
                },
                properties: BTreeMap::new(),
                transformation: None,
                enabled: true,
            },
            status: None,
        }
    }

    pub fn admin(
        ns: &str,
        name: &str,
        tenant: &str,
        secret: Option<(&str, &str)>,
    ) -> TechnicalAdmin {
        TechnicalAdmin {
            metadata: meta(ns, name, 1, 200),
            spec: TechnicalAdminSpec {
                tenant_ref: TenantRef {
                    name: tenant.into(),
                },
                display_name: format!("{name} display"),
                permissions: vec![Permission::ManageUsers, Permission::ReadUsers],
                client_id: None,
                user_id: None,
                secrets: secret
                    .map(|(n, k)| AdminSecretSpec {
                        secret_ref: SecretKeyRef {
                            name: n.into(),
                            key: k.into(),
                        },
                        expires_in: SecretExpiry::Never,
                        description: None,
                    })
                    .into_iter()
                    .collect(),
                lock_on_failed_logons: false,
            },
            status: None,
        }
    }

    pub fn secret(ns: &str, name: &str, key: &str, value: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                key.to_owned(),
                ByteString(value.as_bytes().to_vec()),
            )])),
            ..Default::default()
        }
    }
}
