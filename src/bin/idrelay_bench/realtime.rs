//! The `realtime` scenario (issue 5): a directory write acknowledged in tenant `acme` (SCIM v2
//! `POST /Users`) travels through both hops — the real-time target pushes it to acme's
//! real-time provisioning API, the delivery engine writes it to the target system — and is
//! measured when the final target acknowledges it, on loopback.
//!
//! Phases, in one run:
//! 1. **Warm-up**: users written to the directory until they arrive at the target (the push
//!    task is running, connections are open); the body the target received is kept.
//! 2. **Target ceiling**: `--events` `POST /Users` straight to the final target with
//!    `--concurrency` keep-alive clients, with exactly the body the target received from
//!    idrelay in the warm-up (the user name changed).
//! 3. **Throughput**: `--clients` closed-loop clients write `--events` distinct users to the
//!    directory. Reported: directory writes/s (201s per second) and sustained changes/s end
//!    to end (events / time from the first write until the target acknowledged the last of
//!    them), and its ratio to the ceiling.
//! 4. **Latency**: open-loop directory writes at 50 % of the sustained rate for
//!    `--latency-seconds`. Latency = the instant the final target acknowledged the create −
//!    the instant the directory write was sent (for scim2-server, through the recording proxy
//!    of the `provisioning` scenario: one extra loopback hop, included).
//!
//! Invariants: secrets are generated per run and only written to the scratch config; spawned
//! processes are killed on drop; a refused write, a failed delivery or a missing ack is
//! reported as a problem, never hidden.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::load::{self, Measured};
use super::process::{self, ScratchDir};
use super::provisioning::{
    CORE_USER, Counters, Goal, MakeRequest, Recorder, SCIM_JSON, TARGET_TRANSFORMATION, TargetKind,
    closed_loop, exchange, finish_perf, load_average, micros, ms, phase_json, row,
    scim2_server_binary, start_perf, start_scim2_server, write_outcome,
};

const TENANT: &str = "acme";
const CLIENT_ID: &str = "6f1d3c2a-0000-4000-8000-0000000ac3e5";
const SOURCE_ID: &str = "5e1f0000-0000-4000-8000-00000000be05";
const SOURCE_NAME: &str = "bench-rt-source";
const TARGET_NAME: &str = "bench-rt-target";
const REALTIME_TARGET: &str = "bench-rt";
/// Latency goal on loopback (issue 5).
const GOAL_P99: Duration = Duration::from_millis(50);
/// Share of scim2-server's ceiling the chain must reach (issue 5).
const GOAL_RATIO: f64 = 0.70;
/// Users written before measuring.
const WARMUP_EVENTS: usize = 200;

/// `idrelay-bench realtime` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The final SCIM target.
    #[arg(long, value_enum, default_value_t = TargetKind::Sink)]
    pub target: TargetKind,
    /// Directory writes (distinct users) in the ceiling and throughput phases.
    #[arg(long, default_value_t = 5_000)]
    pub events: usize,
    /// Closed-loop clients writing to the directory.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// `ips.max.concurrency` of the target system, and the direct load generator's clients.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds of the paced latency phase.
    #[arg(long, default_value_t = 5)]
    pub latency_seconds: u64,
    /// The scim2-server executable (default: `$IDRELAY_VENV` or `<repo>/.venv`, `bin/scim2-server`).
    #[arg(long)]
    pub scim2_server: Option<std::path::PathBuf>,
    /// Record `perf record -g` of the idrelay process during the throughput phase into FILE.
    #[arg(long)]
    pub perf: Option<std::path::PathBuf>,
    /// Seconds `perf` records.
    #[arg(long, default_value_t = 5)]
    pub perf_seconds: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// The idrelay binary to run (default: the one next to this executable).
    #[arg(long)]
    pub idrelay: Option<std::path::PathBuf>,
    /// Do not run `cargo build --bin idrelay` first.
    #[arg(long)]
    pub no_build: bool,
    /// Keep the generated config, data and logs.
    #[arg(long)]
    pub keep_data: bool,
}

