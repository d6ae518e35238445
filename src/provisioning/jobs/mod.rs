//! Provisioning jobs (spec/domain.md §3.6, §2.6): Read (full or delta) and Resync runs of a
//! source system into every enabled target connected to it, on demand (API, `idrelay job
//! run`) and on an interval, with statistics per system and a job log per run.
//!
//! Module map:
//! - [`properties`]: the job properties and the pure decisions (read mode, delta state,
//!   filters, interval, deletion rules).
//! - [`source`]: reading the source (a SCIM server, or the tenant's own directory).
//! - [`run`]: one run: read, transform, write, delete vanished entities; statistics.
//! - [`service`]: starting runs, one per source at a time, queueing, the job log records.
//! - [`schedule`]: the interval schedule and job log retention.
//! - [`api`]: `startJob` and `jobLogs` endpoints of the tenant admin API.
//!
//! Invariants: a job writes through the same transformation pipeline and SCIM client as
//! real-time delivery; writes into an Identity Authentication target carry the loop-prevention
//! marker [`run::JOB_HEADER`]; all store writes go through the writer.

pub mod api;
pub mod properties;
pub mod run;
pub mod schedule;
pub mod service;
pub mod source;

pub use run::JOB_HEADER;
pub use schedule::spawn_scheduler;
pub use service::{JobService, StartError, jobs};
