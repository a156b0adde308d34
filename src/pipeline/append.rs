//! Steps recorded through the gateway's own API in a case that exists already: a deviation
//! reported, acknowledged or answered. They pass the same state machine, clocks and commit as
//! received messages.

use crate::domain::case::{CaseId, CoordinationCase, TransitionError};
use crate::domain::event::{Event, EventId, EventKind, EventSource};
use crate::domain::party::Party;
use crate::formats::canonical::derived_id;
use crate::process::{self, Policy};
use crate::store::{AuditEntry, CommitOutcome, StoreError};

use super::receive::{ATTEMPTS, Pipeline, ReceiveError};

/// The format name of steps recorded through the API.
pub const API: &str = "api";

impl Pipeline {
    /// The case's policy when no message names the care provider: the agreement of the region
    /// its units belong to and its first municipality.
    pub fn policy_of(&self, case: &CoordinationCase) -> &Policy {
        let policies = &self.mappings.policies;
        let region = case
            .region_units()
            .iter()
            .find_map(|unit| self.directory.region_of(unit));
        match region {
            Some(region) => policies.for_case(
                region.hsa_id.as_str(),
                case.municipalities().first().copied(),
            ),
            None => &policies.default,
        }
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
        let event_id = EventId(derived_id(API, &[&case_id.to_string(), key]));
        for _ in 0..ATTEMPTS {
            let stored = self
                .store
                .load_case(case_id)
                .await?
                .ok_or(ReceiveError::UnknownCase { case_id })?;
            let mut case = stored.to_case()?;
            if let super::Acting::Client(organisation) | super::Acting::Relay(organisation) = acting
                && !process::disclosure::participates(&case, organisation, &self.directory)
            {
                return Err(ReceiveError::UnknownCase { case_id });
            }
            let event = Event {
                id: event_id,
                occurred_at: self.clock.now(),
                source: EventSource {
                    format: API.to_owned(),
                    message_id: key.to_owned(),
                    sender: Some(by.clone()),
                },
                kind: kind.clone(),
            };
            let name = event.kind.name();
            let policy = self.policy_of(&case);
            let choose = |_: &CoordinationCase| policy;
            let step = match process::advance(
                &mut case,
                event.clone(),
                event.occurred_at,
                process::Context {
                    policy: &choose,
                    directory: &self.directory,
                },
            ) {
                Ok(step) => step,
                Err(error @ TransitionError::DuplicateEvent { .. }) => {
                    // Recorded before, perhaps not yet durable: callers take this as done.
                    self.committer.durable().await?;
                    return Err(error.into());
                }
                Err(error) => return Err(error.into()),
            };
            let now = self.clock.now();
            let audit = AuditEntry {
                actor: by.to_string(),
                organisation: Some(by.to_string()),
                action: format!("record {name}"),
                person: Some(case.person().clone()),
                purpose: "uppföljning av samverkan vid utskrivning".to_owned(),
                legal_basis: None,
                details: serde_json::json!({ "event_id": event.id, "key": key }),
            };
            let commit = process::disclosure::commit_in_stored_case(
                &self.store,
                &case,
                &stored,
                step,
                audit,
                &self.directory,
                &self.subscriptions.current(),
                now,
            )
            .await?;
            match self.committer.commit(commit).await {
                Ok(CommitOutcome::Committed { .. } | CommitOutcome::Duplicate { .. }) => {
                    return Ok(case);
                }
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(ReceiveError::Busy)
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
