//! FHIR R4 JSON → canonical message: a Bundle as brygga renders it, a Task a FHIR client
//! creates or updates (a municipality accepting an invitation, starting its planning), or a
//! CarePlan it posts.
//!
//! Every element the mapping does not read is returned as a warning with its path, and every
//! element fhir-sdk's R4 models do not know is reported too: nothing a client sent is dropped in
//! silence. The contract is in `mappings/fhir/README.md`.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;

use super::codes::{PROCESS_STEP, TASK_INPUT};
use super::json::{Doc, FhirReadError, Node, Result};
use super::render::{
    ANSWER, CASE_REFERENCE, CONFIDENTIALITY, CONSENT_ID, EXT_CASE, EXT_FOLLOW_UP, EXT_MUNICIPALITY,
    EXT_NEXT_OF_KIN, EXT_OVERALL, EXT_RESPONSIBLE, EXT_SERVICE_DESCRIPTION, EXT_SERVICE_EXTENT,
    EXT_SERVICE_START, MESSAGE_ID, PLAN_TYPE, SERVICE_TYPE, STEP_CODES,
};
use crate::domain::event::{
    Address, DecidedService, Event, EventKind, EventSource, InvitedFunction, LvmDecisionKind,
    MeetingPlace, Person, PersonName, PlanActivity, PlanType, ServiceType, SipAnswer,
};
use crate::domain::identifiers::{
    HsaId, Kommunkod, PersonId, Personnummer, ReserveNumber, Samordningsnummer, systems,
};
use crate::domain::party::{Party, Principal};
use crate::domain::sensitive::Sensitive;
use crate::formats::canonical::{CanonicalMessage, CaseReference, event_id};
use follow_up::GATEWAY_STEP_CODES;

/// The format name of events read from FHIR by clients (not re-read brygga renderings).
pub const FORMAT: &str = "fhir";

/// A message read from FHIR and what in the input was not carried on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirRead {
    pub message: CanonicalMessage,
    pub warnings: Vec<String>,
}

mod consent;
mod follow_up;
mod plan;
mod task;

/// Reads a FHIR R4 JSON document: checks it against fhir-sdk's R4 models, then maps it.
pub fn read(input: &[u8], today: Date) -> Result<FhirRead> {
    let value: Value =
        crate::formats::strict_json::parse(input).map_err(|e| FhirReadError::Json {
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
    // The mapping first, for errors that name the element; then the models, for the validity
    // of what the mapping does not read and for elements R4 does not have.
    let mut read = read_value(&value, today)?;
    let checked =
        brygga_fhir::check_value(&value).map_err(|e| FhirReadError::Model(e.to_string()))?;
    if !checked.invalid.is_empty() {
        return Err(FhirReadError::Model(format!(
            "not valid FHIR R4: {}",
            checked.invalid.join(", ")
        )));
    }
    if !checked.lost.is_empty() {
        read.warnings.retain(|w| {
            !checked
                .lost
                .iter()
                .any(|lost| w.split(':').next() == Some(lost.as_str()))
        });
        read.warnings.extend(
            checked
                .lost
                .iter()
                .map(|path| format!("{path}: not an element of FHIR R4; not carried on")),
        );
        read.warnings.sort();
    }
    Ok(read)
}

/// Maps an already parsed document (without the model check of [`read`]).
pub fn read_value(value: &Value, today: Date) -> Result<FhirRead> {
    let doc = Doc::new(value)?;
    let root = doc.root();
    let resource_type = root.required_str("resourceType", "the resource type")?;
    let mut reader = Reader {
        today,
        resources: HashMap::new(),
    };
    let message = match resource_type {
        "Bundle" => reader.bundle(root)?,
        "Task" => reader.tasks(&[root])?,
        "CarePlan" => reader.plan_message(root)?,
        other => {
            return Err(root.required("resourceType", "")?.invalid(format!(
                "brygga reads a Task, a CarePlan, or a Bundle of them with their Patient; this resource is of type {other}"
            )));
        }
    };
    let warnings = doc
        .unread()
        .into_iter()
        .map(|path| format!("{path}: not mapped; not carried on"))
        .collect();
    Ok(FhirRead { message, warnings })
}

pub(super) struct Reader<'a> {
    pub(super) today: Date,
    /// Bundle entries by `fullUrl` and by `Type/id`.
    pub(super) resources: HashMap<String, Node<'a>>,
}

/// The code of the first coding from `system` in a CodeableConcept (or a Coding), marking it
/// read; codings from other systems are left for the unread report.
pub(super) fn code_in<'a>(concept: Node<'a>, system: &str) -> Result<Option<&'a str>> {
    let codings = if concept.v.get("coding").is_some() {
        concept.unread_items("coding")?
    } else {
        vec![concept]
    };
    for coding in codings {
        if coding.v.get("system").and_then(Value::as_str) == Some(system) {
            coding.mark();
            coding.touch("system");
            coding.touch("display");
            coding.touch("version");
            return Ok(Some(coding.required_str("code", "the code")?));
        }
    }
    concept.touch("text");
    Ok(None)
}

