//! Reconcile of `RealTimeTarget`s: spec validation, the target URL (given, or resolved from the
//! referenced SourceSystem and following it), version check against the source system's
//! `ias.api.version`, credentials from Secrets, and status from what the pusher and Test
//! Connection observed.
//!
//! Outcomes (kstatus):
//! - not exactly one of `scimUrl`/`sourceSystemRef` or of the authentication methods, a bad URL
//!   or version → `Stalled`, `InvalidSpec`;
//! - `version` ≠ the source system's API version → `Stalled`, `VersionMismatch`;
//! - tenant or source system missing, a Secret key missing → `Reconciling` (left out of the
//!   configuration: nothing is pushed without credentials);
//! - `certificate` authentication: the subject CN `<common name>(<admin user id>)` longer than
//!   64 characters → `Stalled`, `InvalidCommonName` with the CA's message; the admin missing →
//!   `Reconciling`, `TechnicalAdminNotFound`; otherwise the target is configured with a
//!   [`ClientCertificateRequest`] and stays `Reconciling`, `CertificatePending` (or
//!   `CertificateError`) until the pusher reports the certificate the tenant CA issued for it
//!   (an observation, [`PushHealth::certificate`]); then that certificate is its `auth`;
//! - a failed Test Connection → `Reconciling` with its leaf reason (`Stalled` when the
//!   credentials were rejected); otherwise `Ready=True` (`Disabled` when `enabled: false`).
//!
//! Runs after [`super::reconcile`] on its configuration (it only reads tenants and source
//! systems); pure, no clock but `now`.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::api::conditions::{
    FALSE, Health, SECRET_RESOLVED, TRUE, UNKNOWN, condition, merge_conditions, reason,
};
use crate::api::real_time_target::{CONNECTION_VERIFIED, DELIVERY_HEALTHY, PROVISIONED};
use crate::api::{RealTimeTarget, RealTimeTargetStatus};
use crate::auth::certificates::{ClientCertificateRequest, is_path_segment};
use crate::realtime::{PushHealth, RealTimeTargetConfig};
use crate::runtime::{OutboundAuth, RuntimeConfig};

use super::observations::ConnectionCheck;
use super::secrets::SecretIndex;
use super::{ObjectKey, whole_seconds};

/// Reason: the target's version differs from the source system's `ias.api.version`.
pub const VERSION_MISMATCH: &str = "VersionMismatch";
/// Reason: certificate authentication waits for the client certificate of the tenant CA.
pub const CERTIFICATE_PENDING: &str = "CertificatePending";
/// Reason: the tenant CA could not issue the client certificate.
pub const CERTIFICATE_ERROR: &str = "CertificateError";
/// Reason: the subject CN `<common name>(<admin user id>)` is not allowed (longer than 64).
pub const INVALID_COMMON_NAME: &str = "InvalidCommonName";
/// Reason: the TechnicalAdmin of `certificate` authentication is not configured.
pub const TECHNICAL_ADMIN_NOT_FOUND: &str = "TechnicalAdminNotFound";
/// Reason: the referenced SourceSystem is not configured in the tenant.
pub const SOURCE_SYSTEM_NOT_FOUND: &str = "SourceSystemNotFound";
/// Default `runtimeUrl` for `sourceSystemRef`.
pub const DEFAULT_RUNTIME_URL: &str = "https://127.0.0.1:8443";
/// The success message of Test Connection.
pub const CONNECTION_OK: &str =
    "Connection to the selected target system was established successfully.";

/// Test Connection reasons meaning "the credentials or the target are wrong": terminal until
/// the spec or a Secret changes.
const REJECTED: &[&str] = &[
    "Unauthorized",
    "Forbidden",
    "SystemNotFound",
    VERSION_MISMATCH,
];

/// What the driver observed about real-time targets, by `namespace/name`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RealTimeObservations {
    pub connection: BTreeMap<String, ConnectionCheck>,
    pub push: BTreeMap<String, PushHealth>,
}

/// The result of reconciling all RealTimeTargets.
#[derive(Debug, Default)]
pub struct RealTimeOutcome {
    pub accepted: Vec<Arc<RealTimeTargetConfig>>,
    pub statuses: BTreeMap<ObjectKey, RealTimeTargetStatus>,
}