/// Runs the scenario and prints (and optionally writes) the report.
pub fn main(args: Args) -> anyhow::Result<()> {
    if args.events == 0 || args.clients == 0 || args.concurrency == 0 || args.latency_seconds == 0 {
        bail!("--events, --clients, --concurrency and --latency-seconds must be at least 1");
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

fn user_name(prefix: &str, index: usize) -> String {
    format!("rt-{prefix}-{index:07}")
}

/// A user as a SCIM v2 client creates it in the directory.
fn directory_user(user_name: &str) -> Value {
    json!({
        "schemas": [CORE_USER],
        "userName": user_name,
        "name": {"givenName": "Bench", "familyName": user_name},
        "displayName": format!("Bench {user_name}"),
        "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
        "active": true,
    })
}

/// The config without the real-time target: tenant `acme` (real-time rate raised), a technical
/// admin that writes users and pushes them (ManageUsers, AccessRealTimeProvisioningAPI), the
/// source system of acme's real-time API and the target system. YAML ⊇ JSON.
fn config_documents(secret: &str, token: &str, target_url: &str, concurrency: usize) -> String {
    let documents = [
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": TENANT},
               "spec": {"displayName": "acme (bench)", "realTimeRateLimit": 1_000_000}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "acme-bench-secrets"},
               "stringData": {"secret": secret, "token": token}}),
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "TechnicalAdmin", "metadata": {"name": "acme-bench-admin"},
               "spec": {"tenantRef": {"name": TENANT}, "displayName": "acme writer and pusher", "clientId": CLIENT_ID,
                        "permissions": ["ManageUsers", "ReadUsers", "AccessRealTimeProvisioningAPI"],
                        "secrets": [{"secretRef": {"name": "acme-bench-secrets", "key": "secret"}}]}}),
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "SourceSystem", "metadata": {"name": SOURCE_NAME},
               "spec": {"tenantRef": {"name": TENANT}, "displayName": SOURCE_NAME, "type": "IdentityAuthentication",
                        "systemId": SOURCE_ID, "properties": {"ias.api.version": "2"}}}),
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "TargetSystem", "metadata": {"name": TARGET_NAME},
               "spec": {"tenantRef": {"name": TENANT}, "displayName": TARGET_NAME, "type": "SCIM", "url": target_url,
                        "sourceSystemRefs": [{"name": SOURCE_NAME}],
                        "authentication": {"bearerToken": {"tokenRef": {"name": "acme-bench-secrets", "key": "token"}}},
                        "properties": {"ips.max.concurrency": concurrency.to_string()},
                        "transformation": TARGET_TRANSFORMATION}}),
    ];
    documents
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// The real-time target (written once idrelay listens, so its URL is known): every user
/// change of acme pushed to the source system's real-time URL with Basic auth.
fn realtime_target_document(runtime_url: &str) -> String {
    json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "RealTimeTarget", "metadata": {"name": REALTIME_TARGET},
           "spec": {"tenantRef": {"name": TENANT}, "displayName": REALTIME_TARGET, "type": "IdentityProvisioning",
                    "sourceSystemRef": {"name": SOURCE_NAME}, "runtimeUrl": runtime_url, "version": 2,
                    "authentication": {"basic": {"clientId": CLIENT_ID,
                                                 "secretRef": {"name": "acme-bench-secrets", "key": "secret"}}}}})
    .to_string()
}

fn basic_auth(secret: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{secret}"));
    format!("Basic {token}")
}

/// Everything the scenario measured.
#[derive(Debug, Clone, Default)]
pub struct Results {
    pub target: &'static str,
    pub events: usize,
    pub clients: usize,
    pub concurrency: usize,
    pub cores: usize,
    pub load_before: String,
    pub load_after: String,
    /// Direct `POST /Users` to the final target.
    pub ceiling: Measured,
    /// Directory writes (the 201s).
    pub writes: Measured,
    /// From the first write until the store counted every delivery.
    pub chain_elapsed: Duration,
    pub delivered: u64,
    pub failed: u64,
    /// Paced writes: the pace, the 201 latencies, and write → final target ack latencies.
    pub paced_rate: f64,
    pub paced_writes: Measured,
    pub ack_latencies_us: Vec<u32>,
    pub missing_acks: usize,
    pub problems: Vec<String>,
    pub perf: Option<String>,
}

impl Results {
    fn chain_rate(&self) -> f64 {
        let s = self.chain_elapsed.as_secs_f64();
        if s > 0.0 {
            self.delivered as f64 / s
        } else {
            0.0
        }
    }

    fn ratio(&self) -> f64 {
        let c = self.ceiling.rate();
        if c > 0.0 { self.chain_rate() / c } else { 0.0 }
    }

