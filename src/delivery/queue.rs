//! The in-memory schedule of pending deliveries (pure): per target system, per entity, which
//! rows are waiting, which entity is due next, and what is in flight.
//!
//! Invariants:
//! - At most one delivery per (target, entity) is in flight; rows of an entity in flight wait.
//!   An entity stays in flight until its outcome is committed ([`Queue::complete`]), but it
//!   gives its concurrency slot back as soon as the target answered ([`Queue::free_slot`]):
//!   slots bound the requests at the target, not the commits waiting in the writer.
//! - An entity is sent as its latest row (highest `seq`): older rows are coalesced into it and
//!   leave the schedule when it settles.
//! - An entity is in its target's due set iff it has rows and is not in flight.
//! - Entities are due in `(due time, oldest seq)` order, so at equal times older changes go
//!   first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;

use crate::directory::Kind;
use crate::store::PendingDelivery;

/// A target system of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    pub tenant: Arc<str>,
    pub target: Arc<str>,
}

/// An entity within a target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityKey {
    pub kind: Kind,
    pub id: Arc<str>,
}

#[derive(Debug, Default)]
struct EntityState {
    rows: BTreeMap<i64, PendingDelivery>,
    in_flight: bool,
    /// In flight and counted in the target's `active` slots (until the target answered).
    holds_slot: bool,
    /// The entry in the target's due set while queued.
    due: Option<(i64, i64)>,
    /// Attempts made for this entity since its oldest pending row (survives coalescing).
    attempts: u32,
}

#[derive(Debug, Default)]
struct TargetQueue {
    entities: HashMap<EntityKey, EntityState>,
    due: BTreeSet<(i64, i64, EntityKey)>,
    active: usize,
}

/// One delivery handed out for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    pub target: TargetKey,
    pub entity: EntityKey,
    /// The latest row: what is sent; older rows are superseded when it settles.
    pub row: PendingDelivery,
    /// When the oldest pending change of the entity was accepted (the retry budget start).
    pub oldest_accepted_at: Timestamp,
    /// Attempts made so far for the entity.
    pub attempts: u32,
    /// Older pending rows of the entity are coalesced into this one (they must be superseded
    /// when it settles). Rows are loaded in `seq` order, so every older pending row of the
    /// entity is in memory when its latest one is.
    pub coalesces: bool,
}

/// How a dispatched delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Delivered, skipped or dead-lettered: its row and every older row leave the schedule.
    Settled,
    /// Retry the entity at `at` (milliseconds since the epoch), `attempts` made so far.
    Retry { at: i64, attempts: u32 },
    /// Not attempted (nothing was sent and nothing written): keep the rows, due at `at`.
    Released { at: i64 },
}

#[derive(Debug, Default)]
pub struct Queue {
    targets: HashMap<TargetKey, TargetQueue>,
    loaded: usize,
    max_seq: i64,
}

impl Queue {
    pub fn new() -> Queue {
        Queue::default()
    }

    /// Rows held in memory.
    pub fn loaded(&self) -> usize {
        self.loaded
    }

    /// The highest row `seq` ever added (load rows after it).
    pub fn max_seq(&self) -> i64 {
        self.max_seq
    }

    /// Adds a pending row (ignored when already known).
    pub fn add(&mut self, row: PendingDelivery) {
        if row.seq <= self.max_seq {
            return;
        }
        self.max_seq = row.seq;
        let target = TargetKey {
            tenant: Arc::from(row.tenant.as_str()),
            target: Arc::from(row.target_system_id.as_str()),
        };
        let entity = EntityKey {
            kind: row.entity_type,
            id: Arc::from(row.entity_id.as_str()),
        };
        let due_at = row.next_attempt_at.as_millisecond();
        let queue = self.targets.entry(target).or_default();
        let state = queue.entities.entry(entity.clone()).or_default();
        state.attempts = state.attempts.max(row.attempts);
        let seq = row.seq;
        state.rows.insert(seq, row);
        self.loaded += 1;
        if !state.in_flight && state.due.is_none() {
            state.due = Some((due_at, seq));
            queue.due.insert((due_at, seq, entity));
        }
    }

    /// Target systems with anything scheduled.
    pub fn targets(&self) -> Vec<TargetKey> {
        self.targets.keys().cloned().collect()
    }

    /// Deliveries of `target` in flight.
    pub fn active(&self, target: &TargetKey) -> usize {
        self.targets.get(target).map_or(0, |q| q.active)
    }

