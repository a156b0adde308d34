//! A case's timeline as one organisation may see it: each step released to it, in order, with
//! whom the gateway released it to and whom it withheld it from and why (the audit records of
//! the step's own decisions), how each subscription's delivery of it went, and each legal
//! clock the released steps started — due when, and whether it was met, missed or still
//! running. The read is audited with the purpose its reader stated.
//!
//! What the reader was denied stays hidden: only released steps are listed (the number of the
//! others is told, never what they were), and only the clocks those steps started.

use jiff::Timestamp;
use serde::Deserialize;

use super::read::CaseRead;
use super::receive::{Pipeline, ReceiveError};
use crate::domain::case::CaseId;
use crate::domain::event::{Deadline, Event, EventId, EventKind};
use crate::domain::party::{Organisation, Party};
use crate::process::clocks::TimerPayload;
use crate::store::{CaseTimer, DeliveryQuery, DeliveryRow};

/// What one recipient got of a step.
#[derive(Debug, Clone, PartialEq)]
pub enum Decided {
    /// Released, on this legal basis (`None` when the audit record names none).
    Released { basis: Option<String> },
    /// Withheld: the denial's kind (`no_sip_consent`, …) and its explanation.
    Withheld { reason: String, explanation: String },
}

/// One recipient of a step: the party, the decision, and the deliveries to its subscriptions.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub party: Party,
    pub decided: Decided,
    pub deliveries: Vec<DeliveryRow>,
}

/// One step of the timeline.
#[derive(Debug, Clone)]
pub struct Step {
    /// The step as released to the reader.
    pub event: Event,
    pub recorded_at: Option<Timestamp>,
    /// Every party the gateway decided on for this step.
    pub recipients: Vec<Recipient>,
}

/// Where a clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockState {
    /// Running, due in the future.
    Running,
    /// Due, and not yet recorded as missed.
    Overdue,
    /// Stopped before it ran out, by the step it waited for (`at`).
    Met { at: Timestamp },
    /// Stopped because the case changed (revoked, cancelled) before it ran out.
    Stopped { at: Timestamp },
    /// Ran out: a missed deadline was recorded.
    Missed,
    /// A deviation's reminder clock that ran out and reminded.
    Reminded { at: Timestamp },
}

/// One legal or agreed clock of the case.
#[derive(Debug, Clone)]
pub struct Clock {
    pub deadline: Deadline,
    /// `{policy}/{clock}`: the rule that set the due time.
    pub rule: String,
    /// Whom it is for, when it is one party's.
    pub party: Option<Party>,
    pub due_at: Timestamp,
    pub started_by: Option<EventId>,
    pub state: ClockState,
}

/// A case's timeline as one organisation may see it: the steps in the order they happened
/// (`occurred_at`; a stable sort keeps the recorded order among steps of one moment).
#[derive(Debug)]
pub struct Timeline {
    pub read: CaseRead,
    pub steps: Vec<Step>,
    pub clocks: Vec<Clock>,
}

/// What a `disclose`/`deny` audit record says of a decision.
#[derive(Deserialize)]
struct DecisionDetails {
    event_id: EventId,
    recipient: Party,
    #[serde(default)]
    reason: Option<serde_json::Value>,
    #[serde(default)]
    explanation: Option<String>,
}

