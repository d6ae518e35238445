//! What the drivers observed outside the resources, as an input to the pure reconcile: the last
//! live connection check of each target system, the delivery health the runtime reports, and the
//! CA certificate of each tenant (its key stays in the runtime; only the public certificate is
//! published in `status.caCertificate`).
//!
//! Invariant: observations are keyed by target system id (CA certificates by tenant name); an
//! absent entry means "not observed yet" (condition `Unknown`, no certificate), never "failed".

use std::collections::BTreeMap;

/// The result of one live connection check of a target system.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionCheck {
    pub ok: bool,
    /// CamelCase leaf cause (`Connected`, `DNSError`, `Unauthorized`, …).
    pub reason: String,
    /// Human-readable detail; never contains a secret.
    pub message: String,
}

/// The delivery state of one target system as the delivery engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryHealth {
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
    /// False while the circuit breaker is open.
    pub healthy: bool,
    pub reason: String,
    pub message: String,
}

/// Everything observed, by target system id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observations {
    pub connection: BTreeMap<String, ConnectionCheck>,
    pub delivery: BTreeMap<String, DeliveryHealth>,
    /// Tenant name → PEM of the tenant CA certificate (public).
    pub ca_certificates: BTreeMap<String, String>,
}

impl Observations {
    /// No observations (every observed condition `Unknown`).
    pub fn none() -> &'static Observations {
        static NONE: std::sync::LazyLock<Observations> =
            std::sync::LazyLock::new(Observations::default);
        &NONE
    }
}
