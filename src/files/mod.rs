//! The files driver (`idrelay serve --config DIR`, the embedded default): the resources come from
//! YAML documents in a directory, statuses are kept in memory and served by `GET /status`.
//!
//! - [`document`]: YAML text → documents (an invalid document becomes a Stalled entry);
//! - [`load`]: the directory → documents (a broken file keeps its last good documents);
//! - [`state`]: generations, creation times and statuses between passes; calls [`crate::reconcile`];
//! - [`status`]: the published statuses and readiness;
//! - [`changes`]: which status documents a pass changed (nothing is written on a no-op pass);
//! - [`share`]: one `Arc` per distinct transformation in the configuration (memory);
//! - [`checks`]: when each target system's live connection check runs, and which results count;
//! - [`test_connection`]: `idrelay test-connection KIND/NAME` from a configuration directory;
//! - [`driver`]: the load → reconcile → apply → publish loop with the directory watch and the
//!   connection checks.
//!
//! Invariant: secret values reach only the runtime configuration, never a log line or a status.

pub mod changes;
pub mod checks;
pub mod document;
pub mod driver;
pub mod load;
pub mod share;
pub mod state;
pub mod status;
pub mod table;
pub mod test_connection;

pub use changes::StatusChanges;
pub use document::{Document, parse_documents};
pub use driver::{DeliveryHealthSource, FilesDriver};
pub use load::FilesError;
pub use state::{FilesState, PassOutput, StatusEntry};
pub use status::FilesStatus;
