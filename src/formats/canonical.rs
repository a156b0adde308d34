//! The canonical message: one coordination event with what is needed to place it in a case.
//! It is the `canonical` format of `brygga translate` and the pivot between all other formats.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::case::CaseId;
use crate::domain::event::{Event, EventId};
use crate::domain::identifiers::PersonId;
use crate::domain::party::Party;

/// Names the uuid-v5 namespace of brygga's deterministic ids.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f2b_1c3e_8a4d_4c1b_9e57_2a0d_b7c4_e913);

/// A case as the sending system knows it: whose numbering, and the number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseReference {
    /// Whose numbering: the care provider's HSA-id, e.g. `SE2321000214-1000` for Region
    /// Jämtland Härjedalen's Cosmic Link.
    pub issuer: String,
    /// The sender's case number, e.g. the samordningsärende id `SA-2026-004711`.
    pub value: String,
}

impl CaseReference {
    /// The case id brygga uses for this reference: the same reference always gives the same id.
    pub fn case_id(&self) -> CaseId {
        CaseId(Uuid::new_v5(
            &ID_NAMESPACE,
            format!("case|{}|{}", self.issuer, self.value).as_bytes(),
        ))
    }
}

/// A deterministic id for something derived from source identifiers (`kind` keeps kinds apart).
pub fn derived_id(kind: &str, parts: &[&str]) -> Uuid {
    Uuid::new_v5(
        &ID_NAMESPACE,
        format!("{kind}|{}", parts.join("|")).as_bytes(),
    )
}

/// The event id for a message: a re-sent message gets the same id.
pub fn event_id(format: &str, issuer: &str, message_id: &str) -> EventId {
    EventId(Uuid::new_v5(
        &ID_NAMESPACE,
        format!("event|{format}|{issuer}|{message_id}").as_bytes(),
    ))
}

/// Reads a canonical message from JSON, strictly: a key named twice in an object is refused.
/// `C` is [`CaseReference`] for a message that must name its case in full, or [`CaseLocator`].
pub fn parse<C: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<CanonicalMessage<C>, super::strict_json::JsonError> {
    super::strict_json::from_slice(bytes)
}

/// How a message names its case when the sending system may have no case numbering of its
/// own (a municipal dialect without a case number): both parts name the case; a number alone
/// is looked up among the person's cases; neither leaves it to the person's one open case.
/// The gateway places such a message when it receives it (`pipeline::place`).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct CaseLocator {
    /// Whose numbering, when the message says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// A case number: the sender's own, or the other principal's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl CaseLocator {
    /// The full reference, when the locator has both parts.
    pub fn reference(&self) -> Option<CaseReference> {
        Some(CaseReference {
            issuer: self.issuer.clone()?,
            value: self.value.clone()?,
        })
    }
}

impl From<CaseReference> for CaseLocator {
    fn from(reference: CaseReference) -> Self {
        CaseLocator {
            issuer: Some(reference.issuer),
            value: Some(reference.value),
        }
    }
}

/// A message as a format without case numbering reads it: its case still to be found.
pub type UnplacedMessage = CanonicalMessage<CaseLocator>;

impl UnplacedMessage {
    /// The message with its full case reference, or itself when the reference is not whole.
    pub fn placed(self) -> Result<CanonicalMessage, Box<UnplacedMessage>> {
        match self.case.reference() {
            Some(reference) => Ok(self.place(reference)),
            None => Err(Box::new(self)),
        }
    }

    /// The message placed in the case `reference` names.
    pub fn place(self, reference: CaseReference) -> CanonicalMessage {
        CanonicalMessage {
            case: reference,
            person: self.person,
            sent_at: self.sent_at,
            sender_name: self.sender_name,
            recipient: self.recipient,
            protected_identity: self.protected_identity,
            event: self.event,
        }
    }
}

impl From<CanonicalMessage> for UnplacedMessage {
    fn from(message: CanonicalMessage) -> Self {
        CanonicalMessage {
            case: message.case.into(),
            person: message.person,
            sent_at: message.sent_at,
            sender_name: message.sender_name,
            recipient: message.recipient,
            protected_identity: message.protected_identity,
            event: message.event,
        }
    }
}

/// One translated message. `C` is how it names its case: a [`CaseReference`] once placed (every
/// message the gateway stores or sends), a [`CaseLocator`] as a dialect without case numbering
/// reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CanonicalMessage<C = CaseReference> {
    pub case: C,
    pub person: PersonId,
    /// When the sending system created the message.
    #[schemars(with = "crate::domain::schema::DateTime")]
    pub sent_at: Timestamp,
    /// The sending unit's display name, if the message carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    /// The party the message is addressed to, where the format names one (a municipal
    /// envelope's receiver; the destination of a delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Party>,
    /// The person's identity is protected (skyddad folkbokföring, sekretessmarkering): any
    /// message may say so, and the gateway keeps it for the person, in every case of theirs,
    /// until it is lifted explicitly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protected_identity: bool,
    pub event: Event,
}
