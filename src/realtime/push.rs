//! The push task of one real-time target: Provision when due, then follow the tenant's change
//! log from the persisted cursor, one coalesced batch at a time.
//!
//! Invariants: the cursor is written only after every entity of the batch was acknowledged by
//! the target (2xx; 404 on DELETE counts as done) or failed permanently (logged); transient
//! failures (transport, 408, 429, 5xx) are retried with backoff + full jitter, honouring
//! `Retry-After`, with no budget (the cursor holds, nothing is dropped); the breaker only feeds
//! `DeliveryHealthy`. The change-log position is saved off the push path (latest wins, saves in
//! order) while the task keeps its own copy, so a save still in flight never makes it push a
//! batch twice; idle tasks are woken by [`change_log_grew`], with a fallback poll.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;

use super::plan::{PlannedPush, coalesce, entities_base, kind_path};
use super::{PushHealth, RealTimeTargetConfig};
use crate::delivery::backoff::RetryPolicy;
use crate::delivery::breaker::Breaker;
use crate::delivery::client::{ClientError, ClientSettings, REQUEST_TIMEOUT, ScimClient};
use crate::directory::{Directory, Kind};
use crate::runtime::Runtime;
use crate::store::{LogDetail, LogStatus, RealtimeCursor, RealtimeLogEntry, RowWrite, SystemRole};

/// Change records read per batch.
const BATCH: u32 = 500;
/// Entities of one batch in flight at once (different entities only).
const CONCURRENCY: usize = 16;
/// Poll interval of the change log when idle, until the change-log hook
/// ([`change_log_grew`]) was seen to fire.
const IDLE: Duration = Duration::from_millis(20);
/// Fallback poll interval once the hook fires (a missed wake-up costs at most this).
const IDLE_NOTIFIED: Duration = Duration::from_secs(1);

/// Bumped after every commit that appended to a change log (any tenant, any store).
static CHANGE_LOG: std::sync::LazyLock<tokio::sync::watch::Sender<u64>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::Sender::new(0));

/// The change-log hook: the directory writer calls this after a commit that carried
/// directory changes, so idle push tasks look at the log at once instead of polling. Cheap
/// (no allocation, no lock held beyond the watch's own); spurious calls only cost a read.
pub fn change_log_grew() {
    CHANGE_LOG.send_modify(|n| *n = n.wrapping_add(1));
}

/// Waits until the change log grew or `fallback` elapsed (a missed wake-up costs at most
/// that). Returns whether a notification arrived. A notification that arrived while the
/// caller was busy is not lost: the watch remembers it until seen.
async fn wait_for_changes(
    changes: &mut tokio::sync::watch::Receiver<u64>,
    fallback: Duration,
) -> bool {
    matches!(
        tokio::time::timeout(fallback, changes.changed()).await,
        Ok(Ok(()))
    )
}
/// Users per Provision page (the cursor is saved after each page).
const PROVISION_PAGE: usize = 200;

/// Reason recorded for a loop-prevention skip.
pub const SKIP_REASON_PREFIX: &str = "written by provisioning job";

type HealthMap = Arc<Mutex<BTreeMap<String, PushHealth>>>;

/// The outcome of pushing one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pushed {
    Done,
    Skipped(String),
    /// Permanently refused (the reason, for the real-time log).
    Failed(String),
    /// Nothing to send (deleted meanwhile: its delete record follows).
    Gone,
}

struct Target {
    config: Arc<RealTimeTargetConfig>,
    client: ScimClient,
    policy: RetryPolicy,
    breaker: Mutex<Breaker>,
    health: HealthMap,
}

