//! The timer scheduler: claims due timers and records each — a `deadline_missed` event, or a
//! `deviation_reminder` for an unanswered deviation — with what it causes (the deviation a
//! missed deadline raises, the next reminder) in the same transaction that marks the timer
//! fired. Claims carry a lease, so with several gateway instances on one PostgreSQL each timer
//! is taken by one of them; the event id is derived from the timer, so even a timer claimed
//! twice (an expired lease) is recorded once.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use super::record::{Attempt, Made, StepSource, Steps, Stored};
use crate::changes::{AuditEntry, CaseCommit};
use crate::clock::Clock;
use crate::config::Directory;
use crate::decide::route::Routed;
use crate::domain::case::{CaseId, CoordinationCase, TransitionError};
use crate::domain::event::{Deadline, Event, EventId, EventKind, EventSource};
use crate::formats::Mappings;
use crate::formats::canonical::derived_id;
use crate::process::clocks::{GATEWAY, Missed, TimerPayload, missed_event};
use crate::process::{Context, advance};
use crate::store::{CommitOutcome, GroupCommitter, Store, StoreError, TimerItem};

/// How often the scheduler looks for due timers: a timer fires within this of its due time
/// (plus the time to record it).
pub const POLL: Duration = Duration::from_millis(100);
const CONCURRENCY: usize = 32;
const BATCH: u32 = 200;

/// Fires due timers.
#[derive(Clone)]
pub struct Scheduler {
    pub store: Store,
    pub committer: GroupCommitter,
    pub mappings: Arc<Mappings>,
    pub directory: Arc<Directory>,
    pub subscriptions: crate::delivery::Live,
    pub clock: Clock,
    /// This instance's name in timer claims.
    pub worker: String,
    /// How long a claim holds before another instance may take the timer (`delivery.lease_seconds`):
    /// a killed instance's claimed timers fire elsewhere this soon after.
    pub lease: SignedDuration,
    /// Woken when a fired timer wrote deliveries (the delivery workers wait on it).
    pub outbox_ready: Option<Arc<tokio::sync::Notify>>,
    /// Where fired timers are counted (`/metrics`).
    pub metrics: crate::telemetry::Metrics,
}

/// What happened to one claimed timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// Recorded as a `deadline_missed` event.
    Recorded,
    /// Already recorded (by this or another instance), or no longer applicable (the case was
    /// cancelled); settled without a new event.
    Settled,
    /// The case kept changing under us; the lease expires and the timer is tried again.
    Busy,
}

fn count(
    done: Result<Result<Fired, StoreError>, tokio::task::JoinError>,
) -> Result<usize, StoreError> {
    match done {
        Ok(Ok(Fired::Recorded)) => Ok(1),
        Ok(Ok(_)) => Ok(0),
        Ok(Err(error)) => Err(error),
        Err(panic) => {
            tracing::error!(%panic, "firing a timer failed; its lease runs out and it is tried again");
            Ok(0)
        }
    }
}

impl Scheduler {
    /// Claims and fires every timer due now; returns how many were recorded.
    pub async fn fire_due(&self) -> Result<usize, StoreError> {
        let mut recorded = 0;
        loop {
            let now = self.clock.now();
            let due = self
                .store
                .claim_due_timers(&self.worker, now, self.lease, BATCH)
                .await?;
            let claimed = due.len();
            // Fire concurrently, so that the events of many timers share group commits.
            let mut firing = tokio::task::JoinSet::new();
            for timer in due {
                let scheduler = self.clone();
                // Every line logged while firing names the case.
                let span = tracing::info_span!("timer", case_id = %timer.case_id);
                firing.spawn(tracing::Instrument::instrument(
                    async move {
                        let (rule, due_at) = (
                            timer.payload["rule"]
                                .as_str()
                                .unwrap_or("unknown")
                                .to_owned(),
                            timer.due_at,
                        );
                        let fired = scheduler.fire(timer, now).await;
                        scheduler.observe(&rule, due_at, now, &fired);
                        fired
                    },
                    span,
                ));
                while firing.len() >= CONCURRENCY {
                    if let Some(done) = firing.join_next().await {
                        recorded += count(done)?;
                    }
                }
            }
            while let Some(done) = firing.join_next().await {
                recorded += count(done)?;
            }
            if claimed < BATCH as usize {
                return Ok(recorded);
            }
        }
    }

    /// Counts a fired timer: how long after its due time it fired
    /// (`brygga_timer_fire_delay_seconds`), and a missed deadline it recorded by its rule
    /// (`brygga_deadlines_missed_total{rule}`).
    fn observe(
        &self,
        rule: &str,
        due_at: Timestamp,
        now: Timestamp,
        fired: &Result<Fired, StoreError>,
    ) {
        let delay = now.duration_since(due_at).as_secs_f64().max(0.0);
        let recorded = matches!(fired, Ok(Fired::Recorded));
        let rule = rule.to_owned();
        self.metrics.record(|| {
            metrics::histogram!("brygga_timer_fire_delay_seconds").record(delay);
            if recorded {
                metrics::counter!("brygga_deadlines_missed_total", "rule" => rule).increment(1);
            }
        });
    }