fn required_code<'a>(concept: Node<'a>, system: &str, what: &str) -> Result<&'a str> {
    code_in(concept, system)?
        .ok_or_else(|| concept.invalid(format!("no coding from {system}: {what}")))
}

fn plan_type(node: Node<'_>) -> Result<PlanType> {
    match required_code(node, PLAN_TYPE, "the plan type (SIP, SPU or SPLPTLRV)")? {
        "SIP" => Ok(PlanType::Sip),
        "SPU" => Ok(PlanType::Spu),
        "SPLPTLRV" => Ok(PlanType::Splptlrv),
        other => Err(node.invalid(format!(
            "unknown plan type {other:?}; expected SIP, SPU or SPLPTLRV"
        ))),
    }
}

fn principal(node: Node<'_>) -> Result<Option<Principal>> {
    match node.str()? {
        "region" => Ok(Some(Principal::Region)),
        "municipality" => Ok(Some(Principal::Municipality)),
        "other" => Ok(None),
        other => Err(node.invalid(format!(
            "unknown principal {other:?}; expected region, municipality or other"
        ))),
    }
}

fn hsa_id(node: Node<'_>) -> Result<HsaId> {
    HsaId::parse(node.str()?).map_err(|e| node.invalid(e.to_string()))
}

/// `{prefix}{issuer}` → issuer.
fn issuer<'a>(node: Node<'a>, prefix: &str, what: &str) -> Result<&'a str> {
    node.str()?
        .strip_prefix(prefix)
        .filter(|rest| !rest.is_empty())
        .ok_or_else(|| node.invalid(format!("expected {prefix}<care provider HSA-id> ({what})")))
}

/// `<format>:<care provider>` of a message-id system (after its prefix).
fn message_id_system<'a>(identifier: Node<'_>, rest: &'a str) -> Result<(&'a str, &'a str)> {
    rest.rsplit_once(':')
        .ok_or_else(|| identifier.invalid(format!("expected {MESSAGE_ID}<format>:<care provider>")))
}

fn case_reference(identifier: Node<'_>) -> Result<CaseReference> {
    let system =
        identifier.required("system", "urn:brygga:case-reference:<care provider HSA-id>")?;
    Ok(CaseReference {
        issuer: issuer(system, CASE_REFERENCE, "whose numbering the case id is")?.to_owned(),
        value: identifier
            .required_str("value", "the samordningsärende id")?
            .to_owned(),
    })
}

/// The extensions of `node` with `url`, marked read.
fn extension<'a>(node: Node<'a>, url: &str) -> Result<Option<Node<'a>>> {
    for ext in node.unread_items("extension")? {
        if ext.v.get("url").and_then(Value::as_str) == Some(url) {
            ext.mark();
            ext.touch("url");
            return Ok(Some(ext));
        }
    }
    Ok(None)
}

