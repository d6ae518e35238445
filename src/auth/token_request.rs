//! Parsing of a `POST /oauth2/token` request (RFC 6749 §4.4, client credentials grant) and the
//! RFC 6749 §5.2 error answers.
//!
//! Invariants: parsing is pure; the client authenticates with exactly one method (Basic header
//! or `client_id` + `client_secret` form fields); a parameter given twice is `invalid_request`;
//! error descriptions never contain a secret or say whether a client id exists.

use serde_json::{Value, json};

use super::credentials::{Credentials, parse_authorization};

/// The only grant type supported.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";

/// A well-formed client credentials request: who claims to be calling.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub client_id: String,
    pub client_secret: String,
    /// Whether the client authenticated with the Basic header (affects the 401 challenge).
    pub via_basic: bool,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("via_basic", &self.via_basic)
            .finish()
    }
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    /// 400: missing, repeated or malformed parameter.
    InvalidRequest(&'static str),
    /// 401: client authentication failed (no detail on purpose).
    InvalidClient,
    /// 400: `grant_type` is not `client_credentials`.
    UnsupportedGrantType,
}

impl OAuthError {
    pub fn status(&self) -> u16 {
        match self {
            OAuthError::InvalidClient => 401,
            OAuthError::InvalidRequest(_) | OAuthError::UnsupportedGrantType => 400,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
        }
    }

    /// The JSON body: `{"error": code, "error_description": ...}`.
    pub fn to_json(&self) -> Value {
        let description = match self {
            OAuthError::InvalidRequest(d) => *d,
            OAuthError::InvalidClient => "client authentication failed",
            OAuthError::UnsupportedGrantType => "only grant_type=client_credentials is supported",
        };
        json!({ "error": self.code(), "error_description": description })
    }
}

/// Parses a token request from its `Authorization` header, `Content-Type` and form body.
pub fn parse_token_request(
    authorization: Option<&[u8]>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<TokenRequest, OAuthError> {
    if let Some(ct) = content_type {
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::InvalidRequest(
                "Content-Type must be application/x-www-form-urlencoded",
            ));
        }
    }
    let mut grant_type = None;
    let mut client_id = None;
    let mut client_secret = None;
    for (name, value) in form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "grant_type" => &mut grant_type,
            "client_id" => &mut client_id,
            "client_secret" => &mut client_secret,
            _ => continue,
        };
        if slot.is_some() {
            return Err(OAuthError::InvalidRequest(
                "a parameter is included more than once",
            ));
        }
        *slot = Some(value.into_owned());
    }
    match grant_type.as_deref() {
        None | Some("") => return Err(OAuthError::InvalidRequest("grant_type is required")),
        Some(CLIENT_CREDENTIALS) => {}
        Some(_) => return Err(OAuthError::UnsupportedGrantType),
    }
    match authorization {
        Some(header) => {
            let Some(Credentials::Basic {
                client_id: basic_id,
                secret,
            }) = parse_authorization(header)
            else {
                return Err(OAuthError::InvalidClient);
            };
            if client_secret.is_some() {
                return Err(OAuthError::InvalidRequest(
                    "use only one client authentication method",
                ));
            }
            if client_id.as_ref().is_some_and(|id| *id != basic_id) {
                return Err(OAuthError::InvalidRequest(
                    "client_id does not match the Authorization header",
                ));
            }
            Ok(TokenRequest {
                client_id: basic_id,
                client_secret: secret,
                via_basic: true,
            })
        }
        None => match (client_id, client_secret) {
            (Some(id), Some(secret)) if !id.is_empty() => Ok(TokenRequest {
                client_id: id,
                client_secret: secret,
                via_basic: false,
            }),
            _ => Err(OAuthError::InvalidClient),
        },
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn basic(id: &str, secret: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))).into_bytes()
    }

    #[test]
    fn basic_header_with_grant_type() {
        let h = basic("client", "s3cret");
        let req = parse_token_request(Some(&h), FORM, b"grant_type=client_credentials").unwrap();
        assert_eq!(
            (
                req.client_id.as_str(),
                req.client_secret.as_str(),
                req.via_basic
            ),
            ("client", "s3cret", true)
        );
        // A matching client_id in the form is allowed.
        let req = parse_token_request(
            Some(&h),
            FORM,
            b"grant_type=client_credentials&client_id=client",
        )
        .unwrap();
        assert_eq!(req.client_id, "client");
    }

    #[test]
    fn form_fields_with_percent_encoding() {
        let body = b"grant_type=client_credentials&client_id=abc&client_secret=a%2Bb+c%26";
        let req = parse_token_request(
            None,
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            body,
        )
        .unwrap();
        assert_eq!(
            (
                req.client_id.as_str(),
                req.client_secret.as_str(),
                req.via_basic
            ),
            ("abc", "a+b c&", false)
        );
        assert!(parse_token_request(None, None, body).is_ok());
    }

    #[test]
    fn grant_type_errors() {
        assert_eq!(
            parse_token_request(None, FORM, b"client_id=a&client_secret=b"),
            Err(OAuthError::InvalidRequest("grant_type is required"))
        );
        assert_eq!(
            parse_token_request(
                None,
                FORM,
                b"grant_type=password&client_id=a&client_secret=b"
            ),
            Err(OAuthError::UnsupportedGrantType)
        );
    }

    #[test]
    fn client_authentication_errors() {
        assert_eq!(
            parse_token_request(None, FORM, b"grant_type=client_credentials"),
            Err(OAuthError::InvalidClient)
        );
        assert_eq!(
            parse_token_request(None, FORM, b"grant_type=client_credentials&client_id=a"),
            Err(OAuthError::InvalidClient)
        );
        assert_eq!(
            parse_token_request(Some(b"Bearer x"), FORM, b"grant_type=client_credentials"),
            Err(OAuthError::InvalidClient)
        );
        let h = basic("client", "s");
        assert!(matches!(
            parse_token_request(
                Some(&h),
                FORM,
                b"grant_type=client_credentials&client_secret=s"
            ),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse_token_request(
                Some(&h),
                FORM,
                b"grant_type=client_credentials&client_id=other"
            ),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn repeated_parameter_and_wrong_content_type_are_invalid_request() {
        assert!(matches!(
            parse_token_request(
                None,
                FORM,
                b"grant_type=client_credentials&grant_type=client_credentials"
            ),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse_token_request(None, Some("application/json"), b"{}"),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn error_json_and_status() {
        assert_eq!(OAuthError::InvalidClient.status(), 401);
        assert_eq!(
            OAuthError::InvalidClient.to_json()["error"],
            "invalid_client"
        );
        assert_eq!(OAuthError::UnsupportedGrantType.status(), 400);
        assert_eq!(
            OAuthError::InvalidRequest("x").to_json()["error"],
            "invalid_request"
        );
    }
}
