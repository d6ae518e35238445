//! The client-id lock (spec/domain.md §1.3): after [`MAX_FAILED_LOGONS`] consecutive failed
//! logons with a secret, a client id is refused for [`LOCK_DURATION_SECS`], even with the right
//! secret, and then unlocks by itself.
//!
//! Invariants: counters are keyed by (tenant, client id) and only kept for client ids that exist
//! and have the lock enabled (the caller decides), so the map is bounded by the configuration;
//! a successful logon resets the counter; time is passed in, never read here.

use std::collections::HashMap;

use parking_lot::Mutex;

/// Failed logons with a secret that lock the client id.
pub const MAX_FAILED_LOGONS: u32 = 5;
/// How long a locked client id stays locked, in seconds (60 minutes).
pub const LOCK_DURATION_SECS: i64 = 60 * 60;

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    failures: u32,
    /// Unix seconds until which the client id is locked.
    locked_until: Option<i64>,
}

/// Failed-logon counters by (tenant, client id).
#[derive(Debug, Default)]
pub struct LogonLocks {
    entries: Mutex<HashMap<(String, String), Entry>>,
}

impl LogonLocks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the client id is locked at `now` (Unix seconds). An expired lock is cleared.
    pub fn is_locked(&self, tenant: &str, client_id: &str, now: i64) -> bool {
        let mut entries = self.entries.lock();
        let key = (tenant.to_string(), client_id.to_string());
        match entries.get(&key).and_then(|e| e.locked_until) {
            Some(until) if now < until => true,
            Some(_) => {
                entries.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Records a failed logon with a secret; returns `true` when this failure locked the client id.
    pub fn record_failure(&self, tenant: &str, client_id: &str, now: i64) -> bool {
        let mut entries = self.entries.lock();
        let entry = entries
            .entry((tenant.to_string(), client_id.to_string()))
            .or_default();
        if entry.locked_until.is_some_and(|until| now < until) {
            return false;
        }
        if entry.locked_until.is_some() {
            *entry = Entry::default();
        }
        entry.failures += 1;
        if entry.failures >= MAX_FAILED_LOGONS {
            entry.locked_until = Some(now.saturating_add(LOCK_DURATION_SECS));
            return true;
        }
        false
    }

    /// Records a successful logon: the counter starts again from zero.
    pub fn record_success(&self, tenant: &str, client_id: &str) {
        self.entries
            .lock()
            .remove(&(tenant.to_string(), client_id.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_five_failures_for_sixty_minutes() {
        let locks = LogonLocks::new();
        for i in 0..4 {
            assert!(!locks.record_failure("acme", "c1", 100 + i));
            assert!(!locks.is_locked("acme", "c1", 100 + i));
        }
        assert!(locks.record_failure("acme", "c1", 200));
        assert!(locks.is_locked("acme", "c1", 200));
        assert!(locks.is_locked("acme", "c1", 200 + LOCK_DURATION_SECS - 1));
        assert!(!locks.is_locked("acme", "c1", 200 + LOCK_DURATION_SECS));
        // After the lock ends, a single failure does not lock again.
        assert!(!locks.record_failure("acme", "c1", 200 + LOCK_DURATION_SECS + 1));
        assert!(!locks.is_locked("acme", "c1", 200 + LOCK_DURATION_SECS + 1));
    }

    #[test]
    fn success_resets_the_counter() {
        let locks = LogonLocks::new();
        for _ in 0..4 {
            locks.record_failure("acme", "c1", 0);
        }
        locks.record_success("acme", "c1");
        for _ in 0..4 {
            assert!(!locks.record_failure("acme", "c1", 0));
        }
        assert!(!locks.is_locked("acme", "c1", 0));
    }

    #[test]
    fn counters_are_per_tenant_and_client() {
        let locks = LogonLocks::new();
        for _ in 0..5 {
            locks.record_failure("acme", "c1", 0);
        }
        assert!(locks.is_locked("acme", "c1", 0));
        assert!(!locks.is_locked("acme", "c2", 0));
        assert!(!locks.is_locked("other", "c1", 0));
    }
}
