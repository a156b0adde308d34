//! Placing a message that does not name its case in full (a dialect without case numbering):
//! the case is found among the person's cases that the sender takes part in, never invented.
//!
//! - an issuer and a number name the case as every other format does;
//! - a number alone (the sender's own, or the other principal's — the region's
//!   samordningsärende id) is the one case of the person with that number, in any phase;
//! - no number is the person's one open case (any phase but cancelled).
//!
//! No case, or more than one, is a conflict (409) that names what the sender can add; only
//! cases the sender takes part in are looked at, so the answer tells nothing of others' cases.

use crate::decide::parties::participates;
use crate::domain::case::Phase;
use crate::formats::canonical::{CanonicalMessage, CaseReference, UnplacedMessage};

use super::receive::{Acting, Pipeline, ReceiveError};

impl Pipeline {
    /// `message` placed in its case. The cases looked at are those of the organisation
    /// acting (a client's own, a relay's), so that an answer never names another's case.
    pub(super) async fn place(
        &self,
        message: UnplacedMessage,
        acting: Acting<'_>,
    ) -> Result<CanonicalMessage, ReceiveError> {
        let message = match message.placed() {
            Ok(placed) => return Ok(placed),
            Err(unplaced) => *unplaced,
        };
        let Some(sender) = message
            .event
            .source
            .sender
            .as_ref()
            .and_then(|party| self.directory.organisation_of(party))
        else {
            return Err(ReceiveError::NotAccepted(
                "the message names no case number, and no sender in the organisation directory whose cases could be searched"
                    .to_owned(),
            ));
        };
        let sender = match acting {
            Acting::Client(organisation) if organisation != &sender => {
                return Err(ReceiveError::Forbidden(format!(
                    "the client acts for {organisation}; this message is sent by {sender}"
                )));
            }
            Acting::Client(organisation) | Acting::Relay(organisation) => organisation.clone(),
            Acting::Operator => sender,
        };
        let locator = &message.case;
        let mut found: Vec<CaseReference> = Vec::new();
        for id in self.store.cases_for_person(&message.person).await? {
            let Some(stored) = self.store.load_case(id).await? else {
                continue;
            };
            let reference = stored.reference_or_own();
            let matches = match (&locator.issuer, &locator.value) {
                (_, Some(value)) => {
                    &reference.value == value
                        && locator
                            .issuer
                            .as_ref()
                            .is_none_or(|i| i == &reference.issuer)
                }
                (Some(issuer), None) => {
                    &reference.issuer == issuer && stored.phase != Phase::Cancelled
                }
                (None, None) => stored.phase != Phase::Cancelled,
            };
            if matches && participates(&stored.to_case()?, &sender, &self.directory) {
                found.push(reference);
            }
        }
        let what = match &locator.value {
            Some(value) => format!("no case numbered {value}"),
            None => "no open case".to_owned(),
        };
        match found.len() {
            1 => Ok(message.place(found.remove(0))),
            0 => Err(ReceiveError::Unplaced(format!(
                "the message names no case of its own; the person has {what} that {sender} takes part in \
                 (a case is opened by its first step, with its number)"
            ))),
            _ => Err(ReceiveError::Unplaced(format!(
                "the message names no case of its own, and the person has {} cases that {sender} takes part in ({}); \
                 send the case's number to say which",
                found.len(),
                found
                    .iter()
                    .map(|r| format!("{} of {}", r.value, r.issuer))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}
