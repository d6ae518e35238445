//! The `directory` scenario: the loopback ceiling, then idrelay's SCIM directory under the same
//! closed-loop load — creates, a preload up to N users (through `/Bulk` when the server offers
//! it), GET by id and `userName eq` filters on random existing users — and idrelay's resident
//! memory at N users.
//!
//! Invariants: idrelay runs as its own process on a generated config and a scratch data dir;
//! reads only target users whose creation was acknowledged; answers are spot-checked for
//! correctness before their rate is measured, and a wrong answer is reported, not hidden.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::load::{self, MakeRequest, Measured};
use super::process::{self, ScratchDir};

const SCIM_JSON: &str = "application/scim+json";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub users: usize,
    pub clients: usize,
    pub seconds: u64,
    pub idrelay: Option<PathBuf>,
    pub build: bool,
    pub keep_data: bool,
}

/// How the preload went.
#[derive(Debug, Clone, Default)]
pub struct Preload {
    pub method: &'static str,
    pub created: usize,
    pub failed: usize,
    pub elapsed: Duration,
    pub first_error: Option<String>,
}

/// An open-loop phase below saturation: the share of the saturated rate and the rate it
/// aimed at, and what it measured.
#[derive(Debug, Clone, Default)]
pub struct Paced {
    pub share: f64,
    pub target_rate: f64,
    pub measured: Measured,
}

/// The shares of the saturated `userName eq` rate its paced steps aim at, ascending: a
/// latency-versus-load curve, each step also measured on the trivial handler at the same rate.
pub const LATENCY_SHARES: [f64; 3] = [0.1, 0.25, 0.5];

/// The step the p99 goal is judged on (and the share the paced GET by id runs at). Client and
/// server share the machine's cores: from 25 % up, even the trivial handler's own p99 on a
/// 2-core machine is above 2 ms (scheduling, not service time), so a step above it would judge
/// the machine rather than idrelay. The higher steps are reported next to it.
pub const GOAL_SHARE: f64 = 0.1;

/// Everything the scenario measured.
#[derive(Debug, Clone)]
pub struct Results {
    pub options: Options,
    pub cores: usize,
    /// The ceiling the ratios use: before and after combined (the mean rate).
    pub ceiling: Measured,
    /// The ceiling measured before the idrelay phases and after them (load drift shows here).
    pub ceiling_before: Measured,
    pub ceiling_after: Measured,
    pub creates: Measured,
    pub get_by_id: Measured,
    pub filter: Measured,
    /// GET by id paced at [`GOAL_SHARE`] of its saturated rate.
    pub get_by_id_paced: Paced,
    /// `userName eq` paced at each of [`LATENCY_SHARES`] of its saturated rate: the latency
    /// goal is judged at [`GOAL_SHARE`], below saturation.
    pub filter_paced: Vec<Paced>,
    /// The trivial handler paced at the same rates over the same clients: the latency this
    /// machine, its loopback and the load generator allow at each load.
    pub ceiling_paced: Vec<Paced>,
    pub preload: Preload,
    /// Users known to exist when the reads ran.
    pub users: usize,
    /// CPU time per create in the measured create phase, in microseconds: idrelay's, and the
    /// load generator's (this process) — where a create's cost goes on the shared cores.
    /// `None` where /proc has no per-thread `schedstat`.
    pub create_cpu_us: Option<(f64, f64)>,
    /// Largest sampled VmRSS at N users, and VmHWM at the end, in KiB.
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
    /// Problems with the answers (wrong or missing results), empty when all spot checks passed.
    pub correctness: Vec<String>,
}

impl Results {
    /// The paced `userName eq` step the p99 goal is judged on.
    pub fn filter_at_goal(&self) -> Option<&Paced> {
        self.filter_paced.iter().find(|p| p.share == GOAL_SHARE)
    }

    /// The trivial handler paced like the `share` step.
    pub fn ceiling_at(&self, share: f64) -> Option<&Paced> {
        self.ceiling_paced.iter().find(|p| p.share == share)
    }
}

