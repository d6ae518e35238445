//! [`AuthState`]: the authentication state that outlives configuration changes (the token
//! signing key, persisted as `data_dir/token.key`, the failed-logon counters and the tenant CAs
//! under `data_dir/ca/`), and the
//! authentication decisions made with it against a tenant's current configuration.
//!
//! Invariants:
//! - The token key file holds exactly 32 random bytes, is created with mode 0600 and is never
//!   overwritten; a file of another length is an error, not silently replaced.
//! - Every way of failing ([`AuthFailure`]) looks the same to the client (the caller answers 401
//!   without detail); the variants exist for debug logs and tests and never carry a secret.
//! - A token is accepted only while the admin exists in the token's tenant and still has a
//!   current secret with the fingerprint of the secret the token was obtained with, so removing
//!   (or expiring) that secret revokes its tokens.

use std::io::{Read, Write};
use std::path::Path;

use subtle::ConstantTimeEq;

use super::credentials::Credentials;
use super::logon_lock::LogonLocks;
use super::principal::Principal;
use super::secret_check::{dummy_check, is_current, secret_matches};
use super::token::{TOKEN_LIFETIME_SECS, TokenClaims, TokenError, TokenKey};
use crate::runtime::{AdminConfig, TenantConfig};

/// File name of the token key in the data directory.
pub const TOKEN_KEY_FILE: &str = "token.key";

/// Authentication state that outlives configuration changes: the token signing key (persisted
/// in the data directory so tokens survive a restart) and failed-logon counters.
#[derive(Debug)]
pub struct AuthState {
    key: TokenKey,
    locks: LogonLocks,
    /// The tenant CAs (client-certificate authentication and the listener's trusted roots).
    pub cas: super::certificates::TenantCas,
}

/// Errors of the auth module.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read or create the token key in {path}: {source}")]
    TokenKey {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "token key file {path} holds {len} bytes, expected 32; remove it to generate a new key"
    )]
    TokenKeyLength { path: String, len: usize },
}

/// Why authentication failed (for logs and tests; clients only ever see a plain 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no credentials or malformed credentials")]
    NoCredentials,
    #[error("unknown client id")]
    UnknownClient,
    #[error("wrong or expired secret")]
    WrongSecret,
    #[error("client id is locked after repeated failed logons")]
    Locked,
    #[error("invalid token: {0}")]
    InvalidToken(TokenError),
    #[error("token was issued for another tenant")]
    OtherTenant,
    #[error("the secret the token was obtained with is no longer current")]
    SecretRevoked,
}

