//! Receiving one message: decode it, place it in its case, and commit event, audit record and
//! received message id together. A message id seen before is answered with its first receipt.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::changes::AuditEntry;
use crate::clock::Clock;
use crate::config::Directory;
use crate::decide::parties::participates;
use crate::domain::case::{CaseId, CoordinationCase, TransitionError};
use crate::domain::event::{EventId, EventKind};
use crate::domain::identifiers::HsaId;
use crate::domain::party::{Organisation, Party};
use crate::formats::Mappings;
use crate::formats::canonical::CanonicalMessage;
use crate::formats::cosmic_link::{self, CosmicLinkError};
use crate::formats::municipal::{self, Dialect, MunicipalError};
use crate::store::{GroupCommitter, Store, StoreError};

use super::received::Received;
use super::record::Steps;

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
    /// Who the step goes to where the gateway chose (a municipality's invitation to the
    /// region goes to the region units involved with the person).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routed_to: Vec<Party>,
    /// Events the gateway added after this one: deadlines the message shows missed and the
    /// deviations they raise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_on: Vec<EventId>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Recipients the disclosure decision withheld this step from (consent or legal basis
    /// missing), with the reason; the step is recorded all the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<Withheld>,
}

/// A recipient a step was not disclosed to, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withheld {
    pub recipient: Party,
    pub reason: String,
}

/// On whose behalf a message is received.
#[derive(Debug, Clone, Copy)]
pub enum Acting<'a> {
    /// A client of this organisation: it may send only as itself, and only into cases it
    /// takes part in (others answer as unknown).
    Client(&'a Organisation),
    /// A shared system's integration run by this organisation (Cosmic Link): it posts steps of
    /// any organisation of the directory, but only into cases its organisation takes part in.
    Relay(&'a Organisation),
    /// The gateway's operator (the command line, replays of recorded traffic): any sender.
    Operator,
}

/// Why a message was not accepted. Nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The message does not follow the contract (400).
    #[error("{0}")]
    Invalid(#[from] CosmicLinkError),
    /// A canonical message that is not valid JSON or does not have the canonical shape (400).
    #[error("the canonical message is not valid: {0}")]
    InvalidCanonical(#[from] crate::formats::strict_json::JsonError),
    /// A FHIR resource that does not follow the FHIR contract (400).
    #[error("{0}")]
    InvalidFhir(#[from] crate::formats::fhir::FhirReadError),
    /// A municipal document that does not follow its dialect (400).
    #[error("{0}")]
    InvalidMunicipal(#[from] MunicipalError),
    /// A well-formed message the gateway does not take from this sender (422): a message kind
    /// that only goes to the municipality, or a sender that is not a known municipality.
    #[error("{0}")]
    NotAccepted(String),
    /// The message concerns another person than its case (422).
    #[error("samordningsärende {case} already belongs to another person")]
    PersonMismatch { case: String },
    /// The step is not valid in the case's current state (409).
    #[error("{0}")]
    Transition(#[from] TransitionError),
    /// A message without a whole case reference whose case is not found, or not one (409).
    #[error("{0}")]
    Unplaced(String),
    /// The client sends as another organisation than its own (403).
    #[error("{0}")]
    Forbidden(String),
    /// No case has this id that the sender takes part in (404). The same answer whether the
    /// case does not exist or belongs to others.
    #[error(
        "no case {case_id} that this client takes part in; a case is opened by its first step (an admission notice, an invitation, a report)"
    )]
    UnknownCase { case_id: CaseId },
    /// What the message records is stored already under another message: its sender used the
    /// message id before, for another message (409).
    #[error(
        "message {message_id} records a step that is already stored under another message; was its message id used before?"
    )]
    AlreadyRecorded { message_id: String },
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
    pub directory: Arc<Directory>,
    pub subscriptions: crate::delivery::Live,
    /// Notified when a commit wrote outbox rows (the delivery workers wait on it).
    pub outbox_ready: Arc<tokio::sync::Notify>,
    /// Writes accepted messages down as a scenario (`recording.dir`), when set.
    pub recorder: Option<Arc<crate::replay::Recorder>>,
    pub clock: Clock,
    /// Every case's statistics facts, kept in memory for `/stats` and the console's charts.
    pub statistics: Arc<super::projection::StatsProjection>,
}

/// A received XML document as UTF-8 text declaring UTF-8, as it was read (`transport`: the
/// encoding it was read in when it says none): a recording keeps it so, whatever it came in.
fn xml_text(bytes: &[u8], transport: Option<&str>) -> String {
    crate::formats::encoding::utf8_document(bytes, transport)
        .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned())
}

