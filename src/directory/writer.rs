//! The directory writer: ONE task owns the store's write connection and applies writes in
//! batches (group commit).
//!
//! Each batch: take up to [`MAX_BATCH`] queued jobs; run each job's pure state function on a
//! working copy of its tenant's state (a failing job changes nothing and gets its own error);
//! write all resulting rows in ONE transaction and commit it (one fsync for the batch); then
//! publish the new states and answer every job.
//!
//! Invariants:
//! - A job is answered with success only after the batch carrying it is committed.
//! - Readers see only committed state: states are published after the commit, never before.
//! - If the commit fails, nothing is published and every job that changed something gets a 500.
//! - Rows-only jobs ([`WriterHandle::submit_rows`]: provisioning events, deliveries, logs) ride
//!   in the same batches and get the same guarantees, without touching directory state.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use arc_swap::ArcSwap;
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use super::ops::{Batch, atomically};
use super::state::TenantState;
use crate::scim::ScimError;
use crate::store::{RowWrite, Store, StoreError, WriteConnection};

/// The most jobs one batch (one transaction) carries.
pub const MAX_BATCH: usize = 512;
/// Jobs queued before senders wait.
const QUEUE: usize = 8192;

/// Answers a job once its batch is settled: the published state, or why it failed.
type Reply = Box<dyn FnOnce(Result<Arc<TenantState>, ScimError>) + Send>;
/// Applies a job to a working state and returns how to answer it.
type Work = Box<dyn FnOnce(&mut TenantState, &mut Batch) -> Reply + Send>;

/// Adds rows-only writes (no directory state) to a batch and returns how to answer the job.
type RowsWork = Box<dyn FnOnce(&mut Vec<RowWrite>) -> RowsReply + Send>;
/// Answers a rows-only job once its batch is settled.
type RowsReply = Box<dyn FnOnce(Result<(), ScimError>) + Send>;

enum Job {
    /// A directory job on one tenant's state.
    Tenant {
        /// Where the tenant's committed state is published.
        cell: Arc<ArcSwap<TenantState>>,
        work: Work,
    },
    /// A rows-only job (provisioning events, deliveries, id mappings, logs).
    Rows(RowsWork),
}

/// Where a job's answer goes: a directory job's published state, or a rows-only job.
enum Pending {
    Tenant(usize, Reply),
    Rows(RowsReply),
}

/// A handle to the writer task. Cheap to clone; the task stops when every handle is dropped.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Job>,
}

