//! The CustomResourceDefinitions of group `idrelay.dev`, generated from the Rust types.
//!
//! Invariant: `crds/idrelay.dev.yaml` is exactly [`to_yaml`]; `tests/integration/crds_drift.rs` fails otherwise.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use super::{RealTimeTarget, SourceSystem, TargetSystem, TechnicalAdmin, Tenant};

/// Every CRD of the API, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        Tenant::crd(),
        TechnicalAdmin::crd(),
        SourceSystem::crd(),
        TargetSystem::crd(),
        RealTimeTarget::crd(),
    ]
}

/// All CRDs as one multi-document YAML stream (each document starts with `---`).
pub fn to_yaml() -> String {
    let mut out = String::new();
    for crd in all() {
        out.push_str("---\n");
        // Serializing a CRD value cannot fail (no maps with non-string keys, no custom serializers
        // that error); an empty document would be caught by the drift test.
        out.push_str(&serde_norway::to_string(&crd).unwrap_or_default());
    }
    out
}