/// A freshly issued access token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl AuthState {
    /// Loads the token key from `data_dir/token.key`, creating it (0600) when missing.
    pub fn load_or_create(data_dir: &Path) -> Result<AuthState, AuthError> {
        let mut state = Self::with_key(load_or_create_key(&data_dir.join(TOKEN_KEY_FILE))?);
        state.cas = super::certificates::TenantCas::persistent(data_dir);
        Ok(state)
    }

    /// State with a given key (tests, or a runtime without a data directory).
    pub fn with_key(key: TokenKey) -> AuthState {
        AuthState {
            key,
            locks: LogonLocks::new(),
            cas: super::certificates::TenantCas::in_memory(),
        }
    }

    /// Authenticates `credentials` against `tenant`'s current configuration.
    pub fn authenticate(
        &self,
        tenant: &TenantConfig,
        credentials: &Credentials,
        now: jiff::Timestamp,
    ) -> Result<Principal, AuthFailure> {
        let admin = match credentials {
            Credentials::Basic { client_id, secret } => {
                self.logon_with_secret(tenant, client_id, secret, now)?
            }
            Credentials::Bearer(token) => self.verify_token(tenant, token, now)?,
        };
        Ok(Principal::from_admin(&tenant.name, admin))
    }

    /// Logon with client id and secret, applying the client-id lock when the admin enables it.
    pub fn logon_with_secret<'t>(
        &self,
        tenant: &'t TenantConfig,
        client_id: &str,
        secret: &str,
        now: jiff::Timestamp,
    ) -> Result<&'t AdminConfig, AuthFailure> {
        let Some(admin) = tenant.admins.get(client_id) else {
            dummy_check(secret);
            return Err(AuthFailure::UnknownClient);
        };
        let now_secs = now.as_second();
        let lockable = admin.lock_after_failed_logons;
        if lockable && self.locks.is_locked(&tenant.name, client_id, now_secs) {
            // Same work as a real check, so a locked client id is not told apart by timing.
            let _ = secret_matches(&admin.secrets, secret, now);
            return Err(AuthFailure::Locked);
        }
        if secret_matches(&admin.secrets, secret, now) {
            if lockable {
                self.locks.record_success(&tenant.name, client_id);
            }
            return Ok(admin);
        }
        if lockable && self.locks.record_failure(&tenant.name, client_id, now_secs) {
            tracing::warn!(tenant = %tenant.name, client_id, "client id locked for 60 minutes after 5 failed logons");
        }
        Err(AuthFailure::WrongSecret)
    }

    /// Issues a token for a client that has just logged on with `secret`.
    pub fn issue_token(
        &self,
        tenant: &str,
        admin: &AdminConfig,
        secret: &str,
        now: jiff::Timestamp,
    ) -> Result<IssuedToken, AuthFailure> {
        let claims = TokenClaims {
            tenant: tenant.to_string(),
            client_id: admin.client_id.clone(),
            expires_at: now.as_second().saturating_add(TOKEN_LIFETIME_SECS),
            secret_fingerprint: self.key.secret_fingerprint(secret),
        };
        let access_token = self.key.sign(&claims).map_err(AuthFailure::InvalidToken)?;
        Ok(IssuedToken {
            access_token,
            expires_in: TOKEN_LIFETIME_SECS,
        })
    }

    /// Verifies a bearer token against `tenant`'s current configuration.
    pub fn verify_token<'t>(
        &self,
        tenant: &'t TenantConfig,
        token: &str,
        now: jiff::Timestamp,
    ) -> Result<&'t AdminConfig, AuthFailure> {
        let claims = self
            .key
            .verify(token, now.as_second())
            .map_err(AuthFailure::InvalidToken)?;
        if claims.tenant != tenant.name {
            return Err(AuthFailure::OtherTenant);
        }
        let admin = tenant
            .admins
            .get(&claims.client_id)
            .ok_or(AuthFailure::UnknownClient)?;
        let mut current = subtle::Choice::from(0);
        for secret in &admin.secrets {
            let same = self
                .key
                .secret_fingerprint(&secret.value)
                .ct_eq(&claims.secret_fingerprint);
            current |= same & subtle::Choice::from(u8::from(is_current(secret, now)));
        }
        if !bool::from(current) {
            return Err(AuthFailure::SecretRevoked);
        }
        Ok(admin)
    }
}

