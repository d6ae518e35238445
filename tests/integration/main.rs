//! The integration tests of idrelay, linked into one test binary.
//!
//! One binary instead of one per file: every test file would otherwise link the whole library
//! and its dependencies again (about 150 MB each in a debug build), which costs CI minutes and
//! gigabytes of disk. Run one area with a filter, for example
//! `cargo test --test integration crash::`.
//!
//! `support` holds the shared helpers (config directories, spawning `idrelay serve` and
//! `scim2-server`, a small SCIM client); `realtime_common` the real-time chain of the
//! `realtime_*` modules.

mod realtime_common;
mod support;

mod conformance;
mod crash;
mod crd_validation;
mod crds_drift;
mod csv_import;
mod delivery;
mod differential;
mod drivers_agree;
mod entra_okta;
mod helm_chart;
mod jobs;
mod mtls;
mod operator;
mod operator_wiring;
mod provisioning_e2e;
mod realtime_api;
mod realtime_certificate;
mod realtime_groups;
mod realtime_provision;
mod realtime_push;
mod realtime_restart;
mod scim_v1_api;
mod scim_v2_api;