/// Reconciles every target against `config` (tenants and source systems already reconciled).
pub fn reconcile_real_time_targets(
    targets: &[RealTimeTarget],
    config: &RuntimeConfig,
    secrets: &SecretIndex<'_>,
    observed: &RealTimeObservations,
    now: jiff::Timestamp,
) -> RealTimeOutcome {
    let now = whole_seconds(now);
    let mut out = RealTimeOutcome::default();
    for target in targets {
        let key = ObjectKey::of(&target.metadata);
        let generation = target.metadata.generation;
        let previous = target.status.clone().unwrap_or_default();
        let resource = key.to_string();
        let mut extra = Vec::new();
        let mut status = RealTimeTargetStatus {
            observed_generation: generation,
            authentication: target.spec.authentication.method_name().map(str::to_string),
            pushed: previous.pushed,
            skipped: previous.skipped,
            failed: previous.failed,
            ..Default::default()
        };
        let health = match resolve(target, &key, config, secrets) {
            Err((health, secret)) => {
                if let Some((s, r, m)) = secret {
                    extra.push(condition(SECRET_RESOLVED, s, r, m, generation, now));
                }
                health
            }
            Ok(resolved) => {
                status.url = Some(resolved.user_url.clone());
                extra.push(condition(
                    SECRET_RESOLVED,
                    TRUE,
                    reason::SECRET_RESOLVED,
                    "every referenced Secret key was found".to_string(),
                    generation,
                    now,
                ));
                let check = observed.connection.get(&resource);
                let push = observed.push.get(&resource);
                extra.extend(observed_conditions(check, push, generation, now));
                if let Some(p) = push {
                    status.pushed = Some(p.pushed);
                    status.skipped = Some(p.skipped);
                    status.failed = Some(p.failed);
                }
                let mut resolved = resolved;
                let health = match with_observed_certificate(&mut resolved, push) {
                    Some(pending) => pending,
                    None => ready_health(target.spec.enabled, check),
                };
                out.accepted.push(Arc::new(resolved));
                health
            }
        };
        let mut desired = health.conditions(generation, now);
        desired.extend(extra);
        status.conditions = merge_conditions(&previous.conditions, desired);
        out.statuses.insert(key, status);
    }
    out
}

type SecretCondition = Option<(&'static str, &'static str, String)>;

