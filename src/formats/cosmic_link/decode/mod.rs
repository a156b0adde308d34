//! Decoding a Cosmic Link message into a canonical message.
//!
//! Every error names the element path and its line and column. Elements and attributes the
//! contract does not map are returned as warnings, never dropped in silence.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};

use super::codes::{AnswerKind, CodeTables, Table};
use super::{FORMAT, NAMESPACE};
use crate::domain::event::{
    Address, Attendee, DecidedService, Event, EventKind, EventSource, InvitedFunction,
    MeetingPlace, ParticipantAnswer, Person, PersonName, PlanActivity, SipAnswer,
};
use crate::domain::identifiers::{
    HsaId, Kommunkod, PersonId, Personnummer, ReserveNumber, Samordningsnummer,
};
use crate::domain::party::Party;
use crate::domain::sensitive::Sensitive;
use crate::formats::canonical::{CanonicalMessage, CaseReference, event_id};
use crate::formats::xml::{self, Element, Position, XmlError};

mod follow_up;
mod steps;
use follow_up::{deviation_step, social_step};
use steps::{StepHead, discharge_step, lvm_step, municipal_step, sip_step};

/// The steps brygga writes itself (`<Avsandare system="brygga">`): the deviations it raises
/// from what it holds, their reminders, and missed deadlines. Every other step is sent by a
/// unit.
pub const GATEWAY_STEPS: &[&str] = &["Avvikelse", "AvvikelsePaminnelse", "TidsfristPasserad"];

/// The value of `<Avsandare system="…">` on a message brygga wrote itself.
pub const GATEWAY_SYSTEM: &str = "brygga";

/// The process steps of the contract, by element name.
pub const STEPS: &[&str] = &[
    "Inskrivningsmeddelande",
    "AndradBeraknadUtskrivning",
    "FastVardkontakt",
    "PlaneringPaborjad",
    "Utskrivningsklar",
    "UtskrivningsklarAterkallad",
    "KallelseSip",
    "SvarKallelse",
    "SvarPaKommunensKallelse",
    "Plan",
    "InformationVidUtskrivning",
    "Utskriven",
    "ArendeAvslutat",
    "LvmAnmalan",
    "LvmBeslut",
    "TransportOrdnad",
    "LvmLakarintygBegart",
    "LvmLakarintyg",
    "BeviljadeInsatser",
    "RedoAttTaEmot",
    "Kvittens",
    "Samtycke",
    "SamtyckeAterkallat",
    "SipMoteHallet",
    "Orosanmalan",
    "AterkopplingOrosanmalan",
    "Placering",
    "KostnadsfordelningOverenskommen",
    "Avvikelse",
    "AvvikelseKvitterad",
    "AvvikelseBesvarad",
    "AvvikelsePaminnelse",
    "TidsfristPasserad",
];

/// Why a message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosmicLinkError {
    #[error("{0}")]
    Xml(#[from] XmlError),
    #[error("the root element is <{found}>; a Cosmic Link message is <CosmicLinkMeddelande>")]
    Root { found: String },
    #[error(
        "{path} ({position}) is in namespace {found:?}; the contract's namespace is {NAMESPACE:?}"
    )]
    Namespace {
        path: String,
        position: Position,
        found: String,
    },
    #[error("{path} ({position}): missing {what}")]
    Missing {
        path: String,
        position: Position,
        what: String,
    },
    #[error("{path} ({position}): {problem}")]
    Invalid {
        path: String,
        position: Position,
        problem: String,
    },
    #[error("{path} ({position}): unknown code {code:?}; expected one of {expected}")]
    UnknownCode {
        path: String,
        position: Position,
        code: String,
        expected: String,
    },
    #[error("the message has no process step; expected one of {}", STEPS.join(", "))]
    NoStep,
    #[error("{path} ({position}): a message carries one process step, but it also has <{first}>")]
    SeveralSteps {
        path: String,
        position: Position,
        first: String,
    },
}

impl CosmicLinkError {
    /// The element path the error is about, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            CosmicLinkError::Namespace { path, .. }
            | CosmicLinkError::Missing { path, .. }
            | CosmicLinkError::Invalid { path, .. }
            | CosmicLinkError::UnknownCode { path, .. }
            | CosmicLinkError::SeveralSteps { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// A decoded message and what in it was not mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub message: CanonicalMessage,
    pub warnings: Vec<String>,
}

type Result<T> = std::result::Result<T, CosmicLinkError>;

/// An element of the message, for reading values with precise errors. Its path is computed
/// from the root only when an error names it.
#[derive(Clone, Copy)]
struct Node<'a> {
    el: &'a Element<'a>,
    root: &'a Element<'a>,
}

