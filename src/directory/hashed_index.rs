//! A hashed lookup index (unique name, `externalId`, email) that every snapshot of one kind's
//! state shares instead of copying: `(text_hash(value), id)` pairs in sharded hash maps.
//!
//! The persistent (path-copied) maps of the state put each new hash on a random path, so
//! every create copied a whole path of wide nodes per index and every publish freed the old
//! ones. This index is not versioned: it only grows, and lookups check each candidate against
//! the entry of the state that asks.
//!
//! Invariants:
//! - Nothing is ever removed from an index. Every state that shares it inserts its pairs at
//!   once, so the index holds a superset of the pairs true in each of those states (the
//!   published snapshots, the writer's working copy, a copy that was thrown away). A pair that
//!   is no longer true (a rename, a delete, a batch that failed) is only *stale*: callers check
//!   every candidate against their own entry ([`super::state`]).
//! - A state whose index has more stale pairs than live ones builds a fresh index from its own
//!   entries and stops sharing the old one; the snapshots that still hold the old index keep all
//!   their pairs in it. Removals are therefore paid for once per as many pairs as are live
//!   (amortised O(1)), and memory stays within twice the live pairs.
//! - Each `(hash, id)` pair is held once: inserting a pair the index holds changes nothing.
//! - Locks are held only for one map operation; readers of different shards never meet.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

use super::keys::IdKey;

/// Shards per index: lookups and inserts of different hashes mostly take different locks.
const SHARDS: usize = 16;

/// The ids held under one hash: almost always one (the hash is 64 bits of a keyed hash, and a
/// value is shared only where the directory allows it, e.g. `externalId`).
#[derive(Debug)]
enum Candidates {
    One(IdKey),
    Many(Vec<IdKey>),
}

impl Candidates {
    fn contains(&self, id: &IdKey) -> bool {
        match self {
            Candidates::One(held) => held == id,
            Candidates::Many(held) => held.contains(id),
        }
    }

    /// Adds `id`; `false` when it was held already.
    fn add(&mut self, id: IdKey) -> bool {
        if self.contains(&id) {
            return false;
        }
        match self {
            Candidates::One(held) => {
                let first = std::mem::replace(held, IdKey::MIN);
                *self = Candidates::Many(vec![first, id]);
            }
            Candidates::Many(held) => held.push(id),
        }
        true
    }

    fn extend_into(&self, out: &mut Vec<IdKey>) {
        match self {
            Candidates::One(held) => out.push(held.clone()),
            Candidates::Many(held) => out.extend(held.iter().cloned()),
        }
    }
}

/// The keys are already keyed hashes ([`super::keys::text_hash`]): the maps use them as they
/// are.
#[derive(Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; anything else still hashes deterministically.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type Shard = HashMap<u64, Candidates, BuildHasherDefault<PassThrough>>;

/// One hashed index: `(hash, id)` pairs, never removed.
#[derive(Debug)]
pub struct HashedIndex {
    shards: [RwLock<Shard>; SHARDS],
}

impl Default for HashedIndex {
    fn default() -> HashedIndex {
        HashedIndex {
            shards: std::array::from_fn(|_| RwLock::new(Shard::default())),
        }
    }
}

impl HashedIndex {
    /// The shard of a hash: bits the maps themselves do not use to place or tag a key (they
    /// take the low bits for the bucket and the top seven for the tag).
    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        &self.shards[((hash >> 40) as usize) % SHARDS]
    }

    /// Adds the pair; `false` when the index held it already.
    pub fn insert(&self, hash: u64, id: IdKey) -> bool {
        let mut shard = self.shard(hash).write();
        match shard.get_mut(&hash) {
            Some(candidates) => candidates.add(id),
            None => {
                shard.insert(hash, Candidates::One(id));
                true
            }
        }
    }

    /// The ids held under `hash` (a superset of those whose value has this hash in any one
    /// state: callers check each).
    pub fn candidates(&self, hash: u64) -> Vec<IdKey> {
        let mut out = Vec::new();
        if let Some(candidates) = self.shard(hash).read().get(&hash) {
            candidates.extend_into(&mut out);
        }
        out
    }
}

/// The three hashed indexes of one kind and the count that decides when to build them afresh.
#[derive(Debug, Default)]
pub struct HashedIndexes {
    /// Lowercased `userName` (users) or `displayName` (groups).
    pub unique_names: HashedIndex,
    /// Lowercased `externalId`.
    pub external_ids: HashedIndex,
    /// Lowercased `emails[].value` (users).
    pub emails: HashedIndex,
    /// Pairs held, live or stale.
    held: AtomicUsize,
    /// Pairs that stopped being true in the state that last changed them (an estimate: a
    /// thrown-away copy counts too).
    stale: AtomicUsize,
}

/// Below this many stale pairs an index is never rebuilt (a rebuild is not worth it).
const MIN_STALE_FOR_REBUILD: usize = 1024;

impl HashedIndexes {
    /// Records that `inserted` pairs were added (pairs the index held already do not count).
    pub fn note_inserted(&self, inserted: usize) {
        if inserted > 0 {
            self.held.fetch_add(inserted, Ordering::Relaxed);
        }
    }

    /// Records that `count` pairs stopped being true.
    pub fn note_stale(&self, count: usize) {
        if count > 0 {
            self.stale.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Whether the stale pairs outnumber the live ones (and are worth a rebuild).
    pub fn wants_rebuild(&self) -> bool {
        let stale = self.stale.load(Ordering::Relaxed);
        let held = self.held.load(Ordering::Relaxed);
        stale >= MIN_STALE_FOR_REBUILD && stale.saturating_mul(2) >= held
    }

    /// `(held, stale)`.
    #[cfg(test)]
    pub fn counts(&self) -> (usize, usize) {
        (
            self.held.load(Ordering::Relaxed),
            self.stale.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_held_once_and_collisions_keep_every_id() {
        let index = HashedIndex::default();
        let a = IdKey::Uuid(1);
        let b = IdKey::Uuid(2);
        assert!(index.insert(7, a.clone()));
        assert!(!index.insert(7, a.clone()));
        assert!(index.insert(7, b.clone()));
        assert!(!index.insert(7, b.clone()));
        assert_eq!(index.candidates(7), vec![a.clone(), b]);
        assert!(index.candidates(8).is_empty());
        // Hashes that differ only in the bits that pick the shard live in different shards.
        assert!(index.insert(7 | (1 << 40), a.clone()));
        assert_eq!(index.candidates(7 | (1 << 40)), vec![a]);
    }

    #[test]
    fn a_rebuild_is_wanted_once_stale_pairs_outnumber_live_ones() {
        let indexes = HashedIndexes::default();
        indexes.note_inserted(4000);
        indexes.note_stale(1999);
        assert!(!indexes.wants_rebuild());
        indexes.note_stale(1);
        assert!(indexes.wants_rebuild());
        let small = HashedIndexes::default();
        small.note_inserted(10);
        small.note_stale(10);
        assert!(!small.wants_rebuild(), "too few stale pairs to be worth it");
        assert_eq!(small.counts(), (10, 10));
    }
}