/// Adds the recipient of `other`, a further Task of the same admission notice or invitation,
/// to `first`.
fn merge(
    first: &mut CanonicalMessage,
    mut other: CanonicalMessage,
) -> std::result::Result<(), &'static str> {
    enum More {
        Recipients(Vec<Party>),
        Invited(Vec<InvitedFunction>),
    }
    let more = match (&first.event.kind, &mut other.event.kind) {
        (
            EventKind::AdmissionNotice { recipients, .. },
            EventKind::AdmissionNotice {
                recipients: theirs, ..
            },
        ) => More::Recipients(std::mem::replace(theirs, recipients.clone())),
        (
            EventKind::SipInvitation { invited, .. },
            EventKind::SipInvitation {
                invited: theirs, ..
            },
        ) => More::Invited(std::mem::replace(theirs, invited.clone())),
        _ => {
            return Err(
                "a document carries one event, and this step has one Task; send each event on its own",
            );
        }
    };
    if other != *first {
        return Err(
            "this Task reports another event than the first Task; send each event on its own",
        );
    }
    match (&mut first.event.kind, more) {
        (EventKind::AdmissionNotice { recipients, .. }, More::Recipients(more)) => {
            recipients.extend(more)
        }
        (EventKind::SipInvitation { invited, .. }, More::Invited(more)) => invited.extend(more),
        _ => {}
    }
    Ok(())
}

/// What identifies, dates and places an event read from a document.
struct Envelope<'e> {
    format: &'e str,
    /// Whose numbering the message id is, for the event id.
    id_issuer: &'e str,
    message_id: String,
    case: CaseReference,
    person: PersonId,
    sent_at: Timestamp,
    occurred_at: Timestamp,
    /// `None` on a step brygga wrote itself (a missed deadline, a reminder, a deviation it
    /// raised).
    sender: Option<Party>,
    sender_name: Option<String>,
}

impl Envelope<'_> {
    fn message(self, kind: EventKind) -> CanonicalMessage {
        CanonicalMessage {
            event: Event {
                id: event_id(self.format, self.id_issuer, &self.message_id),
                occurred_at: self.occurred_at,
                source: EventSource {
                    local_codes: Default::default(),
                    format: self.format.to_owned(),
                    message_id: self.message_id,
                    sender: self.sender,
                },
                kind,
            },
            case: self.case,
            person: self.person,
            sent_at: self.sent_at,
            sender_name: self.sender_name,
            recipient: None,
            protected_identity: false,
        }
    }
}

/// Typed inputs (or outputs) of a Task, by their code in the task-input CodeSystem.
struct Inputs<'a> {
    items: Vec<Node<'a>>,
}

/// Whether `item` is a Task input typed `code` from the task-input CodeSystem.
fn is_input(item: &Node<'_>, code: &str) -> bool {
    item.v
        .get("type")
        .and_then(|t| t.get("coding"))
        .and_then(Value::as_array)
        .is_some_and(|codings| {
            codings.iter().any(|c| {
                c.get("system").and_then(Value::as_str) == Some(TASK_INPUT)
                    && c.get("code").and_then(Value::as_str) == Some(code)
            })
        })
}

impl<'a> Inputs<'a> {
    fn of(task: Node<'a>, key: &str) -> Result<Inputs<'a>> {
        Ok(Inputs {
            items: task.unread_items(key)?,
        })
    }

    /// The value node of the input `code`, checked to be `value_key`.
    fn get(&self, code: &str, value_key: &str) -> Result<Option<Node<'a>>> {
        for item in &self.items {
            if !is_input(item, code) {
                continue;
            }
            item.mark();
            item.touch("type");
            return match item.get(value_key) {
                Some(value) => Ok(Some(value)),
                None => Err(item.invalid(format!("the input {code} needs a {value_key}"))),
            };
        }
        Ok(None)
    }

