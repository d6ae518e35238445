//! Durable delivery of real-time provisioning events to target systems (architecture §5.2):
//! the outbox consumer ([`DeliveryEngine`]), the outbound SCIM client, the live connection
//! check, and the pure parts they use (backoff, circuit breaker, schedule, request planning).
//!
//! Module map:
//! - [`engine`]: the dispatcher (loads pending rows, per-target concurrency and breaker).
//! - [`queue`]: the in-memory schedule (per-entity order, coalescing) — pure.
//! - [`worker`]: one execution: plan, SCIM calls, settle in one writer job.
//! - [`pipeline`]: transformations → the request to make — pure.
//! - [`backoff`], [`breaker`]: retry timing and the circuit breaker — pure.
//! - [`client`] (+ token cache), [`connection_check`]: outbound HTTP.
//!
//! Invariants:
//! - At least once, in order per (target, entity), idempotent: a replay never corrupts the
//!   target. Several pending changes of one entity are coalesced into its latest state, and
//!   the older rows are superseded in the same commit that settles the latest one.
//! - Every state change of a delivery row goes through the directory writer (group commit).
//! - Secrets never reach a log line, an error, a log entry or a condition message.

pub mod backoff;
pub mod breaker;
pub mod client;
pub mod connection_check;
pub mod engine;
mod mappings;
mod outbound_auth;
pub mod pipeline;
pub mod queue;
pub mod tls;
pub mod worker;

pub use crate::reconcile::observations::{ConnectionCheck, DeliveryHealth};
pub use client::{ClientError, ClientSettings, Reply, ScimClient};
pub use connection_check::connection_check;
pub use engine::DeliveryEngine;
pub use mappings::id_mappings_committed;

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use crate::runtime::{OutboundAuth, SystemType, TargetSystemConfig, Transformation};

    /// A SCIM target at `url` with the default properties and an empty transformation.
    pub fn target(url: &str) -> Arc<TargetSystemConfig> {
        Arc::new(TargetSystemConfig {
            resource: "ns/target".into(),
            id: "target-1".into(),
            display_name: "Target".into(),
            source_system_ids: vec!["source-1".into()],
            system_type: SystemType::Scim,
            url: url.into(),
            auth: OutboundAuth::None,
            properties: BTreeMap::new(),
            api_version: 2,
            transformation: Arc::new(Transformation::parse("{}").unwrap()),
            enabled: true,
        })
    }
}
