//! Which technical administrator a verified client certificate authenticates, and the registry
//! of tenant CAs ([`TenantCas`]) that the TLS listener and the principal extractor share.
//!
//! Rule (see the module doc of [`super`]): the certificate must chain to the verifying tenant's
//! CA and be valid now; its subject CN `<common name>(<user id>)` names the admin by user id.
//! Anything else is refused with a [`CertRefusal`] (the client only ever sees a 401).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, UnixTime};

use super::{CertError, TenantCa, user_id_of_common_name};
use crate::runtime::{AdminConfig, TenantConfig};

/// Why a client certificate does not authenticate anyone (for debug logs and tests).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertRefusal {
    #[error("no client certificate")]
    NoCertificate,
    #[error("the certificate is not valid for this tenant's CA: {0}")]
    NotTrusted(String),
    #[error("the certificate's subject has no common name of the form <name>(<user id>)")]
    NoUserId,
    #[error("no technical admin with the certificate's user id")]
    UnknownAdmin,
}

/// The admin of `tenant` that the client certificate `chain` (leaf first) authenticates at
/// `now`, verified against `ca` (the tenant's own CA).
pub fn certificate_admin<'t>(
    tenant: &'t TenantConfig,
    ca: &TenantCa,
    chain: &[CertificateDer<'static>],
    now: jiff::Timestamp,
) -> Result<&'t AdminConfig, CertRefusal> {
    let (leaf, intermediates) = chain.split_first().ok_or(CertRefusal::NoCertificate)?;
    let secs = u64::try_from(now.as_second()).unwrap_or(0);
    ca.verifier()
        .verify_client_cert(
            leaf,
            intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)),
        )
        .map_err(|e| CertRefusal::NotTrusted(e.to_string()))?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|_| CertRefusal::NoUserId)?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|attr| attr.as_str().ok())
        .ok_or(CertRefusal::NoUserId)?;
    let user_id = user_id_of_common_name(cn).ok_or(CertRefusal::NoUserId)?;
    tenant
        .admins
        .values()
        .find(|admin| admin.user_id == user_id)
        .ok_or(CertRefusal::UnknownAdmin)
}

/// The tenant CAs, loaded (or created) on first use and kept: persisted under the data
/// directory, or in memory only (tests, a runtime without a data directory).
#[derive(Debug)]
pub struct TenantCas {
    data_dir: Option<PathBuf>,
    loaded: parking_lot::Mutex<BTreeMap<String, Arc<TenantCa>>>,
}

impl TenantCas {
    /// CAs persisted in `<data_dir>/ca/<tenant>/`.
    pub fn persistent(data_dir: impl Into<PathBuf>) -> TenantCas {
        TenantCas {
            data_dir: Some(data_dir.into()),
            loaded: parking_lot::Mutex::new(BTreeMap::new()),
        }
    }

    /// CAs that live as long as this value.
    pub fn in_memory() -> TenantCas {
        TenantCas {
            data_dir: None,
            loaded: parking_lot::Mutex::new(BTreeMap::new()),
        }
    }

