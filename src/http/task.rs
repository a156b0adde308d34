//! FHIR `Task`: the process steps.
//!
//! - `GET /fhir/Task?patient=<system>|<value>` (scope `Task.s`), or without a person as a
//!   worklist over the cases changed since `_lastUpdated=ge…` (the last 31 days without it, and
//!   at most that far back; e.g. `?owner=2380&status=requested`): the steps of a person's cases
//!   as the caller may read them — each case through the disclosure decision (audited), each
//!   step rendered as a delivery to the caller would carry it, with the changes its owner made.
//!   Filters: `status`, `code` and `business-status` (`[system|]code`), `owner`
//!   (`Organization/id` or `[system|]value` of its identifier, also as `owner:identifier`),
//!   `focus` (`CarePlan/id`), `period` (the step's `executionPeriod.start`), `_id`,
//!   `_lastUpdated`; `_include=Task:patient` and `Task:focus` add the Patient and the plan;
//!   `_count`, `_sort` and `next` links page (`super::search`).
//! - `GET /fhir/Task/{id}` (`Task.r`), `/_history` and `/_history/{vid}`: a step's Task, version
//!   1 as it was sent, one version for each change its owner made.
//! - `POST /fhir/Task` (`Task.c`): a step the client reports (its `code`), recorded like any
//!   received message (`mappings/fhir/README.md`); 201 with the Task under the id searches
//!   give it.
//! - `PUT /fhir/Task/{id}` (`Task.u`, `If-Match` honoured): a Task the gateway sent, changed
//!   by its owner (an admission notice moved to `in-progress`: planning started; an invitation
//!   `accepted`); the change is recorded as its step and routed to the region, and the answer
//!   is the Task's new version.
//!
//! References point at `Type/id`, the person's with its identifier too, so a Task found can be
//! changed and sent back as it is. Elements not carried on are named in `x-brygga-warning`
//! headers.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::auth;
use super::case_resources::{self, Show, check_if_match, show, versioned};
use super::error::ApiError;
use super::fhir::fhir_json;
use super::router::AppState;
use super::search::{
    Hit, Params, common_filters, dates_match, instant, reference_matches, searchset, token_matches,
};
use super::stored;
use crate::auth::{Caller, Interaction};

const RESOURCE: &str = "Task";
const PARAMETERS: &[&str] = &[
    "patient",
    "subject",
    "status",
    "code",
    "business-status",
    "owner",
    "focus",
    "period",
    "identifier",
    "_include",
];

fn bad(diagnostics: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        diagnostics: diagnostics.into(),
        expression: None,
    }
}

/// Whether the current version of a Task passes the search's own parameters.
/// The identifiers an `owner` search value stands for: a unit's HSA-id, an organisation
/// (a municipality's code, a region's HSA-id: it and every unit of it in the directory),
/// each also as `Organization/<identifier>`; `system|value` or the value alone.
fn owner_tokens(directory: &crate::config::Directory, wanted: &str) -> Vec<String> {
    use crate::domain::identifiers::{HsaId, Kommunkod, systems};
    let mut tokens = Vec::new();
    for token in wanted.split(',') {
        let token = token.strip_prefix("Organization/").unwrap_or(token);
        tokens.push(token.to_owned());
        let (system, value) = match token.split_once('|') {
            Some((system, value)) => (Some(system), value),
            None => (None, token),
        };
        if system.is_none_or(|s| s == systems::KOMMUNKOD)
            && let Ok(code) = value.parse::<Kommunkod>()
            && let Some(municipality) = directory.municipality(code)
        {
            tokens.extend(
                municipality
                    .units
                    .iter()
                    .filter_map(|u| u.hsa_id.as_ref())
                    .map(|h| format!("{}|{h}", systems::HSA_ID)),
            );
        }
        if system.is_none_or(|s| s == systems::HSA_ID)
            && let Ok(hsa_id) = value.parse::<HsaId>()
            && let Some(region) = directory.region(&hsa_id)
        {
            tokens.extend(
                region
                    .units
                    .iter()
                    .map(|u| format!("{}|{}", systems::HSA_ID, u.hsa_id)),
            );
        }
    }
    tokens
}

