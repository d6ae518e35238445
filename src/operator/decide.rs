//! Pure decisions of the controllers, unit-tested without a client: the first-sight status,
//! whether and what to server-side-apply, which Events a status change deserves, and when to
//! look again.
//!
//! Invariants:
//! - a status is written only when it differs from the current one (no write on a no-op pass);
//! - an Event is emitted only when `Ready` flips (to `True` or `False`), never on a pass that
//!   keeps it;
//! - every delay carries jitter and failing objects back off exponentially up to
//!   [`MAX_BACKOFF`], so a target with bad credentials is never hammered.

use std::time::Duration;

use serde_json::{Value, json};

use crate::api::API_VERSION;
use crate::api::conditions::{READY, RECONCILING, STALLED, TRUE, UNKNOWN, condition};

/// The one server-side-apply field manager of the operator.
pub const FIELD_MANAGER: &str = "idrelay";
/// The finalizer that keeps a resource until it is out of the runtime.
pub const FINALIZER: &str = "idrelay.dev/runtime";
/// Reason of the first-sight conditions.
pub const FIRST_SIGHT_REASON: &str = "Reconciling";
/// Periodic re-validation of healthy (and stalled) objects.
pub const RESYNC: Duration = Duration::from_secs(300);
/// First retry of an object that is not ready yet (a missing Secret, a Tenant not there).
pub const MIN_BACKOFF: Duration = Duration::from_secs(5);
/// First retry after an API error.
pub const MIN_ERROR_BACKOFF: Duration = Duration::from_secs(1);
/// Upper bound of every backoff.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Relative jitter applied to every delay (± 10 %).
pub const JITTER: f64 = 0.1;
/// Longest Event note the API server accepts (events.k8s.io/v1 `note`: 1 kB).
pub const MAX_NOTE: usize = 1024;

/// The status written on first sight, before any other work (spec/kubernetes.md §2.7.2):
/// `Ready=Unknown` and `Reconciling=True`, stamped with the object's generation.
pub fn first_sight_status(generation: Option<i64>, now: jiff::Timestamp) -> Value {
    let now = crate::reconcile::whole_seconds(now);
    let message = "The operator has seen the resource and is reconciling it.";
    let conditions = vec![
        condition(READY, UNKNOWN, FIRST_SIGHT_REASON, message, generation, now),
        condition(
            RECONCILING,
            TRUE,
            FIRST_SIGHT_REASON,
            message,
            generation,
            now,
        ),
    ];
    let mut status = json!({ "conditions": conditions });
    if let Some(g) = generation {
        status["observedGeneration"] = json!(g);
    }
    status
}

/// Whether `status` (the object's current `.status`) has never been written.
pub fn is_first_sight(status: &Value) -> bool {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .is_none_or(|c| c.is_empty())
}

/// The server-side-apply body that sets `status` on an object of `kind`, or `None` when
/// `current` already equals `desired`.
pub fn status_patch(kind: &str, current: &Value, desired: &Value) -> Option<Value> {
    (current != desired).then(|| {
        json!({
            "apiVersion": API_VERSION,
            "kind": kind,
            "status": desired,
        })
    })
}

/// The condition of `type_` in a status document.
pub fn condition_of<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// An Event to publish about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// `Warning` (else `Normal`).
    pub warning: bool,
    /// CamelCase reason (the condition's).
    pub reason: String,
    /// Human text (the condition's message, at most [`MAX_NOTE`] bytes).
    pub note: String,
}

/// The Events a status change from `previous` to `desired` deserves: one when `Ready` flips to
/// `True` (Normal) or to `False` (Warning); none otherwise.
pub fn transition_events(previous: &Value, desired: &Value) -> Vec<EventSpec> {
    let Some(next) = condition_of(desired, READY) else {
        return Vec::new();
    };
    let before = condition_of(previous, READY).and_then(|c| c["status"].as_str());
    let after = next["status"].as_str().unwrap_or(UNKNOWN);
    if before == Some(after) || after == UNKNOWN {
        return Vec::new();
    }
    let mut note = next["message"].as_str().unwrap_or_default().to_owned();
    if note.len() > MAX_NOTE {
        let mut end = MAX_NOTE;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
    }
    vec![EventSpec {
        warning: after != TRUE,
        reason: next["reason"].as_str().unwrap_or("Reconciled").to_owned(),
        note,
    }]
}

/// The kstatus reading of a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not ready, work in progress (`Reconciling=True` or `Ready` not `True`).
    Progressing,
    /// `Stalled=True`: nothing changes until the spec or a referenced object does.
    Stalled,
}

/// Reads `Ready`/`Stalled` of a status.
pub fn readiness(status: &Value) -> Readiness {
    let is_true = |t| condition_of(status, t).is_some_and(|c| c["status"] == TRUE);
    if is_true(READY) {
        Readiness::Ready
    } else if is_true(STALLED) {
        Readiness::Stalled
    } else {
        Readiness::Progressing
    }
}

fn jittered(base: Duration, jitter: f64) -> Duration {
    base.mul_f64(1.0 + JITTER * jitter.clamp(-1.0, 1.0))
}

