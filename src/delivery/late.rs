//! The deviation a delivery raises when it is still failing near its step's deadline, or
//! went to the dead letters: a step of its case like any other (`Steps::record_step`).

use crate::changes::AuditEntry;
use crate::domain::case::{CaseId, CoordinationCase, TransitionError};
use crate::pipeline::{Attempt, Made, StepSource, Steps, Stored};
use crate::process::deviations::{self, LateDelivery};
use crate::process::{Context, Policy, advance};
use crate::store::{CommitOutcome, OutboxItem, StoreError};

/// The deviation a late delivery raises, as a step of its case.
pub(super) struct LateStep<'a> {
    pub(super) item: &'a OutboxItem,
    pub(super) late: &'a LateDelivery<'a>,
}

impl StepSource for LateStep<'_> {
    type Done = ();
    type Error = StoreError;

    fn case_id(&self) -> CaseId {
        self.item.case_id
    }

    async fn make(
        &mut self,
        steps: &Steps<'_>,
        stored: &Stored,
    ) -> Result<Attempt<Made, ()>, StoreError> {
        let (item, late) = (self.item, self.late);
        let (Some((mut case, version)), Some(reference)) = (stored.case()?, stored.reference())
        else {
            return Ok(Attempt::Answer(()));
        };
        let Some(event) = case
            .events()
            .iter()
            .find(|e| e.id == item.event_id)
            .cloned()
        else {
            return Ok(Attempt::Answer(()));
        };
        let raised = deviations::delivery_late(&case, &event, late, steps.directory);
        // The agreement the case's own steps follow (its parties), so its reminders run the same.
        let issuer = reference.issuer.clone();
        let choose = |case: &CoordinationCase| -> &Policy {
            steps.policies.for_parties(&issuer, case, steps.directory)
        };
        let context = Context {
            policy: &choose,
            directory: steps.directory,
        };
        let step = match advance(&mut case, raised.clone(), late.at, context) {
            Ok(step) => step,
            // Raised already (by another instance, or before a restart).
            Err(TransitionError::DuplicateEvent { .. }) => {
                return Ok(Attempt::Answer(()));
            }
            Err(reason) => {
                tracing::info!(case = %item.case_id, %reason, "a late delivery's deviation does not apply to the case now");
                return Ok(Attempt::Answer(()));
            }
        };
        let audit = AuditEntry {
            actor: "brygga".to_owned(),
            organisation: None,
            action: raised.kind.name().to_owned(),
            person: Some(case.person().clone()),
            purpose: "uppföljning av samverkan vid utskrivning".to_owned(),
            legal_basis: None,
            details: serde_json::json!({
                "cause": "delivery_late",
                "delivery": item.id,
                "subscription": item.destination,
                "event_id": raised.id,
                "deadline": late.deadline,
                "dead": late.dead,
            }),
        };
        Ok(Attempt::Go(Made {
            case,
            version,
            reference,
            step,
            audit,
            routed_to: Vec::new(),
            protects: false,
        }))
    }

    fn committed(&mut self, _: Made, outcome: CommitOutcome) -> Result<(), StoreError> {
        if let CommitOutcome::Committed { .. } = outcome {
            let (item, late) = (self.item, self.late);
            tracing::warn!(case = %item.case_id, subscription = item.destination, deadline = ?late.deadline, dead = late.dead, "a late delivery raised a deviation");
        }
        Ok(())
    }

    fn busy(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
