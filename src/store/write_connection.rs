//! The store's single write connection: a synchronous SQLite connection (rusqlite) owned by
//! the directory committer thread, which runs each batch's statements in one transaction.
//!
//! Why synchronous: a batch is the serial path of every write. Through an async driver each
//! commit crossed to the driver's worker thread and back (two thread wake-ups, each waiting
//! for a core on a busy machine, plus one wake-up of the waiting task per statement result);
//! here the committer thread runs the statements itself, and it does not even wait for the disk
//! (next paragraph).
//!
//! Why the WAL sync is separate: with `synchronous=FULL` SQLite syncs the write-ahead log inside
//! every `COMMIT`, so the committer could not run the next batch's statements while the disk
//! flushed the last one. This connection runs with `synchronous=NORMAL`, which differs from
//! `FULL` in WAL mode in exactly one place (SQLite's `walSyncFlags`: NORMAL keeps the WAL
//! header sync and every checkpoint sync, and drops only the WAL sync at commit), and makes up
//! for that sync with its own: [`WalSync`] holds a descriptor of the same WAL file, and
//! `fdatasync` on it flushes every page written to that file by any descriptor. The directory
//! committer hands each committed batch to a syncer thread ([`crate::directory`]'s writer),
//! which syncs and only then answers the batch's jobs, while the committer goes on with the
//! next batch.
//!
//! Invariants:
//! - Opened with the same settings as every other connection of the store (WAL, foreign keys,
//!   busy timeout) except `synchronous=NORMAL` (above), plus the writer's high automatic
//!   checkpoint threshold (see `checkpoint`).
//! - A commit is durable when [`WriteConnection::commit`] returns `Ok`; one made by
//!   [`WriteConnection::commit_unsynced`] is durable once a [`WalSync::sync`] that started
//!   after it returned has returned `Ok`. Nothing may be acknowledged before that.
//! - The WAL file is never deleted while the write connection is open (SQLite removes it only
//!   when the database's last connection closes), so [`WalSync`]'s descriptor stays on the
//!   file SQLite writes.
//! - All or nothing: when any statement or the commit fails, the transaction is rolled back
//!   before the error is returned. Errors name what failed, never bodies, binds or secrets.
//! - Every statement is prepared once and kept in the connection's cache ([`STATEMENT_CACHE`]
//!   entries, least recently used first out): the store's statement texts are fixed per write
//!   kind, and multi-row chunks come in seven sizes per table (see `multi_row`), so fewer than
//!   a hundred texts exist and a batch never prepares a statement twice.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::checkpoint;
use super::durability::{MARKS_QUERY, Marks};
use super::rows::RowWrite;
use super::script::{Bind, Script};
use super::{Counters, StoreError};

/// Prepared statements kept by the write connection (room for every text the store uses).
pub const STATEMENT_CACHE: usize = 128;

/// The single write connection, owned by the directory committer thread.
pub struct WriteConnection {
    conn: Connection,
    counters: Arc<Counters>,
    /// The connection's WAL file, for [`WriteConnection::commit`]'s sync.
    wal: WalSync,
}

/// A descriptor of the write connection's WAL file: [`WalSync::sync`] makes every commit that
/// returned before it started durable.
pub struct WalSync {
    file: File,
    counters: Arc<Counters>,
}

impl WalSync {
    fn open(path: &Path, counters: Arc<Counters>) -> Result<WalSync, StoreError> {
        let file = open_wal(path).map_err(wal_error(OPEN_WAL))?;
        Ok(WalSync { file, counters })
    }

    fn try_clone(&self) -> Result<WalSync, StoreError> {
        let file = self.file.try_clone().map_err(wal_error(OPEN_WAL))?;
        Ok(WalSync {
            file,
            counters: self.counters.clone(),
        })
    }

    /// Flushes the WAL file's data to the disk (`fdatasync`, as SQLite's own WAL sync does):
    /// every commit that returned before this started is durable when it returns `Ok`.
    pub fn sync(&self) -> Result<(), StoreError> {
        let durability = &self.counters.durability;
        let covered = durability.before_sync();
        match self.file.sync_data() {
            // After a failed sync the kernel may have dropped pages it could not write, and
            // reported that once per open file: a later sync succeeding proves nothing.
            Ok(()) if durability.has_failed() => Err(StoreError::NotDurable),
            Ok(()) => {
                durability.synced(covered);
                Ok(())
            }
            Err(source) => {
                durability.sync_failed();
                Err(wal_error(SYNC_WAL)(source))
            }
        }
    }
}