/// Runs until aborted (configuration change or removal).
pub async fn run(config: Arc<RealTimeTargetConfig>, runtime: Weak<Runtime>, health: HealthMap) {
    let settings = ClientSettings {
        base_url: entities_base(&config.user_url),
        auth: config.auth.clone(),
        headers: BTreeMap::new(),
        content_type: "application/scim+json".to_string(),
        if_match_wildcard: false,
        timeout: REQUEST_TIMEOUT,
        trusted_ca_pem: config.trusted_ca_pem.clone(),
    };
    let client = match ScimClient::new(&settings) {
        Ok(c) => c,
        Err(error) => {
            set_health(&health, &config.resource, |h| {
                h.healthy = false;
                h.last_error = Some(error.to_string());
            });
            return;
        }
    };
    let target = Arc::new(Target {
        policy: RetryPolicy::from_properties(&config.properties),
        breaker: Mutex::new(Breaker::new(
            crate::delivery::breaker::DEFAULT_THRESHOLD,
            Duration::from_secs(1),
            Duration::from_secs(60),
        )),
        config,
        client,
        health,
    });
    set_health(&target.health, &target.config.resource, |h| {
        h.healthy = true
    });
    let mut changes = CHANGE_LOG.subscribe();
    changes.mark_unchanged();
    let mut hooked = false;
    let saver = spawn_cursor_saver(runtime.clone());
    let mut cursor = None;
    loop {
        match step(&target, &runtime, &mut cursor, &saver).await {
            Ok(true) => {}
            Ok(false) => {
                let idle = if hooked { IDLE_NOTIFIED } else { IDLE };
                hooked |= wait_for_changes(&mut changes, idle).await;
            }
            Err(error) => {
                tracing::warn!(target = %target.config.resource, %error, "real-time push step failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if runtime.strong_count() == 0 {
            return;
        }
    }
}

/// Persists the change-log position off the push path: the latest cursor handed to the
/// returned sender is saved, in order (a newer value replaces one not yet saved). Stops when
/// the sender is dropped (the push task ended). A save that is lost (crash, abort) only makes
/// the next run push some changes again (idempotent upserts and deletes).
fn spawn_cursor_saver(
    runtime: Weak<Runtime>,
) -> tokio::sync::watch::Sender<Option<RealtimeCursor>> {
    let (tx, mut rx) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let Some(cursor) = rx.borrow_and_update().clone() else {
                continue;
            };
            let Some(rt) = runtime.upgrade() else {
                return;
            };
            if let Err(error) = save(&rt, &cursor).await {
                tracing::warn!(target = %cursor.target, %error, "could not save a real-time cursor");
            }
        }
    });
    tx
}

/// One step: Provision when due, else one batch of changes. `Ok(true)` when work was done.
/// `cached` is the cursor as this task last advanced it (read from the store when `None`);
/// change-log positions are saved through `saver`, Provision progress synchronously.
async fn step(
    target: &Arc<Target>,
    runtime: &Weak<Runtime>,
    cached: &mut Option<RealtimeCursor>,
    saver: &tokio::sync::watch::Sender<Option<RealtimeCursor>>,
) -> Result<bool, String> {
    let Some(rt) = runtime.upgrade() else {
        return Ok(false);
    };
    let config = &target.config;
    let Some(directory) = rt.directory(&config.tenant) else {
        return Ok(false);
    };
    let store = rt.store().clone();
    let stored = match cached.take() {
        Some(c) => Some(c),
        None => store
            .realtime_cursor(&config.tenant, &config.resource)
            .await
            .map_err(|e| e.to_string())?,
    };
    let mut cursor = match stored {
        Some(c) => c,
        None => {
            // A new target starts at the end of the log; Provision sends what exists.
            let cursor = RealtimeCursor {
                tenant: Arc::from(config.tenant.as_str()),
                target: Arc::from(config.resource.as_str()),
                change_seq: store
                    .last_change_seq(&config.tenant)
                    .await
                    .map_err(|e| e.to_string())?,
                ..Default::default()
            };
            save(&rt, &cursor).await?;
            cursor
        }
    };
    if let Some(token) = super::provision_due(&cursor, &config.provision_token()) {
        provision_page(target, &rt, &directory, &mut cursor, &token).await?;
        *cached = Some(cursor);
        return Ok(true);
    }
    set_health(&target.health, &config.resource, |h| {
        h.provisioned = Some(u64::try_from(cursor.provisioned_count).unwrap_or(0));
        h.provisioning = None;
    });
    let changes = store
        .changes(&config.tenant, cursor.change_seq, BATCH)
        .await
        .map_err(|e| e.to_string())?;
    let Some(last) = changes.last().map(|c| c.seq) else {
        *cached = Some(cursor);
        return Ok(false);
    };
    let plan = coalesce(&changes, config.groups);
    push_all(target, &rt, &directory, plan).await;
    cursor.change_seq = last;
    saver.send_replace(Some(cursor.clone()));
    *cached = Some(cursor);
    Ok(true)
}

