//! The processes under test: the `idrelay` server (spawned from the binary next to the bench)
//! and the ceiling server (this bench binary re-run as `ceiling-serve`), each in its own process
//! on loopback, plus the scratch directory they use.
//!
//! Invariants: every spawned process is SIGKILLed and reaped when its handle drops; the scratch
//! directory is removed on drop unless kept; the admin secret is only ever written to the
//! generated config directory, never printed.

use std::io::BufRead as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;

/// Tenant the bench provisions.
pub const TENANT: &str = "bench";
/// Client id of the bench's technical admin.
pub const CLIENT_ID: &str = "6f1d3c2a-0000-4000-8000-00000000be0c";

/// A scratch directory under the system temp dir, removed on drop unless `keep` is set.
pub struct ScratchDir {
    pub path: PathBuf,
    pub keep: bool,
}

impl ScratchDir {
    pub fn create() -> anyhow::Result<ScratchDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("idrelay-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ScratchDir { path, keep: false })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// The YAML config the bench serves: one tenant and one technical admin with `secret`.
pub fn config_yaml(secret: &str) -> String {
    format!(
        r#"apiVersion: idrelay.dev/v1alpha1
kind: Tenant
metadata: {{name: {TENANT}}}
spec: {{displayName: Bench}}
---
apiVersion: v1
kind: Secret
metadata: {{name: {TENANT}-admin-secret}}
stringData: {{secret: "{secret}"}}
---
apiVersion: idrelay.dev/v1alpha1
kind: TechnicalAdmin
metadata: {{name: {TENANT}-admin}}
spec:
  tenantRef: {{name: {TENANT}}}
  displayName: Bench provisioning admin
  clientId: {CLIENT_ID}
  permissions: [ManageUsers, ReadUsers, ManageGroups]
  secrets: [{{secretRef: {{name: {TENANT}-admin-secret, key: secret}}}}]
"#
    )
}

/// The precomputed `Authorization` header value for the bench admin.
pub fn basic_auth(secret: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{secret}"));
    format!("Basic {token}")
}

/// A child process that is SIGKILLed and reaped on drop.
pub struct Spawned {
    child: Child,
    pub log: Option<PathBuf>,
}

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the process has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "process {} exited ({status}){}",
                self.child.id(),
                self.log_hint()
            );
        }
        Ok(())
    }

    pub fn log_hint(&self) -> String {
        match &self.log {
            Some(log) => format!("; log: {}", log.display()),
            None => String::new(),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The running idrelay server.
pub struct Idrelay {
    pub process: Spawned,
    /// `http://127.0.0.1:PORT/tenants/bench/scim`
    pub scim_base: String,
}

/// Where the `idrelay` binary is: `explicit`, or next to this executable.
pub fn idrelay_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    let exe = std::env::current_exe().context("locating the bench executable")?;
    let dir = exe
        .parent()
        .context("the bench executable has no directory")?;
    Ok(dir.join(format!("idrelay{}", std::env::consts::EXE_SUFFIX)))
}

/// Brings the sibling `idrelay` binary up to date with the sources this bench was built from
/// (`cargo run --bin idrelay-bench` builds only the bench). Skipped when the build tree is gone.
pub fn build_sibling_idrelay(binary: &Path) -> anyhow::Result<()> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    if !manifest.exists() {
        return Ok(());
    }
    let release = binary
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "release");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--bin", "idrelay", "--manifest-path"])
        .arg(&manifest);
    if release {
        cmd.arg("--release");
    }
    eprintln!(
        "building the idrelay binary ({} profile)…",
        if release { "release" } else { "dev" }
    );
    let status = cmd.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --bin idrelay failed ({status})");
    }
    Ok(())
}