    /// When the next entity of `target` is due (ms), if any is queued.
    pub fn next_due(&self, target: &TargetKey) -> Option<i64> {
        self.targets
            .get(target)
            .and_then(|q| q.due.first())
            .map(|(at, _, _)| *at)
    }

    /// Takes the next entity of `target` due at or before `now` (ms) and marks it in flight.
    pub fn take_due(&mut self, target: &TargetKey, now: i64) -> Option<Dispatch> {
        let queue = self.targets.get_mut(target)?;
        let (at, _, _) = queue.due.first()?;
        if *at > now {
            return None;
        }
        let (_, _, entity) = queue.due.pop_first()?;
        let state = queue.entities.get_mut(&entity)?;
        state.due = None;
        state.in_flight = true;
        state.holds_slot = true;
        queue.active += 1;
        let row = state.rows.values().next_back()?.clone();
        let oldest_accepted_at = state
            .rows
            .values()
            .map(|r| r.accepted_at)
            .min()
            .unwrap_or(row.accepted_at);
        Some(Dispatch {
            target: target.clone(),
            entity,
            row,
            oldest_accepted_at,
            attempts: state.attempts,
            coalesces: state.rows.len() > 1,
        })
    }

    /// The target answered the in-flight delivery of `entity`: its concurrency slot is free
    /// for another entity; the entity itself stays in flight until [`Queue::complete`].
    pub fn free_slot(&mut self, target: &TargetKey, entity: &EntityKey) {
        let Some(queue) = self.targets.get_mut(target) else {
            return;
        };
        if let Some(state) = queue.entities.get_mut(entity)
            && state.holds_slot
        {
            state.holds_slot = false;
            queue.active = queue.active.saturating_sub(1);
        }
    }

    /// Records how the dispatched delivery `seq` of `entity` ended.
    pub fn complete(
        &mut self,
        target: &TargetKey,
        entity: &EntityKey,
        seq: i64,
        settlement: Settlement,
        now: i64,
    ) {
        let Some(queue) = self.targets.get_mut(target) else {
            return;
        };
        let Some(state) = queue.entities.get_mut(entity) else {
            return;
        };
        state.in_flight = false;
        if state.holds_slot {
            state.holds_slot = false;
            queue.active = queue.active.saturating_sub(1);
        }
        let due_at = match settlement {
            Settlement::Settled => {
                let before = state.rows.len();
                state.rows.retain(|s, _| *s > seq);
                self.loaded = self.loaded.saturating_sub(before - state.rows.len());
                state.attempts = 0;
                now
            }
            Settlement::Retry { at, attempts } => {
                let before = state.rows.len();
                state.rows.retain(|s, _| *s >= seq);
                self.loaded = self.loaded.saturating_sub(before - state.rows.len());
                state.attempts = attempts;
                if let Some(row) = state.rows.get_mut(&seq) {
                    row.attempts = attempts;
                }
                at
            }
            Settlement::Released { at } => at,
        };
        if state.rows.is_empty() {
            queue.entities.remove(entity);
            if queue.entities.is_empty() {
                self.targets.remove(target);
            }
            return;
        }
        let first = state.rows.keys().next().copied().unwrap_or(seq);
        state.due = Some((due_at, first));
        queue.due.insert((due_at, first, entity.clone()));
    }

    /// Makes every queued entity of `target` due at `now` (the target recovered).
    pub fn make_all_due(&mut self, target: &TargetKey, now: i64) {
        let Some(queue) = self.targets.get_mut(target) else {
            return;
        };
        let entries: Vec<_> = std::mem::take(&mut queue.due).into_iter().collect();
        for (at, seq, entity) in entries {
            let at = at.min(now);
            if let Some(state) = queue.entities.get_mut(&entity) {
                state.due = Some((at, seq));
            }
            queue.due.insert((at, seq, entity));
        }
    }