    fn ack_quantile(&self, q: f64) -> Option<Duration> {
        load::quantile_us(&self.ack_latencies_us, q).map(|us| Duration::from_micros(u64::from(us)))
    }
}

/// Waits until the target acknowledged every `user_name(prefix, i)` of `0..count`: returns
/// the latest acknowledgement, or how many never arrived within `timeout`. (Counting delivery
/// rows would not do: the initial Provision may push a warm-up user twice.)
async fn wait_acked(
    recorder: &Recorder,
    prefix: &str,
    count: usize,
    timeout: Duration,
) -> Result<Instant, usize> {
    let deadline = Instant::now() + timeout;
    let mut missing: Vec<usize> = (0..count).collect();
    let mut last: Option<Instant> = None;
    loop {
        missing.retain(|&i| match recorder.ack(&user_name(prefix, i)) {
            Some(at) => {
                last = Some(last.map_or(at, |l| l.max(at)));
                false
            }
            None => true,
        });
        if missing.is_empty() {
            return Ok(last.unwrap_or_else(Instant::now));
        }
        if Instant::now() > deadline {
            return Err(missing.len());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `POST /Users` of `user_name(prefix, i)` to the directory.
fn write_request(url: Arc<str>, auth: Arc<str>, prefix: &'static str) -> MakeRequest {
    Arc::new(move |c: &Client, i| {
        c.post(&*url)
            .header("authorization", &*auth)
            .header("content-type", SCIM_JSON)
            .body(directory_user(&user_name(prefix, i)).to_string())
    })
}

async fn run(args: &Args) -> anyhow::Result<Results> {
    let mut results = Results {
        target: args.target.name(),
        events: args.events,
        clients: args.clients,
        concurrency: args.concurrency,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_before: load_average(),
        ..Results::default()
    };
    let binary = process::idrelay_binary(args.idrelay.as_deref())?;
    if !args.no_build && args.idrelay.is_none() {
        process::build_sibling_idrelay(&binary)?;
    }
    let mut scratch = ScratchDir::create()?;
    scratch.keep = args.keep_data;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let scim2_binary = scim2_server_binary(args.scim2_server.as_deref());

    // The final target as idrelay sees it: the sink, or scim2-server behind the recorder.
    let (recorder, _scim2, target_url) = match args.target {
        TargetKind::Sink => {
            let sink = Recorder::default();
            let url = sink.serve().await?;
            (sink, None, url)
        }
        TargetKind::Scim2Server => {
            let (guard, base) = start_scim2_server(
                &scim2_binary,
                &token,
                &scratch.path.join("scim2-server.log"),
            )
            .await?;
            let proxy = Recorder::proxy(base)?;
            let url = proxy.serve().await?;
            (proxy, Some(guard), url)
        }
    };
    let config_dir = scratch.path.join("config");
    let data_dir = scratch.path.join("data");
    std::fs::create_dir_all(&config_dir)?;
    std::fs::create_dir_all(&data_dir)?;
    std::fs::write(
        config_dir.join("acme.yaml"),
        config_documents(&secret, &token, &target_url, args.concurrency),
    )?;
    let mut idrelay = process::start_idrelay(
        &binary,
        &config_dir,
        &data_dir,
        &scratch.path.join("idrelay.log"),
    )
    .await?;
    let origin = idrelay
        .scim_base
        .strip_suffix(&format!("/tenants/{}/scim", process::TENANT))
        .context("unexpected idrelay base URL")?
        .to_owned();
    std::fs::write(
        config_dir.join("realtime.yaml"),
        realtime_target_document(&origin),
    )?;
    eprintln!(
        "idrelay started (pid {}, scratch {})",
        idrelay.process.pid(),
        scratch.path.display()
    );
    let store = idrelay::store::Store::open(&data_dir).await?;
    let counters = Counters {
        store,
        target_id: idrelay::reconcile::identity::derived_target_system_id("default", TARGET_NAME),
    };
    let auth: Arc<str> = basic_auth(&secret).into();
    let users_url: Arc<str> = format!("{origin}/tenants/{TENANT}/scim/Users").into();
    let write_clients = load::clients(args.clients)?;

    // 1. Warm-up: the push task runs once the file watcher picked up the real-time target.
    let m = closed_loop(
        &write_clients,
        WARMUP_EVENTS,
        StatusCode::CREATED,
        write_request(users_url.clone(), auth.clone(), "warm"),
    )
    .await?;
    if m.errors > 0 {
        bail!(
            "warm-up writes refused: {}",
            m.first_error.unwrap_or_default()
        );
    }
    if let Err(missing) =
        wait_acked(&recorder, "warm", WARMUP_EVENTS, Duration::from_secs(120)).await
    {
        bail!(
            "warm-up: {missing} users never reached the target{}",
            idrelay.process.log_hint()
        );
    }
    idrelay.process.ensure_running()?;
    let Some(sample) = recorder.sample() else {
        bail!("the target saw no create during the warm-up");
    };
    let sample_name = sample
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if sample_name.is_empty() {
        bail!("the target received a user without userName: {sample}");
    }
    let template: Arc<str> = sample.to_string().into();
    let sample_name: Arc<str> = sample_name.into();
    let (_, _, base_failed) = counters.get().await?;
    if base_failed > 0 {
        results
            .problems
            .push(format!("{base_failed} warm-up deliveries failed"));
    }

    // 2. The final target's ceiling, with the body idrelay wrote.
    {
        let (_guard, base) = match args.target {
            TargetKind::Sink => (None, target_url.clone()),
            TargetKind::Scim2Server => {
                let (guard, base) = start_scim2_server(
                    &scim2_binary,
                    &token,
                    &scratch.path.join("scim2-server-ceiling.log"),
                )
                .await?;
                (Some(guard), base)
            }
        };
        eprintln!(
            "ceiling: {} POST /Users straight to {} ({} clients)",
            args.events,
            args.target.name(),
            args.concurrency
        );
        let clients = load::clients(args.concurrency)?;
        let bearer: Arc<str> = format!("Bearer {token}").into();
        let url: Arc<str> = format!("{base}/Users").into();
        let make = |prefix: &'static str| -> MakeRequest {
            let (bearer, url, template, sample_name) = (
                bearer.clone(),
                url.clone(),
                template.clone(),
                sample_name.clone(),
            );
            Arc::new(move |c: &Client, i| {
                c.post(&*url)
                    .header("authorization", &*bearer)
                    .header("content-type", SCIM_JSON)
                    .body(template.replace(&*sample_name, &user_name(prefix, i)))
            })
        };
        closed_loop(
            &clients,
            WARMUP_EVENTS,
            StatusCode::CREATED,
            make("ceiling-warm"),
        )
        .await?;
        results.ceiling =
            closed_loop(&clients, args.events, StatusCode::CREATED, make("ceiling")).await?;
        if let Some(e) = &results.ceiling.first_error {
            results.problems.push(format!("ceiling: {e}"));
        }
        eprintln!("  ceiling: {:.0} creates/s", results.ceiling.rate());
    }

    // 3. Throughput: directory writes, pushes and deliveries at once.
    eprintln!(
        "throughput: {} directory writes ({} clients) → real-time target → idrelay → {} (ips.max.concurrency {})",
        args.events,
        args.clients,
        args.target.name(),
        args.concurrency
    );
    let perf = match &args.perf {
        Some(path) => Some(start_perf(idrelay.process.pid(), path, args.perf_seconds)?),
        None => None,
    };
    let start = Instant::now();
    let timeout = Duration::from_secs(120 + args.events as u64 / 20);
    let waiter = async { wait_acked(&recorder, "user", args.events, timeout).await };
    let writes = closed_loop(
        &write_clients,
        args.events,
        StatusCode::CREATED,
        write_request(users_url.clone(), auth.clone(), "user"),
    );
    let (writes, done_at) = tokio::join!(writes, waiter);
    results.writes = writes?;
    let (done_at, missing) = match done_at {
        Ok(at) => (at, 0),
        Err(missing) => {
            results
                .problems
                .push(format!("{missing} changes never reached the target"));
            (Instant::now(), missing)
        }
    };
    results.chain_elapsed = done_at.saturating_duration_since(start);
    let (_, _, failed) = counters.get().await?;
    results.delivered = (args.events - missing) as u64;
    results.failed = failed - base_failed;
    if results.failed > 0 {
        results
            .problems
            .push(format!("{} deliveries failed", results.failed));
    }
    if let Some(e) = &results.writes.first_error {
        results.problems.push(format!(
            "{} directory writes refused, first: {e}",
            results.writes.errors
        ));
    }
    if let Some(child) = perf {
        results.perf = Some(finish_perf(child, args.perf.as_deref())?);
    }
    eprintln!(
        "  {:.0} directory writes/s, {:.0} changes/s end to end",
        results.writes.rate(),
        results.chain_rate()
    );
    idrelay.process.ensure_running()?;

    // 4. Latency at half the sustained rate (open loop).
    let rate = (results.chain_rate() * 0.5).max(1.0);
    results.paced_rate = rate;
    let count = ((rate * args.latency_seconds as f64) as usize).max(1);
    eprintln!(
        "latency: {count} directory writes paced at {rate:.0}/s for {} s",
        args.latency_seconds
    );
    let paced_client = Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let make = write_request(users_url.clone(), auth.clone(), "lat");
    let t0 = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / rate)).await;
        let request = make(&paced_client, i);
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let answer = exchange(request, StatusCode::CREATED).await;
            (sent, sent.elapsed(), answer)
        }));
    }
    let mut sent_at = Vec::with_capacity(count);
    let mut paced = Measured::default();
    for task in tasks {
        let (sent, took, answer) = task.await.context("paced write panicked")?;
        match answer {
            Ok(()) => {
                paced.ok += 1;
                paced.latencies_us.push(micros(took));
            }
            Err(e) => {
                paced.errors += 1;
                paced.first_error.get_or_insert(e);
            }
        }
        sent_at.push(sent);
    }
    paced.elapsed = t0.elapsed();
    paced.latencies_us.sort_unstable();
    if let Err(missing) = wait_acked(&recorder, "lat", count, Duration::from_secs(60)).await {
        results.problems.push(format!(
            "latency phase: {missing} changes not acknowledged after 60 s"
        ));
    }
    let mut acks = Vec::with_capacity(count);
    for (i, sent) in sent_at.iter().enumerate() {
        match recorder.ack(&user_name("lat", i)) {
            Some(at) => acks.push(micros(at.saturating_duration_since(*sent))),
            None => results.missing_acks += 1,
        }
    }
    acks.sort_unstable();
    results.ack_latencies_us = acks;
    if results.missing_acks > 0 {
        results.problems.push(format!(
            "{} paced writes never reached the target",
            results.missing_acks
        ));
    }
    if let Some(e) = &paced.first_error {
        results
            .problems
            .push(format!("{} paced writes refused, first: {e}", paced.errors));
    }
    results.paced_writes = paced;
    idrelay.process.ensure_running()?;
    results.load_after = load_average();
    Ok(results)
}

