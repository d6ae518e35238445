//! The directory writer: ONE task orders and applies the writes, ONE committer thread owns the
//! store's write connection and commits them in batches (group commit), ONE syncer thread makes
//! the commits durable and answers them.
//!
//! The writer task (thread `idrelay-writer`, a single-threaded runtime of its own) applies each
//! job as soon as it arrives: it runs the job's pure state function on the tenant's latest
//! state (a failing job changes nothing and gets its own error) and adds the job's rows to the
//! open batch. The committer (thread `idrelay-commit`) takes the open batch itself as soon as
//! the previous batch is committed and handed on, writes all its rows in ONE transaction on its
//! synchronous connection and commits it, without the WAL sync (see
//! `crate::store::WriteConnection`). The syncer (thread `idrelay-sync`) takes every committed
//! batch, syncs the WAL once for all of them (one fsync), then publishes their states and
//! answers every job. So three things overlap: the writer applies the next jobs on top of the
//! states the earlier batches will publish, the committer runs one batch's statements, and
//! the syncer waits for the disk to flush the batch before it. The threads share the open
//! batch and the working states under one lock ([`Pipeline`]), held for one job or one
//! hand-over at a time, so none waits for another to be scheduled. Request handlers never
//! delay these threads, and the states a batch superseded are freed after its jobs are
//! answered.
//!
//! Invariants:
//! - A job is answered with success only after the batch carrying it is committed and a WAL
//!   sync that started after that commit has returned.
//! - Readers see only durable state: states are published after the sync, never before.
//! - Batches commit, sync and publish in the order the jobs were applied. At most one batch is
//!   with the committer and [`MAX_UNSYNCED`] wait for the syncer.
//! - If a commit fails, nothing of it is published and every job of that batch that changed
//!   something gets a 500; so does every job of the open batch (it was applied on top of the
//!   failed batch), and once the batches before it are published the writer starts again from
//!   the published states.
//! - If a WAL sync fails, the jobs of the batches it covered get a 500 and so does every later
//!   job: the pipeline stops (no later sync could prove those commits durable; idrelay must
//!   restart and read what the disk kept).
//! - Rows-only jobs ([`WriterHandle::submit_rows`]: provisioning events, deliveries, logs) ride
//!   in the same batches and get the same guarantees, without touching directory state.
//! - A failing job leaves the working state as it was: [`WriterHandle::submit`] keeps an O(1)
//!   copy to restore; [`WriterHandle::submit_checked`] is for functions that check everything
//!   before their first change, and skips that copy (it makes every later change in the batch
//!   path-copy the persistent maps). If such a function panics anyway, the state may be half
//!   changed: its open batch is refused as a whole (every job in it gets a 500) and the writer
//!   starts again from the published states.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;
use jiff::Timestamp;
use tokio::sync::{Notify, mpsc, oneshot};

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
/// Applies a job to a working state and returns how to answer it, and whether the working
/// state is still whole (false only after a panic in a [`WriterHandle::submit_checked`] job).
type Work = Box<dyn FnOnce(&mut TenantState, &mut Batch) -> (Reply, bool) + Send>;

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
    /// Opens the store's write connection and starts the writer task and the committer on
    /// their own threads (see [`spawn_writer_threads`]).
    pub async fn start(store: &Store) -> Result<WriterHandle, StoreError> {
        let conn = store.write_connection()?;
        let wal = conn.wal_sync()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        spawn_writer_threads(conn, move || wal.sync(), rx)?;
        Ok(WriterHandle { tx })
    }

    /// Runs `f` on the tenant's state inside the next batch; returns its value and the state
    /// published after the commit. When `f` fails, its changes are undone.
    pub(crate) async fn submit<T: Send + 'static>(
        &self,
        cell: &Arc<ArcSwap<TenantState>>,
        f: impl FnOnce(&mut TenantState, &mut Batch) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<(T, Arc<TenantState>), ScimError> {
        self.send_tenant_job(cell, move |state, batch| {
            (atomically(state, batch, f), true)
        })
        .await
    }

    /// Like [`WriterHandle::submit`] for an `f` that checks everything before its first change
    /// to the state or the batch, so that failing leaves both as they were: no rollback copy.
    /// A panic in `f` refuses its whole open batch (see the module invariants).
    pub(crate) async fn submit_checked<T: Send + 'static>(
        &self,
        cell: &Arc<ArcSwap<TenantState>>,
        f: impl FnOnce(&mut TenantState, &mut Batch) -> Result<T, ScimError> + Send + 'static,
    ) -> Result<(T, Arc<TenantState>), ScimError> {
        self.send_tenant_job(cell, move |state, batch| {
            let mark = batch.writes.len();
            match catch_unwind(AssertUnwindSafe(|| f(state, batch))) {
                Ok(Ok(value)) => (Ok(value), true),
                Ok(Err(error)) => {
                    batch.writes.truncate(mark);
                    (Err(error), true)
                }
                Err(_) => (
                    Err(ScimError::internal(
                        "the directory change failed unexpectedly",
                    )),
                    false,
                ),
            }
        })
        .await
    }

    /// Queues a directory job whose `apply` returns its outcome and whether the working state
    /// is still whole, and waits for its answer.
    async fn send_tenant_job<T: Send + 'static>(
        &self,
        cell: &Arc<ArcSwap<TenantState>>,
        apply: impl FnOnce(&mut TenantState, &mut Batch) -> (Result<T, ScimError>, bool)
        + Send
        + 'static,
    ) -> Result<(T, Arc<TenantState>), ScimError> {
        let (tx, rx) = oneshot::channel();
        let work: Work = Box::new(move |state, batch| {
            let (outcome, whole) = apply(state, batch);
            let reply: Reply = match outcome {
                Ok(value) => Box::new(move |published| {
                    let _ = tx.send(published.map(|state| (value, state)));
                }),
                // A refused job keeps its own error, unless its batch failed (it may have been
                // judged against writes that never committed).
                Err(error) => Box::new(move |settled| {
                    let _ = tx.send(Err(settled.err().unwrap_or(error)));
                }),
            };
            (reply, whole)
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
                    Box::new(move |settled: Result<(), ScimError>| {
                        let _ = tx.send(Err(settled.err().unwrap_or(error)));
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

/// The state of one tenant cell as the writer sees it: committed plus everything applied
/// since (in batches with the committer or in the open batch).
type Ahead = Vec<(Arc<ArcSwap<TenantState>>, TenantState)>;

/// The batch the writer is filling.
struct Open {
    batch: Batch,
    /// Indexes into the writer's [`Ahead`] of the cells this batch touched.
    touched: Vec<usize>,
    replies: Vec<Pending>,
    jobs: usize,
    /// A job panicked half-way through changing a working state: the batch is refused.
    broken: bool,
}

impl Open {
    fn new() -> Open {
        Open {
            batch: Batch::new(now_millis()),
            touched: Vec::new(),
            replies: Vec::new(),
            jobs: 0,
            broken: false,
        }
    }

    /// Applies one job on the latest state of its cell.
    fn apply(&mut self, job: Job, ahead: &mut Ahead) {
        self.jobs += 1;
        let (job_cell, work) = match job {
            Job::Tenant { cell, work } => (cell, work),
            Job::Rows(work) => {
                self.replies
                    .push(Pending::Rows(work(&mut self.batch.writes)));
                return;
            }
        };
        let index = match ahead
            .iter()
            .position(|(cell, _)| Arc::ptr_eq(cell, &job_cell))
        {
            Some(index) => index,
            None => {
                let state = TenantState::clone(&job_cell.load());
                ahead.push((job_cell, state));
                ahead.len() - 1
            }
        };
        let slot = match self.touched.iter().position(|i| *i == index) {
            Some(slot) => slot,
            None => {
                self.touched.push(index);
                self.touched.len() - 1
            }
        };
        let (reply, whole) = work(&mut ahead[index].1, &mut self.batch);
        self.broken |= !whole;
        self.replies.push(Pending::Tenant(slot, reply));
    }

    /// The batch as handed to the committer: the states to publish are copies (O(1)) of the
    /// touched cells' latest states.
    fn seal(self, ahead: &Ahead) -> Sealed {
        Sealed {
            writes: self.batch.writes,
            jobs: self.jobs,
            states: self
                .touched
                .iter()
                .map(|i| (ahead[*i].0.clone(), ahead[*i].1.clone()))
                .collect(),
            replies: self.replies,
        }
    }

    /// Answers every job with a 500 (the batch was applied on top of a failed one).
    fn fail(self) {
        not_stored(self.replies);
    }
}

/// Answers a job with a 500 without touching any published state: it runs on a scratch copy
/// of its cell's state in a batch that is then failed.
fn refuse(job: Job) {
    let mut scratch = Ahead::new();
    let mut batch = Open::new();
    batch.apply(job, &mut scratch);
    batch.fail();
}

/// Answers every job with a 500: its batch was not committed.
fn not_stored(replies: Vec<Pending>) {
    for pending in replies {
        let error = ScimError::internal("the change could not be stored");
        match pending {
            Pending::Tenant(_, reply) => reply(Err(error)),
            Pending::Rows(reply) => reply(Err(error)),
        }
    }
}

/// A batch with the committer.
struct Sealed {
    writes: Vec<RowWrite>,
    jobs: usize,
    states: Vec<(Arc<ArcSwap<TenantState>>, TenantState)>,
    replies: Vec<Pending>,
}

/// A batch committed to the store and waiting for the WAL sync.
struct Committed {
    states: Vec<(Arc<ArcSwap<TenantState>>, TenantState)>,
    replies: Vec<Pending>,
    /// The batch wrote rows (a batch of refused jobs has nothing to sync).
    wrote: bool,
}

/// Committed batches that wait for the syncer to take them before the committer commits
/// another: one commits while the previous one syncs, and the batches in between stay large
/// (every transaction rewrites the pages it touches, so many small ones cost more).
const MAX_UNSYNCED: usize = 1;

/// What the writer task, the committer and the syncer share, under [`Shared::pipeline`].
#[derive(Default)]
struct Pipeline {
    /// The batch being filled.
    open: Option<Open>,
    /// The latest working state of every cell touched since nothing was in flight.
    ahead: Ahead,
    /// Batches taken by the committer and not yet settled (published, or refused).
    in_flight: usize,
    /// Batches committed to the store that the syncer has not taken yet, oldest first.
    unsynced: Vec<Committed>,
    /// The committer waits (for an open batch, for room in `unsynced`, or for the batches in
    /// flight to settle).
    idle: bool,
    /// The syncer waits for a committed batch.
    syncer_idle: bool,
    /// Every handle is dropped: the committer ends once the open batch is settled.
    closed: bool,
    /// The committer has ended: the syncer ends once `unsynced` is empty.
    committer_done: bool,
    /// A thread of the pipeline ended unexpectedly (a panic) or a WAL sync failed: every
    /// later job gets a 500.
    stopped: bool,
}

struct Shared {
    pipeline: Mutex<Pipeline>,
    /// Wakes the idle committer.
    work: Condvar,
    /// Wakes the idle syncer.
    sync: Condvar,
    /// Signalled each time the committer takes a batch (a full open batch waits for it).
    taken: Notify,
}

impl Shared {
    /// The pipeline; a panic while it was held (a job that panicked outside
    /// [`WriterHandle::submit_checked`]) leaves it usable: its batch is refused as broken.
    fn lock(&self) -> MutexGuard<'_, Pipeline> {
        self.pipeline.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits on `condvar` with the pipeline lock, flagging the wait in `flag`.
    fn wait<'a>(
        &self,
        condvar: &Condvar,
        mut pipeline: MutexGuard<'a, Pipeline>,
        flag: fn(&mut Pipeline) -> &mut bool,
    ) -> MutexGuard<'a, Pipeline> {
        *flag(&mut pipeline) = true;
        let mut pipeline = condvar
            .wait(pipeline)
            .unwrap_or_else(PoisonError::into_inner);
        *flag(&mut pipeline) = false;
        pipeline
    }

    /// Waits until every batch in flight is settled (its states published, or refused).
    fn wait_settled<'a>(&self, mut pipeline: MutexGuard<'a, Pipeline>) -> MutexGuard<'a, Pipeline> {
        while pipeline.in_flight > 0 && !pipeline.stopped {
            pipeline = self.wait(&self.work, pipeline, |p| &mut p.idle);
        }
        pipeline
    }

    /// After a batch failed: once the batches before it are settled, the writer starts again
    /// from the published states, and the open batch (applied on top of the failed one) is
    /// refused.
    fn restart_after_failure(&self, pipeline: MutexGuard<'_, Pipeline>) {
        let mut pipeline = self.wait_settled(pipeline);
        pipeline.ahead.clear();
        let doomed = pipeline.open.take();
        drop(pipeline);
        self.taken.notify_one();
        if let Some(open) = doomed {
            open.fail();
        }
    }

    /// Stops the pipeline for good: the open batch and every later job get a 500.
    fn stop(&self) {
        let (open, unsynced) = {
            let mut pipeline = self.lock();
            pipeline.stopped = true;
            let unsynced = std::mem::take(&mut pipeline.unsynced);
            pipeline.in_flight = pipeline.in_flight.saturating_sub(unsynced.len());
            (pipeline.open.take(), unsynced)
        };
        self.work.notify_one();
        self.sync.notify_one();
        self.taken.notify_one();
        for batch in unsynced {
            not_stored(batch.replies);
        }
        if let Some(open) = open {
            open.fail();
        }
    }
}

/// Starts the writer task on a thread of its own, with a single-threaded tokio runtime, and
/// the committer and the syncer on two more: the serial path of every write (apply, seal,
/// commit, sync, publish, answer) then never waits in the server runtime's task queues behind
/// request handlers. The committer takes the open batch itself as soon as the previous one is
/// committed (and the one before it is syncing), so a commit never waits for the writer
/// thread to be scheduled. The threads end once every [`WriterHandle`] is dropped and the last
/// batch is settled.
fn spawn_writer_threads(
    conn: WriteConnection,
    sync: impl FnMut() -> Result<(), StoreError> + Send + 'static,
    rx: mpsc::Receiver<Job>,
) -> Result<(), StoreError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StoreError::WriterThread)?;
    let shared = Arc::new(Shared {
        pipeline: Mutex::new(Pipeline::default()),
        work: Condvar::new(),
        sync: Condvar::new(),
        taken: Notify::new(),
    });
    spawn_stage(
        &shared,
        "idrelay-sync",
        "syncer",
        move |s| sync_batches(s, sync),
        |_| {},
    )?;
    spawn_stage(
        &shared,
        "idrelay-commit",
        "committer",
        move |s| commit_batches(s, conn),
        |s| {
            s.lock().committer_done = true;
            s.sync.notify_one();
        },
    )?;
    std::thread::Builder::new()
        .name("idrelay-writer".into())
        .spawn(move || runtime.block_on(apply_jobs(shared, rx)))
        .map_err(StoreError::WriterThread)?;
    Ok(())
}

