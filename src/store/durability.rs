//! Which rows are durable, for reads whose results leave the process.
//!
//! The write connection commits without syncing the write-ahead log and a syncer thread syncs
//! it afterwards (see `write_connection`). In between, a commit is visible to every connection
//! of the store but a power failure could still take it back. Reads that act outside the
//! process on what they find (the change log that real-time pushes send to targets, the pending
//! deliveries the delivery engine sends) must not act on such a commit, so they read only up
//! to a durable mark.
//!
//! Both tables number their rows with `AUTOINCREMENT` sequence numbers, which grow with every
//! commit of the single write connection. After each commit the connection notes the highest
//! numbers it has given out ([`Durability::committed`]); a WAL sync takes those notes just
//! before it starts and, once it has returned, makes them the durable marks
//! ([`Durability::synced`]). A read adds `seq <= mark`, so it never waits and never returns a
//! row a sync has not covered.
//!
//! Invariants:
//! - A durable mark only grows, and only to numbers of commits that had returned before the
//!   sync that made them durable started.
//! - After a failed sync the marks stay where they are: nothing committed since can be proven
//!   durable, so nothing more leaves the process until idrelay restarts.
//! - At open the store syncs the WAL left by an earlier process, so everything on disk then
//!   starts out durable.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// The highest sequence numbers of the tables whose rows leave the process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    pub changes: i64,
    pub deliveries: i64,
}

/// Reads the highest numbers given out so far, as `(table, seq)` rows for [`Marks::note`].
pub(super) const MARKS_QUERY: &str =
    "SELECT name, seq FROM sqlite_sequence WHERE name IN ('changes', 'deliveries')";

impl Marks {
    /// Takes one row of [`MARKS_QUERY`].
    pub(super) fn note(&mut self, table: &str, seq: i64) {
        match table {
            "changes" => self.changes = seq,
            _ => self.deliveries = seq,
        }
    }
}

/// One pair of marks, readable and writable from any thread.
#[derive(Default)]
struct AtomicMarks {
    changes: AtomicI64,
    deliveries: AtomicI64,
}

impl AtomicMarks {
    fn load(&self) -> Marks {
        Marks {
            changes: self.changes.load(Ordering::SeqCst),
            deliveries: self.deliveries.load(Ordering::SeqCst),
        }
    }

    fn raise(&self, marks: Marks) {
        self.changes.fetch_max(marks.changes, Ordering::SeqCst);
        self.deliveries
            .fetch_max(marks.deliveries, Ordering::SeqCst);
    }
}

/// The committed and the durable marks of one store.
#[derive(Default)]
pub(super) struct Durability {
    committed: AtomicMarks,
    durable: AtomicMarks,
    failed: AtomicBool,
}

impl Durability {
    /// Everything up to `marks` is on disk already (the store was just opened and synced).
    pub(super) fn start_at(&self, marks: Marks) {
        self.committed.raise(marks);
        self.durable.raise(marks);
    }

    /// A commit that gave out numbers up to `marks` has returned.
    pub(super) fn committed(&self, marks: Marks) {
        self.committed.raise(marks);
    }

    /// Called just before a WAL sync starts: what that sync covers.
    pub(super) fn before_sync(&self) -> Marks {
        self.committed.load()
    }

    /// A WAL sync that started after the commits up to `covered` returned has returned `Ok`.
    pub(super) fn synced(&self, covered: Marks) {
        if !self.failed.load(Ordering::SeqCst) {
            self.durable.raise(covered);
        }
    }

    /// A WAL sync failed: the marks never move again.
    pub(super) fn sync_failed(&self) {
        self.failed.store(true, Ordering::SeqCst);
    }

    /// A WAL sync has failed since the store opened.
    pub(super) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// The marks a read may go up to.
    pub(super) fn durable(&self) -> Marks {
        self.durable.load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(changes: i64, deliveries: i64) -> Marks {
        Marks {
            changes,
            deliveries,
        }
    }

    #[test]
    fn marks_become_durable_only_through_a_sync_taken_after_the_commit() {
        let durability = Durability::default();
        durability.start_at(marks(5, 2));
        assert_eq!(durability.durable(), marks(5, 2));
        let before = durability.before_sync();
        durability.committed(marks(9, 2));
        // The sync started before that commit returned: it does not cover it.
        durability.synced(before);
        assert_eq!(durability.durable(), marks(5, 2));
        let covered = durability.before_sync();
        durability.synced(covered);
        assert_eq!(durability.durable(), marks(9, 2));
        // Marks never go back.
        durability.synced(marks(1, 1));
        assert_eq!(durability.durable(), marks(9, 2));
    }

    #[test]
    fn after_a_failed_sync_the_marks_stay() {
        let durability = Durability::default();
        durability.committed(marks(3, 4));
        durability.synced(durability.before_sync());
        durability.committed(marks(7, 8));
        durability.sync_failed();
        assert!(durability.has_failed());
        durability.synced(durability.before_sync());
        assert_eq!(durability.durable(), marks(3, 4));
    }
}
