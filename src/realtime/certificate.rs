//! The client certificate of a `certificate`-authenticated real-time target, on the runtime
//! side: issued (or reused) by the tenant CA through
//! [`crate::auth::certificates::ensure_client_certificate`], written to the output Secret (files
//! mode: `<data-dir>/secrets/<namespace>/<name>/`), observed by reconcile through
//! [`super::PushHealth::certificate`] (which then puts it into the target's `auth`), and renewed
//! when [`needs_renewal`] says so.
//!
//! Invariants: the private key only travels inside [`ObservedCertificate`] and
//! [`crate::runtime::OutboundAuth`] (both with redacted `Debug`); errors carry no key material.

use std::sync::Arc;
use std::time::Duration;

use super::RealTimeTargetConfig;
use crate::auth::certificates::{
    ClientCertificateRequest, Decision, IssuedCertificate, SecretFiles, TenantCa, decide,
    ensure_client_certificate, needs_renewal,
};
use crate::runtime::{OutboundAuth, Runtime};

/// Wait before trying again when the tenant CA could not issue the certificate.
pub const RETRY: Duration = Duration::from_secs(30);
/// Longest single sleep while waiting for the renewal date (clock changes are noticed).
const RENEWAL_CHECK: Duration = Duration::from_secs(6 * 3600);

/// The certificate a target authenticates with, as the pusher reports it to reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedCertificate {
    /// The subject CN, `<common name>(<admin user id>)`.
    pub subject: String,
    pub issued: IssuedCertificate,
}

/// The certificate for `request`: with a data directory, the output Secret's (reused while it
/// fits, else issued and written); in memory, the one already in `config.auth` while it fits,
/// else a new one. Runs the file I/O and key generation off the async threads.
pub async fn ensure_for(
    runtime: Arc<Runtime>,
    config: Arc<RealTimeTargetConfig>,
    request: ClientCertificateRequest,
) -> Result<ObservedCertificate, String> {
    let work = move || -> Result<ObservedCertificate, String> {
        let subject = request.subject().map_err(|e| e.to_string())?;
        let ca = runtime
            .auth
            .cas
            .get(&request.tenant)
            .map_err(|e| e.to_string())?;
        let now = jiff::Timestamp::now();
        let data_dir = runtime.auth.cas.data_dir();
        if data_dir.is_none()
            && let Some(current) = reusable(&config.auth, &request, &ca, now)
        {
            return Ok(ObservedCertificate {
                subject,
                issued: current,
            });
        }
        let issued =
            ensure_client_certificate(&ca, data_dir, &request, now).map_err(|e| e.to_string())?;
        Ok(ObservedCertificate { subject, issued })
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("certificate task failed: {e}"))?
}

/// The certificate in `auth` when it still fits `request` at `now` and chains to `ca` (pure).
pub fn reusable(
    auth: &OutboundAuth,
    request: &ClientCertificateRequest,
    ca: &TenantCa,
    now: jiff::Timestamp,
) -> Option<IssuedCertificate> {
    use rustls_pki_types::pem::PemObject;
    let OutboundAuth::ClientCertificate {
        certificate_pem,
        private_key_pem,
    } = auth
    else {
        return None;
    };
    let leaf = rustls_pki_types::CertificateDer::from_pem_slice(certificate_pem.as_bytes()).ok()?;
    let secs = u64::try_from(now.as_second()).ok()?;
    ca.verifier()
        .verify_client_cert(
            &leaf,
            &[],
            rustls_pki_types::UnixTime::since_unix_epoch(Duration::from_secs(secs)),
        )
        .ok()?;
    let ca_pem = ca.cert_pem();
    let stored = SecretFiles {
        tls_crt: Some(certificate_pem.clone()),
        tls_key: Some(private_key_pem.clone()),
        ca_crt: Some(ca_pem.to_string()),
        keystore_p12: None,
    };
    match decide(&stored, request, ca_pem, now) {
        Decision::Reuse(issued) | Decision::RewriteKeystore(issued) => Some(issued),
        Decision::Issue => None,
    }
}

/// Completes when a certificate valid until `not_after` is due for renewal.
pub async fn renewal_due(not_after: jiff::Timestamp) {
    loop {
        let now = jiff::Timestamp::now();
        if needs_renewal(not_after, now) {
            return;
        }
        let until = not_after
            - jiff::SignedDuration::from_hours(24 * crate::auth::certificates::RENEW_BEFORE_DAYS);
        let wait = Duration::try_from(until.duration_since(now)).unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait.clamp(Duration::from_secs(1), RENEWAL_CHECK)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::certificates::{Validity, issue_client_certificate};

    fn request(common_name: &str) -> ClientCertificateRequest {
        ClientCertificateRequest {
            tenant: "acme".into(),
            common_name: common_name.into(),
            admin_user_id: "T000001".into(),
            password: "pw".into(),
            output_namespace: "default".into(),
            output_secret: "cert".into(),
        }
    }

    #[test]
    fn the_certificate_in_auth_is_reused_while_it_fits() {
        let now = jiff::Timestamp::now();
        let ca = TenantCa::generate("acme", now).unwrap();
        let issued =
            issue_client_certificate(&ca, "RT", "T000001", Validity::starting(now, 365)).unwrap();
        let auth = OutboundAuth::ClientCertificate {
            certificate_pem: issued.cert_pem.clone(),
            private_key_pem: issued.key_pem.clone(),
        };
        assert_eq!(
            reusable(&auth, &request("RT"), &ca, now).map(|i| i.cert_pem),
            Some(issued.cert_pem.clone())
        );
        assert!(reusable(&auth, &request("Other"), &ca, now).is_none());
        let other_ca = TenantCa::generate("acme", now).unwrap();
        assert!(reusable(&auth, &request("RT"), &other_ca, now).is_none());
        assert!(reusable(&OutboundAuth::None, &request("RT"), &ca, now).is_none());
        let late = now + jiff::SignedDuration::from_hours(24 * 340);
        assert!(reusable(&auth, &request("RT"), &ca, late).is_none());
    }

    #[tokio::test]
    async fn renewal_is_due_at_once_for_a_certificate_near_its_end() {
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
        tokio::time::timeout(Duration::from_secs(1), renewal_due(soon))
            .await
            .unwrap();
        let far = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 300);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), renewal_due(far))
                .await
                .is_err()
        );
    }
}