    /// Every input `code` (in order), with its value checked to be `value_key`.
    fn all(&self, code: &str, value_key: &str) -> Result<Vec<(Node<'a>, Node<'a>)>> {
        let mut found = Vec::new();
        for item in &self.items {
            if !is_input(item, code) {
                continue;
            }
            item.mark();
            item.touch("type");
            match item.get(value_key) {
                Some(value) => found.push((*item, value)),
                None => return Err(item.invalid(format!("the input {code} needs a {value_key}"))),
            }
        }
        Ok(found)
    }

    /// Marks every input typed from the task-input CodeSystem as read: on a Task the gateway
    /// sent, those are what it sent. Inputs of other types are left for the unread report.
    fn consume_known(&self) {
        for item in &self.items {
            let known = item
                .v
                .get("type")
                .and_then(|t| t.get("coding"))
                .and_then(Value::as_array)
                .is_some_and(|codings| {
                    codings
                        .iter()
                        .any(|c| c.get("system").and_then(Value::as_str) == Some(TASK_INPUT))
                });
            if known {
                item.consume();
            }
        }
    }

    fn required(&self, at: Node<'a>, code: &str, value_key: &str) -> Result<Node<'a>> {
        self.get(code, value_key)?.ok_or_else(|| {
            at.invalid(format!(
                "missing the input {code} ({value_key}, type from {TASK_INPUT})"
            ))
        })
    }

    fn text(&self, code: &str) -> Result<Option<String>> {
        self.get(code, "valueString")?
            .map(|n| n.str().map(str::to_owned))
            .transpose()
    }

    fn timestamp(&self, code: &str) -> Result<Option<Timestamp>> {
        self.get(code, "valueDateTime")?
            .map(|n| n.timestamp())
            .transpose()
    }
}

impl<'a> Reader<'a> {
    fn bundle(&mut self, bundle: Node<'a>) -> Result<CanonicalMessage> {
        let kind = bundle.required_str("type", "the Bundle type")?;
        if !matches!(kind, "collection" | "transaction" | "batch") {
            return Err(bundle.required("type", "")?.invalid(format!(
                "a {kind} Bundle is not read; send a collection or transaction Bundle, or the Task or CarePlan alone"
            )));
        }
        for key in ["id", "meta", "timestamp", "identifier"] {
            bundle.touch(key);
        }
        let mut tasks = Vec::new();
        let mut plans = Vec::new();
        let mut consents = Vec::new();
        for entry in bundle
            .required("entry", "the Bundle's resources")?
            .items()?
        {
            let resource = entry.required("resource", "the entry's resource")?;
            entry.touch("request");
            let resource_type = resource.required_str("resourceType", "the resource type")?;
            if let Some(full_url) = entry.optional_str("fullUrl")? {
                self.resources.insert(full_url.to_owned(), resource);
            }
            if let Some(id) = resource.v.get("id").and_then(Value::as_str) {
                self.resources
                    .insert(format!("{resource_type}/{id}"), resource);
            }
            match resource_type {
                "Task" => tasks.push(resource),
                "CarePlan" => plans.push(resource),
                "Consent" => consents.push(resource),
                _ => {}
            }
        }
        match (tasks.is_empty(), plans.as_slice(), consents.as_slice()) {
            (false, _, _) => self.tasks(&tasks),
            (true, [plan], _) => self.plan_message(*plan),
            (true, [], [consent]) => self.consent_message(*consent),
            (true, _, _) => Err(bundle.invalid(
                "the Bundle has no Task, and not exactly one CarePlan or Consent: there is no process step to read",
            )),
        }
    }

