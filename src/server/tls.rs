//! TLS configuration of the tenant listener: certificate and key from files, from PEM text (a
//! Secret document), or a generated self-signed certificate; or plain HTTP when asked for.
//!
//! Client certificates (mTLS, [`TenantTls`]): the tenant listener asks every client for a
//! certificate and verifies one against the union of the tenant CAs, but never requires one
//! (clients without a certificate use Basic or Bearer). The server configuration is rebuilt when
//! the runtime configuration changes (another set of tenants, hence of CAs) and swapped in
//! atomically; each accepted connection uses the configuration current at its handshake.
//!
//! Invariants: the rustls provider is `ring`, passed explicitly (no process-wide default
//! needed); ALPN offers `h2` then `http/1.1`; key material never reaches logs or errors; a
//! failed rebuild keeps the previous configuration.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
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
    /// The rustls configuration for this mode (no client certificates); `None` for
    /// [`TlsMode::Plain`]. `hosts` are the configured tenant hosts (names of a self-signed
    /// certificate).
    pub fn server_config(&self, hosts: &[String]) -> Result<Option<Arc<ServerConfig>>, TlsError> {
        match self.identity(hosts)? {
            None => Ok(None),
            Some(identity) => server_config(identity.certs, identity.key).map(Some),
        }
    }

    /// The server's certificate chain and key for this mode; `None` for [`TlsMode::Plain`].
    pub fn identity(&self, hosts: &[String]) -> Result<Option<ServerIdentity>, TlsError> {
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
                Ok(Some(ServerIdentity { certs, key }))
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
                Ok(Some(ServerIdentity { certs, key }))
            }
            TlsMode::SelfSigned => {
                let generated = SelfSignedCert::generate(hosts)?;
                tracing::warn!(
                    hosts = ?hosts,
                    "serving HTTPS with a generated self-signed certificate (for localhost, 127.0.0.1 and the tenant hosts); clients will not trust it"
                );
                Ok(Some(ServerIdentity {
                    certs: vec![generated.cert.clone()],
                    key: PrivateKeyDer::Pkcs8(generated.key.clone_key()),
                }))
            }
        }
    }
}

/// The server's certificate chain and private key.
pub struct ServerIdentity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ServerIdentity {
    fn clone(&self) -> Self {
        ServerIdentity {
            certs: self.certs.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("certs", &self.certs.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Where the accept loop takes the TLS configuration of each new connection from.
pub trait TlsSource: Send + Sync {
    /// The configuration for a connection accepted now.
    fn current(&self) -> Arc<ServerConfig>;
}

/// A configuration that never changes (the admin listener, tests).
pub struct StaticTls(pub Arc<ServerConfig>);

impl TlsSource for StaticTls {
    fn current(&self) -> Arc<ServerConfig> {
        self.0.clone()
    }
}

/// The tenant listener's TLS: asks for client certificates and verifies them against the CAs
/// of the tenants the runtime currently serves; rebuilt when the runtime configuration changes.
pub struct TenantTls {
    identity: ServerIdentity,
    runtime: Arc<crate::runtime::Runtime>,
    built: ArcSwap<BuiltTls>,
}

struct BuiltTls {
    /// The runtime configuration this was built for (compared by pointer).
    for_config: Arc<crate::runtime::RuntimeConfig>,
    config: Arc<ServerConfig>,
}

impl TenantTls {
    /// Builds the configuration for the runtime's current tenants.
    pub fn new(
        identity: ServerIdentity,
        runtime: Arc<crate::runtime::Runtime>,
    ) -> Result<TenantTls, TlsError> {
        let for_config = runtime.config();
        let config = build_tenant_config(&identity, &runtime, &for_config)?;
        Ok(TenantTls {
            identity,
            runtime,
            built: ArcSwap::from_pointee(BuiltTls { for_config, config }),
        })
    }
}

impl TlsSource for TenantTls {
    fn current(&self) -> Arc<ServerConfig> {
        let built = self.built.load();
        let now = self.runtime.config();
        if Arc::ptr_eq(&built.for_config, &now) {
            return built.config.clone();
        }
        match build_tenant_config(&self.identity, &self.runtime, &now) {
            Ok(config) => {
                self.built.store(Arc::new(BuiltTls {
                    for_config: now,
                    config: config.clone(),
                }));
                config
            }
            Err(error) => {
                tracing::warn!(%error, "cannot rebuild the TLS configuration for the new tenants; keeping the previous one");
                built.config.clone()
            }
        }
    }
}

/// The server configuration trusting the CA of every tenant in `config` for client
/// certificates (a tenant whose CA cannot be loaded is left out, with a warning).
fn build_tenant_config(
    identity: &ServerIdentity,
    runtime: &crate::runtime::Runtime,
    config: &crate::runtime::RuntimeConfig,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut roots = Vec::new();
    for tenant in config.tenants.keys() {
        match runtime.auth.cas.get(tenant) {
            Ok(ca) => roots.push(ca.cert_der().clone()),
            Err(error) => {
                tracing::warn!(tenant = %tenant, %error, "tenant CA unavailable; its client certificates are not accepted");
            }
        }
    }
    server_config_with_client_roots(identity.certs.clone(), identity.key.clone_key(), &roots)
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
    server_config_with_client_roots(certs, key, &[])
}

/// Like [`server_config`], and asks clients for a certificate, verified against `client_roots`
/// when presented (optional: clients without one are let through to other authentication).
/// No roots: no certificate is asked for.
pub fn server_config_with_client_roots(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: &[CertificateDer<'static>],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = if client_roots.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for root in client_roots {
            roots
                .add(root.clone())
                .map_err(|e| TlsError::Config(format!("client CA: {e}")))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
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
