//! Receiving one message: decode it, place it in its case, and commit event, audit record and
//! received message id together. A message id seen before is answered with its first receipt.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::case::{CaseId, CoordinationCase, TransitionError};
use crate::domain::event::EventId;
use crate::formats::Mappings;
use crate::formats::canonical::CanonicalMessage;
use crate::formats::cosmic_link::{self, CosmicLinkError};
use crate::process;
use crate::store::{
    AuditEntry, CaseCommit, CommitOutcome, GroupCommitter, ReceivedMessage, Store, StoreError,
};

/// What the sender gets back: which case and event the message became, and what was not mapped.
/// A re-sent message gets the identical receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub status: String,
    pub message_id: String,
    pub case_id: CaseId,
    pub event_id: EventId,
    pub kind: String,
    pub sequence: u64,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Why a message was not accepted. Nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The message does not follow the contract (400).
    #[error("{0}")]
    Invalid(#[from] CosmicLinkError),
    /// The message concerns another person than its case (422).
    #[error("samordningsärende {case} already belongs to another person")]
    PersonMismatch { case: String },
    /// The step is not valid in the case's current state (409).
    #[error("{0}")]
    Transition(#[from] TransitionError),
    /// Other messages of the same case kept committing first (503; try again).
    #[error("the case is busy with other messages; try again")]
    Busy,
    /// The store failed (500).
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The inbound pipeline and what it needs.
#[derive(Clone)]
pub struct Pipeline {
    pub store: Store,
    pub committer: GroupCommitter,
    pub mappings: Arc<Mappings>,
    pub clock: Clock,
}

const ATTEMPTS: usize = 5;

impl Pipeline {
    /// Receives one Cosmic Link message.
    pub async fn receive_cosmic_link(&self, bytes: &[u8]) -> Result<Receipt, ReceiveError> {
        let decoded = cosmic_link::decode(bytes, &self.mappings.cosmic_link, self.clock.today())?;
        let source = format!("{}:{}", cosmic_link::FORMAT, decoded.message.case.issuer);
        self.receive(source, decoded.message, decoded.warnings)
            .await
    }

    async fn receive(
        &self,
        source: String,
        message: CanonicalMessage,
        warnings: Vec<String>,
    ) -> Result<Receipt, ReceiveError> {
        let message_id = message.event.source.message_id.clone();
        if let Some(receipt) = self.store.receipt(&source, &message_id).await? {
            return stored_receipt(receipt);
        }
        let case_id = message.case.case_id();
        for _ in 0..ATTEMPTS {
            let (mut case, version) = match self.store.load_case(case_id).await? {
                Some(stored) => {
                    let case = stored
                        .to_case()
                        .map_err(|source| StoreError::Corrupt { case_id, source })?;
                    (case, stored.version)
                }
                None => (CoordinationCase::new(case_id, message.person.clone()), 0),
            };
            if case.person() != &message.person {
                return Err(ReceiveError::PersonMismatch {
                    case: message.case.value.clone(),
                });
            }
            let before = case.clone();
            let sequence = case.apply(message.event.clone())?;
            let policy = self
                .mappings
                .policies
                .for_case(&message.case.issuer, case.municipalities().first().copied());
            let clocks = process::plan(&before, &message.event, message.sent_at, policy);
            for missed in clocks.missed {
                // A deadline the message itself shows missed (e.g. a late admission notice).
                case.apply(missed)?;
            }
            let receipt = Receipt {
                status: "accepted".to_owned(),
                message_id: message_id.clone(),
                case_id,
                event_id: message.event.id,
                kind: message.event.kind.name().to_owned(),
                sequence,
                warnings: warnings.clone(),
            };
            let now = self.clock.now();
            let mut commit = CaseCommit::from_case(&case, version, now);
            commit.timers = clocks.timers;
            commit.cancel_timers = clocks.cancel;
            commit.received = Some(ReceivedMessage {
                source: source.clone(),
                message_id: message_id.clone(),
                receipt: serde_json::to_value(&receipt)
                    .map_err(|e| StoreError::decode("receipt", e))?,
            });
            commit.audit.push(AuditEntry {
                actor: sender_label(&message),
                organisation: Some(message.case.issuer.clone()),
                action: format!("receive {}", receipt.kind),
                person: Some(message.person.clone()),
                purpose: "samverkan vid utskrivning".to_owned(),
                legal_basis: None,
                details: serde_json::json!({
                    "format": message.event.source.format,
                    "message_id": message_id,
                    "event_id": message.event.id,
                }),
            });
            match self.committer.commit(commit).await {
                Ok(CommitOutcome::Committed { .. }) => return Ok(receipt),
                Ok(CommitOutcome::Duplicate { receipt }) => return stored_receipt(receipt),
                // Another message of the same case was committed first: read it and try again.
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(ReceiveError::Busy)
    }
}

fn sender_label(message: &CanonicalMessage) -> String {
    match &message.event.source.sender {
        Some(party) => party.to_string(),
        None => message.event.source.format.clone(),
    }
}

fn stored_receipt(value: serde_json::Value) -> Result<Receipt, ReceiveError> {
    serde_json::from_value(value).map_err(|e| StoreError::decode("receipt", e).into())
}
