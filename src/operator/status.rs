//! What the operator reports on its admin listener: the statuses of the last shared pass
//! (`GET /status`, the files driver's format, so `idrelay get` works against both drivers),
//! readiness, and the metrics registry (`GET /metrics`).
//!
//! Invariant: ready only after the first full pass has been applied to the runtime (on the
//! leader); never holds a secret value.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

use super::pass::SharedPass;
use crate::metrics::Metrics;

/// Published statuses and readiness of the operator.
#[derive(Debug)]
pub struct OperatorStatus {
    entries: RwLock<serde_json::Value>,
    ready: AtomicBool,
    metrics: Metrics,
}

impl Default for OperatorStatus {
    fn default() -> Self {
        Self::with_metrics(Metrics::new())
    }
}

impl OperatorStatus {
    pub fn new() -> Self {
        Self::default()
    }

    /// A status that records into (and serves) `metrics`.
    pub fn with_metrics(metrics: Metrics) -> Self {
        OperatorStatus {
            entries: RwLock::new(serde_json::Value::Array(vec![])),
            ready: AtomicBool::new(false),
            metrics,
        }
    }

    /// The metrics handle the operator records into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Publishes the statuses of `pass`.
    pub fn publish(&self, pass: &SharedPass) {
        *self.entries.write() =
            serde_json::Value::Array(pass.entries.iter().map(|e| e.to_json()).collect());
    }

    /// Turns readiness on (after the first full pass) or off (shutting down).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}

impl crate::server::StatusSource for OperatorStatus {
    fn status_json(&self) -> serde_json::Value {
        self.entries.read().clone()
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn metrics(&self) -> Option<Metrics> {
        Some(self.metrics.clone())
    }
}