/// Pushes one page of the Provision in progress (users in directory seq order) and saves the
/// position; finishes the run when the page is the last one.
async fn provision_page(
    target: &Arc<Target>,
    rt: &Arc<Runtime>,
    directory: &Arc<Directory>,
    cursor: &mut RealtimeCursor,
    token: &str,
) -> Result<(), String> {
    if cursor.provision_request.as_deref() != Some(token) {
        cursor.provision_request = Some(token.to_string());
        cursor.provision_after = None;
        cursor.provisioned_count = 0;
    }
    let after: Option<i64> = cursor
        .provision_after
        .as_deref()
        .and_then(|s| s.parse().ok());
    let snapshot = directory.snapshot();
    let page: Vec<(i64, String)> = snapshot
        .of(Kind::User)
        .ordered(after)
        .take(PROVISION_PAGE)
        .map(|(seq, id)| (seq, id.to_string()))
        .collect();
    drop(snapshot);
    let plan: Vec<PlannedPush> = page
        .iter()
        .map(|(_, id)| PlannedPush {
            kind: Kind::User,
            entity_id: id.clone(),
            delete: false,
        })
        .collect();
    let done = push_all(target, rt, directory, plan).await;
    cursor.provisioned_count += i64::try_from(done).unwrap_or(0);
    match page.last() {
        Some((seq, _)) if page.len() == PROVISION_PAGE => {
            cursor.provision_after = Some(seq.to_string());
        }
        _ => {
            cursor.provisioned_request = Some(token.to_string());
            cursor.provision_request = None;
            cursor.provision_after = None;
        }
    }
    let count = u64::try_from(cursor.provisioned_count).unwrap_or(0);
    let finished = cursor.provision_request.is_none();
    set_health(&target.health, &target.config.resource, |h| {
        if finished {
            h.provisioned = Some(count);
            h.provisioning = None;
        } else {
            h.provisioning = Some(count);
        }
    });
    save(rt, cursor).await
}