    /// Records one claimed timer.
    pub async fn fire(&self, timer: TimerItem, now: Timestamp) -> Result<Fired, StoreError> {
        let payload: TimerPayload = match serde_json::from_value(timer.payload.clone()) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::error!(timer = %timer.id, %error, "a timer's payload cannot be read; settling it without an event");
                self.store
                    .complete_timer(&timer.id, &self.worker, now)
                    .await?;
                return Ok(Fired::Settled);
            }
        };
        let steps = Steps {
            store: &self.store,
            policies: &self.mappings.policies,
            committer: &self.committer,
            directory: &self.directory,
            subscriptions: &self.subscriptions,
            clock: &self.clock,
            outbox_ready: self.outbox_ready.as_deref(),
            statistics: None,
        };
        let policy = self.mappings.policies.for_rule(&payload.rule);
        let mut step = TimerStep {
            scheduler: self,
            event: timer_event(&timer, &payload, policy, &self.directory),
            timer,
            payload,
            now,
        };
        steps.record_step(&mut step).await
    }

    /// Runs until `stop` turns true: fires due timers at start (those that fell due while no
    /// gateway ran) and then every [`POLL`].
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(error) = self.fire_due().await {
                tracing::error!(%error, "firing due timers failed; trying again");
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

/// The event a due timer records: a reminder for an unanswered deviation (with the escalation
/// the policy's ladder has at that reminder), otherwise the missed deadline. Its id is derived
/// from the timer, so a timer fired twice records one event.
fn timer_event(
    timer: &TimerItem,
    payload: &TimerPayload,
    policy: &crate::process::Policy,
    directory: &crate::config::Directory,
) -> Event {
    match (
        payload.deadline,
        &payload.deviation_id,
        payload.reminder,
        &payload.party,
    ) {
        (Deadline::DeviationAnswer, Some(deviation_id), Some(reminder), Some(party)) => Event {
            id: EventId(derived_id("reminder", &[&timer.id])),
            occurred_at: timer.due_at,
            source: EventSource {
                local_codes: Default::default(),
                format: GATEWAY.to_owned(),
                message_id: format!("reminder:{}", timer.id),
                sender: None,
            },
            kind: EventKind::DeviationReminder {
                deviation_id: deviation_id.clone(),
                reminder,
                addressed_to: party.clone(),
                escalation: policy.escalation_at(reminder, party, directory),
            },
        },
        _ => missed_event(
            &[&timer.id],
            Missed {
                deadline: payload.deadline,
                due_at: timer.due_at,
                rule: payload.rule.clone(),
                party: payload.party.clone(),
                started_by: Some(payload.started_by),
            },
            timer.due_at,
        ),
    }
}

/// A due timer as a step of its case.
struct TimerStep<'a> {
    scheduler: &'a Scheduler,
    timer: TimerItem,
    payload: TimerPayload,
    event: Event,
    now: Timestamp,
}

impl TimerStep<'_> {
    /// Settles the timer without an event.
    async fn settle(&self) -> Result<Attempt<Made, Fired>, StoreError> {
        let scheduler = self.scheduler;
        scheduler
            .store
            .complete_timer(&self.timer.id, &scheduler.worker, self.now)
            .await?;
        Ok(Attempt::Answer(Fired::Settled))
    }
}

impl StepSource for TimerStep<'_> {
    type Done = Fired;
    type Error = StoreError;

    fn case_id(&self) -> CaseId {
        self.timer.case_id
    }

    async fn make(
        &mut self,
        steps: &Steps<'_>,
        stored: &Stored,
    ) -> Result<Attempt<Made, Fired>, StoreError> {
        let (Some((mut case, version)), Some(reference)) = (stored.case()?, stored.reference())
        else {
            return self.settle().await;
        };
        let policy = self
            .scheduler
            .mappings
            .policies
            .for_rule(&self.payload.rule);
        let policy = |_: &CoordinationCase| policy;
        let context = Context {
            policy: &policy,
            directory: steps.directory,
        };
        let step = match advance(&mut case, self.event.clone(), self.timer.due_at, context) {
            Ok(step) => step,
            Err(TransitionError::DuplicateEvent { .. }) => return self.settle().await,
            Err(reason) => {
                tracing::info!(timer = %self.timer.id, case_id = %self.timer.case_id, %reason, "a due timer no longer applies");
                return self.settle().await;
            }
        };
        let audit = AuditEntry {
            actor: "brygga".to_owned(),
            organisation: None,
            action: self.event.kind.name().to_owned(),
            person: Some(case.person().clone()),
            purpose: "uppföljning av samverkan vid utskrivning".to_owned(),
            legal_basis: None,
            details: serde_json::json!({
                "deadline": self.payload.deadline,
                "due_at": self.timer.due_at,
                "rule": self.payload.rule,
                "started_by": self.payload.started_by,
                "event_id": self.event.id,
                "follow_on": step.follow_on,
            }),
        };
        Ok(Attempt::Go(Made {
            case,
            version,
            reference,
            step,
            audit,
            routed_to: Vec::new(),
            protects: false,
        }))
    }

    fn complete(
        &mut self,
        _: &Made,
        _: &Routed,
        commit: &mut CaseCommit,
    ) -> Result<(), StoreError> {
        commit.fired_timers.push(self.timer.id.clone());
        Ok(())
    }

    fn committed(&mut self, made: Made, outcome: CommitOutcome) -> Result<Fired, StoreError> {
        match outcome {
            CommitOutcome::Committed { .. } => {
                let (timer, payload) = (&self.timer, &self.payload);
                tracing::info!(case_id = %timer.case_id, event = self.event.kind.name(), deadline = ?payload.deadline, rule = %payload.rule, follow_on = made.step.follow_on.len(), "timer fired");
                Ok(Fired::Recorded)
            }
            CommitOutcome::Duplicate { .. } => Ok(Fired::Settled),
        }
    }

    fn busy(&mut self) -> Result<Fired, StoreError> {
        Ok(Fired::Busy)
    }
}
