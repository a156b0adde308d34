//! The disclosure decision itself: `decide`, the rules of the table in the module above, and
//! `Disclosure`, the only way to a `Released` event.

use jiff::Timestamp;
use serde::Serialize;

use crate::domain::consent::{ConsentDirective, InformationCategory, Provision, Recipient};
use crate::domain::event::{ConsentScope, Event, EventKind};
use crate::domain::identifiers::PersonId;
use crate::domain::party::{Organisation, Party};
use crate::formats::canonical::{CanonicalMessage, CaseReference};

/// What the decision needs to know about the case beyond the event.
#[derive(Debug, Clone, Copy)]
pub struct CaseFacts {
    /// Skyddad folkbokföring or sekretessmarkering, from any event of the case.
    pub protected_identity: bool,
}

/// One question: may `event` go to `recipient` at `at`?
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub event: &'a Event,
    pub recipient: &'a Recipient,
    /// Every directive of the person's registry (withdrawn ones included: the decision looks
    /// at their times).
    pub consents: &'a [ConsentDirective],
    /// A legal basis recorded for this disclosure outside the event, if any.
    pub legal_basis: Option<&'a str>,
    /// The organisation the event comes from, when known: information that stays within it
    /// (the care provider's own units) is not a disclosure to the other principal.
    pub sender: Option<&'a Organisation>,
    pub facts: CaseFacts,
    pub at: Timestamp,
}

/// Why a disclosure is permitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Basis {
    /// A duty to inform under the law (2017:612) or the agreement; no consent needed.
    Statutory { duty: &'static str },
    /// The person's consent, by its id, and the organisation that recorded it (the
    /// discloser's own).
    Consent {
        consent_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        recorded_by: Option<String>,
    },
    /// A legal basis that breaks secrecy, as recorded.
    LegalBasis { legal_basis: String },
    /// The information stays within the organisation it comes from (its own units, with a
    /// care relationship): not a disclosure to the other principal.
    SameOrganisation { organisation: String },
}

impl Basis {
    /// The legal basis or consent reference, as written to the audit log.
    pub fn audit_text(&self) -> String {
        match self {
            Basis::Statutory { duty } => (*duty).to_owned(),
            Basis::Consent {
                consent_id,
                recorded_by: Some(recorded_by),
            } => format!("consent {consent_id} (recorded by {recorded_by})"),
            Basis::Consent { consent_id, .. } => format!("consent {consent_id}"),
            Basis::LegalBasis { legal_basis } => legal_basis.clone(),
            Basis::SameOrganisation { organisation } => {
                format!("inom {organisation}: vårdrelation, ingen utlämning till annan huvudman")
            }
        }
    }
}

/// Something removed from the message before it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Redaction {
    /// The registered address: of a person with protected identity always, and outside the
    /// statutory minimum otherwise.
    RegisteredAddress,
    /// That the inpatient care is psychiatric: not part of the admission notice's minimum.
    PsychiatricCare,
    /// The reason a case was cancelled (may be health information).
    CancellationReason,
    /// The reason a ready-for-discharge decision was revoked.
    RevocationReason,
}

/// Something every recipient must be told along with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// The person has protected identity: handle with care, never record an address.
    ProtectedIdentity,
    /// The person objected to next of kin taking part.
    NextOfKinObjection,
}

/// Why a disclosure is denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Denial {
    /// SIP information needs the person's consent to SIP, and none in force covers the recipient.
    NoSipConsent,
    /// The information needs consent (or a recorded legal basis), and there is none in force.
    NoConsent { category: InformationCategory },
    /// The consent the disclosure would rely on was withdrawn.
    ConsentWithdrawn {
        consent_id: String,
        withdrawn_at: Timestamp,
    },
    /// The person objected to disclosure to this recipient.
    Objection { consent_id: String },
    /// A report that breaks secrecy goes only to the municipality it is addressed to.
    NotTheAddressee,
    /// The only consent that would cover the disclosure was recorded by another organisation
    /// than the one whose information it is: the discloser obtains consent.
    NotTheDisclosersConsent {
        consent_id: String,
        recorded_by: String,
        discloser: String,
    },
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denial::NoSipConsent => f.write_str(
                "SIP information needs the person's consent to SIP, and no consent in force covers the recipient",
            ),
            Denial::NoConsent { category } => write!(
                f,
                "{} information needs the person's consent or a recorded legal basis, and there is none",
                category.as_str()
            ),
            Denial::ConsentWithdrawn {
                consent_id,
                withdrawn_at,
            } => write!(f, "consent {consent_id} was withdrawn at {withdrawn_at}"),
            Denial::Objection { consent_id } => write!(
                f,
                "the person objected to disclosure to this recipient (directive {consent_id})"
            ),
            Denial::NotTheAddressee => f.write_str(
                "a report that breaks secrecy goes only to the municipality it is addressed to",
            ),
            Denial::NotTheDisclosersConsent {
                consent_id,
                recorded_by,
                discloser,
            } => write!(
                f,
                "consent {consent_id} was recorded by {recorded_by}; a consent to disclose {discloser}'s information is {discloser}'s to record"
            ),
        }
    }
}

