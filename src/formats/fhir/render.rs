//! Canonical message → FHIR R4 Bundle (collection) of Patient, Task(s) and CarePlan.
//!
//! Resource ids are derived from source identifiers (a re-sent message renders the same ids),
//! and references inside the Bundle use `urn:uuid:` full URLs, so they resolve within it.

use serde_json::{Value, json};

use super::codes::{FhirCodes, PROCESS_STEP, TASK_INPUT};
use crate::domain::event::{EventKind, MeetingPlace, Person, PlanType, SipAnswer};
use crate::domain::identifiers::{HsaId, systems};
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
    "answer",
    "proposed-at",
    "attending-function",
    "summary",
    "care-contact",
    "planned-sip-at",
    "discharged-at",
    "legal-basis",
    "report",
];

pub(super) const PLAN_TYPE: &str = "urn:brygga:fhir:CodeSystem:plan-type";
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
/// On a CarePlan: the samordningsärende, so that a plan read on its own names its case.
pub(super) const EXT_CASE: &str = "urn:brygga:fhir:StructureDefinition:case-reference";
pub(super) const CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
/// The prefix of the Task.identifier system: `{prefix}{format}:{issuer}`.
pub(super) const MESSAGE_ID: &str = "urn:brygga:message-id:";
/// The prefix of the Task.groupIdentifier system: `{prefix}{issuer}`.
pub(super) const CASE_REFERENCE: &str = "urn:brygga:case-reference:";
/// The prefix of the CarePlan.identifier system: `{prefix}{issuer}`.
pub(super) const PLAN_ID: &str = "urn:brygga:plan-id:";

/// Why a canonical message has no FHIR rendering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{0} is not rendered as a FHIR Task")]
    NotATask(&'static str),
}

fn party_reference(party: &Party) -> Value {
    match party {
        Party::RegionUnit { hsa_id } => json!({
            "type": "Organization",
            "identifier": { "system": systems::HSA_ID, "value": hsa_id.as_str() }
        }),
        Party::Municipality {
            kommunkod,
            unit: None,
        } => json!({
            "type": "Organization",
            "identifier": { "system": systems::KOMMUNKOD, "value": kommunkod.to_string() }
        }),
        Party::Municipality {
            kommunkod,
            unit: Some(unit),
        } => json!({
            "extension": [{
                "url": EXT_MUNICIPALITY,
                "valueIdentifier": { "system": systems::KOMMUNKOD, "value": kommunkod.to_string() }
            }],
            "type": "Organization",
            "identifier": { "system": systems::HSA_ID, "value": unit.as_str() }
        }),
    }
}

fn staff_reference(hsa_id: &HsaId) -> Value {
    json!({ "type": "Practitioner", "identifier": { "system": systems::HSA_ID, "value": hsa_id.as_str() } })
}

fn unit_reference(hsa_id: &HsaId) -> Value {
    party_reference(&Party::RegionUnit {
        hsa_id: hsa_id.clone(),
    })
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

struct Inputs<'a> {
    codes: &'a FhirCodes,
    list: Vec<Value>,
}

/// One typed Task input.
fn input(codes: &FhirCodes, code: &str, value_key: &str, value: Value) -> Value {
    json!({
        "type": { "coding": [{ "system": TASK_INPUT, "code": code, "display": codes.input_display(code) }] },
        value_key: value
    })
}

impl Inputs<'_> {
    fn add(&mut self, code: &str, value_key: &str, value: Value) {
        self.list.push(input(self.codes, code, value_key, value));
    }
}

fn patient(message: &CanonicalMessage, details: Option<&Person>, id: &str) -> Value {
    let mut patient = json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": [{ "system": message.person.system(), "value": message.person.value() }]
    });
    if let Some(person) = details {
        patient["name"] = json!([{
            "family": person.name.family.expose(),
            "given": [person.name.given.expose()]
        }]);
        if person.protected_identity {
            patient["meta"] = json!({ "security": [{ "system": CONFIDENTIALITY, "code": "R", "display": "restricted" }] });
        } else if let Some(address) = &person.registered_address {
            let mut a = json!({
                "use": "home",
                "type": "physical",
                "line": [address.street.expose()],
                "postalCode": address.postal_code.expose(),
                "city": address.city.expose()
            });
            if let Some(code) = address.municipality {
                a["district"] = json!(code.to_string());
            }
            patient["address"] = json!([a]);
        }
    }
    patient
}

