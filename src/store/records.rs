//! What goes into the store and what comes out of it.

use jiff::Timestamp;
use serde_json::Value;

use crate::decide::Released;
use crate::domain::case::{CaseId, CoordinationCase, Phase};
use crate::domain::delivery::{IdempotencyKey, recipient_key};
use crate::domain::event::{Event, EventId};
use crate::domain::identifiers::PersonId;

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
    pub(super) event_id: EventId,
    pub(super) destination: String,
    pub(super) idempotency_key: IdempotencyKey,
    /// `{"message": the released canonical message, "disclosure": its decision}`, as JSON.
    pub(super) payload: String,
    pub(super) not_before: Timestamp,
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
    ) -> Result<Self, super::StoreError> {
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
    ) -> Result<String, super::StoreError> {
        #[derive(serde::Serialize)]
        struct Payload<'a> {
            message: crate::formats::canonical::CanonicalMessage,
            disclosure: &'a crate::decide::Disclosure,
        }
        serde_json::to_string(&Payload {
            message: released.message(reference.clone(), person.clone(), not_before),
            disclosure: released.disclosure(),
        })
        .map_err(|e| super::StoreError::decode("outbox payload", e))
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
    /// Its JSON texts and audit records made ready before the writer's turn (by the group
    /// committer's caller); made in the commit when absent.
    pub(super) prepared: Option<super::commit::Prepared>,
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
            prepared: None,
        }
    }
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    /// The events were appended with these sequence numbers (inclusive).
    Committed { first_seq: u64, last_seq: u64 },
    /// The message was received before; nothing was written, this is the earlier receipt.
    Duplicate { receipt: Value },
}

/// What the store holds for a message about to be received (`Store::prior`).
#[derive(Debug, Clone)]
pub enum Prior {
    /// The message was received before: its receipt.
    Received(Value),
    /// It was not: its case as stored (if any), the person's stored consent directives, and
    /// whether the person's identity is protected.
    New {
        case: Option<StoredCase>,
        consents: Vec<crate::domain::consent::ConsentDirective>,
        protected: bool,
    },
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: u64,
    pub recorded_at: Timestamp,
    pub event: Event,
}

/// A case as stored: its row and its events in order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCase {
    pub id: CaseId,
    pub person: PersonId,
    /// The case reference of the message that opened it (absent for cases stored before it
    /// was kept).
    pub reference: Option<crate::formats::canonical::CaseReference>,
    pub phase: Phase,
    pub version: u64,
    pub events: Vec<StoredEvent>,
}

impl StoredCase {
    /// The reference the case was opened under, or (for cases stored before references were
    /// kept) one in the gateway's own numbering.
    pub fn reference_or_own(&self) -> crate::formats::canonical::CaseReference {
        self.reference
            .clone()
            .unwrap_or_else(|| crate::formats::canonical::CaseReference {
                issuer: "brygga".to_owned(),
                value: self.id.to_string(),
            })
    }

    /// Rebuilds the domain case, checking every transition again; stored events that no
    /// longer replay are `StoreError::Corrupt`, naming the case.
    pub fn to_case(&self) -> Result<CoordinationCase, super::StoreError> {
        CoordinationCase::replay(
            self.id,
            self.person.clone(),
            self.events.iter().map(|e| e.event.clone()),
        )
        .map_err(|source| super::StoreError::Corrupt {
            case_id: self.id,
            source,
        })
    }
}

/// A claimed outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: i64,
    pub case_id: CaseId,
    pub event_id: EventId,
    pub event_seq: u64,
    pub destination: String,
    pub idempotency_key: IdempotencyKey,
    pub payload: String,
    pub attempts: u64,
    /// When the row was written (with its event).
    pub created_at: Timestamp,
    /// The event's number among those sent to its subscription (1, 2, …; absent for rows
    /// written before subscriptions counted their events).
    pub event_number: Option<u64>,
    /// An earlier attempt may have reached the receiver: one was counted whose outcome was
    /// never recorded (the gateway stopped in between).
    pub possibly_delivered: bool,
}

/// A claimed timer.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerItem {
    pub id: String,
    pub case_id: CaseId,
    pub kind: String,
    pub due_at: Timestamp,
    pub payload: Value,
}
