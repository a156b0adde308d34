//! The coordination case (samordningsärende) and the state machine that says which event is
//! valid when.
//!
//! A case holds the person, the parties involved and an append-only list of events. `apply`
//! checks an event against the case's state and either appends it or returns a typed
//! `TransitionError`; it never panics, so out-of-order and duplicate input is answered, not
//! crashed on.
//!
//! Past 700 lines by design: `check` and `apply` are the state machine's two tables, one
//! exhaustive match each, read side by side.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event::{Event, EventId, EventKind};
use super::identifiers::{HsaId, Kommunkod, PersonId};
use super::party::Party;

/// Identifies a coordination case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(pub Uuid);

impl CaseId {
    pub fn new() -> Self {
        CaseId(Uuid::now_v7())
    }

    pub fn parse(s: &str) -> Result<Self, uuid::Error> {
        Uuid::parse_str(s).map(CaseId)
    }
}

impl Default for CaseId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a case stands in the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No process event yet (consents may already be recorded).
    New,
    /// Admitted to inpatient care; not yet ready for discharge.
    Inpatient,
    /// The physician has decided the person is ready for discharge.
    ReadyForDischarge,
    /// Discharged from inpatient care; SIP follow-up may continue.
    Discharged,
    /// A coordination case outside inpatient care (SIP, SPLPTLRV, LVM report).
    Outpatient,
    /// Cancelled; only deviations may still be raised and answered.
    Cancelled,
}

impl Phase {
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::New => "new",
            Phase::Inpatient => "inpatient",
            Phase::ReadyForDischarge => "ready_for_discharge",
            Phase::Discharged => "discharged",
            Phase::Outpatient => "outpatient",
            Phase::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The phases of a case in the process: after its first step, before it ends.
const IN_PROCESS: &[Phase] = &[
    Phase::Inpatient,
    Phase::ReadyForDischarge,
    Phase::Discharged,
    Phase::Outpatient,
];

/// Why an event cannot be applied to a case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("event {event_id} is already part of the case")]
    DuplicateEvent { event_id: EventId },
    #[error("{event} is not valid while the case is {phase}")]
    InvalidInPhase { event: &'static str, phase: Phase },
    #[error("the event concerns another person than the case")]
    PersonMismatch,
    #[error("{event} is dated before the admission it belongs to")]
    BeforeAdmission { event: &'static str },
    #[error("invitation {invitation_id:?} was already sent in this case")]
    DuplicateInvitation { invitation_id: String },
    #[error("no invitation {invitation_id:?} exists in this case")]
    UnknownInvitation { invitation_id: String },
    #[error(
        "{responder} was not invited by invitation {invitation_id:?}; an invitation is answered by a party it invites (a municipality for its units, a region's unit for the region)"
    )]
    NotInvited {
        invitation_id: String,
        responder: Party,
    },
    #[error("consent {consent_id:?} was already recorded in this case")]
    DuplicateConsent { consent_id: String },
    #[error("no consent {consent_id:?} exists in this case")]
    UnknownConsent { consent_id: String },
    #[error("consent {consent_id:?} is already withdrawn")]
    ConsentAlreadyWithdrawn { consent_id: String },
    #[error("deviation {deviation_id:?} was already raised in this case")]
    DuplicateDeviation { deviation_id: String },
    #[error("no deviation {deviation_id:?} exists in this case")]
    UnknownDeviation { deviation_id: String },
    #[error("deviation {deviation_id:?} is already answered")]
    DeviationAlreadyAnswered { deviation_id: String },
    #[error("deviation {deviation_id:?} is addressed to {addressed_to}, not to {by}")]
    NotAddressedTo {
        deviation_id: String,
        addressed_to: Party,
        by: Party,
    },
    #[error("the meeting of invitation {invitation_id:?} is already recorded as held")]
    MeetingAlreadyHeld { invitation_id: String },
    /// A coordinated plan lacks what Lag (2017:612) and 4 kap. 7 § SoL / 16 kap. 4 § HSL require.
    #[error("the plan is incomplete: {missing}")]
    IncompletePlan { missing: String },
    #[error("LVM decision {decision_id:?} was already received in this case")]
    DuplicateLvmDecision { decision_id: String },
    #[error("no LVM decision {decision_id:?} holds the person in this case")]
    UnknownLvmDecision { decision_id: String },
    #[error("no message {message_id:?} is part of this case")]
    UnknownMessage { message_id: String },
    #[error("decision {decision_id:?} on services was already received in this case")]
    DuplicateServiceDecision { decision_id: String },
    #[error("certificate request {request_id:?} was already made in this case")]
    DuplicateCertificateRequest { request_id: String },
    #[error(
        "no certificate request {request_id:?} of {to} to {by} exists in this case, or its certificate was already issued"
    )]
    UnknownCertificateRequest {
        request_id: String,
        by: Party,
        to: Party,
    },
    #[error(
        "{by} gives feedback to {reporter}, but this case holds no report of concern for a child by {reporter} to that municipality"
    )]
    NoChildConcernReport { by: Party, reporter: Party },
}