/// Runs `stage` on a thread of its own, then `finally`, also after a panic in `stage`: a panic
/// stops the pipeline (the jobs the stage held were answered as their replies unwound).
fn spawn_stage(
    shared: &Arc<Shared>,
    thread: &str,
    stage_name: &'static str,
    stage: impl FnOnce(&Shared) + Send + 'static,
    finally: fn(&Shared),
) -> Result<(), StoreError> {
    let shared = shared.clone();
    std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            if catch_unwind(AssertUnwindSafe(|| stage(&shared))).is_err() {
                tracing::error!(
                    stage = stage_name,
                    "a directory writer thread stopped unexpectedly"
                );
                shared.stop();
            }
            finally(&shared);
        })
        .map(drop)
        .map_err(StoreError::WriterThread)
}

/// The writer task: applies each job to the open batch as it arrives, one job per hold of the
/// pipeline lock (the committer never waits long to take the batch).
async fn apply_jobs(shared: Arc<Shared>, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        let filling = shared.lock().open.as_ref().map_or(0, |o| o.jobs);
        if filling >= MAX_BATCH {
            shared.taken.notified().await;
            continue;
        }
        if rx.recv_many(&mut jobs, MAX_BATCH - filling).await == 0 {
            break;
        }
        for job in jobs.drain(..) {
            let mut pipeline = shared.lock();
            if pipeline.stopped {
                drop(pipeline);
                refuse(job);
                continue;
            }
            let Pipeline {
                open,
                ahead,
                in_flight,
                idle,
                ..
            } = &mut *pipeline;
            let batch = open.get_or_insert_with(|| {
                if *in_flight == 0 {
                    // Nothing is in flight: the published states are the latest ones (after
                    // a failure they are what is left).
                    ahead.clear();
                }
                Open::new()
            });
            batch.apply(job, ahead);
            let wake = *idle;
            drop(pipeline);
            if wake {
                shared.work.notify_one();
            }
        }
    }
    let mut pipeline = shared.lock();
    pipeline.closed = true;
    drop(pipeline);
    shared.work.notify_one();
}

