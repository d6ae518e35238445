//! The `resources` scenario (issue 6): 1,000 resources of mixed kinds reconciled by the files
//! driver of one `idrelay serve` process. Measured: the time from the spawn until every resource
//! is `Ready=True` (polling `GET /status` on the admin listener), and until every resource is
//! settled (Ready and no condition `Unknown`: every connection check has answered), the
//! resident memory
//! (`VmRSS`, `VmHWM`), and, for `--idle-seconds` of idle with one file rewritten byte for byte,
//! how many files-driver passes ran and how many of them wrote nothing (from `GET /metrics`,
//! cross-checked by comparing `GET /status` before and after).
//!
//! The configuration: `--resources / 10` tenants, each in its own file with 1 Tenant, 3
//! TechnicalAdmins (each with its Secret document), 2 SourceSystems, 2 TargetSystems and 2
//! RealTimeTargets. Target systems and real-time targets point at a loopback sink in this
//! process (every request answers 200 with an empty SCIM list that also names version 2), so
//! their connection checks succeed quickly and the figure is idrelay's own work, not a remote
//! system's.
//!
//! Invariants: the secrets are generated per run and only written to the scratch config; the
//! spawned server is killed on drop; a resource that never becomes Ready, a pass that wrote
//! during the idle phase, or a changed `/status` is reported as FAIL, never hidden.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::Client;
use serde_json::{Value, json};

use super::process::{self, ScratchDir};

/// Resources per tenant file (1 tenant, 3 admins, 2 sources, 2 targets, 2 real-time targets).
pub const PER_TENANT: usize = 10;
/// Memory goal of issue 6.
const GOAL_RSS_MIB: f64 = 100.0;

/// The command line of `idrelay-bench resources`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Resources of the idrelay kinds (Secrets come on top), a multiple of 10.
    #[arg(long, default_value_t = 1000)]
    resources: usize,
    /// Seconds of idle measured after everything is Ready (one file is rewritten unchanged at
    /// the start). The default covers one 30 s resync.
    #[arg(long, default_value_t = 35)]
    idle_seconds: u64,
    /// Give up waiting for all Ready after this many seconds.
    #[arg(long, default_value_t = 300)]
    ready_timeout: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The idrelay binary to run (default: the one next to this executable).
    #[arg(long)]
    idrelay: Option<PathBuf>,
    /// Do not run `cargo build --bin idrelay` first.
    #[arg(long)]
    no_build: bool,
    /// Keep the generated config, data and server log.
    #[arg(long)]
    keep_data: bool,
}

/// Runs the scenario and prints the table (and writes the JSON when asked).
pub fn main(args: Args) -> anyhow::Result<()> {
    if args.resources < PER_TENANT || !args.resources.is_multiple_of(PER_TENANT) {
        bail!("--resources must be a positive multiple of {PER_TENANT}");
    }
    if args.idle_seconds == 0 {
        bail!("--idle-seconds must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let results = runtime.block_on(run(&args))?;
    print!("{}", table(&results));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&to_json(&results))?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("results written to {}", path.display());
    }
    Ok(())
}

/// What one run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results {
    pub resources: usize,
    /// Entries in `/status` when all were Ready (or at the timeout).
    pub reported: usize,
    pub ready: usize,
    /// Spawn → every resource Ready; `None` when the timeout came first.
    pub all_ready: Option<Duration>,
    /// Resources Ready with no condition `Unknown`, and spawn → all of them so.
    pub settled: usize,
    pub all_settled: Option<Duration>,
    /// The first resource still not Ready at the timeout, with its reason.
    pub not_ready_example: Option<String>,
    /// Largest VmRSS sampled over the run, VmRSS at the end, VmHWM at the end (KiB).
    pub max_rss_kib: u64,
    pub end_rss_kib: u64,
    pub hwm_kib: u64,
    pub idle_seconds: u64,
    /// Files-driver passes during the idle phase, and how many wrote nothing.
    pub idle_passes: u64,
    pub idle_noop_passes: u64,
    /// Status documents written / left unchanged during the idle phase.
    pub idle_status_writes: u64,
    pub idle_status_skipped: u64,
    /// `GET /status` identical before and after the idle phase.
    pub status_unchanged: bool,
    /// Passes from the spawn until all were Ready (wrote, noop).
    pub startup_passes: (u64, u64),
    /// Requests the sink answered (connection checks).
    pub sink_requests: u64,
}