/// The path (`/CosmicLinkMeddelande/Plan/Insats`) of `target` below `el`.
fn path_below(el: &Element, target: &Element, path: &mut String) -> bool {
    let len = path.len();
    path.push('/');
    path.push_str(el.name);
    if std::ptr::eq(el, target) {
        return true;
    }
    if el.children.iter().any(|c| path_below(c, target, path)) {
        return true;
    }
    path.truncate(len);
    false
}

impl<'a> Node<'a> {
    fn new(el: &'a Element<'a>, root: &'a Element<'a>) -> Self {
        el.mark();
        Node { el, root }
    }

    fn path(&self) -> String {
        let mut path = String::new();
        path_below(self.root, self.el, &mut path);
        path
    }

    fn child(&self, name: &str) -> Option<Node<'a>> {
        self.el.child(name).map(|el| Node::new(el, self.root))
    }

    fn children(&self, name: &str) -> Vec<Node<'a>> {
        self.el
            .children
            .iter()
            .filter(|el| el.name == name)
            .map(|el| Node::new(el, self.root))
            .collect()
    }

    fn required(&self, name: &str) -> Result<Node<'a>> {
        self.child(name).ok_or_else(|| CosmicLinkError::Missing {
            path: self.path(),
            position: self.el.position,
            what: format!("required element <{name}>"),
        })
    }

    fn invalid(&self, problem: impl Into<String>) -> CosmicLinkError {
        CosmicLinkError::Invalid {
            path: self.path(),
            position: self.el.position,
            problem: problem.into(),
        }
    }

    /// The element's text, which must not be empty.
    fn text(&self) -> Result<&'a str> {
        let text = self.el.text();
        if text.is_empty() {
            return Err(self.invalid("is empty"));
        }
        Ok(text)
    }

    fn attribute(&self, name: &str) -> Option<&'a str> {
        self.el.attribute(name)
    }

    fn required_attribute(&self, name: &str) -> Result<&'a str> {
        match self.attribute(name) {
            Some(v) if !v.trim().is_empty() => Ok(v.trim()),
            Some(_) => Err(self.invalid(format!("attribute {name} is empty"))),
            None => Err(CosmicLinkError::Missing {
                path: self.path(),
                position: self.el.position,
                what: format!("required attribute {name}"),
            }),
        }
    }

    fn required_text(&self, name: &str) -> Result<&'a str> {
        self.required(name)?.text()
    }

    fn optional_text(&self, name: &str) -> Result<Option<&'a str>> {
        self.child(name).map(|n| n.text()).transpose()
    }

    /// An optional child's text as personal data.
    fn optional_sensitive(&self, name: &str) -> Result<Option<Sensitive<String>>> {
        Ok(self
            .optional_text(name)?
            .map(|t| Sensitive::new(t.to_owned())))
    }

    /// An event id (a UUID) in attribute `name`, when present.
    fn event_id_attribute(&self, name: &str) -> Result<Option<crate::domain::event::EventId>> {
        self.attribute(name)
            .map(|value| {
                uuid::Uuid::parse_str(value.trim())
                    .map(crate::domain::event::EventId)
                    .map_err(|_| {
                        self.invalid(format!(
                            "attribute {name}: {value:?} is not an event id (a UUID)"
                        ))
                    })
            })
            .transpose()
    }

    /// An optional code in attribute `name`.
    fn optional_code_attribute<T: Copy + PartialEq>(
        &self,
        name: &str,
        table: &Table<T>,
    ) -> Result<Option<T>> {
        match self.attribute(name) {
            Some(_) => self.code_attribute(name, table).map(Some),
            None => Ok(None),
        }
    }

    fn timestamp(&self) -> Result<Timestamp> {
        parse_timestamp(self.text()?).map_err(|problem| self.invalid(problem))
    }

    fn date(&self) -> Result<Date> {
        let text = self.text()?;
        text.parse::<Date>()
            .map_err(|_| self.invalid(format!("{text:?} is not a date (YYYY-MM-DD)")))
    }

    fn boolean(&self) -> Result<bool> {
        match self.text()? {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(self.invalid(format!("{other:?} is not true or false"))),
        }
    }

    fn hsa_attribute(&self, name: &str) -> Result<HsaId> {
        let value = self.required_attribute(name)?;
        HsaId::parse(value)
            .map_err(|e| self.invalid(format!("attribute {name}: HSA-id {value:?} {e}")))
    }

    fn optional_hsa_attribute(&self, name: &str) -> Result<Option<HsaId>> {
        match self.attribute(name) {
            None => Ok(None),
            Some(_) => self.hsa_attribute(name).map(Some),
        }
    }

    fn kommunkod(&self, value: &str) -> Result<Kommunkod> {
        Kommunkod::parse(value)
            .map_err(|e| self.invalid(format!("municipality code {value:?} {e}")))
    }

    /// A party from `kommunkod` (a municipality, optionally narrowed by `hsaId`) or `hsaId`
    /// alone (a region unit).
    fn party(&self) -> Result<Party> {
        match self.attribute("kommunkod") {
            Some(code) => Ok(Party::Municipality {
                kommunkod: self.kommunkod(code)?,
                unit: self.optional_hsa_attribute("hsaId")?,
            }),
            None => Ok(Party::RegionUnit {
                hsa_id: self.hsa_attribute("hsaId")?,
            }),
        }
    }

    fn code<T: Copy + PartialEq>(&self, table: &Table<T>) -> Result<T> {
        let code = self.text()?;
        self.lookup(code, table)
    }

    fn code_attribute<T: Copy + PartialEq>(&self, name: &str, table: &Table<T>) -> Result<T> {
        let code = self.required_attribute(name)?;
        table
            .decode(code)
            .ok_or_else(|| CosmicLinkError::UnknownCode {
                path: format!("{}/@{name}", self.path()),
                position: self.el.position,
                code: code.to_owned(),
                expected: table.codes().join(", "),
            })
    }

    fn lookup<T: Copy + PartialEq>(&self, code: &str, table: &Table<T>) -> Result<T> {
        table
            .decode(code)
            .ok_or_else(|| CosmicLinkError::UnknownCode {
                path: self.path(),
                position: self.el.position,
                code: code.to_owned(),
                expected: table.codes().join(", "),
            })
    }
}

