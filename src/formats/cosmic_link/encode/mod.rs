//! Encoding a canonical message as a Cosmic Link message (the contract's normal form: 12-digit
//! personnummer with hyphen, local Swedish date-times without offset, the first code of each
//! code table).

use jiff::Timestamp;
use jiff::civil::Date;
use quick_xml::escape::escape;

use super::NAMESPACE;
use super::codes::{AnswerKind, CodeTables, Table};
use super::decode::GATEWAY_SYSTEM;
use crate::domain::event::{Address, EventKind, MeetingPlace, Person, SipAnswer};
use crate::domain::identifiers::PersonId;
use crate::domain::party::Party;
use crate::domain::time::stockholm;
use crate::formats::canonical::CanonicalMessage;

mod follow_up;

/// Why a canonical message cannot be written as Cosmic Link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("the code table [{table}] has no code for {value}")]
    NoCode { table: &'static str, value: String },
    #[error("a {0} step cannot be carried by a Cosmic Link message")]
    NotInContract(&'static str),
    #[error("the message has no sender, which a Cosmic Link message requires")]
    NoSender,
    #[error("a Cosmic Link message is sent by a unit with an HSA-id; the sender is {0}")]
    SenderWithoutHsaId(Party),
    /// A case numbered by a municipality (its kommunkod): Cosmic Link names a case by the care
    /// provider's HSA-id.
    #[error(
        "the case is numbered by {0}, not by a care provider with an HSA-id, which a Cosmic Link Samordningsarende/@vardgivare needs"
    )]
    CaseNotNumberedByACareProvider(String),
    /// Cosmic Link says who answers a SIP invitation by the message's sender.
    #[error(
        "a Cosmic Link answer to a SIP invitation is from its sender (Avsandare); this answer's responder {responder} is not its sender {sender}"
    )]
    ResponderIsNotTheSender { responder: Party, sender: String },
    /// The step's message id is longer, or less printable, than a `MeddelandeId` may be.
    #[error(
        "the message id cannot be a Cosmic Link MeddelandeId (at most 128 printable characters; it has {0} bytes)"
    )]
    MessageIdNotInContract(usize),
}

struct Writer {
    out: String,
    depth: usize,
}

