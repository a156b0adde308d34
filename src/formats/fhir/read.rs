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

/// The format name of events read from FHIR by clients (not re-read brygga renderings).
pub const FORMAT: &str = "fhir";

/// A message read from FHIR and what in the input was not carried on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirRead {
    pub message: CanonicalMessage,
    pub warnings: Vec<String>,
}

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
    sender: Party,
    sender_name: Option<String>,
}

impl Envelope<'_> {
    fn message(self, kind: EventKind) -> CanonicalMessage {
        CanonicalMessage {
            event: Event {
                id: event_id(self.format, self.id_issuer, &self.message_id),
                occurred_at: self.occurred_at,
                source: EventSource {
                    format: self.format.to_owned(),
                    message_id: self.message_id,
                    sender: Some(self.sender),
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

    /// Reads the Tasks of one event (several where a step has one Task per recipient).
    fn tasks(&self, tasks: &[Node<'a>]) -> Result<CanonicalMessage> {
        let mut first = self.task(tasks[0])?;
        for task in &tasks[1..] {
            merge(&mut first, self.task(*task)?).map_err(|problem| task.invalid(problem))?;
        }
        Ok(first)
    }

    fn task(&self, task: Node<'a>) -> Result<CanonicalMessage> {
        let code = task.required("code", "the process step")?;
        let step = required_code(code, PROCESS_STEP, "the process step")?;
        if !STEP_CODES.contains(&step) {
            return Err(code.invalid(format!(
                "unknown process step {step:?}; expected one of {}",
                STEP_CODES.join(", ")
            )));
        }
        let status_node = task.required("status", "the Task's status")?;
        let status = status_node.str()?;
        task.touch("intent");
        task.touch("priority");
        // The deadline is the gateway's own computation from the policy, not the sender's.
        task.touch("restriction");
        if let Some(meta) = task.get("meta") {
            meta.touch("versionId");
            meta.touch("lastUpdated");
        }
        let case = case_reference(task.required(
            "groupIdentifier",
            "the samordningsärende (urn:brygga:case-reference:<care provider HSA-id>)",
        )?)?;
        let (person, patient) = self.person(task.required("for", "the person (Patient)")?)?;
        let owner = task.get("owner");

        let is_update = matches!(
            (step, status),
            ("admission-notice" | "sip-invitation", s) if s != "requested"
        );
        if is_update {
            return self.task_update(task, step, status_node, case, person);
        }

        task.touch("id");
        let identifier = task.first("identifier")?.ok_or_else(|| {
            task.invalid(
                "missing: Task.identifier, the id of the message, which makes a re-sent Task idempotent",
            )
        })?;
        let system = identifier.required_str("system", "whose message id it is")?;
        let message_id = identifier
            .required_str("value", "the message id")?
            .to_owned();
        let (format, id_issuer) = match system.strip_prefix(MESSAGE_ID) {
            Some(rest) => message_id_system(identifier, rest)?,
            None => (FORMAT, system),
        };
        let sent_at = match (task.get("authoredOn"), task.get("lastModified")) {
            (Some(at), _) | (None, Some(at)) => at.timestamp()?,
            (None, None) => {
                return Err(task.invalid("missing: authoredOn, when the step was reported"));
            }
        };
        let occurred_at = match task.get("executionPeriod") {
            Some(period) => match period.get("start") {
                Some(start) => start.timestamp()?,
                None => sent_at,
            },
            None => sent_at,
        };
        let requester = task.required("requester", "the sending unit")?;
        let sender = self.party(requester)?;
        let sender_name = requester.optional_str("display")?.map(str::to_owned);
        let owner_party = owner.map(|o| self.party(o)).transpose()?;
        let owner_required = |role: &str| {
            owner_party
                .clone()
                .ok_or_else(|| task.invalid(format!("missing: Task.owner, {role}")))
        };
        let inputs = Inputs::of(task, "input")?;
        let expected_status = match step {
            "admission-notice" | "sip-invitation" | "lvm-report" | "lvm-decision" => "requested",
            "planning-started" => "in-progress",
            "case-cancelled" => "cancelled",
            "sip-response" => "",
            _ => "completed",
        };
        if !expected_status.is_empty() && status != expected_status {
            return Err(status_node.invalid(format!(
                "a {step} Task has the status {expected_status}, not {status}"
            )));
        }

        let kind = match step {
            "admission-notice" => {
                let ward = match &sender {
                    Party::RegionUnit { hsa_id } => hsa_id.clone(),
                    Party::Municipality { .. } => {
                        return Err(requester.invalid(
                            "an admission notice is sent by a ward, identified by its HSA-id",
                        ));
                    }
                };
                let patient = patient.ok_or_else(|| {
                    task.invalid(
                        "an admission notice needs the Patient resource with the person's name: send it in a Bundle",
                    )
                })?;
                EventKind::AdmissionNotice {
                    person: self.person_details(person.clone(), patient)?,
                    ward,
                    admitted_at: inputs
                        .required(task, "admitted-at", "valueDateTime")?
                        .timestamp()?,
                    assessed_at: inputs.timestamp("assessed-at")?,
                    estimated_discharge: inputs
                        .get("estimated-discharge", "valueDate")?
                        .map(|n| n.date())
                        .transpose()?,
                    psychiatric: inputs
                        .get("psychiatric", "valueBoolean")?
                        .map(|n| n.bool())
                        .transpose()?
                        .unwrap_or(false),
                    recipients: vec![owner_required("the unit the notice is for")?],
                }
            }
            "estimated-discharge-changed" => EventKind::EstimatedDischargeChanged {
                estimated_discharge: inputs
                    .required(task, "estimated-discharge", "valueDate")?
                    .date()?,
            },
            "care-contact-appointed" => EventKind::CareContactAppointed {
                unit: match owner {
                    Some(owner) => self.region_unit(owner, "the care contact's unit")?,
                    None => {
                        return Err(task.invalid("missing: Task.owner, the care contact's unit"));
                    }
                },
                function: inputs
                    .required(task, "function", "valueString")?
                    .str()?
                    .to_owned(),
                name: inputs.text("name")?.map(Sensitive::new),
                staff_hsa_id: inputs
                    .get("staff", "valueReference")?
                    .map(|r| self.staff(r))
                    .transpose()?,
            },
            "planning-started" => EventKind::PlanningStarted {
                by: owner_required("the party that started its planning")?,
            },
            "ready-for-discharge" => EventKind::ReadyForDischarge {
                decided_at: inputs
                    .required(task, "decided-at", "valueDateTime")?
                    .timestamp()?,
                physician: inputs
                    .get("physician", "valueReference")?
                    .map(|r| self.staff(r))
                    .transpose()?,
            },
            "ready-for-discharge-revoked" => EventKind::ReadyForDischargeRevoked {
                reason: inputs.text("reason")?.map(Sensitive::new),
            },
            "sip-invitation" => {
                let place = match (
                    inputs.get("meeting-place", "valueString")?,
                    inputs.get("meeting-link", "valueUrl")?,
                ) {
                    (Some(place), None) => MeetingPlace::Address {
                        description: Sensitive::new(place.str()?.to_owned()),
                    },
                    (None, Some(link)) => MeetingPlace::Link {
                        url: link.str()?.to_owned(),
                    },
                    (None, None) => {
                        return Err(task.invalid("missing the input meeting-place or meeting-link"));
                    }
                    (Some(_), Some(link)) => {
                        return Err(link.invalid("give meeting-place or meeting-link, not both"));
                    }
                };
                EventKind::SipInvitation {
                    invitation_id: inputs
                        .required(task, "invitation-id", "valueString")?
                        .str()?
                        .to_owned(),
                    plan_type: plan_type(inputs.required(task, "plan-type", "valueCoding")?)?,
                    from: sender.clone(),
                    meeting_at: inputs
                        .required(task, "meeting-at", "valueDateTime")?
                        .timestamp()?,
                    place,
                    invited: vec![InvitedFunction {
                        party: owner_required("the invited party")?,
                        function: inputs
                            .required(task, "function", "valueString")?
                            .str()?
                            .to_owned(),
                    }],
                    consent_reference: inputs.text("consent-reference")?,
                }
            }
            "sip-response" => {
                let answer_node = inputs.required(task, "answer", "valueCoding")?;
                let reason = inputs.text("reason")?.map(Sensitive::new);
                let (answer, task_status) = match required_code(answer_node, ANSWER, "the answer")?
                {
                    "accepted" => (SipAnswer::Accepted, "accepted"),
                    "declined" => (
                        SipAnswer::Declined {
                            reason: reason.ok_or_else(|| {
                                task.invalid(
                                    "missing the input reason: why the invitation is declined",
                                )
                            })?,
                        },
                        "rejected",
                    ),
                    "proposed-other-time" => (
                        SipAnswer::ProposedOtherTime {
                            proposed_at: inputs
                                .required(task, "proposed-at", "valueDateTime")?
                                .timestamp()?,
                            reason,
                        },
                        "received",
                    ),
                    other => {
                        return Err(answer_node.invalid(format!(
                            "unknown answer {other:?}; expected accepted, declined or proposed-other-time"
                        )));
                    }
                };
                if status != task_status {
                    return Err(status_node.invalid(format!(
                        "an answer of this kind has the status {task_status}, not {status}"
                    )));
                }
                if let Some(business) = task.get("businessStatus") {
                    code_in(business, ANSWER)?;
                }
                EventKind::SipResponse {
                    invitation_id: inputs
                        .required(task, "invitation-id", "valueString")?
                        .str()?
                        .to_owned(),
                    responder: owner_required("the party that answers")?,
                    answer,
                    attending_function: inputs.text("attending-function")?,
                }
            }
            "sip-plan" => {
                let focus = task.required("focus", "the CarePlan")?;
                let plan = self.resolve(focus)?.ok_or_else(|| {
                    focus
                        .invalid("a sip-plan Task is read with its CarePlan: send both in a Bundle")
                })?;
                let (kind, _, plan_case) = self.plan(plan)?;
                if plan_case.is_some_and(|c| c != case) {
                    return Err(plan.invalid("the CarePlan names another case than the Task"));
                }
                plan.touch("created");
                plan.touch("author");
                plan.touch("subject");
                kind
            }
            "information-at-discharge" => EventKind::InformationAtDischarge {
                summary: Sensitive::new(
                    inputs
                        .required(task, "summary", "valueString")?
                        .str()?
                        .to_owned(),
                ),
                care_contact: inputs
                    .get("care-contact", "valueReference")?
                    .map(|r| self.region_unit(r, "the care contact"))
                    .transpose()?,
                planned_sip_at: inputs.timestamp("planned-sip-at")?,
                legal_basis: inputs
                    .get("legal-basis", "valueString")?
                    .map(|n| n.str().map(str::to_owned))
                    .transpose()?,
            },
            "discharged" => EventKind::Discharged {
                discharged_at: inputs
                    .required(task, "discharged-at", "valueDateTime")?
                    .timestamp()?,
            },
            "case-cancelled" => EventKind::CaseCancelled {
                reason: Sensitive::new(
                    inputs
                        .required(task, "reason", "valueString")?
                        .str()?
                        .to_owned(),
                ),
            },
            "lvm-report" => EventKind::LvmReport {
                physician: self.staff(inputs.required(task, "physician", "valueReference")?)?,
                to_municipality: match owner_required("the municipality the report is for")? {
                    Party::Municipality {
                        kommunkod,
                        unit: None,
                    } => kommunkod,
                    _ => {
                        return Err(task.invalid(
                            "Task.owner of an LVM report is the municipality, by its municipality code",
                        ));
                    }
                },
                legal_basis: inputs
                    .required(task, "legal-basis", "valueString")?
                    .str()?
                    .to_owned(),
                report: Sensitive::new(
                    inputs
                        .required(task, "report", "valueString")?
                        .str()?
                        .to_owned(),
                ),
            },
            "lvm-decision" => {
                if !matches!(sender, Party::Municipality { .. }) {
                    return Err(requester.invalid(
                        "an LVM decision is sent by the municipality, identified by its municipality code",
                    ));
                }
                let decision = inputs.required(task, "decision", "valueCode")?;
                EventKind::LvmDecision {
                    decision_id: inputs
                        .required(task, "decision-id", "valueString")?
                        .str()?
                        .to_owned(),
                    decision: match decision.str()? {
                        "care" => LvmDecisionKind::Care,
                        "immediate-custody" => LvmDecisionKind::ImmediateCustody,
                        other => {
                            return Err(decision.invalid(format!(
                                "unknown LVM decision {other:?}; expected care or immediate-custody"
                            )));
                        }
                    },
                    by: sender.clone(),
                }
            }
            "lvm-transport-arranged" => EventKind::LvmTransportArranged {
                decision_id: inputs
                    .required(task, "decision-id", "valueString")?
                    .str()?
                    .to_owned(),
                transport_at: inputs.timestamp("transport-at")?,
            },
            "services-decided" => {
                let mut services = Vec::new();
                for (item, coding) in inputs.all("service", "valueCoding")? {
                    let service = required_code(coding, SERVICE_TYPE, "the service type")?;
                    services.push(DecidedService {
                        service_type: serde_json::from_value::<ServiceType>(Value::String(
                            service.to_owned(),
                        ))
                        .map_err(|_| {
                            coding.invalid(format!(
                                "unknown service type {service:?}; expected HTJ, LSS, SABO, HSJV or BOENDESTOD"
                            ))
                        })?,
                        description: extension(item, EXT_SERVICE_DESCRIPTION)?
                            .map(|e| e.required_str("valueString", "the description"))
                            .transpose()?
                            .map(|t| Sensitive::new(t.to_owned())),
                        extent: extension(item, EXT_SERVICE_EXTENT)?
                            .map(|e| e.required_str("valueString", "the extent"))
                            .transpose()?
                            .map(str::to_owned),
                        starts_on: extension(item, EXT_SERVICE_START)?
                            .map(|e| e.required("valueDate", "the start date")?.date())
                            .transpose()?,
                    });
                }
                if services.is_empty() {
                    return Err(task.invalid(
                        "missing: at least one input service (valueCoding, a service type)",
                    ));
                }
                EventKind::ServicesDecided {
                    decision_id: inputs
                        .required(task, "decision-id", "valueString")?
                        .str()?
                        .to_owned(),
                    by: sender.clone(),
                    decided_on: inputs.required(task, "decided-on", "valueDate")?.date()?,
                    services,
                }
            }
            "ready-to-receive" => EventKind::ReadyToReceive {
                by: sender.clone(),
                from: inputs.timestamp("ready-from")?,
            },
            "message-acknowledged" => EventKind::MessageAcknowledged {
                message_id: inputs
                    .required(task, "acknowledged-message", "valueString")?
                    .str()?
                    .to_owned(),
                by: sender.clone(),
            },
            other => return Err(code.invalid(format!("the process step {other:?} is not read"))),
        };
        Ok(Envelope {
            format,
            id_issuer,
            message_id,
            case,
            person,
            sent_at,
            occurred_at,
            sender,
            sender_name,
        }
        .message(kind))
    }

    /// A Task the gateway sent, changed by its owner: an answer to an invitation, or the start
    /// of planning on an admission notice.
    fn task_update(
        &self,
        task: Node<'a>,
        step: &str,
        status_node: Node<'a>,
        case: CaseReference,
        person: PersonId,
    ) -> Result<CanonicalMessage> {
        let status = status_node.str()?;
        let id = task.required_str(
            "id",
            "the Task's id: a changed Task is a new version of a Task the gateway sent",
        )?;
        let changed_at = task
            .required("lastModified", "when the owner changed the Task")?
            .timestamp()?;
        // What the gateway sent stays as it was; the owner's change is status and output.
        for key in ["identifier", "authoredOn", "executionPeriod", "requester"] {
            task.touch(key);
        }
        let owner = task.required("owner", "the party that changed the Task")?;
        let by = self.party(owner)?;
        let sender_name = owner.optional_str("display")?.map(str::to_owned);
        let inputs = Inputs::of(task, "input")?;
        let outputs = Inputs::of(task, "output")?;
        let business = task
            .get("businessStatus")
            .map(|b| code_in(b, ANSWER))
            .transpose()?
            .flatten();
        let (kind, change) = match (step, status) {
            ("admission-notice", "in-progress") => (
                EventKind::PlanningStarted { by: by.clone() },
                "in-progress".to_owned(),
            ),
            ("admission-notice", _) => {
                return Err(status_node.invalid(format!(
                    "an admission-notice Task moves to in-progress when the owner starts its planning; the status {status} reports no step"
                )));
            }
            ("sip-invitation", _) => {
                let reason = task
                    .get("statusReason")
                    .map(|r| {
                        r.touch("coding");
                        r.required_str("text", "the reason in words")
                    })
                    .transpose()?
                    .map(|t| Sensitive::new(t.to_owned()));
                let answer = match (status, business) {
                    ("accepted", None | Some("accepted")) => SipAnswer::Accepted,
                    ("rejected", None | Some("declined")) => SipAnswer::Declined {
                        reason: reason.ok_or_else(|| FhirReadError::Invalid {
                            path: format!("{}.statusReason.text", task.path()),
                            problem: "missing: why the invitation is declined".to_owned(),
                        })?,
                    },
                    ("received", Some("proposed-other-time")) => SipAnswer::ProposedOtherTime {
                        proposed_at: outputs
                            .required(task, "proposed-at", "valueDateTime")?
                            .timestamp()?,
                        reason,
                    },
                    _ => {
                        return Err(status_node.invalid(format!(
                            "an answer to an invitation is status accepted, rejected, or received with businessStatus proposed-other-time; not {status}{}",
                            business.map(|b| format!(" with businessStatus {b}")).unwrap_or_default()
                        )));
                    }
                };
                let change = business.unwrap_or(status).to_owned();
                let invitation_id = inputs
                    .required(task, "invitation-id", "valueString")?
                    .str()?
                    .to_owned();
                (
                    EventKind::SipResponse {
                        invitation_id,
                        responder: by.clone(),
                        answer,
                        attending_function: outputs.text("attending-function")?,
                    },
                    change,
                )
            }
            (other, _) => {
                return Err(status_node.invalid(format!(
                    "a {other} Task does not change status after it is sent"
                )));
            }
        };
        inputs.consume_known();
        let message_id = format!("Task/{id}/{change}@{changed_at}");
        let issuer = case.issuer.clone();
        Ok(Envelope {
            format: FORMAT,
            id_issuer: &issuer,
            message_id,
            case,
            person,
            sent_at: changed_at,
            occurred_at: changed_at,
            sender: by,
            sender_name,
        }
        .message(kind))
    }

    /// A SIP/SPU plan and the case it names (if it does).
    fn plan(&self, plan: Node<'a>) -> Result<(EventKind, String, Option<CaseReference>)> {
        plan.touch("id");
        plan.touch("status");
        plan.touch("intent");
        if let Some(meta) = plan.get("meta") {
            meta.touch("versionId");
            meta.touch("lastUpdated");
        }
        let case = extension(plan, EXT_CASE)?
            .map(|ext| case_reference(ext.required("valueIdentifier", "the case")?))
            .transpose()?;
        let identifier = plan
            .first("identifier")?
            .ok_or_else(|| plan.invalid("missing: CarePlan.identifier, the plan's id"))?;
        identifier.touch("system");
        let plan_id = identifier
            .required_str("value", "the plan's id")?
            .to_owned();
        let category = plan
            .first("category")?
            .ok_or_else(|| plan.invalid("missing: CarePlan.category, the plan type"))?;
        let overall = extension(plan, EXT_OVERALL)?.ok_or_else(|| {
            plan.invalid(format!(
                "missing the extension {EXT_OVERALL}: the principal with overall responsibility"
            ))
        })?;
        let overall_node = overall.required("valueCode", "region or municipality")?;
        let overall_responsibility = principal(overall_node)?.ok_or_else(|| {
            overall_node.invalid("overall responsibility is region or municipality")
        })?;
        let next_of_kin_participated = extension(plan, EXT_NEXT_OF_KIN)?
            .map(|e| e.required("valueBoolean", "true or false")?.bool())
            .transpose()?
            .unwrap_or(false);
        let follow_up_on = extension(plan, EXT_FOLLOW_UP)?
            .map(|e| e.required("valueDate", "the follow-up date")?.date())
            .transpose()?;
        let mut activities = Vec::new();
        if let Some(list) = plan.get("activity") {
            for activity in list.items()? {
                let detail = activity.required(
                    "detail",
                    "the activity's detail (brygga reads activity.detail, not activity.reference)",
                )?;
                detail.touch("status");
                detail.touch("kind");
                let responsible = extension(detail, EXT_RESPONSIBLE)?.ok_or_else(|| {
                    detail.invalid(format!(
                        "missing the extension {EXT_RESPONSIBLE}: region, municipality or other"
                    ))
                })?;
                let service_type = match detail.get("code") {
                    Some(code) => match code_in(code, SERVICE_TYPE)? {
                        Some(service) => Some(
                            serde_json::from_value::<ServiceType>(Value::String(
                                service.to_owned(),
                            ))
                            .map_err(|_| {
                                code.invalid(format!(
                                    "unknown service type {service:?}; expected HTJ, LSS, SABO, HSJV or BOENDESTOD"
                                ))
                            })?,
                        ),
                        None => None,
                    },
                    None => None,
                };
                activities.push(PlanActivity {
                    description: Sensitive::new(
                        detail
                            .required_str("description", "what is to be done")?
                            .to_owned(),
                    ),
                    responsible: principal(
                        responsible.required("valueCode", "region, municipality or other")?,
                    )?,
                    performer: detail
                        .first("performer")?
                        .map(|p| self.party(p))
                        .transpose()?,
                    service_type,
                });
            }
        }
        if activities.is_empty() {
            return Err(plan.invalid("missing: CarePlan.activity, the plan's services and actions"));
        }
        Ok((
            EventKind::SipPlan {
                plan_id: plan_id.clone(),
                plan_type: plan_type(category)?,
                activities,
                overall_responsibility,
                next_of_kin_participated,
                follow_up_on,
            },
            plan_id,
            case,
        ))
    }

    /// A CarePlan on its own (or alone in a Bundle): a plan posted by a FHIR client.
    /// A consent recorded (or withdrawn) in a case, as the gateway renders it: a Consent with
    /// the case reference, the message id and the case system's consent id.
    fn consent_message(&self, consent: Node<'a>) -> Result<CanonicalMessage> {
        consent.touch("id");
        consent.touch("text");
        let case = match extension(consent, EXT_CASE)? {
            Some(ext) => case_reference(ext.required("valueIdentifier", "the samordningsärende")?)?,
            None => {
                return Err(consent.invalid(format!(
                    "missing the extension {EXT_CASE}: the samordningsärende the consent is recorded in (a consent outside a case goes to POST /fhir/Consent)"
                )));
            }
        };
        let mut message = None;
        let mut consent_id = None;
        for identifier in consent.unread_items("identifier")? {
            let system = identifier
                .v
                .get("system")
                .and_then(Value::as_str)
                .unwrap_or("");
            if let Some(rest) = system.strip_prefix(MESSAGE_ID) {
                identifier.mark();
                identifier.touch("system");
                let (format, id_issuer) = message_id_system(identifier, rest)?;
                message = Some((
                    format,
                    id_issuer,
                    identifier.required_str("value", "the message id")?,
                ));
            } else if system.starts_with(CONSENT_ID) {
                identifier.mark();
                identifier.touch("system");
                consent_id = Some(identifier.required_str("value", "the consent id")?);
            }
        }
        let (format, id_issuer, message_id) = message.ok_or_else(|| {
            consent.invalid(format!(
                "missing: an identifier of {MESSAGE_ID}<format>:<care provider>, the message id"
            ))
        })?;
        let consent_id = consent_id.ok_or_else(|| {
            consent.invalid(format!("missing: an identifier of {CONSENT_ID}<care provider>, the consent's id in the case"))
        })?;
        let (person, _) = self.person(consent.required("patient", "the person (Patient)")?)?;
        let occurred_at = consent
            .required("dateTime", "when the consent was given")?
            .timestamp()?;
        let sent_at = match consent.get("meta").and_then(|m| m.get("lastUpdated")) {
            Some(at) => at.timestamp()?,
            None => occurred_at,
        };
        let performer = consent.first("performer")?.ok_or_else(|| {
            consent.invalid("missing: Consent.performer, the unit that recorded it")
        })?;
        let sender = self.party(performer)?;
        let sender_name = performer.optional_str("display")?.map(str::to_owned);
        let kind = match consent.required_str("status", "the consent's status")? {
            "inactive" => {
                consent.touch("scope");
                consent.touch("category");
                consent.touch("provision");
                EventKind::ConsentWithdrawn {
                    consent_id: consent_id.to_owned(),
                }
            }
            _ => {
                let d = super::consent::directive(self, consent, consent_id, occurred_at)?;
                let recipients = d
                    .recipients
                    .into_iter()
                    .map(|a| match a {
                        crate::domain::consent::ConsentActor::Party(p) => Ok(p),
                        crate::domain::consent::ConsentActor::Unresolved { reference } => Err(consent.invalid(format!(
                            "provision.actor {reference:?} is not an organisation the gateway can identify"
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                EventKind::ConsentRecorded {
                    consent_id: consent_id.to_owned(),
                    scope: d.scope,
                    provision: d.provision,
                    principals: d.principals,
                    recipients,
                    categories: d.categories,
                    valid_from: d.valid_from,
                    valid_until: d.valid_until,
                }
            }
        };
        Ok(Envelope {
            format,
            id_issuer,
            message_id: message_id.to_owned(),
            case,
            person,
            sent_at,
            occurred_at,
            sender,
            sender_name,
        }
        .message(kind))
    }

    fn plan_message(&self, plan: Node<'a>) -> Result<CanonicalMessage> {
        let (kind, plan_id, case) = self.plan(plan)?;
        let case = case.ok_or_else(|| {
            plan.invalid(format!(
                "missing the extension {EXT_CASE}: the samordningsärende the plan belongs to"
            ))
        })?;
        let (person, _) = self.person(plan.required("subject", "the person (Patient)")?)?;
        let created = plan.get("created").map(|n| n.timestamp()).transpose()?;
        let updated = plan
            .get("meta")
            .and_then(|m| m.get("lastUpdated"))
            .map(|n| n.timestamp())
            .transpose()?;
        let sent_at = updated
            .or(created)
            .ok_or_else(|| plan.invalid("missing: CarePlan.created, when the plan was made"))?;
        let author = plan.required("author", "the unit that made the plan")?;
        let sender = self.party(author)?;
        let sender_name = author.optional_str("display")?.map(str::to_owned);
        let message_id = format!("CarePlan/{plan_id}@{sent_at}");
        let issuer = case.issuer.clone();
        Ok(Envelope {
            format: FORMAT,
            id_issuer: &issuer,
            message_id,
            case,
            person,
            sent_at,
            occurred_at: created.unwrap_or(sent_at),
            sender,
            sender_name,
        }
        .message(kind))
    }
}