fn goals(r: &Results) -> Vec<Goal> {
    let p99 = r.ack_quantile(0.99);
    vec![
        Goal {
            name: "changes/s >= 70 % of the target's ceiling",
            measured: format!("{:.1} %", r.ratio() * 100.0),
            pass: (r.target == TargetKind::Scim2Server.name()).then(|| r.ratio() >= GOAL_RATIO),
        },
        Goal {
            name: "write -> final target ack p99 < 50 ms",
            measured: ms(p99),
            pass: Some(p99.is_some_and(|p| p < GOAL_P99) && r.missing_acks == 0),
        },
        Goal {
            name: "every change delivered, nothing failed",
            measured: format!("{} problems", r.problems.len()),
            pass: Some(r.problems.is_empty()),
        },
    ]
}

fn table(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nidrelay real-time chain benchmark (directory -> real-time target -> provisioning API -> target): \
         target {}, {} events, {} directory clients, concurrency {}, {} cores, load {} before / {} after",
        r.target, r.events, r.clients, r.concurrency, r.cores, r.load_before, r.load_after
    );
    let _ = writeln!(
        out,
        "\n{:<44} {:>8} {:>6} {:>10} {:>11} {:>11}",
        "phase", "count", "errors", "rate/s", "p50", "p99"
    );
    row(
        &mut out,
        "target ceiling (direct POST /Users)",
        &r.ceiling,
        r.ceiling.rate(),
    );
    row(
        &mut out,
        "directory writes acknowledged (201)",
        &r.writes,
        r.writes.rate(),
    );
    let chain = Measured {
        ok: r.delivered,
        errors: r.failed,
        elapsed: r.chain_elapsed,
        ..Measured::default()
    };
    row(
        &mut out,
        "changes end to end (write -> delivered)",
        &chain,
        r.chain_rate(),
    );
    row(
        &mut out,
        &format!("paced writes @ {:.0}/s (201 latency)", r.paced_rate),
        &r.paced_writes,
        r.paced_writes.rate(),
    );
    let acks = Measured {
        ok: r.ack_latencies_us.len() as u64,
        errors: r.missing_acks as u64,
        elapsed: r.paced_writes.elapsed,
        latencies_us: r.ack_latencies_us.clone(),
        ..Measured::default()
    };
    row(
        &mut out,
        &format!("  write -> final target ack @ {:.0}/s", r.paced_rate),
        &acks,
        acks.rate(),
    );
    let _ = writeln!(
        out,
        "\nchanges / target ceiling: {:.1} %{}",
        r.ratio() * 100.0,
        if r.target == TargetKind::Sink.name() {
            " (the sink's ceiling is far above idrelay: this is idrelay's own ceiling)"
        } else {
            ""
        }
    );
    write_outcome(
        &mut out,
        "issue 5",
        &r.problems,
        &goals(r),
        r.perf.as_deref(),
    );
    out
}