/// A date-time with an offset, or a local date-time in Europe/Stockholm.
fn parse_timestamp(text: &str) -> std::result::Result<Timestamp, String> {
    let time = text.split_once('T').map(|(_, time)| time).unwrap_or("");
    if time.ends_with(['Z', 'z']) || time.contains(['+', '-']) {
        return text.parse::<Timestamp>().map_err(|_| {
            format!("{text:?} is not a date-time with offset (YYYY-MM-DDThh:mm:ss+01:00)")
        });
    }
    let local: DateTime = text.parse().map_err(|_| {
        format!("{text:?} is not a date-time (YYYY-MM-DDThh:mm:ss, local Swedish time)")
    })?;
    crate::domain::time::swedish_local(local).map(|read| read.at)
}

/// A warning for each local date-time in the document that the wall clock shows twice (the
/// autumn night): it was read as the first occurrence (`parse_timestamp`), which the sender
/// may not have meant.
fn shown_twice(el: &Element, path: &mut Vec<String>, warnings: &mut Vec<String>) {
    path.push(el.name.to_owned());
    let text = el.text();
    let time = text.split_once('T').map(|(_, time)| time).unwrap_or("");
    if !time.is_empty()
        && !time.ends_with(['Z', 'z'])
        && !time.contains(['+', '-'])
        && let Ok(local) = text.parse::<DateTime>()
        && crate::domain::time::swedish_local(local).is_ok_and(|read| read.twice)
    {
        let where_ = format!("/{} (line {})", path.join("/"), el.position.line);
        warnings.push(crate::domain::time::twice_warning(
            &where_,
            local,
            crate::domain::time::Offsets::Allowed,
        ));
    }
    for child in &el.children {
        shown_twice(child, path, warnings);
    }
    path.pop();
}

/// Checks that every element is in the contract's namespace; returns the path of the first
/// that is not (built only then).
fn check_namespaces<'a>(el: &'a Element<'a>, path: &mut Vec<&'a str>) -> Result<()> {
    path.push(el.name);
    if el.namespace.as_deref() != Some(NAMESPACE) {
        return Err(CosmicLinkError::Namespace {
            path: format!("/{}", path.join("/")),
            position: el.position,
            found: el.namespace.as_deref().unwrap_or("(none)").to_owned(),
        });
    }
    for child in &el.children {
        check_namespaces(child, path)?;
    }
    path.pop();
    Ok(())
}

