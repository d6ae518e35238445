//! TLS configuration of the tenant listener: certificate and key from files, from PEM text (a
//! Secret document), or a generated self-signed certificate; or plain HTTP when asked for.
//!
//! Invariants: the rustls provider is `ring`, passed explicitly (no process-wide default
//! needed); ALPN offers `h2` then `http/1.1`; key material never reaches logs or errors.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// How the tenant listener speaks.
#[derive(Clone)]
pub enum TlsMode {
    /// Plain HTTP (local use only).
    Plain,
    /// PEM certificate chain and private key files.
    Files { cert: PathBuf, key: PathBuf },
    /// PEM certificate chain and private key text (from a Secret).
    Pem { cert_pem: String, key_pem: String },
    /// A certificate generated at start for `localhost`, `127.0.0.1` and the tenant hosts.
    SelfSigned,
}

impl std::fmt::Debug for TlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsMode::Plain => f.write_str("Plain"),
            TlsMode::Files { cert, key } => f
                .debug_struct("Files")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            TlsMode::Pem { .. } => f.write_str("Pem(<redacted>)"),
            TlsMode::SelfSigned => f.write_str("SelfSigned"),
        }
    }
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS certificate {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("cannot read TLS private key {path}: {reason}")]
    PrivateKey { path: String, reason: String },
    #[error("no certificate found in {0}")]
    NoCertificate(String),
    #[error("cannot generate a self-signed certificate: {0}")]
    SelfSigned(String),
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

/// A generated self-signed certificate (DER) and its key, kept so callers (tests) can trust it.
pub struct SelfSignedCert {
    pub cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl Clone for SelfSignedCert {
    fn clone(&self) -> Self {
        SelfSignedCert {
            cert: self.cert.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl SelfSignedCert {
    /// Generates a certificate for `localhost`, `127.0.0.1` and `hosts`.
    pub fn generate(hosts: &[String]) -> Result<Self, TlsError> {
        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        for host in hosts {
            if !names.contains(host) {
                names.push(host.clone());
            }
        }
        let certified = rcgen::generate_simple_self_signed(names)
            .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
        Ok(SelfSignedCert {
            cert: certified.cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()),
        })
    }

    /// The certificate as PEM (to hand to clients that should trust it).
    pub fn cert_pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.cert.as_ref());
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        server_config(
            vec![self.cert.clone()],
            PrivateKeyDer::Pkcs8(self.key.clone_key()),
        )
    }
}

impl TlsMode {
    /// The rustls configuration for this mode; `None` for [`TlsMode::Plain`]. `hosts` are the
    /// configured tenant hosts (names of a self-signed certificate).
    pub fn server_config(&self, hosts: &[String]) -> Result<Option<Arc<ServerConfig>>, TlsError> {
        match self {
            TlsMode::Plain => Ok(None),
            TlsMode::Files { cert, key } => {
                let cert_path = cert.display().to_string();
                let certs = CertificateDer::pem_file_iter(cert)
                    .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| TlsError::Certificate {
                        path: cert_path.clone(),
                        reason: e.to_string(),
                    })?;
                if certs.is_empty() {
                    return Err(TlsError::NoCertificate(cert_path));
                }
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::PrivateKey {
                    path: key.display().to_string(),
                    reason: pem_reason(&e),
                })?;
                server_config(certs, key).map(Some)
            }
            TlsMode::Pem { cert_pem, key_pem } => {
                let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| TlsError::Certificate {
                        path: "<secret>".into(),
                        reason: e.to_string(),
                    })?;
                if certs.is_empty() {
                    return Err(TlsError::NoCertificate("<secret>".into()));
                }
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
                    TlsError::PrivateKey {
                        path: "<secret>".into(),
                        reason: pem_reason(&e),
                    }
                })?;
                server_config(certs, key).map(Some)
            }
            TlsMode::SelfSigned => {
                let generated = SelfSignedCert::generate(hosts)?;
                tracing::warn!(
                    hosts = ?hosts,
                    "serving HTTPS with a generated self-signed certificate (for localhost, 127.0.0.1 and the tenant hosts); clients will not trust it"
                );
                generated.server_config().map(Some)
            }
        }
    }
}

/// A PEM error without any of the key's bytes.
fn pem_reason(error: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error;
    match error {
        Error::NoItemsFound => "no private key found".into(),
        Error::Io(e) => e.to_string(),
        _ => "malformed PEM".into(),
    }
}

/// A rustls server configuration (ring provider, safe protocol versions, ALPN h2 + http/1.1).
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_config_builds_with_alpn() {
        let cert = SelfSignedCert::generate(&["acme.example.com".into()]).unwrap();
        let config = cert.server_config().unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert!(cert.cert_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
    }

    #[test]
    fn pem_mode_round_trips_and_rejects_garbage() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let mode = TlsMode::Pem {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        assert!(mode.server_config(&[]).unwrap().is_some());
        let bad = TlsMode::Pem {
            cert_pem: cert.pem(),
            key_pem: "not a key".into(),
        };
        let err = bad.server_config(&[]).unwrap_err().to_string();
        assert!(err.contains("private key"), "{err}");
        assert!(!format!("{mode:?}").contains("BEGIN"));
    }

    #[test]
    fn files_mode_reports_missing_file() {
        let mode = TlsMode::Files {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        assert!(matches!(
            mode.server_config(&[]),
            Err(TlsError::Certificate { .. })
        ));
        assert!(TlsMode::Plain.server_config(&[]).unwrap().is_none());
    }
}
