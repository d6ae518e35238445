//! Technical administrators: authentication (Basic, Bearer tokens from `/oauth2/token`),
//! permissions, client-id lock. (Interface stub; filled in by the auth work.)

use std::path::Path;

/// Authentication state that outlives configuration changes: the token signing key (persisted
/// in the data directory so tokens survive a restart) and failed-logon counters.
pub struct AuthState {
    _private: (),
}

/// Errors of the auth module.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read or create the token key in {path}: {source}")]
    TokenKey { path: String, source: std::io::Error },
}

impl AuthState {
    /// Loads the token key from `data_dir/token.key`, creating it when missing.
    pub fn load_or_create(data_dir: &Path) -> Result<AuthState, AuthError> {
        let _ = data_dir;
        Ok(AuthState { _private: () })
    }
}
