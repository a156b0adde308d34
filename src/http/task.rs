//! FHIR `Task`: the process steps.
//!
//! - `GET /fhir/Task?patient=<system>|<value>` (scope `Task.s`): the steps of a person's cases
//!   as the caller may read them — each case through the disclosure decision (audited), each
//!   step rendered as a delivery to the caller would carry it. Filters: `status`, `code`
//!   (`[system|]code`), `business-status`; `_include=Task:patient` adds the `Patient`.
//!   References point at `Type/id`, the person's with its identifier too, so a Task found can
//!   be changed and sent back as it is.
//! - `POST /fhir/Task` (`Task.c`): a step the client reports (its `code`), recorded like any
//!   received message (`mappings/fhir/README.md`); 201 with the Task under the id searches
//!   give it.
//! - `PUT /fhir/Task/{id}` (`Task.u`): a Task the gateway sent, changed by its owner (an
//!   admission notice moved to `in-progress`: planning started; an invitation `accepted`); the
//!   change is recorded as its step.
//!
//! Elements not carried on are named in `x-brygga-warning` headers.

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
use crate::formats::translate;

const RESOURCE: &str = "Task";
const PARAMETERS: &[&str] = &[
    "patient",
    "status",
    "code",
    "business-status",
    "_include",
    "_format",
];

fn bad(diagnostics: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        diagnostics: diagnostics.into(),
        expression: None,
    }
}

/// Whether a token search value (`code`, or `system|code`; several comma-separated) matches
/// one of `codings`.
fn token_matches(wanted: &str, codings: Option<&Vec<Value>>) -> bool {
    let codings = codings.map(Vec::as_slice).unwrap_or_default();
    wanted.split(',').any(|token| {
        let (system, code) = match token.split_once('|') {
            Some((system, code)) => (Some(system), code),
            None => (None, token),
        };
        codings.iter().any(|coding| {
            coding.get("code").and_then(Value::as_str) == Some(code)
                && system.is_none_or(|s| {
                    s.is_empty() || coding.get("system").and_then(Value::as_str) == Some(s)
                })
        })
    })
}

/// Points every `reference` that names a Bundle entry (`urn:uuid:…`) at `Type/id` instead,
/// with the entry's identifier beside it when it has one (the person's).
fn resolve(value: &mut Value, by_url: &HashMap<String, (String, Option<Value>)>) {
    match value {
        Value::Object(map) => {
            let target = map
                .get("reference")
                .and_then(Value::as_str)
                .and_then(|r| by_url.get(r))
                .cloned();
            if let Some((reference, identifier)) = target {
                map.insert("reference".to_owned(), json!(reference));
                if let Some(identifier) = identifier {
                    map.insert("identifier".to_owned(), identifier);
                }
                return;
            }
            map.values_mut().for_each(|item| resolve(item, by_url));
        }
        Value::Array(items) => items.iter_mut().for_each(|item| resolve(item, by_url)),
        _ => {}
    }
}