/// Syncs the WAL of `database` if there is one (at open, for what an earlier process left).
pub(super) fn sync_left_over_wal(database: &Path) -> Result<(), StoreError> {
    match open_wal(&wal_path(database)) {
        Ok(file) => file.sync_data().map_err(wal_error(SYNC_WAL)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(wal_error(OPEN_WAL)(source)),
    }
}

const OPEN_WAL: &str = "open the write-ahead log";
const SYNC_WAL: &str = "sync the write-ahead log";

/// Opens an existing WAL file for syncing (never creating or truncating it).
fn open_wal(path: &Path) -> std::io::Result<File> {
    File::options().read(true).write(true).open(path)
}

fn wal_error(action: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::WalSync { action, source }
}

/// SQLite's name for a database's write-ahead log: the database path with `-wal` appended.
fn wal_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
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
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = {};",
            checkpoint::WRITER_AUTOCHECKPOINT_PAGES
        ))
        .map_err(open)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // A read opens the write-ahead log (creating it when missing), so that its file exists
        // for `WalSync` to open.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(open)?;
        let wal = WalSync::open(&wal_path(path), counters.clone())?;
        Ok(WriteConnection {
            conn,
            counters,
            wal,
        })
    }

    /// Applies `writes` in one transaction, commits, and syncs the WAL: durable on `Ok`.
    /// `jobs` is how many writer jobs the batch carried (for [`super::Store::stats`]). Nothing
    /// is applied when this fails.
    pub fn commit(&mut self, writes: &[RowWrite], jobs: usize) -> Result<(), StoreError> {
        self.commit_unsynced(writes, jobs)?;
        self.wal.sync()
    }

    /// A second handle on the WAL file, for a syncer thread.
    pub fn wal_sync(&self) -> Result<WalSync, StoreError> {
        self.wal.try_clone()
    }

    /// Like [`WriteConnection::commit`] without the sync: the commit is visible to readers at
    /// once, and durable only once a [`WalSync::sync`] that started after this returned has
    /// returned `Ok` (see the module invariants).
    pub fn commit_unsynced(&mut self, writes: &[RowWrite], jobs: usize) -> Result<(), StoreError> {
        let script = Script::of_batch(writes)?;
        let outcome = self.run(&script);
        let marks = match outcome {
            Ok(marks) => marks,
            Err(source) => {
                // The failing statement stopped the batch inside the transaction (or the
                // commit failed): undo whatever it applied. An error here means there is no
                // transaction left.
                if let Err(error) = self.conn.execute_batch("ROLLBACK") {
                    tracing::debug!(%error, "rollback after a failed batch");
                }
                return Err(StoreError::Write {
                    action: "commit a batch",
                    source,
                });
            }
        };
        self.counters.durability.committed(marks);
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        self.counters.jobs.fetch_add(jobs as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Runs the script in one transaction; returns the highest sequence numbers given out so
    /// far (read inside the transaction, so they are this commit's).
    fn run(&self, script: &Script) -> Result<Marks, rusqlite::Error> {
        // Cached like the script's statements: `execute_batch` would parse them every time.
        self.conn.prepare_cached("BEGIN")?.raw_execute()?;
        for (sql, binds) in script.statements() {
            let mut statement = self.conn.prepare_cached(sql)?;
            bind_all(&mut statement, binds)?;
            statement.raw_execute()?;
        }
        let marks = read_marks(&self.conn)?;
        self.conn.prepare_cached("COMMIT")?.raw_execute()?;
        Ok(marks)
    }
}

/// The highest `AUTOINCREMENT` numbers given out in the tables whose rows leave the process
/// (see `durability`).
pub(super) fn read_marks(conn: &Connection) -> Result<Marks, rusqlite::Error> {
    let mut statement = conn.prepare_cached(MARKS_QUERY)?;
    let mut rows = statement.query([])?;
    let mut marks = Marks::default();
    while let Some(row) = rows.next()? {
        marks.note(row.get_ref(0)?.as_str()?, row.get(1)?);
    }
    Ok(marks)
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

#[cfg(test)]
mod tests {

    use jiff::Timestamp;

    use super::*;
    use crate::directory::{Kind, Origin};
    use crate::store::{Operation, Store};

    fn change(id: &str) -> RowWrite {
        RowWrite::Change {
            tenant: Arc::from("acme"),
            kind: Kind::User,
            entity_id: Arc::from(id),
            operation: Operation::Create,
            origin: Origin::ScimV2,
            at: Timestamp::from_millisecond(1_700_000_000_123).unwrap(),
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_wal_sync_holds_the_file_sqlite_writes_its_commits_to() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        let wal = conn.wal_sync().unwrap();
        conn.commit_unsynced(&[change("u1")], 1).unwrap();
        let on_disk = std::fs::metadata(dir.path().join("idrelay.db-wal")).unwrap();
        let held = wal.file.metadata().unwrap();
        assert_eq!(held.ino(), on_disk.ino());
        assert_eq!(held.dev(), on_disk.dev());
        assert!(held.len() > 0, "the commit went to this file");
        wal.sync().unwrap();
    }

    #[tokio::test]
    async fn the_change_log_shows_only_synced_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let mut conn = store.write_connection().unwrap();
        let wal = conn.wal_sync().unwrap();
        conn.commit(&[change("u1")], 1).unwrap();
        conn.commit_unsynced(&[change("u2")], 1).unwrap();
        let read = store.changes("acme", 0, 10).await.unwrap();
        let ids: Vec<&str> = read.iter().map(|c| c.entity_id.as_str()).collect();
        assert_eq!(ids, ["u1"], "u2 is committed but not synced");
        wal.sync().unwrap();
        let read = store.changes("acme", 0, 10).await.unwrap();
        let ids: Vec<&str> = read.iter().map(|c| c.entity_id.as_str()).collect();
        assert_eq!(ids, ["u1", "u2"]);
    }

    #[tokio::test]
    async fn what_an_earlier_process_left_is_durable_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).await.unwrap();
            let mut conn = store.write_connection().unwrap();
            conn.commit_unsynced(&[change("u1")], 1).unwrap();
            assert!(store.changes("acme", 0, 10).await.unwrap().is_empty());
        }
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.changes("acme", 0, 10).await.unwrap().len(), 1);
    }
}
