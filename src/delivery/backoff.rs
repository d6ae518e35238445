//! Retry timing for deliveries (pure): exponential backoff with full jitter, `Retry-After`
//! parsing, and the retry budget that decides when a transient failure becomes a dead letter.
//!
//! Policy (documented in ARCHITECTURE/issue 4):
//! - Delay before retry `n` (n = 1, 2, …) is uniform in `[0, min(cap, base · 2^(n-1))]`
//!   ("full jitter"); a `Retry-After` from the target raises it to at least that value (capped at
//!   [`MAX_RETRY_AFTER`]).
//! - A delivery keeps retrying while the time since its first attempt is within the budget
//!   (`ips.failed.request.retry.budget`, default 24 h). SAP's own properties are the floor: it
//!   is never given up before `ips.failed.request.retry.attempts` retries (default 2, max 3)
//!   and the budget is never shorter than `attempts × ips.failed.request.retry.attempts.interval`.
//!
//! Invariants: delays are never negative and never above `max(cap, Retry-After)`; the decision
//! depends only on its inputs (the jitter fraction is passed in).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

/// Property: how long a delivery is retried before it is dead-lettered (`24h`, `90m`, `30s` or
/// a number of seconds).
pub const PROP_BUDGET: &str = "ips.failed.request.retry.budget";
/// Property: the longest backoff delay between two attempts (same syntax as the budget).
pub const PROP_CAP: &str = "ips.failed.request.retry.backoff.cap";
/// SAP property: retries at least this many times (default 2, maximum 3).
pub const PROP_ATTEMPTS: &str = "ips.failed.request.retry.attempts";
/// SAP property: seconds between SAP's retries (default 30, maximum 60).
pub const PROP_INTERVAL: &str = "ips.failed.request.retry.attempts.interval";

/// The largest `Retry-After` honoured; longer values are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How a target's failed deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// Retry while the time since the first attempt is below this.
    pub budget: Duration,
    /// Never give up before this many retries.
    pub min_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            budget: Duration::from_secs(24 * 3600),
            min_retries: 2,
        }
    }
}

/// What to do after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// The budget is spent: dead-letter the delivery.
    GiveUp,
}

impl RetryPolicy {
    /// The policy a target's properties ask for; unparsable values fall back to the defaults.
    pub fn from_properties(properties: &BTreeMap<String, String>) -> RetryPolicy {
        let mut policy = RetryPolicy::default();
        let attempts = properties
            .get(PROP_ATTEMPTS)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map_or(2, |a| a.min(3));
        let interval = properties
            .get(PROP_INTERVAL)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(30, |s| s.min(60));
        policy.min_retries = attempts;
        if let Some(cap) = properties.get(PROP_CAP).and_then(|v| parse_duration(v)) {
            policy.cap = cap.max(Duration::from_millis(10));
            policy.base = policy.base.min(policy.cap);
        }
        if let Some(budget) = properties.get(PROP_BUDGET).and_then(|v| parse_duration(v)) {
            policy.budget = budget;
        }
        let floor = Duration::from_secs(u64::from(attempts) * interval);
        policy.budget = policy.budget.max(floor);
        policy
    }

    /// The delay before retry number `retry` (1-based), with `jitter` in `[0, 1)` and the
    /// target's `Retry-After` if it sent one.
    pub fn delay(&self, retry: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let exponent = retry.saturating_sub(1).min(32);
        let ceiling = self
            .base
            .checked_mul(1u32 << exponent.min(31))
            .unwrap_or(self.cap)
            .min(self.cap);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jittered = ceiling.mul_f64(jitter);
        match retry_after {
            Some(after) => jittered.max(after.min(MAX_RETRY_AFTER)),
            None => jittered,
        }
    }