/// `GET /fhir/Task?patient=system|value`.
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    auth::require(&state, &caller, "/fhir/Task", RESOURCE, Interaction::Search).await?;
    if let Some(unknown) = query.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(bad(format!(
            "search parameter {unknown:?} is not supported; Task is searched by {}",
            PARAMETERS[..PARAMETERS.len() - 1].join(", ")
        )));
    }
    let patient = query.get("patient").ok_or_else(|| {
        bad("Task is searched within one person's cases: ?patient=<system>|<value>, e.g. http://electronichealth.se/identifier/personnummer|191212121212")
    })?;
    let include_patient = match query.get("_include").map(String::as_str) {
        None => false,
        Some("Task:patient" | "Task:subject") => true,
        Some(other) => {
            return Err(bad(format!(
                "_include {other:?}: Task:patient is supported"
            )));
        }
    };
    let person = super::audit::person_parameter(patient, state.pipeline.clock.today())?;
    let pipeline = &state.pipeline;
    let mut matches = Vec::new();
    let mut patient_resource = None;
    for read in pipeline
        .read_cases_of(&person, &caller.organisation, &caller.client_id, "tasks")
        .await?
    {
        for message in read.messages() {
            // A step FHIR does not carry as a Task (a consent) has none.
            let Ok(bundle) = translate::fhir_bundle(&message, &pipeline.mappings) else {
                continue;
            };
            let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
            let by_url: HashMap<String, (String, Option<Value>)> = entries
                .iter()
                .filter_map(|e| {
                    let url = e.get("fullUrl")?.as_str()?.to_owned();
                    let kind = e["resource"]["resourceType"].as_str()?;
                    let id = e["resource"]["id"].as_str()?;
                    let identifier = (kind == "Patient")
                        .then(|| e["resource"]["identifier"][0].clone())
                        .filter(|i| !i.is_null());
                    Some((url, (format!("{kind}/{id}"), identifier)))
                })
                .collect();
            for mut entry in entries {
                let resource = &mut entry["resource"];
                match resource["resourceType"].as_str() {
                    Some("Patient") => {
                        if patient_resource.is_none() {
                            patient_resource = Some(resource.take());
                        }
                        continue;
                    }
                    Some("Task") => {}
                    _ => continue,
                }
                if let Some(status) = query.get("status")
                    && !status
                        .split(',')
                        .any(|s| resource["status"].as_str() == Some(s))
                {
                    continue;
                }
                if let Some(code) = query.get("code")
                    && !token_matches(code, resource["code"]["coding"].as_array())
                {
                    continue;
                }
                if let Some(status) = query.get("business-status")
                    && !token_matches(status, resource["businessStatus"]["coding"].as_array())
                {
                    continue;
                }
                resolve(resource, &by_url);
                let id = resource["id"].as_str().unwrap_or_default().to_owned();
                matches.push(json!({
                    "fullUrl": format!("Task/{id}"),
                    "resource": resource.take(),
                    "search": { "mode": "match" },
                }));
            }
        }
    }
    let total = matches.len();
    if include_patient
        && total > 0
        && let Some(patient) = patient_resource
    {
        let id = patient["id"].as_str().unwrap_or_default().to_owned();
        matches.push(json!({
            "fullUrl": format!("Patient/{id}"),
            "resource": patient,
            "search": { "mode": "include" },
        }));
    }
    Ok(fhir_json(
        StatusCode::OK,
        json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total,
            "entry": matches,
        }),
    ))
}

/// The answer to a recorded Task: the Task as the client sent it, under `id`, with the
/// warnings of what was not carried on.
fn recorded(
    status: StatusCode,
    mut task: Value,
    id: &str,
    receipt: &crate::pipeline::Receipt,
) -> Response {
    task["id"] = json!(id);
    let mut response = fhir_json(status, task);
    let headers = response.headers_mut();
    if let Ok(location) = axum::http::HeaderValue::from_str(&format!("/fhir/Task/{id}")) {
        headers.insert(axum::http::header::LOCATION, location);
    }
    for warning in &receipt.warnings {
        if let Ok(value) = axum::http::HeaderValue::from_str(warning) {
            headers.append(
                axum::http::HeaderName::from_static("x-brygga-warning"),
                value,
            );
        }
    }
    response
}

fn must_be_task(value: &Value) -> Result<(), ApiError> {
    if value.get("resourceType").and_then(Value::as_str) == Some("Task") {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            diagnostics: "the body is not a Task".to_owned(),
            expression: Some("Task.resourceType".to_owned()),
        })
    }
}

/// `POST /fhir/Task`: a step the client reports.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    auth::require(&state, &caller, "/fhir/Task", RESOURCE, Interaction::Create).await?;
    let task = super::fhir::json_body(&headers, &body, RESOURCE)?;
    must_be_task(&task)?;
    let receipt = state
        .pipeline
        .receive_fhir(&body, crate::pipeline::Acting::Client(&caller.organisation))
        .await?;
    // The id the step's Task has in searches and deliveries.
    let id = crate::formats::fhir::task_id(&receipt.event_id.to_string(), 0);
    Ok(recorded(StatusCode::CREATED, task, &id, &receipt))
}

/// `PUT /fhir/Task/{id}`: a Task the gateway sent, changed by its owner.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Task/{id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Update).await?;
    let task = super::fhir::json_body(&headers, &body, RESOURCE)?;
    must_be_task(&task)?;
    if task.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(ApiError::BadRequest {
            diagnostics: format!("Task.id must be {id:?}, the id in the URL"),
            expression: Some("Task.id".to_owned()),
        });
    }
    let receipt = auth::audited(
        &state,
        &caller,
        ROUTE,
        state
            .pipeline
            .receive_fhir(&body, crate::pipeline::Acting::Client(&caller.organisation))
            .await
            .map_err(ApiError::from),
    )
    .await?;
    Ok(recorded(StatusCode::OK, task, &id, &receipt))
}
