//! The files driver's stand-in for Kubernetes Secrets: there is no API server to write Secrets
//! to, so issued certificates go to `<data-dir>/secrets/<namespace>/<secret-name>/` as
//! `tls.crt`, `tls.key`, `ca.crt` (PEM) and `keystore.p12`, each mode 0600, each replaced
//! atomically (temporary file + rename). The operator writes real Secrets with the same keys.
//!
//! Invariant: namespace and secret name are single path segments (no `/`, `.`, `..`), so
//! nothing is written outside `<data-dir>/secrets`.

use std::path::{Path, PathBuf};

use super::{CertError, is_path_segment, write_private_file};

/// Folder of the secret files inside the data directory.
pub const SECRETS_DIR: &str = "secrets";

/// The keys of an output Secret (the same in files and operator mode).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretFiles {
    /// `tls.crt`
    pub tls_crt: Option<String>,
    /// `tls.key`
    pub tls_key: Option<String>,
    /// `ca.crt`
    pub ca_crt: Option<String>,
    /// `keystore.p12`
    pub keystore_p12: Option<Vec<u8>>,
}

impl std::fmt::Debug for SecretFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretFiles")
            .field("tls_crt", &self.tls_crt.is_some())
            .field("tls_key", &self.tls_key.as_ref().map(|_| "<redacted>"))
            .field("ca_crt", &self.ca_crt.is_some())
            .field(
                "keystore_p12",
                &self.keystore_p12.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl SecretFiles {
    /// The files of an issued certificate and its keystore.
    pub fn issued(issued: &super::IssuedCertificate, keystore_p12: Vec<u8>) -> SecretFiles {
        SecretFiles {
            tls_crt: Some(issued.cert_pem.clone()),
            tls_key: Some(issued.key_pem.clone()),
            ca_crt: Some(issued.ca_pem.clone()),
            keystore_p12: Some(keystore_p12),
        }
    }

    /// The Secret data as key -> bytes (for the operator's Secret or for the files).
    pub fn entries(&self) -> Vec<(&'static str, &[u8])> {
        let mut out = Vec::new();
        if let Some(v) = &self.tls_crt {
            out.push(("tls.crt", v.as_bytes()));
        }
        if let Some(v) = &self.tls_key {
            out.push(("tls.key", v.as_bytes()));
        }
        if let Some(v) = &self.ca_crt {
            out.push(("ca.crt", v.as_bytes()));
        }
        if let Some(v) = &self.keystore_p12 {
            out.push(("keystore.p12", v.as_slice()));
        }
        out
    }
}

/// The folder of secret `namespace/name` in `data_dir`.
pub fn secret_dir(data_dir: &Path, namespace: &str, name: &str) -> Result<PathBuf, CertError> {
    for segment in [namespace, name] {
        if !is_path_segment(segment) {
            return Err(CertError::InvalidPathSegment(segment.to_string()));
        }
    }
    Ok(data_dir.join(SECRETS_DIR).join(namespace).join(name))
}

/// Writes `files` into `<data_dir>/secrets/<namespace>/<name>/` (0600 each) and returns the folder.
pub fn write_secret_files(
    data_dir: &Path,
    namespace: &str,
    name: &str,
    files: &SecretFiles,
) -> Result<PathBuf, CertError> {
    let dir = secret_dir(data_dir, namespace, name)?;
    std::fs::create_dir_all(&dir).map_err(|e| CertError::io(&dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| CertError::io(&dir, e))?;
    }
    for (key, value) in files.entries() {
        write_private_file(&dir.join(key), value)?;
    }
    Ok(dir)
}

/// Reads the files of secret `namespace/name` in `data_dir`; a missing folder or key is `None`.
pub fn read_secret_files(
    data_dir: &Path,
    namespace: &str,
    name: &str,
) -> Result<SecretFiles, CertError> {
    let dir = secret_dir(data_dir, namespace, name)?;
    let read = |key: &str| -> Result<Option<Vec<u8>>, CertError> {
        let path = dir.join(key);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CertError::io(&path, e)),
        }
    };
    let text = |key: &str| -> Result<Option<String>, CertError> {
        Ok(read(key)?.and_then(|b| String::from_utf8(b).ok()))
    };
    Ok(SecretFiles {
        tls_crt: text("tls.crt")?,
        tls_key: text("tls.key")?,
        ca_crt: text("ca.crt")?,
        keystore_p12: read("keystore.p12")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_private_files_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let files = SecretFiles {
            tls_crt: Some("cert".into()),
            tls_key: Some("hunter2".into()),
            ca_crt: Some("ca".into()),
            keystore_p12: Some(vec![1, 2, 3]),
        };
        let out = write_secret_files(dir.path(), "default", "acme-cert", &files).unwrap();
        assert_eq!(out, dir.path().join("secrets/default/acme-cert"));
        assert_eq!(
            std::fs::read(out.join("keystore.p12")).unwrap(),
            vec![1, 2, 3]
        );
        assert_eq!(
            std::fs::read_to_string(out.join("tls.key")).unwrap(),
            "hunter2"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in ["tls.crt", "tls.key", "ca.crt", "keystore.p12"] {
                let mode = std::fs::metadata(out.join(key))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{key}");
            }
        }
        assert!(!format!("{files:?}").contains("hunter2"));
        assert_eq!(
            read_secret_files(dir.path(), "default", "acme-cert").unwrap(),
            files
        );
        assert_eq!(
            read_secret_files(dir.path(), "default", "missing").unwrap(),
            SecretFiles::default()
        );
        assert!(matches!(
            write_secret_files(dir.path(), "..", "x", &files),
            Err(CertError::InvalidPathSegment(_))
        ));
        assert!(matches!(
            write_secret_files(dir.path(), "default", "a/b", &files),
            Err(CertError::InvalidPathSegment(_))
        ));
    }
}
