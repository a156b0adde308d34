//! The router's decision step: who each new event of a case goes to, and for each recipient
//! the disclosure decision — an outbox row for what is released, and an audit record for every
//! disclosure and every denial, to be committed with the events. Pure.

use jiff::Timestamp;
use serde_json::json;

use crate::config::Directory;
use crate::decide::{self, CaseFacts, Decision, Request};
use crate::delivery::Subscriptions;
use crate::domain::case::CoordinationCase;
use crate::domain::consent::{ConsentDirective, Recipient};
use crate::domain::event::{Event, EventKind};
use crate::domain::party::Party;
use crate::formats::canonical::CaseReference;
use crate::store::{AuditEntry, OutboxEntry, StoreError};

/// What the decisions for one commit produced.
#[derive(Debug, Default)]
pub struct Routed {
    pub outbox: Vec<OutboxEntry>,
    pub audit: Vec<AuditEntry>,
    /// The recipients that were denied, and why.
    pub denied: Vec<Denied>,
}

/// One recipient an event was not disclosed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub event: crate::domain::event::EventId,
    pub recipient: Party,
    pub reason: String,
}

/// The parties an event goes to: those it names (admission recipients, invited functions,
/// the deviation's addressee and contacts, a report's municipality), otherwise every party of
/// the case; never its sender. `routed_to` replaces the invited parties of an invitation the
/// gateway routed.
pub fn recipients(event: &Event, case: &CoordinationCase, routed_to: &[Party]) -> Vec<Party> {
    let mut parties: Vec<Party> = match &event.kind {
        EventKind::AdmissionNotice { recipients, .. } => recipients.clone(),
        EventKind::SipInvitation { invited, .. } if routed_to.is_empty() => {
            invited.iter().map(|f| f.party.clone()).collect()
        }
        EventKind::SipInvitation { .. } => routed_to.to_vec(),
        EventKind::DeviationRaised {
            addressed_to,
            notify,
            ..
        } => std::iter::once(addressed_to.clone())
            .chain(notify.iter().cloned())
            .collect(),
        EventKind::DeviationReminder { addressed_to, .. } => vec![addressed_to.clone()],
        EventKind::LvmReport {
            to_municipality, ..
        }
        | EventKind::ChildConcernReport {
            to_municipality, ..
        } => vec![Party::Municipality {
            kommunkod: *to_municipality,
            unit: None,
        }],
        _ => case
            .region_units()
            .iter()
            .map(|hsa_id| Party::RegionUnit {
                hsa_id: hsa_id.clone(),
            })
            .chain(
                case.municipalities()
                    .iter()
                    .map(|&kommunkod| Party::Municipality {
                        kommunkod,
                        unit: None,
                    }),
            )
            .collect(),
    };
    if let Some(sender) = &event.source.sender {
        parties.retain(|p| p != sender && !same_municipality(p, sender));
    }
    parties.sort();
    parties.dedup();
    parties
}

/// A municipality does not send to itself, whichever of its units it names.
fn same_municipality(a: &Party, b: &Party) -> bool {
    matches!((a, b), (
        Party::Municipality { kommunkod: x, unit: None },
        Party::Municipality { kommunkod: y, .. },
    ) if x == y)
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
) -> Result<Routed, StoreError> {
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
            let decision = decide::decide(&Request {
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

/// `route` with the person's consent registry read from `store` (the directives of `case`
/// taken from its events, which include those about to be committed).
#[allow(clippy::too_many_arguments)]
pub async fn route_with_registry(
    store: &crate::store::Store,
    case: &CoordinationCase,
    reference: &CaseReference,
    events: &[Event],
    directory: &Directory,
    subscriptions: &Subscriptions,
    routed_to: &[Party],
    at: Timestamp,
) -> Result<Routed, StoreError> {
    let consents = store.registry_for(case).await?;
    let person_protected = store.person_protected(case.person()).await?;
    route(
        case,
        reference,
        events,
        &consents,
        directory,
        subscriptions,
        routed_to,
        at,
        person_protected,
    )
}

/// The commit of a step recorded in a stored case (through the API, by a due timer, by the
/// delivery worker): the events `case` holds beyond `stored`, the step's timers and
/// cancellations, `audit` (the record of who recorded it) and then the routing's outbox rows
/// and decision records.
#[allow(clippy::too_many_arguments)]
pub async fn commit_in_stored_case(
    store: &crate::store::Store,
    case: &CoordinationCase,
    stored: &crate::store::StoredCase,
    step: super::Step,
    audit: crate::store::AuditEntry,
    directory: &Directory,
    subscriptions: &Subscriptions,
    now: Timestamp,
) -> Result<crate::store::CaseCommit, StoreError> {
    let mut commit = crate::store::CaseCommit::from_case(case, stored.version, now);
    let routed = route_with_registry(
        store,
        case,
        &reference_of(stored),
        &commit.events,
        directory,
        subscriptions,
        &[],
        now,
    )
    .await?;
    commit.outbox = routed.outbox;
    commit.timers = step.timers;
    commit.cancel_timers = step.cancel;
    commit.audit.push(audit);
    commit.audit.extend(routed.audit);
    Ok(commit)
}

/// The reference of a stored case, or (for cases stored before references were kept) one in
/// the gateway's own numbering.
pub fn reference_of(stored: &crate::store::StoredCase) -> CaseReference {
    stored.reference.clone().unwrap_or_else(|| CaseReference {
        issuer: "brygga".to_owned(),
        value: stored.id.to_string(),
    })
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

/// Whether `organisation` takes part in `case`: a municipality of the case, or the region of
/// one of its units.
pub fn participates(
    case: &CoordinationCase,
    organisation: &crate::domain::party::Organisation,
    directory: &Directory,
) -> bool {
    use crate::domain::party::Organisation;
    match organisation {
        Organisation::Municipality { kommunkod } => case.municipalities().contains(kommunkod),
        Organisation::Region { hsa_id } => case.region_units().iter().any(|unit| {
            unit == hsa_id
                || directory
                    .region_of(unit)
                    .is_some_and(|r| &r.hsa_id == hsa_id)
        }),
    }
}