/// The committer thread: takes the open batch, commits it, and hands it to the syncer; waits
/// while there is none, or while the previous batch has not been taken by the syncer.
fn commit_batches(shared: &Shared, mut conn: WriteConnection) {
    loop {
        let mut pipeline = shared.lock();
        let batch = loop {
            if pipeline.unsynced.len() < MAX_UNSYNCED
                && let Some(batch) = pipeline.open.take()
            {
                break batch;
            }
            if pipeline.closed && pipeline.open.is_none() {
                // The connection closes only after every batch is settled.
                drop(shared.wait_settled(pipeline));
                return;
            }
            pipeline = shared.wait(&shared.work, pipeline, |p| &mut p.idle);
        };
        if pipeline.stopped {
            drop(pipeline);
            shared.taken.notify_one();
            batch.fail();
            continue;
        }
        if batch.broken {
            // A job panicked half-way: refuse the batch, and start again from the published
            // states once the batches before it are.
            tracing::error!(
                jobs = batch.jobs,
                "a directory change failed unexpectedly; its batch is refused"
            );
            shared.restart_after_failure(pipeline);
            batch.fail();
            continue;
        }
        let sealed = batch.seal(&pipeline.ahead);
        pipeline.in_flight += 1;
        drop(pipeline);
        shared.taken.notify_one();
        commit(shared, &mut conn, sealed);
    }
}

