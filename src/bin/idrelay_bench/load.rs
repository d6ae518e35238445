//! Closed-loop HTTP load generation: `clients` workers, each with its own keep-alive HTTP/1.1
//! connection, send requests back to back for a fixed duration and record every latency.
//!
//! Invariants: the same generator serves the ceiling and idrelay so their rates compare fairly;
//! a request counts as done only once its whole body is read (the connection is reusable); a
//! response with an unexpected status counts as an error, not as a completed request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::{Client, RequestBuilder, StatusCode};

/// Builds the `seq`-th request of worker `worker` on that worker's client.
pub type MakeRequest = Arc<dyn Fn(&Client, usize, u64) -> RequestBuilder + Send + Sync>;

/// One keep-alive HTTP/1.1 client per worker (so each holds exactly one connection).
pub fn clients(count: usize) -> anyhow::Result<Vec<Client>> {
    (0..count)
        .map(|_| {
            Client::builder()
                .http1_only()
                .no_proxy()
                .tcp_nodelay(true)
                .pool_max_idle_per_host(1)
                .pool_idle_timeout(None)
                .timeout(Duration::from_secs(30))
                .build()
                .context("building the HTTP client")
        })
        .collect()
}

/// What a load phase measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Requests answered with the expected status.
    pub ok: u64,
    /// Transport errors and unexpected statuses.
    pub errors: u64,
    /// First error seen, for the report.
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Latencies of the successful requests in microseconds, sorted ascending.
    pub latencies_us: Vec<u32>,
    /// `(worker, seq, Location)` of successful responses, when asked for.
    pub locations: Vec<(usize, u64, String)>,
}

impl Measured {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// Two phases of the same load as one: requests and time add up, so the rate is the
    /// time-weighted mean (the plain mean for phases of equal length).
    pub fn combined(a: &Measured, b: &Measured) -> Measured {
        let mut latencies_us = [a.latencies_us.as_slice(), b.latencies_us.as_slice()].concat();
        latencies_us.sort_unstable();
        Measured {
            ok: a.ok + b.ok,
            errors: a.errors + b.errors,
            first_error: a.first_error.clone().or_else(|| b.first_error.clone()),
            elapsed: a.elapsed + b.elapsed,
            latencies_us,
            locations: Vec::new(),
        }
    }

    /// The `q`-quantile latency (0.0..=1.0), if any request succeeded.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        quantile_us(&self.latencies_us, q).map(|us| Duration::from_micros(u64::from(us)))
    }
}

/// Nearest-rank quantile of a sorted sample.
pub fn quantile_us(sorted: &[u32], q: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let q = q.clamp(0.0, 1.0);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
}

#[derive(Default)]
struct WorkerResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
    locations: Vec<(usize, u64, String)>,
}

/// Runs one phase: every client sends requests made by `make` until `duration` has passed.
pub async fn run(
    clients: &[Client],
    duration: Duration,
    expected: StatusCode,
    capture_location: bool,
    make: MakeRequest,
) -> anyhow::Result<Measured> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients.len());
    for (worker, client) in clients.iter().enumerate() {
        let client = client.clone();
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut result = WorkerResult::default();
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let request = make(&client, worker, seq);
                seq += 1;
                let sent = Instant::now();
                match exchange(request, expected, capture_location).await {
                    Ok(location) => {
                        let us = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                        result.ok += 1;
                        result.latencies_us.push(us);
                        if let Some(location) = location {
                            result.locations.push((worker, seq - 1, location));
                        }
                    }
                    Err(message) => {
                        result.errors += 1;
                        result.first_error.get_or_insert(message);
                        // Do not spin on a dead server.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            result
        }));
    }
    let mut measured = Measured::default();
    for task in tasks {
        let result = task.await.context("load worker panicked")?;
        measured.ok += result.ok;
        measured.errors += result.errors;
        if measured.first_error.is_none() {
            measured.first_error = result.first_error;
        }
        measured.latencies_us.extend(result.latencies_us);
        measured.locations.extend(result.locations);
    }
    measured.elapsed = start.elapsed();
    measured.latencies_us.sort_unstable();
    Ok(measured)
}

