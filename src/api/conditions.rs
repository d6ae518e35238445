//! Status conditions (`metav1.Condition`) and the kstatus trio, shared by every kind.
//!
//! Owns the condition types and the rules for writing them (architecture §6, spec/kubernetes.md
//! §2.1-§2.7):
//! - [`set_condition`] has Go `meta.SetStatusCondition` semantics: `lastTransitionTime` changes
//!   only when `status` flips; reason, message and `observedGeneration` are always updated.
//! - [`merge_conditions`] turns a desired list into the next status, keeping the transition times
//!   of unchanged conditions, so a pass that changes nothing yields an identical list.
//! - [`Health`] maps an outcome onto `Ready`/`Reconciling`/`Stalled` the kstatus way: success
//!   removes `Reconciling` and `Stalled`; a transient failure sets `Reconciling=True`; a terminal
//!   failure sets `Stalled=True`.
//!
//! Invariant: every condition written carries the `observedGeneration` it was computed from.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Summary condition: `True` when the resource is fully in effect.
pub const READY: &str = "Ready";
/// kstatus: `True` while work is in progress (transient failure or not yet done).
pub const RECONCILING: &str = "Reconciling";
/// kstatus: `True` when the resource cannot make progress without a change (terminal failure).
pub const STALLED: &str = "Stalled";
/// Domain condition of a TechnicalAdmin: every referenced Secret key was found.
pub const SECRET_RESOLVED: &str = "SecretResolved";

/// `status` values.
pub const TRUE: &str = "True";
/// `status` values.
pub const FALSE: &str = "False";
/// `status` values.
pub const UNKNOWN: &str = "Unknown";

/// Reasons used by the reconcilers (CamelCase, one word).
pub mod reason {
    /// Everything is in effect.
    pub const READY: &str = "Ready";
    /// The spec is invalid; the message names the field.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The referenced Tenant does not exist (yet).
    pub const TENANT_NOT_FOUND: &str = "TenantNotFound";
    /// The referenced Tenant exists but is not Ready.
    pub const TENANT_NOT_READY: &str = "TenantNotReady";
    /// A referenced Secret does not exist (yet).
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    /// A referenced Secret exists but lacks the key.
    pub const SECRET_KEY_NOT_FOUND: &str = "SecretKeyNotFound";
    /// All referenced Secret keys were found.
    pub const SECRET_RESOLVED: &str = "SecretResolved";
    /// No secrets are configured.
    pub const NO_SECRETS: &str = "NoSecrets";
    /// Another resource already claims the same name.
    pub const NAME_CONFLICT: &str = "NameConflict";
}

/// Builds a condition stamped with `generation` and `now` as its transition time.
pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: Time(now),
    }
}

/// The condition of `type_`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of `type_` is present with status `True`.
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(|c| c.status == TRUE)
}

/// Go `meta.SetStatusCondition`: adds `new`, or updates the existing condition of its type.
/// `lastTransitionTime` is taken from `new` only when the condition is added or its status flips.
/// Returns whether anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) -> bool {
    let Some(existing) = conditions.iter_mut().find(|c| c.type_ == new.type_) else {
        conditions.push(new);
        return true;
    };
    let mut changed = false;
    if existing.status != new.status {
        existing.status = new.status;
        existing.last_transition_time = new.last_transition_time;
        changed = true;
    }
    if existing.reason != new.reason {
        existing.reason = new.reason;
        changed = true;
    }
    if existing.message != new.message {
        existing.message = new.message;
        changed = true;
    }
    if existing.observed_generation != new.observed_generation {
        existing.observed_generation = new.observed_generation;
        changed = true;
    }
    changed
}

/// Removes the condition of `type_`; returns whether it was present.
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

/// The next condition list: exactly the `desired` types, in `desired` order, each keeping the
/// `lastTransitionTime` of its `previous` instance when the status did not flip.
pub fn merge_conditions(previous: &[Condition], desired: Vec<Condition>) -> Vec<Condition> {
    desired
        .into_iter()
        .map(|mut d| {
            if let Some(p) = find_condition(previous, &d.type_)
                && p.status == d.status
            {
                d.last_transition_time = p.last_transition_time.clone();
            }
            d
        })
        .collect()
}

/// The outcome of a reconcile pass for one resource, in kstatus terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// In effect: `Ready=True`; `Reconciling` and `Stalled` are absent.
    Ready { reason: String, message: String },
    /// Transient failure or work in progress: `Ready=False`, `Reconciling=True`.
    Progressing { reason: String, message: String },
    /// Terminal failure until the spec (or a conflicting resource) changes: `Ready=False`,
    /// `Stalled=True`.
    Stalled { reason: String, message: String },
}