/// One goal and whether this run met it.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub name: &'static str,
    pub measured: String,
    pub pass: bool,
}

/// The goals of issue 6 evaluated on `r` (pure).
pub fn goals(r: &Results) -> Vec<Goal> {
    let mib = |kib: u64| kib as f64 / 1024.0;
    vec![
        Goal {
            name: "every resource Ready",
            measured: match r.all_ready {
                Some(d) => format!("{}/{} in {:.2} s", r.ready, r.resources, d.as_secs_f64()),
                None => format!("{}/{} (timed out)", r.ready, r.resources),
            },
            pass: r.all_ready.is_some() && r.ready == r.resources,
        },
        Goal {
            name: "resident memory < 100 MiB",
            measured: format!(
                "max VmRSS {:.1} MiB (VmHWM {:.1} MiB)",
                mib(r.max_rss_kib),
                mib(r.hwm_kib)
            ),
            pass: mib(r.max_rss_kib) < GOAL_RSS_MIB,
        },
        Goal {
            name: "zero writes on no-op passes",
            measured: format!(
                "{} of {} idle passes wrote nothing; {} status writes, {} skipped; /status {}",
                r.idle_noop_passes,
                r.idle_passes,
                r.idle_status_writes,
                r.idle_status_skipped,
                if r.status_unchanged {
                    "unchanged"
                } else {
                    "CHANGED"
                }
            ),
            // Without a pass the goal was not exercised.
            pass: r.idle_passes > 0
                && r.idle_noop_passes == r.idle_passes
                && r.idle_status_writes == 0
                && r.status_unchanged,
        },
    ]
}

/// Deterministic ids: `kind` 0..=15, tenant index, item index.
fn uuid(kind: u8, tenant: usize, item: usize) -> String {
    format!("6e5b{kind:04x}-{tenant:04x}-4000-8000-{item:012x}")
}

/// The YAML of tenant `t` (10 resources, 3 Secrets); systems point at `sink`.
pub fn tenant_yaml(t: usize, sink: &str, secret: &str) -> String {
    let tenant = format!("t{t:04}");
    let mut y = format!(
        "apiVersion: idrelay.dev/v1alpha1\nkind: Tenant\nmetadata: {{name: {tenant}}}\nspec: {{displayName: Bench tenant {t}}}\n"
    );
    for a in 0..3 {
        let _ = write!(
            y,
            r#"---
apiVersion: v1
kind: Secret
metadata: {{name: {tenant}-admin-{a}}}
stringData: {{secret: "{secret}-{a}"}}
---
apiVersion: idrelay.dev/v1alpha1
kind: TechnicalAdmin
metadata: {{name: {tenant}-admin-{a}}}
spec:
  tenantRef: {{name: {tenant}}}
  displayName: Bench admin {a}
  clientId: {client}
  permissions: [ManageUsers, ReadUsers]
  secrets: [{{secretRef: {{name: {tenant}-admin-{a}, key: secret}}}}]
"#,
            client = uuid(1, t, a),
        );
    }
    for s in 0..2 {
        let source = format!("{tenant}-source-{s}");
        let system_id = uuid(2, t, s);
        let _ = write!(
            y,
            r#"---
apiVersion: idrelay.dev/v1alpha1
kind: SourceSystem
metadata: {{name: {source}}}
spec:
  tenantRef: {{name: {tenant}}}
  displayName: Bench source {s}
  type: IdentityAuthentication
  systemId: {system_id}
  properties: {{ias.api.version: "2"}}
---
apiVersion: idrelay.dev/v1alpha1
kind: TargetSystem
metadata: {{name: {tenant}-target-{s}}}
spec:
  tenantRef: {{name: {tenant}}}
  displayName: Bench target {s}
  type: SCIM
  url: {sink}/tenants/{tenant}/scim{s}
  sourceSystemRefs: [{{name: {source}}}]
  authentication:
    basic:
      username: {username}
      passwordRef: {{name: {tenant}-admin-{s}, key: secret}}
---
apiVersion: idrelay.dev/v1alpha1
kind: RealTimeTarget
metadata: {{name: {tenant}-realtime-{s}}}
spec:
  tenantRef: {{name: {tenant}}}
  displayName: Bench real-time {s}
  type: IdentityProvisioning
  scimUrl: {sink}/ipsproxy/service/api/v1/systems/{system_id}/entities/user
  version: 2
  authentication:
    basic:
      clientId: {username}
      secretRef: {{name: {tenant}-admin-{s}, key: secret}}
"#,
            username = uuid(1, t, s),
        );
    }
    y
}

