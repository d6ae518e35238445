//! Secrets the operator generates (client credentials, certificates, a tenant CA): created or
//! updated by server-side apply with an owner reference to the resource they belong to, so
//! Kubernetes garbage-collects them with it.
//!
//! [`ensure_generated`] runs after an object's status is handled: a Ready Tenant gets
//! `<name>-ca` (`ca.crt`: its `status.caCertificate`); a RealTimeTarget with `certificate`
//! authentication gets its output Secret (`tls.crt`, `tls.key`, `ca.crt`, `keystore.p12`) once
//! the runtime reports the issued certificate in its push health.
//!
//! Invariants: a generated Secret always carries exactly one controller owner reference (the
//! resource), the label `app.kubernetes.io/managed-by: idrelay`, and field manager
//! [`FIELD_MANAGER`]; its values never reach a log or an error; it is written only when the
//! stored one (reflector store) differs, so a no-op pass makes no request.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource};

use crate::auth::certificates::{IssuedCertificate, SecretFiles, pkcs12, read_pkcs12};
use crate::reconcile::ObjectKey;

use super::Error;
use super::context::Context;
use super::decide::FIELD_MANAGER;
use super::kinds::Kind;
use super::pass::SharedPass;

/// Type of every generated Secret.
pub const OPAQUE: &str = "Opaque";
/// Key of the PEM CA certificate in a generated Secret.
pub const CA_CRT: &str = "ca.crt";

/// Label on every Secret the operator generates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "idrelay");

/// The Secret `name` holding `data`, owned by `owner` (same namespace). `None` when the owner
/// has no name, namespace or uid (not yet stored).
pub fn owned_secret<O: Resource<DynamicType = ()>>(
    owner: &O,
    name: &str,
    type_: &str,
    data: BTreeMap<String, ByteString>,
) -> Option<Secret> {
    let owner_ref = owner.controller_owner_ref(&())?;
    Some(Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(owner.meta().namespace.clone()?),
            owner_references: Some(vec![owner_ref]),
            labels: Some(BTreeMap::from([(
                MANAGED_BY.0.to_owned(),
                MANAGED_BY.1.to_owned(),
            )])),
            ..Default::default()
        },
        type_: Some(type_.to_owned()),
        data: Some(data),
        ..Default::default()
    })
}

/// Creates or updates the Secret `name` holding `data`, owned by `owner` (server-side apply,
/// field manager [`FIELD_MANAGER`]). Returns the stored Secret.
pub async fn ensure_owned_secret<O: Resource<DynamicType = ()>>(
    client: Client,
    owner: &O,
    name: &str,
    type_: &str,
    data: BTreeMap<String, ByteString>,
) -> Result<Secret, Error> {
    let mut secret = owned_secret(owner, name, type_, data).ok_or(Error::Unnamed)?;
    let namespace = secret.metadata.namespace.clone().ok_or(Error::Unnamed)?;
    let api: Api<Secret> = Api::namespaced(client, &namespace);
    // Server-side apply needs apiVersion and kind in the body.
    let mut body = serde_json::to_value(&secret).map_err(|_| Error::Unnamed)?;
    body["apiVersion"] = "v1".into();
    body["kind"] = "Secret".into();
    secret = api
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await?;
    Ok(secret)
}

/// Name of the Secret holding the CA certificate of the Tenant resource `tenant`.
pub fn ca_secret_name(tenant: &str) -> String {
    format!("{tenant}-ca")
}

/// The data of a tenant CA Secret.
pub fn ca_secret_data(ca_pem: &str) -> BTreeMap<String, ByteString> {
    BTreeMap::from([(CA_CRT.to_owned(), ByteString(ca_pem.as_bytes().to_vec()))])
}

/// Whether `stored` is owned by the object with uid `owner_uid` (pure).
fn owned_by(stored: &Secret, owner_uid: &str) -> bool {
    stored
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == owner_uid && o.controller == Some(true))
}