fn exponential(min: Duration, streak: u32) -> Duration {
    min.saturating_mul(1u32 << streak.min(16)).min(MAX_BACKOFF)
}

/// When to reconcile an object again: after [`RESYNC`] when ready or stalled, else after an
/// exponential backoff from [`MIN_BACKOFF`] by the number of passes it has been not ready
/// (`streak`, 0 on the first); `jitter` in `[-1, 1]`.
pub fn requeue_after(readiness: Readiness, streak: u32, jitter: f64) -> Duration {
    match readiness {
        Readiness::Ready | Readiness::Stalled => jittered(RESYNC, jitter),
        Readiness::Progressing => jittered(exponential(MIN_BACKOFF, streak), jitter),
    }
}

/// When to retry after the `failures`-th consecutive API error (0 on the first).
pub fn error_backoff(failures: u32, jitter: f64) -> Duration {
    jittered(exponential(MIN_ERROR_BACKOFF, failures), jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    fn ready(status: &str, reason: &str) -> Value {
        json!({"observedGeneration": 1, "conditions": [
            {"type": "Ready", "status": status, "reason": reason, "message": "m",
             "observedGeneration": 1, "lastTransitionTime": "1970-01-01T00:00:10Z"}]})
    }

    #[test]
    fn first_sight_is_unknown_and_reconciling() {
        let s = first_sight_status(Some(3), t(10));
        assert_eq!(s["observedGeneration"], 3);
        let ready = condition_of(&s, "Ready").unwrap();
        assert_eq!(ready["status"], "Unknown");
        assert_eq!(ready["observedGeneration"], 3);
        assert_eq!(ready["lastTransitionTime"], "1970-01-01T00:00:10Z");
        assert_eq!(condition_of(&s, "Reconciling").unwrap()["status"], "True");
        assert!(is_first_sight(&Value::Null));
        assert!(is_first_sight(&json!({"conditions": []})));
        assert!(!is_first_sight(&s));
    }

    #[test]
    fn patch_only_when_different() {
        let a = ready("True", "Ready");
        assert_eq!(status_patch("Tenant", &a, &a), None);
        let p = status_patch("Tenant", &Value::Null, &a).unwrap();
        assert_eq!(p["apiVersion"], "idrelay.dev/v1alpha1");
        assert_eq!(p["kind"], "Tenant");
        assert_eq!(p["status"], a);
    }

    #[test]
    fn events_only_on_ready_flips() {
        let unknown = first_sight_status(Some(1), t(1));
        let ok = ready("True", "Ready");
        let missing = ready("False", "SecretNotFound");
        assert_eq!(transition_events(&Value::Null, &unknown), vec![]);
        let e = transition_events(&unknown, &missing);
        assert_eq!(e.len(), 1);
        assert!(e[0].warning);
        assert_eq!(e[0].reason, "SecretNotFound");
        assert_eq!(transition_events(&missing, &missing), vec![]);
        // A new reason without a flip is no transition.
        assert_eq!(
            transition_events(&missing, &ready("False", "Other")),
            vec![]
        );
        let e = transition_events(&missing, &ok);
        assert!(!e[0].warning);
        assert_eq!(e[0].reason, "Ready");
        let mut long = ready("False", "X");
        long["conditions"][0]["message"] = json!("é".repeat(1000));
        let e = transition_events(&ok, &long);
        assert!(e[0].note.len() <= MAX_NOTE);
    }

    #[test]
    fn readiness_reads_kstatus() {
        assert_eq!(readiness(&ready("True", "Ready")), Readiness::Ready);
        assert_eq!(readiness(&ready("False", "X")), Readiness::Progressing);
        let stalled = json!({"conditions": [
            {"type": "Ready", "status": "False"}, {"type": "Stalled", "status": "True"}]});
        assert_eq!(readiness(&stalled), Readiness::Stalled);
        assert_eq!(readiness(&Value::Null), Readiness::Progressing);
    }

    #[test]
    fn delays_back_off_with_jitter_and_a_cap() {
        assert_eq!(requeue_after(Readiness::Ready, 9, 0.0), RESYNC);
        assert_eq!(requeue_after(Readiness::Stalled, 0, 0.0), RESYNC);
        assert_eq!(requeue_after(Readiness::Progressing, 0, 0.0), MIN_BACKOFF);
        assert_eq!(
            requeue_after(Readiness::Progressing, 2, 0.0),
            MIN_BACKOFF * 4
        );
        assert_eq!(requeue_after(Readiness::Progressing, 40, 0.0), MAX_BACKOFF);
        assert_eq!(error_backoff(0, 0.0), MIN_ERROR_BACKOFF);
        assert_eq!(error_backoff(3, 0.0), MIN_ERROR_BACKOFF * 8);
        assert_eq!(error_backoff(100, 0.0), MAX_BACKOFF);
        let hi = requeue_after(Readiness::Ready, 0, 1.0);
        let lo = requeue_after(Readiness::Ready, 0, -5.0);
        assert_eq!(hi, RESYNC.mul_f64(1.1));
        assert_eq!(lo, RESYNC.mul_f64(0.9));
    }
}
