//! The canonical coordination events: one closed enum with a variant per process step.
//!
//! Every inbound format (Cosmic Link, FHIR, municipal dialects) translates into these, and every
//! outbound format is rendered from them. The fields are those that Lag (2017:612) and the
//! county agreements require for each step.
//!
//! Past 700 lines by design: the closed enum and the types of its fields are the one contract
//! every format maps, kept in one place.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::consent::{InformationCategory, Provision};
use super::identifiers::{HsaId, Kommunkod, PersonId};
use super::party::{Party, Principal};
use super::sensitive::Sensitive;

/// Identifies one event; deterministic ids (derived from the source message) make a re-sent
/// message idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl EventId {
    pub fn new() -> Self {
        EventId(Uuid::now_v7())
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where an event came from: the format, the sender and the sender's message id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventSource {
    /// `cosmic-link`, `fhir`, `municipal:<dialect>`, `api` or `gateway` (events brygga raises).
    pub format: String,
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Party>,
    /// The sender's local codes where they differ from the code its dialect writes for the
    /// same value, by canonical field (`event.services.1.service_type` → `HT03`): written
    /// back to a dialect that knows the code, so a round trip keeps it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub local_codes: std::collections::BTreeMap<String, String>,
}

/// One event of a coordination case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    pub id: EventId,
    /// When it happened in the process (the physician's decision, the admission, …).
    #[schemars(with = "crate::domain::schema::DateTime")]
    pub occurred_at: Timestamp,
    pub source: EventSource,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// A person's name; personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PersonName {
    pub given: Sensitive<String>,
    pub family: Sensitive<String>,
}

/// A registered address (folkbokföringsadress); personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Address {
    pub street: Sensitive<String>,
    pub postal_code: Sensitive<String>,
    pub city: Sensitive<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality: Option<Kommunkod>,
}

/// The person the case is about, with the statutory minimum of the admission notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Person {
    pub id: PersonId,
    pub name: PersonName,
    /// Absent for a person with protected identity, whose address is never disclosed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_address: Option<Address>,
    /// Skyddad folkbokföring or sekretessmarkering.
    #[serde(default)]
    pub protected_identity: bool,
}

/// Which plan a coordination meeting produces (RIV-TA GetCarePlans plan types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlanType {
    /// Samordnad individuell plan.
    Sip,
    /// Samordnad plan vid utskrivning.
    Spu,
    /// Samordnad vårdplan for open compulsory psychiatric care (öppen LPT/LRV).
    Splptlrv,
}

/// A municipal service type (RIV-TA GetCarePlans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceType {
    /// Hemtjänst (home help).
    Htj,
    /// Insatser enligt LSS.
    Lss,
    /// Särskilt boende (special housing).
    Sabo,
    /// Hemsjukvård (municipal home health care).
    Hsjv,
    /// Boendestöd (housing support).
    Boendestod,
}

/// One activity of a plan: what is to be done and which principal answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanActivity {
    pub description: Sensitive<String>,
    /// The principal that answers for the activity; `None` for actions by others (next of kin,
    /// another authority), which the law requires the plan to name too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responsible: Option<Principal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performer: Option<Party>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<ServiceType>,
}

/// A function invited to a coordination meeting (e.g. "psykiatrisk öppenvård, kurator").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvitedFunction {
    pub party: Party,
    pub function: String,
}

/// Where the meeting takes place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MeetingPlace {
    Address { description: Sensitive<String> },
    Link { url: String },
}

/// A recipient's answer to an invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum SipAnswer {
    Accepted,
    Declined {
        reason: Sensitive<String>,
    },
    ProposedOtherTime {
        #[schemars(with = "crate::domain::schema::DateTime")]
        proposed_at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Sensitive<String>>,
    },
}

/// One participant's answer, in a response that answers per participant: who comes in which
/// function, who cannot, who proposes another time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ParticipantAnswer {
    /// The function the participant has (e.g. "biståndshandläggare", "distriktssköterska").
    pub function: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Sensitive<String>>,
    #[serde(flatten)]
    pub answer: SipAnswer,
}