/// Pushes every planned entity (different entities concurrently); returns how many were
/// acknowledged by the target.
async fn push_all(
    target: &Arc<Target>,
    rt: &Arc<Runtime>,
    directory: &Arc<Directory>,
    plan: Vec<PlannedPush>,
) -> usize {
    let outcomes: Vec<(PlannedPush, Pushed)> = futures::stream::iter(plan)
        .map(|p| async move {
            let outcome = push_one(target, rt, directory, &p).await;
            (p, outcome)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut logs = Vec::new();
    let mut done = 0;
    let (mut pushed, mut skipped, mut failed) = (0, 0, 0);
    for (p, outcome) in outcomes {
        match outcome {
            Pushed::Done => {
                done += 1;
                pushed += 1;
            }
            Pushed::Gone => {}
            Pushed::Skipped(reason) => {
                skipped += 1;
                logs.push(log_entry(
                    &target.config,
                    &p,
                    LogStatus::FinishedSuccessfully,
                    reason,
                ));
            }
            Pushed::Failed(reason) => {
                failed += 1;
                logs.push(log_entry(
                    &target.config,
                    &p,
                    LogStatus::FinishedWithError,
                    reason,
                ));
            }
        }
    }
    set_health(&target.health, &target.config.resource, |h| {
        h.pushed += pushed;
        h.skipped += skipped;
        h.failed += failed;
    });
    if !logs.is_empty() {
        let result = rt
            .writer()
            .submit_rows(move |writes| {
                writes.extend(logs.into_iter().map(|l| RowWrite::RealtimeLog(Box::new(l))));
                Ok(())
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not write the real-time log of a push batch");
        }
    }
    done
}

async fn push_one(
    target: &Arc<Target>,
    rt: &Arc<Runtime>,
    directory: &Arc<Directory>,
    p: &PlannedPush,
) -> Pushed {
    let config = &target.config;
    match rt
        .store()
        .managed_by_job(&config.tenant, p.kind, &p.entity_id)
        .await
    {
        Ok(Some(origin)) => {
            return Pushed::Skipped(format!(
                "{SKIP_REASON_PREFIX} {}: entities written by provisioning jobs are never pushed by real-time provisioning (loop prevention)",
                origin.strip_prefix("job:").unwrap_or(&origin)
            ));
        }
        Ok(None) => {}
        Err(error) => return Pushed::Failed(error.to_string()),
    }
    let path = kind_path(p.kind);
    let (method, path, body) = if p.delete {
        (Method::DELETE, format!("{path}/{}", p.entity_id), None)
    } else {
        match render_committed(rt, directory, config, p).await {
            Some(body) => (Method::POST, path.to_string(), Some(body)),
            None => return Pushed::Gone,
        }
    };
    let first = jiff::Timestamp::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let result = target
            .client
            .send(method.clone(), &path, &[], body.as_ref())
            .await;
        let (transient, retry_after) = match result {
            Ok(reply) if reply.is_success() || (p.delete && reply.status == 404) => {
                on_success(target);
                return Pushed::Done;
            }
            Ok(reply) if reply.is_transient() => (reply.describe(), reply.retry_after),
            Ok(reply) => {
                on_success(target);
                return Pushed::Failed(reply.describe());
            }
            Err(error) if is_transient(&error) => (error.to_string(), None),
            Err(error) => return Pushed::Failed(error.to_string()),
        };
        on_failure(target, &transient);
        let delay = match target.policy.decide(
            attempts,
            first,
            jiff::Timestamp::now(),
            rand::random::<f64>(),
            retry_after,
        ) {
            crate::delivery::backoff::RetryDecision::RetryAfter(d) => d,
            // No budget here: the cursor must not pass an unacknowledged change.
            crate::delivery::backoff::RetryDecision::GiveUp => {
                target
                    .policy
                    .delay(attempts, rand::random::<f64>(), retry_after)
            }
        };
        tokio::time::sleep(delay.max(Duration::from_millis(10))).await;
    }
}

/// How long an entity committed in the store may be missing from the published directory
/// state (the writer publishes right after the commit) before it counts as gone.
const PUBLISH_WAIT: Duration = Duration::from_secs(2);

/// The entity's current state for an upsert. The change record is committed before the
/// directory publishes the state it belongs to, so an entity missing from the published state
/// is looked up in the store: present there → not published yet, wait; absent → deleted (its
/// delete record follows in the log). Without this, a push task woken between commit and
/// publish skipped the change for good.
async fn render_committed(
    rt: &Runtime,
    directory: &Directory,
    config: &RealTimeTargetConfig,
    p: &PlannedPush,
) -> Option<Value> {
    let deadline = Instant::now() + PUBLISH_WAIT;
    loop {
        if let Some(body) = render(directory, config.version, p.kind, &p.entity_id) {
            return Some(body);
        }
        let committed = rt
            .store()
            .entity_committed(&config.tenant, p.kind, &p.entity_id)
            .await;
        if !matches!(committed, Ok(true)) || Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn is_transient(error: &ClientError) -> bool {
    error.is_transient() || matches!(error, ClientError::Tls(_) | ClientError::Token { .. })
}

/// The current state of an entity in the target's version shape; `None` when it is gone.
pub fn render(directory: &Directory, version: u8, kind: Kind, id: &str) -> Option<Value> {
    let resource = directory.get(kind, id)?;
    let base = format!("/tenants/{}/scim", directory.tenant());
    let v2 = resource.to_json(&base);
    if version != 1 {
        return Some(v2);
    }
    let ids = crate::directory::scim_v1::context::SnapshotIds(directory.snapshot());
    let v1_base = format!("/tenants/{}/service/scim", directory.tenant());
    Some(match kind {
        Kind::User => crate::scim::v1::user_v2_to_v1(&v2, &v1_base, &ids),
        Kind::Group => crate::scim::v1::group_v2_to_v1(&v2, &v1_base, &ids),
    })
}

fn on_success(target: &Target) {
    let closed = match target.breaker.lock() {
        Ok(mut b) => {
            b.on_success();
            b.is_closed()
        }
        Err(_) => true,
    };
    set_health(&target.health, &target.config.resource, |h| {
        h.healthy = closed;
        if closed {
            h.last_error = None;
        }
    });
}

fn on_failure(target: &Target, error: &str) {
    let closed = match target.breaker.lock() {
        Ok(mut b) => {
            b.on_transient_failure(Instant::now(), error);
            b.is_closed()
        }
        Err(_) => true,
    };
    set_health(&target.health, &target.config.resource, |h| {
        h.healthy = closed;
        h.last_error = Some(error.to_string());
    });
}

fn set_health(health: &HealthMap, resource: &str, f: impl FnOnce(&mut PushHealth)) {
    if let Ok(mut map) = health.lock() {
        f(map
            .entry(resource.to_string())
            .or_insert_with(|| PushHealth {
                healthy: true,
                ..Default::default()
            }));
    }
}

async fn save(rt: &Runtime, cursor: &RealtimeCursor) -> Result<(), String> {
    let cursor = cursor.clone();
    rt.writer()
        .submit_rows(move |writes| {
            writes.push(RowWrite::RealtimeCursor(cursor));
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())
}

fn log_entry(
    config: &RealTimeTargetConfig,
    p: &PlannedPush,
    status: LogStatus,
    reason: String,
) -> RealtimeLogEntry {
    let operation = if p.delete { "DELETE" } else { "UPSERT" };
    let state = match status {
        LogStatus::FinishedWithError => "Entity Failed",
        _ => "Entity Skipped",
    };
    RealtimeLogEntry {
        tenant: Arc::from(config.tenant.as_str()),
        started_at: jiff::Timestamp::now(),
        source_system: Arc::from(format!("realtime-target:{}", config.resource).as_str()),
        source_system_name: Arc::from(config.display_name.as_str()),
        entity_type: p.kind,
        entity_id_source: Some(Arc::from(p.entity_id.as_str())),
        entity_id_target: None,
        status,
        message: Some(Arc::from(reason.as_str())),
        details: vec![LogDetail {
            system: config.display_name.clone(),
            role: SystemRole::Target,
            operation: Some(operation.to_string()),
            state: state.to_string(),
            additional_information: None,
            reason: Some(reason),
        }],
        content: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Origin, WriterHandle};
    use crate::store::Store;
    use serde_json::json;

    #[tokio::test]
    async fn the_change_log_hook_wakes_a_waiting_pusher() {
        let mut changes = CHANGE_LOG.subscribe();
        changes.mark_unchanged();
        let started = Instant::now();
        assert!(!wait_for_changes(&mut changes, Duration::from_millis(5)).await);
        let waiter = tokio::spawn(async move {
            let woke = wait_for_changes(&mut changes, Duration::from_secs(30)).await;
            (woke, changes)
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        change_log_grew();
        let (woke, mut changes) = waiter.await.unwrap();
        assert!(woke);
        assert!(started.elapsed() < Duration::from_secs(10));
        // A notification while the pusher was busy is remembered.
        change_log_grew();
        assert!(wait_for_changes(&mut changes, Duration::from_secs(30)).await);
    }

    #[tokio::test]
    async fn renders_the_current_state_in_the_target_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let writer = WriterHandle::start(&store).await.unwrap();
        let directory = Directory::open(&store, writer, "acme").await.unwrap();
        let user = directory
            .create(
                Kind::User,
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "ada",
                    "emails": [{"value": "ada@example.org", "primary": true}],
                }),
                Origin::ScimV2,
            )
            .await
            .unwrap();
        let id = user.to_json("/x")["id"].as_str().unwrap().to_string();
        let v2 = render(&directory, 2, Kind::User, &id).unwrap();
        assert_eq!(v2["id"], id.as_str());
        assert_eq!(v2["userName"], "ada");
        let v1 = render(&directory, 1, Kind::User, &id).unwrap();
        // Version 1: the legacy user id (what the real-time API checks for v1 systems).
        assert_eq!(v1["id"], "P000001", "{v1}");
        assert_eq!(v1["userUuid"], id.as_str());
        assert_eq!(v1["userName"], "ada");
        assert!(render(&directory, 2, Kind::User, "missing").is_none());
    }
}
