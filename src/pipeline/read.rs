//! Reading a case for a client: only a case its organisation takes part in (any other is
//! unknown to it), and of that case only the events the disclosure decision releases to it —
//! each read recorded in the audit log with the person it is about.

use serde_json::json;

use super::receive::{Pipeline, ReceiveError};
use crate::changes::AuditEntry;
use crate::decide::{self, CaseFacts, Decision, Released, Request};
use crate::domain::case::{CaseId, CoordinationCase};
use crate::domain::consent::Recipient;
use crate::domain::event::EventId;
use crate::domain::party::{Organisation, Party};
use crate::process;

/// A case as one organisation may read it: only through what the decision released.
#[derive(Debug, Clone)]
pub struct CaseRead {
    case: CoordinationCase,
    /// The case's reference in its sender's numbering.
    reference: crate::formats::canonical::CaseReference,
    /// The events released to the reader, in order, as released (redactions applied).
    released: Vec<Released>,
    /// When each event of the case was recorded by the gateway.
    recorded_at: Vec<(EventId, jiff::Timestamp)>,
    /// The plans (`sip_plan` steps) the reader may not have, and why.
    withheld_plans: Vec<crate::decide::Denial>,
    /// How many of the case's events the decision withheld from the reader.
    withheld: usize,
    /// Whether the person's identity is protected (by the case or the population register).
    protected_identity: bool,
}

impl CaseRead {
    /// The released form of event `id`, if the reader may have it.
    pub fn released(&self, id: EventId) -> Option<&Released> {
        self.released.iter().find(|r| r.event().id == id)
    }

    /// Every event released to the reader, in order.
    pub fn events(&self) -> &[Released] {
        &self.released
    }

    pub fn case_id(&self) -> CaseId {
        self.case.id()
    }

    /// The case's reference in its sender's numbering.
    pub fn reference(&self) -> &crate::formats::canonical::CaseReference {
        &self.reference
    }

    /// The person the case is about.
    pub fn person(&self) -> &crate::domain::identifiers::PersonId {
        self.case.person()
    }

    /// Why each plan withheld from the reader was withheld.
    pub fn withheld_plans(&self) -> &[crate::decide::Denial] {
        &self.withheld_plans
    }

    /// How many of the case's events were withheld from the reader (never which).
    pub fn withheld_count(&self) -> usize {
        self.withheld
    }

    /// The case as the gateway holds it — every event, released or not. Only for what the
    /// reader may know of a released event (who else it went to, its clocks); never to show.
    pub(crate) fn case(&self) -> &CoordinationCase {
        &self.case
    }

    /// Whether the person's identity is protected.
    pub fn protected_identity(&self) -> bool {
        self.protected_identity
    }

    /// When the gateway recorded event `id`.
    pub fn recorded_at(&self, id: EventId) -> Option<jiff::Timestamp> {
        self.recorded_at
            .iter()
            .find(|(event, _)| *event == id)
            .map(|(_, at)| *at)
    }

    /// The released events as canonical messages, as a delivery to the reader would carry them.
    pub fn messages(&self) -> Vec<crate::formats::canonical::CanonicalMessage> {
        self.released
            .iter()
            .map(|r| {
                r.message(
                    self.reference.clone(),
                    self.case.person().clone(),
                    r.event().occurred_at,
                )
            })
            .collect()
    }

    /// The deviation contacts of the case's parties (whom a new deviation is routed to).
    pub fn deviation_contacts(&self, directory: &crate::config::Directory) -> Vec<Party> {
        directory.deviation_contacts(self.case.region_units(), self.case.municipalities())
    }

    /// The deviation's follow-up view, if the event that raised it was released to the reader.
    pub fn deviation(&self, deviation_id: &str) -> Option<process::deviations::DeviationView> {
        let raised = self.released.iter().find(|r| {
            matches!(&r.event().kind, crate::domain::event::EventKind::DeviationRaised { deviation_id: id, .. } if id == deviation_id)
        })?;
        let view = process::deviations::view(&self.case, deviation_id)?;
        // The description as released to this reader.
        match &raised.event().kind {
            crate::domain::event::EventKind::DeviationRaised { description, .. } => {
                Some(process::deviations::DeviationView {
                    description: description.clone(),
                    ..view
                })
            }
            _ => None,
        }
    }
}

/// The purpose of a client's read: the process the gateway serves.
pub const PURPOSE: &str = "samverkan vid utskrivning";

/// The party an organisation reads as.
pub fn reader_party(organisation: &Organisation) -> Party {
    match organisation {
        Organisation::Region { hsa_id } => Party::RegionUnit {
            hsa_id: hsa_id.clone(),
        },
        Organisation::Municipality { kommunkod } => Party::Municipality {
            kommunkod: *kommunkod,
            unit: None,
        },
    }
}

