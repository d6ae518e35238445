//! CSV user import (spec §5): the application-level file (§5.1) and the full-profile file
//! (§5.2) into a tenant's directory, with a per-row report; the HTTP endpoint
//! `POST /tenants/{t}/import/users` and the client that uploads a file in chunks.
//!
//! Invariants:
//! - A malformed file (not UTF-8, unbalanced quotes, a missing mandatory or unsupported column,
//!   a size limit exceeded) is refused as a whole with a clear [`FileError`]: nothing is written.
//! - A bad row fails alone (row number, column, rule) and writes nothing; good rows are
//!   committed.
//! - Every change an import makes is recorded with origin `csv` ([`Origin::Csv`](crate::directory::Origin)).
//!
//! Files: [`file`] (encoding, quoting, records), [`format`] (the two formats, detection),
//! [`app`] and [`full`] (columns, rules and matching of each format), [`cell_path`] (SCIM-path
//! columns), [`master_data`] (value lists), [`groups`] (group names), [`plan`] (row plans and
//! shared checks), [`run`] (running an import), [`report`] (the report), [`http`] (the
//! endpoint), [`client`] (chunked upload for the CLI and the benchmark).

pub mod app;
pub mod cell_path;
pub mod client;
pub mod error;
pub mod file;
pub mod format;
pub mod full;
pub mod groups;
pub mod http;
pub mod master_data;
pub mod plan;
pub mod report;
pub mod run;

pub use error::FileError;
pub use format::Format;
pub use report::{ImportReport, RowReport, RowStatus};
pub use run::{ImportOptions, import, prepare};