/// A permitted disclosure: to whom, on what basis, with what removed and what flagged.
/// Only `decide` makes one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disclosure {
    event_id: crate::domain::event::EventId,
    recipient: Party,
    category: InformationCategory,
    basis: Basis,
    redactions: Vec<Redaction>,
    notices: Vec<Notice>,
}

impl Disclosure {
    pub fn recipient(&self) -> &Party {
        &self.recipient
    }
    pub fn basis(&self) -> &Basis {
        &self.basis
    }
    pub fn category(&self) -> InformationCategory {
        self.category
    }
    pub fn redactions(&self) -> &[Redaction] {
        &self.redactions
    }
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// The event as this recipient may have it, with the redactions applied. `None` if it is
    /// not the decided event.
    pub fn release(&self, event: &Event) -> Option<Released> {
        if event.id != self.event_id {
            return None;
        }
        let mut event = event.clone();
        for redaction in &self.redactions {
            match (redaction, &mut event.kind) {
                (Redaction::RegisteredAddress, EventKind::AdmissionNotice { person, .. }) => {
                    person.registered_address = None;
                }
                (Redaction::PsychiatricCare, EventKind::AdmissionNotice { psychiatric, .. }) => {
                    *psychiatric = false;
                }
                (Redaction::CancellationReason, EventKind::CaseCancelled { reason }) => {
                    *reason = crate::domain::sensitive::Sensitive::new(WITHHELD.to_owned());
                }
                (Redaction::RevocationReason, EventKind::ReadyForDischargeRevoked { reason }) => {
                    *reason = None;
                }
                _ => {}
            }
        }
        if self.notices.contains(&Notice::ProtectedIdentity)
            && let EventKind::AdmissionNotice { person, .. } = &mut event.kind
        {
            person.protected_identity = true;
        }
        Some(Released {
            event,
            disclosure: self.clone(),
        })
    }
}

/// What a withheld free-text field reads as.
pub const WITHHELD: &str = "(withheld: no consent to disclose)";

/// An event released to one recipient by a `Disclosure`: what the outbox stores and the
/// read API answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Released {
    event: Event,
    disclosure: Disclosure,
}