/// Runs one open-loop phase: `rate` requests per second in total, spread evenly over the
/// clients (each sends on its own fixed schedule, staggered against the others), for
/// `duration`. When a client is behind its schedule (its previous answer came late) the latency
/// counts from the scheduled send time, so time spent waiting behind a slow answer is included
/// (no coordinated omission); on schedule it counts from the actual send, so the timer's
/// millisecond granularity does not inflate the figures.
pub async fn run_paced(
    clients: &[Client],
    duration: Duration,
    rate: f64,
    expected: StatusCode,
    make: MakeRequest,
) -> anyhow::Result<Measured> {
    if clients.is_empty() || rate.is_nan() || rate <= 0.0 {
        anyhow::bail!("a paced phase needs clients and a positive rate");
    }
    let interval = Duration::from_secs_f64(clients.len() as f64 / rate);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients.len());
    for (worker, client) in clients.iter().enumerate() {
        let client = client.clone();
        let make = make.clone();
        let offset = interval.mul_f64(worker as f64 / clients.len() as f64);
        tasks.push(tokio::spawn(async move {
            let mut result = WorkerResult::default();
            let mut seq = 0u64;
            let mut due = start + offset;
            while due < deadline {
                let behind = Instant::now() > due;
                if !behind {
                    tokio::time::sleep_until(due.into()).await;
                }
                let sent = if behind { due } else { Instant::now() };
                let request = make(&client, worker, seq);
                seq += 1;
                match exchange(request, expected, false).await {
                    Ok(_) => {
                        let us = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                        result.ok += 1;
                        result.latencies_us.push(us);
                    }
                    Err(message) => {
                        result.errors += 1;
                        result.first_error.get_or_insert(message);
                    }
                }
                due += interval;
            }
            result
        }));
    }
    let mut measured = Measured::default();
    for task in tasks {
        let result = task.await.context("load worker panicked")?;
        measured.ok += result.ok;
        measured.errors += result.errors;
        if measured.first_error.is_none() {
            measured.first_error = result.first_error;
        }
        measured.latencies_us.extend(result.latencies_us);
    }
    measured.elapsed = start.elapsed().max(duration);
    measured.latencies_us.sort_unstable();
    Ok(measured)
}

/// Sends one request and reads the whole body. `Ok` carries the `Location` header when asked.
async fn exchange(
    request: RequestBuilder,
    expected: StatusCode,
    capture_location: bool,
) -> Result<Option<String>, String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = response.status();
    let location = if capture_location {
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    } else {
        None
    };
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("reading body: {e}"))?;
    if status != expected {
        let text = String::from_utf8_lossy(&body);
        let text: String = text.chars().take(300).collect();
        return Err(format!("status {status} (expected {expected}): {text}"));
    }
    Ok(location)
}

/// A well-mixed 64-bit hash (splitmix64), used to pick "random" items without shared RNG state.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A pseudo-random index below `len` for request `seq` of `worker`.
pub fn pick(worker: usize, seq: u64, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (mix(((worker as u64) << 40) ^ seq) % len as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let sample: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile_us(&sample, 0.5), Some(50));
        assert_eq!(quantile_us(&sample, 0.99), Some(99));
        assert_eq!(quantile_us(&sample, 1.0), Some(100));
        assert_eq!(quantile_us(&sample, 0.0), Some(1));
        assert_eq!(quantile_us(&[7], 0.99), Some(7));
        assert_eq!(quantile_us(&[], 0.5), None);
    }

    #[test]
    fn combined_phases_give_the_mean_rate() {
        let a = Measured {
            ok: 100,
            elapsed: Duration::from_secs(1),
            latencies_us: vec![5, 1],
            ..Measured::default()
        };
        let b = Measured {
            ok: 300,
            elapsed: Duration::from_secs(1),
            latencies_us: vec![3],
            ..Measured::default()
        };
        let c = Measured::combined(&a, &b);
        assert!((c.rate() - 200.0).abs() < 1e-9);
        assert_eq!(c.latencies_us, vec![1, 3, 5]);
    }

    #[tokio::test]
    async fn paced_phase_refuses_a_zero_rate() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let make: MakeRequest = Arc::new(|c: &Client, _, _| c.get("http://127.0.0.1:9/"));
        let clients = clients(1).unwrap();
        let r = run_paced(
            &clients,
            Duration::from_millis(10),
            0.0,
            StatusCode::OK,
            make,
        )
        .await;
        assert!(r.is_err());
    }

    #[test]
    fn rate_is_ok_requests_per_second() {
        let m = Measured {
            ok: 500,
            elapsed: Duration::from_millis(250),
            ..Measured::default()
        };
        assert!((m.rate() - 2000.0).abs() < 1e-9);
        assert_eq!(Measured::default().rate(), 0.0);
    }

    #[test]
    fn pick_stays_in_range_and_spreads() {
        let mut seen = std::collections::BTreeSet::new();
        for seq in 0..1000 {
            let i = pick(3, seq, 50);
            assert!(i < 50);
            seen.insert(i);
        }
        assert!(seen.len() > 40, "only {} distinct of 50", seen.len());
        assert_eq!(pick(0, 0, 0), 0);
    }
}
