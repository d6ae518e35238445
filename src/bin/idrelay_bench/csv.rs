//! The `csv` scenario: the same N users (default 25,000) created two ways, each in a fresh
//! idrelay process so that each method gets its own peak memory: (a) a full-profile CSV import
//! through `POST /tenants/bench/import/users` (the client `idrelay import` uses: chunks of
//! 1,000 rows, one after the other), (b) SCIM v2 `POST /Bulk` (chunks within the advertised
//! limits, one after the other). Reported: rows/s and peak RSS (VmHWM) of the server for each,
//! and the CSV/Bulk ratios.
//!
//! Invariants: both methods create exactly the same users (same attributes); a method counts
//! only users the server confirms (the report, the BulkResponse) and the tenant's user count is
//! checked afterwards; a mismatch is reported, not hidden.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use idrelay::directory::csv_import::Format;
use idrelay::directory::csv_import::client::ImportClient;
use reqwest::Client;
use serde_json::{Value, json};

use super::process::{self, CLIENT_ID, ScratchDir, TENANT};

const SCIM_JSON: &str = "application/scim+json";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Rows per CSV upload (as `idrelay import` sends them).
const CSV_CHUNK_ROWS: usize = 1000;

/// The command line of `idrelay-bench csv`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Users to create with each method.
    #[arg(long, default_value_t = 25_000)]
    rows: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The idrelay binary to run (default: the one next to this executable).
    #[arg(long)]
    idrelay: Option<PathBuf>,
    /// Do not run `cargo build --bin idrelay` first.
    #[arg(long)]
    no_build: bool,
    /// Keep the generated config, data and server logs.
    #[arg(long)]
    keep_data: bool,
}

/// Runs the scenario and prints the table (and writes the JSON when asked).
pub fn main(args: Args) -> anyhow::Result<()> {
    if args.rows == 0 {
        bail!("--rows must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let results = runtime.block_on(run(&args))?;
    print!("{}", table(&results));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&json(&results))?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("results written to {}", path.display());
    }
    Ok(())
}

/// How one method did.
#[derive(Debug, Clone, Default)]
pub struct Method {
    pub name: &'static str,
    pub created: usize,
    pub failed: usize,
    pub elapsed: Duration,
    /// Requests sent.
    pub requests: usize,
    /// VmRSS after start (idle) and VmHWM after the run, in KiB.
    pub idle_rss_kib: u64,
    pub peak_rss_kib: u64,
    pub first_error: Option<String>,
    /// Users in the tenant afterwards.
    pub users_after: u64,
}

impl Method {
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.created as f64 / s
        } else {
            0.0
        }
    }
}

/// Both methods, same run.
#[derive(Debug, Clone)]
pub struct Results {
    pub rows: usize,
    pub csv: Method,
    pub bulk: Method,
}

/// One generated user.
struct Person {
    user_name: String,
    email: String,
    family: String,
    given: String,
    department: String,
    number: String,
}

fn people(rows: usize) -> Vec<Person> {
    (0..rows)
        .map(|i| Person {
            user_name: format!("csv-user-{i:06}"),
            email: format!("csv-user-{i:06}@example.com"),
            family: format!("Family{i}"),
            given: format!("Given{i}"),
            department: format!("Dept{}", i % 50),
            number: i.to_string(),
        })
        .collect()
}

/// The full-profile file of `people`.
fn csv_file(people: &[Person]) -> String {
    let mut out = format!(
        "userName,emails[0].value,name.familyName,name.givenName,displayName,addresses[0].country,addresses[0].locality,{ENTERPRISE}:department,{ENTERPRISE}:employeeNumber,locale\n"
    );
    for p in people {
        let _ = writeln!(
            out,
            "{},{},{},{},{} {},DE,Walldorf,{},{},de-DE",
            p.user_name, p.email, p.family, p.given, p.given, p.family, p.department, p.number
        );
    }
    out
}

/// The same user as a SCIM body.
fn scim_user(p: &Person) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": p.user_name,
        "emails": [{"value": p.email}],
        "name": {"familyName": p.family, "givenName": p.given},
        "displayName": format!("{} {}", p.given, p.family),
        "addresses": [{"country": "DE", "locality": "Walldorf"}],
        "locale": "de-DE",
        ENTERPRISE: {"department": p.department, "employeeNumber": p.number},
    })
}

/// A fresh idrelay with its scratch directory.
struct Server {
    _scratch: ScratchDir,
    idrelay: process::Idrelay,
    secret: String,
}

impl Server {
    async fn start(binary: &Path, keep: bool) -> anyhow::Result<Server> {
        let mut scratch = ScratchDir::create()?;
        scratch.keep = keep;
        let config = scratch.path.join("config");
        let data = scratch.path.join("data");
        std::fs::create_dir_all(&config)?;
        std::fs::create_dir_all(&data)?;
        let secret = uuid::Uuid::new_v4().simple().to_string();
        std::fs::write(config.join("bench.yaml"), process::config_yaml(&secret))?;
        let idrelay =
            process::start_idrelay(binary, &config, &data, &scratch.path.join("idrelay.log"))
                .await?;
        Ok(Server {
            _scratch: scratch,
            idrelay,
            secret,
        })
    }