/// The answer of a whole response from its participants' answers: accepted if anyone comes;
/// otherwise another time if anyone proposes one (the earliest); otherwise declined, with the
/// participants' reasons. `None` without participants.
pub fn overall_answer(participants: &[ParticipantAnswer]) -> Option<SipAnswer> {
    if participants.is_empty() {
        return None;
    }
    if participants
        .iter()
        .any(|p| matches!(p.answer, SipAnswer::Accepted))
    {
        return Some(SipAnswer::Accepted);
    }
    let earliest = participants
        .iter()
        .filter_map(|p| match &p.answer {
            SipAnswer::ProposedOtherTime { proposed_at, .. } => Some(*proposed_at),
            _ => None,
        })
        .min();
    if let Some(proposed_at) = earliest {
        return Some(SipAnswer::ProposedOtherTime {
            proposed_at,
            reason: None,
        });
    }
    let reasons: Vec<String> = participants
        .iter()
        .filter_map(|p| match &p.answer {
            SipAnswer::Declined { reason } => Some(format!("{}: {}", p.function, reason.expose())),
            _ => None,
        })
        .collect();
    Some(SipAnswer::Declined {
        reason: Sensitive::new(reasons.join("; ")),
    })
}

/// The functions an accepted response says will attend: its attending function and each
/// accepting participant's.
pub fn attending_functions<'a>(
    attending_function: &'a Option<String>,
    participants: &'a [ParticipantAnswer],
) -> Vec<&'a str> {
    attending_function
        .iter()
        .map(String::as_str)
        .chain(
            participants
                .iter()
                .filter(|p| matches!(p.answer, SipAnswer::Accepted))
                .map(|p| p.function.as_str()),
        )
        .collect()
}

/// What social services decided under LVM for a person in hospital.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LvmDecisionKind {
    /// Compulsory care (tvångsvård, 11 § LVM).
    Care,
    /// Immediate custody (omedelbart omhändertagande, 13 § LVM).
    ImmediateCustody,
}

/// What social services tell the reporter of a concern for a child (14 kap. 1 b § SoL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChildConcernOutcome {
    /// An investigation was opened.
    InvestigationOpened,
    /// No investigation will be opened.
    NoInvestigation,
    /// An investigation about the child is already under way.
    InvestigationOngoing,
}

impl ChildConcernOutcome {
    /// Every outcome.
    pub const ALL: &'static [ChildConcernOutcome] = &[
        ChildConcernOutcome::InvestigationOpened,
        ChildConcernOutcome::NoInvestigation,
        ChildConcernOutcome::InvestigationOngoing,
    ];

    /// The outcome's name, as in the JSON form.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChildConcernOutcome::InvestigationOpened => "investigation_opened",
            ChildConcernOutcome::NoInvestigation => "no_investigation",
            ChildConcernOutcome::InvestigationOngoing => "investigation_ongoing",
        }
    }
}

/// What a person reported under 6 § LVM misuses: the substances 4 § LVM names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LvmSubstance {
    Alcohol,
    /// Narcotics, prescription drugs classed as narcotics included.
    Narcotics,
    VolatileSolvents,
}

impl LvmSubstance {
    /// Every substance.
    pub const ALL: &'static [LvmSubstance] = &[
        LvmSubstance::Alcohol,
        LvmSubstance::Narcotics,
        LvmSubstance::VolatileSolvents,
    ];

    /// The substance's name, as in the JSON form.
    pub fn as_str(&self) -> &'static str {
        match self {
            LvmSubstance::Alcohol => "alcohol",
            LvmSubstance::Narcotics => "narcotics",
            LvmSubstance::VolatileSolvents => "volatile_solvents",
        }
    }
}

/// The grounds for compulsory care that 4 § LVM lists, as the reporting physician finds them
/// (any one suffices, with a need of care that cannot be met voluntarily).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LvmGround {
    /// 4 § 1: the misuse puts the person's physical or mental health in serious danger.
    HealthInDanger,
    /// 4 § 2: the person runs an obvious risk of ruining their life.
    RiskOfRuiningLife,
    /// 4 § 3: the person may be feared to seriously harm themselves or someone close.
    RiskOfHarm,
}