/// What the case knows about one consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentState {
    pub scope: super::event::ConsentScope,
    pub recorded_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_at: Option<Timestamp>,
}

/// What the case knows about one deviation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviationState {
    pub addressed_to: Party,
    pub raised_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<Timestamp>,
    /// Reminders sent while it was unanswered.
    #[serde(default)]
    pub reminders: u32,
}

/// The state derived from a case's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseState {
    pub phase: Phase,
    pub admitted_at: Option<Timestamp>,
    pub ready_for_discharge_at: Option<Timestamp>,
    pub discharged_at: Option<Timestamp>,
    pub protected_identity: bool,
    pub invitations: BTreeSet<String>,
    pub consents: BTreeMap<String, ConsentState>,
    pub deviations: BTreeMap<String, DeviationState>,
    /// Invitations whose meeting is recorded as held.
    #[serde(default)]
    pub meetings_held: BTreeSet<String>,
    /// LVM decisions that hold the person in hospital until transport is arranged.
    #[serde(default)]
    pub lvm_holds: BTreeSet<String>,
}

impl Default for CaseState {
    fn default() -> Self {
        CaseState {
            phase: Phase::New,
            admitted_at: None,
            ready_for_discharge_at: None,
            discharged_at: None,
            protected_identity: false,
            invitations: BTreeSet::new(),
            consents: BTreeMap::new(),
            deviations: BTreeMap::new(),
            meetings_held: BTreeSet::new(),
            lvm_holds: BTreeSet::new(),
        }
    }
}

/// A coordination case: the person, the parties and the append-only event list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinationCase {
    id: CaseId,
    person: PersonId,
    region_units: BTreeSet<HsaId>,
    municipalities: BTreeSet<Kommunkod>,
    state: CaseState,
    events: Vec<Event>,
}

impl CoordinationCase {
    /// A new case with no events.
    pub fn new(id: CaseId, person: PersonId) -> Self {
        CoordinationCase {
            id,
            person,
            region_units: BTreeSet::new(),
            municipalities: BTreeSet::new(),
            state: CaseState::default(),
            events: Vec::new(),
        }
    }

