//! The per-tenant rate limit of the real-time provisioning API: a token bucket per tenant
//! refilled at `rate` tokens per second holding at most `2 × rate` tokens (the burst).
//!
//! Invariants:
//! - A refused request takes no token and is told how long to wait (`Retry-After`, whole
//!   seconds, at least 1) until a token will be there.
//! - A rate change takes effect at the next request (the bucket is clamped to the new burst).
//! - Time is passed in ([`Instant`]), so the arithmetic is pure and testable.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// One tenant's bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` requests per second.
    pub fn full(rate: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: burst(rate),
            last: now,
        }
    }

    /// Takes one token; otherwise the wait until one is available.
    pub fn take(&mut self, rate: u32, now: Instant) -> Result<(), Duration> {
        let rate_f = f64::from(rate.max(1));
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate_f).min(burst(rate));
        self.last = now.max(self.last);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate_f))
        }
    }
}

/// The burst of `rate`: twice the rate (at least 1 token).
fn burst(rate: u32) -> f64 {
    2.0 * f64::from(rate.max(1))
}

/// A wait as a `Retry-After` value: whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// The buckets of every tenant.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

impl RateLimiter {
    pub fn new() -> RateLimiter {
        RateLimiter::default()
    }

    /// Admits one request of `tenant` at `rate` requests per second, or says how many whole
    /// seconds to wait (`Retry-After`).
    pub fn check(&self, tenant: &str, rate: u32, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock();
        let bucket = match buckets.get_mut(tenant) {
            Some(bucket) => bucket,
            None => buckets
                .entry(tenant.to_string())
                .or_insert_with(|| TokenBucket::full(rate, now)),
        };
        bucket.take(rate, now).map_err(retry_after_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_twice_the_rate_then_refill_at_rate() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new();
        for _ in 0..10 {
            assert_eq!(limiter.check("acme", 5, t0), Ok(()));
        }
        assert_eq!(limiter.check("acme", 5, t0), Err(1));
        // 0.2 s later one token (rate 5/s) is back, exactly one.
        let t1 = t0 + Duration::from_millis(200);
        assert_eq!(limiter.check("acme", 5, t1), Ok(()));
        assert_eq!(limiter.check("acme", 5, t1), Err(1));
        // Tenants have their own buckets.
        assert_eq!(limiter.check("beta", 5, t1), Ok(()));
    }

    #[test]
    fn refill_never_exceeds_burst() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(2, t0);
        let later = t0 + Duration::from_secs(3600);
        let taken = (0..10).filter(|_| bucket.take(2, later).is_ok()).count();
        assert_eq!(taken, 4);
    }

    #[test]
    fn refused_request_takes_no_token_and_waits_for_one() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(1, t0);
        assert!(bucket.take(1, t0).is_ok());
        assert!(bucket.take(1, t0).is_ok());
        let wait = bucket.take(1, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(bucket.take(1, t0 + Duration::from_millis(999)).is_err());
        assert!(bucket.take(1, t0 + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn lowered_rate_clamps_the_bucket() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(100, t0);
        let taken = (0..10).filter(|_| bucket.take(1, t0).is_ok()).count();
        assert_eq!(taken, 2);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(3)), 3);
    }
}
