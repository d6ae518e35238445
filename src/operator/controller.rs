//! The reconcile of one object, the same for every kind: first-sight status, finalizer, the
//! shared pass, status by server-side apply, Events on transitions, and when to look again.
//!
//! Flow of [`reconcile`]:
//! 1. first sight (no conditions yet, not deleting): apply `Ready=Unknown` + `Reconciling=True`
//!    before anything else;
//! 2. [`finalizer`]: add [`FINALIZER`] when missing (the watch brings the object back);
//! 3. apply: the shared pass (memoized, its configuration applied to the runtime), then the
//!    object's desired status applied with field manager [`FIELD_MANAGER`] only when it differs
//!    from the current one, an Event when `Ready` flipped, and a requeue: [`RESYNC`] with jitter
//!    when ready or stalled, exponential backoff while not ready; then the Secrets the object
//!    owns ([`super::secrets::ensure_generated`]: tenant CA, client certificate) where they
//!    differ from the stored ones;
//! 4. cleanup (deleting): the shared pass leaves the object out; once that configuration is
//!    applied the finalizer is removed — a deleted target stops receiving, a deleted admin can
//!    no longer authenticate.
//!
//! [`error_policy`] retries API errors with exponential backoff per object.
//!
//! [`RESYNC`]: super::decide::RESYNC

use std::sync::Arc;
use std::time::Instant;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::runtime::finalizer::{Event, finalizer};

use crate::metrics::ReconcileResult;
use crate::reconcile::ObjectKey;

use super::Error;
use super::context::Context;
use super::decide::{
    self, FIELD_MANAGER, FINALIZER, Readiness, first_sight_status, is_first_sight, status_patch,
    transition_events,
};
use super::kinds::OperatorKind;

fn api_for<K: OperatorKind>(ctx: &Context, obj: &K) -> Result<(Api<K>, String), Error> {
    let ns = obj.meta().namespace.clone().ok_or(Error::Unnamed)?;
    let name = obj.meta().name.clone().ok_or(Error::Unnamed)?;
    Ok((Api::namespaced(ctx.client.clone(), &ns), name))
}

/// Server-side-applies `status` to the status subresource of `name` (field manager
/// [`FIELD_MANAGER`], forced: the operator owns the status).
pub async fn apply_status<K: OperatorKind>(
    api: &Api<K>,
    name: &str,
    body: serde_json::Value,
) -> Result<(), Error> {
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await?;
    Ok(())
}

/// Reconciles one object of kind `K` (see the module docs).
pub async fn reconcile<K: OperatorKind>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let key = ObjectKey::of(obj.meta());
    let result = reconcile_inner(obj, &ctx).await;
    let outcome = match &result {
        Ok(_) => {
            ctx.succeeded(K::KIND, &key);
            ReconcileResult::Success
        }
        Err(e) => {
            ctx.metrics()
                .reconcile_error(K::KIND.as_str(), e.metric_label());
            ReconcileResult::Error
        }
    };
    ctx.metrics()
        .reconcile_finished(K::KIND.as_str(), started.elapsed(), outcome);
    result
}

async fn reconcile_inner<K: OperatorKind>(
    obj: Arc<K>,
    ctx: &Arc<Context>,
) -> Result<Action, Error> {
    let (api, name) = api_for(ctx, obj.as_ref())?;
    if obj.meta().deletion_timestamp.is_none() && is_first_sight(&obj.status_json()) {
        let status = first_sight_status(obj.meta().generation, jiff::Timestamp::now());
        let body =
            status_patch(K::KIND.as_str(), &serde_json::Value::Null, &status).unwrap_or_default();
        apply_status(&api, &name, body).await?;
    }
    finalizer(&api, FINALIZER, obj, |event| async move {
        match event {
            Event::Apply(o) => apply(o, ctx).await,
            Event::Cleanup(o) => cleanup(o, ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn apply<K: OperatorKind>(obj: Arc<K>, ctx: &Arc<Context>) -> Result<Action, Error> {
    let (api, name) = api_for(ctx, obj.as_ref())?;
    let key = ObjectKey::of(obj.meta());
    let pass = ctx.shared_pass().await?;
    let Some(desired) = pass.status(K::KIND, &key) else {
        // The store has not caught up with this object yet.
        return Ok(Action::requeue(decide::MIN_BACKOFF));
    };
    let current = obj.status_json();
    if let Some(body) = status_patch(K::KIND.as_str(), &current, desired) {
        apply_status(&api, &name, body).await?;
        ctx.metrics().status_written(K::KIND.as_str());
        for e in transition_events(&current, desired) {
            publish_event(ctx, obj.as_ref(), e).await;
        }
    } else {
        ctx.metrics().status_write_skipped(K::KIND.as_str());
    }
    super::secrets::ensure_generated(ctx, K::KIND, &key, desired, &pass).await?;
    let readiness = decide::readiness(desired);
    let streak = ctx.not_ready_streak(K::KIND, &key, readiness != Readiness::Progressing);
    let jitter = rand::random_range(-1.0..=1.0);
    Ok(Action::requeue(decide::requeue_after(
        readiness, streak, jitter,
    )))
}

async fn cleanup<K: OperatorKind>(obj: Arc<K>, ctx: &Arc<Context>) -> Result<Action, Error> {
    let key = ObjectKey::of(obj.meta());
    // The pass leaves objects being deleted out: applying it removes this one.
    ctx.shared_pass().await?;
    ctx.forget(K::KIND, &key);
    tracing::info!(kind = %K::KIND, resource = %key, "removed from the runtime");
    Ok(Action::await_change())
}

async fn publish_event<K: OperatorKind>(ctx: &Context, obj: &K, e: decide::EventSpec) {
    let event = KubeEvent {
        type_: if e.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: e.reason,
        note: Some(e.note),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder().publish(&event, &obj.object_ref(&())).await {
        tracing::warn!(kind = %K::KIND, resource = %ObjectKey::of(obj.meta()), "publishing an Event failed: {err}");
    }
}

/// After a failed reconcile: retry with exponential backoff (and jitter) per object.
pub fn error_policy<K: OperatorKind>(obj: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = ObjectKey::of(obj.meta());
    let failures = ctx.failed(K::KIND, &key);
    let delay = decide::error_backoff(failures, rand::random_range(-1.0..=1.0));
    tracing::warn!(kind = %K::KIND, resource = %key, retry_in = ?delay, "reconcile failed: {error}");
    Action::requeue(delay)
}
