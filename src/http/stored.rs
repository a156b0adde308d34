//! FHIR resources a client keeps at the gateway that are no process document: a `Task` with
//! no process step, a `CarePlan` that names no case, a `Patient` it records. They are kept as
//! received, every version, for the organisation whose client created them; no other
//! organisation sees them, they are not routed, and the answer says so in an
//! `x-brygga-warning` header. Every write and read is audited (with the person, when the
//! resource names one by a Swedish identifier).
//!
//! Ids are plain UUIDs, so they never meet the ids the gateway gives the process's resources.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::auth;
use super::case_resources::{self, versioned};
use super::error::{ApiError, internal};
use super::router::AppState;
use super::search::{Hit, identifier_matches};
use crate::auth::Caller;
use crate::changes::AuditEntry;
use crate::domain::identifiers::PersonId;
use crate::formats::fhir::{PLAN_TYPE, PROCESS_STEP};
use crate::pipeline::{History, Version};
use crate::store::{ResourceWrite, ResourceWriteError, StoredResource};

const CASE_REFERENCE: &str = "urn:brygga:case-reference:";
const CASE_EXTENSION: &str = "urn:brygga:fhir:StructureDefinition:case-reference";

/// Whether `resource` (a `kind`) is a document of the process — a step or a plan the gateway
/// records as an event — rather than a resource the client keeps: a Task with a process-step
/// code or a case reference, a CarePlan with a plan type or a case reference. A Patient never
/// is.
pub fn is_process_document(kind: &str, resource: &Value) -> bool {
    let has_coding = |concept: &Value, system: &str| {
        concept["coding"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["system"].as_str() == Some(system))
    };
    match kind {
        "Task" => {
            has_coding(&resource["code"], PROCESS_STEP)
                || resource["groupIdentifier"]["system"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(CASE_REFERENCE))
        }
        "CarePlan" => {
            resource["category"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| has_coding(c, PLAN_TYPE))
                || resource["extension"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["url"].as_str() == Some(CASE_EXTENSION))
        }
        _ => false,
    }
}

/// The person a `Reference` names by a Swedish identifier, if it does.
fn person_in(reference: &Value, today: jiff::civil::Date) -> Option<PersonId> {
    let identifier = reference.get("identifier")?;
    PersonId::from_system(
        identifier["system"].as_str()?,
        identifier["value"].as_str()?,
        today,
    )
}

/// What a resource is about, as searches name it: `system|value` of a person it names by a
/// Swedish identifier, else its reference (`Patient/example`).
fn subject_key(kind: &str, resource: &Value, today: jiff::civil::Date) -> Option<String> {
    let reference = match kind {
        "Task" => &resource["for"],
        "CarePlan" => &resource["subject"],
        _ => return None,
    };
    match person_in(reference, today) {
        Some(person) => Some(format!("{}|{}", person.system(), person.value())),
        None => reference["reference"].as_str().map(str::to_owned),
    }
}

/// The person a resource is about, for its audit record.
fn person_of(kind: &str, resource: &Value, today: jiff::civil::Date) -> Option<PersonId> {
    match kind {
        "Task" => person_in(&resource["for"], today),
        "CarePlan" => person_in(&resource["subject"], today),
        _ => resource["identifier"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|identifier| person_in(&json!({ "identifier": identifier }), today)),
    }
}

fn audit(caller: &Caller, action: String, person: Option<PersonId>, details: Value) -> AuditEntry {
    AuditEntry {
        actor: caller.client_id.clone(),
        organisation: Some(caller.organisation.code()),
        action,
        person,
        purpose: "samverkan vid utskrivning".to_owned(),
        legal_basis: None,
        details,
    }
}

fn history_of(kind: &'static str, versions: Vec<StoredResource>) -> Option<History> {
    let id = versions.first()?.id.clone();
    Some(History {
        kind,
        id,
        versions: versions
            .into_iter()
            .map(|stored| Version {
                resource: stored.resource,
                version: stored.version as u32,
                last_updated: stored.last_updated,
            })
            .collect(),
    })
}

/// `kind/id` kept for the caller's organisation, with its versions (the read audited).
pub async fn find(
    state: &AppState,
    caller: &Caller,
    kind: &'static str,
    id: &str,
) -> Result<Option<History>, ApiError> {
    let versions = state
        .pipeline
        .store
        .resource_versions(kind, id, &caller.organisation.code())
        .await
        .map_err(internal)?;
    let Some(history) = history_of(kind, versions) else {
        return Ok(None);
    };
    let today = state.pipeline.clock.today();
    let entry = audit(
        caller,
        format!("read {}", kind.to_lowercase()),
        person_of(kind, &history.current().resource, today),
        json!({ "resource": format!("{kind}/{id}") }),
    );
    auth::record(state, entry).await?;
    Ok(Some(history))
}

