//! What one step changes, as the pipeline makes it and the store writes it in one
//! transaction: the case's new events, the deliveries the disclosure decision released, the
//! timers, the audit records and the received message's identity (`CaseCommit`).

use jiff::Timestamp;
use serde_json::Value;

use crate::decide::Released;
use crate::domain::case::{CaseId, CoordinationCase, Phase};
use crate::domain::delivery::{IdempotencyKey, recipient_key};
use crate::domain::event::{Event, EventId};
use crate::domain::identifiers::PersonId;

/// A delivery's payload could not be written as JSON.
#[derive(Debug, thiserror::Error)]
#[error("the delivery's payload could not be written: {0}")]
pub struct PayloadError(#[source] pub serde_json::Error);

/// A received message's identity and the receipt answered for it (and again for a duplicate).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    /// The format and sender, e.g. `cosmic-link:SE2321000214-E1AV`.
    pub source: String,
    pub message_id: String,
    pub receipt: Value,
}

/// One delivery to write in the same transaction as its event. Made only from a message the
/// disclosure decision released (`crate::decide::Released`): nothing reaches the outbox
/// without a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub(crate) event_id: EventId,
    pub(crate) destination: String,
    pub(crate) idempotency_key: IdempotencyKey,
    /// `{"message": the released canonical message, "disclosure": its decision}`, as JSON.
    pub(crate) payload: String,
    pub(crate) not_before: Timestamp,
}

impl OutboxEntry {
    /// The delivery of `released` (an event of the case `reference` about `person`) to its
    /// recipient through `subscription`, due from `not_before`. The idempotency key is the
    /// event, the subscription and the recipient: the same delivery always has the same key.
    pub fn deliver(
        released: &Released,
        reference: &crate::formats::canonical::CaseReference,
        person: &PersonId,
        subscription: &str,
        not_before: Timestamp,
    ) -> Result<Self, PayloadError> {
        let payload = OutboxEntry::payload(released, reference, person, not_before)?;
        Ok(OutboxEntry::with_payload(
            released,
            payload,
            subscription,
            not_before,
        ))
    }

    /// The payload of every delivery of `released`: `{"message": …, "disclosure": …}`.
    pub fn payload(
        released: &Released,
        reference: &crate::formats::canonical::CaseReference,
        person: &PersonId,
        not_before: Timestamp,
    ) -> Result<String, PayloadError> {
        #[derive(serde::Serialize)]
        struct Payload<'a> {
            message: crate::formats::canonical::CanonicalMessage,
            disclosure: &'a crate::decide::Disclosure,
        }
        serde_json::to_string(&Payload {
            message: released.message(reference.clone(), person.clone(), not_before),
            disclosure: released.disclosure(),
        })
        .map_err(PayloadError)
    }

    /// The delivery of `released` through `subscription`, with its `payload` made already
    /// (one for every subscription of the recipient).
    pub fn with_payload(
        released: &Released,
        payload: String,
        subscription: &str,
        not_before: Timestamp,
    ) -> Self {
        let event_id = released.event().id;
        OutboxEntry {
            event_id,
            idempotency_key: IdempotencyKey::new(
                event_id,
                subscription,
                released.disclosure().recipient(),
            ),
            destination: subscription.to_owned(),
            payload,
            not_before,
        }
    }

    pub fn event_id(&self) -> EventId {
        self.event_id
    }

    pub fn destination(&self) -> &str {
        &self.destination
    }
}

/// A timer to start in the same transaction as the event that starts the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerEntry {
    /// Deterministic, so restarting the same clock is idempotent.
    pub id: String,
    pub kind: String,
    pub due_at: Timestamp,
    pub payload: Value,
}

/// One audit record: who disclosed or read what about whom, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub actor: String,
    pub organisation: Option<String>,
    pub action: String,
    pub person: Option<PersonId>,
    pub purpose: String,
    pub legal_basis: Option<String>,
    pub details: Value,
}

/// Everything one accepted message changes, committed atomically: the case's new events, its
/// outbox rows, its timers and its audit rows, and the received message id.
#[derive(Debug, Clone)]
pub struct CaseCommit {
    pub case_id: CaseId,
    pub person: PersonId,
    /// The sending system's case reference, stored when the commit opens the case.
    pub reference: Option<crate::formats::canonical::CaseReference>,
    /// The version the caller read; the commit fails with a conflict if another writer moved on.
    pub expected_version: u64,
    /// When the gateway accepted it (from the injected clock).
    pub recorded_at: Timestamp,
    /// The phase after the new events.
    pub phase: Phase,
    pub received: Option<ReceivedMessage>,
    pub events: Vec<Event>,
    pub outbox: Vec<OutboxEntry>,
    pub timers: Vec<TimerEntry>,
    /// Timers of this case to cancel (by kind), e.g. when the awaited step arrives.
    pub cancel_timers: Vec<String>,
    /// Timers (by id) whose firing these events are: marked fired in the same transaction.
    pub fired_timers: Vec<String>,
    pub audit: Vec<AuditEntry>,
    /// Deliveries the new events acknowledge (kvittenser): marked acknowledged, and done.
    pub acknowledged: Vec<Acknowledged>,
}

/// The deliveries to one party of a case's events that a kvittens from that party names.
#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledged {
    /// The events of the acknowledged message.
    pub events: Vec<EventId>,
    /// The acknowledging party, as delivery keys name it (`recipient_key`).
    pub recipient: String,
}

impl Acknowledged {
    /// What the new events of `case` (those after `expected_version`) acknowledge.
    pub fn in_case(case: &CoordinationCase, expected_version: u64) -> Vec<Acknowledged> {
        let events = case.events();
        events
            .get(expected_version as usize..)
            .unwrap_or_default()
            .iter()
            .filter_map(|event| match &event.kind {
                crate::domain::event::EventKind::MessageAcknowledged { message_id, by } => {
                    Some(Acknowledged {
                        events: events
                            .iter()
                            .filter(|e| &e.source.message_id == message_id)
                            .map(|e| e.id)
                            .collect(),
                        recipient: recipient_key(by),
                    })
                }
                _ => None,
            })
            .filter(|a| !a.events.is_empty())
            .collect()
    }
}

impl CaseCommit {
    /// A commit of the events that `case` holds beyond `expected_version`.
    pub fn from_case(
        case: &CoordinationCase,
        expected_version: u64,
        recorded_at: Timestamp,
    ) -> Self {
        CaseCommit {
            case_id: case.id(),
            person: case.person().clone(),
            reference: None,
            expected_version,
            recorded_at,
            phase: case.phase(),
            received: None,
            events: case
                .events()
                .get(expected_version as usize..)
                .unwrap_or_default()
                .to_vec(),
            outbox: Vec::new(),
            timers: Vec::new(),
            cancel_timers: Vec::new(),
            fired_timers: Vec::new(),
            audit: Vec::new(),
            acknowledged: Acknowledged::in_case(case, expected_version),
        }
    }
}