fn resolve(
    target: &RealTimeTarget,
    key: &ObjectKey,
    config: &RuntimeConfig,
    secrets: &SecretIndex<'_>,
) -> Result<RealTimeTargetConfig, (Health, SecretCondition)> {
    let spec = &target.spec;
    let invalid = |m: String| (Health::stalled(reason::INVALID_SPEC, m), None);
    if spec.authentication.method_count() != 1 {
        return Err(invalid(
            "spec.authentication: set exactly one of basic, oauth, certificate".into(),
        ));
    }
    if spec.scim_url.is_some() == spec.source_system_ref.is_some() {
        return Err(invalid(
            "set exactly one of spec.scimUrl and spec.sourceSystemRef".into(),
        ));
    }
    if !matches!(spec.version, 1 | 2) {
        return Err(invalid(format!(
            "spec.version: {} is not 1 or 2",
            spec.version
        )));
    }
    let tenant_name = &spec.tenant_ref.name;
    let Some(tenant) = config.tenants.get(tenant_name) else {
        return Err((
            Health::progressing(
                reason::TENANT_NOT_FOUND,
                format!("Tenant {tenant_name} is not configured"),
            ),
            None,
        ));
    };
    let user_url = match (&spec.scim_url, &spec.source_system_ref) {
        (Some(url), _) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid(format!(
                    "spec.scimUrl: {url:?} is not an http(s) URL"
                )));
            }
            url.trim().trim_end_matches('/').to_string()
        }
        (None, Some(source_ref)) => {
            let wanted = format!("{}/{}", key.namespace, source_ref.name);
            let Some(source) = tenant
                .source_systems
                .values()
                .find(|s| s.resource == wanted)
            else {
                return Err((
                    Health::progressing(
                        SOURCE_SYSTEM_NOT_FOUND,
                        format!("SourceSystem {wanted} is not configured in tenant {tenant_name}"),
                    ),
                    None,
                ));
            };
            if source.api_version != spec.version {
                return Err((
                    Health::stalled(
                        VERSION_MISMATCH,
                        format!(
                            "spec.version is {} but SourceSystem {wanted} has ias.api.version {}",
                            spec.version, source.api_version
                        ),
                    ),
                    None,
                ));
            }
            let base = spec.runtime_url.as_deref().unwrap_or(DEFAULT_RUNTIME_URL);
            format!(
                "{}/tenants/{tenant_name}/ipsproxy/service/api/v1/systems/{}/entities/user",
                base.trim().trim_end_matches('/'),
                source.id
            )
        }
        (None, None) => return Err(invalid("no target URL".into())),
    };
    let auth = &spec.authentication;
    let get = |path: &str, r: &crate::api::SecretKeyRef| {
        secrets
            .resolve(&key.namespace, r)
            .map(|v| v.value)
            .map_err(|e| {
                let message = format!("spec.authentication.{path}: {}", e.message);
                (
                    Health::progressing(e.reason, message.clone()),
                    Some((FALSE, e.reason, message)),
                )
            })
    };
    let mut certificate = None;
    let outbound = if let Some(b) = &auth.basic {
        OutboundAuth::Basic {
            username: b.client_id.clone(),
            password: get("basic.secretRef", &b.secret_ref)?,
        }
    } else if let Some(o) = &auth.oauth {
        OutboundAuth::OAuthClientCredentials {
            token_url: o
                .token_url
                .clone()
                .unwrap_or_else(|| default_token_url(&user_url)),
            client_id: o.client_id.clone(),
            client_secret: get("oauth.clientSecretRef", &o.client_secret_ref)?,
        }
    } else if let Some(c) = &auth.certificate {
        let wanted = format!("{}/{}", key.namespace, c.technical_admin_ref.name);
        let Some(admin) = tenant.admins.values().find(|a| a.resource == wanted) else {
            return Err((
                Health::progressing(
                    TECHNICAL_ADMIN_NOT_FOUND,
                    format!(
                        "spec.authentication.certificate.technicalAdminRef: TechnicalAdmin {wanted} is not configured in tenant {tenant_name}"
                    ),
                ),
                None,
            ));
        };
        if !is_path_segment(&c.output_secret_name) {
            return Err(invalid(format!(
                "spec.authentication.certificate.outputSecretName: {:?} is not a Secret name",
                c.output_secret_name
            )));
        }
        let request = ClientCertificateRequest {
            tenant: tenant_name.clone(),
            common_name: c.common_name.clone(),
            admin_user_id: admin.user_id.clone(),
            password: get("certificate.passwordRef", &c.password_ref)?,
            output_namespace: key.namespace.clone(),
            output_secret: c.output_secret_name.clone(),
        };
        if let Err(e) = request.subject() {
            return Err((
                Health::stalled(
                    INVALID_COMMON_NAME,
                    format!("spec.authentication.certificate.commonName: {e}"),
                ),
                None,
            ));
        }
        if request.password.is_empty() {
            return Err(invalid(
                "spec.authentication.certificate.passwordRef: the keystore password must not be empty"
                    .into(),
            ));
        }
        certificate = Some(request);
        OutboundAuth::None
    } else {
        return Err(invalid(
            "spec.authentication: set exactly one of basic, oauth, certificate".into(),
        ));
    };
    Ok(RealTimeTargetConfig {
        resource: key.to_string(),
        tenant: tenant_name.clone(),
        display_name: spec.display_name.clone(),
        user_url,
        version: spec.version,
        groups: spec.groups,
        enabled: spec.enabled,
        auth: outbound,
        provision_request: spec.provision_request.clone(),
        properties: BTreeMap::new(),
        certificate,
        trusted_ca_pem: trusted_ca(&key.namespace, spec.ca_ref.as_ref(), secrets)?,
        manual_provision: None,
    })
}