    /// After a transient failure of attempt number `attempts` (1-based count of attempts made
    /// so far), first made at `first_attempt`: retry (and when) or give up.
    pub fn decide(
        &self,
        attempts: u32,
        first_attempt: Timestamp,
        now: Timestamp,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> RetryDecision {
        let elapsed = now
            .duration_since(first_attempt)
            .try_into()
            .unwrap_or(Duration::ZERO);
        let retries_done = attempts.saturating_sub(1);
        if retries_done >= self.min_retries && elapsed >= self.budget {
            return RetryDecision::GiveUp;
        }
        RetryDecision::RetryAfter(self.delay(attempts, jitter, retry_after))
    }
}

/// `24h`, `90m`, `30s`, `250ms`, `1h30m` or a plain number of seconds.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let span: jiff::SignedDuration = value.parse().ok()?;
    span.try_into().ok()
}

/// A `Retry-After` header value: delay-seconds or an HTTP date (RFC 9110 §10.2.3), relative to
/// `now`. A date in the past is zero; anything else unparsable is `None`.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Some(at.duration_since(now).try_into().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn delay_grows_exponentially_to_the_cap_with_full_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0.999_999, None).as_millis(), 999);
        assert_eq!(p.delay(3, 1.0, None), Duration::from_secs(4));
        assert_eq!(p.delay(3, 0.5, None), Duration::from_secs(2));
        assert_eq!(p.delay(3, 0.0, None), Duration::ZERO);
        assert_eq!(p.delay(20, 1.0, None), Duration::from_secs(300));
        assert_eq!(p.delay(u32::MAX, 1.0, None), Duration::from_secs(300));
        assert_eq!(p.delay(2, f64::NAN, None), Duration::ZERO);
    }

    #[test]
    fn retry_after_is_a_lower_bound() {
        let p = RetryPolicy::default();
        let after = Some(Duration::from_secs(7));
        assert_eq!(p.delay(1, 0.5, after), Duration::from_secs(7));
        assert_eq!(p.delay(20, 1.0, after), Duration::from_secs(300));
        assert_eq!(
            p.delay(1, 0.5, Some(Duration::from_secs(99_999))),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn gives_up_only_after_budget_and_minimum_retries() {
        let p = RetryPolicy {
            budget: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let late: Timestamp = "2025-01-01T00:02:00Z".parse().unwrap();
        let early: Timestamp = "2025-01-01T00:00:10Z".parse().unwrap();
        assert!(matches!(
            p.decide(5, t0, early, 0.5, None),
            RetryDecision::RetryAfter(_)
        ));
        // Budget spent but only one retry so far: the SAP floor keeps retrying.
        assert!(matches!(
            p.decide(2, t0, late, 0.5, None),
            RetryDecision::RetryAfter(_)
        ));
        assert_eq!(p.decide(3, t0, late, 0.5, None), RetryDecision::GiveUp);
    }

    #[test]
    fn properties_set_budget_and_cap_with_sap_floor() {
        let p = RetryPolicy::from_properties(&props(&[
            (PROP_BUDGET, "2s"),
            (PROP_CAP, "500ms"),
            (PROP_ATTEMPTS, "3"),
            (PROP_INTERVAL, "1"),
        ]));
        assert_eq!(p.budget, Duration::from_secs(3));
        assert_eq!(p.cap, Duration::from_millis(500));
        assert_eq!(p.base, Duration::from_millis(500));
        assert_eq!(p.min_retries, 3);
        let p = RetryPolicy::from_properties(&props(&[(PROP_BUDGET, "1h30m")]));
        assert_eq!(p.budget, Duration::from_secs(5400));
        let p = RetryPolicy::from_properties(&props(&[(PROP_BUDGET, "120"), (PROP_ATTEMPTS, "9")]));
        assert_eq!(p.budget, Duration::from_secs(120));
        assert_eq!(p.min_retries, 3);
        let p = RetryPolicy::from_properties(&props(&[(PROP_BUDGET, "soon")]));
        assert_eq!(p, RetryPolicy::default());
    }

    #[test]
    fn retry_after_seconds_and_http_date() {
        let now: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 01 Jan 2025 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Tue, 31 Dec 2024 23:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("later", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
