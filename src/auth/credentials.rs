//! Parsing of the `Authorization` header into [`Credentials`] (Basic or Bearer).
//!
//! Invariant: parsing is pure and never fails loudly; anything that is not a well-formed Basic
//! or Bearer credential is `None`, which the caller turns into the same 401 as a wrong secret.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

/// Longest `Authorization` value considered (longer is refused without decoding).
const MAX_AUTHORIZATION_LEN: usize = 4096;

/// Credentials presented by a client.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Basic base64(client_id:secret)`.
    Basic { client_id: String, secret: String },
    /// `Bearer <token>` from `/oauth2/token`.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { client_id, .. } => f
                .debug_struct("Basic")
                .field("client_id", client_id)
                .field("secret", &"<redacted>")
                .finish(),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// Parses an `Authorization` header value. The scheme is case-insensitive (RFC 9110 §11.1).
pub fn parse_authorization(value: &[u8]) -> Option<Credentials> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = text.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        parse_basic(rest)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || rest.contains(' ') {
            return None;
        }
        Some(Credentials::Bearer(rest.to_string()))
    } else {
        None
    }
}

/// Decodes the Basic credential `base64(client_id:secret)`. The client id ends at the first `:`.
fn parse_basic(encoded: &str) -> Option<Credentials> {
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (client_id, secret) = text.split_once(':')?;
    if client_id.is_empty() {
        return None;
    }
    Some(Credentials::Basic {
        client_id: client_id.to_string(),
        secret: secret.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(s)).into_bytes()
    }

    #[test]
    fn parses_basic_with_colon_in_secret() {
        assert_eq!(
            parse_authorization(&basic("client:se:cret")),
            Some(Credentials::Basic {
                client_id: "client".into(),
                secret: "se:cret".into()
            })
        );
        let lower = format!("basic {}", STANDARD.encode("c:s"));
        assert!(matches!(
            parse_authorization(lower.as_bytes()),
            Some(Credentials::Basic { .. })
        ));
    }

    #[test]
    fn parses_bearer() {
        assert_eq!(
            parse_authorization(b"Bearer abc_-1"),
            Some(Credentials::Bearer("abc_-1".into()))
        );
        assert_eq!(
            parse_authorization(b"bearer  abc "),
            Some(Credentials::Bearer("abc".into()))
        );
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(parse_authorization(b"Basic"), None);
        assert_eq!(parse_authorization(b"Basic !!!"), None);
        assert_eq!(parse_authorization(&basic("no-colon")), None);
        assert_eq!(parse_authorization(&basic(":secret")), None);
        assert_eq!(parse_authorization(b"Bearer"), None);
        assert_eq!(parse_authorization(b"Bearer a b"), None);
        assert_eq!(parse_authorization(b"Digest abc"), None);
        assert_eq!(parse_authorization(&[0xff, 0xfe]), None);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::Basic {
            client_id: "c".into(),
            secret: "topsecret".into(),
        };
        assert!(!format!("{c:?}").contains("topsecret"));
        assert!(!format!("{:?}", Credentials::Bearer("tok".into())).contains("tok"));
    }
}