/// Whether `stored` already holds exactly `data` and is owned by `owner_uid` (pure).
pub fn holds(
    stored: Option<&Secret>,
    owner_uid: &str,
    data: &BTreeMap<String, ByteString>,
) -> bool {
    stored.is_some_and(|s| owned_by(s, owner_uid) && s.data.as_ref() == Some(data))
}

/// Whether `stored` holds `issued` (`tls.crt`, `tls.key`, `ca.crt`) with a keystore that opens
/// with `password` and holds the same certificate, owned by `owner_uid` (pure). The keystore
/// is compared by content: PKCS#12 encryption is salted, so its bytes differ on every build.
pub fn holds_certificate(
    stored: Option<&Secret>,
    owner_uid: &str,
    issued: &IssuedCertificate,
    password: &str,
) -> bool {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let Some(s) = stored.filter(|s| owned_by(s, owner_uid)) else {
        return false;
    };
    let Some(data) = &s.data else {
        return false;
    };
    let get = |k: &str| data.get(k).map(|b| b.0.as_slice());
    let pem_matches = get("tls.crt") == Some(issued.cert_pem.as_bytes())
        && get("tls.key") == Some(issued.key_pem.as_bytes())
        && get(CA_CRT) == Some(issued.ca_pem.as_bytes());
    if !pem_matches {
        return false;
    }
    let Ok(leaf) = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()) else {
        return false;
    };
    get("keystore.p12")
        .and_then(|p12| read_pkcs12(p12, password).ok())
        .is_some_and(|c| c.chain_der.first().map(Vec::as_slice) == Some(leaf.as_ref()))
}

/// The output Secret data of `issued`: PEM files and a PKCS#12 keystore under `password`
/// (built as the files mode builds them). `None` when the keystore cannot be built.
fn certificate_secret_data(
    issued: &IssuedCertificate,
    password: &str,
) -> Option<BTreeMap<String, ByteString>> {
    let keystore = pkcs12(&issued.cert_pem, &issued.key_pem, &issued.ca_pem, password).ok()?;
    let files = SecretFiles::issued(issued, keystore);
    Some(
        files
            .entries()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), ByteString(v.to_vec())))
            .collect(),
    )
}

fn stored_secret(ctx: &Context, namespace: &str, name: &str) -> Option<Secret> {
    ctx.stores
        .secrets
        .get(&ObjectRef::new(name).within(namespace))
        .map(|s| s.as_ref().clone())
}

