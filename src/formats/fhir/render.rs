//! Canonical message → FHIR R4 Bundle (collection) of Patient, Task(s) and CarePlan.
//!
//! Resource ids are derived from source identifiers (a re-sent message renders the same ids),
//! and references inside the Bundle use `urn:uuid:` full URLs, so they resolve within it.
//! The Bundle is built from structs that borrow from the message and serialise straight to
//! JSON, without an intermediate `serde_json::Value`.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

use super::codes::{FhirCodes, PROCESS_STEP, TASK_INPUT};
use crate::domain::consent::ConsentDirective;
use crate::domain::event::{
    Event, EventKind, LvmDecisionKind, MeetingPlace, Person, PlanType, ServiceType, SipAnswer,
};
use crate::domain::identifiers::{HsaId, PersonId, systems};
use crate::domain::party::{Party, Principal};
use crate::formats::canonical::{CanonicalMessage, derived_id};

/// Every process-step code the renderer writes (checked against the published CodeSystem).
pub const STEP_CODES: &[&str] = &[
    "admission-notice",
    "estimated-discharge-changed",
    "care-contact-appointed",
    "planning-started",
    "ready-for-discharge",
    "ready-for-discharge-revoked",
    "sip-invitation",
    "sip-response",
    "sip-plan",
    "information-at-discharge",
    "discharged",
    "case-cancelled",
    "lvm-report",
    "lvm-decision",
    "lvm-transport-arranged",
    "services-decided",
    "ready-to-receive",
    "message-acknowledged",
];

/// Every Task input type the renderer writes.
pub const INPUT_CODES: &[&str] = &[
    "admitted-at",
    "assessed-at",
    "estimated-discharge",
    "psychiatric",
    "function",
    "name",
    "staff",
    "decided-at",
    "physician",
    "reason",
    "invitation-id",
    "plan-type",
    "meeting-at",
    "meeting-place",
    "meeting-link",
    "consent-reference",
    "answer",
    "proposed-at",
    "attending-function",
    "summary",
    "care-contact",
    "planned-sip-at",
    "discharged-at",
    "legal-basis",
    "report",
    "decision-id",
    "decision",
    "transport-at",
    "decided-on",
    "service",
    "ready-from",
    "acknowledged-message",
];

pub const PLAN_TYPE: &str = "urn:brygga:fhir:CodeSystem:plan-type";
pub(super) const SERVICE_TYPE: &str = "urn:brygga:fhir:CodeSystem:service-type";
pub(super) const ANSWER: &str = "urn:brygga:fhir:CodeSystem:sip-answer";
pub(super) const EXT_RESPONSIBLE: &str =
    "urn:brygga:fhir:StructureDefinition:responsible-principal";
pub(super) const EXT_OVERALL: &str = "urn:brygga:fhir:StructureDefinition:overall-responsibility";
pub(super) const EXT_NEXT_OF_KIN: &str =
    "urn:brygga:fhir:StructureDefinition:next-of-kin-participated";
pub(super) const EXT_FOLLOW_UP: &str = "urn:brygga:fhir:StructureDefinition:follow-up-date";
/// On a Reference to a municipal unit (by HSA-id): the municipality it belongs to.
pub(super) const EXT_MUNICIPALITY: &str = "urn:brygga:fhir:StructureDefinition:municipality";
/// On a `service` input of a services-decided Task: what was granted, its extent, from when.
pub(super) const EXT_SERVICE_DESCRIPTION: &str =
    "urn:brygga:fhir:StructureDefinition:service-description";
pub(super) const EXT_SERVICE_EXTENT: &str = "urn:brygga:fhir:StructureDefinition:service-extent";
pub(super) const EXT_SERVICE_START: &str = "urn:brygga:fhir:StructureDefinition:service-start";
/// On a CarePlan: the samordningsärende, so that a plan read on its own names its case.
pub(super) const EXT_CASE: &str = "urn:brygga:fhir:StructureDefinition:case-reference";
pub(super) const CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
/// The prefix of the Task.identifier system: `{prefix}{format}:{issuer}`.
pub(super) const MESSAGE_ID: &str = "urn:brygga:message-id:";
/// The prefix of the Task.groupIdentifier system: `{prefix}{issuer}`.
pub(super) const CASE_REFERENCE: &str = "urn:brygga:case-reference:";
/// The prefix of the CarePlan.identifier system: `{prefix}{issuer}`.
pub(super) const PLAN_ID: &str = "urn:brygga:plan-id:";
/// The system of a consent's id as the case system recorded it: `urn:brygga:consent-id:{care provider}`.
pub(super) const CONSENT_ID: &str = "urn:brygga:consent-id:";