    /// Forgets every row of `target` (e.g. the tenant is gone); returns how many.
    pub fn drop_target(&mut self, target: &TargetKey) -> usize {
        match self.targets.get(target) {
            Some(queue) if !queue.entities.values().any(|e| e.in_flight) => {
                let rows: usize = queue.entities.values().map(|e| e.rows.len()).sum();
                self.targets.remove(target);
                self.loaded = self.loaded.saturating_sub(rows);
                rows
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventOperation;

    fn row(seq: i64, entity: &str, due: i64) -> PendingDelivery {
        PendingDelivery {
            seq,
            tenant: "t".into(),
            target_system_id: "x".into(),
            event_seq: seq,
            source_system_id: "s".into(),
            entity_type: Kind::User,
            entity_id: entity.into(),
            operation: EventOperation::Upsert,
            payload: Some(format!("{{\"v\":{seq}}}")),
            attempts: 0,
            next_attempt_at: Timestamp::from_millisecond(due).unwrap(),
            accepted_at: Timestamp::from_millisecond(seq).unwrap(),
            mapped_target_id: None,
        }
    }

    fn key() -> TargetKey {
        TargetKey {
            tenant: "t".into(),
            target: "x".into(),
        }
    }

    #[test]
    fn latest_row_is_sent_one_per_entity() {
        let mut q = Queue::new();
        q.add(row(1, "a", 0));
        q.add(row(2, "b", 0));
        q.add(row(3, "a", 0));
        q.add(row(3, "a", 0)); // duplicate ignored
        assert_eq!(q.loaded(), 3);
        let d = q.take_due(&key(), 10).unwrap();
        assert_eq!((d.entity.id.as_ref(), d.row.seq), ("a", 3));
        assert_eq!(d.oldest_accepted_at.as_millisecond(), 1);
        assert!(d.coalesces, "row 1 of a is superseded by row 3");
        let d2 = q.take_due(&key(), 10).unwrap();
        assert_eq!(d2.entity.id.as_ref(), "b");
        assert!(!d2.coalesces);
        assert!(q.take_due(&key(), 10).is_none());
        assert_eq!(q.active(&key()), 2);
        // A new change of "a" while in flight waits for the flight to end.
        q.add(row(4, "a", 0));
        assert!(q.take_due(&key(), 10).is_none());
        q.complete(&key(), &d.entity, 3, Settlement::Settled, 10);
        assert_eq!(q.loaded(), 2);
        let d3 = q.take_due(&key(), 10).unwrap();
        assert_eq!(d3.row.seq, 4);
        q.complete(&key(), &d3.entity, 4, Settlement::Settled, 10);
        q.complete(&key(), &d2.entity, 2, Settlement::Settled, 10);
        assert_eq!(q.loaded(), 0);
        assert!(q.targets().is_empty());
    }

    #[test]
    fn retries_wait_until_due_and_keep_attempts() {
        let mut q = Queue::new();
        q.add(row(1, "a", 0));
        q.add(row(2, "a", 0));
        let d = q.take_due(&key(), 0).unwrap();
        q.complete(
            &key(),
            &d.entity,
            2,
            Settlement::Retry {
                at: 500,
                attempts: 1,
            },
            0,
        );
        assert_eq!(q.loaded(), 1, "the coalesced older row is gone");
        assert_eq!(q.next_due(&key()), Some(500));
        assert!(q.take_due(&key(), 499).is_none());
        let d = q.take_due(&key(), 500).unwrap();
        assert_eq!(d.attempts, 1);
        assert_eq!(d.row.attempts, 1);
        q.complete(&key(), &d.entity, 2, Settlement::Released { at: 900 }, 0);
        q.make_all_due(&key(), 100);
        assert_eq!(q.next_due(&key()), Some(100));
    }

    #[test]
    fn a_slot_is_free_when_the_target_answered_but_the_entity_waits_for_its_commit() {
        let mut q = Queue::new();
        q.add(row(1, "a", 0));
        q.add(row(2, "b", 0));
        let d = q.take_due(&key(), 0).unwrap();
        assert_eq!(q.active(&key()), 1);
        q.free_slot(&key(), &d.entity);
        q.free_slot(&key(), &d.entity); // idempotent
        assert_eq!(q.active(&key()), 0);
        q.add(row(3, "a", 0));
        // "a" is still in flight (its outcome is not committed): "b" goes next, "a" waits.
        let d2 = q.take_due(&key(), 0).unwrap();
        assert_eq!(d2.entity.id.as_ref(), "b");
        assert!(q.take_due(&key(), 0).is_none());
        assert_eq!(q.drop_target(&key()), 0, "nothing dropped while in flight");
        q.complete(&key(), &d.entity, 1, Settlement::Settled, 0);
        assert_eq!(q.active(&key()), 1, "only b holds a slot");
        let d3 = q.take_due(&key(), 0).unwrap();
        assert_eq!((d3.entity.id.as_ref(), d3.row.seq), ("a", 3));
        assert!(!d3.coalesces);
    }

    #[test]
    fn due_order_is_time_then_seq() {
        let mut q = Queue::new();
        q.add(row(1, "late", 50));
        q.add(row(2, "b", 10));
        q.add(row(3, "c", 10));
        let order: Vec<String> = std::iter::from_fn(|| q.take_due(&key(), 100))
            .map(|d| d.entity.id.to_string())
            .collect();
        assert_eq!(order, vec!["b", "c", "late"]);
    }
}