/// Ensures the Secrets generated for `kind` `key` after its status was handled (see the module
/// docs); writes only what differs from the stored Secrets.
pub async fn ensure_generated(
    ctx: &Context,
    kind: Kind,
    key: &ObjectKey,
    desired: &serde_json::Value,
    pass: &SharedPass,
) -> Result<(), Error> {
    match kind {
        Kind::Tenant => {
            let Some(ca_pem) = desired["caCertificate"].as_str() else {
                return Ok(());
            };
            let Some(tenant) = ctx
                .stores
                .tenants
                .get(&ObjectRef::new(&key.name).within(&key.namespace))
            else {
                return Ok(());
            };
            let uid = tenant.metadata.uid.clone().unwrap_or_default();
            let name = ca_secret_name(&key.name);
            let data = ca_secret_data(ca_pem);
            let stored = stored_secret(ctx, &key.namespace, &name);
            if !holds(stored.as_ref(), &uid, &data) {
                ensure_owned_secret(ctx.client.clone(), tenant.as_ref(), &name, OPAQUE, data)
                    .await?;
                tracing::info!(tenant = %key, secret = %name, "tenant CA Secret written");
            }
        }
        Kind::RealTimeTarget => {
            let resource = key.to_string();
            let Some(request) = pass
                .config
                .realtime_targets
                .iter()
                .find(|t| t.resource == resource)
                .and_then(|t| t.certificate.clone())
            else {
                return Ok(());
            };
            if request.output_namespace != key.namespace {
                return Ok(());
            }
            let Some(target) = ctx
                .stores
                .real_time_targets
                .get(&ObjectRef::new(&key.name).within(&key.namespace))
            else {
                return Ok(());
            };
            let (_, realtime) = ctx.observer.observations(&pass.config);
            let Some(observed) = realtime
                .push
                .get(&resource)
                .and_then(|h| h.certificate.clone())
            else {
                return Ok(());
            };
            let uid = target.metadata.uid.clone().unwrap_or_default();
            let name = request.output_secret.as_str();
            let stored = stored_secret(ctx, &key.namespace, name);
            if holds_certificate(stored.as_ref(), &uid, &observed.issued, &request.password) {
                return Ok(());
            }
            let Some(data) = certificate_secret_data(&observed.issued, &request.password) else {
                tracing::warn!(target = %key, secret = %name, "the client certificate keystore could not be built");
                return Ok(());
            };
            ensure_owned_secret(ctx.client.clone(), target.as_ref(), name, OPAQUE, data).await?;
            tracing::info!(target = %key, secret = %name, subject = %observed.subject,
                "client certificate Secret written");
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::test_support::*;

    #[test]
    fn generated_secrets_are_owned_by_their_resource() {
        let mut a = admin("ns", "adm", "acme", None);
        let data = BTreeMap::from([("k".to_owned(), ByteString(b"v".to_vec()))]);
        assert!(owned_secret(&a, "s", "Opaque", data.clone()).is_none());
        a.metadata.uid = Some("u-1".into());
        let s = owned_secret(&a, "adm-credentials", "Opaque", data).unwrap();
        assert_eq!(s.metadata.namespace.as_deref(), Some("ns"));
        let owner = &s.metadata.owner_references.unwrap()[0];
        assert_eq!(owner.kind, "TechnicalAdmin");
        assert_eq!(owner.name, "adm");
        assert_eq!(owner.uid, "u-1");
        assert_eq!(owner.controller, Some(true));
        assert_eq!(s.metadata.labels.unwrap()[MANAGED_BY.0], "idrelay");
    }

    fn owned(mut s: Secret, uid: &str) -> Secret {
        s.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                uid: uid.into(),
                controller: Some(true),
                ..Default::default()
            },
        ]);
        s
    }

    #[test]
    fn the_ca_secret_is_current_only_with_the_same_data_and_owner() {
        let data = ca_secret_data("PEM");
        let stored = owned(
            Secret {
                data: Some(data.clone()),
                ..Default::default()
            },
            "u-1",
        );
        assert_eq!(ca_secret_name("acme"), "acme-ca");
        assert!(holds(Some(&stored), "u-1", &data));
        assert!(!holds(Some(&stored), "u-2", &data));
        assert!(!holds(Some(&stored), "u-1", &ca_secret_data("OTHER")));
        assert!(!holds(None, "u-1", &data));
    }

    #[test]
    fn the_certificate_secret_is_current_while_its_keystore_opens_with_the_password() {
        use crate::auth::certificates::{TenantCa, Validity, issue_client_certificate};
        let now = jiff::Timestamp::now();
        let ca = TenantCa::generate("acme", now).unwrap();
        let issued =
            issue_client_certificate(&ca, "RT", "a1b2c3d4", Validity::starting(now, 30)).unwrap();
        let data = certificate_secret_data(&issued, "s3cret").unwrap();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(keys, ["ca.crt", "keystore.p12", "tls.crt", "tls.key"]);
        let stored = owned(
            Secret {
                data: Some(data),
                ..Default::default()
            },
            "u-1",
        );
        assert!(holds_certificate(Some(&stored), "u-1", &issued, "s3cret"));
        // Password changed, other owner, or a new certificate: write again.
        assert!(!holds_certificate(Some(&stored), "u-1", &issued, "other"));
        assert!(!holds_certificate(Some(&stored), "u-2", &issued, "s3cret"));
        let renewed =
            issue_client_certificate(&ca, "RT", "a1b2c3d4", Validity::starting(now, 30)).unwrap();
        assert!(!holds_certificate(Some(&stored), "u-1", &renewed, "s3cret"));
        assert!(!holds_certificate(None, "u-1", &issued, "s3cret"));
    }
}