/// Why a canonical message has no FHIR rendering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{0} is not rendered as a FHIR Task")]
    NotATask(&'static str),
    #[error("the Bundle could not be written as JSON: {0}")]
    Json(String),
}

/// A FHIR Identifier.
#[derive(Debug, Clone, Serialize)]
struct Identifier<'a> {
    system: Cow<'a, str>,
    value: Cow<'a, str>,
}

/// A FHIR Coding.
#[derive(Debug, Clone, Serialize)]
struct Coding<'a> {
    system: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<&'a str>,
}

/// A FHIR CodeableConcept with codings only.
#[derive(Debug, Clone, Serialize)]
struct Concept<'a> {
    coding: [Coding<'a>; 1],
}

fn concept<'a>(system: &'a str, code: &'a str, display: Option<&'a str>) -> Concept<'a> {
    Concept {
        coding: [Coding {
            system,
            code,
            display,
        }],
    }
}

/// A FHIR Reference: to a Bundle entry, or to a unit by its identifier.
#[derive(Debug, Clone, Default, Serialize)]
struct Reference<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extension: Vec<Extension<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identifier: Option<Identifier<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<&'a str>,
}

fn local_reference(id: &str) -> Reference<'static> {
    Reference {
        reference: Some(format!("urn:uuid:{id}")),
        ..Reference::default()
    }
}

/// An extension with one typed value.
#[derive(Debug, Clone)]
struct Extension<'a> {
    url: &'static str,
    value: Typed<'a>,
}

/// A `value[x]`: the element name is chosen by the type.
#[derive(Debug, Clone)]
enum Typed<'a> {
    String(&'a str),
    DateTime(String),
    Date(String),
    Boolean(bool),
    Code(&'static str),
    Url(&'a str),
    Coding(Coding<'a>),
    Identifier(Identifier<'a>),
    Reference(Reference<'a>),
}

impl Typed<'_> {
    fn entry<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match self {
            Typed::String(v) => map.serialize_entry("valueString", v),
            Typed::DateTime(v) => map.serialize_entry("valueDateTime", v),
            Typed::Date(v) => map.serialize_entry("valueDate", v),
            Typed::Boolean(v) => map.serialize_entry("valueBoolean", v),
            Typed::Code(v) => map.serialize_entry("valueCode", v),
            Typed::Url(v) => map.serialize_entry("valueUrl", v),
            Typed::Coding(v) => map.serialize_entry("valueCoding", v),
            Typed::Identifier(v) => map.serialize_entry("valueIdentifier", v),
            Typed::Reference(v) => map.serialize_entry("valueReference", v),
        }
    }
}

impl Serialize for Extension<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("url", self.url)?;
        self.value.entry(&mut map)?;
        map.end()
    }
}

/// One typed Task input.
#[derive(Debug, Clone)]
struct Input<'a> {
    code: &'a str,
    display: &'a str,
    value: Typed<'a>,
    extension: Vec<Extension<'a>>,
}

impl Serialize for Input<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if !self.extension.is_empty() {
            map.serialize_entry("extension", &self.extension)?;
        }
        map.serialize_entry("type", &concept(TASK_INPUT, self.code, Some(self.display)))?;
        self.value.entry(&mut map)?;
        map.end()
    }
}

#[derive(Debug, Serialize)]
struct Period {
    start: String,
}

#[derive(Debug, Clone, Serialize)]
struct EndPeriod {
    end: String,
}

