//! The five idrelay kinds as the operator handles them: one [`Kind`] tag per kind and the
//! [`OperatorKind`] trait that gives the controllers uniform access to an object's kind, spec
//! and status as JSON.
//!
//! Invariant: `Kind::as_str` is the Kubernetes `kind` (the same strings the files driver uses),
//! so statuses from both drivers are keyed alike.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{RealTimeTarget, SourceSystem, TargetSystem, TechnicalAdmin, Tenant};

/// One of the five reconciled kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Tenant,
    TechnicalAdmin,
    SourceSystem,
    TargetSystem,
    RealTimeTarget,
}

impl Kind {
    /// Every kind, in reconcile order.
    pub const ALL: [Kind; 5] = [
        Kind::Tenant,
        Kind::TechnicalAdmin,
        Kind::SourceSystem,
        Kind::TargetSystem,
        Kind::RealTimeTarget,
    ];

    /// The Kubernetes `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tenant => "Tenant",
            Kind::TechnicalAdmin => "TechnicalAdmin",
            Kind::SourceSystem => "SourceSystem",
            Kind::TargetSystem => "TargetSystem",
            Kind::RealTimeTarget => "RealTimeTarget",
        }
    }

    /// The kind named `kind` (exact Kubernetes spelling).
    pub fn parse(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A namespaced idrelay custom resource the operator reconciles.
pub trait OperatorKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// The kind tag.
    const KIND: Kind;
    /// `.status` as JSON (`null` when absent).
    fn status_json(&self) -> serde_json::Value;
    /// `.spec` as JSON.
    fn spec_json(&self) -> serde_json::Value;
}

macro_rules! operator_kind {
    ($ty:ty, $kind:expr) => {
        impl OperatorKind for $ty {
            const KIND: Kind = $kind;
            fn status_json(&self) -> serde_json::Value {
                serde_json::to_value(&self.status).unwrap_or_default()
            }
            fn spec_json(&self) -> serde_json::Value {
                serde_json::to_value(&self.spec).unwrap_or_default()
            }
        }
    };
}

operator_kind!(Tenant, Kind::Tenant);
operator_kind!(TechnicalAdmin, Kind::TechnicalAdmin);
operator_kind!(SourceSystem, Kind::SourceSystem);
operator_kind!(TargetSystem, Kind::TargetSystem);
operator_kind!(RealTimeTarget, Kind::RealTimeTarget);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_match_the_crd_kinds() {
        assert_eq!(<Tenant as Resource>::kind(&()), Kind::Tenant.as_str());
        assert_eq!(
            <TechnicalAdmin as Resource>::kind(&()),
            Kind::TechnicalAdmin.as_str()
        );
        assert_eq!(
            <SourceSystem as Resource>::kind(&()),
            Kind::SourceSystem.as_str()
        );
        assert_eq!(
            <TargetSystem as Resource>::kind(&()),
            Kind::TargetSystem.as_str()
        );
        assert_eq!(
            <RealTimeTarget as Resource>::kind(&()),
            Kind::RealTimeTarget.as_str()
        );
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("Secret"), None);
    }
}