    /// Rebuilds a case from its stored events, checking every transition again.
    pub fn replay(
        id: CaseId,
        person: PersonId,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<Self, TransitionError> {
        let mut case = CoordinationCase::new(id, person);
        for event in events {
            case.apply(event)?;
        }
        Ok(case)
    }

    pub fn id(&self) -> CaseId {
        self.id
    }

    pub fn person(&self) -> &PersonId {
        &self.person
    }

    pub fn state(&self) -> &CaseState {
        &self.state
    }

    pub fn phase(&self) -> Phase {
        self.state.phase
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The number of events, which is also the sequence number of the last one.
    pub fn version(&self) -> u64 {
        self.events.len() as u64
    }

    pub fn region_units(&self) -> &BTreeSet<HsaId> {
        &self.region_units
    }

    pub fn municipalities(&self) -> &BTreeSet<Kommunkod> {
        &self.municipalities
    }

    /// The LVM decision `decision_id` of the case, as the event that recorded it.
    pub fn lvm_decision(&self, decision_id: &str) -> Option<&Event> {
        self.events.iter().find(
            |e| matches!(&e.kind, EventKind::LvmDecision { decision_id: d, .. } if d == decision_id),
        )
    }

    /// Whether `party` takes part in the case.
    pub fn involves(&self, party: &Party) -> bool {
        match party {
            Party::RegionUnit { hsa_id } => self.region_units.contains(hsa_id),
            Party::Municipality { kommunkod, .. } => self.municipalities.contains(kommunkod),
        }
    }

    /// Checks whether `event` may be appended now, without changing the case.
    ///
    /// Long by design: one exhaustive match is the state machine's table, every kind's rule in
    /// one place, so a new kind does not compile until it has one. Rules longer than a few
    /// lines are methods of their own (`check_answer`, `check_answered_by`, `check_plan`).
    pub fn check(&self, event: &Event) -> Result<(), TransitionError> {
        use EventKind as K;
        use Phase as P;

        if self.events.iter().any(|e| e.id == event.id) {
            return Err(TransitionError::DuplicateEvent { event_id: event.id });
        }
        let phase = self.state.phase;
        let name = event.kind.name();
        let invalid = || TransitionError::InvalidInPhase { event: name, phase };
        let allowed = |phases: &[Phase]| {
            if phases.contains(&phase) {
                Ok(())
            } else {
                Err(invalid())
            }
        };
        let not_before_admission = |at: &Timestamp| match self.state.admitted_at {
            Some(admitted) if *at < admitted => {
                Err(TransitionError::BeforeAdmission { event: name })
            }
            _ => Ok(()),
        };

        match &event.kind {
            K::AdmissionNotice { person, .. } => {
                allowed(&[P::New])?;
                if person.id != self.person {
                    return Err(TransitionError::PersonMismatch);
                }
                Ok(())
            }
            K::EstimatedDischargeChanged { .. } => allowed(&[P::Inpatient, P::ReadyForDischarge]),
            K::CareContactAppointed { .. } => allowed(IN_PROCESS),
            K::PlanningStarted { .. } => {
                allowed(&[P::Inpatient, P::ReadyForDischarge, P::Outpatient])
            }
            K::ReadyForDischarge { decided_at, .. } => {
                allowed(&[P::Inpatient])?;
                not_before_admission(decided_at)
            }
            K::ReadyForDischargeRevoked { .. } => allowed(&[P::ReadyForDischarge]),
            K::SipInvitation { invitation_id, .. } => {
                allowed(&[
                    P::New,
                    P::Inpatient,
                    P::ReadyForDischarge,
                    P::Discharged,
                    P::Outpatient,
                ])?;
                if self.state.invitations.contains(invitation_id) {
                    return Err(TransitionError::DuplicateInvitation {
                        invitation_id: invitation_id.clone(),
                    });
                }
                Ok(())
            }
            K::SipResponse {
                invitation_id,
                responder,
                ..
            } => {
                allowed(IN_PROCESS)?;
                self.check_answer(invitation_id, responder)
            }
            K::SipPlan { activities, .. } => {
                allowed(IN_PROCESS)?;
                check_plan(activities)
            }
            K::InformationAtDischarge { .. } => {
                allowed(&[P::Inpatient, P::ReadyForDischarge, P::Discharged])
            }
            K::Discharged { discharged_at } => {
                allowed(&[P::Inpatient, P::ReadyForDischarge])?;
                not_before_admission(discharged_at)
            }
            K::CaseCancelled { .. } => allowed(IN_PROCESS),
            K::ConsentRecorded { consent_id, .. } => {
                if phase == P::Cancelled {
                    return Err(invalid());
                }
                if self.state.consents.contains_key(consent_id) {
                    return Err(TransitionError::DuplicateConsent {
                        consent_id: consent_id.clone(),
                    });
                }
                Ok(())
            }
            K::ConsentWithdrawn { consent_id } => match self.state.consents.get(consent_id) {
                None => Err(TransitionError::UnknownConsent {
                    consent_id: consent_id.clone(),
                }),
                Some(c) if c.withdrawn_at.is_some() => {
                    Err(TransitionError::ConsentAlreadyWithdrawn {
                        consent_id: consent_id.clone(),
                    })
                }
                Some(_) => Ok(()),
            },
            K::LvmDecision { decision_id, .. } => {
                // The hold applies to a person at a hospital unit for care, admitted or not
                // (the emergency department, outpatient psychiatry).
                allowed(&[P::Outpatient, P::Inpatient, P::ReadyForDischarge])?;
                if self.lvm_decision(decision_id).is_some() {
                    return Err(TransitionError::DuplicateLvmDecision {
                        decision_id: decision_id.clone(),
                    });
                }
                Ok(())
            }
            K::LvmTransportArranged { decision_id, .. } => {
                if !self.state.lvm_holds.contains(decision_id) {
                    return Err(TransitionError::UnknownLvmDecision {
                        decision_id: decision_id.clone(),
                    });
                }
                Ok(())
            }
            K::LvmCertificateRequested { request_id, by, .. } => {
                if phase == P::Cancelled || !matches!(by, Party::Municipality { .. }) {
                    return Err(invalid());
                }
                self.check_certificate_request(request_id)
            }
            K::LvmCertificateIssued {
                request_id, by, to, ..
            } => self.check_certificate(request_id, by, to),
            K::ChildConcernFeedback { by, reporter, .. } => self.check_feedback(by, reporter),
            K::LvmReport { .. }
            | K::ChildConcernReport { .. }
            | K::Placement { .. }
            | K::CostSplitAgreed { .. } => {
                if phase == P::Cancelled {
                    return Err(invalid());
                }
                Ok(())
            }
            K::DeviationRaised { deviation_id, .. } => {
                if phase == P::New {
                    return Err(invalid());
                }
                if self.state.deviations.contains_key(deviation_id) {
                    return Err(TransitionError::DuplicateDeviation {
                        deviation_id: deviation_id.clone(),
                    });
                }
                Ok(())
            }
            K::DeviationAcknowledged { deviation_id, by }
            | K::DeviationAnswered {
                deviation_id,
                answered_by: by,
                ..
            } => self.check_answered_by(deviation_id, by),
            K::DeviationReminder { deviation_id, .. } => {
                self.open_deviation(deviation_id).map(|_| ())
            }
            K::SipMeetingHeld {
                invitation_id,
                held_at,
                ..
            } => {
                allowed(IN_PROCESS)?;
                if !self.state.invitations.contains(invitation_id) {
                    return Err(TransitionError::UnknownInvitation {
                        invitation_id: invitation_id.clone(),
                    });
                }
                if self.state.meetings_held.contains(invitation_id) {
                    return Err(TransitionError::MeetingAlreadyHeld {
                        invitation_id: invitation_id.clone(),
                    });
                }
                not_before_admission(held_at)
            }
            K::ServicesDecided { decision_id, .. } => {
                allowed(IN_PROCESS)?;
                if self.events.iter().any(|e| {
                    matches!(&e.kind, K::ServicesDecided { decision_id: d, .. } if d == decision_id)
                }) {
                    return Err(TransitionError::DuplicateServiceDecision {
                        decision_id: decision_id.clone(),
                    });
                }
                Ok(())
            }
            K::ReadyToReceive { .. } => allowed(&[P::Inpatient, P::ReadyForDischarge]),
            K::MessageAcknowledged { message_id, .. } => {
                if !self
                    .events
                    .iter()
                    .any(|e| &e.source.message_id == message_id)
                {
                    return Err(TransitionError::UnknownMessage {
                        message_id: message_id.clone(),
                    });
                }
                Ok(())
            }
            K::DeadlineMissed { .. } => {
                if matches!(phase, P::New | P::Cancelled) {
                    return Err(invalid());
                }
                Ok(())
            }
        }
    }

    /// Whether `responder` may answer the invitation `invitation_id`: it exists, and invites
    /// the responder (a municipality answers for its units).
    fn check_answer(&self, invitation_id: &str, responder: &Party) -> Result<(), TransitionError> {
        use EventKind as K;
        if !self.state.invitations.contains(invitation_id) {
            return Err(TransitionError::UnknownInvitation {
                invitation_id: invitation_id.to_owned(),
            });
        }
        let invited = self.events.iter().find_map(|e| match &e.kind {
            K::SipInvitation {
                invitation_id: id,
                invited,
                ..
            } if id == invitation_id => Some(invited),
            _ => None,
        });
        if let Some(invited) = invited
            && !invited.iter().any(|f| may_answer_for(responder, &f.party))
        {
            return Err(TransitionError::NotInvited {
                invitation_id: invitation_id.to_owned(),
                responder: responder.clone(),
            });
        }
        Ok(())
    }

    /// Whether `by` may acknowledge or answer the deviation `deviation_id`: it is open, and
    /// addressed to `by` (a municipality answers for its units).
    fn check_answered_by(&self, deviation_id: &str, by: &Party) -> Result<(), TransitionError> {
        let deviation = self.open_deviation(deviation_id)?;
        // The addressed party answers; a municipality answers for its units.
        if !answers_for(by, &deviation.addressed_to) {
            return Err(TransitionError::NotAddressedTo {
                deviation_id: deviation_id.to_owned(),
                addressed_to: deviation.addressed_to.clone(),
                by: by.clone(),
            });
        }
        Ok(())
    }

    /// The deviation, if it exists and is not answered yet.
    fn open_deviation(&self, deviation_id: &str) -> Result<&DeviationState, TransitionError> {
        match self.state.deviations.get(deviation_id) {
            None => Err(TransitionError::UnknownDeviation {
                deviation_id: deviation_id.to_owned(),
            }),
            Some(d) if d.answered_at.is_some() => Err(TransitionError::DeviationAlreadyAnswered {
                deviation_id: deviation_id.to_owned(),
            }),
            Some(d) => Ok(d),
        }
    }

    /// A request for a certificate under 9 § LVM is made once per id.
    fn check_certificate_request(&self, request_id: &str) -> Result<(), TransitionError> {
        let asked = self.events.iter().any(|e| {
            matches!(&e.kind, EventKind::LvmCertificateRequested { request_id: r, .. } if r == request_id)
        });
        if asked {
            return Err(TransitionError::DuplicateCertificateRequest {
                request_id: request_id.to_owned(),
            });
        }
        Ok(())
    }

    /// A certificate answers a request of the case once: from the unit asked (or a unit of its
    /// care provider, for a request to the region as a whole), to the municipality that asked.
    fn check_certificate(
        &self,
        request_id: &str,
        by: &Party,
        to: &Party,
    ) -> Result<(), TransitionError> {
        let asked = self.events.iter().any(|e| {
            matches!(&e.kind, EventKind::LvmCertificateRequested { request_id: r, by: from, to: asked, .. }
                if r == request_id && to.kommunkod().is_some() && from.kommunkod() == to.kommunkod()
                    && (asked == by || may_answer_for(by, asked)))
        });
        let issued = self.events.iter().any(|e| {
            matches!(&e.kind, EventKind::LvmCertificateIssued { request_id: r, .. } if r == request_id)
        });
        if !asked || issued {
            return Err(TransitionError::UnknownCertificateRequest {
                request_id: request_id.to_owned(),
                by: by.clone(),
                to: to.clone(),
            });
        }
        Ok(())
    }

    /// Feedback on a report of concern for a child answers a report of the case by that
    /// reporter to the feedback's municipality.
    fn check_feedback(&self, by: &Party, reporter: &Party) -> Result<(), TransitionError> {
        let reported = self.events.iter().any(|e| {
            matches!(&e.kind, EventKind::ChildConcernReport { reporter: r, to_municipality, .. }
                if r == reporter && by.kommunkod() == Some(*to_municipality))
        });
        if !reported {
            return Err(TransitionError::NoChildConcernReport {
                by: by.clone(),
                reporter: reporter.clone(),
            });
        }
        Ok(())
    }

    /// Checks and appends `event`; returns its sequence number (1-based).
    ///
    /// Long by design, as `check`: one exhaustive match of what each kind changes.
    pub fn apply(&mut self, event: Event) -> Result<u64, TransitionError> {
        use EventKind as K;

        self.check(&event)?;
        let state = &mut self.state;
        match &event.kind {
            K::AdmissionNotice {
                person,
                ward,
                admitted_at,
                recipients,
                ..
            } => {
                state.phase = Phase::Inpatient;
                state.admitted_at = Some(*admitted_at);
                state.protected_identity = person.protected_identity;
                self.region_units.insert(ward.clone());
                for party in recipients {
                    add_party(&mut self.region_units, &mut self.municipalities, party);
                }
            }
            K::CareContactAppointed { unit, .. } => {
                self.region_units.insert(unit.clone());
            }
            K::PlanningStarted { by } => {
                add_party(&mut self.region_units, &mut self.municipalities, by)
            }
            K::ReadyForDischarge { decided_at, .. } => {
                state.phase = Phase::ReadyForDischarge;
                state.ready_for_discharge_at = Some(*decided_at);
            }
            K::ReadyForDischargeRevoked { .. } => {
                state.phase = Phase::Inpatient;
                state.ready_for_discharge_at = None;
            }
            K::SipInvitation {
                invitation_id,
                from,
                invited,
                ..
            } => {
                if state.phase == Phase::New {
                    state.phase = Phase::Outpatient;
                }
                state.invitations.insert(invitation_id.clone());
                add_party(&mut self.region_units, &mut self.municipalities, from);
                for function in invited {
                    add_party(
                        &mut self.region_units,
                        &mut self.municipalities,
                        &function.party,
                    );
                }
            }
            K::SipResponse { responder, .. } => {
                add_party(&mut self.region_units, &mut self.municipalities, responder)
            }
            K::Discharged { discharged_at } => {
                state.phase = Phase::Discharged;
                state.discharged_at = Some(*discharged_at);
            }
            K::CaseCancelled { .. } => state.phase = Phase::Cancelled,
            K::ConsentRecorded {
                consent_id, scope, ..
            } => {
                state.consents.insert(
                    consent_id.clone(),
                    ConsentState {
                        scope: *scope,
                        recorded_at: event.occurred_at,
                        withdrawn_at: None,
                    },
                );
            }
            K::ConsentWithdrawn { consent_id } => {
                if let Some(consent) = state.consents.get_mut(consent_id) {
                    consent.withdrawn_at = Some(event.occurred_at);
                }
            }
            K::LvmReport {
                physician,
                to_municipality,
                ..
            } => {
                if state.phase == Phase::New {
                    state.phase = Phase::Outpatient;
                }
                self.region_units.insert(physician.clone());
                // The reporting unit takes part too: the physician's HSA-id names a person,
                // whom the directory does not know as of any region.
                if let Some(sender) = &event.source.sender {
                    add_party(&mut self.region_units, &mut self.municipalities, sender);
                }
                self.municipalities.insert(*to_municipality);
            }
            K::ChildConcernReport {
                reporter,
                to_municipality,
                ..
            } => {
                if state.phase == Phase::New {
                    state.phase = Phase::Outpatient;
                }
                add_party(&mut self.region_units, &mut self.municipalities, reporter);
                self.municipalities.insert(*to_municipality);
            }
            K::LvmDecision {
                decision_id, by, ..
            } => {
                state.lvm_holds.insert(decision_id.clone());
                add_party(&mut self.region_units, &mut self.municipalities, by);
            }
            K::LvmTransportArranged { decision_id, .. } => {
                state.lvm_holds.remove(decision_id);
            }
            K::Placement { by, .. } => {
                if state.phase == Phase::New {
                    state.phase = Phase::Outpatient;
                }
                add_party(&mut self.region_units, &mut self.municipalities, by);
            }
            K::DeviationRaised {
                deviation_id,
                addressed_to,
                ..
            } => {
                state.deviations.insert(
                    deviation_id.clone(),
                    DeviationState {
                        addressed_to: addressed_to.clone(),
                        raised_at: event.occurred_at,
                        acknowledged_at: None,
                        answered_at: None,
                        reminders: 0,
                    },
                );
            }
            K::DeviationAcknowledged { deviation_id, .. } => {
                if let Some(deviation) = state.deviations.get_mut(deviation_id) {
                    deviation.acknowledged_at.get_or_insert(event.occurred_at);
                }
            }
            K::DeviationAnswered { deviation_id, .. } => {
                if let Some(deviation) = state.deviations.get_mut(deviation_id) {
                    // An answer acknowledges too.
                    deviation.acknowledged_at.get_or_insert(event.occurred_at);
                    deviation.answered_at = Some(event.occurred_at);
                }
            }
            K::DeviationReminder {
                deviation_id,
                reminder,
                ..
            } => {
                if let Some(deviation) = state.deviations.get_mut(deviation_id) {
                    deviation.reminders = deviation.reminders.max(*reminder);
                }
            }
            K::SipMeetingHeld { invitation_id, .. } => {
                state.meetings_held.insert(invitation_id.clone());
            }
            K::ServicesDecided { by, .. }
            | K::ReadyToReceive { by, .. }
            | K::MessageAcknowledged { by, .. } => {
                add_party(&mut self.region_units, &mut self.municipalities, by)
            }
            K::EstimatedDischargeChanged { .. }
            | K::SipPlan { .. }
            | K::InformationAtDischarge { .. }
            | K::CostSplitAgreed { .. }
            | K::ChildConcernFeedback { .. }
            | K::DeadlineMissed { .. } => {}
            K::LvmCertificateIssued { by, .. } => {
                add_party(&mut self.region_units, &mut self.municipalities, by)
            }
            K::LvmCertificateRequested { by, to, .. } => {
                if state.phase == Phase::New {
                    state.phase = Phase::Outpatient;
                }
                add_party(&mut self.region_units, &mut self.municipalities, by);
                add_party(&mut self.region_units, &mut self.municipalities, to);
            }
        }
        self.events.push(event);
        Ok(self.version())
    }
}

/// Whether `by` may act for `party`: the party itself, or its municipality as a whole.
/// Whether `responder` may answer an invitation of `invited`: the same party, a unit of the same
/// municipality, or a unit of the same care provider (an invitation of "the region" is answered
/// by the unit that will come).
fn may_answer_for(responder: &Party, invited: &Party) -> bool {
    match (responder, invited) {
        (Party::Municipality { kommunkod: a, .. }, Party::Municipality { kommunkod: b, .. }) => {
            a == b
        }
        (Party::RegionUnit { hsa_id: a }, Party::RegionUnit { hsa_id: b }) => {
            a.organisation_number() == b.organisation_number()
        }
        _ => false,
    }
}

pub fn answers_for(by: &Party, party: &Party) -> bool {
    by == party
        || matches!(
            (by, party),
            (
                Party::Municipality { kommunkod: k, unit: None },
                Party::Municipality { kommunkod, .. },
            ) if k == kommunkod
        )
}

/// Whether either party answers for the other: the same party, or a municipality and one of
/// its units (an attendee, a sender and whom they stand for).
pub fn either_answers_for(a: &Party, b: &Party) -> bool {
    answers_for(a, b) || answers_for(b, a)
}

fn add_party(units: &mut BTreeSet<HsaId>, municipalities: &mut BTreeSet<Kommunkod>, party: &Party) {
    match party {
        Party::RegionUnit { hsa_id } => {
            units.insert(hsa_id.clone());
        }
        Party::Municipality { kommunkod, .. } => {
            municipalities.insert(*kommunkod);
        }
    }
}
/// Whether a plan has what the law requires of it: the services needed, which principal
/// answers for which, and what each activity is.
fn check_plan(activities: &[crate::domain::event::PlanActivity]) -> Result<(), TransitionError> {
    // The law's four parts: the services needed, which principal answers for
    // which, actions by others, and the principal with overall responsibility
    // (the last is required by every format; actions by others may be none).
    let mut missing = Vec::new();
    if activities.is_empty() {
        missing.push("the services needed (the plan has no activity)");
    } else if activities.iter().all(|a| a.responsible.is_none()) {
        missing.push(
        "which principal answers for which service (no activity names the region or the municipality as responsible)",
    );
    }
    if activities
        .iter()
        .any(|a| a.description.expose().trim().is_empty())
    {
        missing.push("what an activity is (an activity has no description)");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(TransitionError::IncompletePlan {
            missing: missing.join("; "),
        })
    }
}
