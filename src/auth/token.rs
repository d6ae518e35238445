//! Stateless bearer tokens issued by `/oauth2/token`.
//!
//! A token is `base64url(payload || HMAC-SHA256(key, payload))` with
//! `payload = version | expiry (i64 BE, Unix seconds) | secret fingerprint (16 bytes) |
//! tenant (u16 BE length + bytes) | client id (u16 BE length + bytes)`.
//!
//! Invariants:
//! - Only the holder of the 32-byte [`TokenKey`] can mint a token that [`TokenKey::verify`]
//!   accepts; the MAC is checked (in constant time) before anything in the payload is trusted.
//! - The secret fingerprint is keyed with the token key too, so a token never reveals anything
//!   an attacker could brute-force a secret against.
//! - Verification here covers signature, format and expiry only; tenant match, admin existence
//!   and secret fingerprint are checked by the caller against the current configuration.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Lifetime of an issued token, in seconds.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;

const VERSION: u8 = 1;
const MAC_LEN: usize = 32;
/// Length of a secret fingerprint.
pub const FINGERPRINT_LEN: usize = 16;
/// Longest token text accepted for decoding (a tenant and a client id are short).
const MAX_TOKEN_CHARS: usize = 2048;

/// The HMAC key that signs tokens.
#[derive(Clone)]
pub struct TokenKey([u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub tenant: String,
    pub client_id: String,
    /// Unix seconds after which the token is refused.
    pub expires_at: i64,
    /// Keyed fingerprint of the secret the token was obtained with.
    pub secret_fingerprint: [u8; FINGERPRINT_LEN],
}

/// Why a token was refused. Never shown to clients in detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
}

impl TokenKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        TokenKey(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        TokenKey(rand::random())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; a 32-byte key cannot fail.
        match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC-SHA256 accepts any key length"),
        }
    }

    /// Keyed fingerprint of an admin secret (domain-separated from token MACs).
    pub fn secret_fingerprint(&self, secret: &str) -> [u8; FINGERPRINT_LEN] {
        let mut mac = self.mac();
        mac.update(b"idrelay secret fingerprint\0");
        mac.update(secret.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; FINGERPRINT_LEN];
        out.copy_from_slice(&full[..FINGERPRINT_LEN]);
        out
    }

    /// Mints a token for `claims`. Fails only when tenant or client id exceed 65535 bytes.
    pub fn sign(&self, claims: &TokenClaims) -> Result<String, TokenError> {
        let tenant_len = u16::try_from(claims.tenant.len()).map_err(|_| TokenError::Malformed)?;
        let client_len =
            u16::try_from(claims.client_id.len()).map_err(|_| TokenError::Malformed)?;
        let mut buf = Vec::with_capacity(
            1 + 8 + FINGERPRINT_LEN + 4 + claims.tenant.len() + claims.client_id.len() + MAC_LEN,
        );
        buf.push(VERSION);
        buf.extend_from_slice(&claims.expires_at.to_be_bytes());
        buf.extend_from_slice(&claims.secret_fingerprint);
        buf.extend_from_slice(&tenant_len.to_be_bytes());
        buf.extend_from_slice(claims.tenant.as_bytes());
        buf.extend_from_slice(&client_len.to_be_bytes());
        buf.extend_from_slice(claims.client_id.as_bytes());
        let mut mac = self.mac();
        mac.update(&buf);
        buf.extend_from_slice(&mac.finalize().into_bytes());
        Ok(URL_SAFE_NO_PAD.encode(buf))
    }

    /// Checks format, signature and expiry (`now_secs` in Unix seconds) and returns the claims.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<TokenClaims, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .map_err(|_| TokenError::Malformed)?;
        if raw.len() < MAC_LEN + 1 {
            return Err(TokenError::Malformed);
        }
        let (payload, tag) = raw.split_at(raw.len() - MAC_LEN);
        let mut mac = self.mac();
        mac.update(payload);
        let expected = mac.finalize().into_bytes();
        if !bool::from(expected.as_slice().ct_eq(tag)) {
            return Err(TokenError::BadSignature);
        }
        let claims = decode_payload(payload).ok_or(TokenError::Malformed)?;
        if now_secs >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

