//! Which commits are durable, for reads whose results leave the process.
//!
//! The write connection commits without syncing the write-ahead log and a syncer thread syncs
//! it afterwards (see `write_connection`). In between, a commit is visible to every connection
//! of the store but a power failure could still take it back. Reads that act outside the
//! process on what they find (the change log that real-time pushes send to targets, the pending
//! deliveries the delivery engine sends) must not act on such a commit: they wait here until
//! every commit they could have seen is durable.
//!
//! Commit attempts on the write connection are numbered in the order they start. After a read,
//! [`Durability::visible_through`] gives the number of the last attempt started so far: every
//! commit the read could see finished before the read began, so it started earlier and has a
//! number no higher. [`Durability::until_durable`] then waits until every attempt up to that
//! number is durable (or was rolled back: a failed attempt left nothing to see). A WAL sync
//! covers the attempts that had finished when it started.
//!
//! Invariants:
//! - The durable mark only grows, and never passes an attempt that had not finished when the
//!   sync recording it started.
//! - After a failed sync, waiting reads get an error instead of their rows: nothing committed
//!   since the last good sync can be proven durable.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

use super::StoreError;

/// How far the commit attempts are known to be durable.
#[derive(Debug, Clone, Copy, Default)]
struct Durable {
    /// Every attempt with a number up to this one is durable or was rolled back.
    through: u64,
    /// A WAL sync failed: nothing later becomes durable.
    failed: bool,
}

/// Numbers the write connection's commit attempts and records which are durable.
pub(super) struct Durability {
    started: AtomicU64,
    finished: AtomicU64,
    durable: watch::Sender<Durable>,
}

impl Default for Durability {
    fn default() -> Durability {
        Durability {
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            durable: watch::Sender::new(Durable::default()),
        }
    }
}

impl Durability {
    /// Numbers a commit attempt that is about to start (before its `BEGIN`).
    pub(super) fn begin(&self) -> u64 {
        self.started.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The attempt has finished: committed (visible, not yet durable) or rolled back.
    pub(super) fn finish(&self, attempt: u64) {
        self.finished.store(attempt, Ordering::SeqCst);
    }

    /// Called just before a WAL sync starts: the last attempt that sync covers.
    pub(super) fn covered_by_next_sync(&self) -> u64 {
        self.finished.load(Ordering::SeqCst)
    }

    /// A WAL sync that started after attempt `through` finished has returned `Ok`.
    pub(super) fn synced(&self, through: u64) {
        self.durable.send_if_modified(|durable| {
            let grows = through > durable.through;
            if grows {
                durable.through = through;
            }
            grows
        });
    }

    /// A WAL sync failed.
    pub(super) fn sync_failed(&self) {
        self.durable.send_modify(|durable| durable.failed = true);
    }

    /// A WAL sync has failed since the store opened.
    pub(super) fn has_failed(&self) -> bool {
        self.durable.borrow().failed
    }

    /// Called after a read: no commit the read could see has a higher number.
    pub(super) fn visible_through(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    /// Waits until every attempt up to `seen` is durable or rolled back.
    pub(super) async fn until_durable(&self, seen: u64) -> Result<(), StoreError> {
        let reached = |durable: &Durable| durable.failed || durable.through >= seen;
        let mut durable = *self.durable.borrow();
        if !reached(&durable) {
            let mut receiver = self.durable.subscribe();
            durable = *receiver
                .wait_for(reached)
                .await
                .map_err(|_| StoreError::NotDurable)?;
        }
        if durable.failed && durable.through < seen {
            return Err(StoreError::NotDurable);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_read_waits_for_the_sync_that_covers_what_it_could_see() {
        let durability = Arc::new(Durability::default());
        // Nothing was ever committed: nothing to wait for.
        durability
            .until_durable(durability.visible_through())
            .await
            .unwrap();
        let first = durability.begin();
        durability.finish(first);
        let seen = durability.visible_through();
        assert_eq!(seen, first);
        let waiting = tokio::spawn({
            let durability = durability.clone();
            async move { durability.until_durable(seen).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the commit is not synced yet");
        // A sync that started before the attempt finished does not cover it.
        durability.synced(first - 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        let covered = durability.covered_by_next_sync();
        durability.synced(covered);
        waiting.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_attempt_still_running_is_waited_for_and_a_failed_sync_is_an_error() {
        let durability = Durability::default();
        let done = durability.begin();
        durability.finish(done);
        durability.synced(durability.covered_by_next_sync());
        let running = durability.begin();
        let seen = durability.visible_through();
        assert_eq!(seen, running);
        // The sync taken while the attempt runs covers only what had finished.
        durability.synced(durability.covered_by_next_sync());
        let wait = tokio::time::timeout(Duration::from_millis(20), durability.until_durable(seen));
        assert!(wait.await.is_err(), "the running attempt is not durable");
        durability.finish(running);
        durability.sync_failed();
        assert!(matches!(
            durability.until_durable(seen).await,
            Err(StoreError::NotDurable)
        ));
        // What was durable before the failure stays readable.
        durability.until_durable(done).await.unwrap();
    }
}