    /// The resource a Reference points at, when it is in the document.
    fn resolve(&self, reference: Node<'a>) -> Result<Option<Node<'a>>> {
        let Some(target) = reference.optional_str("reference")? else {
            return Ok(None);
        };
        Ok(self.resources.get(target).copied())
    }

    /// The error for a Reference that has neither a resolvable target nor an identifier.
    fn unresolved(reference: Node<'a>, what: &str) -> FhirReadError {
        match reference.v.get("reference").and_then(Value::as_str) {
            Some(target) => reference.invalid(format!(
                "the reference {target:?} is not inside the document; give {what} in Reference.identifier"
            )),
            None => reference.invalid(format!("give {what} in Reference.identifier")),
        }
    }

    pub(super) fn person_id(&self, identifier: Node<'a>) -> Result<PersonId> {
        let system = identifier.required_str("system", "the identifier system")?;
        let value = identifier.required("value", "the identifier value")?;
        let text = value.str()?;
        let parsed = match system {
            systems::PERSONNUMMER => Personnummer::parse_on(text, self.today)
                .map(PersonId::Personnummer)
                .map_err(|e| e.to_string()),
            systems::SAMORDNINGSNUMMER => Samordningsnummer::parse_on(text, self.today)
                .map(PersonId::Samordningsnummer)
                .map_err(|e| e.to_string()),
            systems::NATIONAL_RESERVE_NUMBER => ReserveNumber::parse(text)
                .map(PersonId::ReserveNumber)
                .map_err(|e| e.to_string()),
            other => Err(format!(
                "{other:?} is not a Swedish person identifier system"
            )),
        };
        parsed.map_err(|problem| value.invalid(problem))
    }

    /// The person identifier of `identifiers` (the first with a Swedish person system).
    fn person_in(&self, owner: Node<'a>, identifiers: Vec<Node<'a>>) -> Result<PersonId> {
        let person_systems = [
            systems::PERSONNUMMER,
            systems::SAMORDNINGSNUMMER,
            systems::NATIONAL_RESERVE_NUMBER,
        ];
        for identifier in identifiers {
            let system = identifier.v.get("system").and_then(Value::as_str);
            if system.is_some_and(|s| person_systems.contains(&s)) {
                identifier.mark();
                return self.person_id(identifier);
            }
        }
        Err(owner.invalid(format!(
            "no identifier with a Swedish person system ({})",
            person_systems.join(", ")
        )))
    }

    /// The person a Task is `for` (or a CarePlan's `subject`), and the Patient resource when
    /// the document has it.
    fn person(&self, subject: Node<'a>) -> Result<(PersonId, Option<Node<'a>>)> {
        subject.touch("type");
        subject.touch("display");
        if let Some(patient) = self.resolve(subject)? {
            patient.touch("id");
            if let Some(meta) = patient.get("meta") {
                meta.touch("versionId");
                meta.touch("lastUpdated");
            }
            let id = self.person_in(patient, patient.unread_items("identifier")?)?;
            if let Some(identifier) = subject.get("identifier") {
                let other = self.person_in(subject, vec![identifier])?;
                if other != id {
                    return Err(subject.invalid(
                        "the identifier names another person than the Patient it refers to",
                    ));
                }
            }
            return Ok((id, Some(patient)));
        }
        match subject.get("identifier") {
            Some(identifier) => Ok((self.person_in(subject, vec![identifier])?, None)),
            None => Err(Self::unresolved(
                subject,
                "the person's identifier (or the Patient in the Bundle)",
            )),
        }
    }

    /// The statutory minimum of an admission notice, from the Patient resource.
    fn person_details(&self, id: PersonId, patient: Node<'a>) -> Result<Person> {
        let name = patient
            .first("name")?
            .ok_or_else(|| patient.invalid("missing: the person's name (Patient.name)"))?;
        name.touch("use");
        name.touch("text");
        let given = name
            .first("given")?
            .ok_or_else(|| name.invalid("missing: the given name"))?
            .str()?;
        let family = name.required_str("family", "the family name")?;
        let protected_identity = match patient.get("meta").map(|m| m.unread_items("security")) {
            Some(labels) => {
                let mut restricted = false;
                for label in labels? {
                    if label.v.get("system").and_then(Value::as_str) == Some(CONFIDENTIALITY)
                        && label.v.get("code").and_then(Value::as_str) == Some("R")
                    {
                        label.consume();
                        restricted = true;
                    }
                }
                restricted
            }
            None => false,
        };
        // A protected person's address is not read, so it is reported as not carried on.
        let address = match protected_identity {
            true => None,
            false => patient.first("address")?,
        };
        let registered_address = match address {
            Some(address) => {
                address.touch("use");
                address.touch("type");
                Some(Address {
                    street: Sensitive::new(
                        address
                            .first("line")?
                            .ok_or_else(|| address.invalid("missing: the street address (line)"))?
                            .str()?
                            .to_owned(),
                    ),
                    postal_code: Sensitive::new(
                        address
                            .required_str("postalCode", "the postal code")?
                            .to_owned(),
                    ),
                    city: Sensitive::new(address.required_str("city", "the city")?.to_owned()),
                    municipality: address
                        .get("district")
                        .map(|d| Kommunkod::parse(d.str()?).map_err(|e| d.invalid(e.to_string())))
                        .transpose()?,
                })
            }
            None => None,
        };
        Ok(Person {
            id,
            name: PersonName {
                given: Sensitive::new(given.to_owned()),
                family: Sensitive::new(family.to_owned()),
            },
            registered_address,
            protected_identity,
        })
    }

    /// A region unit or municipality from a Reference: its identifier, or the identifiers of
    /// the resource it refers to in the Bundle.
    pub(super) fn party(&self, reference: Node<'a>) -> Result<Party> {
        reference.touch("type");
        let identifiers = match (reference.get("identifier"), self.resolve(reference)?) {
            (Some(identifier), _) => vec![identifier],
            (None, Some(resource)) => {
                resource.touch("id");
                resource.touch("name");
                resource.unread_items("identifier")?
            }
            (None, None) => {
                return Err(Self::unresolved(
                    reference,
                    "the unit's HSA-id or the municipality code",
                ));
            }
        };
        let mut hsa = None;
        let mut kommunkod = None;
        for identifier in identifiers {
            let system = identifier.v.get("system").and_then(Value::as_str);
            let value = || identifier.required("value", "the identifier value");
            match system {
                Some(systems::HSA_ID | systems::HSA_ID_NATIONAL_PLATFORM) if hsa.is_none() => {
                    identifier.mark();
                    identifier.touch("system");
                    hsa = Some(hsa_id(value()?)?);
                }
                Some(systems::KOMMUNKOD) if kommunkod.is_none() => {
                    identifier.mark();
                    identifier.touch("system");
                    let node = value()?;
                    kommunkod = Some(
                        Kommunkod::parse(node.str()?).map_err(|e| node.invalid(e.to_string()))?,
                    );
                }
                _ => {}
            }
        }
        if let Some(ext) = extension(reference, EXT_MUNICIPALITY)? {
            let identifier = ext.required("valueIdentifier", "the municipality code")?;
            identifier.touch("system");
            let node = identifier.required("value", "the municipality code")?;
            let code = Kommunkod::parse(node.str()?).map_err(|e| node.invalid(e.to_string()))?;
            if kommunkod.is_some_and(|k| k != code) {
                return Err(
                    node.invalid("names another municipality than the reference's identifier")
                );
            }
            kommunkod = Some(code);
        }
        match (kommunkod, hsa) {
            (Some(kommunkod), unit) => Ok(Party::Municipality { kommunkod, unit }),
            (None, Some(hsa_id)) => Ok(Party::RegionUnit { hsa_id }),
            (None, None) => Err(reference.invalid(format!(
                "no HSA-id ({}) or municipality code ({}) identifier",
                systems::HSA_ID,
                systems::KOMMUNKOD
            ))),
        }
    }

    fn staff(&self, reference: Node<'a>) -> Result<HsaId> {
        match self.party(reference)? {
            Party::RegionUnit { hsa_id } => Ok(hsa_id),
            Party::Municipality { .. } => {
                Err(reference.invalid("expected a person's HSA-id, not a municipality"))
            }
        }
    }

    fn region_unit(&self, reference: Node<'a>, role: &str) -> Result<HsaId> {
        match self.party(reference)? {
            Party::RegionUnit { hsa_id } => Ok(hsa_id),
            Party::Municipality { .. } => Err(reference.invalid(format!(
                "{role} is a unit of the region, identified by its HSA-id"
            ))),
        }
    }
}