impl Pipeline {
    /// Every case of `person` that `organisation` takes part in, each as it may read it (and
    /// each read audited as `what`); the others are left out as if they did not exist.
    pub async fn read_cases_of(
        &self,
        person: &crate::domain::identifiers::PersonId,
        organisation: &Organisation,
        actor: &str,
        what: &str,
    ) -> Result<Vec<CaseRead>, ReceiveError> {
        self.read_cases_of_for(person, organisation, actor, what, PURPOSE)
            .await
    }

    /// [`Self::read_cases_of`], each read audited with the `purpose` the reader stated.
    pub async fn read_cases_of_for(
        &self,
        person: &crate::domain::identifiers::PersonId,
        organisation: &Organisation,
        actor: &str,
        what: &str,
        purpose: &str,
    ) -> Result<Vec<CaseRead>, ReceiveError> {
        let mut reads = Vec::new();
        for case_id in self.store.cases_for_person(person).await? {
            match self
                .read_case_for(case_id, organisation, actor, what, purpose)
                .await
            {
                Ok(read) => reads.push(read),
                Err(ReceiveError::UnknownCase { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        // Each case read is audited; a search that finds none is too, so that the person's
        // log extract shows who looked for them.
        if reads.is_empty() {
            self.committer
                .append_audit(
                    None,
                    &[AuditEntry {
                        actor: actor.to_owned(),
                        organisation: Some(organisation.code()),
                        action: format!("search {what}"),
                        person: Some(person.clone()),
                        purpose: purpose.to_owned(),
                        legal_basis: None,
                        details: json!({ "found": 0 }),
                    }],
                    self.clock.now(),
                )
                .await?;
        }
        Ok(reads)
    }

    /// Case `case_id` as `organisation` (client `actor`) may read it, the read audited as
    /// `what`. A case it does not take part in is `UnknownCase`.
    pub async fn read_case(
        &self,
        case_id: CaseId,
        organisation: &Organisation,
        actor: &str,
        what: &str,
    ) -> Result<CaseRead, ReceiveError> {
        self.read_case_for(case_id, organisation, actor, what, PURPOSE)
            .await
    }

    /// [`Self::read_case`], the read audited with the `purpose` the reader stated (a person
    /// opening a case in the console says why).
    pub async fn read_case_for(
        &self,
        case_id: CaseId,
        organisation: &Organisation,
        actor: &str,
        what: &str,
        purpose: &str,
    ) -> Result<CaseRead, ReceiveError> {
        let stored = self
            .store
            .load_case(case_id)
            .await?
            .ok_or(ReceiveError::UnknownCase { case_id })?;
        let reference = stored.reference_or_own();
        let case = stored.to_case()?;
        if !crate::decide::parties::participates(&case, organisation, &self.directory) {
            return Err(ReceiveError::UnknownCase { case_id });
        }
        let now = self.clock.now();
        let consents = crate::decide::route::with_recorders(
            &self.store.registry_for(&case).await?,
            &self.directory,
        );
        let recipient = Recipient {
            party: reader_party(organisation),
            organisation: Some(organisation.clone()),
        };
        let facts = CaseFacts {
            protected_identity: case.state().protected_identity
                || self.store.person_protected(case.person()).await?,
        };
        let mut released = Vec::new();
        let mut withheld = 0usize;
        let mut withheld_plans = Vec::new();
        for event in case.events() {
            let sender = event
                .source
                .sender
                .as_ref()
                .and_then(|s| self.directory.organisation_of(s));
            let decision = decide::decide_read(&Request {
                event,
                recipient: &recipient,
                consents: &consents,
                legal_basis: None,
                sender: sender.as_ref(),
                facts,
                at: now,
            });
            match decision {
                Decision::Permit(d) | Decision::PermitWithRedactions(d) => {
                    released.extend(d.release(event));
                }
                Decision::Deny(denial) => {
                    withheld += 1;
                    if matches!(event.kind, crate::domain::event::EventKind::SipPlan { .. }) {
                        withheld_plans.push(denial);
                    }
                }
            }
        }
        // Durable with the next batch of the group committer, before the read is answered.
        self.committer
            .append_audit(
                Some(case_id),
                &[AuditEntry {
                    actor: actor.to_owned(),
                    organisation: Some(organisation.code()),
                    action: format!("read {what}"),
                    person: Some(case.person().clone()),
                    purpose: purpose.to_owned(),
                    legal_basis: None,
                    details: json!({ "released": released.len(), "withheld": withheld }),
                }],
                now,
            )
            .await?;
        Ok(CaseRead {
            withheld,
            withheld_plans,
            protected_identity: facts.protected_identity,
            case,
            reference,
            released,
            recorded_at: stored
                .events
                .iter()
                .map(|e| (e.event.id, e.recorded_at))
                .collect(),
        })
    }
}