/// Commits one sealed batch (not yet durable) and hands it to the syncer; on failure answers
/// its jobs (and every job of the open batch, applied on top of it) with a 500.
fn commit(shared: &Shared, conn: &mut WriteConnection, sealed: Sealed) {
    let Sealed {
        writes,
        jobs,
        states,
        replies,
    } = sealed;
    let started = std::time::Instant::now();
    let wrote = !writes.is_empty();
    let outcome = if wrote {
        conn.commit_unsynced(&writes, jobs)
    } else {
        Ok(())
    };
    tracing::debug!(
        jobs,
        rows = writes.len(),
        micros = started.elapsed().as_micros() as u64,
        "batch committed"
    );
    drop(writes);
    let mut pipeline = shared.lock();
    match outcome {
        Ok(()) if pipeline.stopped => {
            pipeline.in_flight -= 1;
            drop(pipeline);
            not_stored(replies);
        }
        Ok(()) => {
            pipeline.unsynced.push(Committed {
                states,
                replies,
                wrote,
            });
            let wake = pipeline.syncer_idle;
            drop(pipeline);
            if wake {
                shared.sync.notify_one();
            }
        }
        Err(error) => {
            pipeline.in_flight -= 1;
            tracing::error!(%error, jobs, "directory batch not committed");
            shared.restart_after_failure(pipeline);
            not_stored(replies);
        }
    }
}

