//! FHIR `Patient`: the people of the caller's cases, and people a client records itself.
//!
//! - `GET /fhir/Patient?identifier=[system|]value` (scope `Patient.s`): the person of the
//!   caller's cases, with what the admission notices released to the caller (name; the
//!   registered address unless the identity is protected), and the Patients the caller keeps
//!   with that identifier. A person with no case the caller takes part in is not found (an
//!   empty searchset), as one who does not exist. Each case read is audited, through the
//!   disclosure decision.
//! - `GET /fhir/Patient/{id}` (`Patient.r`), `/_history`, `/_history/{vid}`: a case person's
//!   Patient (one version: it is assembled from the case messages) or a kept one.
//! - `POST /fhir/Patient` (`Patient.c`, `If-None-Exist: identifier=…` honoured) and
//!   `PUT /fhir/Patient/{id}` (`Patient.u`, `If-Match`): a Patient the client keeps
//!   (`super::stored`). A case person's Patient is not changed through the API: it is what
//!   the case messages say.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::auth;
use super::case_resources::{Show, show};
use super::error::{ApiError, internal};
use super::fhir::{fhir_json, resource_body, update_body};
use super::router::AppState;
use super::search::{Hit, Params, common_filters, identifier_matches, searchset};
use super::stored;
use crate::auth::{Caller, Interaction};
use crate::domain::event::EventKind;
use crate::domain::identifiers::{PersonId, systems};
use crate::formats::fhir::{patient_id, patient_resource};
use crate::pipeline::{History, Version};

const RESOURCE: &str = "Patient";

/// The Patient of `person` as the caller may see it (`None`: it takes part in no case of
/// theirs), each case read audited as `what`.
async fn case_patient(
    state: &AppState,
    caller: &Caller,
    person: &PersonId,
    what: &str,
) -> Result<Option<History>, ApiError> {
    let reads = state
        .pipeline
        .read_cases_of(person, &caller.organisation, &caller.client_id, what)
        .await?;
    // The latest admission notice released to the caller names the person; the Patient was
    // last changed when it was recorded.
    let mut latest = None;
    let mut first_recorded = None;
    for read in &reads {
        for released in read.events() {
            let event = released.event();
            let recorded = read.recorded_at(event.id).unwrap_or(event.occurred_at);
            first_recorded =
                Some(first_recorded.map_or(recorded, |t: jiff::Timestamp| t.min(recorded)));
            if let EventKind::AdmissionNotice { person, .. } = &event.kind
                && latest.as_ref().is_none_or(|(at, _)| *at <= recorded)
            {
                latest = Some((recorded, person.clone()));
            }
        }
    }
    let Some(last_updated) = latest.as_ref().map(|(at, _)| *at).or(first_recorded) else {
        return Ok(None);
    };
    let details = latest.map(|(_, details)| details);
    // Protected identity is the person's, whatever the case that named them said.
    let protected = state
        .pipeline
        .store
        .person_protected(person)
        .await
        .map_err(internal)?;
    let mut resource = patient_resource(person, details.as_ref(), protected)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    resource["meta"]["versionId"] = json!("1");
    resource["meta"]["lastUpdated"] = json!(last_updated.to_string());
    Ok(Some(History {
        kind: RESOURCE,
        id: patient_id(person),
        versions: vec![Version {
            resource,
            version: 1,
            last_updated,
        }],
    }))
}

/// `Patient/id` for the caller: one it keeps, else the person of one of its cases.
async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<History, ApiError> {
    if let Some(kept) = stored::find(state, caller, RESOURCE, id).await? {
        return Ok(kept);
    }
    let not_found = || ApiError::NotFound(format!("Patient/{id} is not known"));
    let person = state
        .pipeline
        .store
        .person_of_patient(id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    case_patient(state, caller, &person, "patient")
        .await?
        .ok_or_else(not_found)
}

/// `GET /fhir/Patient?identifier=system|value`.
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    base: super::Base,
    query: super::search::SearchQuery,
) -> Result<Response, ApiError> {
    auth::require(
        &state,
        &caller,
        "/fhir/Patient",
        RESOURCE,
        Interaction::Search,
    )
    .await?;
    let params = Params::new(query, RESOURCE, &["identifier"])?;
    let identifier = params.first("identifier").ok_or_else(|| ApiError::BadRequest {
        diagnostics: "search by identifier: ?identifier=<system>|<value>, e.g. http://electronichealth.se/identifier/personnummer|191212121212".to_owned(),
        expression: None,
    })?;
    let mut hits = Vec::new();
    let person = super::audit::person_parameter(identifier, state.pipeline.clock.today());
    // A Swedish person's system with a number that is none is a mistake worth saying.
    if person.is_err()
        && let Some((system, _)) = identifier.split_once('|')
        && [
            systems::PERSONNUMMER,
            systems::SAMORDNINGSNUMMER,
            systems::NATIONAL_RESERVE_NUMBER,
        ]
        .contains(&system)
    {
        return Err(ApiError::BadRequest {
            diagnostics: format!(
                "identifier={identifier}: not a valid number of {system} (twelve digits with a correct check digit)"
            ),
            expression: None,
        });
    }
    if let Ok(person) = person
        && let Some(history) = case_patient(&state, &caller, &person, "patient").await?
    {
        let current = history.current();
        hits.push(Hit {
            last_updated: current.last_updated,
            id: history.id.clone(),
            resource: current.resource.clone(),
        });
    }
    for hit in stored::hits(&state, &caller, RESOURCE, None).await? {
        if identifier_matches(
            identifier,
            hit.resource["identifier"].as_array().into_iter().flatten(),
        ) {
            hits.push(hit);
        }
    }
    let mut found = Vec::new();
    for hit in hits {
        if common_filters(&params, &hit)? {
            found.push(hit);
        }
    }
    let bundle = searchset(&base, RESOURCE, &params, found, |_| Vec::new())?;
    Ok(fhir_json(StatusCode::OK, bundle))
}