fn person_id(patient: &Node<'_>, today: Date) -> Result<PersonId> {
    let candidates = [
        patient.child("Personnummer"),
        patient.child("Samordningsnummer"),
        patient.child("Reservnummer"),
    ];
    let mut present = candidates.iter().flatten();
    let Some(node) = present.next() else {
        return Err(CosmicLinkError::Missing {
            path: patient.path(),
            position: patient.el.position,
            what: "one of <Personnummer>, <Samordningsnummer> or <Reservnummer>".to_owned(),
        });
    };
    if let Some(second) = present.next() {
        return Err(second.invalid("a patient has one identifier, but several were given"));
    }
    let value = node.text()?;
    let id = match node.el.name {
        "Personnummer" => Personnummer::parse_on(value, today)
            .map(PersonId::Personnummer)
            .map_err(|e| node.invalid(format!("personnummer {e}")))?,
        "Samordningsnummer" => Samordningsnummer::parse_on(value, today)
            .map(PersonId::Samordningsnummer)
            .map_err(|e| node.invalid(format!("samordningsnummer {e}")))?,
        _ => ReserveNumber::parse(value)
            .map(PersonId::ReserveNumber)
            .map_err(|e| node.invalid(format!("reserve number {e}")))?,
    };
    Ok(id)
}

fn person(patient: &Node<'_>, id: PersonId, warnings: &mut Vec<String>) -> Result<Person> {
    let protected_identity = match patient.child("SkyddadIdentitet") {
        Some(node) => node.boolean()?,
        None => false,
    };
    let name = PersonName {
        given: Sensitive::new(patient.required_text("Fornamn")?.to_owned()),
        family: Sensitive::new(patient.required_text("Efternamn")?.to_owned()),
    };
    let registered_address = match patient.child("Folkbokforingsadress") {
        None => None,
        Some(address) if protected_identity => {
            address.el.mark_all();
            warnings.push(format!(
                "{}/Folkbokforingsadress: the person has protected identity; the address was not stored",
                patient.path()
            ));
            None
        }
        Some(address) => Some(Address {
            street: Sensitive::new(address.required_text("Gatuadress")?.to_owned()),
            postal_code: Sensitive::new(address.required_text("Postnummer")?.to_owned()),
            city: Sensitive::new(address.required_text("Postort")?.to_owned()),
            municipality: match address.child("Kommunkod") {
                Some(node) => Some(node.kommunkod(node.text()?)?),
                None => None,
            },
        }),
    };
    Ok(Person {
        id,
        name,
        registered_address,
        protected_identity,
    })
}

fn answer(step: &Node<'_>, codes: &CodeTables) -> Result<SipAnswer> {
    let kind = step.required("Svar")?.code(&codes.answer)?;
    Ok(match kind {
        AnswerKind::Accepted => SipAnswer::Accepted,
        AnswerKind::Declined => SipAnswer::Declined {
            reason: Sensitive::new(step.required_text("Motivering")?.to_owned()),
        },
        AnswerKind::ProposedOtherTime => SipAnswer::ProposedOtherTime {
            proposed_at: step.required("ForeslagenTid")?.timestamp()?,
            reason: step
                .optional_text("Motivering")?
                .map(|t| Sensitive::new(t.to_owned())),
        },
    })
}

/// Whether a Cosmic Link `MeddelandeId` can be `id`: at most 128 bytes, no control characters.
pub fn carries_message_id(id: &str) -> bool {
    id.len() <= 128 && !id.chars().any(char::is_control)
}

/// Decodes a Cosmic Link message. `today` anchors the century of 10-digit personnummer.
pub fn decode(bytes: &[u8], codes: &CodeTables, today: Date) -> Result<Decoded> {
    decode_sent(bytes, None, codes, today)
}