/// `kind/id` for the caller: a resource it keeps, else one of the process (its case read as
/// the caller may). Neither: 404.
pub async fn find_either(
    state: &AppState,
    caller: &Caller,
    kind: &'static str,
    id: &str,
) -> Result<History, ApiError> {
    match find(state, caller, kind, id).await? {
        Some(history) => Ok(history),
        None => case_resources::find(state, caller, kind, id).await,
    }
}

/// The current versions of the caller's `kind` resources about `subject` (all, without one),
/// as search hits.
pub async fn hits(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    subject: Option<&str>,
) -> Result<Vec<Hit>, ApiError> {
    Ok(state
        .pipeline
        .store
        .current_resources(kind, &caller.organisation.code(), subject)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|stored| Hit {
            last_updated: stored.last_updated,
            id: stored.id,
            resource: stored.resource,
        })
        .collect())
}

/// The header that says what keeping a resource means.
fn kept_warning(kind: &str, caller: &Caller) -> HeaderValue {
    let why = match kind {
        "Task" => " (no code from urn:brygga:fhir:CodeSystem:process-step and no case reference)",
        "CarePlan" => " (no plan type and no case reference)",
        _ => "",
    };
    HeaderValue::from_str(&format!(
        "{kind}: kept as received for organisation {} only; not a process document{why}, not routed",
        caller.organisation.code()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("kept as received; not routed"))
}

fn answer(status: StatusCode, history: &History, caller: &Caller, created: bool) -> Response {
    let mut response = versioned(status, history.kind, &history.id, history.current());
    let headers = response.headers_mut();
    if created
        && let Ok(location) = HeaderValue::from_str(&format!(
            "/fhir/{}/{}/_history/{}",
            history.kind,
            history.id,
            history.current().version
        ))
    {
        headers.insert(header::LOCATION, location);
    }
    headers.append(
        HeaderName::from_static("x-brygga-warning"),
        kept_warning(history.kind, caller),
    );
    response
}

pub fn write_error(error: ResourceWriteError) -> ApiError {
    match error {
        ResourceWriteError::NotFound { .. } => ApiError::NotFound(error.to_string()),
        ResourceWriteError::VersionConflict { .. } => {
            ApiError::PreconditionFailed(format!("If-Match: {error}"))
        }
        ResourceWriteError::Store(store) => internal(store),
    }
}

/// The search in `If-None-Exist` (`identifier=[system|]value`), if the request has one.
fn if_none_exist(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("if-none-exist") else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ApiError::BadRequest {
        diagnostics: "If-None-Exist is not visible ASCII; a conditional create is by identifier=[system|]value".to_owned(),
        expression: None,
    })?;
    // An empty header asks for no condition.
    if text.trim().is_empty() {
        return Ok(None);
    }
    match text.split_once('=') {
        Some(("identifier", wanted)) if !wanted.is_empty() => {
            Ok(Some(wanted.replace("%7C", "|").replace("%7c", "|")))
        }
        _ => Err(ApiError::BadRequest {
            diagnostics: format!(
                "If-None-Exist {text:?}: a conditional create is by identifier=[system|]value"
            ),
            expression: None,
        }),
    }
}

