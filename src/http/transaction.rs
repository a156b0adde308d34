//! `POST /fhir`: a FHIR `transaction` Bundle, all or nothing.
//!
//! - A process step with its resources (its Tasks, the CarePlan of a plan, the Patient and the
//!   Organizations they refer to — a plan posted with its tasks) is recorded as that one step,
//!   through `Pipeline::receive_fhir`: one event, one commit. Scopes `Task.c` and, with a
//!   CarePlan, `CarePlan.c`.
//! - Resources the client keeps (`super::stored`: Task, CarePlan and Patient that are no
//!   process document), created (`POST`) or changed (`PUT Kind/id`, `ifMatch` honoured), are
//!   kept in one database transaction; references between the entries (`urn:uuid:` full
//!   URLs) are pointed at the ids the gateway gives.
//!
//! A Bundle that mixes the two, or holds anything else, is refused at the entry, and nothing is
//! written. The answer is a `transaction-response` Bundle, one entry per request entry.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::auth;
use super::error::{ApiError, internal};
use super::fhir::{fhir_json, json_body};
use super::router::AppState;
use super::stored::{is_process_document, prepared_write, write_error};
use crate::auth::{Caller, Interaction};
use crate::domain::event::EventKind;
use crate::formats::fhir::{careplan_id, patient_id, task_id};

const ROUTE: &str = "/fhir";
const KEPT: &[&str] = &["Task", "CarePlan", "Patient"];

fn at(index: usize, rest: &str) -> String {
    format!("Bundle.entry[{index}]{rest}")
}

fn refused(index: usize, rest: &str, diagnostics: String) -> ApiError {
    ApiError::UnsupportedAt {
        diagnostics,
        expression: at(index, rest),
    }
}

fn kind_of(entry: &Value) -> &str {
    entry["resource"]["resourceType"]
        .as_str()
        .unwrap_or_default()
}

/// `POST /fhir`.
pub async fn transaction(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let bundle = json_body(&headers, &body, "Bundle")?;
    if bundle["resourceType"] != "Bundle" {
        return Err(ApiError::BadRequest {
            diagnostics: "the body of POST /fhir is a Bundle of type transaction".to_owned(),
            expression: Some("Bundle.resourceType".to_owned()),
        });
    }
    match bundle["type"].as_str() {
        Some("transaction") => {}
        Some("batch") => {
            return Err(ApiError::UnsupportedAt {
                diagnostics: "a batch is not offered: send a transaction (all or nothing), or the entries one by one".to_owned(),
                expression: "Bundle.type".to_owned(),
            });
        }
        other => {
            return Err(ApiError::BadRequest {
                diagnostics: format!(
                    "Bundle.type {}: POST /fhir takes a transaction",
                    other.map_or("missing".to_owned(), |t| format!("{t:?}"))
                ),
                expression: Some("Bundle.type".to_owned()),
            });
        }
    }
    if let Some(first) = brygga_fhir::invalid_values(&bundle, "Bundle").first() {
        return Err(ApiError::UnprocessableAt {
            diagnostics: format!("not valid FHIR R4: {first}"),
            expression: super::stored::path_of(first),
        });
    }
    let entries = match bundle.get("entry") {
        None => Vec::new(),
        Some(Value::Array(entries)) => entries.clone(),
        _ => {
            return Err(ApiError::UnprocessableAt {
                diagnostics: "Bundle.entry is a list of entries".to_owned(),
                expression: "Bundle.entry".to_owned(),
            });
        }
    };
    for (index, entry) in entries.iter().enumerate() {
        if !matches!(entry.get("request"), None | Some(Value::Object(_))) {
            return Err(ApiError::UnprocessableAt {
                diagnostics: "an entry's request is an object: its method and url".to_owned(),
                expression: at(index, ".request"),
            });
        }
        for element in ["method", "url"] {
            if !matches!(entry["request"].get(element), None | Some(Value::String(_))) {
                return Err(ApiError::UnprocessableAt {
                    diagnostics: format!("an entry's request.{element} is text"),
                    expression: at(index, &format!(".request.{element}")),
                });
            }
        }
        if !entry["resource"].is_object() {
            return Err(ApiError::BadRequest {
                diagnostics: "each entry of a transaction carries its resource".to_owned(),
                expression: Some(at(index, ".resource")),
            });
        }
    }
    let process = entries
        .iter()
        .any(|e| is_process_document(kind_of(e), &e["resource"]));
    if process {
        process_step(&state, &caller, &entries, &body).await
    } else {
        kept(&state, &caller, &entries).await
    }
}

