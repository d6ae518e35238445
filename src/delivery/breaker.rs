//! The per-target circuit breaker (pure state machine).
//!
//! - `Closed`: deliveries flow; consecutive transient failures are counted, a success resets
//!   the count. At [`Breaker::threshold`] consecutive failures it opens.
//! - `Open { until }`: no delivery is sent before `until`; then one probe is let through
//!   (half-open). The open period grows exponentially (1 s, 2 s, 4 s … capped) with each
//!   failed probe.
//! - `HalfOpen`: exactly one probe in flight; its success closes the breaker, its failure
//!   opens it again for longer.
//!
//! Invariants: only transient failures count (a permanent 4xx says the target is up); the
//! breaker state is the source of `DeliveryHealthy` for its target. Time is passed in.

use std::time::{Duration, Instant};

/// Consecutive transient failures that open the breaker.
pub const DEFAULT_THRESHOLD: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant, opened: u32 },
    HalfOpen { opened: u32 },
}

/// Whether a delivery may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Send it.
    Send,
    /// Send it as the one probe of a half-open breaker.
    Probe,
    /// Do not send before this instant.
    WaitUntil(Instant),
    /// A probe is in flight; wait for its outcome.
    ProbeInFlight,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    pub threshold: u32,
    pub base: Duration,
    pub cap: Duration,
    state: BreakerState,
    /// The last transient failure's message (for the health condition).
    last_error: Option<String>,
}

impl Breaker {
    pub fn new(threshold: u32, base: Duration, cap: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            base,
            cap,
            state: BreakerState::Closed { failures: 0 },
            last_error: None,
        }
    }

    pub fn state(&self) -> &BreakerState {
        &self.state
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Closed (deliveries flowing or retrying below the threshold).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, BreakerState::Closed { .. })
    }

    /// Asks to send one delivery at `now`. `Probe` moves the breaker to half-open.
    pub fn permit(&mut self, now: Instant) -> Permit {
        match self.state {
            BreakerState::Closed { .. } => Permit::Send,
            BreakerState::Open { until, opened } => {
                if now >= until {
                    self.state = BreakerState::HalfOpen { opened };
                    Permit::Probe
                } else {
                    Permit::WaitUntil(until)
                }
            }
            BreakerState::HalfOpen { .. } => Permit::ProbeInFlight,
        }
    }

    /// The target answered (any non-transient outcome, including a permanent 4xx).
    pub fn on_success(&mut self) {
        self.state = BreakerState::Closed { failures: 0 };
        self.last_error = None;
    }

    /// A transient failure (connect error, timeout, 429, 5xx) at `now`.
    pub fn on_transient_failure(&mut self, now: Instant, error: &str) {
        self.last_error = Some(error.to_string());
        self.state = match self.state {
            BreakerState::Closed { failures } if failures + 1 < self.threshold => {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            BreakerState::Closed { .. } => self.open(now, 1),
            BreakerState::HalfOpen { opened } | BreakerState::Open { opened, .. } => {
                self.open(now, opened.saturating_add(1))
            }
        };
    }

    /// A probe was given up without an outcome (e.g. the delivery was superseded): allow the
    /// next one.
    pub fn on_probe_abandoned(&mut self, now: Instant) {
        if let BreakerState::HalfOpen { opened } = self.state {
            self.state = BreakerState::Open { until: now, opened };
        }
    }

    fn open(&self, now: Instant, opened: u32) -> BreakerState {
        let exponent = opened.saturating_sub(1).min(31);
        let wait = self
            .base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.cap)
            .min(self.cap);
        BreakerState::Open {
            until: now + wait,
            opened,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(3, Duration::from_secs(1), Duration::from_secs(10))
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let mut b = breaker();
        let t = Instant::now();
        b.on_transient_failure(t, "503");
        b.on_transient_failure(t, "503");
        assert_eq!(b.permit(t), Permit::Send);
        b.on_success();
        b.on_transient_failure(t, "503");
        b.on_transient_failure(t, "503");
        assert!(b.is_closed());
        b.on_transient_failure(t, "connect refused");
        assert!(!b.is_closed());
        assert_eq!(b.permit(t), Permit::WaitUntil(t + Duration::from_secs(1)));
        assert_eq!(b.last_error(), Some("connect refused"));
    }

    #[test]
    fn half_open_probe_closes_or_reopens_for_longer() {
        let mut b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.on_transient_failure(t, "503");
        }
        let t1 = t + Duration::from_secs(1);
        assert_eq!(b.permit(t1), Permit::Probe);
        assert_eq!(b.permit(t1), Permit::ProbeInFlight);
        b.on_transient_failure(t1, "503");
        assert_eq!(b.permit(t1), Permit::WaitUntil(t1 + Duration::from_secs(2)));
        let t2 = t1 + Duration::from_secs(2);
        assert_eq!(b.permit(t2), Permit::Probe);
        b.on_success();
        assert_eq!(b.permit(t2), Permit::Send);
        assert_eq!(b.last_error(), None);
    }

    #[test]
    fn open_period_is_capped() {
        let mut b = breaker();
        let mut t = Instant::now();
        for _ in 0..3 {
            b.on_transient_failure(t, "x");
        }
        for _ in 0..40 {
            let Permit::WaitUntil(until) = b.permit(t) else {
                panic!("open breaker must make callers wait");
            };
            assert!(until - t <= Duration::from_secs(10));
            t = until;
            assert_eq!(b.permit(t), Permit::Probe);
            b.on_transient_failure(t, "x");
        }
    }

    #[test]
    fn abandoned_probe_lets_the_next_one_through() {
        let mut b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.on_transient_failure(t, "x");
        }
        let t1 = t + Duration::from_secs(5);
        assert_eq!(b.permit(t1), Permit::Probe);
        b.on_probe_abandoned(t1);
        assert_eq!(b.permit(t1), Permit::Probe);
    }
}
