//! `idrelay provision NAME`: requests a Provision of real-time target NAME from a running
//! instance through its admin endpoint ([`super::provision_api`]) and follows the run with a
//! progress bar until `<n> users provisioned`.
//!
//! Invariant: the command only talks to the admin listener; it fails (non-zero exit) when the
//! target is unknown or the instance does not answer, and never waits forever without output
//! (the bar shows every change; `--timeout` bounds the wait).

use std::time::Duration;

use super::provision_api::{Progress, RunState};

/// Arguments of `idrelay provision`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProvisionArgs {
    /// The RealTimeTarget: `NAME` (namespace `default`) or `NAMESPACE/NAME`.
    pub name: String,
    /// Base URL of the admin listener.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9443")]
    pub admin: String,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub timeout: u64,
    /// No progress bar (only the final line).
    #[arg(long)]
    pub quiet: bool,
}

/// Why `idrelay provision` failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionCliError {
    #[error("cannot reach the admin listener at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{0}")]
    Refused(String),
    #[error("unexpected answer from {url}: {reason}")]
    BadAnswer { url: String, reason: String },
    #[error("the Provision of {0} did not finish within the timeout")]
    Timeout(String),
}

/// `namespace/name` of a target argument (`default` when no namespace is given).
pub fn resource_of(name: &str) -> String {
    if name.contains('/') {
        name.to_string()
    } else {
        format!("{}/{name}", crate::reconcile::DEFAULT_NAMESPACE)
    }
}

/// The endpoint URL of `resource` on the admin listener at `admin`.
pub fn endpoint(admin: &str, resource: &str) -> String {
    format!(
        "{}/realtimetargets/{resource}/provision",
        admin.trim_end_matches('/')
    )
}

/// Requests the run and polls its progress, calling `on_progress` on every answer; returns the
/// finished progress.
pub async fn provision(
    admin: &str,
    name: &str,
    timeout: Duration,
    mut on_progress: impl FnMut(&Progress),
) -> Result<Progress, ProvisionCliError> {
    let resource = resource_of(name);
    let url = endpoint(admin, &resource);
    // reqwest is built without a default crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| ProvisionCliError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let unreachable = |e: reqwest::Error| ProvisionCliError::Unreachable {
        url: url.clone(),
        reason: e.to_string(),
    };
    let response = http.post(&url).send().await.map_err(unreachable)?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = body["error"]
            .as_str()
            .map_or_else(|| format!("HTTP {status}"), str::to_string);
        return Err(ProvisionCliError::Refused(message));
    }
    let run = body["run"]
        .as_str()
        .ok_or_else(|| ProvisionCliError::BadAnswer {
            url: url.clone(),
            reason: "no run token".into(),
        })?
        .to_string();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let response = http
            .get(&url)
            .query(&[("run", run.as_str())])
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProvisionCliError::Refused(format!(
                "{resource}: HTTP {status} while following the run (was the target removed?)"
            )));
        }
        let progress: Progress =
            response
                .json()
                .await
                .map_err(|e| ProvisionCliError::BadAnswer {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
        on_progress(&progress);
        if progress.state == RunState::Finished {
            return Ok(progress);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ProvisionCliError::Timeout(resource));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The command: a progress bar on stderr (unless `quiet`), then `<n> users provisioned`.
pub async fn run(args: ProvisionArgs) -> Result<(), ProvisionCliError> {
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} users {per_sec} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let result = provision(
        &args.admin,
        &args.name,
        Duration::from_secs(args.timeout),
        |p| {
            bar.set_length(p.total.max(p.provisioned));
            bar.set_position(p.provisioned);
            bar.set_message(match p.state {
                RunState::Queued => "queued",
                RunState::Running => "",
                RunState::Finished => "done",
            });
        },
    )
    .await;
    bar.finish_and_clear();
    let progress = result?;
    println!("{}", progress.message);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert_eq!(resource_of("push"), "default/push");
        assert_eq!(resource_of("team/push"), "team/push");
        assert_eq!(
            endpoint("http://127.0.0.1:9443/", "default/push"),
            "http://127.0.0.1:9443/realtimetargets/default/push/provision"
        );
    }

    #[tokio::test]
    async fn unreachable_admin_is_an_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = provision(
            &format!("http://127.0.0.1:{port}"),
            "push",
            Duration::from_secs(1),
            |_| {},
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, ProvisionCliError::Unreachable { .. }),
            "{err}"
        );
    }
}
