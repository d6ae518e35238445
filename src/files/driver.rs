//! The files driver loop: load DIR, reconcile, apply the configuration, publish statuses; then
//! watch DIR (notify, debounced) and repeat on every change, plus a periodic resync in case a
//! file-system event is missed.
//!
//! Invariants: the configuration is applied only when it differs from the last one applied;
//! statuses are published after the configuration they describe is applied; readiness turns on
//! after the first full pass.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::runtime::RuntimeConfig;

use super::load::{DirLoader, FilesError};
use super::state::{FilesState, PassOutput};
use super::status::FilesStatus;

/// Quiet time after the last file-system event before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// Reload even without events this often.
pub const RESYNC: Duration = Duration::from_secs(30);

/// Loads, reconciles and watches one configuration directory.
#[derive(Debug)]
pub struct FilesDriver {
    dir: PathBuf,
    loader: DirLoader,
    state: FilesState,
    status: Arc<FilesStatus>,
    last_applied: Option<RuntimeConfig>,
}

impl FilesDriver {
    /// A driver for `dir`, which must be a readable directory.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, FilesError> {
        let dir = dir.into();
        super::load::yaml_files(&dir)?;
        Ok(FilesDriver {
            dir,
            loader: DirLoader::new(),
            state: FilesState::new(),
            status: Arc::new(FilesStatus::new()),
            last_applied: None,
        })
    }

    /// The status handle to serve (`GET /status`, readiness).
    pub fn status(&self) -> Arc<FilesStatus> {
        Arc::clone(&self.status)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One pass: load and reconcile (no apply, no publish). Problems are logged.
    pub fn pass(&mut self, now: jiff::Timestamp) -> Result<PassOutput, FilesError> {
        let loaded = self.loader.load(&self.dir)?;
        for p in &loaded.problems {
            tracing::warn!(dir = %self.dir.display(), "{p}");
        }
        let out = self.state.pass(loaded.documents, now);
        for p in &out.problems {
            tracing::warn!(dir = %self.dir.display(), "{p}");
        }
        Ok(out)
    }

    /// Runs until the watcher stops: a first pass, then one pass after every burst of
    /// file-system events and every [`RESYNC`]. See [`Self::sync`].
    pub async fn run<F, Fut, E>(mut self, mut apply: F) -> Result<(), FilesError>
    where
        F: FnMut(RuntimeConfig) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let watch_error = |source| FilesError::Watch {
            path: self.dir.clone(),
            source,
        };
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            // Our own reads show up as access events: only changes trigger a pass.
            if let Ok(event) = res
                && !matches!(event.kind, notify::EventKind::Access(_))
            {
                let _ = tx.send(());
            }
        })
        .map_err(watch_error)?;
        watcher
            .watch(&self.dir, RecursiveMode::Recursive)
            .map_err(watch_error)?;
        self.sync(&mut apply).await?;
        tracing::info!(dir = %self.dir.display(), "watching the configuration directory");
        loop {
            tokio::select! {
                event = rx.recv() => {
                    if event.is_none() {
                        return Ok(());
                    }
                    // Debounce: wait until events stop for DEBOUNCE.
                    while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
                }
                () = tokio::time::sleep(RESYNC) => {}
            }
            if let Err(e) = self.sync(&mut apply).await {
                tracing::warn!("{e}; keeping the last configuration");
            }
        }
    }

    /// One pass with effect: load, reconcile, `apply` the configuration when it changed (a
    /// failed apply is retried on the next pass), publish the statuses, and turn readiness on
    /// once a configuration has been applied.
    pub async fn sync<F, Fut, E>(&mut self, apply: &mut F) -> Result<(), FilesError>
    where
        F: FnMut(RuntimeConfig) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let out = self.pass(jiff::Timestamp::now())?;
        if self.last_applied.as_ref() != Some(&out.config) {
            let tenants = out.config.tenants.len();
            let admins: usize = out.config.tenants.values().map(|t| t.admins.len()).sum();
            match apply(out.config.clone()).await {
                Ok(()) => {
                    tracing::info!(tenants, technical_admins = admins, "configuration applied");
                    self.last_applied = Some(out.config);
                }
                // Not recorded as applied: the next pass (at the latest the resync) retries.
                Err(e) => tracing::error!("applying the configuration failed: {e}"),
            }
        }
        for e in &out.entries {
            let ready = e.status["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .cloned()
                .unwrap_or_default();
            tracing::debug!(kind = e.kind, resource = %e.key, ready = %ready["status"], reason = %ready["reason"], message = %ready["message"], "status");
        }
        self.status.publish(&out.entries);
        if self.last_applied.is_some() {
            self.status.mark_ready();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str =
        "apiVersion: idrelay.dev/v1alpha1\nkind: Tenant\nmetadata: {name: acme}\nspec: {}\n";

    async fn next(rx: &mut mpsc::UnboundedReceiver<RuntimeConfig>) -> RuntimeConfig {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test]
    async fn applies_changes_without_restart() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tenant.yaml"), TENANT).unwrap();
        let driver = FilesDriver::new(dir.path()).unwrap();
        let status = driver.status();
        assert!(!status.ready());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(driver.run(move |config| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(config);
                Ok::<(), std::convert::Infallible>(())
            }
        }));
        let first = next(&mut rx).await;
        assert!(first.tenants["acme"].hosts.is_empty());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(status.ready());
        assert_eq!(status.status_json()[0]["metadata"]["name"], "acme");

        std::fs::write(
            dir.path().join("tenant.yaml"),
            TENANT.replace("spec: {}", "spec: {hosts: [acme.example]}"),
        )
        .unwrap();
        let second = next(&mut rx).await;
        assert_eq!(second.tenants["acme"].hosts, ["acme.example"]);
        // Statuses are published right after apply returns.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(status.status_json()[0]["metadata"]["generation"], 2);

        std::fs::remove_file(dir.path().join("tenant.yaml")).unwrap();
        let third = next(&mut rx).await;
        assert!(third.tenants.is_empty());
        task.abort();
    }

    #[test]
    fn quickstart_example_is_ready() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
        let mut driver = FilesDriver::new(dir).unwrap();
        let out = driver.pass(jiff::Timestamp::now()).unwrap();
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        assert_eq!(out.entries.len(), 2);
        for e in &out.entries {
            assert_eq!(
                e.status["conditions"][0]["status"], "True",
                "{}: {}",
                e.key, e.status
            );
        }
        let admin = &out.config.tenants["acme"].admins["4f1c2a8e-6b3d-4c5e-9a7f-0d2e8b1c3a55"];
        assert_eq!(admin.permissions.len(), 4);
        assert_eq!(admin.secrets.len(), 1);
    }
}
