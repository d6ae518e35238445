//! PKCS#12 keystores of issued client certificates (PBES2 with AES-256 and HMAC-SHA256, one
//! private-key entry with the chain leaf → CA), and reading one back.
//!
//! Invariants: an empty password is refused (SAP's page asks for one); errors never include the
//! password or key bytes.

use p12_keystore::{
    Certificate, KeyStore, KeyStoreEntry, Pkcs12ImportPolicy, PrivateKey, PrivateKeyChain,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use sha2::Digest;

use super::CertError;

/// Alias of the private-key entry in the keystores written here.
pub const KEY_ALIAS: &str = "idrelay-client";

/// A keystore's private-key entry (DER).
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs12Contents {
    /// Leaf first, then the CA.
    pub chain_der: Vec<Vec<u8>>,
    pub key_der: Vec<u8>,
}

impl std::fmt::Debug for Pkcs12Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs12Contents")
            .field("chain", &self.chain_der.len())
            .field("key_der", &"<redacted>")
            .finish()
    }
}

/// A PKCS#12 keystore holding `key_pem` (PKCS#8) with the chain `cert_pem` → `ca_pem`,
/// protected by `password`.
pub fn pkcs12(
    cert_pem: &str,
    key_pem: &str,
    ca_pem: &str,
    password: &str,
) -> Result<Vec<u8>, CertError> {
    if password.is_empty() {
        return Err(CertError::EmptyPassword);
    }
    let invalid = |what: &'static str| {
        move |e: rustls_pki_types::pem::Error| CertError::Invalid {
            what,
            reason: match e {
                rustls_pki_types::pem::Error::NoItemsFound => "no PEM item found".into(),
                _ => "malformed PEM".into(),
            },
        }
    };
    let leaf =
        CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(invalid("certificate"))?;
    let ca =
        CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(invalid("CA certificate"))?;
    let key =
        PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).map_err(invalid("private key"))?;
    let p12 = |e: p12_keystore::error::Error| CertError::Pkcs12(e.to_string());
    let leaf_cert = Certificate::from_der(leaf.as_ref()).map_err(p12)?;
    let ca_cert = Certificate::from_der(ca.as_ref()).map_err(p12)?;
    let private_key = PrivateKey::from_der(key.secret_pkcs8_der())
        .map_err(|_| CertError::Pkcs12("invalid private key".into()))?;
    let local_key_id = sha2::Sha256::digest(leaf.as_ref()).to_vec();
    let chain = PrivateKeyChain::new(local_key_id, private_key, [leaf_cert, ca_cert]);
    let mut store = KeyStore::new();
    store.add_entry(KEY_ALIAS, KeyStoreEntry::PrivateKeyChain(chain));
    store.writer(password).write().map_err(p12)
}

/// Reads the private-key entry of a PKCS#12 keystore with `password`.
pub fn read_pkcs12(data: &[u8], password: &str) -> Result<Pkcs12Contents, CertError> {
    let store = KeyStore::from_pkcs12(data, password, Pkcs12ImportPolicy::Strict).map_err(|e| {
        CertError::Pkcs12(format!(
            "cannot open the keystore (wrong password or not PKCS#12): {e}"
        ))
    })?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| CertError::Pkcs12("the keystore holds no private key".into()))?;
    Ok(Pkcs12Contents {
        chain_der: chain.certs().iter().map(|c| c.as_der().to_vec()).collect(),
        key_der: chain.key().as_der().to_vec(),
    })
}