/// A received JSON document as text (JSON is UTF-8; it was read as such).
fn json_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// How far ahead of the gateway's clock a sender's clock may be.
const CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

impl Pipeline {
    /// Receives one Cosmic Link message.
    pub async fn receive_cosmic_link(
        &self,
        bytes: &[u8],
        acting: Acting<'_>,
    ) -> Result<Receipt, ReceiveError> {
        self.receive_cosmic_link_sent(bytes, None, acting).await
    }

    /// Receives one Cosmic Link message that came labelled with an encoding (an HTTP
    /// `charset`), which counts when the document does not say its own.
    pub async fn receive_cosmic_link_sent(
        &self,
        bytes: &[u8],
        charset: Option<&str>,
        acting: Acting<'_>,
    ) -> Result<Receipt, ReceiveError> {
        let codes = &self.mappings.cosmic_link;
        let decoded = cosmic_link::decode_sent(bytes, charset, codes, self.clock.today())?;
        let source = format!("{}:{}", cosmic_link::FORMAT, decoded.message.case.issuer);
        let pending = self.pending(&decoded.message);
        let receipt = self
            .receive(source, decoded.message, decoded.warnings, acting)
            .await?;
        self.record(
            cosmic_link::FORMAT,
            || xml_text(bytes, charset),
            pending,
            &receipt,
        );
        Ok(receipt)
    }

    /// What a recording must replace in `message`, when the gateway records.
    fn pending(&self, message: &CanonicalMessage) -> Option<crate::replay::Pending> {
        self.recorder
            .as_ref()
            .map(|_| crate::replay::Recorder::prepare(message))
    }

    /// Writes an accepted message down, when the gateway records; a failure is logged (without
    /// the message) and does not undo the message.
    fn record(
        &self,
        format: &str,
        document: impl FnOnce() -> String,
        pending: Option<crate::replay::Pending>,
        receipt: &Receipt,
    ) {
        if let (Some(recorder), Some(pending)) = (&self.recorder, pending)
            && let Err(error) = recorder.record(
                format,
                &document(),
                &pending,
                &receipt.event_id.to_string(),
                self.clock.now(),
            )
        {
            tracing::error!(%error, event = %receipt.event_id, "the message could not be recorded");
        }
    }

    /// Receives one message of a municipal case system in `dialect`. Only the kinds the dialect
    /// marks inbound are accepted, and only from a municipality in the organisation directory.
    pub async fn receive_municipal(
        &self,
        dialect: &Dialect,
        bytes: &[u8],
        charset: Option<&str>,
        acting: Acting<'_>,
    ) -> Result<Receipt, ReceiveError> {
        let decoded = municipal::decode_sent(dialect, bytes, charset, self.clock.today())?;
        if !decoded.direction.inbound() {
            return Err(ReceiveError::NotAccepted(format!(
                "{} ({}) is a message to the municipality; the gateway does not accept it from a case system",
                decoded.kind,
                decoded.message.event.kind.name()
            )));
        }
        let kommunkod = match &decoded.message.event.source.sender {
            Some(Party::Municipality { kommunkod, .. }) => *kommunkod,
            Some(other) => {
                return Err(ReceiveError::NotAccepted(format!(
                    "the sender is {other}; a municipal case system sends as a municipality (its kommunkod)"
                )));
            }
            None => {
                return Err(ReceiveError::NotAccepted(
                    "the message names no sender; a municipal case system sends as a municipality (its kommunkod)"
                        .to_owned(),
                ));
            }
        };
        if !self
            .directory
            .municipalities
            .iter()
            .any(|m| m.kommunkod == kommunkod)
        {
            return Err(ReceiveError::NotAccepted(format!(
                "municipality {kommunkod} is not in the gateway's organisation directory"
            )));
        }
        let source = format!("{}:{kommunkod}", dialect.format);
        let message = self.place(decoded.message, acting).await?;
        let pending = self.pending(&message);
        let receipt = self
            .receive(source, message, decoded.warnings, acting)
            .await?;
        self.record(
            &format!("municipal:{}", dialect.name),
            || xml_text(bytes, municipal::read_encoding(dialect, bytes, charset)),
            pending,
            &receipt,
        );
        Ok(receipt)
    }