impl Health {
    /// `Ready` with the standard reason.
    pub fn ready(message: impl Into<String>) -> Self {
        Health::Ready {
            reason: reason::READY.to_owned(),
            message: message.into(),
        }
    }

    /// Transient failure.
    pub fn progressing(reason: &str, message: impl Into<String>) -> Self {
        Health::Progressing {
            reason: reason.to_owned(),
            message: message.into(),
        }
    }

    /// Terminal failure.
    pub fn stalled(reason: &str, message: impl Into<String>) -> Self {
        Health::Stalled {
            reason: reason.to_owned(),
            message: message.into(),
        }
    }

    /// The kstatus conditions (`Ready`, then `Reconciling` or `Stalled` when they apply).
    pub fn conditions(&self, generation: Option<i64>, now: jiff::Timestamp) -> Vec<Condition> {
        match self {
            Health::Ready { reason, message } => {
                vec![condition(
                    READY,
                    TRUE,
                    reason,
                    message.clone(),
                    generation,
                    now,
                )]
            }
            Health::Progressing { reason, message } => vec![
                condition(READY, FALSE, reason, message.clone(), generation, now),
                condition(RECONCILING, TRUE, reason, message.clone(), generation, now),
            ],
            Health::Stalled { reason, message } => vec![
                condition(READY, FALSE, reason, message.clone(), generation, now),
                condition(STALLED, TRUE, reason, message.clone(), generation, now),
            ],
        }
    }
}

/// Schema of a `conditions` list: `metav1.Condition` items, declared as a map list keyed by
/// `type` (`x-kubernetes-list-type: map`, `x-kubernetes-list-map-keys: [type]`) so that several
/// server-side-apply managers can each own their conditions.
pub fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".to_owned(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".to_owned(),
        serde_json::json!(["type"]),
    );
    schema.insert(
        "description".to_owned(),
        "Conditions: Ready (summary), Reconciling and Stalled (kstatus), and domain conditions. \
         Each carries the observedGeneration it was computed from."
            .into(),
    );
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn set_keeps_transition_time_unless_status_flips() {
        let mut cs = vec![];
        assert!(set_condition(
            &mut cs,
            condition(READY, FALSE, "A", "m", Some(1), t(10))
        ));
        assert!(set_condition(
            &mut cs,
            condition(READY, FALSE, "B", "n", Some(2), t(20))
        ));
        assert_eq!(cs[0].last_transition_time, Time(t(10)));
        assert_eq!(cs[0].reason, "B");
        assert_eq!(cs[0].observed_generation, Some(2));
        assert!(!set_condition(
            &mut cs,
            condition(READY, FALSE, "B", "n", Some(2), t(30))
        ));
        assert!(set_condition(
            &mut cs,
            condition(READY, TRUE, "B", "n", Some(2), t(40))
        ));
        assert_eq!(cs[0].last_transition_time, Time(t(40)));
        assert_eq!(cs.len(), 1);
    }

    #[test]
    fn remove_and_find() {
        let mut cs = vec![condition(STALLED, TRUE, "X", "", None, t(1))];
        assert!(is_condition_true(&cs, STALLED));
        assert!(remove_condition(&mut cs, STALLED));
        assert!(!remove_condition(&mut cs, STALLED));
        assert!(find_condition(&cs, STALLED).is_none());
    }

    #[test]
    fn merge_is_identity_when_nothing_changes() {
        let first = merge_conditions(&[], Health::ready("ok").conditions(Some(1), t(1)));
        let second = merge_conditions(&first, Health::ready("ok").conditions(Some(1), t(99)));
        assert_eq!(first, second);
        let failed = merge_conditions(
            &second,
            Health::stalled("InvalidSpec", "x").conditions(Some(2), t(100)),
        );
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[0].last_transition_time, Time(t(100)));
        assert_eq!(failed[1].type_, STALLED);
    }

    #[test]
    fn health_maps_to_kstatus() {
        let p = Health::progressing("TenantNotFound", "m").conditions(Some(3), t(1));
        assert_eq!(
            p.iter()
                .map(|c| (c.type_.as_str(), c.status.as_str()))
                .collect::<Vec<_>>(),
            [(READY, FALSE), (RECONCILING, TRUE)]
        );
        assert!(p.iter().all(|c| c.observed_generation == Some(3)));
    }
}
