//! Keeping the client certificate of one `certificate`-authenticated real-time target: a
//! [`ClientCertificateRequest`] (tenant, common name, technical admin, keystore password, output
//! Secret) is satisfied by a certificate of the tenant CA, written to the output Secret
//! (`tls.crt`, `tls.key`, `ca.crt`, `keystore.p12`); [`ensure_client_certificate`] reuses the
//! stored one while it still fits and issues a new one otherwise.
//!
//! Rule ([`decide`], pure): the stored certificate is reused when it is complete, signed by the
//! current tenant CA (same `ca.crt`), has exactly the requested subject CN and does not need
//! renewal ([`needs_renewal`]); when only the keystore does not open with the password (the
//! password changed) the keystore alone is rewritten; otherwise a new key and certificate are
//! issued. So a restart keeps the certificate, a change of common name, admin or CA replaces it,
//! and it is renewed [`super::RENEW_BEFORE_DAYS`] days before it expires.
//!
//! Invariants: the password and the private key never reach `Debug` output or errors; nothing
//! is written outside `<data-dir>/secrets/<namespace>/<name>/`.

use std::path::Path;

use super::{
    CLIENT_VALIDITY_DAYS, CertError, IssuedCertificate, SecretFiles, TenantCa, Validity,
    certificate_not_after, issue_client_certificate, needs_renewal, pkcs12, read_pkcs12,
    subject_common_name,
};

/// What a `certificate`-authenticated target needs from the tenant CA.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificateRequest {
    pub tenant: String,
    /// The common name given in the spec (the subject CN adds `(<admin user id>)`).
    pub common_name: String,
    /// The technical administrator's user id the certificate is trusted for.
    pub admin_user_id: String,
    /// The PKCS#12 keystore password (from a Secret).
    pub password: String,
    /// Namespace and name of the output Secret.
    pub output_namespace: String,
    pub output_secret: String,
}

impl std::fmt::Debug for ClientCertificateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificateRequest")
            .field("tenant", &self.tenant)
            .field("common_name", &self.common_name)
            .field("admin_user_id", &self.admin_user_id)
            .field("password", &"<redacted>")
            .field("output_namespace", &self.output_namespace)
            .field("output_secret", &self.output_secret)
            .finish()
    }
}

impl ClientCertificateRequest {
    /// The subject CN `<common name>(<admin user id>)` (or why it is not allowed).
    pub fn subject(&self) -> Result<String, CertError> {
        subject_common_name(&self.common_name, &self.admin_user_id)
    }
}

/// What to do with the stored output Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It fits: use it as it is.
    Reuse(IssuedCertificate),
    /// The certificate fits but the keystore does not open with the password: rewrite it.
    RewriteKeystore(IssuedCertificate),
    /// Issue a new key and certificate.
    Issue,
}

/// Decides from the stored files, the request, the current CA certificate and `now` (pure).
pub fn decide(
    stored: &SecretFiles,
    request: &ClientCertificateRequest,
    ca_pem: &str,
    now: jiff::Timestamp,
) -> Decision {
    let (Some(cert_pem), Some(key_pem), Some(stored_ca)) =
        (&stored.tls_crt, &stored.tls_key, &stored.ca_crt)
    else {
        return Decision::Issue;
    };
    if stored_ca.trim() != ca_pem.trim() {
        return Decision::Issue;
    }
    let Ok(subject) = request.subject() else {
        return Decision::Issue;
    };
    if certificate_subject_cn(cert_pem).ok().as_deref() != Some(subject.as_str()) {
        return Decision::Issue;
    }
    let Ok(not_after) = certificate_not_after(cert_pem) else {
        return Decision::Issue;
    };
    if needs_renewal(not_after, now) {
        return Decision::Issue;
    }
    let issued = IssuedCertificate {
        cert_pem: cert_pem.clone(),
        key_pem: key_pem.clone(),
        ca_pem: stored_ca.clone(),
        not_after,
    };
    let keystore_opens = stored
        .keystore_p12
        .as_deref()
        .is_some_and(|p12| read_pkcs12(p12, &request.password).is_ok());
    if keystore_opens {
        Decision::Reuse(issued)
    } else {
        Decision::RewriteKeystore(issued)
    }
}

/// The client certificate for `request`, signed by `ca`: the stored one of the output Secret
/// in `data_dir` when it still fits ([`decide`]), else a new one, written there. Without a
/// data directory the certificate is issued in memory only.
pub fn ensure_client_certificate(
    ca: &TenantCa,
    data_dir: Option<&Path>,
    request: &ClientCertificateRequest,
    now: jiff::Timestamp,
) -> Result<IssuedCertificate, CertError> {
    let subject = request.subject()?;
    let stored = match data_dir {
        Some(dir) => super::secret_files::read_secret_files(
            dir,
            &request.output_namespace,
            &request.output_secret,
        )?,
        None => SecretFiles::default(),
    };
    let (issued, write) = match decide(&stored, request, ca.cert_pem(), now) {
        Decision::Reuse(issued) => (issued, false),
        Decision::RewriteKeystore(issued) => (issued, true),
        Decision::Issue => {
            let issued = issue_client_certificate(
                ca,
                &request.common_name,
                &request.admin_user_id,
                Validity::starting(now, CLIENT_VALIDITY_DAYS),
            )?;
            tracing::info!(tenant = %request.tenant, subject = %subject,
                secret = %format!("{}/{}", request.output_namespace, request.output_secret),
                not_after = %issued.not_after, "client certificate issued");
            (issued, true)
        }
    };
    if write && let Some(dir) = data_dir {
        let keystore = pkcs12(
            &issued.cert_pem,
            &issued.key_pem,
            &issued.ca_pem,
            &request.password,
        )?;
        super::write_secret_files(
            dir,
            &request.output_namespace,
            &request.output_secret,
            &SecretFiles::issued(&issued, keystore),
        )?;
    }
    Ok(issued)
}