/// Task.restriction: the period within which the Task is to be fulfilled.
#[derive(Debug, Clone, Serialize)]
struct Restriction {
    period: EndPeriod,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Task<'a> {
    resource_type: &'static str,
    id: String,
    identifier: [Identifier<'a>; 1],
    group_identifier: Identifier<'a>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    business_status: Option<Concept<'a>>,
    intent: &'static str,
    code: Concept<'a>,
    #[serde(rename = "for")]
    subject: Reference<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    focus: Option<Reference<'a>>,
    execution_period: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    restriction: Option<Restriction>,
    authored_on: String,
    last_modified: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    requester: Option<Reference<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<Reference<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    input: Vec<Input<'a>>,
}

#[derive(Debug, Serialize)]
struct Meta {
    security: [Coding<'static>; 1],
}

#[derive(Debug, Serialize)]
struct HumanName<'a> {
    family: &'a str,
    given: [&'a str; 1],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PostalAddress<'a> {
    #[serde(rename = "use")]
    purpose: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    line: [&'a str; 1],
    postal_code: &'a str,
    city: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    district: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Patient<'a> {
    resource_type: &'static str,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Meta>,
    identifier: [Identifier<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<[HumanName<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<[PostalAddress<'a>; 1]>,
}

#[derive(Debug, Serialize)]
struct ActivityDetail<'a> {
    extension: [Extension<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<Concept<'a>>,
    status: &'static str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    performer: Option<[Reference<'a>; 1]>,
}

#[derive(Debug, Serialize)]
struct Activity<'a> {
    detail: ActivityDetail<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CarePlan<'a> {
    resource_type: &'static str,
    id: String,
    extension: Vec<Extension<'a>>,
    identifier: [Identifier<'a>; 1],
    status: &'static str,
    intent: &'static str,
    category: [Concept<'a>; 1],
    subject: Reference<'a>,
    created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<Reference<'a>>,
    activity: Vec<Activity<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Resource<'a> {
    Patient(Box<Patient<'a>>),
    Consent(Box<Value>),
    Task(Box<Task<'a>>),
    CarePlan(Box<CarePlan<'a>>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    full_url: String,
    resource: Resource<'a>,
}

/// A rendered Bundle, borrowing from the message; serialise it, or see [`render`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle<'a> {
    resource_type: &'static str,
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    entry: Vec<Entry<'a>>,
}

fn hsa_identifier(hsa_id: &HsaId) -> Identifier<'_> {
    Identifier {
        system: Cow::Borrowed(systems::HSA_ID),
        value: Cow::Borrowed(hsa_id.as_str()),
    }
}

fn party_reference(party: &Party) -> Reference<'_> {
    match party {
        Party::RegionUnit { hsa_id } => Reference {
            kind: Some("Organization"),
            identifier: Some(hsa_identifier(hsa_id)),
            ..Reference::default()
        },
        Party::Municipality {
            kommunkod,
            unit: None,
        } => Reference {
            kind: Some("Organization"),
            identifier: Some(Identifier {
                system: Cow::Borrowed(systems::KOMMUNKOD),
                value: Cow::Owned(kommunkod.to_string()),
            }),
            ..Reference::default()
        },
        Party::Municipality {
            kommunkod,
            unit: Some(unit),
        } => Reference {
            extension: vec![Extension {
                url: EXT_MUNICIPALITY,
                value: Typed::Identifier(Identifier {
                    system: Cow::Borrowed(systems::KOMMUNKOD),
                    value: Cow::Owned(kommunkod.to_string()),
                }),
            }],
            kind: Some("Organization"),
            identifier: Some(hsa_identifier(unit)),
            ..Reference::default()
        },
    }
}

fn staff_reference(hsa_id: &HsaId) -> Reference<'_> {
    Reference {
        kind: Some("Practitioner"),
        identifier: Some(hsa_identifier(hsa_id)),
        ..Reference::default()
    }
}

fn unit_reference(hsa_id: &HsaId) -> Reference<'_> {
    Reference {
        kind: Some("Organization"),
        identifier: Some(hsa_identifier(hsa_id)),
        ..Reference::default()
    }
}

fn principal_code(principal: Option<Principal>) -> &'static str {
    match principal {
        Some(Principal::Region) => "region",
        Some(Principal::Municipality) => "municipality",
        None => "other",
    }
}

fn plan_type_code(plan_type: PlanType) -> &'static str {
    match plan_type {
        PlanType::Sip => "SIP",
        PlanType::Spu => "SPU",
        PlanType::Splptlrv => "SPLPTLRV",
    }
}

/// The code of an LVM decision in Task.input `decision` (valueCode).
pub(super) fn lvm_decision_code(decision: LvmDecisionKind) -> &'static str {
    match decision {
        LvmDecisionKind::Care => "care",
        LvmDecisionKind::ImmediateCustody => "immediate-custody",
    }
}

fn service_type_code(service: ServiceType) -> &'static str {
    match service {
        ServiceType::Htj => "HTJ",
        ServiceType::Lss => "LSS",
        ServiceType::Sabo => "SABO",
        ServiceType::Hsjv => "HSJV",
        ServiceType::Boendestod => "BOENDESTOD",
    }
}

struct Inputs<'a> {
    codes: &'a FhirCodes,
    list: Vec<Input<'a>>,
}

impl<'a> Inputs<'a> {
    fn input(&self, code: &'a str, value: Typed<'a>) -> Input<'a> {
        Input {
            code,
            display: self.codes.input_display(code),
            value,
            extension: Vec::new(),
        }
    }

    fn add(&mut self, code: &'a str, value: Typed<'a>) {
        let input = self.input(code, value);
        self.list.push(input);
    }
}

