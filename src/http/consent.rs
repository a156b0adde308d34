//! The consent registry over FHIR: `Consent` resources recorded, read, searched and withdrawn.
//!
//! - `POST /fhir/Consent` (scope `Consent.c`): 201 with the recorded resource and its id;
//!   elements the gateway does not enforce are named in `x-brygga-warning` headers.
//! - `GET /fhir/Consent/{id}` (`Consent.r`)
//! - `GET /fhir/Consent?patient=<system>|<value>` (`Consent.s`): a searchset Bundle, with the
//!   directives recorded in case events too; `patient=Patient/<id>` finds the consents the
//!   caller recorded about a subject it named only by that reference.
//! - `PUT /fhir/Consent/{id}` with `status` `inactive` (`Consent.u`, `If-Match` honoured): the
//!   consent is withdrawn from that moment; any other change is refused (record a new consent
//!   instead). Only the organisation that recorded it withdraws it (403 for any other that
//!   sees it): a consent to disclose an organisation's information is that organisation's.
//! - `GET /fhir/Consent/{id}/_history` and `/_history/{vid}`: version 1 as recorded, version 2
//!   withdrawn.
//!
//! A client sees a directive it recorded, and the directives of a person it has a case with;
//! any other answers 404. Every read and every change is audited with the person.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::auth;
use super::case_resources::{Show, show};
use super::error::{ApiError, internal};
use super::fhir::{fhir_json, json_body};
use super::router::AppState;
use super::search::{Hit, Params, common_filters, searchset};
use crate::auth::{Caller, Interaction};
use crate::changes::AuditEntry;
use crate::decide::parties::participates;
use crate::domain::consent::{ConsentDirective, ConsentSubject};
use crate::domain::identifiers::PersonId;
use crate::formats::fhir::{self, consent_resource, read_consent};
use crate::store::{StoredConsent, subject_key};

const RESOURCE: &str = "Consent";

fn invalid(error: fhir::FhirReadError) -> ApiError {
    ApiError::BadRequest {
        expression: error.path().map(str::to_owned),
        diagnostics: error.to_string(),
    }
}

