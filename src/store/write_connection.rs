//! The store's single write connection: a synchronous SQLite connection (rusqlite) owned by
//! the directory committer thread, which runs each batch's statements in one transaction.
//!
//! Why synchronous: a batch is the serial path of every write. Through an async driver each
//! commit crossed to the driver's worker thread and back (two thread wake-ups, each waiting
//! for a core on a busy machine, plus one wake-up of the waiting task per statement result);
//! here the committer thread runs the statements itself, and its only wait is the fsync.
//!
//! Invariants:
//! - Opened with the same settings as every other connection of the store (WAL,
//!   `synchronous=FULL`, foreign keys, busy timeout), plus the writer's high automatic
//!   checkpoint threshold (see `checkpoint`). A commit is durable when [`WriteConnection::commit`]
//!   returns `Ok`.
//! - All or nothing: when any statement or the commit fails, the transaction is rolled back
//!   before the error is returned. Errors name what failed, never bodies, binds or secrets.
//! - Every statement is prepared once and kept in the connection's cache ([`STATEMENT_CACHE`]
//!   entries, least recently used first out): the store's statement texts are fixed per write
//!   kind, and multi-row chunks come in seven sizes per table (see `multi_row`), so fewer than
//!   a hundred texts exist and a batch never prepares a statement twice.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::checkpoint;
use super::rows::RowWrite;
use super::script::{Bind, Script};
use super::{Counters, StoreError};

/// Prepared statements kept by the write connection (room for every text the store uses).
pub const STATEMENT_CACHE: usize = 128;

/// The single write connection, owned by the directory committer thread.
pub struct WriteConnection {
    conn: Connection,
    counters: Arc<Counters>,
}

impl WriteConnection {
    /// Opens the write connection to `path` (the database must exist and be migrated).
    pub(super) fn open(
        path: &Path,
        counters: Arc<Counters>,
    ) -> Result<WriteConnection, StoreError> {
        let open = |source| StoreError::Write {
            action: "open the write connection",
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(open)?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = {};",
            checkpoint::WRITER_AUTOCHECKPOINT_PAGES
        ))
        .map_err(open)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(WriteConnection { conn, counters })
    }

    /// Applies `writes` in one transaction and commits; `jobs` is how many writer jobs the batch
    /// carried (for [`super::Store::stats`]). Nothing is applied when this fails.
    pub fn commit(&mut self, writes: &[RowWrite], jobs: usize) -> Result<(), StoreError> {
        let script = Script::of_batch(writes)?;
        let outcome = self.run(&script);
        if let Err(source) = outcome {
            // The failing statement stopped the batch inside the transaction (or the commit
            // failed): undo whatever it applied. An error here means there is no transaction left.
            if let Err(error) = self.conn.execute_batch("ROLLBACK") {
                tracing::debug!(%error, "rollback after a failed batch");
            }
            return Err(StoreError::Write {
                action: "commit a batch",
                source,
            });
        }
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        self.counters.jobs.fetch_add(jobs as u64, Ordering::Relaxed);
        Ok(())
    }

    fn run(&self, script: &Script) -> Result<(), rusqlite::Error> {
        self.conn.execute_batch("BEGIN")?;
        for (sql, binds) in script.statements() {
            let mut statement = self.conn.prepare_cached(sql)?;
            bind_all(&mut statement, binds)?;
            statement.raw_execute()?;
        }
        self.conn.execute_batch("COMMIT")
    }
}

/// Binds `binds` to the statement's `?` placeholders in order.
fn bind_all(statement: &mut rusqlite::Statement<'_>, binds: &[Bind]) -> rusqlite::Result<()> {
    for (index, bind) in binds.iter().enumerate() {
        let at = index + 1;
        match bind {
            Bind::Null => statement.raw_bind_parameter(at, rusqlite::types::Null)?,
            Bind::Int(value) => statement.raw_bind_parameter(at, value)?,
            Bind::Shared(text) => statement.raw_bind_parameter(at, &**text)?,
            Bind::Word(word) => statement.raw_bind_parameter(at, word)?,
            Bind::Owned(text) => statement.raw_bind_parameter(at, text.as_str())?,
        }
    }
    Ok(())
}
