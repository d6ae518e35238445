//! The TLS configuration of outbound clients (target systems, real-time targets, connection
//! checks): the platform's trust store, loaded once per process and shared by every client,
//! plus per client an optional client certificate and optional extra trusted CAs.
//!
//! Why: building the platform verifier parses every system root certificate; with one verifier
//! per client, hundreds of targets held hundreds of copies of the trust store.
//!
//! Invariants: server certificates are always verified (no "insecure" mode); a private key never
//! reaches an error message; ALPN offers `h2` and `http/1.1`, as reqwest does by default.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a TLS configuration could not be built (never contains key material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsConfigError {
    #[error("the system trust store could not be loaded: {0}")]
    TrustStore(String),
    #[error("the trusted CA certificates are not valid PEM")]
    TrustedCa,
    #[error("the client certificate or its private key is not valid PEM")]
    Identity,
}

/// A client certificate chain and its private key, PEM.
#[derive(Debug, Clone, Copy)]
pub struct ClientIdentity<'a> {
    pub certificate_pem: &'a str,
    pub private_key_pem: &'a str,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The platform verifier over the system roots, built once per process.
fn shared_verifier() -> Result<Arc<dyn ServerCertVerifier>, TlsConfigError> {
    static SHARED: OnceLock<Result<Arc<rustls_platform_verifier::Verifier>, String>> =
        OnceLock::new();
    SHARED
        .get_or_init(|| {
            rustls_platform_verifier::Verifier::new(provider())
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map(|v| v as Arc<dyn ServerCertVerifier>)
        .map_err(TlsConfigError::TrustStore)
}

/// The certificates of a PEM bundle; `None` when it holds none or does not parse.
fn pem_certificates(pem: &str) -> Option<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|certs| !certs.is_empty())
}

/// The rustls configuration of one client: the shared platform verifier (or, with
/// `trusted_ca_pem`, a verifier over the system roots plus those CAs), and `identity` as the
/// client certificate when given.
pub fn client_config(
    identity: Option<ClientIdentity<'_>>,
    trusted_ca_pem: Option<&str>,
) -> Result<rustls::ClientConfig, TlsConfigError> {
    let provider = provider();
    let verifier = match trusted_ca_pem {
        None => shared_verifier()?,
        Some(pem) => {
            let extra = pem_certificates(pem).ok_or(TlsConfigError::TrustedCa)?;
            Arc::new(
                rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
                    .map_err(|_| TlsConfigError::TrustedCa)?,
            )
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError::TrustStore(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let chain = pem_certificates(id.certificate_pem).ok_or(TlsConfigError::Identity)?;
            let key = PrivateKeyDer::from_pem_slice(id.private_key_pem.as_bytes())
                .map_err(|_| TlsConfigError::Identity)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|_| TlsConfigError::Identity)?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn clients_without_extra_trust_share_one_verifier() {
        client_config(None, None).unwrap();
        client_config(None, None).unwrap();
        let va = shared_verifier().unwrap();
        let vb = shared_verifier().unwrap();
        assert!(Arc::ptr_eq(&va, &vb));
    }

    #[test]
    fn identity_and_trusted_ca_are_checked() {
        let (cert, key) = self_signed();
        let identity = ClientIdentity {
            certificate_pem: &cert,
            private_key_pem: &key,
        };
        let config = client_config(Some(identity), Some(&cert)).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
        assert_eq!(config.alpn_protocols[1], b"http/1.1");
        assert_eq!(
            client_config(None, Some("not pem")).unwrap_err(),
            TlsConfigError::TrustedCa
        );
        let bad = ClientIdentity {
            certificate_pem: &cert,
            private_key_pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        };
        let error = client_config(Some(bad), None).unwrap_err();
        assert_eq!(error, TlsConfigError::Identity);
        assert!(!error.to_string().contains("AAAA"));
    }
}