/// `GET /fhir/Patient/{id}`.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Patient/{id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(
        &auth::audited(&state, &caller, ROUTE, find(&state, &caller, &id).await).await?,
        Show::Current,
    )
}

/// `GET /fhir/Patient/{id}/_history/{vid}`.
pub async fn vread(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Patient/{id}/_history/{vid}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(
        &auth::audited(&state, &caller, ROUTE, find(&state, &caller, &id).await).await?,
        Show::Version(&vid),
    )
}

/// `GET /fhir/Patient/{id}/_history`.
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    base: super::Base,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Patient/{id}/_history";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(
        &auth::audited(&state, &caller, ROUTE, find(&state, &caller, &id).await).await?,
        Show::History(&base),
    )
}

/// `POST /fhir/Patient`: a Patient the client keeps.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth::require(
        &state,
        &caller,
        "/fhir/Patient",
        RESOURCE,
        Interaction::Create,
    )
    .await?;
    let patient = resource_body(&headers, &body, RESOURCE)?;
    stored::create(&state, &caller, RESOURCE, &headers, patient).await
}

/// `PUT /fhir/Patient/{id}`: the next version of a Patient the client keeps.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Patient/{id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Update).await?;
    let patient = update_body(&headers, &body, RESOURCE, &id)?;
    if let Some(kept) = stored::find(&state, &caller, RESOURCE, &id).await? {
        return stored::update(&state, &caller, RESOURCE, &id, &headers, &kept, patient).await;
    }
    // A case person's Patient exists for the caller only through its cases.
    auth::audited(&state, &caller, ROUTE, find(&state, &caller, &id).await).await?;
    Err(ApiError::Unprocessable(format!(
        "Patient/{id} is a person of the caller's cases, as the case messages describe them; it is not changed through the API"
    )))
}

/// The body of `POST /protection/lift`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lift {
    /// Personnummer, samordningsnummer or reserve number.
    pub person: String,
    /// Why the protection no longer applies (kept in the audit log).
    pub reason: String,
}

/// `POST /protection/lift`: lifts a person's protected identity. Only a client registered
/// with `may_lift_protection`, whose organisation takes part in a case of the person (scope
/// `Patient.u`); audited with the reason. 200 `{"lifted": true}`, or `false` if the person was
/// not protected.
pub async fn lift_protection(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<super::fhir::StrictJson<Lift>, ApiError>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    const ROUTE: &str = "/protection/lift";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Update).await?;
    let super::fhir::StrictJson(lift) = body?;
    if lift.reason.trim().is_empty() {
        return Err(ApiError::BadRequest {
            diagnostics: "reason: say why the protection no longer applies".to_owned(),
            expression: Some("reason".to_owned()),
        });
    }
    let pipeline = &state.pipeline;
    let person = PersonId::parse_any(&lift.person, pipeline.clock.today()).ok_or_else(|| {
        ApiError::BadRequest {
            diagnostics: "person: a personnummer, samordningsnummer or reserve number".to_owned(),
            expression: Some("person".to_owned()),
        }
    })?;
    let allowed = if !caller.may_lift_protection {
        Err(ApiError::Forbidden(format!(
            "client {} may not lift protected identity (may_lift_protection in the clients file)",
            caller.client_id
        )))
    } else {
        let mut takes_part = false;
        for case_id in pipeline
            .store
            .cases_for_person(&person)
            .await
            .map_err(internal)?
        {
            let case = pipeline.case(case_id).await?;
            if crate::decide::parties::participates(
                &case,
                &caller.organisation,
                &pipeline.directory,
            ) {
                takes_part = true;
                break;
            }
        }
        if takes_part {
            Ok(())
        } else {
            Err(ApiError::NotFound(
                "no case of this person that this client takes part in".to_owned(),
            ))
        }
    };
    auth::audited(&state, &caller, ROUTE, allowed).await?;
    let entry = crate::changes::AuditEntry {
        actor: caller.client_id.clone(),
        organisation: Some(caller.organisation.code()),
        action: "lift protected identity".to_owned(),
        person: Some(person.clone()),
        purpose: "skyddad identitet".to_owned(),
        legal_basis: None,
        details: json!({ "reason": lift.reason }),
    };
    let lifted = pipeline
        .store
        .lift_protection(&person, &caller.client_id, pipeline.clock.now(), &entry)
        .await
        .map_err(internal)?;
    Ok(axum::Json(json!({ "lifted": lifted })))
}