    /// Receives one canonical message (the gateway's own JSON form of a step).
    pub async fn receive_canonical(
        &self,
        bytes: &[u8],
        acting: Acting<'_>,
    ) -> Result<Receipt, ReceiveError> {
        let message = self
            .place(crate::formats::canonical::parse(bytes)?, acting)
            .await?;
        let source = format!("canonical:{}", message.case.issuer);
        let pending = self.pending(&message);
        let receipt = self.receive(source, message, Vec::new(), acting).await?;
        self.record("canonical", || json_text(bytes), pending, &receipt);
        Ok(receipt)
    }

    /// Receives a FHIR R4 resource a client sends: a Task reporting a step, a Task the gateway
    /// sent and its owner changed, or a Bundle (`mappings/fhir/README.md`).
    pub async fn receive_fhir(
        &self,
        bytes: &[u8],
        acting: Acting<'_>,
    ) -> Result<Receipt, ReceiveError> {
        let read = crate::formats::fhir::read(bytes, self.clock.today())?;
        let source = format!(
            "{}:{}",
            crate::formats::fhir::FORMAT,
            read.message.case.issuer
        );
        let pending = self.pending(&read.message);
        let receipt = self
            .receive(source, read.message, read.warnings, acting)
            .await?;
        self.record(
            crate::formats::fhir::FORMAT,
            || json_text(bytes),
            pending,
            &receipt,
        );
        Ok(receipt)
    }

    /// The organisation a message is sent by: its sender's, or (without one) the region whose
    /// numbering the case reference uses.
    pub fn sender_organisation(&self, message: &CanonicalMessage) -> Option<Organisation> {
        match &message.event.source.sender {
            Some(party) => self.directory.organisation_of(party),
            None => HsaId::parse(&message.case.issuer)
                .ok()
                .and_then(|h| self.directory.region_of(&h))
                .map(|r| Organisation::Region {
                    hsa_id: r.hsa_id.clone(),
                }),
        }
    }

    /// Refuses a client that sends as another organisation than its own.
    fn check_sender(
        &self,
        message: &CanonicalMessage,
        acting: Acting<'_>,
    ) -> Result<(), ReceiveError> {
        let organisation = match acting {
            Acting::Client(organisation) => organisation,
            Acting::Relay(_) => {
                return match self.sender_organisation(message) {
                    Some(_) => Ok(()),
                    None => Err(ReceiveError::Forbidden(
                        "this message's sender is not in the organisation directory".to_owned(),
                    )),
                };
            }
            Acting::Operator => return Ok(()),
        };
        match self.sender_organisation(message) {
            Some(sender) if &sender == organisation => Ok(()),
            Some(sender) => Err(ReceiveError::Forbidden(format!(
                "the client acts for {organisation}; this message is sent by {sender}"
            ))),
            None => Err(ReceiveError::Forbidden(format!(
                "the client acts for {organisation}; this message's sender is not in the organisation directory"
            ))),
        }
    }

