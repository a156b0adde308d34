//! The identity of one delivery — an event, through a subscription, to a recipient — as the
//! idempotency key it carries on every attempt, which receivers drop repeats by.

use std::fmt;

use super::event::EventId;
use super::party::Party;

/// A party as delivery keys and kvittenser name it: `region-unit:<HSA-id>`,
/// `municipality:<kommunkod>` or `municipality:<kommunkod>/<HSA-id>`.
pub fn recipient_key(party: &Party) -> String {
    match party {
        Party::RegionUnit { hsa_id } => format!("region-unit:{hsa_id}"),
        Party::Municipality {
            kommunkod,
            unit: None,
        } => format!("municipality:{kommunkod}"),
        Party::Municipality {
            kommunkod,
            unit: Some(unit),
        } => format!("municipality:{kommunkod}/{unit}"),
    }
}

/// The prefixes a recipient key starts with (`recipient_key`).
const RECIPIENT_KINDS: [&str; 2] = [":region-unit:", ":municipality:"];

/// The key of one delivery: `<event id>:<subscription>:<recipient>`. The same delivery always
/// has the same key. Made only by `new`, read back only by `parse`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    text: String,
    /// Where the subscription ends (the `:` before the recipient).
    recipient_at: usize,
    event: EventId,
}

/// A text that is not an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a delivery key (<event id>:<subscription>:<recipient>): {0}")]
pub struct NotAKey(String);

impl IdempotencyKey {
    /// The key of `event`'s delivery through `subscription` to `recipient`.
    pub fn new(event: EventId, subscription: &str, recipient: &Party) -> Self {
        let prefix = format!("{event}:{subscription}");
        let recipient_at = prefix.len();
        IdempotencyKey {
            text: format!("{prefix}:{}", recipient_key(recipient)),
            recipient_at,
            event,
        }
    }

    /// Reads a key back. A subscription's id may hold `:`, a recipient key holds only its
    /// own: the recipient is the last part that starts like one.
    pub fn parse(text: &str) -> Result<Self, NotAKey> {
        let not = || NotAKey(text.to_owned());
        let (event, _) = text.split_once(':').ok_or_else(not)?;
        let event = uuid::Uuid::parse_str(event)
            .map(EventId)
            .map_err(|_| not())?;
        let recipient_at = RECIPIENT_KINDS
            .iter()
            .filter_map(|kind| text.rfind(kind))
            .max()
            .filter(|&at| at > event.to_string().len())
            .ok_or_else(not)?;
        Ok(IdempotencyKey {
            text: text.to_owned(),
            recipient_at,
            event,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn event(&self) -> EventId {
        self.event
    }

    /// The subscription's id.
    pub fn subscription(&self) -> &str {
        let start = self.text.find(':').map_or(0, |i| i + 1);
        &self.text[start..self.recipient_at]
    }

    /// The recipient, as `recipient_key` writes it.
    pub fn recipient(&self) -> &str {
        &self.text[self.recipient_at + 1..]
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identifiers::{HsaId, Kommunkod};

    fn event() -> EventId {
        EventId(uuid::Uuid::parse_str("0195f0a4-1c2b-7d3e-8f40-5a6b7c8d9e0f").unwrap())
    }

    #[test]
    fn a_key_reads_back_into_its_parts_whatever_the_subscription_is_called() {
        let unit = Party::Municipality {
            kommunkod: Kommunkod::parse("2380").unwrap(),
            unit: Some(HsaId::parse("SE2120002411-BIST").unwrap()),
        };
        let ward = Party::RegionUnit {
            hsa_id: HsaId::parse("SE2321000214-E1AV").unwrap(),
        };
        for (subscription, recipient) in [
            ("ostersund", &unit),
            ("municipality:2380", &unit),
            ("region-unit:x:municipality:1", &ward),
        ] {
            let key = IdempotencyKey::new(event(), subscription, recipient);
            let read = IdempotencyKey::parse(key.as_str()).unwrap();
            assert_eq!(read, key);
            assert_eq!(read.event(), event());
            assert_eq!(read.subscription(), subscription);
            assert_eq!(read.recipient(), recipient_key(recipient));
        }
    }

    #[test]
    fn a_text_without_an_event_or_a_recipient_is_not_a_key() {
        for text in [
            "",
            "ostersund:municipality:2380",
            "0195f0a4-1c2b-7d3e-8f40-5a6b7c8d9e0f:ostersund",
            "0195f0a4-1c2b-7d3e-8f40-5a6b7c8d9e0f:municipality:2380",
        ] {
            assert!(IdempotencyKey::parse(text).is_err(), "{text}");
        }
    }
}
