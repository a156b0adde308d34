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

use super::clocks::{GATEWAY, Missed, TimerPayload, missed_event};
use super::engine::{Context, advance};
use crate::clock::Clock;
use crate::config::Directory;
use crate::domain::case::TransitionError;
use crate::domain::event::{Deadline, Event, EventId, EventKind, EventSource};
use crate::formats::Mappings;
use crate::formats::canonical::derived_id;
use crate::store::{AuditEntry, CommitOutcome, GroupCommitter, Store, StoreError, TimerItem};

/// How often the scheduler looks for due timers: a timer fires within this of its due time
/// (plus the time to record it).
pub const POLL: Duration = Duration::from_millis(100);
const CONCURRENCY: usize = 32;
const LEASE: SignedDuration = SignedDuration::from_secs(60);
const BATCH: u32 = 200;
const ATTEMPTS: usize = 5;

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
                .claim_due_timers(&self.worker, now, LEASE, BATCH)
                .await?;
            let claimed = due.len();
            // Fire concurrently, so that the events of many timers share group commits.
            let mut firing = tokio::task::JoinSet::new();
            for timer in due {
                let scheduler = self.clone();
                firing.spawn(async move { scheduler.fire(timer, now).await });
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
        let policy = self.mappings.policies.for_rule(&payload.rule);
        let policy = |_: &crate::domain::case::CoordinationCase| policy;
        let context = Context {
            policy: &policy,
            directory: &self.directory,
        };
        let event = timer_event(&timer, &payload);
        for _ in 0..ATTEMPTS {
            let Some(stored) = self.store.load_case(timer.case_id).await? else {
                self.store
                    .complete_timer(&timer.id, &self.worker, now)
                    .await?;
                return Ok(Fired::Settled);
            };
            let mut case = stored.to_case()?;
            let step = match advance(&mut case, event.clone(), timer.due_at, context) {
                Ok(step) => step,
                Err(TransitionError::DuplicateEvent { .. }) => {
                    self.store
                        .complete_timer(&timer.id, &self.worker, now)
                        .await?;
                    return Ok(Fired::Settled);
                }
                Err(reason) => {
                    tracing::info!(timer = %timer.id, case = %timer.case_id, %reason, "a due timer no longer applies");
                    self.store
                        .complete_timer(&timer.id, &self.worker, now)
                        .await?;
                    return Ok(Fired::Settled);
                }
            };
            let follow_on = step.follow_on.len();
            let audit = AuditEntry {
                actor: "brygga".to_owned(),
                organisation: None,
                action: event.kind.name().to_owned(),
                person: Some(case.person().clone()),
                purpose: "uppföljning av samverkan vid utskrivning".to_owned(),
                legal_basis: None,
                details: serde_json::json!({
                    "deadline": payload.deadline,
                    "due_at": timer.due_at,
                    "rule": payload.rule,
                    "started_by": payload.started_by,
                    "event_id": event.id,
                    "follow_on": step.follow_on,
                }),
            };
            let mut commit = super::disclosure::commit_in_stored_case(
                &self.store,
                &case,
                &stored,
                step,
                audit,
                &self.directory,
                &self.subscriptions.current(),
                now,
            )
            .await?;
            commit.fired_timers.push(timer.id.clone());
            match self.committer.commit(commit).await {
                Ok(CommitOutcome::Committed { .. }) => {
                    tracing::info!(case = %timer.case_id, event = event.kind.name(), deadline = ?payload.deadline, rule = %payload.rule, follow_on, "timer fired");
                    return Ok(Fired::Recorded);
                }
                Ok(CommitOutcome::Duplicate { .. }) => return Ok(Fired::Settled),
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(error) => return Err(error),
            }
        }
        Ok(Fired::Busy)
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

/// The event a due timer records: a reminder for an unanswered deviation, otherwise the missed
/// deadline. Its id is derived from the timer, so a timer fired twice records one event.
fn timer_event(timer: &TimerItem, payload: &TimerPayload) -> Event {
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
                format: GATEWAY.to_owned(),
                message_id: format!("reminder:{}", timer.id),
                sender: None,
            },
            kind: EventKind::DeviationReminder {
                deviation_id: deviation_id.clone(),
                reminder,
                addressed_to: party.clone(),
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