    /// Refuses a reported deviation that names no sender, or names as its reporter another
    /// organisation than the one that sends it: who reported is who sent it.
    fn check_reporter(
        &self,
        message: &CanonicalMessage,
        acting: Acting<'_>,
    ) -> Result<(), ReceiveError> {
        let EventKind::DeviationRaised { raised_by, .. } = &message.event.kind else {
            return Ok(());
        };
        if matches!(acting, Acting::Operator) {
            return Ok(());
        }
        let Some(sender) = &message.event.source.sender else {
            return Err(ReceiveError::NotAccepted(
                "a deviation is reported by the unit that sends it; this message names no sender (only the gateway writes deviations without one)"
                    .to_owned(),
            ));
        };
        if let Some(reporter) = raised_by {
            let of = |p: &Party| self.directory.organisation_of(p);
            if of(reporter) != of(sender) {
                return Err(ReceiveError::Forbidden(format!(
                    "the deviation names {reporter} as its reporter, but {sender} sends it; a principal reports its own deviations"
                )));
            }
        }
        Ok(())
    }

    /// Refuses a consent withdrawal dated in the future. A withdrawal takes effect when the
    /// gateway receives it (the disclosure decision is made at that time); a sender that dated
    /// it ahead would otherwise choose when it stops disclosures.
    fn check_withdrawal_time(&self, message: &CanonicalMessage) -> Result<(), ReceiveError> {
        if !matches!(message.event.kind, EventKind::ConsentWithdrawn { .. }) {
            return Ok(());
        }
        let now = self.clock.now();
        let latest = now.checked_add(CLOCK_SKEW).unwrap_or(jiff::Timestamp::MAX);
        if message.event.occurred_at <= latest {
            return Ok(());
        }
        let format = message.event.source.format.as_str();
        let element = match format {
            cosmic_link::FORMAT => "Huvud/Skapad".to_owned(),
            _ => format
                .strip_prefix(municipal::FORMAT_PREFIX)
                .and_then(|name| self.mappings.municipal.get(name))
                .and_then(|d| {
                    d.xml_for("consent_withdrawn", "event.occurred_at")
                        .or_else(|| d.xml_for("consent_withdrawn", "sent_at"))
                })
                .unwrap_or_else(|| "event.occurred_at".to_owned()),
        };
        Err(ReceiveError::NotAccepted(format!(
            "{element}: the withdrawal is dated {}, after the gateway's time {now}; a withdrawal takes effect when it is received and cannot be dated ahead",
            message.event.occurred_at
        )))
    }

    /// The region units involved with the person in any of their cases.
    pub(super) async fn involved_region_units(
        &self,
        message: &CanonicalMessage,
        case: &CoordinationCase,
    ) -> Result<BTreeSet<crate::domain::identifiers::HsaId>, ReceiveError> {
        let mut units = case.region_units().clone();
        for other in self.store.cases_for_person(&message.person).await? {
            if other == case.id() {
                continue;
            }
            if let Some(stored) = self.store.load_case(other).await? {
                units.extend(stored.to_case()?.region_units().iter().cloned());
            }
        }
        Ok(units)
    }

    /// The way this pipeline records steps (`Steps::record_step`).
    pub fn steps(&self) -> Steps<'_> {
        Steps {
            store: &self.store,
            policies: &self.mappings.policies,
            committer: &self.committer,
            directory: &self.directory,
            subscriptions: &self.subscriptions,
            clock: &self.clock,
            outbox_ready: Some(&self.outbox_ready),
            statistics: Some(&self.statistics),
        }
    }

    async fn receive(
        &self,
        source: String,
        message: CanonicalMessage,
        warnings: Vec<String>,
        acting: Acting<'_>,
    ) -> Result<Receipt, ReceiveError> {
        self.check_sender(&message, acting)?;
        check_not_the_gateways(&message, acting)?;
        self.check_reporter(&message, acting)?;
        self.check_withdrawal_time(&message)?;
        // Whether this message says the person's identity is protected (any message may).
        let marks_protection = message.protected_identity
            || matches!(&message.event.kind, EventKind::AdmissionNotice { person, .. } if person.protected_identity);
        let mut received = Received {
            pipeline: self,
            source,
            message,
            warnings,
            acting,
            marks_protection,
            step_warnings: Vec::new(),
            receipt: None,
        };
        self.steps().record_step(&mut received).await
    }
}

