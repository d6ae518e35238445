//! WAL checkpoints off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that commit
//! (and every writer job waiting on it) pays for copying the WAL back into the database file
//! and an extra fsync. Here a background task with its own connection runs a `PASSIVE`
//! checkpoint shortly after commits happened, so the copying happens beside the writer, not in
//! front of it. The writer connection keeps an automatic checkpoint with a high threshold
//! ([`WRITER_AUTOCHECKPOINT_PAGES`]) as the backstop: under sustained writes a passive
//! checkpoint never sees a fully copied WAL at the moment the writer starts a transaction, so
//! the WAL would not restart from its beginning; the writer's own checkpoint then has only the
//! few frames left to copy, and the next transaction restarts the WAL.
//!
//! Invariants:
//! - Durability is unchanged: a commit is durable once its WAL frames are synced
//!   (`synchronous=FULL`); checkpoints only move committed pages into the database file.
//! - The task stops when its [`Checkpointer`] handle is dropped (with the store).
//! - A failed checkpoint is logged and retried at the next tick; it never fails a write.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};
use tokio::sync::oneshot;

/// How often the task looks for new commits.
const TICK: Duration = Duration::from_millis(25);

/// The writer connection's automatic checkpoint threshold, in WAL pages (SQLite's default,
/// 4 MiB of 4 KiB pages). By the time it fires the background task has copied all but the
/// last tick's frames, so the writer's own checkpoint is short, and it restarts the WAL (a
/// higher threshold lets the WAL grow under sustained writes and makes that one checkpoint
/// long).
pub const WRITER_AUTOCHECKPOINT_PAGES: u32 = 1000;

/// Owns the background checkpoint task; dropping it stops the task.
pub struct Checkpointer {
    _stop: oneshot::Sender<()>,
}

impl Checkpointer {
    /// Starts the task. `commits` reads the store's commit counter: a tick with no new commit
    /// does nothing.
    pub fn start(
        options: SqliteConnectOptions,
        commits: impl Fn() -> u64 + Send + 'static,
    ) -> Checkpointer {
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(run(options, commits, stopped));
        Checkpointer { _stop: stop }
    }
}

async fn run(
    options: SqliteConnectOptions,
    commits: impl Fn() -> u64,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut conn: Option<SqliteConnection> = None;
    let mut checkpointed_at = commits();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = tick.tick() => {}
        }
        let now = commits();
        if now == checkpointed_at {
            continue;
        }
        let connection = match conn.as_mut() {
            Some(connection) => connection,
            None => match SqliteConnection::connect_with(&options).await {
                Ok(connection) => conn.insert(connection),
                Err(error) => {
                    tracing::warn!(%error, "WAL checkpoint: could not open a connection");
                    continue;
                }
            },
        };
        let started = std::time::Instant::now();
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut *connection)
            .await
        {
            Ok(row) => {
                checkpointed_at = now;
                let frames: i64 = row.try_get(1).unwrap_or_default();
                let copied: i64 = row.try_get(2).unwrap_or_default();
                let micros = started.elapsed().as_micros();
                tracing::debug!(frames, copied, micros, "WAL checkpoint");
            }
            Err(error) => {
                tracing::warn!(%error, "WAL checkpoint failed; retrying at the next tick");
                conn = None;
            }
        }
    }
    if let Some(connection) = conn {
        let _ = connection.close().await;
    }
}
