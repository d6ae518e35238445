//! Certificates of a tenant: its certificate authority ([`TenantCa`], persisted in the data
//! directory), client certificates issued by it for technical administrators
//! ([`issue_client_certificate`]), PKCS#12 keystores ([`pkcs12`]), the mapping of a presented
//! client certificate to its technical administrator ([`certificate_admin`]) and, for the files
//! driver, the files that stand in for Kubernetes Secrets ([`write_secret_files`]); keeping the
//! client certificate of a `certificate`-authenticated real-time target issued, stored and
//! renewed ([`ensure_client_certificate`]).
//!
//! Trust rule (stateless, architecture §4.6): a tenant's CA only signs certificates for the
//! technical administrators it was asked to, with subject CN `<common name>(<admin user id>)`.
//! A client certificate therefore authenticates the admin of the verifying tenant whose user id
//! is the parenthesised suffix of its CN, provided it chains to that tenant's CA (not another
//! tenant's) and is within its validity period. Nothing else is registered.
//!
//! Invariants: private keys never reach logs, errors or `Debug` output; a CA key file is never
//! overwritten (a half-written CA directory is an error, not silently replaced).

pub mod ca;
pub mod client;
pub mod issuance;
pub mod keystore;
pub mod secret_files;
pub mod trust;

pub use ca::{CA_DIR, TenantCa};
pub use client::{
    CLIENT_VALIDITY_DAYS, IssuedCertificate, MAX_COMMON_NAME_LEN, MIN_USER_ID_LEN,
    RENEW_BEFORE_DAYS, STATIC_MAX_COMMON_NAME_LEN, Validity, certificate_not_after,
    issue_client_certificate, max_common_name_len, needs_renewal, subject_common_name,
    user_id_of_common_name,
};
pub use issuance::{
    ClientCertificateRequest, Decision, certificate_subject_cn, decide, ensure_client_certificate,
};
pub use keystore::{Pkcs12Contents, pkcs12, read_pkcs12};
pub use secret_files::{SECRETS_DIR, SecretFiles, read_secret_files, write_secret_files};
pub use trust::{CertRefusal, TenantCas, certificate_admin};

/// Why a certificate operation failed (never carries key material).
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("The maximum length of the CN is 64 characters; {common_name:?} has {len}")]
    CommonNameTooLong { common_name: String, len: usize },
    #[error("invalid common name: {0}")]
    InvalidCommonName(String),
    #[error("invalid technical admin user id {0:?}: must be non-empty and without parentheses")]
    InvalidUserId(String),
    #[error("invalid name {0:?} for a file path segment")]
    InvalidPathSegment(String),
    #[error("invalid validity: {0}")]
    InvalidValidity(String),
    #[error("the keystore password must not be empty")]
    EmptyPassword,
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the CA in {0} is incomplete (ca.crt or ca.key missing); restore or remove the directory"
    )]
    IncompleteCa(String),
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("cannot generate the certificate: {0}")]
    Generate(String),
    #[error("PKCS#12: {0}")]
    Pkcs12(String),
}

impl CertError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        CertError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Writes `contents` to `path` through a temporary file and a rename (mode 0600 on Unix).
pub(crate) fn write_private_file(path: &std::path::Path, contents: &[u8]) -> Result<(), CertError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| CertError::io(&tmp, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| CertError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CertError::io(path, e))
}

/// Whether `segment` is safe as one path component (no separators, not `.`/`..`, not empty).
pub(crate) fn is_path_segment(segment: &str) -> bool {
    !segment.is_empty() && segment != "." && segment != ".." && !segment.contains(['/', '\\', '\0'])
}