    /// The data directory the CAs (and the files-mode output Secrets) live in; `None` in memory.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.data_dir.as_deref()
    }

    /// The CA certificate (PEM) of each of `tenants`, for `status.caCertificate` of the
    /// Tenants (loading or creating each CA on first use); a tenant whose CA cannot be loaded
    /// is left out (and logged).
    pub fn certificates<'a>(
        &self,
        tenants: impl IntoIterator<Item = &'a str>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for tenant in tenants {
            match self.get(tenant) {
                Ok(ca) => {
                    out.insert(tenant.to_string(), ca.cert_pem().to_string());
                }
                Err(error) => tracing::warn!(tenant, %error, "cannot load the tenant CA"),
            }
        }
        out
    }

    /// The CA of `tenant`, loading or creating it on first use.
    pub fn get(&self, tenant: &str) -> Result<Arc<TenantCa>, CertError> {
        let mut loaded = self.loaded.lock();
        if let Some(ca) = loaded.get(tenant) {
            return Ok(ca.clone());
        }
        let ca = Arc::new(match &self.data_dir {
            Some(dir) => TenantCa::load_or_create(dir, tenant)?,
            None => TenantCa::generate(tenant, jiff::Timestamp::now())?,
        });
        loaded.insert(tenant.to_string(), ca.clone());
        Ok(ca)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Validity, issue_client_certificate, max_common_name_len, needs_renewal};
    use super::super::{pkcs12, read_pkcs12, subject_common_name};
    use super::*;
    use rustls_pki_types::pem::PemObject;

    fn admin(client_id: &str, user_id: &str) -> AdminConfig {
        AdminConfig {
            resource: format!("default/{client_id}"),
            display_name: client_id.into(),
            client_id: client_id.into(),
            user_id: user_id.into(),
            permissions: Default::default(),
            secrets: Vec::new(),
            lock_after_failed_logons: false,
        }
    }

    fn tenant() -> TenantConfig {
        let mut t = TenantConfig {
            name: "acme".into(),
            ..TenantConfig::default()
        };
        t.admins.insert("prov".into(), admin("prov", "a1b2"));
        t.admins.insert("other".into(), admin("other", "z9"));
        t
    }

    fn chain(pem: &str) -> Vec<CertificateDer<'static>> {
        vec![CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()]
    }

    #[test]
    fn common_name_format_and_limit() {
        assert_eq!(subject_common_name("RT", "a1b2").unwrap(), "RT(a1b2)");
        let user = "u".repeat(10);
        let fits = "c".repeat(max_common_name_len(10));
        assert_eq!(
            subject_common_name(&fits, &user).unwrap().chars().count(),
            64
        );
        let err = subject_common_name(&format!("{fits}x"), &user).unwrap_err();
        assert!(matches!(err, CertError::CommonNameTooLong { len: 65, .. }));
        assert!(
            err.to_string()
                .starts_with("The maximum length of the CN is 64 characters")
        );
        assert_eq!(max_common_name_len(70), 0);
        assert_eq!(super::super::STATIC_MAX_COMMON_NAME_LEN, 55);
        assert_eq!(max_common_name_len(36), 26);
        assert!(subject_common_name("", "u").is_err());
        assert!(subject_common_name("x", "u(1)").is_err());
        assert_eq!(user_id_of_common_name("My (app)(a1b2)"), Some("a1b2"));
        assert_eq!(user_id_of_common_name("(a1b2)"), None);
        assert_eq!(user_id_of_common_name("plain"), None);
    }

    #[test]
    fn issued_certificate_maps_to_its_admin() {
        let now = jiff::Timestamp::now();
        let ca = TenantCa::generate("acme", now).unwrap();
        let issued =
            issue_client_certificate(&ca, "RT", "a1b2", Validity::starting(now, 365)).unwrap();
        assert!(issued.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(issued.ca_pem, ca.cert_pem());
        assert!(!format!("{issued:?}").contains("PRIVATE"));
        let t = tenant();
        let found = certificate_admin(&t, &ca, &chain(&issued.cert_pem), now).unwrap();
        assert_eq!(found.client_id, "prov");
        assert_eq!(
            super::super::certificate_not_after(&issued.cert_pem).unwrap(),
            issued.not_after
        );
    }

    #[test]
    fn foreign_expired_and_unknown_certificates_are_refused() {
        let now = jiff::Timestamp::now();
        let acme = TenantCa::generate("acme", now).unwrap();
        let apps = TenantCa::generate("apps", now).unwrap();
        let t = tenant();
        let foreign =
            issue_client_certificate(&apps, "RT", "a1b2", Validity::starting(now, 30)).unwrap();
        assert!(matches!(
            certificate_admin(&t, &acme, &chain(&foreign.cert_pem), now),
            Err(CertRefusal::NotTrusted(_))
        ));
        let expired = issue_client_certificate(
            &acme,
            "RT",
            "a1b2",
            Validity {
                not_before: now - jiff::SignedDuration::from_hours(48),
                not_after: now - jiff::SignedDuration::from_hours(24),
            },
        )
        .unwrap();
        assert!(matches!(
            certificate_admin(&t, &acme, &chain(&expired.cert_pem), now),
            Err(CertRefusal::NotTrusted(_))
        ));
        let stranger =
            issue_client_certificate(&acme, "RT", "nobody", Validity::starting(now, 30)).unwrap();
        assert_eq!(
            certificate_admin(&t, &acme, &chain(&stranger.cert_pem), now),
            Err(CertRefusal::UnknownAdmin)
        );
        assert_eq!(
            certificate_admin(&t, &acme, &[], now),
            Err(CertRefusal::NoCertificate)
        );
    }

    #[test]
    fn pkcs12_round_trips_with_the_password() {
        let now = jiff::Timestamp::now();
        let ca = TenantCa::generate("acme", now).unwrap();
        let issued =
            issue_client_certificate(&ca, "RT", "a1b2", Validity::starting(now, 365)).unwrap();
        let p12 = pkcs12(&issued.cert_pem, &issued.key_pem, &issued.ca_pem, "s3cret").unwrap();
        let contents = read_pkcs12(&p12, "s3cret").unwrap();
        let leaf = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
        assert_eq!(contents.chain_der[0], leaf.as_ref());
        assert_eq!(contents.chain_der[1], ca.cert_der().as_ref());
        let key = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(issued.key_pem.as_bytes())
            .unwrap();
        assert_eq!(contents.key_der, key.secret_pkcs8_der());
        let err = read_pkcs12(&p12, "not-the-pass").unwrap_err().to_string();
        assert!(!err.contains("not-the-pass"), "{err}");
        assert!(matches!(
            pkcs12(&issued.cert_pem, &issued.key_pem, &issued.ca_pem, ""),
            Err(CertError::EmptyPassword)
        ));
    }

    #[test]
    fn renewal_rule() {
        let now = jiff::Timestamp::now();
        let day = jiff::SignedDuration::from_hours(24);
        assert!(!needs_renewal(now + day * 31, now));
        assert!(needs_renewal(now + day * 29, now));
        assert!(needs_renewal(now - day, now));
    }

    #[test]
    fn registry_loads_each_ca_once() {
        let dir = tempfile::tempdir().unwrap();
        let cas = TenantCas::persistent(dir.path());
        let a = cas.get("acme").unwrap();
        assert!(Arc::ptr_eq(&a, &cas.get("acme").unwrap()));
        let reloaded = TenantCas::persistent(dir.path()).get("acme").unwrap();
        assert_eq!(a.cert_pem(), reloaded.cert_pem());
        assert!(TenantCas::in_memory().get("acme").is_ok());
        let published = cas.certificates(["acme", "../bad"]);
        assert_eq!(published.len(), 1);
        assert_eq!(published["acme"], a.cert_pem());
    }
}
