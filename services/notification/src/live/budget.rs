//! How many Socket.IO events one socket may send: a token bucket per socket.
//!
//! The bucket holds up to `burst` events and refills at `per_second`. An event past it is
//! refused (the client hears 429) but still counted, so the bucket goes into debt: a client that
//! overshoots for a moment is back within its rate as soon as the debt is refilled, while one
//! that keeps sending faster than its rate sinks deeper until, past `refused_before_disconnect`
//! refused events, it is disconnected.

use std::time::Instant;

use crate::config::LiveLimits;

/// What becomes of one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Admitted,
    /// Past the rate: answered with 429, not handled.
    Refused,
    /// Past the rate for too long: the socket is disconnected.
    Disconnect,
}

/// One socket's bucket.
#[derive(Debug)]
pub struct EventBudget {
    /// Events the socket may still send now; below zero, refused events not yet paid back.
    tokens: f64,
    refilled_at: Instant,
    per_second: f64,
    burst: f64,
    /// The debt at which the socket is disconnected.
    floor: f64,
}

impl EventBudget {
    pub fn new(limits: &LiveLimits, now: Instant) -> Self {
        Self {
            tokens: f64::from(limits.event_burst),
            refilled_at: now,
            per_second: f64::from(limits.events_per_second),
            burst: f64::from(limits.event_burst),
            floor: -f64::from(limits.refused_before_disconnect),
        }
    }

    /// Counts one event arriving at `now`.
    pub fn take(&mut self, now: Instant) -> Verdict {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.refilled_at = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst) - 1.0;
        if self.tokens >= 0.0 {
            Verdict::Admitted
        } else if self.tokens < self.floor {
            Verdict::Disconnect
        } else {
            Verdict::Refused
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(per_second: u32, burst: u32, refused: u32) -> LiveLimits {
        LiveLimits {
            events_per_second: per_second,
            event_burst: burst,
            refused_before_disconnect: refused,
            ..LiveLimits::default()
        }
    }

    #[test]
    fn a_burst_passes_then_events_are_refused_then_the_socket_is_disconnected() {
        let start = Instant::now();
        let mut budget = EventBudget::new(&limits(1, 3, 2), start);
        let verdicts: Vec<Verdict> = (0..6).map(|_| budget.take(start)).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Admitted,
                Verdict::Admitted,
                Verdict::Admitted,
                Verdict::Refused,
                Verdict::Refused,
                Verdict::Disconnect,
            ]
        );
    }

    #[test]
    fn the_bucket_refills_at_the_rate_and_no_further_than_the_burst() {
        let start = Instant::now();
        let mut budget = EventBudget::new(&limits(10, 2, 5), start);
        assert_eq!(budget.take(start), Verdict::Admitted);
        assert_eq!(budget.take(start), Verdict::Admitted);
        assert_eq!(budget.take(start), Verdict::Refused);
        // The refused event is a debt of one: 0.1 s pays it back, 0.1 s more buys one event.
        let later = start + Duration::from_millis(200);
        assert_eq!(budget.take(later), Verdict::Admitted);
        assert_eq!(budget.take(later), Verdict::Refused);
        // A long quiet spell refills to the burst, not beyond.
        let much_later = later + Duration::from_secs(60);
        assert_eq!(budget.take(much_later), Verdict::Admitted);
        assert_eq!(budget.take(much_later), Verdict::Admitted);
        assert_eq!(budget.take(much_later), Verdict::Refused);
    }

    #[test]
    fn a_client_within_its_rate_is_never_refused() {
        let start = Instant::now();
        let mut budget = EventBudget::new(&limits(10, 1, 0), start);
        for i in 0..1000 {
            let at = start + Duration::from_millis(100 * i);
            assert_eq!(budget.take(at), Verdict::Admitted, "event {i}");
        }
    }
}
