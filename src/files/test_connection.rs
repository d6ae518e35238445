//! `idrelay test-connection KIND/NAME --config DIR`: Test Connection of one TargetSystem or
//! RealTimeTarget, in-process, from the resources of a configuration directory (the same
//! resolution as `serve`: Secrets, defaults, the real-time URL of a `sourceSystemRef`).
//!
//! Invariant: only the check's reason and message are returned (never a secret).

use std::path::Path;

use crate::reconcile::ConnectionCheck;
use crate::runtime::RuntimeConfig;

/// The kinds Test Connection applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    TargetSystem,
    RealTimeTarget,
}

impl CheckKind {
    /// `targetsystem`, `targetsystems`, `idts`, `realtimetarget`, `realtimetargets`, `idrt`
    /// (any case).
    pub fn parse(s: &str) -> Option<CheckKind> {
        match s.to_ascii_lowercase().as_str() {
            "targetsystem" | "targetsystems" | "idts" => Some(CheckKind::TargetSystem),
            "realtimetarget" | "realtimetargets" | "idrt" => Some(CheckKind::RealTimeTarget),
            _ => None,
        }
    }
}

/// Why Test Connection could not run.
#[derive(Debug, thiserror::Error)]
pub enum TestConnectionError {
    #[error("expected KIND/NAME with KIND targetsystem or realtimetarget, got {0:?}")]
    BadTarget(String),
    #[error("{0}")]
    Files(#[from] super::FilesError),
    #[error(
        "{kind} {resource} is not configured (missing, invalid, or its Secrets or tenant are not ready)"
    )]
    NotConfigured {
        kind: &'static str,
        resource: String,
    },
}

/// Splits `KIND/NAME` (NAME may be `namespace/name`; default namespace `default`).
pub fn parse_target(target: &str) -> Result<(CheckKind, String), TestConnectionError> {
    let bad = || TestConnectionError::BadTarget(target.to_string());
    let (kind, name) = target.split_once('/').ok_or_else(bad)?;
    let kind = CheckKind::parse(kind).ok_or_else(bad)?;
    if name.is_empty() {
        return Err(bad());
    }
    let resource = if name.contains('/') {
        name.to_string()
    } else {
        format!("{}/{name}", crate::reconcile::DEFAULT_NAMESPACE)
    };
    Ok((kind, resource))
}

/// Loads `dir`, then runs Test Connection of `target` (`KIND/NAME`).
pub async fn test_connection(
    dir: &Path,
    target: &str,
) -> Result<ConnectionCheck, TestConnectionError> {
    let (kind, resource) = parse_target(target)?;
    let mut driver = super::FilesDriver::new(dir)?;
    let out = driver.pass(jiff::Timestamp::now())?;
    run(&out.config, kind, &resource).await
}

async fn run(
    config: &RuntimeConfig,
    kind: CheckKind,
    resource: &str,
) -> Result<ConnectionCheck, TestConnectionError> {
    match kind {
        CheckKind::TargetSystem => {
            let target = config
                .tenants
                .values()
                .flat_map(|t| t.target_systems.values())
                .find(|t| t.resource == resource)
                .ok_or_else(|| TestConnectionError::NotConfigured {
                    kind: "TargetSystem",
                    resource: resource.to_string(),
                })?;
            Ok(crate::delivery::connection_check(target).await)
        }
        CheckKind::RealTimeTarget => {
            let target = config
                .realtime_targets
                .iter()
                .find(|t| t.resource == resource)
                .ok_or_else(|| TestConnectionError::NotConfigured {
                    kind: "RealTimeTarget",
                    resource: resource.to_string(),
                })?;
            Ok(crate::realtime::test_connection::test_connection(target).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let (kind, resource) = parse_target("realtimetarget/push").unwrap();
        assert_eq!(kind, CheckKind::RealTimeTarget);
        assert_eq!(resource, "default/push");
        let (kind, resource) = parse_target("IDTS/team/apps").unwrap();
        assert_eq!(kind, CheckKind::TargetSystem);
        assert_eq!(resource, "team/apps");
        assert!(parse_target("tenant/acme").is_err());
        assert!(parse_target("realtimetarget/").is_err());
        assert!(parse_target("push").is_err());
    }

    #[tokio::test]
    async fn unknown_resource_is_reported() {
        let error = run(
            &RuntimeConfig::default(),
            CheckKind::RealTimeTarget,
            "default/x",
        )
        .await
        .unwrap_err();
        assert!(error.to_string().contains("default/x"));
    }
}