impl Released {
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The released event as a canonical message of `case` about `person`, addressed to the
    /// recipient.
    pub fn message(
        &self,
        case: CaseReference,
        person: PersonId,
        sent_at: Timestamp,
    ) -> CanonicalMessage {
        CanonicalMessage {
            case,
            person,
            sent_at,
            sender_name: None,
            recipient: Some(self.disclosure.recipient.clone()),
            protected_identity: self.disclosure.notices.contains(&Notice::ProtectedIdentity),
            event: self.event.clone(),
        }
    }
    pub fn disclosure(&self) -> &Disclosure {
        &self.disclosure
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Permit(Disclosure),
    PermitWithRedactions(Disclosure),
    Deny(Denial),
}

impl Decision {
    pub fn disclosure(&self) -> Option<&Disclosure> {
        match self {
            Decision::Permit(d) | Decision::PermitWithRedactions(d) => Some(d),
            Decision::Deny(_) => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Decision::Permit(_) => "permit",
            Decision::PermitWithRedactions(_) => "permit_with_redactions",
            Decision::Deny(_) => "deny",
        }
    }
}

/// The information category of an event (what a consent must cover for it).
pub fn category(kind: &EventKind) -> InformationCategory {
    use InformationCategory as C;
    match kind {
        EventKind::AdmissionNotice { .. }
        | EventKind::EstimatedDischargeChanged { .. }
        | EventKind::CareContactAppointed { .. }
        | EventKind::PlanningStarted { .. }
        | EventKind::ReadyForDischarge { .. }
        | EventKind::ReadyForDischargeRevoked { .. }
        | EventKind::Discharged { .. }
        | EventKind::CaseCancelled { .. }
        | EventKind::ReadyToReceive { .. }
        | EventKind::MessageAcknowledged { .. }
        | EventKind::ConsentRecorded { .. }
        | EventKind::ConsentWithdrawn { .. }
        | EventKind::DeadlineMissed { .. } => C::DischargePlanning,
        EventKind::SipInvitation { .. }
        | EventKind::SipResponse { .. }
        | EventKind::SipPlan { .. }
        | EventKind::SipMeetingHeld { .. } => C::Sip,
        EventKind::InformationAtDischarge { .. } => C::Health,
        EventKind::LvmReport { .. }
        | EventKind::LvmDecision { .. }
        | EventKind::LvmTransportArranged { .. }
        | EventKind::LvmCertificateRequested { .. }
        | EventKind::LvmCertificateIssued { .. } => C::SubstanceAbuse,
        EventKind::ChildConcernReport { .. }
        | EventKind::ChildConcernFeedback { .. }
        | EventKind::ServicesDecided { .. }
        | EventKind::Placement { .. }
        | EventKind::CostSplitAgreed { .. } => C::SocialServices,
        EventKind::DeviationRaised { .. }
        | EventKind::DeviationAcknowledged { .. }
        | EventKind::DeviationAnswered { .. }
        | EventKind::DeviationReminder { .. } => C::Deviations,
    }
}

/// What an event needs before it may go.
enum Rule {
    /// A duty to inform; `redact` lists what goes only with disclosure consent.
    Duty {
        duty: &'static str,
        redact: &'static [Redaction],
    },
    /// Consent to SIP.
    Sip,
    /// Disclosure consent for the category.
    Consent,
    /// A duty that breaks secrecy, to the named municipality only.
    SecrecyBreaking { legal_basis: String },
}

const DUTY_INFORM: &str = "lag (2017:612) om samverkan vid utskrivning från sluten hälso- och sjukvård: informationsskyldighet";
const DUTY_FOLLOW_UP: &str = "överenskommelse om samverkan: uppföljning och avvikelsehantering";
const DUTY_LVM_HOLD: &str = "LVM: beslut om vård eller omhändertagande som håller kvar personen";
const DUTY_LVM_CERTIFICATE: &str = "9 § LVM: läkarundersökning och läkarintyg i en utredning om tvångsvård, till den som begärt det";
const DUTY_CHILD_FEEDBACK: &str =
    "14 kap. 1 b § socialtjänstlagen: återkoppling till den som anmält oro för ett barn";
const DUTY_DIRECTIVE: &str = "the person's own directive (samtycke), to the principals of the case";

fn rule(request: &Request<'_>) -> Rule {
    match &request.event.kind {
        EventKind::AdmissionNotice { .. } => Rule::Duty {
            duty: DUTY_INFORM,
            redact: &[Redaction::PsychiatricCare],
        },
        EventKind::ReadyForDischargeRevoked { .. } => Rule::Duty {
            duty: DUTY_INFORM,
            redact: &[Redaction::RevocationReason],
        },
        EventKind::CaseCancelled { .. } => Rule::Duty {
            duty: DUTY_INFORM,
            redact: &[Redaction::CancellationReason],
        },
        EventKind::EstimatedDischargeChanged { .. }
        | EventKind::CareContactAppointed { .. }
        | EventKind::PlanningStarted { .. }
        | EventKind::ReadyForDischarge { .. }
        | EventKind::Discharged { .. }
        | EventKind::ReadyToReceive { .. }
        | EventKind::MessageAcknowledged { .. } => Rule::Duty {
            duty: DUTY_INFORM,
            redact: &[],
        },
        EventKind::ConsentRecorded { .. } | EventKind::ConsentWithdrawn { .. } => Rule::Duty {
            duty: DUTY_DIRECTIVE,
            redact: &[],
        },
        EventKind::DeadlineMissed { .. }
        | EventKind::DeviationRaised { .. }
        | EventKind::DeviationAcknowledged { .. }
        | EventKind::DeviationAnswered { .. }
        | EventKind::DeviationReminder { .. } => Rule::Duty {
            duty: DUTY_FOLLOW_UP,
            redact: &[],
        },
        EventKind::LvmCertificateRequested { .. } | EventKind::LvmCertificateIssued { .. } => {
            Rule::Duty {
                duty: DUTY_LVM_CERTIFICATE,
                redact: &[],
            }
        }
        EventKind::ChildConcernFeedback { .. } => Rule::Duty {
            duty: DUTY_CHILD_FEEDBACK,
            redact: &[],
        },
        EventKind::LvmDecision { .. } | EventKind::LvmTransportArranged { .. } => Rule::Duty {
            duty: DUTY_LVM_HOLD,
            redact: &[],
        },
        EventKind::SipInvitation { .. }
        | EventKind::SipResponse { .. }
        | EventKind::SipPlan { .. }
        | EventKind::SipMeetingHeld { .. } => Rule::Sip,
        EventKind::InformationAtDischarge { legal_basis, .. } => {
            match legal_basis.as_deref().or(request.legal_basis) {
                Some(basis) => Rule::SecrecyBreaking {
                    legal_basis: basis.to_owned(),
                },
                None => Rule::Consent,
            }
        }
        EventKind::LvmReport { legal_basis, .. }
        | EventKind::ChildConcernReport { legal_basis, .. } => Rule::SecrecyBreaking {
            legal_basis: legal_basis.clone(),
        },
        EventKind::ServicesDecided { .. }
        | EventKind::Placement { .. }
        | EventKind::CostSplitAgreed { .. } => Rule::Consent,
    }
}

/// Whether the recipient belongs to the organisation the event comes from.
fn within_sender(request: &Request<'_>) -> bool {
    matches!((request.sender, &request.recipient.organisation), (Some(from), Some(to)) if from == to)
}

/// The municipality a secrecy-breaking report is addressed to.
fn addressee(kind: &EventKind) -> Option<crate::domain::identifiers::Kommunkod> {
    match kind {
        EventKind::LvmReport {
            to_municipality, ..
        }
        | EventKind::ChildConcernReport {
            to_municipality, ..
        } => Some(*to_municipality),
        _ => None,
    }
}

/// Consent of `scope` in force at `at` covering the recipient and category: `Ok(id)`, or the
/// denial that explains why there is none (a withdrawn one is named).
/// Whether a consent was recorded by the organisation whose information is disclosed (any,
/// when the event has no sender the directory knows).
fn the_disclosers(request: &Request<'_>, consent: &ConsentDirective) -> bool {
    match request.sender {
        Some(discloser) => consent.recorded_by.as_ref() == Some(discloser),
        None => true,
    }
}

/// The consent a disclosure may rely on: an objection covering it defeats any consent; a
/// consent counts only when the discloser's organisation recorded it.
fn consent_for(
    request: &Request<'_>,
    scope: ConsentScope,
    category: InformationCategory,
    none: Denial,
) -> Result<(String, Option<String>), Denial> {
    let relevant =
        |c: &&ConsentDirective| c.scope == scope && c.covers(request.recipient, category);
    if let Some(objection) = request
        .consents
        .iter()
        .filter(relevant)
        .find(|c| c.provision == Provision::Deny && c.in_force_at(request.at))
    {
        return Err(Denial::Objection {
            consent_id: objection.id.clone(),
        });
    }
    let all_permits = || {
        request
            .consents
            .iter()
            .filter(relevant)
            .filter(|c| c.provision == Provision::Permit)
    };
    let permits = || all_permits().filter(|c| the_disclosers(request, c));
    if let Some(consent) = permits().find(|c| c.in_force_at(request.at)) {
        return Ok((
            consent.id.clone(),
            consent.recorded_by.as_ref().map(|o| o.code()),
        ));
    }
    // A consent in force that another organisation recorded: say so.
    if let (Some(discloser), Some(other)) = (
        request.sender,
        all_permits().find(|c| c.in_force_at(request.at)),
    ) {
        return Err(Denial::NotTheDisclosersConsent {
            consent_id: other.id.clone(),
            recorded_by: other
                .recorded_by
                .as_ref()
                .map_or_else(|| "an unknown party".to_owned(), |o| o.to_string()),
            discloser: discloser.to_string(),
        });
    }
    // The most recently withdrawn consent that would otherwise count, to say why.
    match permits()
        .filter_map(|c| c.withdrawn_at.map(|at| (at, c)))
        .filter(|(at, _)| *at <= request.at)
        .max_by_key(|(at, _)| *at)
    {
        Some((withdrawn_at, c)) => Err(Denial::ConsentWithdrawn {
            consent_id: c.id.clone(),
            withdrawn_at,
        }),
        None => Err(none),
    }
}

/// Whether the person's identity is protected, by the case or by the event itself.
fn protected(request: &Request<'_>) -> bool {
    request.facts.protected_identity
        || matches!(&request.event.kind, EventKind::AdmissionNotice { person, .. } if person.protected_identity)
}

/// Decides what a read of the case shows the reader (`request.recipient`): as `decide`,
/// except that a step the reader's own organisation sent is its own record and is never
/// withheld from it. A withdrawn consent stops disclosures to others; it does not hide a
/// region's SIP invitation from the region that sent it. The protected-identity redactions
/// still apply.
pub fn decide_read(request: &Request<'_>) -> Decision {
    match decide(request) {
        Decision::Deny(_) if within_sender(request) => {
            let protected = protected(request);
            let disclosure = Disclosure {
                event_id: request.event.id,
                recipient: request.recipient.party.clone(),
                category: category(&request.event.kind),
                basis: Basis::SameOrganisation {
                    organisation: request.sender.map(|o| o.to_string()).unwrap_or_default(),
                },
                redactions: if protected {
                    vec![Redaction::RegisteredAddress]
                } else {
                    Vec::new()
                },
                notices: if protected {
                    vec![Notice::ProtectedIdentity]
                } else {
                    Vec::new()
                },
            };
            if disclosure.redactions.is_empty() {
                Decision::Permit(disclosure)
            } else {
                Decision::PermitWithRedactions(disclosure)
            }
        }
        other => other,
    }
}

/// Decides one disclosure. Pure: the same request always gives the same decision.
pub fn decide(request: &Request<'_>) -> Decision {
    let category = category(&request.event.kind);
    let protected = protected(request);
    let mut notices = Vec::new();
    if protected {
        notices.push(Notice::ProtectedIdentity);
    }
    let mut redactions = Vec::new();
    if protected {
        redactions.push(Redaction::RegisteredAddress);
    }
    let basis = match rule(request) {
        Rule::Duty { duty, redact } => {
            if !redact.is_empty()
                && consent_for(
                    request,
                    ConsentScope::Disclosure,
                    category,
                    Denial::NoConsent { category },
                )
                .is_err()
            {
                redactions.extend_from_slice(redact);
            }
            Basis::Statutory { duty }
        }
        Rule::Sip => match consent_for(
            request,
            ConsentScope::Sip,
            InformationCategory::Sip,
            Denial::NoSipConsent,
        ) {
            Ok((consent_id, recorded_by)) => {
                let objected = request.consents.iter().any(|c| {
                    c.scope == ConsentScope::NextOfKin
                        && c.provision == Provision::Deny
                        && c.in_force_at(request.at)
                });
                if objected {
                    notices.push(Notice::NextOfKinObjection);
                }
                Basis::Consent {
                    consent_id,
                    recorded_by,
                }
            }
            Err(denial) => return Decision::Deny(denial),
        },
        Rule::Consent => match consent_for(
            request,
            ConsentScope::Disclosure,
            category,
            Denial::NoConsent { category },
        ) {
            Ok((consent_id, recorded_by)) => Basis::Consent {
                consent_id,
                recorded_by,
            },
            Err(_) if within_sender(request) => Basis::SameOrganisation {
                organisation: request.sender.map(|o| o.to_string()).unwrap_or_default(),
            },
            Err(denial) => return Decision::Deny(denial),
        },
        Rule::SecrecyBreaking { legal_basis } => {
            if let Some(kommunkod) = addressee(&request.event.kind) {
                let to_addressee = matches!(
                    &request.recipient.party,
                    Party::Municipality { kommunkod: k, .. } if *k == kommunkod
                );
                if !to_addressee {
                    return Decision::Deny(Denial::NotTheAddressee);
                }
            }
            Basis::LegalBasis { legal_basis }
        }
    };
    let disclosure = Disclosure {
        event_id: request.event.id,
        recipient: request.recipient.party.clone(),
        category,
        basis,
        redactions,
        notices,
    };
    if disclosure.redactions.is_empty() {
        Decision::Permit(disclosure)
    } else {
        Decision::PermitWithRedactions(disclosure)
    }
}
