//! Canonical message → FHIR R4 Bundle (collection) of Patient, Task(s) and CarePlan.
//!
//! Resource ids are derived from source identifiers (a re-sent message renders the same ids),
//! and references inside the Bundle use `urn:uuid:` full URLs, so they resolve within it.
//! The Bundle is built from structs that borrow from the message and serialise straight to
//! JSON, without an intermediate `serde_json::Value`.

use std::borrow::Cow;

use serde_json::Value;

mod follow_up;
mod model;
mod task;

use super::codes::{FhirCodes, PROCESS_STEP, TASK_INPUT};
use crate::domain::consent::ConsentDirective;
use crate::domain::event::{
    Event, EventKind, LvmDecisionKind, MeetingPlace, Person, PlanType, ServiceType, SipAnswer,
};
use crate::domain::identifiers::{HsaId, Kommunkod, PersonId, systems};
use crate::domain::party::{Party, Principal};
use crate::formats::canonical::{CanonicalMessage, derived_id};
pub(super) use follow_up::{
    EXT_ANSWER_REASON, EXT_ATTENDEE_FUNCTION, EXT_ATTENDEE_NAME, EXT_EVIDENCE_EVENT,
    EXT_EVIDENCE_WHAT, EXT_PROPOSED_AT,
};
pub use model::Bundle;
use model::*;
use task::{TaskStep, task_step};

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
    "sip-meeting-held",
    "child-concern-report",
    "child-concern-feedback",
    "lvm-certificate-requested",
    "lvm-certificate-issued",
    "placement",
    "cost-split-agreed",
    "deviation-raised",
    "deviation-acknowledged",
    "deviation-answered",
    "deviation-reminder",
    "deadline-missed",
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
    "held-at",
    "attendee",
    "person-participated",
    "next-of-kin-participated",
    "reporter",
    "outcome",
    "placement-id",
    "placement-type",
    "emergency",
    "motive",
    "commitment-reference",
    "amount",
    "deviation-id",
    "cause",
    "deadline",
    "raised-by",
    "description",
    "concerns",
    "evidence",
    "notify",
    "deviation-answer",
    "reminder",
    "escalation-level",
    "escalation-name",
    "escalation-to",
    "due-at",
    "rule",
    "party",
    "started-by",
    "request-id",
    "examined-at",
    "substance",
    "lvm-ground",
    "voluntary-care-declined",
    "immediate-custody-advised",
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
pub const EXT_MUNICIPALITY: &str = "urn:brygga:fhir:StructureDefinition:municipality";
/// On a `service` input of a services-decided Task: what was granted, its extent, from when.
pub(super) const EXT_SERVICE_DESCRIPTION: &str =
    "urn:brygga:fhir:StructureDefinition:service-description";
pub(super) const EXT_SERVICE_EXTENT: &str = "urn:brygga:fhir:StructureDefinition:service-extent";
pub(super) const EXT_SERVICE_START: &str = "urn:brygga:fhir:StructureDefinition:service-start";
/// On a CarePlan: the samordningsärende, so that a plan read on its own names its case.
pub(super) const EXT_CASE: &str = "urn:brygga:fhir:StructureDefinition:case-reference";
pub(super) const CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
/// The system of an event's id in the gateway (what a deviation is about, its evidence).
pub(super) const EVENT_ID: &str = "urn:brygga:event-id";
/// The prefix of the Task.identifier system: `{prefix}{format}:{issuer}`.
pub(super) const MESSAGE_ID: &str = "urn:brygga:message-id:";
/// The prefix of the Task.groupIdentifier system: `{prefix}{issuer}`.
pub(super) const CASE_REFERENCE: &str = "urn:brygga:case-reference:";
/// The prefix of the CarePlan.identifier system: `{prefix}{issuer}`.
pub(super) const PLAN_ID: &str = "urn:brygga:plan-id:";
/// The system of a consent's id as the case system recorded it:
/// `urn:brygga:consent-id:{care provider}`.
pub(super) const CONSENT_ID: &str = "urn:brygga:consent-id:";

/// Why a canonical message has no FHIR rendering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{0} is not rendered as a FHIR Task")]
    NotATask(&'static str),
    #[error("the Bundle could not be written as JSON: {0}")]
    Json(String),
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
        } => municipality_reference(*kommunkod),
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

/// `party` as a FHIR Reference in JSON (for resources built as JSON, such as a Consent).
pub(in crate::formats::fhir) fn party_reference_value(party: &Party) -> serde_json::Value {
    serde_json::to_value(party_reference(party)).unwrap_or(serde_json::Value::Null)
}

/// A municipality as a whole, by its code (the owner of a report made to it).
fn municipality_reference(kommunkod: Kommunkod) -> Reference<'static> {
    Reference {
        kind: Some("Organization"),
        identifier: Some(Identifier {
            system: Cow::Borrowed(systems::KOMMUNKOD),
            value: Cow::Owned(kommunkod.to_string()),
        }),
        ..Reference::default()
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
    if let EventKind::ConsentRecorded { consent_id, .. }
    | EventKind::ConsentWithdrawn { consent_id } = &event.kind
    {
        return consent_bundle(message, consent_id, &patient_id, entries);
    }
    let requester = event.source.sender.as_ref().map(|sender| Reference {
        display: message.sender_name.as_deref(),
        ..party_reference(sender)
    });
    let TaskStep {
        code: step,
        mut inputs,
        owners,
        status,
        business_status,
        plan,
    } = task_step(message, codes, &patient_id, &requester)?;
    let focus = plan.map(|(id, entry)| {
        entries.push(entry);
        id
    });
    let time = |t: &jiff::Timestamp| t.to_string();
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

/// A consent's Bundle: a Consent (recorded, or the same resource withdrawn), not a Task.
fn consent_bundle<'a>(
    message: &'a CanonicalMessage,
    consent_id: &str,
    patient_id: &str,
    mut entries: Vec<Entry<'a>>,
) -> Result<Bundle<'a>, RenderError> {
    let event = &message.event;
    let case = &message.case;
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
        consent["performer"] = serde_json::json!([
            serde_json::to_value(performer).map_err(|e| RenderError::Json(e.to_string()))?
        ]);
    }
    entries.push(Entry {
        full_url: format!("urn:uuid:{id}"),
        resource: Resource::Consent(Box::new(consent)),
    });
    Ok(Bundle {
        resource_type: "Bundle",
        id: event.id.to_string(),
        kind: "collection",
        timestamp: message.sent_at.to_string(),
        entry: entries,
    })
}