/// The syncer thread: takes every committed batch, syncs the WAL once for all of them, then
/// publishes their states and answers their jobs in commit order. A failed sync stops the
/// pipeline: those commits may or may not be on the disk, and the kernel may have dropped
/// the pages it could not write, so no later sync could prove them durable (every job since
/// gets a 500 until idrelay restarts and reads what the disk kept).
fn sync_batches(shared: &Shared, mut sync: impl FnMut() -> Result<(), StoreError>) {
    loop {
        let (batches, stopped) = {
            let mut pipeline = shared.lock();
            loop {
                if !pipeline.unsynced.is_empty() {
                    break;
                }
                if pipeline.committer_done {
                    return;
                }
                pipeline = shared.wait(&shared.sync, pipeline, |p| &mut p.syncer_idle);
            }
            let batches = std::mem::take(&mut pipeline.unsynced);
            let wake = pipeline.idle;
            let stopped = pipeline.stopped;
            drop(pipeline);
            if wake {
                shared.work.notify_one();
            }
            (batches, stopped)
        };
        let started = std::time::Instant::now();
        let outcome = if stopped {
            Err(None)
        } else if batches.iter().any(|batch| batch.wrote) {
            sync().map_err(Some)
        } else {
            Ok(())
        };
        tracing::debug!(
            batches = batches.len(),
            micros = started.elapsed().as_micros() as u64,
            "batches synced"
        );
        match outcome {
            Ok(()) => publish(shared, batches),
            Err(error) => {
                if let Some(error) = error {
                    tracing::error!(
                        %error,
                        "the directory's write-ahead log could not be synced; every write is \
                         refused until idrelay restarts"
                    );
                }
                {
                    let mut pipeline = shared.lock();
                    pipeline.in_flight -= batches.len();
                }
                // Stopped before answering: no job sent after these answers is committed.
                shared.stop();
                for batch in batches {
                    not_stored(batch.replies);
                }
            }
        }
    }
}

