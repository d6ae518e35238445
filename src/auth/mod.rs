//! Technical administrators: authentication (Basic, Bearer tokens from `/oauth2/token`),
//! permissions, client-id lock.
//!
//! Layout: pure parts ([`credentials`] header parsing, [`secret_check`] constant-time secret
//! comparison, [`logon_lock`] counters, [`token`] signing, [`token_request`] form parsing,
//! [`principal`] permission checks), the decisions that combine them ([`state::AuthState`]), and
//! the thin axum shells ([`extract`]: the [`Principal`] extractor, [`token_endpoint`]).
//!
//! Invariants: secrets are compared in constant time and never logged, returned or put in an
//! error; every authentication failure looks the same to the client (401, no detail).

pub mod certificates;
pub mod credentials;
pub mod extract;
pub mod logon_lock;
pub mod principal;
pub mod secret_check;
pub mod state;
pub mod token;
pub mod token_endpoint;
pub mod token_request;

pub use credentials::{Credentials, parse_authorization};
pub use extract::AuthRejection;
pub use principal::Principal;
pub use state::{AuthError, AuthFailure, AuthState, IssuedToken};
pub use token::TokenKey;
pub use token_endpoint::token_handler;