impl LvmGround {
    /// Every ground.
    pub const ALL: &'static [LvmGround] = &[
        LvmGround::HealthInDanger,
        LvmGround::RiskOfRuiningLife,
        LvmGround::RiskOfHarm,
    ];

    /// The ground's name, as in the JSON form.
    pub fn as_str(&self) -> &'static str {
        match self {
            LvmGround::HealthInDanger => "health_in_danger",
            LvmGround::RiskOfRuiningLife => "risk_of_ruining_life",
            LvmGround::RiskOfHarm => "risk_of_harm",
        }
    }
}

/// What a consent covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// Consent to coordinated individual planning.
    Sip,
    /// Consent to disclose information to the other principal.
    Disclosure,
    /// Consent that next of kin take part.
    NextOfKin,
}

/// How a deviation came about.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeviationCause {
    /// Reported by a principal.
    #[default]
    Reported,
    /// A legal or agreed deadline passed without the step it waits for.
    DeadlineMissed,
    /// An invited principal was absent from a SIP meeting without having declined.
    AbsentFromMeeting,
    /// An invited principal came to a SIP meeting without a function it was invited with
    /// (a physician invited, a curator sent).
    AbsentByFunction,
    /// A delivery to a principal could not be made in time.
    DeliveryLate,
    /// A step the law or an agreement requires to reach a party could not be disclosed to it
    /// (no consent, no legal basis, an objection): the sender is told at once.
    NotDelivered,
    /// Planning the law or the agreements expect never happened (a discharge with no planning,
    /// a plan without a follow-up date).
    PlanningMissing,
}

impl DeviationCause {
    /// Every cause.
    pub const ALL: &'static [DeviationCause] = &[
        DeviationCause::Reported,
        DeviationCause::DeadlineMissed,
        DeviationCause::AbsentFromMeeting,
        DeviationCause::AbsentByFunction,
        DeviationCause::DeliveryLate,
        DeviationCause::NotDelivered,
        DeviationCause::PlanningMissing,
    ];

    /// The cause's name, as in the JSON form.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeviationCause::Reported => "reported",
            DeviationCause::DeadlineMissed => "deadline_missed",
            DeviationCause::AbsentFromMeeting => "absent_from_meeting",
            DeviationCause::AbsentByFunction => "absent_by_function",
            DeviationCause::DeliveryLate => "delivery_late",
            DeviationCause::NotDelivered => "not_delivered",
            DeviationCause::PlanningMissing => "planning_missing",
        }
    }
}

/// An unanswered deviation taken to a level of the agreement's escalation ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Escalation {
    /// The level's short name (`manager`, `superior_manager`, `county_forum`, …).
    pub level: String,
    /// What the level is, in the agreement's words.
    pub name: String,
    /// Whom the escalation goes to, besides the addressed party.
    pub to: Vec<Party>,
}

/// One piece of evidence for a deviation: what happened when, and the event that shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evidence {
    /// E.g. `ready_for_discharge`, `deadline`, `sip_meeting_held`.
    pub what: String,
    #[schemars(with = "crate::domain::schema::DateTime")]
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventId>,
}

/// Someone who attended a SIP meeting, by the party they came for and their function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Attendee {
    pub party: Party,
    pub function: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Sensitive<String>>,
}

/// A service social services granted (beviljad insats), by national service type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DecidedService {
    pub service_type: ServiceType,
    /// What was granted, in the case system's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Sensitive<String>>,
    /// The extent as decided, e.g. "4 timmar per vecka".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extent: Option<String>,
    /// From when the service is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::domain::schema::Date>")]
    pub starts_on: Option<Date>,
}

/// The clocks that the process and the agreements run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Deadline {
    AdmissionNotice,
    SipInvitation,
    InformationAtDischarge,
    PaymentResponsibility,
    DeviationAnswer,
    /// An invited party confirms who attends a SIP meeting, a set time before it.
    SipAttendance,
    /// A plan is followed up by its follow-up date.
    PlanFollowUp,
    /// The person was discharged while an LVM decision held them in hospital.
    LvmHold,
    /// A clock defined by a regional agreement, named in its policy file.
    Agreement,
}