/// Renders `message` as a FHIR R4 Bundle of type `collection`.
pub fn render(message: &CanonicalMessage, codes: &FhirCodes) -> Result<Value, RenderError> {
    let event = &message.event;
    let case = &message.case;
    let patient_id = derived_id(
        "patient",
        &[message.person.system(), &message.person.value()],
    )
    .to_string();
    let details = match &event.kind {
        EventKind::AdmissionNotice { person, .. } => Some(person),
        _ => None,
    };
    let mut entries = vec![entry(&patient_id, patient(message, details, &patient_id))];

    let mut inputs = Inputs {
        codes,
        list: Vec::new(),
    };
    // Each owner gets a Task with the common inputs plus its own.
    let mut owners: Vec<(Option<Value>, Vec<Value>)> = vec![(None, Vec::new())];
    let mut status = "completed";
    let mut business_status: Option<&str> = None;
    let mut focus: Option<String> = None;
    let requester = event.source.sender.as_ref().map(|sender| {
        let mut reference = party_reference(sender);
        if let Some(name) = &message.sender_name {
            reference["display"] = json!(name);
        }
        reference
    });

    let step = match &event.kind {
        EventKind::AdmissionNotice {
            admitted_at,
            assessed_at,
            estimated_discharge,
            psychiatric,
            recipients,
            ..
        } => {
            inputs.add(
                "admitted-at",
                "valueDateTime",
                json!(admitted_at.to_string()),
            );
            if let Some(at) = assessed_at {
                inputs.add("assessed-at", "valueDateTime", json!(at.to_string()));
            }
            if let Some(d) = estimated_discharge {
                inputs.add("estimated-discharge", "valueDate", json!(d.to_string()));
            }
            inputs.add("psychiatric", "valueBoolean", json!(psychiatric));
            owners = recipients
                .iter()
                .map(|r| (Some(party_reference(r)), Vec::new()))
                .collect();
            status = "requested";
            "admission-notice"
        }
        EventKind::EstimatedDischargeChanged {
            estimated_discharge,
        } => {
            inputs.add(
                "estimated-discharge",
                "valueDate",
                json!(estimated_discharge.to_string()),
            );
            "estimated-discharge-changed"
        }
        EventKind::CareContactAppointed {
            unit,
            function,
            name,
            staff_hsa_id,
        } => {
            inputs.add("function", "valueString", json!(function));
            if let Some(name) = name {
                inputs.add("name", "valueString", json!(name.expose()));
            }
            if let Some(staff) = staff_hsa_id {
                inputs.add("staff", "valueReference", staff_reference(staff));
            }
            owners = vec![(Some(unit_reference(unit)), Vec::new())];
            "care-contact-appointed"
        }
        EventKind::PlanningStarted { by } => {
            owners = vec![(Some(party_reference(by)), Vec::new())];
            status = "in-progress";
            "planning-started"
        }
        EventKind::ReadyForDischarge {
            decided_at,
            physician,
        } => {
            inputs.add("decided-at", "valueDateTime", json!(decided_at.to_string()));
            if let Some(physician) = physician {
                inputs.add("physician", "valueReference", staff_reference(physician));
            }
            "ready-for-discharge"
        }
        EventKind::ReadyForDischargeRevoked { reason } => {
            if let Some(reason) = reason {
                inputs.add("reason", "valueString", json!(reason.expose()));
            }
            "ready-for-discharge-revoked"
        }
        EventKind::SipInvitation {
            invitation_id,
            plan_type,
            meeting_at,
            place,
            invited,
            ..
        } => {
            inputs.add("invitation-id", "valueString", json!(invitation_id));
            inputs.add(
                "plan-type",
                "valueCoding",
                json!({ "system": PLAN_TYPE, "code": plan_type_code(*plan_type) }),
            );
            inputs.add("meeting-at", "valueDateTime", json!(meeting_at.to_string()));
            match place {
                MeetingPlace::Address { description } => {
                    inputs.add("meeting-place", "valueString", json!(description.expose()))
                }
                MeetingPlace::Link { url } => inputs.add("meeting-link", "valueUrl", json!(url)),
            }
            status = "requested";
            // One Task per invited function, so that each can accept or decline its own.
            owners = invited
                .iter()
                .map(|f| {
                    let function = input(codes, "function", "valueString", json!(f.function));
                    (Some(party_reference(&f.party)), vec![function])
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
            inputs.add("invitation-id", "valueString", json!(invitation_id));
            let (code, task_status) = match answer {
                SipAnswer::Accepted => ("accepted", "accepted"),
                SipAnswer::Declined { .. } => ("declined", "rejected"),
                SipAnswer::ProposedOtherTime { .. } => ("proposed-other-time", "received"),
            };
            inputs.add(
                "answer",
                "valueCoding",
                json!({ "system": ANSWER, "code": code }),
            );
            match answer {
                SipAnswer::Accepted => {}
                SipAnswer::Declined { reason } => {
                    inputs.add("reason", "valueString", json!(reason.expose()))
                }
                SipAnswer::ProposedOtherTime {
                    proposed_at,
                    reason,
                } => {
                    inputs.add(
                        "proposed-at",
                        "valueDateTime",
                        json!(proposed_at.to_string()),
                    );
                    if let Some(reason) = reason {
                        inputs.add("reason", "valueString", json!(reason.expose()));
                    }
                }
            }
            if let Some(function) = attending_function {
                inputs.add("attending-function", "valueString", json!(function));
            }
            owners = vec![(Some(party_reference(responder)), Vec::new())];
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
            let plan_uuid = derived_id("careplan", &[&case.issuer, plan_id]).to_string();
            let mut extension = vec![
                json!({ "url": EXT_CASE, "valueIdentifier": {
                    "system": format!("{CASE_REFERENCE}{}", case.issuer), "value": case.value
                } }),
                json!({ "url": EXT_OVERALL, "valueCode": principal_code(Some(*overall_responsibility)) }),
                json!({ "url": EXT_NEXT_OF_KIN, "valueBoolean": next_of_kin_participated }),
            ];
            if let Some(d) = follow_up_on {
                extension.push(json!({ "url": EXT_FOLLOW_UP, "valueDate": d.to_string() }));
            }
            let activity: Vec<Value> = activities
                .iter()
                .map(|a| {
                    let mut detail = json!({
                        "extension": [{ "url": EXT_RESPONSIBLE, "valueCode": principal_code(a.responsible) }],
                        "status": "scheduled",
                        "description": a.description.expose()
                    });
                    if let Some(service) = a.service_type {
                        let code = serde_json::to_value(service).unwrap_or(Value::Null);
                        detail["code"] = json!({ "coding": [{ "system": SERVICE_TYPE, "code": code }] });
                    }
                    if let Some(performer) = &a.performer {
                        detail["performer"] = json!([party_reference(performer)]);
                    }
                    json!({ "detail": detail })
                })
                .collect();
            let mut care_plan = json!({
                "resourceType": "CarePlan",
                "id": plan_uuid,
                "extension": extension,
                "identifier": [{ "system": format!("{PLAN_ID}{}", case.issuer), "value": plan_id }],
                "status": "active",
                "intent": "plan",
                "category": [{ "coding": [{ "system": PLAN_TYPE, "code": plan_type_code(*plan_type) }] }],
                "subject": { "reference": format!("urn:uuid:{patient_id}") },
                "created": message.sent_at.to_string(),
                "activity": activity
            });
            if let Some(author) = &requester {
                care_plan["author"] = author.clone();
            }
            entries.push(entry(&plan_uuid, care_plan));
            focus = Some(plan_uuid);
            "sip-plan"
        }
        EventKind::InformationAtDischarge {
            summary,
            care_contact,
            planned_sip_at,
        } => {
            inputs.add("summary", "valueString", json!(summary.expose()));
            if let Some(contact) = care_contact {
                inputs.add("care-contact", "valueReference", unit_reference(contact));
            }
            if let Some(at) = planned_sip_at {
                inputs.add("planned-sip-at", "valueDateTime", json!(at.to_string()));
            }
            "information-at-discharge"
        }
        EventKind::Discharged { discharged_at } => {
            inputs.add(
                "discharged-at",
                "valueDateTime",
                json!(discharged_at.to_string()),
            );
            "discharged"
        }
        EventKind::CaseCancelled { reason } => {
            inputs.add("reason", "valueString", json!(reason.expose()));
            status = "cancelled";
            "case-cancelled"
        }
        EventKind::LvmReport {
            physician,
            to_municipality,
            legal_basis,
            report,
        } => {
            inputs.add("physician", "valueReference", staff_reference(physician));
            inputs.add("legal-basis", "valueString", json!(legal_basis));
            inputs.add("report", "valueString", json!(report.expose()));
            let municipality = Party::Municipality {
                kommunkod: *to_municipality,
                unit: None,
            };
            owners = vec![(Some(party_reference(&municipality)), Vec::new())];
            status = "requested";
            "lvm-report"
        }
        EventKind::ConsentRecorded { .. } | EventKind::ConsentWithdrawn { .. } => {
            return Err(RenderError::NotATask("a consent"));
        }
        EventKind::DeviationRaised { .. } | EventKind::DeviationAnswered { .. } => {
            return Err(RenderError::NotATask("a deviation report"));
        }
        EventKind::DeadlineMissed { .. } => return Err(RenderError::NotATask("a missed deadline")),
    };
    let per_owner = owners
        .into_iter()
        .map(|(owner, own)| (owner, inputs.list.iter().cloned().chain(own).collect()))
        .collect();
    let rendered = tasks(
        message,
        codes,
        step,
        status,
        business_status,
        requester,
        &patient_id,
        focus,
        per_owner,
    );
    entries.extend(rendered);
    Ok(bundle_entries(message, entries))
}

fn entry(id: &str, resource: Value) -> Value {
    json!({ "fullUrl": format!("urn:uuid:{id}"), "resource": resource })
}

fn bundle_entries(message: &CanonicalMessage, entries: Vec<Value>) -> Value {
    json!({
        "resourceType": "Bundle",
        "id": message.event.id.to_string(),
        "type": "collection",
        "timestamp": message.sent_at.to_string(),
        "entry": entries
    })
}

#[allow(clippy::too_many_arguments)]
fn tasks(
    message: &CanonicalMessage,
    codes: &FhirCodes,
    step: &str,
    status: &str,
    business_status: Option<&str>,
    requester: Option<Value>,
    patient_id: &str,
    focus: Option<String>,
    per_owner: Vec<(Option<Value>, Vec<Value>)>,
) -> Vec<Value> {
    let event = &message.event;
    let case = &message.case;
    per_owner
        .into_iter()
        .enumerate()
        .map(|(i, (owner, input))| {
            let id = derived_id("task", &[&event.id.to_string(), &i.to_string()]).to_string();
            let mut task = json!({
                "resourceType": "Task",
                "id": id,
                "identifier": [{
                    "system": format!("{MESSAGE_ID}{}:{}", event.source.format, case.issuer),
                    "value": event.source.message_id
                }],
                "groupIdentifier": { "system": format!("{CASE_REFERENCE}{}", case.issuer), "value": case.value },
                "status": status,
                "intent": "order",
                "code": { "coding": [{ "system": PROCESS_STEP, "code": step, "display": codes.step_display(step) }] },
                "for": { "reference": format!("urn:uuid:{patient_id}") },
                "executionPeriod": { "start": event.occurred_at.to_string() },
                "authoredOn": message.sent_at.to_string(),
                "lastModified": message.sent_at.to_string()
            });
            if let Some(code) = business_status {
                task["businessStatus"] = json!({ "coding": [{ "system": ANSWER, "code": code }] });
            }
            if let Some(requester) = &requester {
                task["requester"] = requester.clone();
            }
            if let Some(owner) = owner {
                task["owner"] = owner;
            }
            if let Some(plan) = &focus {
                task["focus"] = json!({ "reference": format!("urn:uuid:{plan}") });
            }
            if !input.is_empty() {
                task["input"] = Value::Array(input);
            }
            entry(&id, task)
        })
        .collect()
}
