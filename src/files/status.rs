//! The files driver's published status: what `GET /status` serves, whether the first full
//! pass has been applied (readiness), and the metrics handle `GET /metrics` serves.
//!
//! Invariant: holds only statuses (conditions, ids, expiry times), never a secret value.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

use super::state::StatusEntry;
use crate::metrics::Metrics;

/// Shared, cheaply readable status of every resource the files driver knows.
#[derive(Debug, Default)]
pub struct FilesStatus {
    entries: RwLock<serde_json::Value>,
    ready: AtomicBool,
    metrics: Metrics,
}

impl FilesStatus {
    pub fn new() -> Self {
        Self::with_metrics(Metrics::new())
    }

    /// A status that also serves `metrics` on `GET /metrics`.
    pub fn with_metrics(metrics: Metrics) -> Self {
        FilesStatus {
            entries: RwLock::new(serde_json::Value::Array(vec![])),
            ready: AtomicBool::new(false),
            metrics,
        }
    }

    /// The metrics handle the driver records into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Replaces the published entries.
    pub fn publish(&self, entries: &[StatusEntry]) {
        *self.entries.write() =
            serde_json::Value::Array(entries.iter().map(StatusEntry::to_json).collect());
    }

    /// Marks the first full pass as applied.
    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// A JSON array of `{apiVersion, kind, metadata{namespace,name,generation,creationTimestamp},
    /// status}`, Tenants first, each kind sorted by namespace/name.
    pub fn status_json(&self) -> serde_json::Value {
        self.entries.read().clone()
    }

    /// Whether the first full pass has been applied to the runtime.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

impl crate::server::StatusSource for FilesStatus {
    fn status_json(&self) -> serde_json::Value {
        FilesStatus::status_json(self)
    }

    fn ready(&self) -> bool {
        FilesStatus::ready(self)
    }

    fn metrics(&self) -> Option<Metrics> {
        Some(self.metrics.clone())
    }
}