/// The step of a transaction with a process document, recorded as one event.
async fn process_step(
    state: &AppState,
    caller: &Caller,
    entries: &[Value],
    body: &[u8],
) -> Result<Response, ApiError> {
    for (index, entry) in entries.iter().enumerate() {
        let kind = kind_of(entry);
        if matches!(kind, "Task" | "CarePlan") && !is_process_document(kind, &entry["resource"]) {
            return Err(refused(
                index,
                ".resource",
                format!(
                    "this {kind} is no process document, but the transaction carries a process step: send a step's resources, or only resources the client keeps"
                ),
            ));
        }
    }
    for kind in ["Task", "CarePlan"] {
        if entries.iter().any(|e| kind_of(e) == kind) {
            auth::require(state, caller, ROUTE, kind, Interaction::Create).await?;
        }
    }
    let receipt = super::case_resources::receive(state, caller, ROUTE, body).await?;
    let message = crate::formats::fhir::read(body, state.pipeline.clock.today())
        .map_err(crate::pipeline::ReceiveError::from)?
        .message;
    let resources =
        super::case_resources::of_case(state, caller, receipt.case_id, "transaction").await?;
    let version = |kind: &str, id: &str| {
        resources
            .as_ref()
            .and_then(|r| r.find(kind, id))
            .map(|h| h.current().clone())
    };
    let event_id = receipt.event_id.to_string();
    let mut tasks = 0;
    let answers: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let (kind, id) = match kind_of(entry) {
                "Task" => {
                    tasks += 1;
                    ("Task", Some(task_id(&event_id, tasks - 1)))
                }
                "CarePlan" => match &message.event.kind {
                    EventKind::SipPlan { plan_id, .. } => {
                        ("CarePlan", Some(careplan_id(&message.case, plan_id)))
                    }
                    _ => ("CarePlan", None),
                },
                "Patient" => ("Patient", Some(patient_id(&message.person))),
                other => (other, None),
            };
            match (kind, id) {
                ("Task" | "CarePlan", Some(id)) => match version(kind, &id) {
                    Some(current) => json!({
                        "response": {
                            "status": "201 Created",
                            "location": format!("{kind}/{id}/_history/{}", current.version),
                            "etag": format!("W/\"{}\"", current.version),
                            "lastModified": current.last_updated.to_string(),
                        },
                        "resource": current.resource,
                    }),
                    // Recorded, but withheld from the caller by the disclosure decision.
                    None => json!({ "response": { "status": "201 Created", "location": format!("{kind}/{id}") } }),
                },
                ("Patient", Some(id)) => {
                    json!({ "response": { "status": "200 OK", "location": format!("Patient/{id}") } })
                }
                _ => json!({ "response": { "status": "200 OK" } }),
            }
        })
        .collect();
    let mut response = fhir_json(
        StatusCode::OK,
        json!({ "resourceType": "Bundle", "type": "transaction-response", "entry": answers }),
    );
    super::error::warning_headers(response.headers_mut(), &receipt.warnings);
    Ok(response)
}

/// Points every `reference` named in `ids` (a full URL of an entry) at the id it was given.
fn point_references(value: &mut Value, ids: &HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(target) = map
                .get("reference")
                .and_then(Value::as_str)
                .and_then(|r| ids.get(r))
                .cloned()
            {
                map.insert("reference".to_owned(), Value::String(target));
            }
            map.values_mut().for_each(|v| point_references(v, ids));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| point_references(v, ids)),
        _ => {}
    }
}