/// The subject CN of the first certificate in `cert_pem`.
pub fn certificate_subject_cn(cert_pem: &str) -> Result<String, CertError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let invalid = |reason: String| CertError::Invalid {
        what: "certificate",
        reason,
    };
    let der =
        CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| invalid(e.to_string()))?;
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|attr| attr.as_str().ok())
        .map(str::to_string)
        .ok_or_else(|| invalid("no subject common name".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(common_name: &str, password: &str) -> ClientCertificateRequest {
        ClientCertificateRequest {
            tenant: "acme".into(),
            common_name: common_name.into(),
            admin_user_id: "T000001".into(),
            password: password.into(),
            output_namespace: "default".into(),
            output_secret: "push-cert".into(),
        }
    }

    #[test]
    fn issues_once_then_reuses_and_reissues_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let now = jiff::Timestamp::now();
        let ca = TenantCa::generate("acme", now).unwrap();
        let first =
            ensure_client_certificate(&ca, Some(dir.path()), &request("RT", "pw1"), now).unwrap();
        assert_eq!(
            certificate_subject_cn(&first.cert_pem).unwrap(),
            "RT(T000001)"
        );
        let out = dir.path().join("secrets/default/push-cert");
        for key in ["tls.crt", "tls.key", "ca.crt", "keystore.p12"] {
            assert!(out.join(key).is_file(), "{key}");
        }
        let p12 = std::fs::read(out.join("keystore.p12")).unwrap();
        assert!(read_pkcs12(&p12, "pw1").is_ok());
        // Same request: the stored certificate is kept (a restart keeps trust).
        let again =
            ensure_client_certificate(&ca, Some(dir.path()), &request("RT", "pw1"), now).unwrap();
        assert_eq!(again, first);
        // New password: same certificate, keystore rewritten with the new password.
        let repassed =
            ensure_client_certificate(&ca, Some(dir.path()), &request("RT", "pw2"), now).unwrap();
        assert_eq!(repassed.cert_pem, first.cert_pem);
        let p12 = std::fs::read(out.join("keystore.p12")).unwrap();
        assert!(read_pkcs12(&p12, "pw2").is_ok());
        assert!(read_pkcs12(&p12, "pw1").is_err());
        // New common name: a new certificate.
        let renamed =
            ensure_client_certificate(&ca, Some(dir.path()), &request("RT2", "pw2"), now).unwrap();
        assert_ne!(renamed.cert_pem, first.cert_pem);
        assert_eq!(
            certificate_subject_cn(&renamed.cert_pem).unwrap(),
            "RT2(T000001)"
        );
        // Another CA (the tenant's CA was replaced): a new certificate.
        let other = TenantCa::generate("acme", now).unwrap();
        let reissued =
            ensure_client_certificate(&other, Some(dir.path()), &request("RT2", "pw2"), now)
                .unwrap();
        assert_ne!(reissued.cert_pem, renamed.cert_pem);
        assert_eq!(reissued.ca_pem, other.cert_pem());
    }

    #[test]
    fn renews_before_expiry() {
        let now = jiff::Timestamp::now();
        let ca = TenantCa::generate("acme", now).unwrap();
        let req = request("RT", "pw");
        let issued = ensure_client_certificate(&ca, None, &req, now).unwrap();
        let p12 = pkcs12(&issued.cert_pem, &issued.key_pem, &issued.ca_pem, "pw").unwrap();
        let stored = SecretFiles::issued(&issued, p12);
        assert!(matches!(
            decide(&stored, &req, ca.cert_pem(), now),
            Decision::Reuse(_)
        ));
        let later = now
            + jiff::SignedDuration::from_hours(
                24 * (CLIENT_VALIDITY_DAYS - super::super::RENEW_BEFORE_DAYS + 1),
            );
        assert_eq!(decide(&stored, &req, ca.cert_pem(), later), Decision::Issue);
        assert_eq!(
            decide(&SecretFiles::default(), &req, ca.cert_pem(), now),
            Decision::Issue
        );
    }

    #[test]
    fn too_long_subject_is_refused_and_debug_hides_the_password() {
        let now = jiff::Timestamp::now();
        let ca = TenantCa::generate("acme", now).unwrap();
        let long = request(&"c".repeat(60), "hunter2");
        let err = ensure_client_certificate(&ca, None, &long, now).unwrap_err();
        assert!(matches!(err, CertError::CommonNameTooLong { .. }));
        assert!(!format!("{long:?}").contains("hunter2"));
    }
}
