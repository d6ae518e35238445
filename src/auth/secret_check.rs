//! Constant-time check of a presented secret against a technical admin's secrets.
//!
//! Invariants: the presented secret and every stored secret are reduced to fixed-length SHA-256
//! digests and compared with `subtle`, every stored secret is compared (no early exit), and an
//! expired secret never matches. Timing therefore reveals neither the secret length nor which
//! secret matched.

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::runtime::AdminSecret;

/// Whether `presented` equals one of the `secrets` that has not expired at `now`.
pub fn secret_matches(secrets: &[AdminSecret], presented: &str, now: jiff::Timestamp) -> bool {
    let presented_digest = Sha256::digest(presented.as_bytes());
    let mut matched = Choice::from(0);
    for secret in secrets {
        let digest = Sha256::digest(secret.value.as_bytes());
        let equal = digest.as_slice().ct_eq(presented_digest.as_slice());
        let valid = Choice::from(u8::from(is_current(secret, now)));
        matched |= equal & valid;
    }
    bool::from(matched)
}

/// Burns about the same work as [`secret_matches`] for a client id that does not exist, so
/// timing does not tell whether the client id is known.
pub fn dummy_check(presented: &str) {
    let presented_digest = Sha256::digest(presented.as_bytes());
    let digest = Sha256::digest(b"idrelay-no-such-client");
    let _ = std::hint::black_box(digest.as_slice().ct_eq(presented_digest.as_slice()));
}

/// Whether a secret is accepted at `now` (no expiry, or expiry in the future).
pub fn is_current(secret: &AdminSecret, now: jiff::Timestamp) -> bool {
    secret.expires_at.is_none_or(|expires| now < expires)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str, expires_at: Option<jiff::Timestamp>) -> AdminSecret {
        AdminSecret {
            value: value.into(),
            expires_at,
        }
    }

    #[test]
    fn matches_any_current_secret() {
        let now = jiff::Timestamp::from_second(1_000).unwrap();
        let secrets = [
            secret("first", None),
            secret("second", Some(jiff::Timestamp::from_second(2_000).unwrap())),
        ];
        assert!(secret_matches(&secrets, "first", now));
        assert!(secret_matches(&secrets, "second", now));
        assert!(!secret_matches(&secrets, "third", now));
        assert!(!secret_matches(&secrets, "firs", now));
        assert!(!secret_matches(&secrets, "", now));
        assert!(!secret_matches(&[], "first", now));
    }

    #[test]
    fn expired_secret_never_matches() {
        let expiry = jiff::Timestamp::from_second(2_000).unwrap();
        let secrets = [secret("old", Some(expiry))];
        assert!(secret_matches(
            &secrets,
            "old",
            jiff::Timestamp::from_second(1_999).unwrap()
        ));
        assert!(!secret_matches(&secrets, "old", expiry));
        assert!(!secret_matches(
            &secrets,
            "old",
            jiff::Timestamp::from_second(3_000).unwrap()
        ));
    }
}
