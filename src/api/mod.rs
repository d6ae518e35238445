//! The declarative API: Kubernetes custom resources of group `idrelay.dev`, version `v1alpha1`.

pub mod permission;

pub use permission::Permission;