impl Deadline {
    /// Every clock.
    pub const ALL: &'static [Deadline] = &[
        Deadline::AdmissionNotice,
        Deadline::SipInvitation,
        Deadline::InformationAtDischarge,
        Deadline::PaymentResponsibility,
        Deadline::DeviationAnswer,
        Deadline::SipAttendance,
        Deadline::PlanFollowUp,
        Deadline::LvmHold,
        Deadline::Agreement,
    ];

    /// The clock's name, as in the JSON form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Deadline::AdmissionNotice => "admission_notice",
            Deadline::SipInvitation => "sip_invitation",
            Deadline::InformationAtDischarge => "information_at_discharge",
            Deadline::PaymentResponsibility => "payment_responsibility",
            Deadline::DeviationAnswer => "deviation_answer",
            Deadline::SipAttendance => "sip_attendance",
            Deadline::PlanFollowUp => "plan_follow_up",
            Deadline::LvmHold => "lvm_hold",
            Deadline::Agreement => "agreement",
        }
    }
}

fn is_permit(provision: &Provision) -> bool {
    *provision == Provision::Permit
}

/// The closed set of coordination events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// Inskrivningsmeddelande: the ward tells the other units that a person who will need
    /// services has been admitted. Sent without consent (statutory duty).
    AdmissionNotice {
        person: Person,
        ward: HsaId,
        #[schemars(with = "crate::domain::schema::DateTime")]
        admitted_at: Timestamp,
        /// A later assessment that the person will need services restarts the 24-hour clock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<crate::domain::schema::DateTime>")]
        assessed_at: Option<Timestamp>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<crate::domain::schema::Date>")]
        estimated_discharge: Option<Date>,
        /// Psychiatric inpatient care (separate payment-responsibility counts).
        #[serde(default)]
        psychiatric: bool,
        recipients: Vec<Party>,
    },
    /// Ändrad beräknad utskrivning.
    EstimatedDischargeChanged {
        #[schemars(with = "crate::domain::schema::Date")]
        estimated_discharge: Date,
    },
    /// Fast vårdkontakt utsedd, by the region's outpatient unit.
    CareContactAppointed {
        unit: HsaId,
        function: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<Sensitive<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staff_hsa_id: Option<HsaId>,
    },
    /// Planering påbörjad, by a receiving unit.
    PlanningStarted { by: Party },
    /// Utskrivningsklar: the physician's decision; starts the payment clock.
    ReadyForDischarge {
        #[schemars(with = "crate::domain::schema::DateTime")]
        decided_at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        physician: Option<HsaId>,
    },
    /// The ready-for-discharge decision is revoked (the person's condition changed).
    ReadyForDischargeRevoked {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Sensitive<String>>,
    },
    /// Kallelse till SIP (or SPU / SPLPTLRV planning meeting).
    SipInvitation {
        invitation_id: String,
        plan_type: PlanType,
        from: Party,
        #[schemars(with = "crate::domain::schema::DateTime")]
        meeting_at: Timestamp,
        place: MeetingPlace,
        invited: Vec<InvitedFunction>,
        /// The person's consent to SIP the invitation relies on, as the inviter records it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        consent_reference: Option<String>,
        /// The placement this SIP is held for (the agreements: a SIP within a week of an HVB
        /// placement); its meeting meets that placement's SIP clock only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        placement_id: Option<String>,
    },
    /// An invited party's answer to an invitation, naming the function that will attend.
    SipResponse {
        invitation_id: String,
        responder: Party,
        #[serde(flatten)]
        answer: SipAnswer,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attending_function: Option<String>,
        /// Each participant's answer, when the responder answers per participant; `answer` is
        /// then the whole response's ([`overall_answer`] where the sender states none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        participants: Vec<ParticipantAnswer>,
    },
    /// The coordinated plan: services needed, who answers for which, actions by others,
    /// overall responsibility.
    SipPlan {
        plan_id: String,
        plan_type: PlanType,
        activities: Vec<PlanActivity>,
        overall_responsibility: Principal,
        #[serde(default)]
        next_of_kin_participated: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<crate::domain::schema::Date>")]
        follow_up_on: Option<Date>,
    },
    /// Information vid utskrivning: what the next provider needs.
    InformationAtDischarge {
        summary: Sensitive<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        care_contact: Option<HsaId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<crate::domain::schema::DateTime>")]
        planned_sip_at: Option<Timestamp>,
        /// The legal basis the ward discloses on where the person has not consented (a
        /// provision that breaks secrecy, or the person's inability to consent), as recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        legal_basis: Option<String>,
    },
    /// The person has left inpatient care.
    Discharged {
        #[schemars(with = "crate::domain::schema::DateTime")]
        discharged_at: Timestamp,
    },
    /// The case is cancelled (admission registered in error, person deceased, …).
    CaseCancelled { reason: Sensitive<String> },
    /// A consent was recorded.
    ConsentRecorded {
        consent_id: String,
        scope: ConsentScope,
        /// `deny` records an objection (e.g. to next of kin taking part, or to disclosure to
        /// one organisation).
        #[serde(default, skip_serializing_if = "is_permit")]
        provision: Provision,
        /// The principals it is limited to; empty for both.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        principals: Vec<Principal>,
        /// The organisations or units it is limited to; empty for any.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        recipients: Vec<Party>,
        /// The information it is limited to; empty for all.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        categories: Vec<InformationCategory>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<crate::domain::schema::DateTime>")]
        valid_from: Option<Timestamp>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<crate::domain::schema::DateTime>")]
        valid_until: Option<Timestamp>,
    },
    /// A consent was withdrawn; disclosure relying on it stops from this moment.
    ConsentWithdrawn { consent_id: String },
    /// A physician's report to social services under 6 § LVM; sent without consent.
    LvmReport {
        physician: HsaId,
        to_municipality: Kommunkod,
        legal_basis: String,
        /// The physician's account: the misuse, the person's health, what was tried.
        report: Sensitive<String>,
        /// What the person misuses. Empty when the report does not say, which its sender is
        /// warned about: social services cannot act on a report that does not say it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        substances: Vec<LvmSubstance>,
        /// The grounds of 4 § LVM the physician finds; empty when the report does not say.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        grounds: Vec<LvmGround>,
        /// Whether the person has declined care on a voluntary basis.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voluntary_care_declined: Option<bool>,
        /// Whether the physician finds immediate custody (13 § LVM) called for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        immediate_custody_advised: Option<bool>,
    },
    /// A report of concern for a child (orosanmälan) to social services; a duty that breaks
    /// secrecy, sent without consent with the legal basis recorded.
    ChildConcernReport {
        reporter: Party,
        to_municipality: Kommunkod,
        legal_basis: String,
        report: Sensitive<String>,
    },
    /// Social services' feedback to the one who reported concern for a child (14 kap. 1 b §
    /// socialtjänstlagen): whether an investigation was opened, will not be opened, or is
    /// already under way. A duty that breaks secrecy, to the reporter only.
    ChildConcernFeedback {
        by: Party,
        /// The reporter the feedback goes to, as the report named it.
        reporter: Party,
        outcome: ChildConcernOutcome,
    },
    /// Social services decided on compulsory care or immediate custody under LVM for a person
    /// in hospital: the hospital keeps the person until transport to the LVM home is arranged.
    LvmDecision {
        decision_id: String,
        decision: LvmDecisionKind,
        by: Party,
    },
    /// Transport to the LVM home is arranged: the hold of the decision ends.
    LvmTransportArranged {
        decision_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<crate::domain::schema::DateTime>")]
        transport_at: Option<Timestamp>,
    },
    /// Social services, investigating under LVM, ask a unit of the region for a medical
    /// examination and its certificate (9 § LVM: within a week if possible); the agreements
    /// ask primary care first.
    LvmCertificateRequested {
        request_id: String,
        by: Party,
        /// The unit asked to examine the person.
        to: Party,
        /// What the examination is to answer, in the case officer's words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Sensitive<String>>,
    },
    /// The certificate of a requested examination is issued (läkarintyg enligt 9 § LVM), by the
    /// examining unit, to the municipality that asked.
    LvmCertificateIssued {
        request_id: String,
        by: Party,
        /// The municipality that asked for it.
        to: Party,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        physician: Option<HsaId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<crate::domain::schema::DateTime>")]
        examined_at: Option<Timestamp>,
    },
    /// A placement outside the home decided by social services, e.g. an emergency placement
    /// in a treatment home (HVB) under a county's substance-abuse agreement.
    Placement {
        placement_id: String,
        /// `HVB`, `familjehem`, `LVM-hem`, … as the agreement names them.
        placement_type: String,
        #[serde(default)]
        emergency: bool,
        by: Party,
        /// Why the person is placed (the agreement asks for the motive, e.g. an emergency
        /// placement because of risk to life or health); personal data.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        motive: Option<Sensitive<String>>,
    },
    /// The principals agreed how the cost of a placement is split.
    CostSplitAgreed {
        placement_id: String,
        /// The reference of the ansvarsförbindelse (the written commitment to pay) the split
        /// rests on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commitment_reference: Option<String>,
        /// The amount the commitment covers, in whole kronor.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amount_sek: Option<u64>,
    },
    /// An avvikelse (deviation report): reported by a principal, or raised by the gateway from
    /// the evidence it holds (a missed deadline, an absence from a SIP meeting without notice).
    DeviationRaised {
        deviation_id: String,
        /// Who reported it; none when the gateway raised it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        raised_by: Option<Party>,
        /// The party that answers for what happened and must answer the deviation.
        addressed_to: Party,
        description: Sensitive<String>,
        #[serde(default)]
        cause: DeviationCause,
        /// The deadline that was missed, for a deviation raised from one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<Deadline>,
        /// The event the deviation is about (e.g. the `deadline_missed` event).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        concerns: Option<EventId>,
        /// What shows it happened: the events and times it was raised on.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        evidence: Vec<Evidence>,
        /// The deviation contacts of both principals it is routed to (e.g. the municipality's
        /// medically responsible nurse, the region's patient-safety unit).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        notify: Vec<Party>,
    },
    /// The addressed party has received the deviation and is looking into it.
    DeviationAcknowledged { deviation_id: String, by: Party },
    /// The answer to a deviation report.
    DeviationAnswered {
        deviation_id: String,
        answered_by: Party,
        answer: Sensitive<String>,
    },
    /// A deviation is still unanswered at its reminder time: the addressed party and the
    /// deviation contacts are reminded. Raised by the gateway.
    DeviationReminder {
        deviation_id: String,
        /// 1 for the first reminder, then 2, 3, …
        reminder: u32,
        addressed_to: Party,
        /// The level the agreement escalates an unanswered deviation to at this reminder
        /// (the unit's manager, the superior manager, the county forum), with whom it goes to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        escalation: Option<Escalation>,
    },
    /// A SIP meeting was held: who attended (person and function), and whether the person and
    /// their next of kin took part.
    SipMeetingHeld {
        invitation_id: String,
        #[schemars(with = "crate::domain::schema::DateTime")]
        held_at: Timestamp,
        attendees: Vec<Attendee>,
        #[serde(default)]
        person_participated: bool,
        #[serde(default)]
        next_of_kin_participated: bool,
    },
    /// Beviljade insatser: social services decided which services the person will get.
    ServicesDecided {
        decision_id: String,
        by: Party,
        /// The date of the decision, where the case system gives it: the law asks a decision
        /// to be documented, not that its date travel with it. A decision without one is
        /// recorded with a warning to its sender.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<crate::domain::schema::Date>")]
        decided_on: Option<Date>,
        services: Vec<DecidedService>,
    },
    /// The municipality is ready to receive the person home (from a time, if it names one).
    ReadyToReceive {
        by: Party,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(with = "Option<crate::domain::schema::DateTime>")]
        from: Option<Timestamp>,
    },
    /// A kvittens: the receiver acknowledges a message of the case it has received and read.
    MessageAcknowledged {
        /// The id of the acknowledged message, as it was sent.
        message_id: String,
        by: Party,
    },
    /// A legal or agreed deadline passed without the step it waits for.
    DeadlineMissed {
        deadline: Deadline,
        #[schemars(with = "crate::domain::schema::DateTime")]
        due_at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// Whom the deadline was for, when it was one party's (e.g. an invited unit that has
        /// not confirmed a participant).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        party: Option<Party>,
        /// The event that started the clock.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_by: Option<EventId>,
    },
}

