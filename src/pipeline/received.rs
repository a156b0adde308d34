//! A received message as a step of its case (`StepSource`): read what it needs (an earlier
//! copy's receipt, the case, the person's consents and protection) on one connection, make the
//! step, and answer the sender's receipt once it is committed.

use crate::changes::{AuditEntry, CaseCommit, ReceivedMessage};
use crate::decide::invitations::invitation_recipients;
use crate::decide::route::Routed;
use crate::domain::case::{CaseId, CoordinationCase};
use crate::domain::event::EventKind;
use crate::domain::party::Party;
use crate::formats::canonical::CanonicalMessage;
use crate::process;
use crate::store::{CommitOutcome, Prior, StoreError};

use super::receive::*;
use super::record::{Attempt, Made, StepSource, Steps, Stored};

/// A received message as a step of its case.
pub(super) struct Received<'a> {
    pub(super) pipeline: &'a Pipeline,
    /// The format and sender (`cosmic-link:SE…`): with the message id, what makes a message
    /// the same message.
    pub(super) source: String,
    pub(super) message: CanonicalMessage,
    /// What the format did not carry over.
    pub(super) warnings: Vec<String>,
    pub(super) acting: Acting<'a>,
    pub(super) marks_protection: bool,
    /// What the step itself warns of (made with it, so made again with it).
    pub(super) step_warnings: Vec<String>,
    /// The receipt, once the step is routed.
    pub(super) receipt: Option<Receipt>,
}