/// The loopback sink: every request answers 200 with an empty SCIM list naming version 2
/// (a target's `GET /Users?count=1`, a real-time target's `GET …/systems/{id}`).
async fn start_sink() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the sink")?;
    let addr = listener.local_addr()?;
    let requests = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&requests);
    let app = axum::Router::new().fallback(move || {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            axum::Json(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 0, "Resources": [], "version": 2,
            }))
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{addr}"), requests))
}

/// The spawned `idrelay serve`, killed and reaped on drop.
struct Server {
    child: Child,
    admin: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn spawn(binary: &Path, config: &Path, data: &Path, log: &Path) -> anyhow::Result<Server> {
        if !binary.exists() {
            bail!(
                "{} does not exist; build it with `cargo build --release --bin idrelay`",
                binary.display()
            );
        }
        let listen = format!("127.0.0.1:{}", process::free_port()?);
        let admin = format!("127.0.0.1:{}", process::free_port()?);
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
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        Ok(Server {
            child,
            admin: format!("http://{admin}"),
            log: log.to_owned(),
        })
    }

    fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("idrelay exited ({status}); log: {}", self.log.display());
        }
        Ok(())
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The `Ready` condition status and reason of a `/status` entry.
fn ready_of(entry: &Value) -> (&str, &str) {
    let ready = entry["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    match ready {
        Some(c) => (
            c["status"].as_str().unwrap_or("Unknown"),
            c["reason"].as_str().unwrap_or(""),
        ),
        None => ("Unknown", ""),
    }
}

/// Whether an entry is Ready with no condition `Unknown`.
fn settled(entry: &Value) -> bool {
    ready_of(entry).0 == "True"
        && entry["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().all(|c| c["status"] != "Unknown"))
}

/// How far a `/status` document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub entries: usize,
    pub ready: usize,
    pub settled: usize,
    /// The first resource not Ready, with its reason.
    pub example: Option<String>,
}

/// The [`Readiness`] of a `/status` document.
pub fn readiness(status: &Value) -> Readiness {
    let entries = status.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut ready = 0;
    let mut example = None;
    for e in entries {
        match ready_of(e) {
            ("True", _) => ready += 1,
            (s, reason) => {
                example.get_or_insert_with(|| {
                    format!(
                        "{} {}/{}: Ready={s} {reason}",
                        e["kind"].as_str().unwrap_or("?"),
                        e["metadata"]["namespace"].as_str().unwrap_or(""),
                        e["metadata"]["name"].as_str().unwrap_or("")
                    )
                });
            }
        }
    }
    Readiness {
        entries: entries.len(),
        ready,
        settled: entries.iter().filter(|e| settled(e)).count(),
        example,
    }
}

/// The pass and status-write counters of a `/metrics` text.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    pub wrote: u64,
    pub noop: u64,
    pub error: u64,
    pub status_writes: u64,
    pub status_skipped: u64,
}

impl Counters {
    pub fn parse(text: &str) -> Counters {
        let get = |name: &str, labels: &[(&str, &str)]| {
            idrelay::metrics::sample_sum(text, name, labels).unwrap_or(0.0) as u64
        };
        Counters {
            wrote: get("idrelay_files_passes_total", &[("result", "wrote")]),
            noop: get("idrelay_files_passes_total", &[("result", "noop")]),
            error: get("idrelay_files_passes_total", &[("result", "error")]),
            status_writes: get("idrelay_status_writes_total", &[]),
            status_skipped: get("idrelay_status_writes_skipped_total", &[]),
        }
    }

    fn passes(&self) -> u64 {
        self.wrote + self.noop + self.error
    }
}

