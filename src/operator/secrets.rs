//! Secrets the operator generates (client credentials, certificates, a tenant CA): created or
//! updated by server-side apply with an owner reference to the resource they belong to, so
//! Kubernetes garbage-collects them with it.
//!
//! Invariants: a generated Secret always carries exactly one controller owner reference (the
//! resource), the label `app.kubernetes.io/managed-by: idrelay`, and field manager
//! [`FIELD_MANAGER`]; its values never reach a log or an error.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource};

use super::Error;
use super::decide::FIELD_MANAGER;

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
}