/// Starts `idrelay serve` on fresh loopback ports with `config` and `data` and waits for
/// `/readyz`.
pub async fn start_idrelay(
    binary: &Path,
    config: &Path,
    data: &Path,
    log: &Path,
) -> anyhow::Result<Idrelay> {
    if !binary.exists() {
        bail!(
            "{} does not exist; build it with `cargo build --release --bin idrelay`",
            binary.display()
        );
    }
    let listen = format!("127.0.0.1:{}", free_port()?);
    let admin = format!("127.0.0.1:{}", free_port()?);
    let log_file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let child = Command::new(binary)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args([
            "--listen",
            &listen,
            "--admin-listen",
            &admin,
            "--plain-http",
        ])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("spawning {}", binary.display()))?;
    let mut process = Spawned {
        child,
        log: Some(log.to_owned()),
    };
    wait_ready(&mut process, &format!("http://{admin}/readyz")).await?;
    Ok(Idrelay {
        process,
        scim_base: format!("http://{listen}/tenants/{TENANT}/scim"),
    })
}

async fn wait_ready(process: &mut Spawned, url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        process.ensure_running()?;
        if let Ok(resp) = http.get(url).send().await
            && resp.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} not ready after 60 s{}", process.log_hint());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Spawns this executable as `ceiling-serve` and returns it with its base URL.
pub fn start_ceiling() -> anyhow::Result<(Spawned, String)> {
    let exe = std::env::current_exe().context("locating the bench executable")?;
    let mut child = Command::new(exe)
        .args(["ceiling-serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawning the ceiling server")?;
    let stdout = child.stdout.take().context("ceiling server stdout")?;
    let process = Spawned { child, log: None };
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading the ceiling address")?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .context("ceiling server did not report its address")?;
    Ok((process, format!("http://{addr}")))
}

/// Resident and peak resident memory of `pid` in KiB (`VmRSS`, `VmHWM` from /proc).
pub fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let rss = status_field_kib(&status, "VmRSS").context("no VmRSS")?;
    let hwm = status_field_kib(&status, "VmHWM").unwrap_or(rss);
    Ok((rss, hwm))
}

/// CPU time used so far by the live threads of `pid`, in nanoseconds (the first field of
/// every /proc/<pid>/task/*/schedstat); `None` where /proc has no such files. A thread that
/// ends between the listing and the read is skipped (its time is gone from /proc either way).
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let (mut total, mut read) = (0u64, 0usize);
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        read += 1;
    }
    (read > 0).then_some(total)
}

/// CPU time used so far by idrelay (`pid`) and by this process, in nanoseconds.
pub fn cpu_sample(pid: u32) -> Option<(u64, u64)> {
    Some((cpu_ns(pid)?, cpu_ns(std::process::id())?))
}

/// The CPU microseconds per request of each process between two samples.
pub fn per_request_us(
    before: Option<(u64, u64)>,
    after: Option<(u64, u64)>,
    requests: u64,
) -> Option<(f64, f64)> {
    let ((server0, client0), (server1, client1)) = (before?, after?);
    if requests == 0 {
        return None;
    }
    let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e3 / requests as f64;
    Some((per(server0, server1), per(client0, client1)))
}

/// A `Name:   1234 kB` field of /proc/<pid>/status.
pub fn status_field_kib(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_per_request_needs_both_samples_and_requests() {
        let before = Some((1_000_000, 500_000));
        let after = Some((9_000_000, 2_500_000));
        assert_eq!(per_request_us(before, after, 100), Some((80.0, 20.0)));
        assert_eq!(per_request_us(before, after, 0), None);
        assert_eq!(per_request_us(None, after, 100), None);
        assert_eq!(per_request_us(before, None, 100), None);
    }

    #[test]
    fn cpu_time_of_this_process_grows_with_work() {
        let pid = std::process::id();
        let Some(before) = cpu_ns(pid) else {
            // Not Linux: the figure is reported as unavailable.
            return;
        };
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(cpu_ns(pid).unwrap() > before, "{x}");
    }

    #[test]
    fn reads_kib_fields_of_proc_status() {
        let status = "Name:\tidrelay\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        assert_eq!(status_field_kib(status, "VmRSS"), Some(102_400));
        assert_eq!(status_field_kib(status, "VmHWM"), Some(204_800));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
    }

    #[test]
    fn config_names_the_admin_and_its_secret() {
        let yaml = config_yaml("xyz");
        assert!(yaml.contains(CLIENT_ID));
        assert!(yaml.contains("secret: \"xyz\""));
        assert_eq!(
            basic_auth("s"),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:s"))
            )
        );
    }
}