/// Keeps `resource` as a new `kind` for the caller (201), or, when `If-None-Exist` finds one
/// already, answers that one (200; 412 if it finds several).
pub async fn create(
    state: &AppState,
    caller: &Caller,
    kind: &'static str,
    headers: &HeaderMap,
    resource: Value,
) -> Result<Response, ApiError> {
    if let Some(wanted) = if_none_exist(headers)? {
        let found: Vec<Hit> = hits(state, caller, kind, None)
            .await?
            .into_iter()
            .filter(|hit| {
                identifier_matches(
                    &wanted,
                    hit.resource["identifier"].as_array().into_iter().flatten(),
                )
            })
            .collect();
        match found.as_slice() {
            [] => {}
            [one] => {
                let history = find(state, caller, kind, &one.id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("{kind}/{} is not known", one.id)))?;
                return Ok(answer(StatusCode::OK, &history, caller, false));
            }
            several => {
                return Err(ApiError::PreconditionFailed(format!(
                    "If-None-Exist identifier={wanted} matches {} {kind} resources; a conditional create needs at most one",
                    several.len()
                )));
            }
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    write(state, caller, kind, &id, None, resource, true).await
}

/// Keeps `resource` as the next version of the caller's `kind/id` (`If-Match` honoured).
pub async fn update(
    state: &AppState,
    caller: &Caller,
    kind: &'static str,
    id: &str,
    headers: &HeaderMap,
    current: &History,
    resource: Value,
) -> Result<Response, ApiError> {
    let expected = super::fhir::if_match(headers, state.require_if_match)?
        .unwrap_or(u64::from(current.current().version));
    write(state, caller, kind, id, Some(expected), resource, false).await
}

/// `resource` checked against the FHIR R4 models before it is kept: a resource the models
/// refuse (a required element missing, a value of the wrong type, a value R4 forbids) is a
/// 422 naming the element, so that no client keeps a resource another client cannot read. An
/// element the models do not know is refused too, unless `keep_unknown`
/// (`server.keep_unknown_elements`): then the answer is the warnings that name each.
pub fn validated(resource: &Value, keep_unknown: bool) -> Result<Vec<String>, ApiError> {
    let kind = resource["resourceType"].as_str().unwrap_or("Resource");
    match brygga_fhir::check_value(resource) {
        Err(brygga_fhir::FhirError::Invalid { message, .. }) => {
            let expression = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
                .map(|field| format!("{kind}.{field}"))
                .unwrap_or_else(|| kind.to_owned());
            Err(ApiError::UnprocessableAt {
                diagnostics: format!("not a valid FHIR R4 {kind}: {message}"),
                expression,
            })
        }
        Err(other) => Err(ApiError::UnprocessableAt {
            diagnostics: other.to_string(),
            expression: kind.to_owned(),
        }),
        Ok(checked) if !checked.invalid.is_empty() => Err(ApiError::UnprocessableAt {
            diagnostics: format!("not a valid FHIR R4 {kind}: {}", checked.invalid.join(", ")),
            expression: path_of(&checked.invalid[0]),
        }),
        Ok(checked) if keep_unknown && checked.lost.iter().all(|l| !l.ends_with("(value changed)")) => {
            Ok(checked
                .lost
                .iter()
                .map(|path| format!("{path}: not an element of FHIR R4; kept as sent (server.keep_unknown_elements)"))
                .collect())
        }
        Ok(checked) => match checked.lost.first() {
            None => Ok(Vec::new()),
            Some(first) => Err(ApiError::UnprocessableAt {
                diagnostics: format!(
                    "not an element of FHIR R4 {kind}, or not a value it can hold: {}",
                    checked.lost.join(", ")
                ),
                expression: path_of(first),
            }),
        },
    }
}

/// The element path of a model finding (`Task.intent ("AAA" is not …)` → `Task.intent`).
pub fn path_of(finding: &str) -> String {
    finding
        .split_once(" (")
        .map_or(finding, |(path, _)| path)
        .to_owned()
}

/// The write of `resource` as the next version of `kind/id` for the caller (`expected`: the
/// version it follows; none for a new resource), and its audit record.
pub fn prepared_write(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    id: &str,
    expected: Option<u64>,
    resource: Value,
) -> (ResourceWrite, AuditEntry) {
    let today = state.pipeline.clock.today();
    let action = if expected.is_none() {
        "create"
    } else {
        "update"
    };
    let entry = audit(
        caller,
        format!("{action} {}", kind.to_lowercase()),
        person_of(kind, &resource, today),
        json!({ "resource": format!("{kind}/{id}"), "version": expected.map_or(1, |v| v + 1) }),
    );
    let write = ResourceWrite {
        kind: kind.to_owned(),
        id: id.to_owned(),
        expected,
        organisation: caller.organisation.code(),
        client_id: caller.client_id.clone(),
        subject: subject_key(kind, &resource, today),
        resource,
    };
    (write, entry)
}

async fn write(
    state: &AppState,
    caller: &Caller,
    kind: &'static str,
    id: &str,
    expected: Option<u64>,
    resource: Value,
    created: bool,
) -> Result<Response, ApiError> {
    let warnings = validated(&resource, state.keep_unknown_elements)?;
    let (write, entry) = prepared_write(state, caller, kind, id, expected, resource);
    let stored = state
        .pipeline
        .store
        .write_resource(write, &[entry], state.pipeline.clock.now())
        .await
        .map_err(write_error)?;
    let history = history_of(kind, vec![stored])
        .ok_or_else(|| ApiError::Internal(format!("{kind}/{id} was written but not answered")))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = answer(status, &history, caller, created);
    super::error::warning_headers(response.headers_mut(), &warnings);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_documents_are_told_from_resources_a_client_keeps() {
        let step = json!({ "code": { "coding": [{ "system": PROCESS_STEP, "code": "planning-started" }] } });
        assert!(is_process_document("Task", &step));
        let in_case = json!({ "groupIdentifier": { "system": "urn:brygga:case-reference:SE1", "value": "1" } });
        assert!(is_process_document("Task", &in_case));
        let official = json!({ "code": { "text": "Lipid Panel" } });
        assert!(!is_process_document("Task", &official));
        let plan = json!({ "category": [{ "coding": [{ "system": PLAN_TYPE, "code": "SIP" }] }] });
        assert!(is_process_document("CarePlan", &plan));
        assert!(!is_process_document(
            "CarePlan",
            &json!({ "category": [{ "text": "Weight management plan" }] })
        ));
        assert!(!is_process_document("Patient", &step));
    }
}