impl WriterHandle {
    /// Opens the store's write connection and starts the writer task.
    pub async fn start(store: &Store) -> Result<WriterHandle, StoreError> {
        let conn = store.write_connection().await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(conn, rx));
        Ok(WriterHandle { tx })
    }

    /// Runs `f` on the tenant's state inside the next batch; returns its value and the state
    /// published after the commit.
    pub(crate) async fn submit<T: Send + 'static>(
        &self,
        cell: &Arc<ArcSwap<TenantState>>,
        f: impl FnOnce(&mut TenantState, &mut Batch) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<(T, Arc<TenantState>), ScimError> {
        let (tx, rx) = oneshot::channel();
        let work: Work = Box::new(move |state, batch| match atomically(state, batch, f) {
            Ok(value) => Box::new(move |published| {
                let _ = tx.send(published.map(|state| (value, state)));
            }),
            Err(error) => Box::new(move |_| {
                let _ = tx.send(Err(error));
            }),
        });
        let stopped = || ScimError::internal("the directory writer has stopped");
        self.tx
            .send(Job::Tenant {
                cell: cell.clone(),
                work,
            })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Runs `f` inside the next batch to add rows-only writes (no directory state), and
    /// returns its value once the batch is committed. When `f` fails, none of the rows it
    /// added are written and its error is returned; when the commit fails, a 500.
    ///
    /// `f` runs on the writer task, in job order: sequence numbers allocated inside it (see
    /// [`crate::store::Store::event_seq`]) ascend in commit order.
    pub async fn submit_rows<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<RowWrite>) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<T, ScimError> {
        let (tx, rx) = oneshot::channel();
        let work: RowsWork = Box::new(move |writes| {
            let mark = writes.len();
            let outcome = catch_unwind(AssertUnwindSafe(|| f(writes)))
                .unwrap_or_else(|_| Err(ScimError::internal("the change failed unexpectedly")));
            match outcome {
                Ok(value) => Box::new(move |committed: Result<(), ScimError>| {
                    let _ = tx.send(committed.map(|()| value));
                }),
                Err(error) => {
                    writes.truncate(mark);
                    Box::new(move |_| {
                        let _ = tx.send(Err(error));
                    })
                }
            }
        });
        let stopped = || ScimError::internal("the directory writer has stopped");
        self.tx.send(Job::Rows(work)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// The current instant truncated to milliseconds (the stored precision).
fn now_millis() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
}

async fn run(mut conn: WriteConnection, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
            break;
        }
        let count = jobs.len();
        let mut batch = Batch::new(now_millis());
        let mut working: Vec<(Arc<ArcSwap<TenantState>>, TenantState)> = Vec::new();
        let mut replies: Vec<Pending> = Vec::with_capacity(count);
        for job in jobs.drain(..) {
            let (job_cell, work) = match job {
                Job::Tenant { cell, work } => (cell, work),
                Job::Rows(work) => {
                    replies.push(Pending::Rows(work(&mut batch.writes)));
                    continue;
                }
            };
            let index = match working
                .iter()
                .position(|(cell, _)| Arc::ptr_eq(cell, &job_cell))
            {
                Some(index) => index,
                None => {
                    let state = TenantState::clone(&job_cell.load());
                    working.push((job_cell, state));
                    working.len() - 1
                }
            };
            let reply = work(&mut working[index].1, &mut batch);
            replies.push(Pending::Tenant(index, reply));
        }
        let outcome = if batch.writes.is_empty() {
            Ok(())
        } else {
            conn.commit(&batch.writes, count).await
        };
        match outcome {
            Ok(()) => {
                let published: Vec<Arc<TenantState>> = working
                    .into_iter()
                    .map(|(cell, state)| {
                        let state = Arc::new(state);
                        cell.store(state.clone());
                        state
                    })
                    .collect();
                for pending in replies {
                    match pending {
                        Pending::Tenant(index, reply) => reply(Ok(published[index].clone())),
                        Pending::Rows(reply) => reply(Ok(())),
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, jobs = count, "directory batch not committed");
                for pending in replies {
                    let error = ScimError::internal("the change could not be stored");
                    match pending {
                        Pending::Tenant(_, reply) => reply(Err(error)),
                        Pending::Rows(reply) => reply(Err(error)),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod rows_tests {
    use super::*;
    use crate::store::{EventOperation, ProvisioningEvent};

    fn accept(store: &Store, entity: &str) -> RowWrite {
        RowWrite::AcceptEvent {
            event: ProvisioningEvent {
                seq: store.event_seq().next(),
                tenant: Arc::from("acme"),
                source_system_id: Arc::from("src"),
                entity_type: crate::directory::Kind::User,
                entity_id: Arc::from(entity),
                operation: EventOperation::Delete,
                payload: None,
                accepted_at: now_millis(),
            },
            targets: vec![Arc::from("t1")],
        }
    }

    #[tokio::test]
    async fn rows_jobs_commit_or_add_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let writer = WriterHandle::start(&store).await.unwrap();
        let s = store.clone();
        let value = writer
            .submit_rows(move |rows| {
                rows.push(accept(&s, "u1"));
                Ok(7)
            })
            .await
            .unwrap();
        assert_eq!(value, 7);
        let s = store.clone();
        let refused = writer
            .submit_rows(move |rows| -> Result<(), ScimError> {
                rows.push(accept(&s, "u2"));
                Err(ScimError::invalid_syntax("no"))
            })
            .await
            .unwrap_err();
        assert_eq!(refused.status, 400);
        let events = store.provisioning_events("acme", 0, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(&*events[0].entity_id, "u1");
        assert_eq!(
            store.delivery_counters("acme", "t1").await.unwrap(),
            (1, 0, 0)
        );
    }
}