/// Reads the 32-byte key at `path`, or creates it with fresh random bytes (mode 0600).
fn load_or_create_key(path: &Path) -> Result<TokenKey, AuthError> {
    let io_err = |source| AuthError::TokenKey {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            let key = TokenKey::generate();
            file.write_all(key.as_bytes()).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut bytes = Vec::with_capacity(32);
            std::fs::File::open(path)
                .and_then(|f| f.take(1024).read_to_end(&mut bytes))
                .map_err(io_err)?;
            let key: [u8; 32] =
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| AuthError::TokenKeyLength {
                        path: path.display().to_string(),
                        len: bytes.len(),
                    })?;
            Ok(TokenKey::from_bytes(key))
        }
        Err(e) => Err(io_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::Permission;
    use crate::runtime::AdminSecret;

    const CLIENT: &str = "6f1c0e8e-5a43-4a5e-9f36-2f4f7d3f0c11";

    fn admin(lock: bool, secrets: &[&str]) -> AdminConfig {
        AdminConfig {
            resource: "ns/provisioner".into(),
            display_name: "Provisioner".into(),
            client_id: CLIENT.into(),
            user_id: "P000001".into(),
            permissions: [Permission::ManageUsers].into_iter().collect(),
            secrets: secrets
                .iter()
                .map(|s| AdminSecret {
                    value: s.to_string(),
                    expires_at: None,
                })
                .collect(),
            lock_after_failed_logons: lock,
        }
    }

    fn tenant(name: &str, admin: AdminConfig) -> TenantConfig {
        TenantConfig {
            name: name.into(),
            hosts: vec![],
            admins: BTreeMap::from([(admin.client_id.clone(), admin)]),
            ..TenantConfig::default()
        }
    }

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000).unwrap()
    }

    fn basic(secret: &str) -> Credentials {
        Credentials::Basic {
            client_id: CLIENT.into(),
            secret: secret.into(),
        }
    }

    #[test]
    fn basic_logon_accepts_right_secret_only() {
        let state = AuthState::with_key(TokenKey::generate());
        let t = tenant("acme", admin(false, &["s1", "s2"]));
        let p = state.authenticate(&t, &basic("s2"), now()).unwrap();
        assert_eq!(
            (p.tenant.as_str(), p.client_id.as_str(), p.user_id.as_str()),
            ("acme", CLIENT, "P000001")
        );
        assert_eq!(
            state.authenticate(&t, &basic("s3"), now()),
            Err(AuthFailure::WrongSecret)
        );
        let unknown = Credentials::Basic {
            client_id: "nobody".into(),
            secret: "s1".into(),
        };
        assert_eq!(
            state.authenticate(&t, &unknown, now()),
            Err(AuthFailure::UnknownClient)
        );
    }

    #[test]
    fn lock_after_five_failures_refuses_right_secret() {
        let state = AuthState::with_key(TokenKey::generate());
        let t = tenant("acme", admin(true, &["right"]));
        for _ in 0..5 {
            assert_eq!(
                state.authenticate(&t, &basic("wrong"), now()),
                Err(AuthFailure::WrongSecret)
            );
        }
        assert_eq!(
            state.authenticate(&t, &basic("right"), now()),
            Err(AuthFailure::Locked)
        );
        let later = now() + jiff::SignedDuration::from_mins(60);
        assert!(state.authenticate(&t, &basic("right"), later).is_ok());
    }

    #[test]
    fn no_lock_when_disabled() {
        let state = AuthState::with_key(TokenKey::generate());
        let t = tenant("acme", admin(false, &["right"]));
        for _ in 0..10 {
            let _ = state.authenticate(&t, &basic("wrong"), now());
        }
        assert!(state.authenticate(&t, &basic("right"), now()).is_ok());
    }

    #[test]
    fn success_resets_failure_count() {
        let state = AuthState::with_key(TokenKey::generate());
        let t = tenant("acme", admin(true, &["right"]));
        for _ in 0..4 {
            let _ = state.authenticate(&t, &basic("wrong"), now());
        }
        assert!(state.authenticate(&t, &basic("right"), now()).is_ok());
        for _ in 0..4 {
            let _ = state.authenticate(&t, &basic("wrong"), now());
        }
        assert!(state.authenticate(&t, &basic("right"), now()).is_ok());
    }

    #[test]
    fn token_round_trip_and_revocation() {
        let state = AuthState::with_key(TokenKey::generate());
        let mut t = tenant("acme", admin(false, &["s1", "s2"]));
        let a = state
            .logon_with_secret(&t, CLIENT, "s1", now())
            .unwrap()
            .clone();
        let issued = state.issue_token("acme", &a, "s1", now()).unwrap();
        assert_eq!(issued.expires_in, 3600);
        let bearer = Credentials::Bearer(issued.access_token.clone());
        assert_eq!(
            state.authenticate(&t, &bearer, now()).unwrap().client_id,
            CLIENT
        );
        // Expired after 3600 s.
        let later = now() + jiff::SignedDuration::from_secs(3600);
        assert_eq!(
            state.authenticate(&t, &bearer, later),
            Err(AuthFailure::InvalidToken(TokenError::Expired))
        );
        // Another tenant does not accept it.
        let other = tenant("other", admin(false, &["s1"]));
        assert_eq!(
            state.authenticate(&other, &bearer, now()),
            Err(AuthFailure::OtherTenant)
        );
        // Removing the other secret keeps it; removing the secret it came from revokes it.
        t.admins.insert(CLIENT.into(), admin(false, &["s1"]));
        assert!(state.authenticate(&t, &bearer, now()).is_ok());
        t.admins.insert(CLIENT.into(), admin(false, &["s2"]));
        assert_eq!(
            state.authenticate(&t, &bearer, now()),
            Err(AuthFailure::SecretRevoked)
        );
        // Removing the admin revokes it.
        t.admins.clear();
        assert_eq!(
            state.authenticate(&t, &bearer, now()),
            Err(AuthFailure::UnknownClient)
        );
    }

    #[test]
    fn token_key_is_persisted_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_key(&dir.path().join(TOKEN_KEY_FILE)).unwrap();
        let second = load_or_create_key(&dir.path().join(TOKEN_KEY_FILE)).unwrap();
        assert_eq!(first.as_bytes(), second.as_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A token minted before a "restart" verifies after it.
        let a = AuthState::load_or_create(dir.path()).unwrap();
        let b = AuthState::load_or_create(dir.path()).unwrap();
        let t = tenant("acme", admin(false, &["s1"]));
        let issued = a
            .issue_token("acme", &t.admins[CLIENT], "s1", now())
            .unwrap();
        assert!(
            b.authenticate(&t, &Credentials::Bearer(issued.access_token), now())
                .is_ok()
        );
    }

    #[test]
    fn token_key_of_wrong_length_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOKEN_KEY_FILE), b"short").unwrap();
        assert!(matches!(
            AuthState::load_or_create(dir.path()),
            Err(AuthError::TokenKeyLength { len: 5, .. })
        ));
    }
}
