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
pub fn parse(bytes: &[u8]) -> Result<CanonicalMessage, super::strict_json::JsonError> {
    super::strict_json::from_slice(bytes)
}

/// One translated message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CanonicalMessage {
    pub case: CaseReference,
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