/// A user the bench knows exists.
#[derive(Debug, Clone)]
struct Known {
    id: String,
    user_name: String,
}

fn user_json(user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Bench", "familyName": user_name},
        "displayName": format!("Bench {user_name}"),
        "emails": [{"value": format!("{user_name}@example.com"), "type": "work", "primary": true}],
        "active": true
    })
}

/// The text of [`user_json`] for a name that needs no JSON escaping (the bench's own names),
/// written directly: the load generator shares the machine with idrelay, so building a JSON
/// tree per request would take CPU from the server it measures.
fn user_body(user_name: &str) -> String {
    debug_assert!(
        user_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    );
    format!(
        r#"{{"schemas":["{USER_SCHEMA}"],"userName":"{user_name}","name":{{"givenName":"Bench","familyName":"{user_name}"}},"displayName":"Bench {user_name}","emails":[{{"value":"{user_name}@example.com","type":"work","primary":true}}],"active":true}}"#
    )
}

fn created_name(phase: &str, worker: usize, seq: u64) -> String {
    format!("{phase}-{worker:02}-{seq:07}")
}

/// The id at the end of a resource `Location`.
fn id_from_location(location: &str) -> Option<&str> {
    location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
}

pub async fn run(options: Options) -> anyhow::Result<Results> {
    let warmup = Duration::from_secs_f64((options.seconds as f64 / 4.0).min(1.0));
    let measure = Duration::from_secs(options.seconds);
    let binary = process::idrelay_binary(options.idrelay.as_deref())?;
    if options.build && options.idrelay.is_none() {
        process::build_sibling_idrelay(&binary)?;
    }
    if !binary.exists() {
        bail!(
            "{} does not exist; build it with `cargo build --release --bin idrelay`",
            binary.display()
        );
    }

    // (a) The ceiling.
    eprintln!(
        "ceiling: trivial axum handler, {} clients, {} s",
        options.clients, options.seconds
    );
    let (ceiling_before, _) = measure_ceiling(options.clients, warmup, measure, &[]).await?;
    eprintln!("  ceiling: {:.0} requests/s", ceiling_before.rate());

    // idrelay on a generated config and a scratch data dir.
    let mut scratch = ScratchDir::create()?;
    scratch.keep = options.keep_data;
    let config_dir = scratch.path.join("config");
    let data_dir = scratch.path.join("data");
    std::fs::create_dir_all(&config_dir)?;
    std::fs::create_dir_all(&data_dir)?;
    let secret = uuid::Uuid::new_v4().simple().to_string();
    std::fs::write(config_dir.join("bench.yaml"), process::config_yaml(&secret))?;
    let mut idrelay = process::start_idrelay(
        &binary,
        &config_dir,
        &data_dir,
        &scratch.path.join("idrelay.log"),
    )
    .await?;
    eprintln!(
        "idrelay started (pid {}, data in {})",
        idrelay.process.pid(),
        data_dir.display()
    );
    let auth: Arc<str> = process::basic_auth(&secret).into();
    let base: Arc<str> = idrelay.scim_base.clone().into();
    let clients = load::clients(options.clients)?;
    let mut correctness = Vec::new();
    check_create(&clients[0], &base, &auth).await?;

    // (b) Creates.
    eprintln!("creates: POST /Users, {} s", options.seconds);
    let mut known: Vec<Known> = Vec::new();
    let mut creates = Measured::default();
    let mut create_cpu_us = None;
    for (phase, duration) in [("warm", warmup), ("create", measure)] {
        let (b, a) = (base.clone(), auth.clone());
        let make: MakeRequest = Arc::new(move |c: &Client, worker, seq| {
            c.post(format!("{b}/Users"))
                .header("authorization", &*a)
                .header("content-type", SCIM_JSON)
                .body(user_body(&created_name(phase, worker, seq)))
        });
        let measured_phase = phase == "create";
        let cpu_before = measured_phase.then(|| process::cpu_sample(idrelay.process.pid()));
        let measured = load::run(&clients, duration, StatusCode::CREATED, true, make).await?;
        if let Some(before) = cpu_before {
            create_cpu_us = process::per_request_us(
                before,
                process::cpu_sample(idrelay.process.pid()),
                measured.ok,
            );
        }
        for (worker, seq, location) in &measured.locations {
            match id_from_location(location) {
                Some(id) => known.push(Known {
                    id: id.to_owned(),
                    user_name: created_name(phase, *worker, *seq),
                }),
                None => correctness.push(format!(
                    "create answered with Location {location:?} without an id"
                )),
            }
        }
        if measured.ok as usize != measured.locations.len() {
            correctness.push(format!(
                "{} of {} creates had no Location header",
                measured.ok as usize - measured.locations.len(),
                measured.ok
            ));
        }
        creates = measured;
    }
    idrelay.process.ensure_running()?;

    // (c) Preload up to N users.
    let preload = preload(
        &clients,
        &base,
        &auth,
        options.users.saturating_sub(known.len()),
        &mut known,
    )
    .await?;
    eprintln!(
        "preload: {} users via {} in {:.1} s ({} failed); {} users in the tenant",
        preload.created,
        preload.method,
        preload.elapsed.as_secs_f64(),
        preload.failed,
        known.len()
    );
    idrelay.process.ensure_running()?;
    if known.is_empty() {
        bail!(
            "no user could be created; nothing to read{}",
            idrelay.process.log_hint()
        );
    }
    let (rss_after_preload, _) = process::memory_kib(idrelay.process.pid())?;
    correctness.extend(spot_check(&clients[0], &base, &auth, &known).await?);
    let known = Arc::new(known);

    // (d) GET by id.
    eprintln!("reads: GET /Users/{{id}}, {} s", options.seconds);
    let (b, a, k) = (base.clone(), auth.clone(), known.clone());
    let make: MakeRequest = Arc::new(move |c: &Client, worker, seq| {
        let user = &k[load::pick(worker, seq, k.len())];
        c.get(format!("{b}/Users/{}", user.id))
            .header("authorization", &*a)
    });
    load::run(&clients, warmup, StatusCode::OK, false, make.clone()).await?;
    let get_by_id = load::run(&clients, measure, StatusCode::OK, false, make).await?;

    // (e) userName eq filter.
    eprintln!("reads: filter userName eq, {} s", options.seconds);
    let (b, a, k) = (base.clone(), auth.clone(), known.clone());
    let make: MakeRequest = Arc::new(move |c: &Client, worker, seq| {
        let user = &k[load::pick(worker, seq ^ 0x5eed, k.len())];
        c.get(format!("{b}/Users"))
            .query(&[("filter", format!("userName eq \"{}\"", user.user_name))])
            .header("authorization", &*a)
    });
    load::run(&clients, warmup, StatusCode::OK, false, make.clone()).await?;
    let filter = load::run(&clients, measure, StatusCode::OK, false, make.clone()).await?;
    let mut filter_paced = Vec::with_capacity(LATENCY_SHARES.len());
    for share in LATENCY_SHARES {
        let step = paced(
            &clients,
            "filter userName eq",
            &filter,
            share,
            measure,
            make.clone(),
        );
        filter_paced.push(step.await?);
    }
    let (b, a, k) = (base.clone(), auth.clone(), known.clone());
    let make: MakeRequest = Arc::new(move |c: &Client, worker, seq| {
        let user = &k[load::pick(worker, seq ^ 0xface, k.len())];
        c.get(format!("{b}/Users/{}", user.id))
            .header("authorization", &*a)
    });
    let get_by_id_paced = paced(
        &clients,
        "GET /Users/{id}",
        &get_by_id,
        GOAL_SHARE,
        measure,
        make,
    )
    .await?;

    // (f) Memory at N users.
    idrelay.process.ensure_running()?;
    let (rss_end, hwm) = process::memory_kib(idrelay.process.pid())?;
    drop(idrelay);

    // (g) The ceiling again: the ratios use the mean of both runs.
    eprintln!(
        "ceiling again (after the idrelay phases), {} s",
        options.seconds
    );
    let (ceiling_after, ceiling_paced) =
        measure_ceiling(options.clients, warmup, measure, &filter_paced).await?;
    eprintln!("  ceiling: {:.0} requests/s", ceiling_after.rate());
    let ceiling = Measured::combined(&ceiling_before, &ceiling_after);

    Ok(Results {
        options,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        ceiling,
        ceiling_before,
        ceiling_after,
        creates,
        get_by_id,
        filter,
        get_by_id_paced,
        filter_paced,
        ceiling_paced,
        preload,
        users: known.len(),
        create_cpu_us,
        rss_kib: rss_after_preload.max(rss_end),
        peak_rss_kib: hwm,
        correctness,
    })
}

