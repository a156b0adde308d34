//! `GET /fhir/Patient?identifier=<system>|<value>` (scope `Patient.s`): the person of the
//! caller's cases as a FHIR `Patient`, with what the admission notices released to the caller
//! (name; the registered address unless the identity is protected). A person with no case the
//! caller takes part in is not found (an empty searchset), as one who does not exist. Each
//! case read is audited, through the disclosure decision.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::auth;
use super::error::ApiError;
use super::fhir::fhir_json;
use super::router::AppState;
use crate::auth::{Caller, Interaction};
use crate::domain::event::EventKind;
use crate::formats::fhir::{patient_id, patient_resource};

const RESOURCE: &str = "Patient";

/// `GET /fhir/Patient?identifier=system|value`.
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    auth::require(
        &state,
        &caller,
        "/fhir/Patient",
        RESOURCE,
        Interaction::Search,
    )
    .await?;
    if let Some(unknown) = query
        .keys()
        .find(|k| !matches!(k.as_str(), "identifier" | "_format"))
    {
        return Err(ApiError::BadRequest {
            diagnostics: format!(
                "search parameter {unknown:?} is not supported; Patient is searched by identifier"
            ),
            expression: None,
        });
    }
    let identifier = query.get("identifier").ok_or_else(|| ApiError::BadRequest {
        diagnostics: "search by identifier: ?identifier=<system>|<value>, e.g. http://electronichealth.se/identifier/personnummer|191212121212".to_owned(),
        expression: None,
    })?;
    let person = super::audit::person_parameter(identifier, state.pipeline.clock.today())?;
    let pipeline = &state.pipeline;
    let reads = pipeline
        .read_cases_of(&person, &caller.organisation, &caller.client_id, "patient")
        .await?;
    let visible = !reads.is_empty();
    // The latest admission notice released to the caller names the person.
    let details = reads.iter().find_map(|read| {
        read.events()
            .iter()
            .rev()
            .find_map(|r| match &r.event().kind {
                EventKind::AdmissionNotice { person, .. } => Some(person.clone()),
                _ => None,
            })
    });
    let entries: Vec<Value> = if visible {
        let resource = patient_resource(&person, details.as_ref())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        vec![json!({
            "fullUrl": format!("Patient/{}", patient_id(&person)),
            "resource": resource,
            "search": { "mode": "match" },
        })]
    } else {
        Vec::new()
    };
    Ok(fhir_json(
        StatusCode::OK,
        json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": entries.len(),
            "entry": entries,
        }),
    ))
}
