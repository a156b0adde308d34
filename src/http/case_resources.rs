//! The FHIR resources the gateway assembles from case events (`Task`, `CarePlan`), as their
//! handlers share them: one found by id for the caller (through its case, read as the caller
//! may, audited), its versions (`vread`, `_history`), answers with `ETag`, and the search over a
//! person's cases.
//!
//! Ids name their case: a Task's is its step's event id and owner number, a CarePlan's its
//! case id and a digest of the plan's id. An id the gateway did not give, a case the caller
//! takes part in none of, and a resource its decision withholds all answer 404 alike.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::error::{ApiError, internal};
use super::fhir::{fhir_json, version_headers};
use super::router::AppState;
use crate::auth::Caller;
use crate::domain::case::CaseId;
use crate::domain::event::EventId;
use crate::domain::identifiers::PersonId;
use crate::formats::fhir::{careplan_case, task_event};
use crate::pipeline::{CaseResources, History, ReceiveError, Version};

fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError::NotFound(format!("{kind}/{id} is not known"))
}

/// The case the id of a `kind` resource names, if it is stored.
async fn case_of(state: &AppState, kind: &str, id: &str) -> Result<Option<CaseId>, ApiError> {
    match kind {
        "Task" => match task_event(id) {
            Some((event, _)) => state
                .pipeline
                .store
                .case_of_event(EventId(event))
                .await
                .map_err(internal),
            None => Ok(None),
        },
        "CarePlan" => Ok(careplan_case(id)),
        _ => Ok(None),
    }
}

/// The resources of case `case_id` as the caller may see them (`None`: it takes part in no
/// such case); the read is audited as `what`.
pub async fn of_case(
    state: &AppState,
    caller: &Caller,
    case_id: CaseId,
    what: &str,
) -> Result<Option<CaseResources>, ApiError> {
    let pipeline = &state.pipeline;
    match pipeline
        .read_case(case_id, &caller.organisation, &caller.client_id, what)
        .await
    {
        Ok(read) => Ok(Some(read.resources(&pipeline.mappings))),
        Err(ReceiveError::UnknownCase { .. }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// `kind/id` with its versions, as the caller may see it.
pub async fn find(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    id: &str,
) -> Result<History, ApiError> {
    let case_id = case_of(state, kind, id)
        .await?
        .ok_or_else(|| not_found(kind, id))?;
    of_case(state, caller, case_id, &kind.to_lowercase())
        .await?
        .and_then(|resources| resources.find(kind, id).cloned())
        .ok_or_else(|| not_found(kind, id))
}

/// Every resource of the cases of `person` that the caller takes part in, each case read
/// audited as `what` (a search that finds none is audited too).
pub async fn of_person(
    state: &AppState,
    caller: &Caller,
    person: &PersonId,
    what: &str,
) -> Result<Vec<CaseResources>, ApiError> {
    let pipeline = &state.pipeline;
    Ok(pipeline
        .read_cases_of(person, &caller.organisation, &caller.client_id, what)
        .await?
        .iter()
        .map(|read| read.resources(&pipeline.mappings))
        .collect())
}

/// What a search's `patient` (or `subject`) names.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The person, whose cases are searched: named by `system|value`, or by the id of their
    /// Patient as the gateway gives it.
    pub person: Option<PersonId>,
    /// The keys kept resources about it are found under (`system|value`, `Patient/id`).
    pub keys: Vec<String>,
}

/// Reads `patient=`: `<system>|<value>` of a Swedish person, or a reference (`Patient/id`, or
/// the bare id).
pub async fn subject_parameter(state: &AppState, text: &str) -> Result<Subject, ApiError> {
    let today = state.pipeline.clock.today();
    if let Ok(person) = super::audit::person_parameter(text, today) {
        return Ok(Subject {
            keys: vec![format!("{}|{}", person.system(), person.value())],
            person: Some(person),
        });
    }
    let id = text.strip_prefix("Patient/").unwrap_or(text);
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    if id.is_empty() || id.len() > 64 || !id.chars().all(plain) {
        return Err(ApiError::BadRequest {
            diagnostics: format!(
                "patient={text}: <system>|<value> of a personnummer, samordningsnummer or reserve number (e.g. http://electronichealth.se/identifier/personnummer|191212121212), or a Patient reference (Patient/<id>)"
            ),
            expression: None,
        });
    }
    let person = state
        .pipeline
        .store
        .person_of_patient(id)
        .await
        .map_err(internal)?;
    let mut keys = vec![format!("Patient/{id}")];
    if let Some(person) = &person {
        keys.push(format!("{}|{}", person.system(), person.value()));
    }
    Ok(Subject { person, keys })
}

/// What a search about `subject` looks through: the resources of the person's cases, and the
/// current versions of the caller's kept `kind` resources about it (as search hits).
pub async fn searched(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    subject: &Subject,
    what: &str,
) -> Result<(Vec<CaseResources>, Vec<super::search::Hit>), ApiError> {
    let cases = match &subject.person {
        Some(person) => of_person(state, caller, person, what).await?,
        None => Vec::new(),
    };
    let mut kept = Vec::new();
    for key in &subject.keys {
        kept.extend(super::stored::hits(state, caller, kind, Some(key)).await?);
    }
    Ok((cases, kept))
}

/// `version` of `kind/id` as an answer with its `ETag` and `Content-Location`.
pub fn versioned(status: StatusCode, kind: &str, id: &str, version: &Version) -> Response {
    let mut response = fhir_json(status, version.resource.clone());
    version_headers(&mut response, kind, id, u64::from(version.version));
    if let Ok(modified) = axum::http::HeaderValue::from_str(
        &version
            .last_updated
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string(),
    ) {
        response
            .headers_mut()
            .insert(axum::http::header::LAST_MODIFIED, modified);
    }
    response
}

/// The version `vid` (the path's text) of `history`.
pub fn version_of<'a>(history: &'a History, vid: &str) -> Result<&'a Version, ApiError> {
    vid.parse::<u32>()
        .ok()
        .and_then(|v| history.version(v))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "{}/{} has no version {vid:?}; its versions are 1 to {}",
                history.kind,
                history.id,
                history.current().version
            ))
        })
}

