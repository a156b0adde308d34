//! Steps recorded through the gateway's own API in a case that exists already: a deviation
//! reported, acknowledged or answered. They pass the same state machine, clocks and commit as
//! received messages.

use crate::changes::AuditEntry;
use crate::decide::parties::participates;
use crate::domain::case::{CaseId, CoordinationCase};
use crate::domain::event::{Event, EventId, EventKind, EventSource};
use crate::domain::party::Party;
use crate::formats::canonical::derived_id;
use crate::process::{self, Policy};
use crate::store::CommitOutcome;

use super::receive::{Pipeline, ReceiveError};
use super::record::{Attempt, Made, StepSource, Steps, Stored};

/// The format name of steps recorded through the API.
pub const API: &str = "api";

impl Pipeline {
    /// The case's policy when no message names the care provider: the agreement that covers
    /// its parties (`Policies::for_parties`).
    pub fn policy_of(&self, case: &CoordinationCase) -> &Policy {
        self.mappings
            .policies
            .for_parties("", case, &self.directory)
    }

    /// Records `kind` in case `case_id` on behalf of `by`. `key` makes the step idempotent:
    /// the same key gives the same event id, so a repeated call is answered as a duplicate.
    /// Returns the case after the step.
    pub async fn append(
        &self,
        case_id: CaseId,
        by: &Party,
        key: &str,
        kind: EventKind,
        acting: super::Acting<'_>,
    ) -> Result<CoordinationCase, ReceiveError> {
        if let super::Acting::Client(organisation) = acting
            && self.directory.organisation_of(by).as_ref() != Some(organisation)
        {
            return Err(ReceiveError::Forbidden(format!(
                "the client acts for {organisation}; it cannot record a step by {by}"
            )));
        }
        let mut step = ApiStep {
            pipeline: self,
            case_id,
            by,
            key,
            kind,
            acting,
        };
        self.steps().record_step(&mut step).await
    }

    /// The case, or `UnknownCase`.
    pub async fn case(&self, case_id: CaseId) -> Result<CoordinationCase, ReceiveError> {
        let stored = self
            .store
            .load_case(case_id)
            .await?
            .ok_or(ReceiveError::UnknownCase { case_id })?;
        Ok(stored.to_case()?)
    }
}

/// A step recorded through the API in a stored case.
struct ApiStep<'a> {
    pipeline: &'a Pipeline,
    case_id: CaseId,
    by: &'a Party,
    key: &'a str,
    kind: EventKind,
    acting: super::Acting<'a>,
}

impl StepSource for ApiStep<'_> {
    type Done = CoordinationCase;
    type Error = ReceiveError;

    fn case_id(&self) -> CaseId {
        self.case_id
    }

    async fn make(
        &mut self,
        steps: &Steps<'_>,
        stored: &Stored,
    ) -> Result<Attempt<Made, CoordinationCase>, ReceiveError> {
        let case_id = self.case_id;
        let (Some((mut case, version)), Some(reference)) = (stored.case()?, stored.reference())
        else {
            return Err(ReceiveError::UnknownCase { case_id });
        };
        if let super::Acting::Client(organisation) | super::Acting::Relay(organisation) =
            self.acting
            && !participates(&case, organisation, steps.directory)
        {
            return Err(ReceiveError::UnknownCase { case_id });
        }
        let event = Event {
            id: EventId(derived_id(API, &[&case_id.to_string(), self.key])),
            occurred_at: steps.clock.now(),
            source: EventSource {
                local_codes: Default::default(),
                format: API.to_owned(),
                message_id: self.key.to_owned(),
                sender: Some(self.by.clone()),
            },
            kind: self.kind.clone(),
        };
        let name = event.kind.name();
        let policy = self.pipeline.policy_of(&case);
        let choose = |_: &CoordinationCase| policy;
        let context = process::Context {
            policy: &choose,
            directory: steps.directory,
        };
        let step = match process::advance(&mut case, event.clone(), event.occurred_at, context) {
            Ok(step) => step,
            Err(error) => return Err(error.into()),
        };
        let audit = AuditEntry {
            actor: self.by.to_string(),
            organisation: Some(self.by.to_string()),
            action: format!("record {name}"),
            person: Some(case.person().clone()),
            purpose: "uppföljning av samverkan vid utskrivning".to_owned(),
            legal_basis: None,
            details: serde_json::json!({ "event_id": event.id, "key": self.key }),
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

    fn committed(
        &mut self,
        made: Made,
        _: CommitOutcome,
    ) -> Result<CoordinationCase, ReceiveError> {
        Ok(made.case)
    }

    fn busy(&mut self) -> Result<CoordinationCase, ReceiveError> {
        Err(ReceiveError::Busy)
    }
}