/// One create and one read before anything is measured, so a broken setup fails loudly.
/// The trivial axum handler in its own process under the closed-loop load, then open-loop at
/// the rate of each of `paced_like` (the same schedules as those idrelay phases).
async fn measure_ceiling(
    clients: usize,
    warmup: Duration,
    measure: Duration,
    paced_like: &[Paced],
) -> anyhow::Result<(Measured, Vec<Paced>)> {
    let (_ceiling_process, ceiling_base) = process::start_ceiling()?;
    let clients = load::clients(clients)?;
    let url = format!("{ceiling_base}/ceiling");
    let make: MakeRequest = Arc::new(move |c: &Client, _, _| c.get(&url));
    load::run(&clients, warmup, StatusCode::OK, false, make.clone()).await?;
    let saturated = load::run(&clients, measure, StatusCode::OK, false, make.clone()).await?;
    let mut paced = Vec::with_capacity(paced_like.len());
    for like in paced_like {
        eprintln!(
            "paced: ceiling at {:.0}/s (as the {:.0} % step), {} s",
            like.target_rate,
            like.share * 100.0,
            measure.as_secs()
        );
        let measured = load::run_paced(
            &clients,
            measure,
            like.target_rate,
            StatusCode::OK,
            make.clone(),
        )
        .await?;
        paced.push(Paced {
            share: like.share,
            target_rate: like.target_rate,
            measured,
        });
    }
    Ok((saturated, paced))
}

