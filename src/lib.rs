//! idrelay: SAP Cloud Identity Services real-time provisioning as a Kubernetes operator,
//! with an embedded identity directory and provisioning runtime.
//!
//! The crate is organised by concern (see ARCHITECTURE.md for the code map):
//! - [`api`]: the declarative resource types (Kubernetes custom resources) and condition helpers.
//! - [`reconcile`]: pure reconcile logic: resources in, runtime configuration and status out.
//! - [`files`]: the files driver (`idrelay serve --config DIR`).
//! - [`scim`]: the SCIM protocol library (schemas, filters, PATCH, paging, errors). No I/O.
//! - [`directory`]: the per-tenant identity directory and its SCIM handlers.
//! - [`delivery`]: durable delivery of provisioning events to target systems (outbox consumer,
//!   outbound SCIM client, connection check).
//! - [`provisioning`]: the real-time provisioning API, rate limit, real-time logs and the
//!   transformation engine.
//! - [`auth`]: technical admins, secrets, permissions, OAuth tokens.
//! - [`store`]: persistence (SQLite) with group commit.
//! - [`server`]: HTTP(S) listener, tenant routing, TLS, admin endpoints.
//! - [`runtime`]: the running runtime that the drivers configure.

pub mod api;
pub mod auth;
pub mod delivery;
pub mod directory;
pub mod files;
pub mod metrics;
pub mod operator;
pub mod provisioning;
pub mod realtime;
pub mod reconcile;
pub mod runtime;
pub mod scim;
pub mod server;
pub mod store;