impl Pipeline {
    /// Marks the person of `message` protected, with its audit record.
    pub(super) async fn protect(
        &self,
        message: &CanonicalMessage,
        case_id: CaseId,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let audit = AuditEntry {
            actor: sender_label(message),
            organisation: self.sender_organisation(message).map(|o| o.code()),
            action: "mark protected identity".to_owned(),
            person: Some(message.person.clone()),
            purpose: "skyddad identitet".to_owned(),
            legal_basis: None,
            details: serde_json::json!({
                "format": message.event.source.format,
                "message_id": message.event.source.message_id,
                "case_id": case_id,
            }),
        };
        self.store
            .protect_person(&message.person, &sender_label(message), now, &audit)
            .await?;
        Ok(())
    }
}

/// Refuses a message into a case it may not change: a case its client's organisation takes no
/// part in, a case a consent would open, a case of another person.
pub(super) fn check_case(
    message: &CanonicalMessage,
    acting: Acting<'_>,
    case: &CoordinationCase,
    version: u64,
    directory: &Directory,
) -> Result<(), ReceiveError> {
    let case_id = case.id();
    if let Acting::Client(organisation) | Acting::Relay(organisation) = acting
        && version > 0
        && !participates(case, organisation, directory)
    {
        return Err(ReceiveError::UnknownCase { case_id });
    }
    // A consent, objection or withdrawal is recorded by a principal that takes part in a case
    // of the person: it does not open a case of its own.
    if version == 0
        && !matches!(acting, Acting::Operator)
        && matches!(
            message.event.kind,
            EventKind::ConsentRecorded { .. } | EventKind::ConsentWithdrawn { .. }
        )
    {
        return Err(ReceiveError::UnknownCase { case_id });
    }
    if case.person() != &message.person {
        return Err(ReceiveError::PersonMismatch {
            case: message.case.value.clone(),
        });
    }
    Ok(())
}

/// Whom an invitation invites, as its sender named them.
pub(super) fn invited_as_sent(message: &CanonicalMessage) -> Vec<Party> {
    match &message.event.kind {
        EventKind::SipInvitation { invited, .. } => {
            let mut parties: Vec<Party> = invited.iter().map(|f| f.party.clone()).collect();
            parties.sort();
            parties.dedup();
            parties
        }
        _ => Vec::new(),
    }
}

/// Refuses, from any client, a step only the gateway records: a missed deadline, a reminder,
/// or a deviation with the gateway's evidence (a missed deadline, an absence, a late
/// delivery). Whom they blame is decided from what the gateway stored, never from a message;
/// a principal reports a deviation of its own as `reported`.
fn check_not_the_gateways(
    message: &CanonicalMessage,
    acting: Acting<'_>,
) -> Result<(), ReceiveError> {
    if matches!(acting, Acting::Operator) {
        return Ok(());
    }
    let kind = &message.event.kind;
    if kind.recorded_by_the_gateway() {
        let what = match kind {
            EventKind::DeviationRaised { cause, .. } => {
                format!("a deviation with cause {}", cause.as_str())
            }
            other => other.name().to_owned(),
        };
        return Err(ReceiveError::NotAccepted(format!(
            "{what} is recorded by the gateway itself, from what it has stored; no client sends it (a principal reports a deviation of its own with cause reported)"
        )));
    }
    Ok(())
}

pub(super) fn sender_label(message: &CanonicalMessage) -> String {
    match &message.event.source.sender {
        Some(party) => party.to_string(),
        None => message.event.source.format.clone(),
    }
}

pub(super) fn stored_receipt(value: serde_json::Value) -> Result<Receipt, ReceiveError> {
    serde_json::from_value(value).map_err(|e| StoreError::decode("receipt", e).into())
}