/// [`decode`] of a message that came labelled with an encoding (an HTTP `charset`), which
/// counts when the document does not say its own.
pub fn decode_sent(
    bytes: &[u8],
    charset: Option<&str>,
    codes: &CodeTables,
    today: Date,
) -> Result<Decoded> {
    let (text, limits) =
        crate::formats::encoding::utf8_within(bytes, charset, &xml::Limits::default())?;
    let root_el = xml::parse_within(&text, &limits)?;
    if root_el.name != "CosmicLinkMeddelande" {
        return Err(CosmicLinkError::Root {
            found: root_el.name.to_owned(),
        });
    }
    check_namespaces(&root_el, &mut Vec::new())?;
    let root = Node::new(&root_el, &root_el);
    let version = root.required_attribute("version")?;
    if version != "1.0" {
        return Err(root.invalid(format!(
            "version {version:?} is not supported; this gateway reads version \"1.0\""
        )));
    }

    let head = root.required("Huvud")?;
    let message_id = head.required_text("MeddelandeId")?.to_owned();
    if !carries_message_id(&message_id) {
        return Err(head
            .required("MeddelandeId")?
            .invalid("a message id has at most 128 printable characters"));
    }
    let sent_at = head.required("Skapad")?.timestamp()?;
    let sender_node = head.required("Avsandare")?;
    let sender = match sender_node.attribute("system") {
        None => Some(sender_node.party()?),
        Some(GATEWAY_SYSTEM) => None,
        Some(other) => {
            return Err(sender_node.invalid(format!(
                "system {other:?} is not known; a message is sent by a unit (hsaId, kommunkod), \
                 or names system=\"{GATEWAY_SYSTEM}\" when brygga wrote it"
            )));
        }
    };
    let sender_name = Some(sender_node.el.text())
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let case_node = head.required("Samordningsarende")?;
    let case_value = case_node.required_attribute("id")?.to_owned();
    let care_provider = case_node.hsa_attribute("vardgivare")?;
    let case = CaseReference {
        issuer: care_provider.to_string(),
        value: case_value,
    };

    let patient = root.required("Patient")?;
    let person_id = person_id(&patient, today)?;
    // Any message may say that the person's identity is protected.
    let protected_identity = match patient.child("SkyddadIdentitet") {
        Some(node) => node.boolean()?,
        None => false,
    };

    let mut steps = root_el
        .children
        .iter()
        .filter(|c| c.name != "Huvud" && c.name != "Patient");
    let step_el = steps.next().ok_or(CosmicLinkError::NoStep)?;
    if let Some(extra) = steps.next() {
        return Err(CosmicLinkError::SeveralSteps {
            path: format!("/CosmicLinkMeddelande/{}", extra.name),
            position: extra.position,
            first: step_el.name.to_owned(),
        });
    }
    let step = Node::new(step_el, &root_el);
    if sender.is_none() && !GATEWAY_STEPS.contains(&step_el.name) {
        return Err(sender_node.invalid(format!(
            "<{}> is sent by a unit with an hsaId; only brygga's own steps ({}) name \
             system=\"{GATEWAY_SYSTEM}\"",
            step_el.name,
            GATEWAY_STEPS.join(", ")
        )));
    }
    let mut warnings = Vec::new();
    let head = StepHead {
        step,
        sent_at,
        sender: sender.as_ref(),
        sender_node,
        codes,
        patient,
        person_id: &person_id,
    };
    let read = match discharge_step(&head, &mut warnings)? {
        Some(read) => Some(read),
        None => match sip_step(&head)? {
            Some(read) => Some(read),
            None => match lvm_step(&head)? {
                Some(read) => Some(read),
                None => match municipal_step(&head)? {
                    Some(read) => Some(read),
                    None => match social_step(&head)? {
                        Some(read) => Some(read),
                        None => deviation_step(&head)?,
                    },
                },
            },
        },
    };
    let Some((occurred_at, kind)) = read else {
        let other = step_el.name;
        return Err(CosmicLinkError::Invalid {
            path: step.path(),
            position: step.el.position,
            problem: format!(
                "<{other}> is not a process step of the contract; expected one of {}",
                STEPS.join(", ")
            ),
        });
    };

    let event = Event {
        id: event_id(FORMAT, &case.issuer, &message_id),
        occurred_at,
        source: EventSource {
            local_codes: Default::default(),
            format: FORMAT.to_owned(),
            message_id,
            sender,
        },
        kind,
    };
    warnings.extend(root_el.unconsumed().iter().map(ToString::to_string));
    shown_twice(&root_el, &mut Vec::new(), &mut warnings);
    Ok(Decoded {
        message: CanonicalMessage {
            case,
            person: person_id,
            sent_at,
            sender_name,
            recipient: None,
            protected_identity,
            event,
        },
        warnings,
    })
}