/// The CA certificates (PEM) a target trusts for its server's TLS certificate, from the Secret
/// key `ca_ref` (e.g. `ca.crt` of a tenant CA's or the runtime's certificate): `None` without a
/// reference; `InvalidSpec` when the value holds no PEM certificate.
pub fn trusted_ca(
    namespace: &str,
    ca_ref: Option<&crate::api::SecretKeyRef>,
    secrets: &SecretIndex<'_>,
) -> Result<Option<String>, (Health, SecretCondition)> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let Some(r) = ca_ref else {
        return Ok(None);
    };
    let pem = secrets
        .resolve(namespace, r)
        .map(|v| v.value)
        .map_err(|e| {
            let message = format!("spec.caRef: {}", e.message);
            (
                Health::progressing(e.reason, message.clone()),
                Some((FALSE, e.reason, message)),
            )
        })?;
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default();
    if certs.is_empty() {
        return Err((
            Health::stalled(
                reason::INVALID_SPEC,
                format!(
                    "spec.caRef: key {} of Secret {} holds no PEM certificate",
                    r.key, r.name
                ),
            ),
            None,
        ));
    }
    Ok(Some(pem))
}

/// For `certificate` authentication: puts the certificate the pusher observed into `auth` when
/// it is the one requested (same subject CN); else the health to report while it is pending or
/// failing. `None` for other authentication methods and once the certificate is in place.
fn with_observed_certificate(
    resolved: &mut RealTimeTargetConfig,
    push: Option<&PushHealth>,
) -> Option<Health> {
    let request = resolved.certificate.as_ref()?;
    let subject = request.subject().ok()?;
    match push.and_then(|p| p.certificate.as_ref()) {
        Some(observed) if observed.subject == subject => {
            resolved.auth = OutboundAuth::ClientCertificate {
                certificate_pem: observed.issued.cert_pem.clone(),
                private_key_pem: observed.issued.key_pem.clone(),
            };
            None
        }
        _ => Some(match push.and_then(|p| p.certificate_error.as_ref()) {
            Some(error) => Health::progressing(
                CERTIFICATE_ERROR,
                format!("the tenant CA could not issue the client certificate {subject}: {error}"),
            ),
            None => Health::progressing(
                CERTIFICATE_PENDING,
                format!("waiting for the tenant CA to issue the client certificate {subject}"),
            ),
        }),
    }
}

/// The tenant's own token endpoint next to a real-time URL: everything before
/// `/ipsproxy/` + `/oauth2/token`.
pub fn default_token_url(user_url: &str) -> String {
    match user_url.find("/ipsproxy/") {
        Some(i) => format!("{}/oauth2/token", &user_url[..i]),
        None => format!("{}/oauth2/token", user_url.trim_end_matches('/')),
    }
}

fn ready_health(enabled: bool, check: Option<&ConnectionCheck>) -> Health {
    if !enabled {
        return Health::Ready {
            reason: super::systems::DISABLED.to_string(),
            message: "the target is disabled: nothing is pushed".to_string(),
        };
    }
    match check {
        Some(c) if !c.ok && REJECTED.contains(&c.reason.as_str()) => {
            Health::stalled(&c.reason, c.message.clone())
        }
        Some(c) if !c.ok => Health::progressing(&c.reason, c.message.clone()),
        _ => Health::ready("changes are pushed as they are committed"),
    }
}