impl Writer {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn tag(&mut self, name: &str, attributes: &[(&str, String)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attributes {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            self.out.push_str(&escape(value.as_str()));
            self.out.push('"');
        }
    }

    fn open(&mut self, name: &str, attributes: &[(&str, String)]) {
        self.indent();
        self.tag(name, attributes);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn leaf(&mut self, name: &str, attributes: &[(&str, String)], text: &str) {
        self.indent();
        self.tag(name, attributes);
        if text.is_empty() {
            self.out.push_str("/>\n");
        } else {
            self.out.push('>');
            self.out.push_str(&escape(text));
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push_str(">\n");
        }
    }

    fn text(&mut self, name: &str, text: &str) {
        self.leaf(name, &[], text);
    }
}

fn local(ts: Timestamp) -> String {
    ts.to_zoned_datetime(stockholm())
        .datetime()
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

fn bool_text(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

fn date(d: Date) -> String {
    d.strftime("%Y-%m-%d").to_string()
}

fn party_attributes(party: &Party) -> Vec<(&'static str, String)> {
    match party {
        Party::RegionUnit { hsa_id } => vec![("hsaId", hsa_id.to_string())],
        Party::Municipality { kommunkod, unit } => {
            let mut attributes = vec![("kommunkod", kommunkod.to_string())];
            if let Some(unit) = unit {
                attributes.push(("hsaId", unit.to_string()));
            }
            attributes
        }
    }
}

fn code<T: Copy + PartialEq + std::fmt::Debug>(
    table: &Table<T>,
    name: &'static str,
    value: T,
) -> Result<String, EncodeError> {
    table
        .encode(value)
        .map(str::to_owned)
        .ok_or_else(|| EncodeError::NoCode {
            table: name,
            value: format!("{value:?}"),
        })
}

fn person_id(w: &mut Writer, id: &PersonId) {
    match id {
        PersonId::Personnummer(p) => w.text("Personnummer", &p.to_string()),
        PersonId::Samordningsnummer(s) => w.text("Samordningsnummer", &s.to_string()),
        PersonId::ReserveNumber(r) => w.text("Reservnummer", r.as_str()),
    }
}

/// The `Patient`: the identifier, the details an admission notice carries, and
/// `SkyddadIdentitet` (no address) when the details or `protected` say so.
fn patient(w: &mut Writer, id: &PersonId, details: Option<&Person>, protected: bool) {
    w.open("Patient", &[]);
    person_id(w, id);
    let protected = protected || details.is_some_and(|p| p.protected_identity);
    if let Some(person) = details {
        w.text("Fornamn", person.name.given.expose());
        w.text("Efternamn", person.name.family.expose());
        if let Some(Address {
            street,
            postal_code,
            city,
            municipality,
        }) = &person.registered_address
            && !protected
        {
            w.open("Folkbokforingsadress", &[]);
            w.text("Gatuadress", street.expose());
            w.text("Postnummer", postal_code.expose());
            w.text("Postort", city.expose());
            if let Some(code) = municipality {
                w.text("Kommunkod", &code.to_string());
            }
            w.close("Folkbokforingsadress");
        }
    }
    if protected {
        w.text("SkyddadIdentitet", "true");
    }
    w.close("Patient");
}

/// Writes the step `kind` reports (`sender`: the message's sender, `None` for brygga's own
/// steps); refuses what the contract cannot carry.
fn step(
    w: &mut Writer,
    kind: &EventKind,
    codes: &CodeTables,
    sender: Option<&Party>,
) -> Result<(), EncodeError> {
    for group in [discharge_step, sip_step, lvm_step, municipal_step] {
        if group(w, kind, codes)? {
            return Ok(());
        }
    }
    if follow_up::social_step(w, kind, codes, sender)?
        || follow_up::deviation_step(w, kind, codes, sender)?
    {
        return Ok(());
    }
    Err(EncodeError::NotInContract(kind.name()))
}

/// The steps of a discharge, from the admission notice to the discharge or the case's end. Whether
/// `kind` is one of them.
fn discharge_step(
    w: &mut Writer,
    kind: &EventKind,
    codes: &CodeTables,
) -> Result<bool, EncodeError> {
    match kind {
        EventKind::AdmissionNotice {
            admitted_at,
            assessed_at,
            estimated_discharge,
            psychiatric,
            recipients,
            ..
        } => {
            w.open("Inskrivningsmeddelande", &[]);
            w.text("Inskriven", &local(*admitted_at));
            if let Some(at) = assessed_at {
                w.text("BedomdBehov", &local(*at));
            }
            if let Some(d) = estimated_discharge {
                w.text("BeraknadUtskrivning", &date(*d));
            }
            w.text(
                "Vardform",
                &code(&codes.care_form, "care_form", *psychiatric)?,
            );
            for recipient in recipients {
                w.leaf("Mottagare", &party_attributes(recipient), "");
            }
            w.close("Inskrivningsmeddelande");
        }
        EventKind::EstimatedDischargeChanged {
            estimated_discharge,
        } => {
            w.open("AndradBeraknadUtskrivning", &[]);
            w.text("BeraknadUtskrivning", &date(*estimated_discharge));
            w.close("AndradBeraknadUtskrivning");
        }
        EventKind::CareContactAppointed {
            unit,
            function,
            name,
            staff_hsa_id,
        } => {
            w.open("FastVardkontakt", &[]);
            w.leaf("Enhet", &[("hsaId", unit.to_string())], "");
            w.text("Funktion", function);
            if let Some(name) = name {
                w.text("Namn", name.expose());
            }
            if let Some(staff) = staff_hsa_id {
                w.leaf("Person", &[("hsaId", staff.to_string())], "");
            }
            w.close("FastVardkontakt");
        }
        EventKind::PlanningStarted { by } => {
            w.open("PlaneringPaborjad", &[]);
            w.leaf("Part", &party_attributes(by), "");
            w.close("PlaneringPaborjad");
        }
        EventKind::ReadyForDischarge {
            decided_at,
            physician,
        } => {
            w.open("Utskrivningsklar", &[]);
            w.text("Beslutad", &local(*decided_at));
            if let Some(physician) = physician {
                w.leaf("Lakare", &[("hsaId", physician.to_string())], "");
            }
            w.close("Utskrivningsklar");
        }
        EventKind::ReadyForDischargeRevoked { reason } => {
            w.open("UtskrivningsklarAterkallad", &[]);
            if let Some(reason) = reason {
                w.text("Orsak", reason.expose());
            }
            w.close("UtskrivningsklarAterkallad");
        }
        EventKind::InformationAtDischarge {
            summary,
            care_contact,
            planned_sip_at,
            legal_basis,
        } => {
            w.open("InformationVidUtskrivning", &[]);
            w.text("Sammanfattning", summary.expose());
            if let Some(contact) = care_contact {
                w.leaf("FastVardkontakt", &[("hsaId", contact.to_string())], "");
            }
            if let Some(at) = planned_sip_at {
                w.text("PlaneradSip", &local(*at));
            }
            if let Some(basis) = legal_basis {
                w.text("Lagrum", basis);
            }
            w.close("InformationVidUtskrivning");
        }
        EventKind::Discharged { discharged_at } => {
            w.open("Utskriven", &[]);
            w.text("Tidpunkt", &local(*discharged_at));
            w.close("Utskriven");
        }
        EventKind::CaseCancelled { reason } => {
            w.open("ArendeAvslutat", &[]);
            w.text("Orsak", reason.expose());
            w.close("ArendeAvslutat");
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The steps of a SIP: the invitation, the answers, the plan. Whether `kind` is one of them.
/// `Svar` with its `Motivering` and `ForeslagenTid`: a response's, or one participant's.
fn write_answer(w: &mut Writer, answer: &SipAnswer, codes: &CodeTables) -> Result<(), EncodeError> {
    let kind = match answer {
        SipAnswer::Accepted => AnswerKind::Accepted,
        SipAnswer::Declined { .. } => AnswerKind::Declined,
        SipAnswer::ProposedOtherTime { .. } => AnswerKind::ProposedOtherTime,
    };
    w.text("Svar", &code(&codes.answer, "answer", kind)?);
    match answer {
        SipAnswer::Accepted => {}
        SipAnswer::Declined { reason } => w.text("Motivering", reason.expose()),
        SipAnswer::ProposedOtherTime {
            proposed_at,
            reason,
        } => {
            if let Some(reason) = reason {
                w.text("Motivering", reason.expose());
            }
            w.text("ForeslagenTid", &local(*proposed_at));
        }
    }
    Ok(())
}

fn sip_step(w: &mut Writer, kind: &EventKind, codes: &CodeTables) -> Result<bool, EncodeError> {
    match kind {
        EventKind::SipInvitation {
            invitation_id,
            plan_type,
            meeting_at,
            place,
            invited,
            consent_reference,
            placement_id,
            ..
        } => {
            w.open(
                "KallelseSip",
                &[
                    ("id", invitation_id.clone()),
                    ("plantyp", code(&codes.plan_type, "plan_type", *plan_type)?),
                ],
            );
            w.text("Tid", &local(*meeting_at));
            match place {
                MeetingPlace::Address { description } => w.text("Plats", description.expose()),
                MeetingPlace::Link { url } => w.text("Lank", url),
            }
            for function in invited {
                let mut attributes = party_attributes(&function.party);
                attributes.push(("funktion", function.function.clone()));
                w.leaf("Kallad", &attributes, "");
            }
            if let Some(reference) = consent_reference {
                w.text("SamtyckeReferens", reference);
            }
            if let Some(placement) = placement_id {
                w.text("PlaceringReferens", placement);
            }
            w.close("KallelseSip");
        }
        EventKind::SipMeetingHeld {
            invitation_id,
            held_at,
            attendees,
            person_participated,
            next_of_kin_participated,
        } => {
            w.open("SipMoteHallet", &[("kallelse", invitation_id.clone())]);
            w.text("Hallet", &local(*held_at));
            for attendee in attendees {
                let mut attributes = party_attributes(&attendee.party);
                attributes.push(("funktion", attendee.function.clone()));
                let name = attendee.name.as_ref().map(|n| n.expose().as_str());
                w.leaf("Deltagare", &attributes, name.unwrap_or(""));
            }
            w.text("PersonenDeltog", bool_text(*person_participated));
            w.text("NarstaendeDeltog", bool_text(*next_of_kin_participated));
            w.close("SipMoteHallet");
        }
        EventKind::SipResponse {
            invitation_id,
            answer,
            attending_function,
            participants,
            ..
        } => {
            // <SvarKallelse> and <SvarPaKommunensKallelse> carry the same event; brygga writes
            // the former.
            let element = "SvarKallelse";
            w.open(element, &[("kallelse", invitation_id.clone())]);
            write_answer(w, answer, codes)?;
            if let Some(function) = attending_function {
                w.text("DeltagandeFunktion", function);
            }
            for participant in participants {
                w.open(
                    "DeltagarSvar",
                    &[("funktion", participant.function.clone())],
                );
                write_answer(w, &participant.answer, codes)?;
                if let Some(name) = &participant.name {
                    w.text("Namn", name.expose());
                }
                w.close("DeltagarSvar");
            }
            w.close(element);
        }
        EventKind::SipPlan {
            plan_id,
            plan_type,
            activities,
            overall_responsibility,
            next_of_kin_participated,
            follow_up_on,
        } => {
            w.open(
                "Plan",
                &[
                    ("id", plan_id.clone()),
                    ("plantyp", code(&codes.plan_type, "plan_type", *plan_type)?),
                ],
            );
            for activity in activities {
                w.open("Insats", &[]);
                w.text("Beskrivning", activity.description.expose());
                w.text(
                    "Ansvarig",
                    &code(&codes.principal, "principal", activity.responsible)?,
                );
                if let Some(performer) = &activity.performer {
                    w.leaf("Utforare", &party_attributes(performer), "");
                }
                if let Some(service) = activity.service_type {
                    w.text(
                        "Insatstyp",
                        &code(&codes.service_type, "service_type", service)?,
                    );
                }
                w.close("Insats");
            }
            w.text(
                "OvergripandeAnsvar",
                &code(&codes.principal, "principal", Some(*overall_responsibility))?,
            );
            w.text(
                "NarstaendeDeltog",
                if *next_of_kin_participated {
                    "true"
                } else {
                    "false"
                },
            );
            if let Some(d) = follow_up_on {
                w.text("Uppfoljning", &date(*d));
            }
            w.close("Plan");
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The steps of an LVM hold: the report, the decision, the transport. Whether `kind` is one of
/// them.
fn lvm_step(w: &mut Writer, kind: &EventKind, codes: &CodeTables) -> Result<bool, EncodeError> {
    match kind {
        EventKind::LvmReport {
            physician,
            to_municipality,
            legal_basis,
            report,
            substances,
            grounds,
            voluntary_care_declined,
            immediate_custody_advised,
        } => {
            w.open("LvmAnmalan", &[]);
            w.leaf("Lakare", &[("hsaId", physician.to_string())], "");
            w.leaf("Kommun", &[("kommunkod", to_municipality.to_string())], "");
            w.text("Lagrum", legal_basis);
            w.text("Anmalan", report.expose());
            for substance in substances {
                let text = code(&codes.lvm_substance, "lvm_substance", *substance)?;
                w.text("Missbruk", &text);
            }
            for ground in grounds {
                w.text("Grund", &code(&codes.lvm_ground, "lvm_ground", *ground)?);
            }
            if let Some(declined) = voluntary_care_declined {
                w.text("FrivilligVardAvbojd", bool_text(*declined));
            }
            if let Some(advised) = immediate_custody_advised {
                w.text("OmedelbartOmhandertagande", bool_text(*advised));
            }
            w.close("LvmAnmalan");
        }
        EventKind::LvmDecision {
            decision_id,
            decision,
            ..
        } => {
            w.open("LvmBeslut", &[("id", decision_id.clone())]);
            w.text(
                "Beslut",
                &code(&codes.lvm_decision, "lvm_decision", *decision)?,
            );
            w.close("LvmBeslut");
        }
        EventKind::LvmCertificateRequested {
            request_id,
            to,
            reason,
            ..
        } => {
            w.open("LvmLakarintygBegart", &[("id", request_id.clone())]);
            w.leaf("Till", &party_attributes(to), "");
            if let Some(reason) = reason {
                w.text("Syfte", reason.expose());
            }
            w.close("LvmLakarintygBegart");
        }
        EventKind::LvmCertificateIssued {
            request_id,
            to,
            physician,
            examined_at,
            ..
        } => {
            w.open("LvmLakarintyg", &[("begaran", request_id.clone())]);
            w.leaf("Till", &party_attributes(to), "");
            if let Some(physician) = physician {
                w.leaf("Lakare", &[("hsaId", physician.to_string())], "");
            }
            if let Some(at) = examined_at {
                w.text("Undersokt", &local(*at));
            }
            w.close("LvmLakarintyg");
        }
        EventKind::LvmTransportArranged {
            decision_id,
            transport_at,
        } => {
            w.open("TransportOrdnad", &[("beslut", decision_id.clone())]);
            if let Some(at) = transport_at {
                w.text("Tid", &local(*at));
            }
            w.close("TransportOrdnad");
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The municipality's own steps, acknowledgements and consents. Whether `kind` is one of them.
fn municipal_step(
    w: &mut Writer,
    kind: &EventKind,
    codes: &CodeTables,
) -> Result<bool, EncodeError> {
    match kind {
        EventKind::ServicesDecided {
            decision_id,
            decided_on,
            services,
            ..
        } => {
            w.open("BeviljadeInsatser", &[("beslut", decision_id.clone())]);
            if let Some(decided_on) = decided_on {
                w.text("Beslutsdatum", &date(*decided_on));
            }
            for service in services {
                w.open("Insats", &[]);
                w.text(
                    "Insatstyp",
                    &code(&codes.service_type, "service_type", service.service_type)?,
                );
                if let Some(description) = &service.description {
                    w.text("Beskrivning", description.expose());
                }
                if let Some(extent) = &service.extent {
                    w.text("Omfattning", extent);
                }
                if let Some(from) = service.starts_on {
                    w.text("Fran", &date(from));
                }
                w.close("Insats");
            }
            w.close("BeviljadeInsatser");
        }
        EventKind::ReadyToReceive { from, .. } => {
            w.open("RedoAttTaEmot", &[]);
            if let Some(at) = from {
                w.text("FranOchMed", &local(*at));
            }
            w.close("RedoAttTaEmot");
        }
        EventKind::MessageAcknowledged { message_id, .. } => {
            w.leaf("Kvittens", &[("meddelande", message_id.clone())], "");
        }

        EventKind::ConsentRecorded {
            consent_id,
            scope,
            provision,
            principals,
            recipients,
            categories,
            valid_from,
            valid_until,
        } => {
            let mut attributes = vec![
                ("id", consent_id.clone()),
                (
                    "omfattning",
                    code(&codes.consent_scope, "consent_scope", *scope)?,
                ),
            ];
            if *provision != Default::default() {
                attributes.push(("beslut", code(&codes.provision, "provision", *provision)?));
            }
            let empty = principals.is_empty()
                && recipients.is_empty()
                && categories.is_empty()
                && valid_from.is_none()
                && valid_until.is_none();
            if empty {
                w.leaf("Samtycke", &attributes, "");
            } else {
                w.open("Samtycke", &attributes);
                for principal in principals {
                    w.text(
                        "Huvudman",
                        &code(&codes.principal, "principal", Some(*principal))?,
                    );
                }
                for recipient in recipients {
                    w.leaf("Mottagare", &party_attributes(recipient), "");
                }
                for category in categories {
                    w.text(
                        "Informationsslag",
                        &code(
                            &codes.information_category,
                            "information_category",
                            *category,
                        )?,
                    );
                }
                if let Some(at) = valid_from {
                    w.text("GallerFran", &local(*at));
                }
                if let Some(at) = valid_until {
                    w.text("GallerTill", &local(*at));
                }
                w.close("Samtycke");
            }
        }
        EventKind::ConsentWithdrawn { consent_id } => {
            w.leaf("SamtyckeAterkallat", &[("id", consent_id.clone())], "");
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Writes `message` as a Cosmic Link message.
pub fn encode(message: &CanonicalMessage, codes: &CodeTables) -> Result<String, EncodeError> {
    let event = &message.event;
    let sender = match &event.kind {
        EventKind::AdmissionNotice { ward, .. } => Some(Party::RegionUnit {
            hsa_id: ward.clone(),
        }),
        _ => event.source.sender.clone(),
    };
    if !crate::formats::cosmic_link::decode::carries_message_id(&event.source.message_id) {
        return Err(EncodeError::MessageIdNotInContract(
            event.source.message_id.len(),
        ));
    }
    if let EventKind::SipResponse { responder, .. } = &event.kind
        && sender.as_ref() != Some(responder)
    {
        return Err(EncodeError::ResponderIsNotTheSender {
            responder: responder.clone(),
            sender: sender
                .as_ref()
                .map_or_else(|| "none".to_owned(), |s| s.to_string()),
        });
    }
    match &sender {
        Some(party @ Party::Municipality { unit: None, .. }) => {
            return Err(EncodeError::SenderWithoutHsaId(party.clone()));
        }
        Some(_) => {}
        // brygga's own steps are written with `<Avsandare system="brygga">`.
        None if event.kind.recorded_by_the_gateway() => {}
        None => return Err(EncodeError::NoSender),
    }
    let mut w = Writer {
        out: String::with_capacity(2048),
        depth: 0,
    };
    w.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    w.open(
        "CosmicLinkMeddelande",
        &[
            ("xmlns", NAMESPACE.to_owned()),
            ("version", "1.0".to_owned()),
        ],
    );
    w.open("Huvud", &[]);
    w.text("MeddelandeId", &event.source.message_id);
    w.text("Skapad", &local(message.sent_at));
    match &sender {
        Some(sender) => w.leaf(
            "Avsandare",
            &party_attributes(sender),
            message.sender_name.as_deref().unwrap_or(""),
        ),
        None => w.leaf(
            "Avsandare",
            &[("system", GATEWAY_SYSTEM.to_owned())],
            message.sender_name.as_deref().unwrap_or(""),
        ),
    }
    if crate::domain::identifiers::HsaId::parse(&message.case.issuer).is_err() {
        return Err(EncodeError::CaseNotNumberedByACareProvider(
            message.case.issuer.clone(),
        ));
    }
    w.leaf(
        "Samordningsarende",
        &[
            ("id", message.case.value.clone()),
            ("vardgivare", message.case.issuer.clone()),
        ],
        "",
    );
    w.close("Huvud");
    let details = match &event.kind {
        EventKind::AdmissionNotice { person, .. } => Some(person),
        _ => None,
    };
    patient(&mut w, &message.person, details, message.protected_identity);

    step(&mut w, &event.kind, codes, sender.as_ref())?;
    w.close("CosmicLinkMeddelande");
    Ok(w.out)
}
