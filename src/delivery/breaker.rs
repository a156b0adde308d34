//! Circuit breakers, one per subscription, in memory: a receiver that keeps failing is left
//! alone (its deliveries not claimed, their schedules untouched) until a probe may go.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

/// After this many failures in a row a subscription's circuit opens: its deliveries are not
/// claimed (their own retry schedule untouched) until a probe may go.
const BREAKER_THRESHOLD: u32 = 5;
/// How long an open circuit waits before the first probe; doubled after each failed probe.
const BREAKER_PAUSE: SignedDuration = SignedDuration::from_secs(5);
const BREAKER_MAX_PAUSE: SignedDuration = SignedDuration::from_secs(300);

/// One subscription's circuit breaker. It measures the receiver, not the backlog: failures
/// count while the circuit is closed; once open, one probe at a time goes, the pause grows only
/// when a probe fails, and the first probe that succeeds closes it. A failure of a request
/// that began before the circuit last changed (opened, or closed again) does not count.
#[derive(Debug, Clone, Copy, Default)]
struct Breaker {
    failures: u32,
    open: Option<Open>,
    /// When the circuit last opened or closed.
    changed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    /// No probe before this.
    until: Timestamp,
    pause: SignedDuration,
    /// A probe is on its way; nothing else goes until its answer.
    probing: bool,
}

/// Whether a claimed delivery may be attempted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
    Go,
    Probe,
    /// The circuit is open (or a probe is out): hand the row back, unattempted.
    Hold,
}

/// The circuit breakers of this instance, by subscription. Nothing of them is stored: a
/// restarted instance starts closed, and the rows keep their own retry schedule.
#[derive(Debug, Clone, Default)]
pub struct Breakers(Arc<std::sync::Mutex<std::collections::HashMap<String, Breaker>>>);

impl Breakers {
    pub(super) fn gate(&self, subscription: &str, now: Timestamp) -> Gate {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let breaker = all.entry(subscription.to_owned()).or_default();
        match &mut breaker.open {
            None => Gate::Go,
            Some(open) if open.probing || now < open.until => Gate::Hold,
            Some(open) => {
                open.probing = true;
                Gate::Probe
            }
        }
    }