    /// `http://127.0.0.1:PORT`
    fn base_url(&self) -> String {
        self.idrelay
            .scim_base
            .trim_end_matches(&format!("/tenants/{TENANT}/scim"))
            .to_string()
    }

    async fn users(&self, http: &Client) -> anyhow::Result<u64> {
        let body: Value = http
            .get(format!("{}/Users?count=0", self.idrelay.scim_base))
            .header("authorization", process::basic_auth(&self.secret))
            .send()
            .await?
            .json()
            .await?;
        body["totalResults"]
            .as_u64()
            .context("the user count has no totalResults")
    }
}

fn http() -> anyhow::Result<Client> {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(600))
        .build()
        .context("building the HTTP client")
}

async fn run_csv(binary: &Path, people: &[Person], keep: bool) -> anyhow::Result<Method> {
    let server = Server::start(binary, keep).await?;
    let pid = server.idrelay.process.pid();
    let (idle, _) = process::memory_kib(pid)?;
    let text = csv_file(people);
    let client = ImportClient::new(&server.base_url(), TENANT, CLIENT_ID, &server.secret, false)?;
    let mut requests = 0;
    let started = Instant::now();
    let report = client
        .import_file(text.as_bytes(), Some(Format::Full), CSV_CHUNK_ROWS, |_| {
            requests += 1
        })
        .await?;
    let elapsed = started.elapsed();
    let (_, peak) = process::memory_kib(pid)?;
    let users_after = server.users(&http()?).await?;
    Ok(Method {
        name: "CSV import (full profile)",
        created: report.created,
        failed: report.failed,
        elapsed,
        requests,
        idle_rss_kib: idle,
        peak_rss_kib: peak,
        first_error: report
            .failed_rows()
            .next()
            .map(|r| format!("row {}: {}", r.row, r.reason.clone().unwrap_or_default())),
        users_after,
    })
}

/// Bulk limits the server advertises: `(maxOperations, maxPayloadSize)`.
async fn bulk_limits(http: &Client, server: &Server) -> anyhow::Result<(usize, usize)> {
    let spc: Value = http
        .get(format!(
            "{}/ServiceProviderConfig",
            server.idrelay.scim_base
        ))
        .header("authorization", process::basic_auth(&server.secret))
        .send()
        .await?
        .json()
        .await
        .context("ServiceProviderConfig is not JSON")?;
    if spc["bulk"]["supported"].as_bool() != Some(true) {
        bail!("the server does not offer /Bulk");
    }
    let max_ops = spc["bulk"]["maxOperations"].as_u64().unwrap_or(100) as usize;
    let max_payload = spc["bulk"]["maxPayloadSize"].as_u64().unwrap_or(1 << 20) as usize;
    Ok((max_ops.max(1), max_payload))
}

/// BulkRequest bodies of POST operations, each within both limits (90 % of the payload limit).
fn bulk_bodies(people: &[Person], max_ops: usize, max_payload: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut ops: Vec<String> = Vec::new();
    let mut size = 0;
    let flush = |ops: &mut Vec<String>, out: &mut Vec<(usize, String)>| {
        if !ops.is_empty() {
            out.push((
                ops.len(),
                format!(
                    "{{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"],\"Operations\":[{}]}}",
                    ops.join(",")
                ),
            ));
            ops.clear();
        }
    };
    for (i, p) in people.iter().enumerate() {
        let op = json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": scim_user(p)})
            .to_string();
        if ops.len() == max_ops || size + op.len() + 200 > max_payload * 9 / 10 {
            flush(&mut ops, &mut out);
            size = 0;
        }
        size += op.len() + 1;
        ops.push(op);
    }
    flush(&mut ops, &mut out);
    out
}

async fn run_bulk(binary: &Path, people: &[Person], keep: bool) -> anyhow::Result<Method> {
    let server = Server::start(binary, keep).await?;
    let pid = server.idrelay.process.pid();
    let (idle, _) = process::memory_kib(pid)?;
    let http = http()?;
    let (max_ops, max_payload) = bulk_limits(&http, &server).await?;
    let bodies = bulk_bodies(people, max_ops, max_payload);
    let auth = process::basic_auth(&server.secret);
    let url = format!("{}/Bulk", server.idrelay.scim_base);
    let mut method = Method {
        name: "SCIM v2 /Bulk",
        idle_rss_kib: idle,
        ..Method::default()
    };
    let started = Instant::now();
    for (count, body) in bodies {
        let response = http
            .post(&url)
            .header("authorization", &auth)
            .header("content-type", SCIM_JSON)
            .body(body)
            .send()
            .await?;
        method.requests += 1;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let Some(results) = answer["Operations"].as_array() else {
            method.failed += count;
            method
                .first_error
                .get_or_insert_with(|| format!("HTTP {status}: {answer}"));
            continue;
        };
        for op in results {
            if op["status"].as_str() == Some("201") || op["status"].as_u64() == Some(201) {
                method.created += 1;
            } else {
                method.failed += 1;
                method
                    .first_error
                    .get_or_insert_with(|| op["response"].to_string());
            }
        }
    }
    method.elapsed = started.elapsed();
    method.peak_rss_kib = process::memory_kib(pid)?.1;
    method.users_after = server.users(&http).await?;
    Ok(method)
}

