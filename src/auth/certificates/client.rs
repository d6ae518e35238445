//! Client certificates for `certificate` authentication: subject CN
//! `<common name>(<admin user id>)` (no space, as SAP's real-time page writes it), at most
//! [`MAX_COMMON_NAME_LEN`] characters, extended key usage client authentication, signed by the
//! tenant CA; and the renewal rule.
//!
//! Invariants: a certificate is only issued for a CN within the limit and an admin user id
//! without parentheses (so the user id is exactly the CN's last parenthesised part); the
//! private key is generated here and returned only inside [`IssuedCertificate`], whose `Debug`
//! hides it.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SerialNumber,
};

use super::{CertError, TenantCa};

/// Longest subject CN in characters (X.509 `ub-common-name`; SAP's limit).
pub const MAX_COMMON_NAME_LEN: usize = 64;
/// Default validity of a client certificate.
pub const CLIENT_VALIDITY_DAYS: i64 = 365;
/// A certificate with less than this left is renewed.
pub const RENEW_BEFORE_DAYS: i64 = 30;

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: jiff::Timestamp,
    pub not_after: jiff::Timestamp,
}

impl Validity {
    /// From an hour before `now` (clock skew) for `days` days after `now`.
    pub fn starting(now: jiff::Timestamp, days: i64) -> Validity {
        Validity {
            not_before: now - jiff::SignedDuration::from_hours(1),
            not_after: now + jiff::SignedDuration::from_hours(24 * days),
        }
    }
}

/// A freshly issued client certificate with its key and the CA certificate (all PEM).
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
    pub not_after: jiff::Timestamp,
}

impl std::fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("key_pem", &"<redacted>")
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// The subject CN for `common_name` and `admin_user_id`: `<common name>(<user id>)`, or
/// [`CertError::CommonNameTooLong`] past [`MAX_COMMON_NAME_LEN`] characters.
pub fn subject_common_name(common_name: &str, admin_user_id: &str) -> Result<String, CertError> {
    if common_name.trim().is_empty() {
        return Err(CertError::InvalidCommonName("must not be empty".into()));
    }
    if common_name.chars().any(char::is_control) {
        return Err(CertError::InvalidCommonName(
            "must not contain control characters".into(),
        ));
    }
    if admin_user_id.is_empty()
        || admin_user_id.contains(['(', ')'])
        || admin_user_id.chars().any(char::is_control)
    {
        return Err(CertError::InvalidUserId(admin_user_id.to_string()));
    }
    let cn = format!("{common_name}({admin_user_id})");
    let len = cn.chars().count();
    if len > MAX_COMMON_NAME_LEN {
        return Err(CertError::CommonNameTooLong {
            common_name: cn,
            len,
        });
    }
    Ok(cn)
}

/// The longest common name allowed for an admin whose user id has `user_id_len` characters
/// (CN + 2 parentheses + user id ≤ 64); 0 when no common name fits. For static (CRD) checks.
pub const fn max_common_name_len(user_id_len: usize) -> usize {
    MAX_COMMON_NAME_LEN.saturating_sub(user_id_len + 2)
}

/// Shortest technical admin user id (`T` + 6 digits; a UUID has 36 characters).
pub const MIN_USER_ID_LEN: usize = 7;

/// The longest common name any admin can have ([`max_common_name_len`] of the shortest user
/// id): the static bound a CRD validation rule can check (`self.commonName.size() <= 55`); the
/// exact limit depends on the referenced admin's user id (26 for a UUID) and is checked at
/// issuance.
pub const STATIC_MAX_COMMON_NAME_LEN: usize = max_common_name_len(MIN_USER_ID_LEN);

/// The admin user id inside a subject CN `<common name>(<user id>)`, if it has that shape.
pub fn user_id_of_common_name(cn: &str) -> Option<&str> {
    let inner = cn.strip_suffix(')')?;
    let open = inner.rfind('(')?;
    let user_id = &inner[open + 1..];
    (open > 0 && !user_id.is_empty()).then_some(user_id)
}

/// Issues a client certificate for `admin_user_id` signed by `ca`.
pub fn issue_client_certificate(
    ca: &TenantCa,
    common_name: &str,
    admin_user_id: &str,
    validity: Validity,
) -> Result<IssuedCertificate, CertError> {
    let cn = subject_common_name(common_name, admin_user_id)?;
    if validity.not_after <= validity.not_before {
        return Err(CertError::InvalidValidity(
            "notAfter must be after notBefore".into(),
        ));
    }
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| CertError::Generate(e.to_string()))?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, validity.not_before, validity.not_after)?;
    params.serial_number = Some(random_serial());
    let cert = params
        .signed_by(&key, &ca.issuer())
        .map_err(|e| CertError::Generate(e.to_string()))?;
    Ok(IssuedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        ca_pem: ca.cert_pem().to_string(),
        // X.509 times have whole seconds.
        not_after: jiff::Timestamp::from_second(validity.not_after.as_second())
            .unwrap_or(validity.not_after),
    })
}

/// Whether a certificate valid until `not_after` is renewed at `now` (less than
/// [`RENEW_BEFORE_DAYS`] left, or already expired).
pub fn needs_renewal(not_after: jiff::Timestamp, now: jiff::Timestamp) -> bool {
    not_after.duration_since(now) < jiff::SignedDuration::from_hours(24 * RENEW_BEFORE_DAYS)
}

/// The `notAfter` of the first certificate in `cert_pem` (to decide renewal of a stored one).
pub fn certificate_not_after(cert_pem: &str) -> Result<jiff::Timestamp, CertError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let der =
        CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| CertError::Invalid {
            what: "certificate",
            reason: e.to_string(),
        })?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| CertError::Invalid {
            what: "certificate",
            reason: e.to_string(),
        })?;
    jiff::Timestamp::from_second(cert.validity().not_after.timestamp()).map_err(|e| {
        CertError::Invalid {
            what: "certificate",
            reason: e.to_string(),
        }
    })
}

/// A random positive 16-byte serial number.
pub(crate) fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

/// Sets `params`' validity (rcgen's clock type is built from the Unix epoch, so the `time`
/// crate is not a dependency of ours); times before 1970 are refused.
pub(crate) fn set_validity(
    params: &mut CertificateParams,
    not_before: jiff::Timestamp,
    not_after: jiff::Timestamp,
) -> Result<(), CertError> {
    let secs = |at: jiff::Timestamp| {
        u64::try_from(at.as_second())
            .map_err(|_| CertError::InvalidValidity("times before 1970 are not supported".into()))
    };
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + std::time::Duration::from_secs(secs(not_before)?);
    params.not_after = epoch + std::time::Duration::from_secs(secs(not_after)?);
    Ok(())
}
