//! What a pass changed in the published statuses: per kind, how many status documents changed
//! (new, different, or gone) and how many stayed exactly as they were. Pure.
//!
//! Invariant: a pass over unchanged resources and observations counts every document as
//! unchanged and [`StatusChanges::any`] is false, so the driver writes nothing (issue 6: zero
//! writes on no-op passes).

use std::collections::{BTreeMap, HashMap};

use crate::reconcile::ObjectKey;

use super::state::StatusEntry;

/// Changed and unchanged status documents of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindChanges {
    /// New or different documents, and documents that disappeared.
    pub changed: u64,
    pub unchanged: u64,
}

/// The changes of one pass, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusChanges {
    pub by_kind: BTreeMap<&'static str, KindChanges>,
}

impl StatusChanges {
    /// Compares the entries published before with those of this pass.
    pub fn between(before: &[StatusEntry], after: &[StatusEntry]) -> StatusChanges {
        let mut previous: HashMap<(&'static str, &ObjectKey), &StatusEntry> =
            before.iter().map(|e| ((e.kind, &e.key), e)).collect();
        let mut out = StatusChanges::default();
        for entry in after {
            let counts = out.by_kind.entry(entry.kind).or_default();
            match previous.remove(&(entry.kind, &entry.key)) {
                Some(prev) if prev == entry => counts.unchanged += 1,
                _ => counts.changed += 1,
            }
        }
        // What is left disappeared.
        for (kind, _) in previous.into_keys() {
            out.by_kind.entry(kind).or_default().changed += 1;
        }
        out
    }

    /// Whether any document changed.
    pub fn any(&self) -> bool {
        self.by_kind.values().any(|c| c.changed > 0)
    }

    /// Changed documents of every kind.
    pub fn changed(&self) -> u64 {
        self.by_kind.values().map(|c| c.changed).sum()
    }

    /// Unchanged documents of every kind.
    pub fn unchanged(&self) -> u64 {
        self.by_kind.values().map(|c| c.unchanged).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(kind: &'static str, name: &str, ready: &str) -> StatusEntry {
        StatusEntry {
            kind,
            key: ObjectKey {
                namespace: "default".into(),
                name: name.into(),
            },
            generation: 1,
            created: jiff::Timestamp::UNIX_EPOCH,
            status: json!({"conditions": [{"type": "Ready", "status": ready}]}),
        }
    }

    #[test]
    fn identical_entries_change_nothing() {
        let a = vec![
            entry("Tenant", "a", "True"),
            entry("TargetSystem", "t", "True"),
        ];
        let c = StatusChanges::between(&a, &a);
        assert!(!c.any());
        assert_eq!((c.changed(), c.unchanged()), (0, 2));
        assert_eq!(
            c.by_kind["Tenant"],
            KindChanges {
                changed: 0,
                unchanged: 1
            }
        );
    }

    #[test]
    fn new_different_and_removed_entries_are_changes() {
        let before = vec![
            entry("Tenant", "a", "True"),
            entry("Tenant", "gone", "True"),
            entry("TargetSystem", "t", "Unknown"),
        ];
        let after = vec![
            entry("Tenant", "a", "True"),
            entry("Tenant", "new", "True"),
            entry("TargetSystem", "t", "True"),
        ];
        let c = StatusChanges::between(&before, &after);
        assert!(c.any());
        assert_eq!(
            c.by_kind["Tenant"],
            KindChanges {
                changed: 2,
                unchanged: 1
            }
        );
        assert_eq!(
            c.by_kind["TargetSystem"],
            KindChanges {
                changed: 1,
                unchanged: 0
            }
        );
        // Same name, other kind: not the same document.
        let c = StatusChanges::between(
            &[entry("Tenant", "x", "True")],
            &[entry("TargetSystem", "x", "True")],
        );
        assert_eq!(c.changed(), 2);
    }

    #[test]
    fn first_pass_writes_everything() {
        let after = vec![entry("Tenant", "a", "True")];
        let c = StatusChanges::between(&[], &after);
        assert_eq!((c.changed(), c.unchanged()), (1, 0));
    }
}