/// Whether the Task's `owner` is one of `tokens` (`owner_tokens`): by its reference, its
/// identifier, or the municipality a municipal unit belongs to.
fn owner_matches(tokens: &[String], owner: &Value) -> bool {
    let municipality = owner["extension"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["url"] == crate::formats::fhir::EXT_MUNICIPALITY)
        .map(|e| &e["valueIdentifier"]);
    tokens.iter().any(|token| {
        super::search::reference_matches(token, owner)
            || municipality.is_some_and(|identifier| {
                super::search::identifier_matches(token, std::iter::once(identifier))
            })
    })
}

/// The codes of `Task.status` (R4, required binding).
const TASK_STATUS: &[&str] = &[
    "draft",
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
    "entered-in-error",
];

/// Whether `task` passes the search's filters; `owners` holds the identifiers each `owner`
/// value stands for (`owner_tokens`) and `statuses` the codes `status` asks for, both read
/// once per search.
fn matches(
    params: &Params,
    owners: &[Vec<String>],
    statuses: Option<&[String]>,
    task: &Value,
) -> Result<bool, ApiError> {
    if let Some(statuses) = statuses
        && !statuses.iter().any(|s| task["status"] == s.as_str())
    {
        return Ok(false);
    }
    for (name, element) in [("code", "code"), ("business-status", "businessStatus")] {
        if let Some(wanted) = params.first(name)
            && !token_matches(wanted, task[element]["coding"].as_array())
        {
            return Ok(false);
        }
    }
    if !owners
        .iter()
        .all(|tokens| owner_matches(tokens, &task["owner"]))
    {
        return Ok(false);
    }
    if let Some(wanted) = params.first("focus")
        && !reference_matches(wanted, &task["focus"])
    {
        return Ok(false);
    }
    if let Some(wanted) = params.first("identifier")
        && !super::search::identifier_matches(
            wanted,
            task["identifier"].as_array().into_iter().flatten(),
        )
    {
        return Ok(false);
    }
    dates_match(
        &params.all("period"),
        instant(&task["executionPeriod"]["start"]),
        "period",
    )
}

/// How far back a worklist search reaches, and how many changed cases it reads at most.
const WORKLIST_DAYS: i64 = 31;
const WORKLIST_CASES: u32 = 5_000;

/// Without a person, the caller's worklist: the Tasks of the cases changed since the lower
/// bound of `_lastUpdated` (the last `WORKLIST_DAYS` days without one) that the caller takes
/// part in, and the Tasks it keeps. A bound further back is refused in a strict search and
/// narrowed, with a warning in the Bundle, in a lenient one.
async fn worklist(
    state: &AppState,
    caller: &Caller,
    params: &mut Params,
) -> Result<(Vec<crate::pipeline::CaseResources>, Vec<Hit>), ApiError> {
    let mut since = None;
    for value in params.all("_lastUpdated") {
        let bound = match value.get(..2) {
            Some("ge") => super::search::date_range(&value[2..], "_lastUpdated")?.0,
            Some("gt") => super::search::date_range(&value[2..], "_lastUpdated")?.1,
            _ => continue,
        };
        since = Some(since.map_or(bound, |s: jiff::Timestamp| s.max(bound)));
    }
    let now = state.pipeline.clock.now();
    let earliest = now
        .checked_sub(jiff::SignedDuration::from_hours(24 * WORKLIST_DAYS))
        .unwrap_or(now);
    let since = match since {
        None => earliest,
        Some(since) if since >= earliest => since,
        Some(_) => {
            let narrowed = format!(
                "a worklist reaches at most {WORKLIST_DAYS} days back (_lastUpdated=ge{}); search a person's Tasks with ?patient= for older ones",
                earliest.strftime("%Y-%m-%d")
            );
            if params.strict() {
                return Err(bad(narrowed));
            }
            params.warn(format!(
                "{narrowed}: the cases changed since then were searched"
            ));
            earliest
        }
    };
    let (ids, more) = state
        .pipeline
        .store
        .cases_changed_since(since, WORKLIST_CASES)
        .await
        .map_err(super::error::internal)?;
    if more {
        return Err(bad(format!(
            "more than {WORKLIST_CASES} cases changed since {since}: narrow the worklist with a later _lastUpdated"
        )));
    }
    let mut cases = Vec::new();
    for id in ids {
        if let Some(resources) = case_resources::of_case(state, caller, id, "tasks").await? {
            cases.push(resources);
        }
    }
    let kept = stored::hits(state, caller, RESOURCE, None).await?;
    Ok((cases, kept))
}