fn decode_payload(payload: &[u8]) -> Option<TokenClaims> {
    let mut rest = payload;
    let version = take(&mut rest, 1)?[0];
    if version != VERSION {
        return None;
    }
    let expires_at = i64::from_be_bytes(take(&mut rest, 8)?.try_into().ok()?);
    let secret_fingerprint: [u8; FINGERPRINT_LEN] =
        take(&mut rest, FINGERPRINT_LEN)?.try_into().ok()?;
    let tenant = take_string(&mut rest)?;
    let client_id = take_string(&mut rest)?;
    if !rest.is_empty() {
        return None;
    }
    Some(TokenClaims {
        tenant,
        client_id,
        expires_at,
        secret_fingerprint,
    })
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

fn take_string(rest: &mut &[u8]) -> Option<String> {
    let len = u16::from_be_bytes(take(rest, 2)?.try_into().ok()?) as usize;
    String::from_utf8(take(rest, len)?.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(key: &TokenKey) -> TokenClaims {
        TokenClaims {
            tenant: "acme".into(),
            client_id: "6f1c0e8e-5a43-4a5e-9f36-2f4f7d3f0c11".into(),
            expires_at: 10_000,
            secret_fingerprint: key.secret_fingerprint("s3cret"),
        }
    }

    #[test]
    fn signed_token_verifies_before_expiry() {
        let key = TokenKey::generate();
        let token = key.sign(&claims(&key)).unwrap();
        assert!(!token.contains('=') && !token.contains('+') && !token.contains('/'));
        assert_eq!(key.verify(&token, 9_999).unwrap(), claims(&key));
    }

    #[test]
    fn expired_token_is_refused() {
        let key = TokenKey::generate();
        let token = key.sign(&claims(&key)).unwrap();
        assert_eq!(key.verify(&token, 10_000), Err(TokenError::Expired));
        assert_eq!(key.verify(&token, 20_000), Err(TokenError::Expired));
    }

    #[test]
    fn tampered_token_is_refused() {
        let key = TokenKey::generate();
        let token = key.sign(&claims(&key)).unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        // Flip one bit in the expiry: push it far into the future.
        raw[1] ^= 0x01;
        let forged = URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(key.verify(&forged, 0), Err(TokenError::BadSignature));
        // Flip a bit in the MAC.
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 0x80;
        assert_eq!(
            key.verify(&URL_SAFE_NO_PAD.encode(&raw), 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn token_from_another_key_is_refused() {
        let key = TokenKey::generate();
        let other = TokenKey::generate();
        let token = other.sign(&claims(&other)).unwrap();
        assert_eq!(key.verify(&token, 0), Err(TokenError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed() {
        let key = TokenKey::generate();
        assert_eq!(key.verify("", 0), Err(TokenError::Malformed));
        assert_eq!(key.verify("not base64!", 0), Err(TokenError::Malformed));
        assert_eq!(key.verify("AAAA", 0), Err(TokenError::Malformed));
        assert_eq!(key.verify(&"A".repeat(5000), 0), Err(TokenError::Malformed));
        // A correctly signed payload with trailing bytes is still malformed.
        let mut payload = vec![VERSION];
        payload.extend_from_slice(&[0u8; 8 + FINGERPRINT_LEN + 4 + 1]);
        let mut mac = key.mac();
        mac.update(&payload);
        payload.extend_from_slice(&mac.finalize().into_bytes());
        assert_eq!(
            key.verify(&URL_SAFE_NO_PAD.encode(&payload), 0),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn fingerprint_depends_on_key_and_secret() {
        let key = TokenKey::generate();
        let other = TokenKey::generate();
        assert_eq!(key.secret_fingerprint("a"), key.secret_fingerprint("a"));
        assert_ne!(key.secret_fingerprint("a"), key.secret_fingerprint("b"));
        assert_ne!(key.secret_fingerprint("a"), other.secret_fingerprint("a"));
    }
}