/// Publishes the states of durable batches and answers their jobs.
fn publish(shared: &Shared, batches: Vec<Committed>) {
    // The superseded states are dropped only after every job is answered: dropping them frees
    // the nodes the batches path-copied, which is work no answer waits for.
    let mut superseded = Vec::new();
    let mut answers = Vec::with_capacity(batches.len());
    let settled = batches.len();
    let mut published_any = false;
    for batch in batches {
        let published: Vec<Arc<TenantState>> = batch
            .states
            .into_iter()
            .map(|(cell, state)| {
                let state = Arc::new(state);
                superseded.push(cell.swap(state.clone()));
                state
            })
            .collect();
        published_any |= !published.is_empty();
        answers.push((published, batch.replies));
    }
    // Published first: the writer may start from the published states from now on.
    let wake = {
        let mut pipeline = shared.lock();
        pipeline.in_flight -= settled;
        pipeline.idle && pipeline.in_flight == 0
    };
    if wake {
        shared.work.notify_one();
    }
    // New change-log rows are durable and their states published: wake the real-time
    // pushers (after the publish, so they find what they read).
    if published_any {
        crate::realtime::push::change_log_grew();
    }
    for (published, replies) in answers {
        for pending in replies {
            match pending {
                Pending::Tenant(slot, reply) => reply(Ok(published[slot].clone())),
                Pending::Rows(reply) => reply(Ok(())),
            }
        }
    }
    drop(superseded);
}

#[cfg(test)]
mod rows_tests {
    use super::*;
    use crate::directory::{Kind, Origin, ops};
    use crate::store::{EventOperation, ProvisioningEvent};

    fn create_user(
        writer: &WriterHandle,
        cell: &Arc<ArcSwap<TenantState>>,
        name: &str,
    ) -> impl std::future::Future<Output = Result<Arc<str>, ScimError>> + use<> {
        let body = serde_json::json!({"userName": name});
        let (writer, cell) = (writer.clone(), cell.clone());
        async move {
            let (entry, _) = writer
                .submit_checked(&cell, move |s, b| {
                    ops::create(s, b, Kind::User, body, &Origin::ScimV2)
                })
                .await?;
            Ok(entry.id.clone())
        }
    }