/// `GET /fhir/Task?patient=system|value`, or a worklist (`?owner=…&_lastUpdated=ge…`).
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    base: super::Base,
    query: super::search::SearchQuery,
) -> Result<Response, ApiError> {
    auth::require(&state, &caller, "/fhir/Task", RESOURCE, Interaction::Search).await?;
    let mut params = Params::new(query, RESOURCE, PARAMETERS)?;
    // A status no resource can have is refused before anything is read.
    let statuses = super::search::statuses(&params, "Task.status", TASK_STATUS)?;
    let mut include_patient = false;
    let mut include_focus = false;
    for include in params.all("_include") {
        match include {
            "Task:patient" | "Task:subject" | "Task:for" => include_patient = true,
            "Task:focus" => include_focus = true,
            other => {
                return Err(bad(format!(
                    "_include {other:?}: Task:patient and Task:focus are supported"
                )));
            }
        }
    }
    let (cases, kept) = match params.first("patient").or(params.first("subject")) {
        Some(patient) => {
            let subject = case_resources::subject_parameter(&state, patient).await?;
            case_resources::searched(&state, &caller, RESOURCE, &subject, "tasks").await?
        }
        None => worklist(&state, &caller, &mut params).await?,
    };
    let owners: Vec<Vec<String>> = ["owner", "owner:identifier"]
        .iter()
        .filter_map(|name| params.first(name))
        .map(|wanted| owner_tokens(&state.pipeline.directory, wanted))
        .collect();
    let mut hits = Vec::new();
    for hit in kept {
        if matches(&params, &owners, statuses.as_deref(), &hit.resource)?
            && common_filters(&params, &hit)?
        {
            hits.push(hit);
        }
    }
    let mut plans = HashMap::new();
    for resources in &cases {
        for plan in resources.of_kind("CarePlan") {
            plans.insert(
                format!("CarePlan/{}", plan.id),
                plan.current().resource.clone(),
            );
        }
        for task in resources.of_kind(RESOURCE) {
            let current = task.current();
            let hit = Hit {
                last_updated: current.last_updated,
                id: task.id.clone(),
                resource: current.resource.clone(),
            };
            if matches(&params, &owners, statuses.as_deref(), &hit.resource)?
                && common_filters(&params, &hit)?
            {
                hits.push(hit);
            }
        }
    }
    let patients: HashMap<String, Value> = cases
        .iter()
        .filter_map(|c| c.patient.clone())
        .filter_map(|p| Some((format!("Patient/{}", p["id"].as_str()?), p)))
        .collect();
    let bundle = searchset(&base, RESOURCE, &params, hits, |page| {
        let mut included = Vec::new();
        if include_patient {
            let mut named: Vec<&str> = page
                .iter()
                .filter_map(|hit| hit.resource["for"]["reference"].as_str())
                .collect();
            named.sort_unstable();
            named.dedup();
            included.extend(named.into_iter().filter_map(|r| patients.get(r).cloned()));
        }
        if include_focus {
            let mut named: Vec<&str> = page
                .iter()
                .filter_map(|hit| hit.resource["focus"]["reference"].as_str())
                .collect();
            named.sort_unstable();
            named.dedup();
            included.extend(named.into_iter().filter_map(|r| plans.get(r).cloned()));
        }
        included
    })?;
    Ok(fhir_json(StatusCode::OK, bundle))
}