/// `make` open-loop at `share` of the `saturated` rate over the same clients.
async fn paced(
    clients: &[Client],
    name: &str,
    saturated: &Measured,
    share: f64,
    measure: Duration,
    make: MakeRequest,
) -> anyhow::Result<Paced> {
    let target_rate = (saturated.rate() * share).max(1.0);
    eprintln!(
        "paced: {name} at {target_rate:.0}/s ({:.0} % of saturated), {} s",
        share * 100.0,
        measure.as_secs()
    );
    let measured = load::run_paced(clients, measure, target_rate, StatusCode::OK, make).await?;
    Ok(Paced {
        share,
        target_rate,
        measured,
    })
}

async fn check_create(client: &Client, base: &str, auth: &str) -> anyhow::Result<()> {
    let resp = client
        .post(format!("{base}/Users"))
        .header("authorization", auth)
        .header("content-type", SCIM_JSON)
        .body(user_json("bench-setup-check").to_string())
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    if status != StatusCode::CREATED {
        bail!("POST {base}/Users answered {status}: {text}");
    }
    let body: Value = serde_json::from_str(&text).context("create response is not JSON")?;
    let id = body["id"].as_str().context("create response has no id")?;
    let resp = client
        .get(format!("{base}/Users/{id}"))
        .header("authorization", auth)
        .send()
        .await?;
    if resp.status() != StatusCode::OK {
        bail!("GET of the created user answered {}", resp.status());
    }
    Ok(())
}