fn observed_conditions(
    check: Option<&ConnectionCheck>,
    push: Option<&PushHealth>,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Vec<Condition> {
    let mut out = Vec::new();
    out.push(match check {
        None => condition(
            CONNECTION_VERIFIED,
            UNKNOWN,
            "NotYetChecked",
            "Test Connection has not run yet".to_string(),
            generation,
            now,
        ),
        Some(c) if c.ok => condition(
            CONNECTION_VERIFIED,
            TRUE,
            "Connected",
            CONNECTION_OK.to_string(),
            generation,
            now,
        ),
        Some(c) => condition(
            CONNECTION_VERIFIED,
            FALSE,
            &c.reason,
            c.message.clone(),
            generation,
            now,
        ),
    });
    let (delivery, provisioned) = match push {
        None => (
            condition(
                DELIVERY_HEALTHY,
                UNKNOWN,
                "NotYetObserved",
                "no push observed yet".to_string(),
                generation,
                now,
            ),
            condition(
                PROVISIONED,
                UNKNOWN,
                "NotYetObserved",
                "Provision has not started".to_string(),
                generation,
                now,
            ),
        ),
        Some(p) => (
            if p.healthy {
                condition(
                    DELIVERY_HEALTHY,
                    TRUE,
                    "Delivering",
                    "pushes are acknowledged by the target".to_string(),
                    generation,
                    now,
                )
            } else {
                condition(
                    DELIVERY_HEALTHY,
                    FALSE,
                    "CircuitOpen",
                    p.last_error
                        .clone()
                        .unwrap_or_else(|| "pushes are failing".to_string()),
                    generation,
                    now,
                )
            },
            match (p.provisioned, p.provisioning) {
                (Some(n), _) => condition(
                    PROVISIONED,
                    TRUE,
                    "Provisioned",
                    format!("{n} users provisioned"),
                    generation,
                    now,
                ),
                (None, n) => condition(
                    PROVISIONED,
                    FALSE,
                    "Provisioning",
                    format!("{} users pushed so far", n.unwrap_or(0)),
                    generation,
                    now,
                ),
            },
        ),
    };
    out.push(delivery);
    out.push(provisioned);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::test_support::{meta, t};

    fn target(spec: serde_json::Value) -> RealTimeTarget {
        RealTimeTarget {
            metadata: meta("default", "push", 1, 100),
            spec: serde_json::from_value(spec).unwrap(),
            status: None,
        }
    }

    fn ready_of(status: &RealTimeTargetStatus) -> (String, String) {
        let c = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        (c.status.clone(), c.reason.clone())
    }

    #[test]
    fn invalid_and_pending_specs() {
        let config = RuntimeConfig::default();
        let secrets = SecretIndex::new(&[]);
        let both = target(serde_json::json!({
            "tenantRef": {"name": "acme"}, "displayName": "P",
            "scimUrl": "https://h/x/entities/user", "sourceSystemRef": {"name": "s"},
            "authentication": {"basic": {"clientId": "c", "secretRef": {"name": "s", "key": "k"}}}
        }));
        let out = reconcile_real_time_targets(
            &[both],
            &config,
            &secrets,
            &RealTimeObservations::default(),
            t(200),
        );
        let status = out.statuses.values().next().unwrap();
        assert_eq!(ready_of(status), ("False".into(), "InvalidSpec".into()));
        assert!(out.accepted.is_empty());
    }

    fn config_with_admin(user_id: &str) -> RuntimeConfig {
        let mut tenant = crate::runtime::TenantConfig {
            name: "acme".into(),
            ..Default::default()
        };
        tenant.admins.insert(
            "c1".into(),
            crate::runtime::AdminConfig {
                resource: "default/acme-admin".into(),
                display_name: "admin".into(),
                client_id: "c1".into(),
                user_id: user_id.into(),
                permissions: Default::default(),
                secrets: Vec::new(),
                lock_after_failed_logons: false,
            },
        );
        let mut config = RuntimeConfig::default();
        config.tenants.insert("acme".into(), tenant);
        config
    }

    fn certificate_target(common_name: &str) -> RealTimeTarget {
        target(serde_json::json!({
            "tenantRef": {"name": "acme"}, "displayName": "P",
            "scimUrl": "https://h/x/entities/user",
            "authentication": {"certificate": {
                "commonName": common_name, "technicalAdminRef": {"name": "acme-admin"},
                "passwordRef": {"name": "p12", "key": "password"}, "outputSecretName": "push-cert"}}
        }))
    }

    #[test]
    fn certificate_authentication_waits_for_the_observed_certificate() {
        use crate::auth::certificates::{TenantCa, Validity, issue_client_certificate};
        let config = config_with_admin("T000001");
        let secret = crate::reconcile::test_support::secret("default", "p12", "password", "pw");
        let secrets = [secret];
        let index = SecretIndex::new(&secrets);
        let run = |observed: &RealTimeObservations, cn: &str| {
            reconcile_real_time_targets(
                &[certificate_target(cn)],
                &config,
                &index,
                observed,
                t(200),
            )
        };
        // Subject CN too long: Stalled with the CA's message.
        let long = run(&RealTimeObservations::default(), &"c".repeat(56));
        let status = long.statuses.values().next().unwrap();
        assert_eq!(
            ready_of(status),
            ("False".into(), INVALID_COMMON_NAME.into())
        );
        let ready = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert!(
            ready
                .message
                .contains("The maximum length of the CN is 64 characters"),
            "{}",
            ready.message
        );
        assert!(long.accepted.is_empty());
        // Pending: configured with the request, no credentials yet.
        let pending = run(&RealTimeObservations::default(), "RT");
        let accepted = &pending.accepted[0];
        assert_eq!(accepted.auth, OutboundAuth::None);
        let request = accepted.certificate.as_ref().unwrap();
        assert_eq!(request.subject().unwrap(), "RT(T000001)");
        assert_eq!(request.password, "pw");
        assert_eq!(request.output_secret, "push-cert");
        let status = pending.statuses.values().next().unwrap();
        assert_eq!(
            ready_of(status),
            ("False".into(), CERTIFICATE_PENDING.into())
        );
        assert!(!format!("{:?}", pending.accepted).contains("\"pw\""));
        // Observed: the certificate becomes the target's auth.
        let now = jiff::Timestamp::now();
        let ca = TenantCa::generate("acme", now).unwrap();
        let issued =
            issue_client_certificate(&ca, "RT", "T000001", Validity::starting(now, 365)).unwrap();
        let mut observed = RealTimeObservations::default();
        observed.push.insert(
            "default/push".into(),
            PushHealth {
                healthy: true,
                certificate: Some(crate::realtime::certificate::ObservedCertificate {
                    subject: "RT(T000001)".into(),
                    issued: issued.clone(),
                }),
                ..Default::default()
            },
        );
        let done = run(&observed, "RT");
        assert_eq!(
            done.accepted[0].auth,
            OutboundAuth::ClientCertificate {
                certificate_pem: issued.cert_pem.clone(),
                private_key_pem: issued.key_pem.clone(),
            }
        );
        let status = done.statuses.values().next().unwrap();
        assert_eq!(ready_of(status), ("True".into(), "Ready".into()));
        // A certificate for another subject (the common name changed) does not count.
        let renamed = run(&observed, "RT2");
        assert_eq!(renamed.accepted[0].auth, OutboundAuth::None);
        // An unknown admin: Reconciling.
        let no_admin = reconcile_real_time_targets(
            &[certificate_target("RT")],
            &RuntimeConfig {
                tenants: [("acme".to_string(), crate::runtime::TenantConfig::default())].into(),
                ..Default::default()
            },
            &index,
            &RealTimeObservations::default(),
            t(200),
        );
        let status = no_admin.statuses.values().next().unwrap();
        assert_eq!(
            ready_of(status),
            ("False".into(), TECHNICAL_ADMIN_NOT_FOUND.into())
        );
    }

    #[test]
    fn trusted_ca_from_a_secret_key() {
        let ca =
            crate::auth::certificates::TenantCa::generate("acme", jiff::Timestamp::now()).unwrap();
        let secrets = [
            crate::reconcile::test_support::secret("default", "ca", "ca.crt", ca.cert_pem()),
            crate::reconcile::test_support::secret("default", "bad", "ca.crt", "not pem"),
        ];
        let index = SecretIndex::new(&secrets);
        let r = |name: &str, key: &str| crate::api::SecretKeyRef {
            name: name.into(),
            key: key.into(),
        };
        assert_eq!(trusted_ca("default", None, &index).unwrap(), None);
        assert_eq!(
            trusted_ca("default", Some(&r("ca", "ca.crt")), &index).unwrap(),
            Some(ca.cert_pem().to_string())
        );
        let (health, _) = trusted_ca("default", Some(&r("bad", "ca.crt")), &index).unwrap_err();
        assert!(matches!(health, Health::Stalled { .. }), "{health:?}");
        let (_, secret) = trusted_ca("default", Some(&r("missing", "ca.crt")), &index).unwrap_err();
        assert!(secret.is_some());
    }

    #[test]
    fn token_url_defaults_to_the_tenant_endpoint() {
        assert_eq!(
            default_token_url(
                "http://127.0.0.1:1/tenants/acme/ipsproxy/service/api/v1/systems/s/entities/user"
            ),
            "http://127.0.0.1:1/tenants/acme/oauth2/token"
        );
    }
}