/// `Task/id` for the caller — one it keeps, or a step of its cases — the refusal audited.
async fn find(
    state: &AppState,
    caller: &Caller,
    route: &str,
    id: &str,
) -> Result<crate::pipeline::History, ApiError> {
    auth::audited(
        state,
        caller,
        route,
        stored::find_either(state, caller, RESOURCE, id).await,
    )
    .await
}

/// `GET /fhir/Task/{id}`.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Task/{id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(&find(&state, &caller, ROUTE, &id).await?, Show::Current)
}

/// `GET /fhir/Task/{id}/_history/{vid}`.
pub async fn vread(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Task/{id}/_history/{vid}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(
        &find(&state, &caller, ROUTE, &id).await?,
        Show::Version(&vid),
    )
}

/// `GET /fhir/Task/{id}/_history`.
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    base: super::Base,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Task/{id}/_history";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(
        &find(&state, &caller, ROUTE, &id).await?,
        Show::History(&base),
    )
}

/// The answer to a recorded Task: its current version as stored (else the Task as the client
/// sent it, under `id`), with the warnings of what was not carried on.
fn recorded(
    status: StatusCode,
    mut task: Value,
    id: &str,
    stored: Option<&crate::pipeline::History>,
    receipt: &crate::pipeline::Receipt,
) -> Response {
    let mut response = match stored {
        Some(history) => versioned(status, RESOURCE, id, history.current()),
        None => {
            task["id"] = json!(id);
            fhir_json(status, task)
        }
    };
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

/// `POST /fhir/Task`: a step the client reports.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    auth::require(&state, &caller, "/fhir/Task", RESOURCE, Interaction::Create).await?;
    let task = super::fhir::resource_body(&headers, &body, RESOURCE)?;
    if !stored::is_process_document(RESOURCE, &task) {
        return stored::create(&state, &caller, RESOURCE, &headers, task).await;
    }
    let receipt = state
        .pipeline
        .receive_fhir(&body, crate::pipeline::Acting::Client(&caller.organisation))
        .await?;
    // The id the step's Task has in searches and deliveries.
    let id = crate::formats::fhir::task_id(&receipt.event_id.to_string(), 0);
    // The Task as stored, when the caller may read it back (a step it reports that the
    // decision withholds from it is answered as sent).
    let stored = case_resources::find(&state, &caller, RESOURCE, &id)
        .await
        .ok();
    Ok(recorded(
        StatusCode::CREATED,
        task,
        &id,
        stored.as_ref(),
        &receipt,
    ))
}

/// `PUT /fhir/Task/{id}`: a Task the gateway sent, changed by its owner.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Task/{id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Update).await?;
    let task = super::fhir::update_body(&headers, &body, RESOURCE, &id)?;
    if let Some(kept) = stored::find(&state, &caller, RESOURCE, &id).await? {
        return stored::update(&state, &caller, RESOURCE, &id, &headers, &kept, task).await;
    }
    let current = auth::audited(
        &state,
        &caller,
        ROUTE,
        case_resources::find(&state, &caller, RESOURCE, &id).await,
    )
    .await?;
    check_if_match(&headers, &current, state.require_if_match)?;
    // Decided on the Task as stored: who owns it, and what it is about.
    let stored = &current.current().resource;
    crate::auth::access::unchanged(RESOURCE, stored, &task, crate::auth::access::TASK_FIXED)?;
    let owner = crate::auth::access::referenced_party(&stored["owner"])
        .and_then(|party| state.pipeline.directory.organisation_of(&party));
    auth::audited(
        &state,
        &caller,
        ROUTE,
        crate::auth::access::may_change_task(&caller.organisation, owner.as_ref())
            .map_err(ApiError::from),
    )
    .await?;
    let receipt = case_resources::receive(&state, &caller, ROUTE, &body).await?;
    let changed = case_resources::find(&state, &caller, RESOURCE, &id)
        .await
        .ok();
    Ok(recorded(
        StatusCode::OK,
        task,
        &id,
        changed.as_ref(),
        &receipt,
    ))
}
