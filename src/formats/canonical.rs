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

/// The uuid-v5 of `parts` joined by `|` in brygga's namespace: `Uuid::new_v5` of the joined
/// text, hashed in place (no joined copy) by a SHA-1 that uses the CPU's SHA instructions.
fn name_based(parts: &[&str]) -> Uuid {
    use sha1::Digest;
    let mut hash = sha1::Sha1::new();
    hash.update(ID_NAMESPACE.as_bytes());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash.update(b"|");
        }
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

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
        CaseId(name_based(&["case", &self.issuer, &self.value]))
    }
}

/// A deterministic id for something derived from source identifiers (`kind` keeps kinds apart).
pub fn derived_id(kind: &str, parts: &[&str]) -> Uuid {
    let mut all = Vec::with_capacity(parts.len() + 1);
    all.push(kind);
    all.extend_from_slice(parts);
    if parts.is_empty() {
        // `kind|`, as these ids were first made.
        all.push("");
    }
    name_based(&all)
}

/// The event id for a message: a re-sent message gets the same id.
pub fn event_id(format: &str, issuer: &str, message_id: &str) -> EventId {
    EventId(name_based(&["event", format, issuer, message_id]))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids are the uuid-v5 of the joined text, as they were made before they were hashed
    /// in place: every id stored keeps meaning the same message, case or derived thing.
    #[test]
    fn ids_are_the_uuid_v5_of_the_joined_text() {
        let v5 = |text: &str| Uuid::new_v5(&ID_NAMESPACE, text.as_bytes());
        let long = "x".repeat(200);
        for (format, issuer, message_id) in [
            ("municipal:socsys", "SE2321000214-1000", "M-1"),
            ("cosmic-link", "", ""),
            ("fhir", "Östersund kommun", "ärende|åäö"),
            ("municipal:faltlista", &long, &long),
        ] {
            assert_eq!(
                event_id(format, issuer, message_id).0,
                v5(&format!("event|{format}|{issuer}|{message_id}"))
            );
            let case = CaseReference {
                issuer: issuer.to_owned(),
                value: message_id.to_owned(),
            };
            assert_eq!(case.case_id().0, v5(&format!("case|{issuer}|{message_id}")));
        }
        assert_eq!(derived_id("timer", &["a", "b"]), v5("timer|a|b"));
        assert_eq!(derived_id("timer", &["", ""]), v5("timer||"));
        assert_eq!(derived_id("timer", &[]), v5("timer|"));
        // A known value, computed once: the namespace itself cannot drift.
        assert_eq!(
            event_id("cosmic-link", "SE2321000214-1000", "CL-2026-0002").to_string(),
            "69a2f34f-d338-5c72-b3e9-087f404314bf"
        );
    }
}