impl Pipeline {
    /// Case `case_id`'s timeline as `organisation` may see it, the read audited as
    /// `read timeline` with `purpose`. A case it takes no part in is `UnknownCase`.
    pub async fn timeline(
        &self,
        case_id: CaseId,
        organisation: &Organisation,
        actor: &str,
        purpose: &str,
    ) -> Result<Timeline, ReceiveError> {
        let read = self
            .read_case_for(case_id, organisation, actor, "timeline", purpose)
            .await?;
        let audit = self.store.audit_for_case_of(case_id, read.person()).await?;
        let deliveries = self
            .store
            .deliveries(&DeliveryQuery {
                case_id: Some(case_id),
                limit: 10_000,
                ..DeliveryQuery::default()
            })
            .await?;
        let timers = self.store.timers_of_case(case_id).await?;
        let mut steps: Vec<Step> = read
            .events()
            .iter()
            .map(|released| Step {
                event: released.event().clone(),
                recorded_at: read.recorded_at(released.event().id),
                recipients: Vec::new(),
            })
            .collect();
        for record in audit.iter().filter(|r| r.actor == "brygga") {
            let released = record.action.starts_with("disclose ");
            if !released && !record.action.starts_with("deny ") {
                continue;
            }
            let Ok(details) = DecisionDetails::deserialize(&record.details) else {
                continue;
            };
            let Some(step) = steps.iter_mut().find(|s| s.event.id == details.event_id) else {
                continue;
            };
            let decided = if released {
                Decided::Released {
                    basis: record.legal_basis.clone(),
                }
            } else {
                Decided::Withheld {
                    reason: details
                        .reason
                        .as_ref()
                        .and_then(|r| r.get("reason"))
                        .and_then(|r| r.as_str())
                        .unwrap_or("denied")
                        .to_owned(),
                    explanation: details.explanation.unwrap_or_default(),
                }
            };
            let recipient = crate::domain::delivery::recipient_key(&details.recipient);
            let deliveries = deliveries
                .iter()
                .filter(|d| d.event_id == details.event_id.to_string() && d.recipient == recipient)
                .cloned()
                .collect();
            // A step decided again (a redelivery decides nothing new) keeps its last decision.
            step.recipients.retain(|r| r.party != details.recipient);
            step.recipients.push(Recipient {
                party: details.recipient,
                decided,
                deliveries,
            });
        }
        // As it happened; steps of the same moment as the gateway recorded them.
        steps.sort_by_key(|s| s.event.occurred_at);
        let clocks = clocks(&read, &timers, self.clock.now());
        Ok(Timeline {
            read,
            steps,
            clocks,
        })
    }
}

/// The clocks the steps released to the reader started: each timer, and each deadline a step
/// showed missed on arrival, earliest due first.
fn clocks(read: &CaseRead, timers: &[CaseTimer], now: Timestamp) -> Vec<Clock> {
    let visible = |id: &EventId| read.released(*id).is_some();
    let events = read.case().events();
    let missed = |deadline: Deadline, started_by: EventId, party: &Option<Party>| {
        events.iter().any(|e| {
            matches!(&e.kind, EventKind::DeadlineMissed { deadline: d, started_by: Some(s), party: p, .. }
                if *d == deadline && *s == started_by && p == party)
        })
    };
    let mut clocks = Vec::new();
    for timer in timers {
        let Ok(payload) = TimerPayload::deserialize(&timer.payload) else {
            continue;
        };
        if !visible(&payload.started_by) {
            continue;
        }
        let state = match (timer.status.as_str(), timer.finished_at) {
            ("pending", _) if timer.due_at > now => ClockState::Running,
            ("pending", _) => ClockState::Overdue,
            ("cancelled", Some(at)) => stopped_by(read, at),
            ("fired", at) if payload.deviation_id.is_some() => ClockState::Reminded {
                at: at.unwrap_or(timer.due_at),
            },
            ("fired", at) => {
                if missed(payload.deadline, payload.started_by, &payload.party) {
                    ClockState::Missed
                } else {
                    // It ran out with nothing missing (its step had come another way).
                    ClockState::Met {
                        at: at.unwrap_or(timer.due_at),
                    }
                }
            }
            _ => continue,
        };
        clocks.push(Clock {
            deadline: payload.deadline,
            rule: payload.rule,
            party: payload.party,
            due_at: timer.due_at,
            started_by: Some(payload.started_by),
            state,
        });
    }
    // Deadlines a step showed missed when it arrived (an admission notice sent late): no timer.
    for released in read.events() {
        if let EventKind::DeadlineMissed {
            deadline,
            due_at,
            rule,
            party,
            started_by,
        } = &released.event().kind
        {
            let known = clocks.iter().any(|c| {
                c.deadline == *deadline && c.started_by == *started_by && c.party == *party
            });
            if !known {
                clocks.push(Clock {
                    deadline: *deadline,
                    rule: rule.clone().unwrap_or_default(),
                    party: party.clone(),
                    due_at: *due_at,
                    started_by: *started_by,
                    state: ClockState::Missed,
                });
            }
        }
    }
    clocks.sort_by_key(|c| c.due_at);
    clocks
}

/// What stopped a clock cancelled at `at`: the step recorded in the same transaction.
fn stopped_by(read: &CaseRead, at: Timestamp) -> ClockState {
    let changed = read.case().events().iter().any(|e| {
        read.recorded_at(e.id) == Some(at)
            && matches!(
                e.kind,
                EventKind::CaseCancelled { .. } | EventKind::ReadyForDischargeRevoked { .. }
            )
    });
    if changed {
        ClockState::Stopped { at }
    } else {
        ClockState::Met { at }
    }
}
