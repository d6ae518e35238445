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

use std::sync::Arc;

use arc_swap::ArcSwap;
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use super::ops::{Batch, atomically};
use super::state::TenantState;
use crate::scim::ScimError;
use crate::store::{Store, StoreError, WriteConnection};

/// The most jobs one batch (one transaction) carries.
pub const MAX_BATCH: usize = 512;
/// Jobs queued before senders wait.
const QUEUE: usize = 8192;

/// Answers a job once its batch is settled: the published state, or why it failed.
type Reply = Box<dyn FnOnce(Result<Arc<TenantState>, ScimError>) + Send>;
/// Applies a job to a working state and returns how to answer it.
type Work = Box<dyn FnOnce(&mut TenantState, &mut Batch) -> Reply + Send>;

struct Job {
    /// Where the tenant's committed state is published.
    cell: Arc<ArcSwap<TenantState>>,
    work: Work,
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
            .send(Job {
                cell: cell.clone(),
                work,
            })
            .await
            .map_err(|_| stopped())?;
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
        let mut replies: Vec<(usize, Reply)> = Vec::with_capacity(count);
        for job in jobs.drain(..) {
            let index = match working
                .iter()
                .position(|(cell, _)| Arc::ptr_eq(cell, &job.cell))
            {
                Some(index) => index,
                None => {
                    let state = TenantState::clone(&job.cell.load());
                    working.push((job.cell, state));
                    working.len() - 1
                }
            };
            let reply = (job.work)(&mut working[index].1, &mut batch);
            replies.push((index, reply));
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
                for (index, reply) in replies {
                    reply(Ok(published[index].clone()));
                }
            }
            Err(error) => {
                tracing::error!(%error, jobs = count, "directory batch not committed");
                for (_, reply) in replies {
                    reply(Err(ScimError::internal("the change could not be stored")));
                }
            }
        }
    }
}