/// Resources the client keeps, written together.
async fn kept(state: &AppState, caller: &Caller, entries: &[Value]) -> Result<Response, ApiError> {
    let organisation = caller.organisation.code();
    // Each entry's kind, id and the version it follows.
    let mut plan = Vec::with_capacity(entries.len());
    let mut ids = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        let kind = kind_of(entry);
        let Some(&kind) = KEPT.iter().find(|k| **k == kind) else {
            return Err(refused(
                index,
                ".resource",
                format!(
                    "a transaction keeps Task, CarePlan and Patient resources (or carries one process step); not {kind:?}"
                ),
            ));
        };
        if entry["request"]["ifNoneExist"].is_string() {
            return Err(refused(
                index,
                ".request.ifNoneExist",
                "a conditional create inside a transaction is not offered; use If-None-Exist on POST /fhir/{kind}".to_owned(),
            ));
        }
        let method = entry["request"]["method"].as_str().unwrap_or("POST");
        let (id, expected, interaction) = match method {
            "POST" => (uuid::Uuid::new_v4().to_string(), None, Interaction::Create),
            "PUT" => {
                let url = entry["request"]["url"].as_str().unwrap_or_default();
                let Some(id) = url
                    .strip_prefix(&format!("{kind}/"))
                    .filter(|id| !id.contains(['/', '?']))
                else {
                    return Err(refused(
                        index,
                        ".request.url",
                        format!("PUT {url:?}: a change names the resource as {kind}/<id>"),
                    ));
                };
                if entry["resource"]["id"].as_str() != Some(id) {
                    return Err(ApiError::BadRequest {
                        diagnostics: format!(
                            "{kind}.id must be {id:?}, the id in the entry's request.url"
                        ),
                        expression: Some(at(index, ".resource.id")),
                    });
                }
                let versions = state
                    .pipeline
                    .store
                    .resource_versions(kind, id, &organisation)
                    .await
                    .map_err(internal)?;
                let current = versions.last().map(|v| v.version).ok_or_else(|| {
                    ApiError::NotFound(format!("{kind}/{id} (entry {index}) is not known"))
                })?;
                let expected = match entry["request"]["ifMatch"].as_str() {
                    Some(text) => text
                        .trim()
                        .trim_start_matches("W/")
                        .trim_matches('"')
                        .parse::<u64>()
                        .map_err(|_| ApiError::BadRequest {
                            diagnostics: "ifMatch: a version as the ETag gives it, e.g. W/\"2\""
                                .to_owned(),
                            expression: Some(at(index, ".request.ifMatch")),
                        })?,
                    None if state.require_if_match => {
                        return Err(ApiError::PreconditionFailed(format!(
                            "entry {index}: a PUT names the version it replaces in request.ifMatch (W/\"{current}\" is current); server.require_if_match"
                        )));
                    }
                    None => current,
                };
                (id.to_owned(), Some(expected), Interaction::Update)
            }
            other => {
                return Err(refused(
                    index,
                    ".request.method",
                    format!("{other} in a transaction: POST creates, PUT changes"),
                ));
            }
        };
        auth::require(state, caller, ROUTE, kind, interaction).await?;
        if let Some(full_url) = entry["fullUrl"].as_str() {
            ids.insert(full_url.to_owned(), format!("{kind}/{id}"));
        }
        plan.push((kind, id, expected));
    }
    let mut writes = Vec::with_capacity(plan.len());
    let mut audit = Vec::with_capacity(plan.len());
    let mut warnings = Vec::new();
    for (index, (entry, (kind, id, expected))) in entries.iter().zip(&plan).enumerate() {
        let mut resource = entry["resource"].clone();
        point_references(&mut resource, &ids);
        warnings.extend(
            super::stored::validated(&resource, state.keep_unknown_elements)?
                .into_iter()
                .map(|w| format!("{}: {w}", at(index, ".resource"))),
        );
        let (write, record) = prepared_write(state, caller, kind, id, *expected, resource);
        writes.push(write);
        audit.push(record);
    }
    let written = state
        .pipeline
        .store
        .write_resources(writes, &audit, state.pipeline.clock.now())
        .await
        .map_err(write_error)?;
    let answers: Vec<Value> = written
        .into_iter()
        .map(|stored| {
            json!({
                "response": {
                    "status": if stored.version == 1 { "201 Created" } else { "200 OK" },
                    "location": format!("{}/{}/_history/{}", stored.kind, stored.id, stored.version),
                    "etag": format!("W/\"{}\"", stored.version),
                    "lastModified": stored.last_updated.to_string(),
                },
                "resource": stored.resource,
            })
        })
        .collect();
    let mut response = fhir_json(
        StatusCode::OK,
        json!({ "resourceType": "Bundle", "type": "transaction-response", "entry": answers }),
    );
    if let Ok(warning) = HeaderValue::from_str(&format!(
        "transaction: kept as received for organisation {organisation} only; no process document, not routed"
    )) {
        response
            .headers_mut()
            .append(HeaderName::from_static("x-brygga-warning"), warning);
    }
    super::error::warning_headers(response.headers_mut(), &warnings);
    Ok(response)
}
