//! The operator driver (`idrelay operator`): the same pure reconcile as the files driver
//! ([`crate::reconcile`]), fed by the Kubernetes API server and writing status subresources
//! and Events.
//!
//! - [`kinds`]: the five kinds behind one trait;
//! - [`pass`]: the shared pass (all objects + Secrets + observations → runtime configuration
//!   and one status per object), memoized per input state;
//! - [`decide`]: pure decisions — first-sight status, what to apply, which Events, backoff;
//! - [`refs`]: who refers to whom (the watch mappers);
//! - [`observe`]: connection checks and delivery/push health as observations;
//! - [`context`]: stores, memo, applied configuration, counters shared by the controllers;
//! - [`controller`]: one object's reconcile (finalizer, status apply, Events) and error policy;
//! - [`wiring`]: one watch per kind fanned out to five controllers;
//! - [`secrets`]: generated Secrets with owner references;
//! - [`status`]: `/status` and readiness;
//! - [`run`]: leader election, runtime, listeners, graceful shutdown.
//!
//! Invariants:
//! - one pass per input state; the runtime configuration is applied (only when it changed)
//!   before any status describing it is written;
//! - a status is server-side-applied with field manager `idrelay` only when it differs from the
//!   stored one: a pass that changes nothing writes nothing;
//! - kstatus: `Ready=Unknown` + `Reconciling=True` on first sight, then the reconcile core's
//!   conditions (`observedGeneration` on status and conditions, `lastTransitionTime` kept
//!   unless the status flips, `Stalled` for permanent errors);
//! - Events only when `Ready` flips; retries back off exponentially with jitter;
//! - a deleted resource is out of the runtime before its finalizer is removed;
//! - only the elected leader reconciles, serves and delivers;
//! - secret values reach only the runtime configuration.

pub mod context;
pub mod controller;
pub mod decide;
mod error;
pub mod kinds;
pub mod observe;
pub mod pass;
pub mod refs;
pub mod run;
pub mod secrets;
pub mod status;
pub mod wiring;

pub use context::{ConfigSink, Context, Kicks, Stores};
pub use controller::{error_policy, reconcile};
pub use error::Error;
pub use kinds::{Kind, OperatorKind};
pub use pass::{SharedPass, Snapshot};
pub use run::{OperatorArgs, run, run_with_client};
pub use secrets::ensure_owned_secret;
