//! Ordered keys for the directory's id and legacy-id indexes, chosen so that what the directory
//! generates lands at the end of an ordered map.
//!
//! The state's maps are persistent (path-copied): an insert copies every node on its path that
//! is shared with a published snapshot, and every snapshot is shared again after each commit. A
//! hash map puts each new key on a random path, so every create copies a whole path of wide
//! nodes. The directory's own ids are UUID version 7 (time-ordered) and its legacy user ids
//! count up (`P000001`, `P000002`, …), so ordered maps keyed by their order put all the creates
//! of a batch on the same right-hand path, copied once per batch.
//!
//! The unique-name (`userName`, group `displayName`), `externalId` and email indexes have no
//! order to exploit: they key each (lowercased) value by its 64-bit hash ([`text_hash`]) in
//! an index that every snapshot shares and that only grows ([`super::hashed_index`]), and
//! their callers check every candidate against the entry itself.
//!
//! Invariants:
//! - A key is a pure function of the exact text: two texts get the same key only when they are
//!   equal (ids and legacy ids are case-exact). Only the canonical form of a UUID (lowercase,
//!   hyphenated) or of a legacy user id ([`super::legacy_ids::format_user_id`]) becomes a
//!   number; every other text is kept as text.
//! - The keys hold no pointers in the common case, so comparing them touches no other memory.

use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

use super::legacy_ids;

/// The hash of a (lowercased) indexed text, keyed per process so that nobody can choose
/// values that collide: equal texts hash equally, different texts almost never do.
pub fn text_hash(text: &str) -> u64 {
    static KEYS: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    KEYS.get_or_init(std::collections::hash_map::RandomState::new)
        .hash_one(text)
}

/// The key of a user or group id: the 128-bit value of a canonical UUID (ordered as its text
/// is), or the text itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IdKey {
    Uuid(u128),
    Text(Arc<str>),
}

impl IdKey {
    /// The smallest key (the start of a range over a hashed index's entries for one hash).
    pub const MIN: IdKey = IdKey::Uuid(0);

    /// The key of `id`, reusing the shared text when it is not a canonical UUID.
    pub fn of(id: &Arc<str>) -> IdKey {
        IdKey::with_text(id, || id.clone())
    }

    /// The key to look `id` up with (allocates only for an id that is not a canonical UUID).
    pub fn lookup(id: &str) -> IdKey {
        IdKey::with_text(id, || Arc::from(id))
    }

    fn with_text(id: &str, text: impl FnOnce() -> Arc<str>) -> IdKey {
        match canonical_uuid(id) {
            Some(value) => IdKey::Uuid(value),
            None => IdKey::Text(text()),
        }
    }
}

/// The value of a UUID in its canonical text form (`8-4-4-4-12` lowercase hex digits), or
/// `None` for any other text (uppercase, braces, no hyphens, other lengths).
pub fn canonical_uuid(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if *byte != b'-' {
                return None;
            }
            continue;
        }
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u128::from(digit);
    }
    Some(value)
}

/// The key of a legacy id (user `userId`, group `additionalId`): the number of a canonical
/// legacy user id, or the text itself. Numbers sort before texts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LegacyKey {
    UserNumber(u64),
    Text(Arc<str>),
}

impl LegacyKey {
    pub fn of(legacy_id: &str) -> LegacyKey {
        match legacy_ids::canonical_user_number(legacy_id) {
            Some(number) => LegacyKey::UserNumber(number),
            None => LegacyKey::Text(Arc::from(legacy_id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_uuids_become_numbers() {
        let id = "0190f5a2-7c3b-7def-8abc-0123456789ab";
        assert_eq!(
            canonical_uuid(id),
            Some(uuid::Uuid::parse_str(id).unwrap().as_u128())
        );
        for other in [
            "0190F5A2-7C3B-7DEF-8ABC-0123456789AB",
            "0190f5a27c3b7def8abc0123456789ab",
            "{0190f5a2-7c3b-7def-8abc-0123456789ab}",
            "0190f5a2-7c3b-7def-8abc-0123456789a",
            "0190f5a2-7c3b-7def-8abc_0123456789ab",
            "0190f5a2-7c3b-7def-8abc-0123456789ag",
            "",
        ] {
            assert_eq!(canonical_uuid(other), None, "{other}");
            assert_eq!(IdKey::lookup(other), IdKey::Text(Arc::from(other)));
        }
    }

    #[test]
    fn uuid_keys_sort_as_their_text_and_v7_ids_ascend() {
        let mut ids: Vec<String> = (0..200).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        ids.push("00000000-0000-0000-0000-000000000000".into());
        ids.push("ffffffff-ffff-ffff-ffff-ffffffffffff".into());
        let keys: Vec<IdKey> = ids.iter().map(|id| IdKey::lookup(id)).collect();
        let mut by_text = ids.clone();
        by_text.sort();
        let mut by_key = keys.clone();
        by_key.sort();
        let back: Vec<IdKey> = by_text.iter().map(|id| IdKey::lookup(id)).collect();
        assert_eq!(by_key, back);
        // Generated one after the other, version 7 ids already are in key order.
        let generated = &keys[..200];
        assert!(generated.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn different_texts_never_share_a_key() {
        let texts = [
            "P000001", "P0000001", "P1", "p000001", "P000001 ", "P1000000", "P999999",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(LegacyKey::of(a) == LegacyKey::of(b), a == b, "{a} {b}");
            }
        }
        assert_eq!(LegacyKey::of("P000042"), LegacyKey::UserNumber(42));
        assert_eq!(LegacyKey::of("P1000000"), LegacyKey::UserNumber(1_000_000));
        assert!(LegacyKey::of("P000002") < LegacyKey::of("P000010"));
        for n in [0, 1, 42, 999_999, 1_000_000, 12_345_678] {
            let text = legacy_ids::format_user_id(n);
            assert_eq!(legacy_ids::canonical_user_number(&text), Some(n), "{text}");
        }
    }
}
