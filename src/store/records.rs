//! What the store answers: commit outcomes, cases and events as stored, claimed work. (What
//! a step hands in is `crate::changes`.)

use jiff::Timestamp;
use serde_json::Value;

use crate::domain::case::{CaseId, CoordinationCase, Phase};
use crate::domain::delivery::IdempotencyKey;
use crate::domain::event::{Event, EventId};
use crate::domain::identifiers::PersonId;

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
    pub fn to_case(&self) -> Result<CoordinationCase, super::error::StoreError> {
        CoordinationCase::replay(
            self.id,
            self.person.clone(),
            self.events.iter().map(|e| e.event.clone()),
        )
        .map_err(|source| super::error::StoreError::Corrupt {
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