/// Whether the caller may see a directive (`auth::access`): it recorded it; the directive was
/// recorded in a case the caller takes part in; or its recorder has sent a step in a case of
/// the person that the caller takes part in. Opening a case of its own for any person (and
/// inviting the other principal to it) shows a caller nothing of the registry that other
/// organisations keep.
async fn visible(
    state: &AppState,
    caller: &Caller,
    stored: &StoredConsent,
) -> Result<bool, ApiError> {
    if stored.directive.recorded_by.as_ref() == Some(&caller.organisation) {
        return Ok(true);
    }
    let pipeline = &state.pipeline;
    if let Some(case_id) = stored
        .directive
        .source
        .strip_prefix("case ")
        .and_then(|id| crate::domain::case::CaseId::parse(id).ok())
    {
        return match pipeline.case(case_id).await {
            Ok(case) => Ok(participates(
                &case,
                &caller.organisation,
                &pipeline.directory,
            )),
            Err(crate::pipeline::ReceiveError::UnknownCase { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        };
    }
    let (ConsentSubject::Person(person), Some(recorder)) =
        (&stored.subject, &stored.directive.recorded_by)
    else {
        return Ok(false);
    };
    for case_id in pipeline
        .store
        .cases_for_person(person)
        .await
        .map_err(internal)?
    {
        let case = pipeline.case(case_id).await?;
        if participates(&case, &caller.organisation, &pipeline.directory)
            && case.events().iter().any(|event| {
                event
                    .source
                    .sender
                    .as_ref()
                    .and_then(|sender| pipeline.directory.organisation_of(sender))
                    .as_ref()
                    == Some(recorder)
            })
        {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn takes_part(
    state: &AppState,
    caller: &Caller,
    person: &PersonId,
) -> Result<bool, ApiError> {
    let pipeline = &state.pipeline;
    for case_id in pipeline
        .store
        .cases_for_person(person)
        .await
        .map_err(internal)?
    {
        let case = pipeline.case(case_id).await?;
        if participates(&case, &caller.organisation, &pipeline.directory) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn audit(caller: &Caller, action: &str, person: Option<PersonId>, details: Value) -> AuditEntry {
    AuditEntry {
        actor: caller.client_id.clone(),
        organisation: Some(caller.organisation.code()),
        action: action.to_owned(),
        person,
        purpose: "samtyckeshantering".to_owned(),
        legal_basis: None,
        details,
    }
}

fn person_of(subject: &ConsentSubject) -> Option<PersonId> {
    match subject {
        ConsentSubject::Person(p) => Some(p.clone()),
        ConsentSubject::Reference(_) => None,
    }
}

/// `POST /fhir/Consent`.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth::require(
        &state,
        &caller,
        "/fhir/Consent",
        RESOURCE,
        Interaction::Create,
    )
    .await?;
    let value = json_body(&headers, &body, RESOURCE)?;
    let now = state.pipeline.clock.now();
    let id = uuid::Uuid::now_v7().to_string();
    let read = read_consent(&value, &id, state.pipeline.clock.today(), now).map_err(invalid)?;
    let mut warnings = read.warnings;
    let checked = brygga_fhir::check_value(&value).map_err(|e| ApiError::BadRequest {
        diagnostics: e.to_string(),
        expression: None,
    })?;
    if let Some(first) = checked.invalid.first() {
        return Err(ApiError::UnprocessableAt {
            diagnostics: format!(
                "not a valid FHIR R4 Consent: {}",
                checked.invalid.join(", ")
            ),
            expression: super::stored::path_of(first),
        });
    }
    warnings.extend(
        checked
            .lost
            .iter()
            .map(|path| format!("{path}: not an element of FHIR R4; not enforced")),
    );
    // Recorded by a principal that takes part in a case of the person (`auth::access`).
    if let ConsentSubject::Person(person) = &read.subject
        && !takes_part(&state, &caller, person).await?
    {
        return auth::audited(
            &state,
            &caller,
            "/fhir/Consent",
            Err(ApiError::Forbidden(format!(
                "a consent is recorded by a principal that takes part in a case of the person; {} takes part in none",
                caller.organisation
            ))),
        )
        .await;
    }
    let mut directive: ConsentDirective = read.directive;
    directive.recorded_by = Some(caller.organisation.clone());
    let entry = audit(
        &caller,
        "record consent",
        person_of(&read.subject),
        json!({ "consent_id": id, "scope": directive.scope, "provision": directive.provision, "withdrawn": directive.withdrawn_at.is_some() }),
    );
    let mut stored_resource = value.clone();
    stored_resource["id"] = json!(id);
    state
        .pipeline
        .store
        .record_consent(&read.subject, &directive, Some(&stored_resource), &[entry])
        .await
        .map_err(internal)?;
    let created = history(&StoredConsent {
        subject: read.subject.clone(),
        resource_id: id.clone(),
        directive: directive.clone(),
        resource: Some(stored_resource.clone()),
    });
    let mut response =
        super::case_resources::versioned(StatusCode::CREATED, RESOURCE, &id, created.current());
    if let Ok(location) = HeaderValue::from_str(&format!("/fhir/Consent/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    super::error::warning_headers(response.headers_mut(), &warnings);
    Ok(response)
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<StoredConsent, ApiError> {
    let not_found = || ApiError::NotFound(format!("no Consent {id:?}"));
    let stored = state
        .pipeline
        .store
        .consent(id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    if visible(state, caller, &stored).await? {
        Ok(stored)
    } else {
        Err(not_found())
    }
}

fn render(stored: &StoredConsent) -> Value {
    consent_resource(
        &stored.resource_id,
        &subject_key(&stored.subject),
        &stored.directive,
        stored.resource.as_ref(),
    )
}

/// The consent's versions: 1 as recorded, 2 withdrawn (when it is).
fn history(stored: &StoredConsent) -> crate::pipeline::History {
    let mut versions = Vec::new();
    let mut recorded = stored.clone();
    recorded.directive.withdrawn_at = None;
    let mut push = |state: &StoredConsent, at: jiff::Timestamp| {
        let version = versions.len() as u32 + 1;
        let mut resource = render(state);
        if !resource["meta"].is_object() {
            resource["meta"] = json!({});
        }
        resource["meta"]["versionId"] = json!(version.to_string());
        resource["meta"]["lastUpdated"] = json!(at.to_string());
        versions.push(crate::pipeline::Version {
            resource,
            version,
            last_updated: at,
        });
    };
    push(&recorded, stored.directive.recorded_at);
    if let Some(withdrawn) = stored.directive.withdrawn_at {
        push(stored, withdrawn.max(stored.directive.recorded_at));
    }
    crate::pipeline::History {
        kind: RESOURCE,
        id: stored.resource_id.clone(),
        versions,
    }
}

/// Reads `Consent/id` for the caller (audited) with its versions.
async fn read_history(
    state: &AppState,
    caller: &Caller,
    route: &str,
    id: &str,
) -> Result<crate::pipeline::History, ApiError> {
    let stored = auth::audited(state, caller, route, find(state, caller, id).await).await?;
    let entry = audit(
        caller,
        "read consent",
        person_of(&stored.subject),
        json!({ "consent_id": id }),
    );
    auth::record(state, entry).await?;
    Ok(history(&stored))
}

/// `GET /fhir/Consent/{id}/_history/{vid}`.
pub async fn vread(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Consent/{id}/_history/{vid}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(
        &read_history(&state, &caller, ROUTE, &id).await?,
        Show::Version(&vid),
    )
}

/// `GET /fhir/Consent/{id}/_history`.
pub async fn history_of(
    State(state): State<AppState>,
    caller: Caller,
    base: super::Base,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Consent/{id}/_history";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(
        &read_history(&state, &caller, ROUTE, &id).await?,
        Show::History(&base),
    )
}

/// `GET /fhir/Consent/{id}`.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Consent/{id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(
        &read_history(&state, &caller, ROUTE, &id).await?,
        Show::Current,
    )
}

/// `GET /fhir/Consent?patient=system|value`.
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    base: super::Base,
    query: super::search::SearchQuery,
) -> Result<Response, ApiError> {
    auth::require(
        &state,
        &caller,
        "/fhir/Consent",
        RESOURCE,
        Interaction::Search,
    )
    .await?;
    let params = Params::new(query, RESOURCE, &["patient"])?;
    let patient = params.first("patient").ok_or_else(|| ApiError::BadRequest {
        diagnostics: "search by patient: ?patient=<system>|<value>, e.g. http://electronichealth.se/identifier/personnummer|191212121212".to_owned(),
        expression: None,
    })?;
    // A Swedish person, or a reference kept as received (only its recorder sees those).
    let (subject, person) =
        match super::audit::person_parameter(patient, state.pipeline.clock.today()) {
            Ok(person) => (ConsentSubject::Person(person.clone()), Some(person)),
            Err(_) if patient.contains('/') && !patient.contains('|') => {
                (ConsentSubject::Reference(patient.to_owned()), None)
            }
            Err(error) => return Err(error),
        };
    let all = state
        .pipeline
        .store
        .consents_about(&subject)
        .await
        .map_err(internal)?;
    let mut hits = Vec::new();
    let mut visible_ones = Vec::new();
    for stored in &all {
        if visible(&state, &caller, stored).await? {
            visible_ones.push(stored);
        }
    }
    for stored in visible_ones {
        let hit = Hit {
            // A withdrawal changes the resource (its status).
            last_updated: stored
                .directive
                .withdrawn_at
                .map_or(stored.directive.recorded_at, |at| {
                    at.max(stored.directive.recorded_at)
                }),
            id: stored.resource_id.clone(),
            resource: render(stored),
        };
        if common_filters(&params, &hit)? {
            hits.push(hit);
        }
    }
    let found = hits.len();
    let bundle = searchset(&base, RESOURCE, &params, hits, |_| Vec::new())?;
    // A search that finds nothing is audited too: the person's log extract shows who looked.
    let entry = audit(&caller, "search consent", person, json!({ "found": found }));
    auth::record(&state, entry).await?;
    Ok(fhir_json(StatusCode::OK, bundle))
}

/// `PUT /fhir/Consent/{id}`: withdrawal.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Consent/{id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Update).await?;
    let value = json_body(&headers, &body, RESOURCE)?;
    let stored = auth::audited(&state, &caller, ROUTE, find(&state, &caller, &id).await).await?;
    super::case_resources::check_if_match(&headers, &history(&stored), state.require_if_match)?;
    if stored.directive.source != fhir::FORMAT {
        return Err(ApiError::Conflict(
            "this consent was recorded in a case: withdraw it there (a consent_withdrawn step in the case's own format), so that the case's history shows it".to_owned(),
        ));
    }
    // A consent to disclose an organisation's information is that organisation's to record,
    // and to withdraw (`decide::decision`): another that may see it cannot change it.
    if stored.directive.recorded_by.as_ref() != Some(&caller.organisation) {
        let recorder = stored
            .directive
            .recorded_by
            .as_ref()
            .map_or_else(|| "another organisation".to_owned(), ToString::to_string);
        return auth::audited(
            &state,
            &caller,
            ROUTE,
            Err(ApiError::Forbidden(format!(
                "this consent was recorded by {recorder}, and only it withdraws it: a consent to disclose an organisation's information is that organisation's; when the person withdraws it to you, tell {recorder} (or record and withdraw your own consent for what you disclose)"
            ))),
        )
        .await;
    }
    if value
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(|given| given != id)
    {
        return Err(ApiError::BadRequest {
            diagnostics: format!("Consent.id is not {id:?}, the id in the URL"),
            expression: Some("Consent.id".to_owned()),
        });
    }
    match value.get("status").and_then(Value::as_str) {
        Some("inactive") => {}
        Some("active") if stored.directive.withdrawn_at.is_none() => {
            return Err(ApiError::Unprocessable(
                "a recorded consent is not changed: withdraw it (status inactive) and record a new one".to_owned(),
            ));
        }
        Some("active") => {
            return Err(ApiError::Conflict(
                "the consent is withdrawn; a withdrawn consent is not restored: record a new one"
                    .to_owned(),
            ));
        }
        _ => {
            return Err(ApiError::BadRequest {
                diagnostics: "Consent.status: a withdrawal sets status to inactive".to_owned(),
                expression: Some("Consent.status".to_owned()),
            });
        }
    }
    let now = state.pipeline.clock.now();
    let entry = audit(
        &caller,
        "withdraw consent",
        person_of(&stored.subject),
        json!({ "consent_id": id }),
    );
    // Withdrawing a withdrawn consent changes nothing (and records nothing).
    state
        .pipeline
        .store
        .withdraw_consent(
            &stored.subject,
            fhir::FORMAT,
            &stored.directive.id,
            now,
            &[entry],
        )
        .await
        .map_err(internal)?;
    let current = history(&find(&state, &caller, &id).await?);
    Ok(super::case_resources::versioned(
        StatusCode::OK,
        RESOURCE,
        &id,
        current.current(),
    ))
}