/// The Patient: with the details an admission notice released; restricted (`meta.security`
/// R, no address) when the details or `protected` say the identity is protected.
fn patient<'a>(
    person_id: &'a PersonId,
    details: Option<&'a Person>,
    id: &str,
    protected: bool,
) -> Patient<'a> {
    let mut patient = Patient {
        resource_type: "Patient",
        id: id.to_owned(),
        meta: None,
        identifier: [Identifier {
            system: Cow::Borrowed(person_id.system()),
            value: Cow::Owned(person_id.value()),
        }],
        name: None,
        address: None,
    };
    let restricted = protected || details.is_some_and(|p| p.protected_identity);
    if restricted {
        patient.meta = Some(Meta {
            security: [Coding {
                system: CONFIDENTIALITY,
                code: "R",
                display: Some("restricted"),
            }],
        });
    }
    if let Some(person) = details {
        patient.name = Some([HumanName {
            family: person.name.family.expose(),
            given: [person.name.given.expose()],
        }]);
        if let Some(address) = &person.registered_address
            && !restricted
        {
            patient.address = Some([PostalAddress {
                purpose: "home",
                kind: "physical",
                line: [address.street.expose()],
                postal_code: address.postal_code.expose(),
                city: address.city.expose(),
                district: address.municipality.map(|code| code.to_string()),
            }]);
        }
    }
    patient
}

/// The FHIR `Patient` of `person`, with the details an admission notice released (name, and
/// the registered address unless the identity is protected), under the id every Bundle gives
/// it.
pub fn patient_resource(
    person: &PersonId,
    details: Option<&Person>,
    protected: bool,
) -> Result<Value, RenderError> {
    let id = patient_id(person);
    serde_json::to_value(patient(person, details, &id, protected))
        .map_err(|e| RenderError::Json(e.to_string()))
}

/// The id of the Task of event `event_id` for its `owner`-th owner (the first: 0): the
/// event's id and the owner's number, so that the Task can be found again from its id alone.
pub fn task_id(event_id: &str, owner: usize) -> String {
    format!("{event_id}-{owner}")
}

/// The id of plan `plan_id`'s CarePlan in `case`: the case's id and a digest of the plan's, so
/// that every version of the plan has it and the case is found from it alone.
pub fn careplan_id(case: &crate::formats::canonical::CaseReference, plan_id: &str) -> String {
    let digest = derived_id("careplan", &[&case.issuer, plan_id])
        .simple()
        .to_string();
    format!("{}-{}", case.case_id(), &digest[..16])
}

/// The case a CarePlan id names; `None` for an id the gateway did not give.
pub fn careplan_case(careplan_id: &str) -> Option<crate::domain::case::CaseId> {
    let (case, digest) = (careplan_id.get(..36)?, careplan_id.get(36..)?);
    if digest.len() != 17 || !digest.starts_with('-') {
        return None;
    }
    crate::domain::case::CaseId::parse(case).ok()
}

/// The event a Task id names and the Task's owner number; `None` for an id the gateway did
/// not give.
pub fn task_event(task_id: &str) -> Option<(uuid::Uuid, usize)> {
    let (event, owner) = task_id.rsplit_once('-')?;
    if owner.len() > 3 || owner.starts_with('+') {
        return None;
    }
    Some((uuid::Uuid::parse_str(event).ok()?, owner.parse().ok()?))
}

/// The Task an event records a change of, when it came as a Task the gateway sent changed by
/// its owner (its message id is `Task/{id}/{change}@{changed at}`).
pub fn changed_task(event: &Event) -> Option<&str> {
    if event.source.format != super::FORMAT {
        return None;
    }
    let rest = event.source.message_id.strip_prefix("Task/")?;
    rest.split_once('/').map(|(id, _)| id)
}

/// Applies to `task` (as rendered, JSON) the change `event` records of it: the status, the
/// answer and its reason, the proposed time and `lastModified` — the elements an owner
/// changes (`mappings/fhir/README.md`, reading FHIR). `false` for an event that changes no
/// Task.
pub fn apply_change(task: &mut Value, event: &Event) -> bool {
    use serde_json::json;
    let output = |code: &str, key: &str, value: Value| {
        json!({
            "type": { "coding": [{ "system": TASK_INPUT, "code": code }] },
            key: value,
        })
    };
    let Some(map) = task.as_object_mut() else {
        return false;
    };
    match &event.kind {
        EventKind::PlanningStarted { .. } => {
            map.insert("status".to_owned(), json!("in-progress"));
        }
        EventKind::SipResponse {
            answer,
            attending_function,
            ..
        } => {
            let (code, status) = match answer {
                SipAnswer::Accepted => ("accepted", "accepted"),
                SipAnswer::Declined { .. } => ("declined", "rejected"),
                SipAnswer::ProposedOtherTime { .. } => ("proposed-other-time", "received"),
            };
            map.insert("status".to_owned(), json!(status));
            map.insert(
                "businessStatus".to_owned(),
                json!({ "coding": [{ "system": ANSWER, "code": code }] }),
            );
            let reason = match answer {
                SipAnswer::Accepted => None,
                SipAnswer::Declined { reason } => Some(reason),
                SipAnswer::ProposedOtherTime { reason, .. } => reason.as_ref(),
            };
            match reason {
                Some(reason) => {
                    map.insert(
                        "statusReason".to_owned(),
                        json!({ "text": reason.expose() }),
                    );
                }
                None => {
                    map.remove("statusReason");
                }
            }
            let mut outputs = Vec::new();
            if let SipAnswer::ProposedOtherTime { proposed_at, .. } = answer {
                outputs.push(output(
                    "proposed-at",
                    "valueDateTime",
                    json!(proposed_at.to_string()),
                ));
            }
            if let Some(function) = attending_function {
                outputs.push(output("attending-function", "valueString", json!(function)));
            }
            if outputs.is_empty() {
                map.remove("output");
            } else {
                map.insert("output".to_owned(), Value::Array(outputs));
            }
        }
        _ => return false,
    }
    map.insert(
        "lastModified".to_owned(),
        json!(event.occurred_at.to_string()),
    );
    true
}

