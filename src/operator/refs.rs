//! References between objects, read from the spec JSON, for the watch mappers: which objects
//! must be reconciled again when a Tenant, TechnicalAdmin, SourceSystem or Secret changes.
//!
//! The rule is structural so that it follows the API without a list per kind: `tenantRef`,
//! `technicalAdminRef`, `sourceSystemRef` and `sourceSystemRefs` name objects of those kinds;
//! any other `…Ref` object with a `name` names a Secret. References resolve in the referrer's
//! namespace only (no cross-namespace references).

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::runtime::reflector::ObjectRef;
use serde_json::Value;

use super::kinds::OperatorKind;
use crate::reconcile::ObjectKey;

/// What a reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Referent {
    Tenant,
    TechnicalAdmin,
    SourceSystem,
    Secret,
}

/// Every `(referent, name)` a spec refers to.
pub fn references(spec: &Value) -> BTreeSet<(Referent, String)> {
    let mut out = BTreeSet::new();
    collect(spec, &mut out);
    out
}

fn name_of(v: &Value) -> Option<String> {
    v.get("name")?.as_str().map(str::to_owned)
}

fn collect(v: &Value, out: &mut BTreeSet<(Referent, String)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let referent = match k.as_str() {
                    "tenantRef" => Some(Referent::Tenant),
                    "technicalAdminRef" => Some(Referent::TechnicalAdmin),
                    "sourceSystemRef" | "sourceSystemRefs" => Some(Referent::SourceSystem),
                    k if k.ends_with("Ref") => Some(Referent::Secret),
                    _ => None,
                };
                if let Some(r) = referent {
                    match v {
                        Value::Array(items) => {
                            out.extend(items.iter().filter_map(name_of).map(|n| (r, n)));
                        }
                        _ => out.extend(name_of(v).map(|n| (r, n))),
                    }
                }
                collect(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        _ => {}
    }
}

/// The objects among `objects` that refer to `referent` `key` (same namespace).
pub fn dependents<K: OperatorKind>(
    objects: &[Arc<K>],
    referent: Referent,
    key: &ObjectKey,
) -> Vec<ObjectRef<K>> {
    objects
        .iter()
        .filter(|o| ObjectKey::of(o.meta()).namespace == key.namespace)
        .filter(|o| references(&o.spec_json()).contains(&(referent, key.name.clone())))
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TargetSystem;
    use crate::reconcile::test_support::*;

    #[test]
    fn references_of_a_target_system() {
        let t = target("default", "tgt", "acme", &["src1", "src2"]);
        let refs = references(&t.spec_json());
        assert!(refs.contains(&(Referent::Tenant, "acme".into())));
        assert!(refs.contains(&(Referent::SourceSystem, "src1".into())));
        assert!(refs.contains(&(Referent::SourceSystem, "src2".into())));
        assert!(refs.contains(&(Referent::Secret, "apps-cred".into())));
        assert_eq!(refs.len(), 4);
    }

    #[test]
    fn references_of_an_admin_and_nested_refs() {
        let a = admin("default", "adm", "acme", Some(("s", "k")));
        let refs = references(&a.spec_json());
        assert!(refs.contains(&(Referent::Secret, "s".into())));
        assert!(refs.contains(&(Referent::Tenant, "acme".into())));
        let v = serde_json::json!({"auth": {"basic": {"technicalAdminRef": {"name": "a"},
            "passwordRef": {"name": "p", "key": "k"}}}});
        let refs = references(&v);
        assert!(refs.contains(&(Referent::TechnicalAdmin, "a".into())));
        assert!(refs.contains(&(Referent::Secret, "p".into())));
    }

    #[test]
    fn dependents_are_same_namespace_referrers() {
        let objs: Vec<Arc<TargetSystem>> = vec![
            Arc::new(target("default", "a", "acme", &["src"])),
            Arc::new(target("other", "b", "acme", &["src"])),
            Arc::new(target("default", "c", "zeta", &[])),
        ];
        let d = dependents(&objs, Referent::Tenant, &ObjectKey::new("default", "acme"));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "a");
        let d = dependents(
            &objs,
            Referent::Secret,
            &ObjectKey::new("default", "apps-cred"),
        );
        assert_eq!(d.len(), 2);
        assert!(dependents(&objs, Referent::SourceSystem, &ObjectKey::new("x", "src")).is_empty());
    }
}