impl StepSource for Received<'_> {
    type Done = Receipt;
    type Error = ReceiveError;

    fn case_id(&self) -> CaseId {
        self.message.case.case_id()
    }

    async fn read(
        &mut self,
        steps: &Steps<'_>,
        attempt: usize,
    ) -> Result<Attempt<Stored, Receipt>, ReceiveError> {
        let (message_id, person) = (&self.message.event.source.message_id, &self.message.person);
        if attempt > 0 {
            // After a conflict: what the step that committed first changed.
            return Ok(Attempt::Go(steps.read(self.case_id(), Some(person)).await?));
        }
        // The first attempt reads everything on one connection, and whether the message was
        // received before.
        match steps
            .store
            .prior(&self.source, message_id, self.case_id(), person)
            .await?
        {
            Prior::Received(receipt) => Ok(Attempt::Answer(stored_receipt(receipt)?)),
            Prior::New {
                case,
                consents,
                protected,
            } => Ok(Attempt::Go(Stored {
                case,
                consents,
                protected,
            })),
        }
    }

    async fn make(
        &mut self,
        steps: &Steps<'_>,
        stored: &Stored,
    ) -> Result<Attempt<Made, Receipt>, ReceiveError> {
        let (message, acting, pipeline) = (&self.message, self.acting, self.pipeline);
        let case_id = self.case_id();
        let (mut case, version) = stored
            .case()?
            .unwrap_or_else(|| (CoordinationCase::new(case_id, message.person.clone()), 0));
        check_case(message, acting, &case, version, steps.directory)?;
        let policies = &pipeline.mappings.policies;
        let issuer = message.case.issuer.as_str();
        let directory = steps.directory.as_ref();
        let policy = |case: &CoordinationCase| policies.for_parties(issuer, case, directory);
        let context = process::Context {
            policy: &policy,
            directory: steps.directory,
        };
        let step =
            match process::advance(&mut case, message.event.clone(), message.sent_at, context) {
                Ok(step) => step,
                // A step into a case that does not exist answers as one into a case of another
                // organisation: whether a case id exists is not a client's to learn.
                Err(_) if version == 0 && !matches!(acting, Acting::Operator) => {
                    return Err(ReceiveError::UnknownCase { case_id });
                }
                Err(error) => return Err(error.into()),
            };
        let routed_to = if matches!(message.event.kind, EventKind::SipInvitation { .. }) {
            let involved = pipeline.involved_region_units(message, &case).await?;
            invitation_recipients(&message.event, &involved, steps.directory)
        } else {
            Vec::new()
        };
        let now = steps.clock.now();
        self.step_warnings = pipeline.consent_warnings(message, &case, &stored.consents, now);
        self.step_warnings
            .extend(Pipeline::hold_warnings(message, &case));
        self.step_warnings
            .extend(Pipeline::certificate_warnings(message, steps.directory));
        self.step_warnings
            .extend(Pipeline::lvm_report_warnings(message));
        self.step_warnings
            .extend(Pipeline::placement_warnings(message, &case));
        self.step_warnings
            .extend(Pipeline::decision_warnings(message));
        self.step_warnings
            .extend(process::deviations::function_mismatch(
                &case,
                &message.event,
                &policy(&case).functions,
            ));
        // Protection is kept for the person, before anything of the step is disclosed:
        // should the commit fail, the person stays protected (the safe side).
        if self.marks_protection && !stored.protected {
            pipeline.protect(message, case_id, now).await?;
        }
        let audit = AuditEntry {
            actor: sender_label(message),
            organisation: Some(message.case.issuer.clone()),
            action: format!("receive {}", message.event.kind.name()),
            person: Some(message.person.clone()),
            purpose: "samverkan vid utskrivning".to_owned(),
            legal_basis: None,
            details: serde_json::json!({
                "format": message.event.source.format,
                "message_id": message.event.source.message_id,
                "event_id": message.event.id,
                // As the receipt: the fan-out of an invitation of a whole region is in
                // the disclosure records, one per unit, under the region's organisation.
                "routed_to": if routed_to.is_empty() { Vec::new() } else { invited_as_sent(message) },
                "follow_on": step.follow_on,
            }),
        };
        Ok(Attempt::Go(Made {
            case,
            version,
            reference: message.case.clone(),
            step,
            audit,
            routed_to,
            protects: self.marks_protection,
        }))
    }

    fn complete(
        &mut self,
        made: &Made,
        routed: &Routed,
        commit: &mut CaseCommit,
    ) -> Result<(), ReceiveError> {
        let message = &self.message;
        let invited = invited_as_sent(message);
        // The receipt names whom the sender invited, never the units an invitation of a
        // whole region fanned out to: which units know the person is not the sender's to
        // learn (the audit record keeps the fan-out).
        let shown = |party: &Party| -> Party {
            if made.routed_to.contains(party) && !invited.contains(party) {
                invited
                    .iter()
                    .find(|invited| {
                        self.pipeline.directory.organisation_of(invited)
                            == self.pipeline.directory.organisation_of(party)
                    })
                    .cloned()
                    .unwrap_or_else(|| party.clone())
            } else {
                party.clone()
            }
        };
        let mut withheld: Vec<Withheld> = Vec::new();
        for denied in routed.denied.iter().filter(|d| d.event == message.event.id) {
            let entry = Withheld {
                recipient: shown(&denied.recipient),
                reason: denied.reason.clone(),
            };
            if !withheld.contains(&entry) {
                withheld.push(entry);
            }
        }
        let mut warnings = self.warnings.clone();
        warnings.extend(self.step_warnings.iter().cloned());
        let receipt = Receipt {
            status: "accepted".to_owned(),
            message_id: message.event.source.message_id.clone(),
            case_id: self.case_id(),
            event_id: message.event.id,
            kind: message.event.kind.name().to_owned(),
            sequence: made.step.sequence,
            routed_to: if made.routed_to.is_empty() {
                Vec::new()
            } else {
                invited
            },
            follow_on: made.step.follow_on.clone(),
            warnings,
            withheld,
        };
        commit.received = Some(ReceivedMessage {
            source: self.source.clone(),
            message_id: receipt.message_id.clone(),
            receipt: serde_json::to_value(&receipt)
                .map_err(|e| StoreError::decode("receipt", e))?,
        });
        self.receipt = Some(receipt);
        Ok(())
    }

    fn committed(&mut self, _: Made, outcome: CommitOutcome) -> Result<Receipt, ReceiveError> {
        match (outcome, self.receipt.take()) {
            (CommitOutcome::Committed { .. }, Some(receipt)) => Ok(receipt),
            (CommitOutcome::Duplicate { receipt }, _) => stored_receipt(receipt),
            (CommitOutcome::Committed { .. }, None) => {
                Err(StoreError::decode("receipt", "a committed message without its receipt").into())
            }
        }
    }

    fn busy(&mut self) -> Result<Receipt, ReceiveError> {
        Err(ReceiveError::Busy)
    }

    fn already_stored(&mut self, detail: String) -> ReceiveError {
        tracing::info!(%detail, "a message records a step already stored");
        ReceiveError::AlreadyRecorded {
            message_id: self.message.event.source.message_id.clone(),
        }
    }
}