    /// Records the outcome of a request to `subscription` that began at `started` (`probe`:
    /// the one the gate let through an open circuit).
    pub(super) fn record(
        &self,
        subscription: &str,
        ok: bool,
        probe: bool,
        started: Timestamp,
        now: Timestamp,
    ) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let breaker = all.entry(subscription.to_owned()).or_default();
        if ok {
            if breaker.open.is_some() {
                tracing::info!(
                    subscription,
                    "a probe succeeded: the subscription's deliveries go again"
                );
                breaker.changed_at = Some(now);
            }
            breaker.open = None;
            breaker.failures = 0;
            return;
        }
        if let Some(open) = &mut breaker.open {
            if probe {
                open.probing = false;
                open.pause = (open.pause * 2).min(BREAKER_MAX_PAUSE);
                open.until = now + open.pause;
            }
            // Others failing now were on their way before the circuit opened.
            return;
        }
        if breaker.changed_at.is_some_and(|at| started < at) {
            return;
        }
        breaker.failures += 1;
        if breaker.failures >= BREAKER_THRESHOLD {
            tracing::warn!(
                subscription,
                failures = breaker.failures,
                "a subscription keeps failing: its deliveries wait, then one probe goes"
            );
            breaker.open = Some(Open {
                until: now + BREAKER_PAUSE,
                pause: BREAKER_PAUSE,
                probing: false,
            });
            breaker.changed_at = Some(now);
        }
    }

    /// Every subscription this instance has tried, with its circuit's state: 0 closed, 1 open
    /// (nothing goes), 2 half-open (a probe may go, or is on its way). Sorted by name.
    pub fn states(&self, now: Timestamp) -> Vec<(String, u8)> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut states: Vec<(String, u8)> = all
            .iter()
            .map(|(name, b)| {
                let state = match b.open {
                    None => 0,
                    Some(open) if !open.probing && now < open.until => 1,
                    Some(_) => 2,
                };
                (name.clone(), state)
            })
            .collect();
        states.sort();
        states
    }

    /// Whether the subscription's circuit is open now.
    pub fn is_open(&self, subscription: &str, now: Timestamp) -> bool {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.get(subscription)
            .and_then(|b| b.open)
            .is_some_and(|open| open.probing || now < open.until)
    }

    /// The earliest time after `now` at which an open circuit lets a probe go.
    pub fn next_probe_after(&self, now: Timestamp) -> Option<Timestamp> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.values()
            .filter_map(|b| b.open)
            .filter(|o| !o.probing && o.until > now)
            .map(|o| o.until)
            .min()
    }

    /// The subscriptions whose rows are not to be claimed now: their circuit is open and no
    /// probe may go yet, or one is on its way.
    pub fn held_back(&self, now: Timestamp) -> Vec<String> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut held: Vec<String> = all
            .iter()
            .filter(|(_, b)| b.open.is_some_and(|o| o.probing || now < o.until))
            .map(|(s, _)| s.clone())
            .collect();
        held.sort();
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_failing_subscription_pauses_then_probes_once_and_closes_on_success() {
        let breakers = Breakers::default();
        let now = at("2026-11-23T12:00:00Z");
        for _ in 0..BREAKER_THRESHOLD - 1 {
            breakers.record("s", false, false, now, now);
        }
        assert_eq!(breakers.gate("s", now), Gate::Go);
        breakers.record("s", false, false, now, now);
        assert!(breakers.is_open("s", now));
        assert_eq!(breakers.gate("s", now), Gate::Hold);
        assert_eq!(breakers.held_back(now), ["s"]);
        // Other subscriptions are not affected.
        assert_eq!(breakers.gate("other", now), Gate::Go);
        let later = now + BREAKER_PAUSE;
        assert!(breakers.held_back(later).is_empty());
        assert_eq!(breakers.gate("s", later), Gate::Probe);
        assert_eq!(breakers.gate("s", later), Gate::Hold, "one probe at a time");
        assert_eq!(
            breakers.held_back(later),
            ["s"],
            "held while the probe is out"
        );
        // A failed probe reopens it for twice as long.
        breakers.record("s", false, true, later, later);
        assert!(breakers.is_open("s", later + BREAKER_PAUSE));
        let after = later + BREAKER_PAUSE * 2;
        assert_eq!(breakers.gate("s", after), Gate::Probe);
        breakers.record("s", true, true, after, after);
        assert_eq!(breakers.gate("s", after), Gate::Go);
    }

    #[test]
    fn failures_of_requests_already_on_their_way_do_not_grow_the_pause() {
        let breakers = Breakers::default();
        let now = at("2026-11-23T12:00:00Z");
        for _ in 0..BREAKER_THRESHOLD {
            breakers.record("s", false, false, now, now);
        }
        assert!(breakers.is_open("s", now));
        // Fifty requests sent before it opened fail as it stays open: the pause stays 5 s.
        for _ in 0..50 {
            breakers.record("s", false, false, now, now + SignedDuration::from_secs(1));
        }
        let probe_at = now + BREAKER_PAUSE;
        assert!(!breakers.is_open("s", probe_at));
        assert_eq!(breakers.gate("s", probe_at), Gate::Probe);
        breakers.record("s", true, true, probe_at, probe_at);
        // Closed again; those still on their way from before fail without reopening it.
        for _ in 0..BREAKER_THRESHOLD * 2 {
            breakers.record(
                "s",
                false,
                false,
                now,
                probe_at + SignedDuration::from_secs(1),
            );
        }
        assert!(!breakers.is_open("s", probe_at + SignedDuration::from_secs(1)));
    }
}