async fn get_json(http: &Client, url: &str) -> anyhow::Result<Value> {
    http.get(url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
        .with_context(|| format!("{url} is not JSON"))
}

async fn counters(http: &Client, admin: &str) -> anyhow::Result<Counters> {
    let text = http
        .get(format!("{admin}/metrics"))
        .send()
        .await?
        .error_for_status()
        .context("GET /metrics")?
        .text()
        .await?;
    Ok(Counters::parse(&text))
}

async fn run(args: &Args) -> anyhow::Result<Results> {
    let binary = process::idrelay_binary(args.idrelay.as_deref())?;
    if !args.no_build && args.idrelay.is_none() {
        process::build_sibling_idrelay(&binary)?;
    }
    let mut scratch = ScratchDir::create()?;
    scratch.keep = args.keep_data;
    let config = scratch.path.join("config");
    let data = scratch.path.join("data");
    std::fs::create_dir_all(&config)?;
    std::fs::create_dir_all(&data)?;
    let (sink, sink_requests) = start_sink().await?;
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let tenants = args.resources / PER_TENANT;
    for t in 0..tenants {
        std::fs::write(
            config.join(format!("tenant-{t:04}.yaml")),
            tenant_yaml(t, &sink, &secret),
        )?;
    }
    eprintln!(
        "resources: {} resources ({tenants} tenants, {} Secrets) in {}",
        args.resources,
        tenants * 3,
        config.display()
    );
    let http = Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let started = Instant::now();
    let mut server = Server::spawn(&binary, &config, &data, &scratch.path.join("idrelay.log"))?;
    let pid = server.pid();
    let mut r = Results {
        resources: args.resources,
        idle_seconds: args.idle_seconds,
        ..Results::default()
    };
    let sample_rss = |r: &mut Results| {
        if let Ok((rss, hwm)) = process::memory_kib(pid) {
            r.max_rss_kib = r.max_rss_kib.max(rss);
            r.end_rss_kib = rss;
            r.hwm_kib = hwm;
        }
    };
    let deadline = started + Duration::from_secs(args.ready_timeout);
    loop {
        server.ensure_running()?;
        sample_rss(&mut r);
        if let Ok(status) = get_json(&http, &format!("{}/status", server.admin)).await {
            let now = readiness(&status);
            let complete = now.entries == args.resources;
            if complete && now.ready == now.entries && r.all_ready.is_none() {
                r.all_ready = Some(started.elapsed());
            }
            if complete && now.settled == now.entries {
                r.all_settled = Some(started.elapsed());
            }
            (r.reported, r.ready, r.settled) = (now.entries, now.ready, now.settled);
            r.not_ready_example = now.example;
            if r.all_settled.is_some() {
                break;
            }
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match (r.all_ready, r.all_settled) {
        (Some(d), Some(s)) => eprintln!(
            "  all {} Ready after {:.2} s, settled after {:.2} s",
            r.ready,
            d.as_secs_f64(),
            s.as_secs_f64()
        ),
        (Some(d), None) => eprintln!(
            "  all {} Ready after {:.2} s, only {} settled after {} s",
            r.ready,
            d.as_secs_f64(),
            r.settled,
            args.ready_timeout
        ),
        (None, _) => eprintln!(
            "  only {}/{} Ready after {} s; e.g. {}",
            r.ready,
            args.resources,
            args.ready_timeout,
            r.not_ready_example.as_deref().unwrap_or("-")
        ),
    }
    let at_ready = counters(&http, &server.admin).await?;
    r.startup_passes = (at_ready.wrote, at_ready.noop);

    // Idle: let pending observations settle for a moment, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_status = get_json(&http, &format!("{}/status", server.admin)).await?;
    let before = counters(&http, &server.admin).await?;
    let idle_started = Instant::now();
    // A touched but unchanged file: the same bytes written again (a file-system event, a pass).
    let touched = config.join("tenant-0000.yaml");
    let text = std::fs::read(&touched)?;
    std::fs::write(&touched, text)?;
    eprintln!(
        "  idle for {} s (tenant-0000.yaml rewritten unchanged)",
        args.idle_seconds
    );
    while idle_started.elapsed() < Duration::from_secs(args.idle_seconds) {
        server.ensure_running()?;
        sample_rss(&mut r);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after = counters(&http, &server.admin).await?;
    let after_status = get_json(&http, &format!("{}/status", server.admin)).await?;
    sample_rss(&mut r);
    r.idle_passes = after.passes().saturating_sub(before.passes());
    r.idle_noop_passes = after.noop.saturating_sub(before.noop);
    r.idle_status_writes = after.status_writes.saturating_sub(before.status_writes);
    r.idle_status_skipped = after.status_skipped.saturating_sub(before.status_skipped);
    r.status_unchanged = before_status == after_status;
    r.sink_requests = sink_requests.load(Ordering::Relaxed);
    if args.keep_data {
        eprintln!("  kept {}", scratch.path.display());
    }
    Ok(r)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The results as a table with the goals.
pub fn table(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "resources                 {}", r.resources);
    let _ = writeln!(
        out,
        "Ready                     {}/{}{}",
        r.ready,
        r.reported,
        r.all_ready
            .map(|d| format!(" after {:.2} s", d.as_secs_f64()))
            .unwrap_or_else(|| " (timed out)".into())
    );
    if let (None, Some(e)) = (r.all_ready, &r.not_ready_example) {
        let _ = writeln!(out, "  first not Ready         {e}");
    }
    let _ = writeln!(
        out,
        "settled                   {}/{}{} (Ready, no condition Unknown: every check answered)",
        r.settled,
        r.reported,
        r.all_settled
            .map(|d| format!(" after {:.2} s", d.as_secs_f64()))
            .unwrap_or_else(|| " (timed out)".into())
    );
    let _ = writeln!(
        out,
        "passes until Ready        {} wrote, {} wrote nothing",
        r.startup_passes.0, r.startup_passes.1
    );
    let _ = writeln!(
        out,
        "memory                    max VmRSS {:.1} MiB, VmRSS at end {:.1} MiB, VmHWM {:.1} MiB",
        mib(r.max_rss_kib),
        mib(r.end_rss_kib),
        mib(r.hwm_kib)
    );
    let _ = writeln!(
        out,
        "idle {:>3} s               {} passes, {} wrote nothing; status documents: {} written, {} unchanged",
        r.idle_seconds,
        r.idle_passes,
        r.idle_noop_passes,
        r.idle_status_writes,
        r.idle_status_skipped
    );
    let _ = writeln!(
        out,
        "sink requests             {} (connection checks)",
        r.sink_requests
    );
    let _ = writeln!(out, "goals (issue 6):");
    for g in goals(r) {
        let _ = writeln!(
            out,
            "  {:<4} {:<30} {}",
            if g.pass { "PASS" } else { "FAIL" },
            g.name,
            g.measured
        );
    }
    out
}

/// The results as JSON.
fn to_json(r: &Results) -> Value {
    json!({
        "resources": r.resources,
        "ready": r.ready,
        "allReadySeconds": r.all_ready.map(|d| d.as_secs_f64()),
        "settled": r.settled,
        "allSettledSeconds": r.all_settled.map(|d| d.as_secs_f64()),
        "notReadyExample": r.not_ready_example,
        "maxRssKib": r.max_rss_kib,
        "endRssKib": r.end_rss_kib,
        "hwmKib": r.hwm_kib,
        "startupPasses": {"wrote": r.startup_passes.0, "noop": r.startup_passes.1},
        "idle": {
            "seconds": r.idle_seconds,
            "passes": r.idle_passes,
            "noopPasses": r.idle_noop_passes,
            "statusWrites": r.idle_status_writes,
            "statusUnchanged": r.idle_status_skipped,
            "statusDocumentIdentical": r.status_unchanged,
        },
        "sinkRequests": r.sink_requests,
        "goals": goals(r).iter().map(|g| json!({"name": g.name, "measured": g.measured, "pass": g.pass})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_file_holds_ten_resources_and_three_secrets() {
        let y = tenant_yaml(7, "http://127.0.0.1:1", "s3cr3t");
        let parsed = idrelay::files::parse_documents(&y, "t.yaml").unwrap();
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let kinds: Vec<&str> = parsed.documents.iter().map(|d| d.identity().0).collect();
        let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
        assert_eq!(count("Tenant"), 1);
        assert_eq!(count("TechnicalAdmin"), 3);
        assert_eq!(count("Secret"), 3);
        assert_eq!(count("SourceSystem"), 2);
        assert_eq!(count("TargetSystem"), 2);
        assert_eq!(count("RealTimeTarget"), 2);
        assert_eq!(kinds.len() - count("Secret"), PER_TENANT);
        assert!(
            !parsed
                .documents
                .iter()
                .any(|d| matches!(d, idrelay::files::Document::Invalid(_)))
        );
    }

    #[test]
    fn generated_resources_reconcile_ready_except_what_needs_a_check() {
        let mut state = idrelay::files::FilesState::new();
        let docs =
            idrelay::files::parse_documents(&tenant_yaml(0, "http://127.0.0.1:1", "s"), "t.yaml")
                .unwrap()
                .documents;
        let out = state.pass(docs, jiff::Timestamp::now());
        for e in &out.entries {
            let json = e.to_json();
            let (status, reason) = ready_of(&json);
            if e.kind == "TargetSystem" || e.kind == "RealTimeTarget" {
                // Waiting for the connection check (answered by the sink in a run).
                assert!(
                    status == "True" || reason == "NotYetChecked",
                    "{} {}: {status} {reason}",
                    e.kind,
                    e.key
                );
            } else {
                assert_eq!(status, "True", "{} {}: {reason}", e.kind, e.key);
            }
        }
        assert_eq!(out.entries.len(), PER_TENANT);
    }

    #[test]
    fn readiness_counts_entries_and_names_a_laggard() {
        let status = json!([
            {"kind": "Tenant", "metadata": {"namespace": "default", "name": "a"},
             "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"kind": "RealTimeTarget", "metadata": {"namespace": "default", "name": "r"},
             "status": {"conditions": [{"type": "Ready", "status": "True"},
                                       {"type": "ConnectionVerified", "status": "Unknown"}]}},
            {"kind": "TargetSystem", "metadata": {"namespace": "default", "name": "t"},
             "status": {"conditions": [{"type": "Ready", "status": "Unknown", "reason": "NotYetChecked"}]}},
        ]);
        let r = readiness(&status);
        assert_eq!((r.entries, r.ready, r.settled), (3, 2, 1));
        assert_eq!(
            r.example.as_deref(),
            Some("TargetSystem default/t: Ready=Unknown NotYetChecked")
        );
    }

    #[test]
    fn counters_come_from_the_metrics_text() {
        let m = idrelay::metrics::Metrics::new();
        m.files_pass(
            Duration::from_millis(1),
            idrelay::metrics::PassOutcome::Wrote,
        );
        m.files_pass(
            Duration::from_millis(1),
            idrelay::metrics::PassOutcome::Noop,
        );
        m.files_pass(
            Duration::from_millis(1),
            idrelay::metrics::PassOutcome::Noop,
        );
        m.status_writes("Tenant", 3, 7);
        let c = Counters::parse(&m.encode());
        assert_eq!(
            c,
            Counters {
                wrote: 1,
                noop: 2,
                error: 0,
                status_writes: 3,
                status_skipped: 7
            }
        );
        assert_eq!(c.passes(), 3);
    }

    #[test]
    fn goals_fail_when_not_exercised_or_written() {
        let good = Results {
            resources: 1000,
            reported: 1000,
            ready: 1000,
            all_ready: Some(Duration::from_secs(3)),
            settled: 1000,
            all_settled: Some(Duration::from_secs(4)),
            max_rss_kib: 60 * 1024,
            idle_passes: 2,
            idle_noop_passes: 2,
            status_unchanged: true,
            ..Results::default()
        };
        assert!(goals(&good).iter().all(|g| g.pass));
        let idle = Results {
            idle_passes: 0,
            idle_noop_passes: 0,
            ..good.clone()
        };
        assert!(!goals(&idle)[2].pass);
        let wrote = Results {
            idle_status_writes: 1,
            ..good.clone()
        };
        assert!(!goals(&wrote)[2].pass);
        let fat = Results {
            max_rss_kib: 100 * 1024,
            ..good.clone()
        };
        assert!(!goals(&fat)[1].pass);
        let slow = Results {
            all_ready: None,
            ready: 999,
            ..good
        };
        assert!(!goals(&slow)[0].pass);
        assert!(table(&slow).contains("FAIL every resource Ready"));
    }
}
