//! [`TenantCa`]: a tenant's certificate authority (ECDSA P-256, valid 10 years, subject CN
//! `idrelay tenant <name> CA`), persisted as `<data-dir>/ca/<tenant>/ca.crt` (PEM, the file that
//! publishes the CA in files mode) and `ca.key` (PKCS#8 PEM, 0600).
//!
//! Invariants: an existing CA is always loaded, never regenerated, so restarts keep trust; the
//! issuer name of every certificate it signs is rebuilt from the tenant name exactly as when the
//! CA was created; the key never appears in `Debug` output or errors.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::{CertError, is_path_segment, write_private_file};

/// Folder of the tenant CAs inside the data directory.
pub const CA_DIR: &str = "ca";
/// Validity of a tenant CA.
pub const CA_VALIDITY_DAYS: i64 = 3652;

/// A tenant's certificate authority.
pub struct TenantCa {
    tenant: String,
    key: KeyPair,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    /// Verifies client certificates against this CA only (chain, validity, client-auth usage).
    verifier: Arc<dyn ClientCertVerifier>,
}

impl std::fmt::Debug for TenantCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantCa")
            .field("tenant", &self.tenant)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl TenantCa {
    /// Loads the CA of `tenant` from `<data_dir>/ca/<tenant>/`, creating it when the folder has
    /// neither file.
    pub fn load_or_create(data_dir: &Path, tenant: &str) -> Result<TenantCa, CertError> {
        if !is_path_segment(tenant) {
            return Err(CertError::InvalidPathSegment(tenant.to_string()));
        }
        let dir = data_dir.join(CA_DIR).join(tenant);
        let cert_path = dir.join("ca.crt");
        let key_path = dir.join("ca.key");
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                let cert_pem = std::fs::read_to_string(&cert_path)
                    .map_err(|e| CertError::io(&cert_path, e))?;
                let key_pem =
                    std::fs::read_to_string(&key_path).map_err(|e| CertError::io(&key_path, e))?;
                Self::from_pem(tenant, &cert_pem, &key_pem)
            }
            (false, false) => {
                let ca = Self::generate(tenant, jiff::Timestamp::now())?;
                std::fs::create_dir_all(&dir).map_err(|e| CertError::io(&dir, e))?;
                write_private_file(&key_path, ca.key.serialize_pem().as_bytes())?;
                write_private_file(&cert_path, ca.cert_pem.as_bytes())?;
                tracing::info!(tenant, path = %cert_path.display(), "tenant CA created");
                Ok(ca)
            }
            _ => Err(CertError::IncompleteCa(dir.display().to_string())),
        }
    }

    /// A new CA for `tenant`, valid from an hour before `now` for [`CA_VALIDITY_DAYS`] (not
    /// persisted: tests and in-memory runtimes).
    pub fn generate(tenant: &str, now: jiff::Timestamp) -> Result<TenantCa, CertError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CertError::Generate(e.to_string()))?;
        let mut params = ca_params(tenant);
        super::client::set_validity(
            &mut params,
            now - jiff::SignedDuration::from_hours(1),
            now + jiff::SignedDuration::from_hours(24 * CA_VALIDITY_DAYS),
        )?;
        params.serial_number = Some(super::client::random_serial());
        let cert = params
            .self_signed(&key)
            .map_err(|e| CertError::Generate(e.to_string()))?;
        Self::assemble(tenant, key, cert.pem(), cert.der().clone())
    }

    /// A CA from its PEM certificate and PKCS#8 PEM key.
    pub fn from_pem(tenant: &str, cert_pem: &str, key_pem: &str) -> Result<TenantCa, CertError> {
        let key = KeyPair::from_pem(key_pem).map_err(|_| CertError::Invalid {
            what: "CA private key",
            reason: "not a PKCS#8 PEM key".into(),
        })?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| {
            CertError::Invalid {
                what: "CA certificate",
                reason: e.to_string(),
            }
        })?;
        Self::assemble(tenant, key, cert_pem.to_string(), cert_der)
    }

    fn assemble(
        tenant: &str,
        key: KeyPair,
        cert_pem: String,
        cert_der: CertificateDer<'static>,
    ) -> Result<TenantCa, CertError> {
        let mut roots = RootCertStore::empty();
        roots
            .add(cert_der.clone())
            .map_err(|e| CertError::Invalid {
                what: "CA certificate",
                reason: e.to_string(),
            })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| CertError::Invalid {
                what: "CA certificate",
                reason: e.to_string(),
            })?;
        Ok(TenantCa {
            tenant: tenant.to_string(),
            key,
            cert_pem,
            cert_der,
            verifier,
        })
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The CA certificate as PEM (what `status.caCertificate` and `ca.crt` publish).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The verifier of client certificates against this CA alone.
    pub fn verifier(&self) -> &Arc<dyn ClientCertVerifier> {
        &self.verifier
    }

    /// The signer of client certificates (same issuer name and key as the CA certificate).
    pub(crate) fn issuer(&self) -> Issuer<'static, &KeyPair> {
        Issuer::new(ca_params(&self.tenant), &self.key)
    }

    /// Where the CA of `tenant` lives in `data_dir`.
    pub fn dir(data_dir: &Path, tenant: &str) -> PathBuf {
        data_dir.join(CA_DIR).join(tenant)
    }
}

/// The CA's certificate parameters that do not depend on time (subject and usages); identical
/// on every call for one tenant, so a loaded CA signs with the same issuer name.
fn ca_params(tenant: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "idrelay");
    name.push(DnType::CommonName, format!("idrelay tenant {tenant} CA"));
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_reloads_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let first = TenantCa::load_or_create(dir.path(), "acme").unwrap();
        let again = TenantCa::load_or_create(dir.path(), "acme").unwrap();
        assert_eq!(first.cert_pem(), again.cert_pem());
        assert!(!format!("{first:?}").contains("BEGIN"));
        let key = dir.path().join("ca/acme/ca.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = TenantCa::load_or_create(dir.path(), "apps").unwrap();
        assert_ne!(first.cert_pem(), other.cert_pem());
    }

    #[test]
    fn refuses_incomplete_ca_and_bad_tenant_names() {
        let dir = tempfile::tempdir().unwrap();
        TenantCa::load_or_create(dir.path(), "acme").unwrap();
        std::fs::remove_file(dir.path().join("ca/acme/ca.crt")).unwrap();
        assert!(matches!(
            TenantCa::load_or_create(dir.path(), "acme"),
            Err(CertError::IncompleteCa(_))
        ));
        assert!(dir.path().join("ca/acme/ca.key").exists());
        assert!(matches!(
            TenantCa::load_or_create(dir.path(), "../x"),
            Err(CertError::InvalidPathSegment(_))
        ));
    }
}