/// `history` as a FHIR `history` Bundle, newest version first.
pub fn history_bundle(history: &History, base: &super::Base) -> Value {
    let entries: Vec<Value> = history
        .versions
        .iter()
        .rev()
        .map(|version| {
            let first = version.version == 1;
            json!({
                "fullUrl": base.fhir(&format!("{}/{}", history.kind, history.id)),
                "resource": version.resource,
                "request": {
                    "method": if first { "POST" } else { "PUT" },
                    "url": if first { history.kind.to_owned() } else { format!("{}/{}", history.kind, history.id) },
                },
                "response": {
                    "status": if first { "201 Created" } else { "200 OK" },
                    "etag": format!("W/\"{}\"", version.version),
                    "lastModified": version.last_updated.to_string(),
                },
            })
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "history",
        "total": entries.len(),
        "entry": entries,
    })
}

/// What a read asks of a resource's versions.
#[derive(Debug, Clone, Copy)]
pub enum Show<'a> {
    /// `GET /fhir/{kind}/{id}`: the current version.
    Current,
    /// `GET …/_history/{vid}`.
    Version(&'a str),
    /// `GET …/_history`: every version, with URLs under the request's base.
    History(&'a super::Base),
}

/// The answer to a read, `vread` or `_history` of `history`.
pub fn show(history: &History, what: Show<'_>) -> Result<Response, ApiError> {
    Ok(match what {
        Show::Current => versioned(StatusCode::OK, history.kind, &history.id, history.current()),
        Show::Version(vid) => versioned(
            StatusCode::OK,
            history.kind,
            &history.id,
            version_of(history, vid)?,
        ),
        Show::History(base) => fhir_json(StatusCode::OK, history_bundle(history, base)),
    })
}

/// Records the FHIR document `body` through the pipeline as the caller's organisation; a
/// refusal that hides another organisation's case (404) is audited.
pub async fn receive(
    state: &AppState,
    caller: &Caller,
    route: &str,
    body: &[u8],
) -> Result<crate::pipeline::Receipt, ApiError> {
    let result = state
        .pipeline
        .receive_fhir(body, crate::pipeline::Acting::Client(&caller.organisation))
        .await
        .map_err(ApiError::from);
    state.metrics.step("fhir", &result);
    super::auth::audited(state, caller, route, result).await
}

/// Refuses a change whose `If-Match` names another version than `current`, or names none
/// when `required` (`server.require_if_match`).
pub fn check_if_match(
    headers: &axum::http::HeaderMap,
    history: &History,
    required: bool,
) -> Result<(), ApiError> {
    let current = history.current().version;
    match super::fhir::if_match(headers, required)? {
        Some(asked) if asked != u64::from(current) => Err(ApiError::PreconditionFailed(format!(
            "If-Match names version {asked}; {}/{} is at version {current}",
            history.kind, history.id
        ))),
        _ => Ok(()),
    }
}
