//! The router's decision step: who each new event of a case goes to, and for each recipient
//! the disclosure decision — an outbox row for what is released, and an audit record for every
//! disclosure and every denial, to be committed with the events. No IO.

use jiff::Timestamp;
use serde_json::json;

use super::parties::recipients;
use super::{CaseFacts, Decision, Request};
use crate::changes::PayloadError;
use crate::changes::{AuditEntry, OutboxEntry};
use crate::config::Directory;
use crate::delivery::Subscriptions;
use crate::domain::case::CoordinationCase;
use crate::domain::consent::{ConsentDirective, Recipient};
use crate::domain::event::{Event, EventId};
use crate::domain::party::Party;
use crate::formats::canonical::CaseReference;

/// What the decisions for one commit produced.
#[derive(Debug, Default)]
pub struct Routed {
    pub outbox: Vec<OutboxEntry>,
    pub audit: Vec<AuditEntry>,
    /// The recipients that were denied, and why.
    pub denied: Vec<Denied>,
    /// The recipients each event was released to (whether or not a subscription delivers it).
    pub released: Vec<(EventId, Party)>,
}

impl Routed {
    /// Whether `event` was released to `party`: to the party itself, or — for an invitation
    /// the gateway fanned out (`routed_to`) — to one of the units of the party's organisation.
    pub fn reached(
        &self,
        event: EventId,
        party: &Party,
        routed_to: &[Party],
        directory: &Directory,
    ) -> bool {
        self.released.iter().any(|(id, recipient)| {
            *id == event && stands_for(recipient, party, routed_to, directory)
        })
    }

    /// Why `event` was withheld from `party` (or from the units it was fanned out to).
    pub fn withheld_because(
        &self,
        event: EventId,
        party: &Party,
        routed_to: &[Party],
        directory: &Directory,
    ) -> Option<&str> {
        self.denied
            .iter()
            .find(|denied| {
                denied.event == event && stands_for(&denied.recipient, party, routed_to, directory)
            })
            .map(|denied| denied.reason.as_str())
    }

    /// Adds what routing further events of the same step produced.
    pub fn extend(&mut self, more: Routed) {
        self.outbox.extend(more.outbox);
        self.audit.extend(more.audit);
        self.denied.extend(more.denied);
        self.released.extend(more.released);
    }
}

/// Whether a decision for `recipient` is one for `party`: the party itself, or a unit of its
/// organisation an invitation the gateway fanned out (`routed_to`) went to.
fn stands_for(
    recipient: &Party,
    party: &Party,
    routed_to: &[Party],
    directory: &Directory,
) -> bool {
    recipient == party
        || (routed_to.contains(recipient)
            && directory.organisation_of(recipient).is_some()
            && directory.organisation_of(recipient) == directory.organisation_of(party))
}

/// One recipient an event was not disclosed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub event: crate::domain::event::EventId,
    pub recipient: Party,
    pub reason: String,
}

/// The registry with each directive's recording organisation: a consent recorded in a case was
/// recorded by its step's sender's organisation.
pub fn with_recorders(
    consents: &[ConsentDirective],
    directory: &Directory,
) -> Vec<ConsentDirective> {
    consents
        .iter()
        .cloned()
        .map(|mut consent| {
            if consent.recorded_by.is_none() {
                consent.recorded_by = consent
                    .recorded_by_party
                    .as_ref()
                    .and_then(|party| directory.organisation_of(party));
            }
            consent
        })
        .collect()
}

/// Decides every recipient of every event in `events` (new events of `case`) and turns the
/// answers into outbox rows and audit records. `person_protected`: the person's identity is
/// protected (as the gateway keeps it for the person, whatever this case says).
#[allow(clippy::too_many_arguments)]
pub fn route(
    case: &CoordinationCase,
    reference: &CaseReference,
    events: &[Event],
    consents: &[ConsentDirective],
    directory: &Directory,
    subscriptions: &Subscriptions,
    routed_to: &[Party],
    at: Timestamp,
    person_protected: bool,
) -> Result<Routed, PayloadError> {
    let facts = CaseFacts {
        protected_identity: case.state().protected_identity || person_protected,
    };
    let consents = &with_recorders(consents, directory);
    let mut routed = Routed::default();
    for event in events {
        for party in recipients(event, case, routed_to) {
            let recipient = Recipient {
                organisation: directory.organisation_of(&party),
                party,
            };
            let sender = event
                .source
                .sender
                .as_ref()
                .and_then(|s| directory.organisation_of(s));
            let decision = super::decide(&Request {
                event,
                recipient: &recipient,
                consents,
                legal_basis: None,
                sender: sender.as_ref(),
                facts,
                at,
            });
            routed
                .audit
                .push(audit_entry(case, event, &recipient, &decision));
            match &decision {
                Decision::Permit(disclosure) | Decision::PermitWithRedactions(disclosure) => {
                    routed.released.push((event.id, recipient.party.clone()));
                    if let (Some(released), Some(organisation)) =
                        (disclosure.release(event), &recipient.organisation)
                    {
                        // One payload for every subscription of the recipient.
                        let mut payload = None;
                        for subscription in subscriptions.for_recipient(
                            organisation,
                            &recipient.party,
                            case.person(),
                            event.kind.name(),
                            at,
                        ) {
                            let payload = match &payload {
                                Some(made) => String::clone(made),
                                None => payload
                                    .insert(OutboxEntry::payload(
                                        &released,
                                        reference,
                                        case.person(),
                                        at,
                                    )?)
                                    .clone(),
                            };
                            routed.outbox.push(OutboxEntry::with_payload(
                                &released,
                                payload,
                                &subscription.id,
                                at,
                            ));
                        }
                    }
                }
                Decision::Deny(denial) => routed.denied.push(Denied {
                    event: event.id,
                    recipient: recipient.party,
                    reason: denial.to_string(),
                }),
            }
        }
    }
    Ok(routed)
}

/// The audit record of one decision: to whom, what, on what basis — or why not.
pub fn audit_entry(
    case: &CoordinationCase,
    event: &Event,
    recipient: &Recipient,
    decision: &Decision,
) -> AuditEntry {
    let (action, legal_basis, details) = match decision {
        Decision::Deny(denial) => (
            format!("deny {}", event.kind.name()),
            None,
            json!({
                "event_id": event.id,
                "recipient": recipient.party,
                "decision": decision.name(),
                "reason": denial,
                "explanation": denial.to_string(),
            }),
        ),
        Decision::Permit(d) | Decision::PermitWithRedactions(d) => (
            format!("disclose {}", event.kind.name()),
            Some(d.basis().audit_text()),
            json!({
                "event_id": event.id,
                "recipient": recipient.party,
                "decision": decision.name(),
                "basis": d.basis(),
                "category": d.category(),
                "redactions": d.redactions(),
                "notices": d.notices(),
            }),
        ),
    };
    AuditEntry {
        actor: "brygga".to_owned(),
        organisation: recipient.organisation.as_ref().map(|o| o.code()),
        action,
        person: Some(case.person().clone()),
        purpose: "samverkan vid utskrivning".to_owned(),
        legal_basis,
        details,
    }
}