    /// A store in a temporary directory, its writer and an empty `acme` cell.
    async fn started() -> (
        tempfile::TempDir,
        Store,
        WriterHandle,
        Arc<ArcSwap<TenantState>>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let writer = WriterHandle::start(&store).await.unwrap();
        let cell = Arc::new(ArcSwap::from_pointee(TenantState::new("acme")));
        (dir, store, writer, cell)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_jobs_commit_in_batches_and_are_published() {
        let (_dir, store, writer, cell) = started().await;
        let tasks: Vec<_> = (0..300)
            .map(|i| tokio::spawn(create_user(&writer, &cell, &format!("u{i}"))))
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        // A duplicate is refused, the others stay.
        let dup = create_user(&writer, &cell, "U7").await.unwrap_err();
        assert_eq!(dup.status, 409);
        assert_eq!(cell.load().of(Kind::User).len(), 300);
        // The refused create took no legacy user id.
        assert_eq!(
            cell.load().next_user_id().0,
            crate::directory::legacy_ids::format_user_id(301)
        );
        let rows = store.load_tenant("acme").await.unwrap();
        assert_eq!(rows.users.len(), 300);
        assert_eq!(store.changes("acme", 0, 1000).await.unwrap().len(), 300);
        let stats = store.stats();
        assert_eq!(stats.jobs, 300);
        assert!(stats.commits <= 300);
    }

    #[tokio::test]
    async fn a_failed_commit_publishes_nothing_and_the_writer_goes_on() {
        let (_dir, store, writer, cell) = started().await;
        create_user(&writer, &cell, "a").await.unwrap();
        let refused = create_breaking_its_batch(writer.clone(), cell.clone(), "b".into())
            .await
            .unwrap_err();
        assert_eq!(refused.status, 500);
        assert!(cell.load().of(Kind::User).by_unique_name("b").is_none());
        // The writer starts again from the committed state: `b` is free again.
        create_user(&writer, &cell, "b").await.unwrap();
        create_user(&writer, &cell, "c").await.unwrap();
        let names: Vec<String> = store
            .load_tenant("acme")
            .await
            .unwrap()
            .users
            .iter()
            .map(|u| u.body.clone())
            .collect();
        assert_eq!(names.len(), 3);
        assert_eq!(cell.load().of(Kind::User).len(), 3);
    }

    /// A create whose rows break a foreign key: its batch cannot commit.
    async fn create_breaking_its_batch(
        writer: WriterHandle,
        cell: Arc<ArcSwap<TenantState>>,
        name: String,
    ) -> Result<(), ScimError> {
        writer
            .submit(&cell, move |s, b| {
                let entry = ops::create(
                    s,
                    b,
                    Kind::User,
                    serde_json::json!({ "userName": name }),
                    &Origin::ScimV2,
                )?;
                b.writes.push(RowWrite::AddMember {
                    tenant: s.tenant().clone(),
                    group_id: Arc::from("no-such-group"),
                    member_id: entry.id.clone(),
                    member_type: Kind::User,
                });
                Ok(())
            })
            .await
            .map(|_| ())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_batches_amid_concurrent_creates_leave_acknowledged_published_and_stored_equal()
    {
        let (_dir, store, writer, cell) = started().await;
        // Creates that commit on their own first.
        let mut acknowledged = std::collections::BTreeSet::new();
        for i in 0..20 {
            let id = create_user(&writer, &cell, &format!("first{i}"))
                .await
                .unwrap();
            acknowledged.insert(id.to_string());
        }
        // Then creates in flight while batches carrying a broken job fail: a create may be
        // refused (its batch, or the batch it was applied on top of, failed), never lost.
        let mut creates = Vec::new();
        let mut breaking = Vec::new();
        for i in 0..300 {
            if i % 25 == 0 {
                breaking.push(tokio::spawn(create_breaking_its_batch(
                    writer.clone(),
                    cell.clone(),
                    format!("broken{i}"),
                )));
            } else {
                creates.push(tokio::spawn(create_user(&writer, &cell, &format!("u{i}"))));
            }
        }
        for task in breaking {
            assert_eq!(task.await.unwrap().unwrap_err().status, 500);
        }
        let mut refused = 0;
        for task in creates {
            match task.await.unwrap() {
                Ok(id) => {
                    acknowledged.insert(id.to_string());
                }
                Err(error) => {
                    assert_eq!(error.status, 500, "{error:?}");
                    refused += 1;
                }
            }
        }
        assert_eq!(acknowledged.len() + refused, 20 + 288);
        // Exactly the acknowledged creates are stored and published; nothing of a refused job.
        let stored: std::collections::BTreeSet<String> = store
            .load_tenant("acme")
            .await
            .unwrap()
            .users
            .iter()
            .map(|u| u.id.clone())
            .collect();
        assert_eq!(stored, acknowledged);
        let published = cell.load();
        assert_eq!(published.of(Kind::User).len(), acknowledged.len());
        for i in (0..300).step_by(25) {
            assert!(
                published
                    .of(Kind::User)
                    .by_unique_name(&format!("broken{i}"))
                    .is_none()
            );
        }
        // The writer goes on from the committed state.
        create_user(&writer, &cell, "after").await.unwrap();
        assert_eq!(
            store.load_tenant("acme").await.unwrap().users.len(),
            acknowledged.len() + 1
        );
    }

    #[tokio::test]
    async fn a_failed_wal_sync_refuses_its_jobs_and_every_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let conn = store.write_connection().unwrap();
        let wal = conn.wal_sync().unwrap();
        let syncs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = syncs.clone();
        let sync = move || {
            if counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                wal.sync()
            } else {
                Err(StoreError::WalSync {
                    action: "sync the write-ahead log",
                    source: std::io::Error::other("the disk went away"),
                })
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        spawn_writer_threads(conn, sync, rx).unwrap();
        let writer = WriterHandle { tx };
        let cell = Arc::new(ArcSwap::from_pointee(TenantState::new("acme")));
        create_user(&writer, &cell, "synced").await.unwrap();
        // Committed, but its sync fails: refused and not published.
        let unsynced = create_user(&writer, &cell, "unsynced").await.unwrap_err();
        assert_eq!(unsynced.status, 500);
        assert_eq!(syncs.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Every later job is refused without another commit or sync.
        let later = create_user(&writer, &cell, "later").await.unwrap_err();
        assert_eq!(later.status, 500);
        let rows = writer.submit_rows(|_| Ok(())).await.unwrap_err();
        assert_eq!(rows.status, 500);
        assert_eq!(syncs.load(std::sync::atomic::Ordering::SeqCst), 2);
        let published = cell.load();
        assert_eq!(published.of(Kind::User).len(), 1);
        assert!(published.of(Kind::User).by_unique_name("synced").is_some());
    }

    #[test]
    fn a_job_refused_after_the_committer_stopped_gets_a_500_and_publishes_nothing() {
        let cell = Arc::new(ArcSwap::from_pointee(TenantState::new("acme")));
        let (tx, rx) = std::sync::mpsc::channel();
        let work: Work = Box::new(move |state, batch| {
            let created = ops::create(
                state,
                batch,
                Kind::User,
                serde_json::json!({"userName": "x"}),
                &Origin::ScimV2,
            );
            assert!(created.is_ok());
            let reply: Reply = Box::new(move |settled| {
                let _ = tx.send(settled.map(|_| ()));
            });
            (reply, true)
        });
        refuse(Job::Tenant {
            cell: cell.clone(),
            work,
        });
        assert_eq!(rx.recv().unwrap().unwrap_err().status, 500);
        assert_eq!(cell.load().of(Kind::User).len(), 0);
    }

    #[tokio::test]
    async fn a_panic_in_a_checked_job_refuses_its_batch_and_keeps_the_committed_state() {
        let (_dir, store, writer, cell) = started().await;
        create_user(&writer, &cell, "a").await.unwrap();
        let refused = writer
            .submit_checked(&cell, |s, b| -> Result<(), ScimError> {
                ops::create(
                    s,
                    b,
                    Kind::User,
                    serde_json::json!({"userName": "half"}),
                    &Origin::ScimV2,
                )?;
                panic!("a bug after the first change");
            })
            .await
            .unwrap_err();
        assert_eq!(refused.status, 500);
        assert!(cell.load().of(Kind::User).by_unique_name("half").is_none());
        // The writer goes on from the committed state: `half` is free, nothing else changed.
        create_user(&writer, &cell, "half").await.unwrap();
        assert_eq!(cell.load().of(Kind::User).len(), 2);
        assert_eq!(store.load_tenant("acme").await.unwrap().users.len(), 2);
    }

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
        let (_dir, store, writer, _) = started().await;
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