/// Bulk limits the server advertises: `(maxOperations, maxPayloadSize)`, if bulk is supported.
async fn bulk_limits(
    client: &Client,
    base: &str,
    auth: &str,
) -> anyhow::Result<Option<(usize, usize)>> {
    let resp = client
        .get(format!("{base}/ServiceProviderConfig"))
        .header("authorization", auth)
        .send()
        .await?;
    if !resp.status().is_success() {
        return Ok(None);
    }
    let spc: Value = resp
        .json()
        .await
        .context("ServiceProviderConfig is not JSON")?;
    let bulk = &spc["bulk"];
    if bulk["supported"].as_bool() != Some(true) {
        return Ok(None);
    }
    let max_ops = bulk["maxOperations"].as_u64().unwrap_or(100) as usize;
    let max_payload = bulk["maxPayloadSize"].as_u64().unwrap_or(1_048_576) as usize;
    Ok(Some((max_ops, max_payload)))
}

/// How many users go in one bulk request: within both limits, at most 1,000, at least 1.
pub fn bulk_chunk(max_operations: usize, max_payload: usize, bytes_per_user: usize) -> usize {
    let by_payload = (max_payload * 9 / 10) / bytes_per_user.max(1);
    max_operations.min(by_payload).clamp(1, 1000)
}

fn preload_name(i: usize) -> String {
    format!("user-{i:07}")
}

/// Creates `count` users, through `/Bulk` when offered, falling back to single creates.
async fn preload(
    clients: &[Client],
    base: &Arc<str>,
    auth: &Arc<str>,
    count: usize,
    known: &mut Vec<Known>,
) -> anyhow::Result<Preload> {
    let start = Instant::now();
    if count == 0 {
        return Ok(Preload {
            method: "nothing to do",
            ..Preload::default()
        });
    }
    let limits = bulk_limits(&clients[0], base, auth).await?;
    let (method, chunk) = match limits {
        Some((ops, payload)) => (
            "/Bulk",
            bulk_chunk(
                ops,
                payload,
                user_json(&preload_name(0)).to_string().len() + 120,
            ),
        ),
        None => ("POST /Users", 1),
    };
    let chunks = count.div_ceil(chunk);
    let next = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in clients {
        let (client, base, auth, next, progress) = (
            client.clone(),
            base.clone(),
            auth.clone(),
            next.clone(),
            progress.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut created = Vec::new();
            let mut failed = 0usize;
            let mut first_error = None;
            loop {
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= chunks {
                    break;
                }
                let range = c * chunk..((c + 1) * chunk).min(count);
                let len = range.len();
                let outcome = if method == "/Bulk" {
                    bulk_create(&client, &base, &auth, range).await
                } else {
                    single_create(&client, &base, &auth, range.start)
                        .await
                        .map(|k| (vec![k], Vec::new()))
                };
                match outcome {
                    Ok((ok, errors)) => {
                        failed += len - ok.len();
                        if first_error.is_none() {
                            first_error = errors.into_iter().next();
                        }
                        created.extend(ok);
                    }
                    Err(e) => {
                        failed += len;
                        first_error.get_or_insert(format!("{e:#}"));
                    }
                }
                let done = progress.fetch_add(len, Ordering::Relaxed) + len;
                if (done - len) * 10 / count != done * 10 / count {
                    eprintln!("  preload {done}/{count}");
                }
            }
            (created, failed, first_error)
        }));
    }
    let mut result = Preload {
        method,
        ..Preload::default()
    };
    for task in tasks {
        let (created, failed, first_error) = task.await.context("preload worker panicked")?;
        result.created += created.len();
        result.failed += failed;
        if result.first_error.is_none() {
            result.first_error = first_error;
        }
        known.extend(created);
    }
    result.elapsed = start.elapsed();
    Ok(result)
}