impl EventKind {
    /// Every kind's name.
    pub const NAMES: &'static [&'static str] = &[
        "admission_notice",
        "estimated_discharge_changed",
        "care_contact_appointed",
        "planning_started",
        "ready_for_discharge",
        "ready_for_discharge_revoked",
        "sip_invitation",
        "sip_response",
        "sip_plan",
        "information_at_discharge",
        "discharged",
        "case_cancelled",
        "consent_recorded",
        "consent_withdrawn",
        "lvm_report",
        "child_concern_report",
        "child_concern_feedback",
        "lvm_decision",
        "lvm_transport_arranged",
        "lvm_certificate_requested",
        "lvm_certificate_issued",
        "placement",
        "cost_split_agreed",
        "deviation_raised",
        "deviation_acknowledged",
        "deviation_answered",
        "deviation_reminder",
        "sip_meeting_held",
        "services_decided",
        "ready_to_receive",
        "message_acknowledged",
        "deadline_missed",
    ];

    /// Whether only the gateway records this step, from what it has stored: a missed deadline,
    /// a reminder, a deviation with the gateway's evidence. No client sends one; every format
    /// writes it without a sending unit.
    pub fn recorded_by_the_gateway(&self) -> bool {
        match self {
            EventKind::DeadlineMissed { .. } | EventKind::DeviationReminder { .. } => true,
            EventKind::DeviationRaised { cause, .. } => *cause != DeviationCause::Reported,
            _ => false,
        }
    }

    /// The kind's stable name, as in the `kind` field of the JSON form.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::AdmissionNotice { .. } => "admission_notice",
            EventKind::EstimatedDischargeChanged { .. } => "estimated_discharge_changed",
            EventKind::CareContactAppointed { .. } => "care_contact_appointed",
            EventKind::PlanningStarted { .. } => "planning_started",
            EventKind::ReadyForDischarge { .. } => "ready_for_discharge",
            EventKind::ReadyForDischargeRevoked { .. } => "ready_for_discharge_revoked",
            EventKind::SipInvitation { .. } => "sip_invitation",
            EventKind::SipResponse { .. } => "sip_response",
            EventKind::SipPlan { .. } => "sip_plan",
            EventKind::InformationAtDischarge { .. } => "information_at_discharge",
            EventKind::Discharged { .. } => "discharged",
            EventKind::CaseCancelled { .. } => "case_cancelled",
            EventKind::ConsentRecorded { .. } => "consent_recorded",
            EventKind::ConsentWithdrawn { .. } => "consent_withdrawn",
            EventKind::LvmReport { .. } => "lvm_report",
            EventKind::ChildConcernReport { .. } => "child_concern_report",
            EventKind::ChildConcernFeedback { .. } => "child_concern_feedback",
            EventKind::LvmDecision { .. } => "lvm_decision",
            EventKind::LvmTransportArranged { .. } => "lvm_transport_arranged",
            EventKind::LvmCertificateRequested { .. } => "lvm_certificate_requested",
            EventKind::LvmCertificateIssued { .. } => "lvm_certificate_issued",
            EventKind::Placement { .. } => "placement",
            EventKind::CostSplitAgreed { .. } => "cost_split_agreed",
            EventKind::DeviationRaised { .. } => "deviation_raised",
            EventKind::DeviationAcknowledged { .. } => "deviation_acknowledged",
            EventKind::DeviationAnswered { .. } => "deviation_answered",
            EventKind::DeviationReminder { .. } => "deviation_reminder",
            EventKind::SipMeetingHeld { .. } => "sip_meeting_held",
            EventKind::ServicesDecided { .. } => "services_decided",
            EventKind::ReadyToReceive { .. } => "ready_to_receive",
            EventKind::MessageAcknowledged { .. } => "message_acknowledged",
            EventKind::DeadlineMissed { .. } => "deadline_missed",
        }
    }
}
