//! `idrelay-bench`: the benchmark idrelay ships (issue 2).
//!
//! `idrelay-bench directory [--users 100000] [--clients 32] [--seconds 10] [--json FILE]` measures,
//! for concurrent keep-alive HTTP/1.1 clients on loopback, the rate and p50/p99 latency of a
//! trivial axum handler (the ceiling), SCIM creates, GET by id and `userName eq` filters on an
//! N-user tenant, the ratio of each rate to the ceiling, and idrelay's resident memory; then it
//! prints the goals of the issue with PASS/MISS.
//!
//! idrelay runs as its own process: the `idrelay` binary next to this one (rebuilt first when the
//! source tree is present; `--no-build` skips that, `--idrelay PATH` picks another binary).

#[path = "idrelay_bench/ceiling.rs"]
mod ceiling;
#[path = "idrelay_bench/csv.rs"]
mod csv;
#[path = "idrelay_bench/directory.rs"]
mod directory;
#[path = "idrelay_bench/load.rs"]
mod load;
#[path = "idrelay_bench/process.rs"]
mod process;
#[path = "idrelay_bench/provisioning.rs"]
mod provisioning;
#[path = "idrelay_bench/realtime.rs"]
mod realtime;
#[path = "idrelay_bench/report.rs"]
mod report;
#[path = "idrelay_bench/resources.rs"]
mod resources;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

/// The same global allocator as the `idrelay` binary, with the same settings, so the ceiling
/// (served by this binary) is not handicapped by glibc malloc against idrelay's mimalloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` (see `src/main.rs`, which sets the same value).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
/// The purge delay (ms) `idrelay` uses.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

#[derive(Debug, Parser)]
#[command(name = "idrelay-bench", about = "Benchmarks idrelay on loopback")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The SCIM directory: ceiling, creates, GET by id, userName eq filters, memory.
    Directory {
        /// Users in the tenant when the reads run.
        #[arg(long, default_value_t = 100_000)]
        users: usize,
        /// Concurrent keep-alive clients.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds each measured phase runs.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
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
    },
    /// Real-time provisioning (issue 4): accepted events/s, deliveries/s, latency, ratio to the
    /// target's own ceiling; `--target scim2-server` or `--target sink`.
    Provisioning(provisioning::Args),
    /// Real-time chain (issue 5): directory write -> real-time target -> provisioning API ->
    /// target; p50/p99 at half the sustained rate, changes/s and the ratio to the target's ceiling.
    Realtime(realtime::Args),
    /// CSV import vs SCIM v2 /Bulk: rows/s and the server's peak memory for the same users
    /// (`--rows 25000`).
    Csv(csv::Args),
    /// 1,000 resources of mixed kinds through the files driver (issue 6): time to all Ready,
    /// resident memory, passes that wrote nothing.
    Resources(resources::Args),
    /// Internal: serve the ceiling handler (used by `directory`).
    #[command(hide = true)]
    CeilingServe {
        #[arg(long)]
        listen: SocketAddr,
    },
}

fn main() -> anyhow::Result<()> {
    // SAFETY: plain setter of a mimalloc option (linked in by `mimalloc`), called first thing in
    // `main`, before any other thread exists.
    // mimalloc's own `MIMALLOC_PURGE_DELAY` (read at its start) wins when set.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
    }
    // reqwest is built without a default TLS provider; the bench only speaks plain HTTP, but
    // building a client needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::CeilingServe { listen } => ceiling::serve(listen),
        Command::Csv(args) => csv::main(args),
        Command::Resources(args) => resources::main(args),
        Command::Provisioning(args) => provisioning::main(args),
        Command::Realtime(args) => realtime::main(args),
        Command::Directory {
            users,
            clients,
            seconds,
            json,
            idrelay,
            no_build,
            keep_data,
        } => {
            if clients == 0 || seconds == 0 {
                bail!("--clients and --seconds must be at least 1");
            }
            let options = directory::Options {
                users,
                clients,
                seconds,
                idrelay,
                build: !no_build,
                keep_data,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting tokio")?;
            let results = runtime.block_on(directory::run(options))?;
            print!("{}", report::table(&results));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&report::json(&results))?;
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("results written to {}", path.display());
            }
            Ok(())
        }
    }
}