/// One `/Bulk` request creating the preload users of `range`; returns the created users and
/// the errors of the failed operations.
async fn bulk_create(
    client: &Client,
    base: &str,
    auth: &str,
    range: std::ops::Range<usize>,
) -> anyhow::Result<(Vec<Known>, Vec<String>)> {
    let mut names = BTreeMap::new();
    let operations: Vec<Value> = range
        .map(|i| {
            let bulk_id = format!("u{i}");
            let name = preload_name(i);
            let op = json!({"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": user_json(&name)});
            names.insert(bulk_id, name);
            op
        })
        .collect();
    let body = json!({"schemas": [BULK_REQUEST], "failOnErrors": operations.len(), "Operations": operations});
    let resp = client
        .post(format!("{base}/Bulk"))
        .header("authorization", auth)
        .header("content-type", SCIM_JSON)
        .body(body.to_string())
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    if status != StatusCode::OK {
        bail!(
            "POST /Bulk answered {status}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    let answer: Value = serde_json::from_str(&text).context("bulk response is not JSON")?;
    let mut created = Vec::new();
    let mut errors = Vec::new();
    for op in answer["Operations"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let status = match &op["status"] {
            Value::String(s) => s.parse::<u16>().ok(),
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            other => other["code"].as_u64().and_then(|n| u16::try_from(n).ok()),
        };
        let name = op["bulkId"].as_str().and_then(|b| names.get(b));
        let id = op["location"].as_str().and_then(id_from_location);
        match (status, name, id) {
            (Some(201), Some(name), Some(id)) => created.push(Known {
                id: id.to_owned(),
                user_name: name.clone(),
            }),
            _ => errors.push(format!("bulk operation: {op}")),
        }
    }
    Ok((created, errors))
}

async fn single_create(client: &Client, base: &str, auth: &str, i: usize) -> anyhow::Result<Known> {
    let name = preload_name(i);
    let resp = client
        .post(format!("{base}/Users"))
        .header("authorization", auth)
        .header("content-type", SCIM_JSON)
        .body(user_json(&name).to_string())
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    if status != StatusCode::CREATED {
        bail!(
            "POST /Users answered {status}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    let body: Value = serde_json::from_str(&text)?;
    let id = body["id"].as_str().context("create response without id")?;
    Ok(Known {
        id: id.to_owned(),
        user_name: name,
    })
}

/// Reads a sample of known users by id and by `userName eq` and reports wrong answers.
async fn spot_check(
    client: &Client,
    base: &str,
    auth: &str,
    known: &[Known],
) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    for n in 0..20u64 {
        let user = &known[load::pick(99, n, known.len())];
        let resp = client
            .get(format!("{base}/Users/{}", user.id))
            .header("authorization", auth)
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status != StatusCode::OK || body["userName"] != user.user_name.as_str() {
            problems.push(format!(
                "GET /Users/{} ({}): {status} {body}",
                user.id, user.user_name
            ));
        }
        let filter = format!("userName eq \"{}\"", user.user_name);
        let resp = client
            .get(format!("{base}/Users"))
            .query(&[("filter", filter.as_str())])
            .header("authorization", auth)
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let hits = body["Resources"].as_array().map(Vec::len);
        if status != StatusCode::OK
            || body["totalResults"] != 1
            || hits != Some(1)
            || body["Resources"][0]["id"] != user.id.as_str()
        {
            problems.push(format!(
                "filter {filter}: {status} {}",
                body.to_string().chars().take(300).collect::<String>()
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_user_body_is_the_user_json() {
        let name = created_name("create", 3, 42);
        let written: Value = serde_json::from_str(&user_body(&name)).unwrap();
        assert_eq!(written, user_json(&name));
    }

    #[test]
    fn bulk_chunk_respects_both_limits() {
        assert_eq!(bulk_chunk(1000, 1_048_576, 400), 1000);
        assert_eq!(bulk_chunk(1000, 100_000, 400), 225);
        assert_eq!(bulk_chunk(50, 1_048_576, 400), 50);
        assert_eq!(bulk_chunk(5000, 100_000_000, 400), 1000);
        assert_eq!(bulk_chunk(0, 10, 400), 1);
    }

    #[test]
    fn id_is_the_last_location_segment() {
        assert_eq!(
            id_from_location("http://h/tenants/bench/scim/Users/abc"),
            Some("abc")
        );
        assert_eq!(id_from_location("http://h/scim/Users/abc/"), Some("abc"));
        assert_eq!(id_from_location(""), None);
    }

    #[test]
    fn created_names_are_unique_per_phase_worker_and_seq() {
        assert_ne!(created_name("create", 1, 23), created_name("create", 12, 3));
        assert_ne!(created_name("warm", 1, 2), created_name("create", 1, 2));
    }
}