/// The id of `person`'s `Patient`.
pub fn patient_id(person: &PersonId) -> String {
    derived_id("patient", &[person.system(), &person.value()]).to_string()
}

/// Renders `message` as a FHIR R4 Bundle of type `collection`, as a JSON value. `deadline` is
/// the step's legal or agreed deadline (`Task.restriction.period.end`), when it has one.
pub fn render(
    message: &CanonicalMessage,
    codes: &FhirCodes,
    deadline: Option<jiff::Timestamp>,
) -> Result<Value, RenderError> {
    serde_json::to_value(bundle(message, codes, deadline)?)
        .map_err(|e| RenderError::Json(e.to_string()))
}

/// Renders `message` as a FHIR R4 Bundle of type `collection`, ready to serialise.
pub fn bundle<'a>(
    message: &'a CanonicalMessage,
    codes: &'a FhirCodes,
    deadline: Option<jiff::Timestamp>,
) -> Result<Bundle<'a>, RenderError> {
    let event = &message.event;
    let case = &message.case;
    let patient_id = patient_id(&message.person);
    let details = match &event.kind {
        EventKind::AdmissionNotice { person, .. } => Some(person),
        _ => None,
    };
    let mut entries = vec![Entry {
        full_url: format!("urn:uuid:{patient_id}"),
        resource: Resource::Patient(Box::new(patient(
            &message.person,
            details,
            &patient_id,
            message.protected_identity,
        ))),
    }];
    // A consent is a Consent, not a Task: recorded, or (the same resource) withdrawn.
    if let EventKind::ConsentRecorded { consent_id, .. }
    | EventKind::ConsentWithdrawn { consent_id } = &event.kind
    {
        let id = derived_id("consent", &[&case.issuer, &case.value, consent_id]).to_string();
        let mut consent = match &event.kind {
            EventKind::ConsentWithdrawn { .. } => serde_json::json!({
                "resourceType": "Consent",
                "id": id,
                "status": "inactive",
                "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
                "category": [{ "text": "withdrawal of a consent recorded in the case" }],
                "patient": { "reference": format!("urn:uuid:{patient_id}") },
                "dateTime": event.occurred_at.to_string(),
            }),
            _ => {
                let directive = ConsentDirective::from_events(std::slice::from_ref(event), "case")
                    .pop()
                    .ok_or(RenderError::NotATask("a consent"))?;
                super::consent::consent_resource(
                    &id,
                    &format!("urn:uuid:{patient_id}"),
                    &directive,
                    None,
                )
            }
        };
        consent["identifier"] = serde_json::json!([
            {
                "system": format!("{MESSAGE_ID}{}:{}", event.source.format, case.issuer),
                "value": event.source.message_id,
            },
            {
                "system": format!("{CONSENT_ID}{}", case.issuer),
                "value": consent_id,
            }
        ]);
        consent["meta"] = serde_json::json!({ "lastUpdated": message.sent_at.to_string() });
        consent["extension"] = serde_json::json!([{
            "url": EXT_CASE,
            "valueIdentifier": {
                "system": format!("{CASE_REFERENCE}{}", case.issuer),
                "value": case.value,
            },
        }]);
        if let Some(sender) = &event.source.sender {
            let performer = Reference {
                display: message.sender_name.as_deref(),
                ..party_reference(sender)
            };
            consent["performer"] =
                serde_json::json!([serde_json::to_value(performer)
                    .map_err(|e| RenderError::Json(e.to_string()))?]);
        }
        entries.push(Entry {
            full_url: format!("urn:uuid:{id}"),
            resource: Resource::Consent(Box::new(consent)),
        });
        return Ok(Bundle {
            resource_type: "Bundle",
            id: event.id.to_string(),
            kind: "collection",
            timestamp: message.sent_at.to_string(),
            entry: entries,
        });
    }

    let mut inputs = Inputs {
        codes,
        list: Vec::new(),
    };
    // Each owner gets a Task with the common inputs plus its own.
    let mut owners: Vec<(Option<Reference<'a>>, Option<Input<'a>>)> = vec![(None, None)];
    let mut status = "completed";
    let mut business_status: Option<&'static str> = None;
    let mut focus: Option<String> = None;
    let requester = event.source.sender.as_ref().map(|sender| Reference {
        display: message.sender_name.as_deref(),
        ..party_reference(sender)
    });
    let time = |t: &jiff::Timestamp| t.to_string();

    let step = match &event.kind {
        EventKind::AdmissionNotice {
            admitted_at,
            assessed_at,
            estimated_discharge,
            psychiatric,
            recipients,
            ..
        } => {
            inputs.add("admitted-at", Typed::DateTime(time(admitted_at)));
            if let Some(at) = assessed_at {
                inputs.add("assessed-at", Typed::DateTime(time(at)));
            }
            if let Some(d) = estimated_discharge {
                inputs.add("estimated-discharge", Typed::Date(d.to_string()));
            }
            inputs.add("psychiatric", Typed::Boolean(*psychiatric));
            owners = recipients
                .iter()
                .map(|r| (Some(party_reference(r)), None))
                .collect();
            status = "requested";
            "admission-notice"
        }
        EventKind::EstimatedDischargeChanged {
            estimated_discharge,
        } => {
            inputs.add(
                "estimated-discharge",
                Typed::Date(estimated_discharge.to_string()),
            );
            "estimated-discharge-changed"
        }
        EventKind::CareContactAppointed {
            unit,
            function,
            name,
            staff_hsa_id,
        } => {
            inputs.add("function", Typed::String(function));
            if let Some(name) = name {
                inputs.add("name", Typed::String(name.expose()));
            }
            if let Some(staff) = staff_hsa_id {
                inputs.add("staff", Typed::Reference(staff_reference(staff)));
            }
            owners = vec![(Some(unit_reference(unit)), None)];
            "care-contact-appointed"
        }
        EventKind::PlanningStarted { by } => {
            owners = vec![(Some(party_reference(by)), None)];
            status = "in-progress";
            "planning-started"
        }
        EventKind::ReadyForDischarge {
            decided_at,
            physician,
        } => {
            inputs.add("decided-at", Typed::DateTime(time(decided_at)));
            if let Some(physician) = physician {
                inputs.add("physician", Typed::Reference(staff_reference(physician)));
            }
            "ready-for-discharge"
        }
        EventKind::ReadyForDischargeRevoked { reason } => {
            if let Some(reason) = reason {
                inputs.add("reason", Typed::String(reason.expose()));
            }
            "ready-for-discharge-revoked"
        }
        EventKind::SipInvitation {
            invitation_id,
            plan_type,
            meeting_at,
            place,
            invited,
            consent_reference,
            ..
        } => {
            inputs.add("invitation-id", Typed::String(invitation_id));
            inputs.add(
                "plan-type",
                Typed::Coding(Coding {
                    system: PLAN_TYPE,
                    code: plan_type_code(*plan_type),
                    display: None,
                }),
            );
            inputs.add("meeting-at", Typed::DateTime(time(meeting_at)));
            match place {
                MeetingPlace::Address { description } => {
                    inputs.add("meeting-place", Typed::String(description.expose()))
                }
                MeetingPlace::Link { url } => inputs.add("meeting-link", Typed::Url(url)),
            }
            if let Some(reference) = consent_reference {
                inputs.add("consent-reference", Typed::String(reference));
            }
            status = "requested";
            // One Task per invited function, so that each can accept or decline its own.
            owners = invited
                .iter()
                .map(|f| {
                    let function = inputs.input("function", Typed::String(&f.function));
                    (Some(party_reference(&f.party)), Some(function))
                })
                .collect();
            "sip-invitation"
        }
        EventKind::SipResponse {
            invitation_id,
            responder,
            answer,
            attending_function,
        } => {
            inputs.add("invitation-id", Typed::String(invitation_id));
            let (code, task_status) = match answer {
                SipAnswer::Accepted => ("accepted", "accepted"),
                SipAnswer::Declined { .. } => ("declined", "rejected"),
                SipAnswer::ProposedOtherTime { .. } => ("proposed-other-time", "received"),
            };
            inputs.add(
                "answer",
                Typed::Coding(Coding {
                    system: ANSWER,
                    code,
                    display: None,
                }),
            );
            match answer {
                SipAnswer::Accepted => {}
                SipAnswer::Declined { reason } => {
                    inputs.add("reason", Typed::String(reason.expose()))
                }
                SipAnswer::ProposedOtherTime {
                    proposed_at,
                    reason,
                } => {
                    inputs.add("proposed-at", Typed::DateTime(time(proposed_at)));
                    if let Some(reason) = reason {
                        inputs.add("reason", Typed::String(reason.expose()));
                    }
                }
            }
            if let Some(function) = attending_function {
                inputs.add("attending-function", Typed::String(function));
            }
            owners = vec![(Some(party_reference(responder)), None)];
            status = task_status;
            business_status = Some(code);
            "sip-response"
        }
        EventKind::SipPlan {
            plan_id,
            plan_type,
            activities,
            overall_responsibility,
            next_of_kin_participated,
            follow_up_on,
        } => {
            let plan_id_fhir = careplan_id(case, plan_id);
            let plan_uuid = derived_id("careplan", &[&case.issuer, plan_id]).to_string();
            let mut extension = vec![
                Extension {
                    url: EXT_CASE,
                    value: Typed::Identifier(Identifier {
                        system: Cow::Owned(format!("{CASE_REFERENCE}{}", case.issuer)),
                        value: Cow::Borrowed(&case.value),
                    }),
                },
                Extension {
                    url: EXT_OVERALL,
                    value: Typed::Code(principal_code(Some(*overall_responsibility))),
                },
                Extension {
                    url: EXT_NEXT_OF_KIN,
                    value: Typed::Boolean(*next_of_kin_participated),
                },
            ];
            if let Some(d) = follow_up_on {
                extension.push(Extension {
                    url: EXT_FOLLOW_UP,
                    value: Typed::Date(d.to_string()),
                });
            }
            let activity = activities
                .iter()
                .map(|a| Activity {
                    detail: ActivityDetail {
                        extension: [Extension {
                            url: EXT_RESPONSIBLE,
                            value: Typed::Code(principal_code(a.responsible)),
                        }],
                        code: a
                            .service_type
                            .map(|service| concept(SERVICE_TYPE, service_type_code(service), None)),
                        status: "scheduled",
                        description: a.description.expose(),
                        performer: a.performer.as_ref().map(|p| [party_reference(p)]),
                    },
                })
                .collect();
            let care_plan = CarePlan {
                resource_type: "CarePlan",
                id: plan_id_fhir,
                extension,
                identifier: [Identifier {
                    system: Cow::Owned(format!("{PLAN_ID}{}", case.issuer)),
                    value: Cow::Borrowed(plan_id),
                }],
                status: "active",
                intent: "plan",
                category: [concept(PLAN_TYPE, plan_type_code(*plan_type), None)],
                subject: local_reference(&patient_id),
                created: time(&message.sent_at),
                author: requester.clone(),
                activity,
            };
            entries.push(Entry {
                full_url: format!("urn:uuid:{plan_uuid}"),
                resource: Resource::CarePlan(Box::new(care_plan)),
            });
            focus = Some(plan_uuid);
            "sip-plan"
        }
        EventKind::InformationAtDischarge {
            summary,
            care_contact,
            planned_sip_at,
            legal_basis,
        } => {
            inputs.add("summary", Typed::String(summary.expose()));
            if let Some(contact) = care_contact {
                inputs.add("care-contact", Typed::Reference(unit_reference(contact)));
            }
            if let Some(at) = planned_sip_at {
                inputs.add("planned-sip-at", Typed::DateTime(time(at)));
            }
            if let Some(basis) = legal_basis {
                inputs.add("legal-basis", Typed::String(basis));
            }
            "information-at-discharge"
        }
        EventKind::Discharged { discharged_at } => {
            inputs.add("discharged-at", Typed::DateTime(time(discharged_at)));
            "discharged"
        }
        EventKind::CaseCancelled { reason } => {
            inputs.add("reason", Typed::String(reason.expose()));
            status = "cancelled";
            "case-cancelled"
        }
        EventKind::LvmReport {
            physician,
            to_municipality,
            legal_basis,
            report,
        } => {
            inputs.add("physician", Typed::Reference(staff_reference(physician)));
            inputs.add("legal-basis", Typed::String(legal_basis));
            inputs.add("report", Typed::String(report.expose()));
            let owner = Reference {
                kind: Some("Organization"),
                identifier: Some(Identifier {
                    system: Cow::Borrowed(systems::KOMMUNKOD),
                    value: Cow::Owned(to_municipality.to_string()),
                }),
                ..Reference::default()
            };
            owners = vec![(Some(owner), None)];
            status = "requested";
            "lvm-report"
        }
        EventKind::ConsentRecorded { .. } | EventKind::ConsentWithdrawn { .. } => {
            return Err(RenderError::NotATask("a consent"));
        }
        EventKind::DeviationRaised { .. }
        | EventKind::DeviationAcknowledged { .. }
        | EventKind::DeviationAnswered { .. }
        | EventKind::DeviationReminder { .. } => {
            return Err(RenderError::NotATask("a deviation report"));
        }
        EventKind::SipMeetingHeld { .. } => {
            return Err(RenderError::NotATask("a record of a held SIP meeting"));
        }
        EventKind::LvmDecision {
            decision_id,
            decision,
            ..
        } => {
            inputs.add("decision-id", Typed::String(decision_id));
            inputs.add("decision", Typed::Code(lvm_decision_code(*decision)));
            status = "requested";
            "lvm-decision"
        }
        EventKind::LvmTransportArranged {
            decision_id,
            transport_at,
        } => {
            inputs.add("decision-id", Typed::String(decision_id));
            if let Some(at) = transport_at {
                inputs.add("transport-at", Typed::DateTime(time(at)));
            }
            "lvm-transport-arranged"
        }
        EventKind::Placement { .. } | EventKind::CostSplitAgreed { .. } => {
            return Err(RenderError::NotATask("a placement"));
        }
        EventKind::DeadlineMissed { .. } => return Err(RenderError::NotATask("a missed deadline")),
        EventKind::ChildConcernReport { .. } => {
            return Err(RenderError::NotATask("a report of concern for a child"));
        }
        EventKind::ServicesDecided {
            decision_id,
            decided_on,
            services,
            ..
        } => {
            inputs.add("decision-id", Typed::String(decision_id));
            inputs.add("decided-on", Typed::Date(decided_on.to_string()));
            for service in services {
                let mut input = inputs.input(
                    "service",
                    Typed::Coding(Coding {
                        system: SERVICE_TYPE,
                        code: service_type_code(service.service_type),
                        display: None,
                    }),
                );
                if let Some(description) = &service.description {
                    input.extension.push(Extension {
                        url: EXT_SERVICE_DESCRIPTION,
                        value: Typed::String(description.expose()),
                    });
                }
                if let Some(extent) = &service.extent {
                    input.extension.push(Extension {
                        url: EXT_SERVICE_EXTENT,
                        value: Typed::String(extent),
                    });
                }
                if let Some(start) = service.starts_on {
                    input.extension.push(Extension {
                        url: EXT_SERVICE_START,
                        value: Typed::Date(start.to_string()),
                    });
                }
                inputs.list.push(input);
            }
            "services-decided"
        }
        EventKind::ReadyToReceive { from, .. } => {
            if let Some(at) = from {
                inputs.add("ready-from", Typed::DateTime(time(at)));
            }
            "ready-to-receive"
        }
        EventKind::MessageAcknowledged { message_id, .. } => {
            inputs.add("acknowledged-message", Typed::String(message_id));
            "message-acknowledged"
        }
    };

    let event_id = event.id.to_string();
    let sent_at = time(&message.sent_at);
    let occurred_at = time(&event.occurred_at);
    let identifier = Identifier {
        system: Cow::Owned(format!(
            "{MESSAGE_ID}{}:{}",
            event.source.format, case.issuer
        )),
        value: Cow::Borrowed(&event.source.message_id),
    };
    let group = Identifier {
        system: Cow::Owned(format!("{CASE_REFERENCE}{}", case.issuer)),
        value: Cow::Borrowed(&case.value),
    };
    let owner_count = owners.len();
    for (i, (owner, own)) in owners.into_iter().enumerate() {
        let id = task_id(&event_id, i);
        // The last Task takes the common inputs; the others get copies.
        let mut input = if i + 1 == owner_count {
            std::mem::take(&mut inputs.list)
        } else {
            inputs.list.clone()
        };
        input.extend(own);
        let task = Task {
            resource_type: "Task",
            id: id.clone(),
            identifier: [identifier.clone()],
            group_identifier: group.clone(),
            status,
            business_status: business_status.map(|code| concept(ANSWER, code, None)),
            intent: "order",
            code: concept(PROCESS_STEP, step, Some(codes.step_display(step))),
            subject: local_reference(&patient_id),
            focus: focus.as_deref().map(local_reference),
            execution_period: Period {
                start: occurred_at.clone(),
            },
            restriction: deadline.map(|end| Restriction {
                period: EndPeriod {
                    end: end.to_string(),
                },
            }),
            authored_on: sent_at.clone(),
            last_modified: sent_at.clone(),
            requester: requester.clone(),
            owner,
            input,
        };
        entries.push(Entry {
            full_url: format!(
                "urn:uuid:{}",
                derived_id("task", &[&event_id, &i.to_string()])
            ),
            resource: Resource::Task(Box::new(task)),
        });
    }
    Ok(Bundle {
        resource_type: "Bundle",
        id: event_id,
        kind: "collection",
        timestamp: sent_at,
        entry: entries,
    })
}