fn to_json(r: &Results) -> Value {
    let ack = |q| load::quantile_us(&r.ack_latencies_us, q);
    json!({
        "scenario": "realtime",
        "target": r.target,
        "events": r.events,
        "clients": r.clients,
        "concurrency": r.concurrency,
        "cores": r.cores,
        "load_before": r.load_before,
        "load_after": r.load_after,
        "ceiling": phase_json(&r.ceiling, r.ceiling.rate()),
        "writes": phase_json(&r.writes, r.writes.rate()),
        "chain": {"delivered": r.delivered, "failed": r.failed,
                  "seconds": r.chain_elapsed.as_secs_f64(), "rate_per_s": r.chain_rate()},
        "ratio_to_ceiling": r.ratio(),
        "latency": {"paced_rate_per_s": r.paced_rate,
                    "write": phase_json(&r.paced_writes, r.paced_writes.rate()),
                    "ack_p50_us": ack(0.50), "ack_p90_us": ack(0.90), "ack_p99_us": ack(0.99), "ack_max_us": ack(1.0),
                    "acks": r.ack_latencies_us.len(), "missing_acks": r.missing_acks},
        "problems": r.problems,
        "perf_top": r.perf,
        "goals": goals(r).iter().map(|g| json!({"goal": g.name, "measured": g.measured, "pass": g.pass})).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_the_realtime_target_points_at_the_source_system() {
        let text = config_documents("s", "t", "http://target", 8);
        let docs: Vec<&str> = text.split("\n---\n").collect();
        assert_eq!(docs.len(), 5);
        for doc in &docs {
            let v: Value = serde_json::from_str(doc).unwrap();
            assert!(v["kind"].is_string());
        }
        let rt: Value =
            serde_json::from_str(&realtime_target_document("http://127.0.0.1:9")).unwrap();
        assert_eq!(rt["spec"]["sourceSystemRef"]["name"], SOURCE_NAME);
        assert_eq!(rt["spec"]["runtimeUrl"], "http://127.0.0.1:9");
        assert_eq!(rt["spec"]["authentication"]["basic"]["clientId"], CLIENT_ID);
    }

    #[test]
    fn user_names_are_distinct_and_do_not_contain_each_other() {
        // The ceiling replaces the warm-up name inside the body: no name is a prefix of another.
        let a = user_name("warm", 1);
        let b = user_name("warm", 10);
        assert_ne!(a, b);
        assert!(!b.contains(&a));
        assert_eq!(directory_user(&a)["userName"], a.as_str());
    }

    #[test]
    fn goals_miss_below_the_thresholds() {
        let mut r = Results {
            target: "scim2-server",
            ceiling: Measured {
                ok: 1000,
                elapsed: Duration::from_secs(1),
                ..Measured::default()
            },
            delivered: 700,
            chain_elapsed: Duration::from_secs(1),
            ack_latencies_us: vec![1000, 49_999],
            ..Results::default()
        };
        assert!(goals(&r).iter().all(|g| g.pass == Some(true)));
        r.delivered = 699;
        r.ack_latencies_us = vec![1000, 50_000];
        assert_eq!(goals(&r)[0].pass, Some(false));
        assert_eq!(goals(&r)[1].pass, Some(false));
        r.target = "sink";
        assert_eq!(goals(&r)[0].pass, None);
    }
}