async fn run(options: &Args) -> anyhow::Result<Results> {
    let binary = process::idrelay_binary(options.idrelay.as_deref())?;
    if !options.no_build && options.idrelay.is_none() {
        process::build_sibling_idrelay(&binary)?;
    }
    let people = people(options.rows);
    eprintln!(
        "csv: {} users through the full-profile CSV import",
        options.rows
    );
    let csv = run_csv(&binary, &people, options.keep_data).await?;
    eprintln!(
        "  {:.0} rows/s, peak RSS {:.1} MiB",
        csv.rate(),
        csv.peak_rss_kib as f64 / 1024.0
    );
    eprintln!(
        "bulk: the same {} users through SCIM v2 /Bulk",
        options.rows
    );
    let bulk = run_bulk(&binary, &people, options.keep_data).await?;
    eprintln!(
        "  {:.0} rows/s, peak RSS {:.1} MiB",
        bulk.rate(),
        bulk.peak_rss_kib as f64 / 1024.0
    );
    Ok(Results {
        rows: options.rows,
        csv,
        bulk,
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// The results as a table.
fn table(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:>8} {:>7} {:>9} {:>10} {:>9} {:>13} {:>13}",
        "method",
        "created",
        "failed",
        "requests",
        "seconds",
        "rows/s",
        "idle RSS MiB",
        "peak RSS MiB"
    );
    for m in [&r.csv, &r.bulk] {
        let _ = writeln!(
            out,
            "{:<28} {:>8} {:>7} {:>9} {:>10.2} {:>9.0} {:>13.1} {:>13.1}",
            m.name,
            m.created,
            m.failed,
            m.requests,
            m.elapsed.as_secs_f64(),
            m.rate(),
            mib(m.idle_rss_kib),
            mib(m.peak_rss_kib)
        );
    }
    let _ = writeln!(
        out,
        "CSV / Bulk: rows/s x{:.2}, peak RSS x{:.2}",
        ratio(r.csv.rate(), r.bulk.rate()),
        ratio(r.csv.peak_rss_kib as f64, r.bulk.peak_rss_kib as f64)
    );
    for m in [&r.csv, &r.bulk] {
        if m.users_after != r.rows as u64 {
            let _ = writeln!(
                out,
                "WARNING {}: the tenant has {} users, expected {}",
                m.name, m.users_after, r.rows
            );
        }
        if let Some(e) = &m.first_error {
            let _ = writeln!(out, "{} first error: {e}", m.name);
        }
    }
    out
}

/// The results as JSON.
fn json(r: &Results) -> Value {
    let method = |m: &Method| {
        json!({
            "created": m.created, "failed": m.failed, "requests": m.requests,
            "seconds": m.elapsed.as_secs_f64(), "rowsPerSecond": m.rate(),
            "idleRssKib": m.idle_rss_kib, "peakRssKib": m.peak_rss_kib,
            "usersAfter": m.users_after, "firstError": m.first_error,
        })
    };
    json!({
        "rows": r.rows,
        "csv": method(&r.csv),
        "bulk": method(&r.bulk),
        "ratio": {
            "rowsPerSecond": ratio(r.csv.rate(), r.bulk.rate()),
            "peakRss": ratio(r.csv.peak_rss_kib as f64, r.bulk.peak_rss_kib as f64),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_methods_describe_the_same_users() {
        let p = people(3);
        let text = csv_file(&p);
        assert_eq!(text.lines().count(), 4);
        assert!(text.lines().nth(3).unwrap().starts_with("csv-user-000002,"));
        let u = scim_user(&p[2]);
        assert_eq!(u["userName"], "csv-user-000002");
        assert_eq!(u[ENTERPRISE]["employeeNumber"], "2");
    }

    #[test]
    fn bulk_bodies_respect_both_limits() {
        let p = people(25);
        let bodies = bulk_bodies(&p, 10, 1 << 20);
        assert_eq!(
            bodies.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        let small = bulk_bodies(&p, 1000, 4000);
        assert!(small.len() > 3);
        assert!(small.iter().all(|(_, b)| b.len() <= 4000));
        assert_eq!(small.iter().map(|(n, _)| n).sum::<usize>(), 25);
    }
}
