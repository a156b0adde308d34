//! Deviations (avvikelser) for the coordinators who follow them up: list them, read one,
//! report one, and — for the addressed party — acknowledge and answer.
//!
//! - `GET /deviations?status=unanswered|answered|all&principal=region|municipality&unit=…&limit=…`
//! - `GET /deviations/export?from=YYYY-MM-DD&to=YYYY-MM-DD`: the county forums' de-identified
//!   view (a client registered for the county's follow-up, `county_statistics`)
//! - `GET /cases/{case_id}/deviations/{deviation_id}`
//! - `POST /cases/{case_id}/deviations` `{"deviation_id"?, "by", "addressed_to", "description", "concerns"?}`
//! - `POST /cases/{case_id}/deviations/{deviation_id}/acknowledgement` `{"by"}`
//! - `POST /cases/{case_id}/deviations/{deviation_id}/answer` `{"by", "answer"}`

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth;
use super::error::ApiError;
use super::fhir::StrictJson;
use super::router::AppState;
use crate::auth::{Caller, Interaction};
use crate::domain::case::{CaseId, TransitionError};
use crate::domain::event::{DeviationCause, EventId, EventKind};
use crate::domain::party::Party;
use crate::domain::sensitive::Sensitive;
use crate::pipeline::{Acting, CaseRead, ReceiveError};
use crate::process::deviations::DeviationView;
use crate::store::DeviationFilter;

const DEFAULT_LIMIT: u32 = 500;
const MAX_LIMIT: u32 = 5_000;

/// A list of deviations.
#[derive(Debug, Serialize)]
pub struct DeviationList {
    pub count: usize,
    pub deviations: Vec<DeviationView>,
}

fn bad(diagnostics: String) -> ApiError {
    ApiError::BadRequest {
        diagnostics,
        expression: None,
    }
}

fn body<T>(body: Result<StrictJson<T>, ApiError>) -> Result<T, ApiError> {
    body.map(|StrictJson(b)| b)
}

fn case_id(text: &str) -> Result<CaseId, ApiError> {
    CaseId::parse(text).map_err(|_| ApiError::NotFound(format!("no case {text:?}")))
}

/// `GET /deviations/export`: the deviations raised in `[from, to)` (the current month by
/// default) de-identified for the county forums — keyed pseudonyms for cases and deviations,
/// no personal data, no free text. Only for a client of the county's follow-up.
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth::require(
        &state,
        &caller,
        "/deviations/export",
        "MeasureReport",
        Interaction::Read,
    )
    .await?;
    if !caller.county_statistics {
        return Err(ApiError::Forbidden(
            "the de-identified deviation export is for the county's follow-up \
             (a client registered with county_statistics)"
                .to_owned(),
        ));
    }
    let Some(key) = &state.pseudonym_key else {
        return Err(ApiError::Unavailable(
            "the de-identified export is not configured: set statistics.pseudonym_key_file"
                .to_owned(),
        ));
    };
    let date = |name: &str| -> Result<Option<jiff::civil::Date>, ApiError> {
        query
            .get(name)
            .map(|text| {
                text.parse()
                    .map_err(|_| bad(format!("the query parameter {name} is a date, YYYY-MM-DD")))
            })
            .transpose()
    };
    let pipeline = &state.pipeline;
    let (first, next) = crate::process::stats::this_month(pipeline.clock.today());
    let from = date("from")?.unwrap_or(first);
    let to = date("to")?.unwrap_or(next);
    let rows = crate::pipeline::stats::forum_for_period(&pipeline.store, from, to, key)
        .await
        .map_err(|error| match error {
            crate::pipeline::stats::StatsError::EmptyPeriod { .. } => bad(error.to_string()),
            crate::pipeline::stats::StatsError::Key(_) => ApiError::Unavailable(error.to_string()),
            crate::pipeline::stats::StatsError::Store(error) => {
                ApiError::Internal(error.to_string())
            }
        })?;
    Ok(Json(serde_json::json!({
        "from": from,
        "to": to,
        "count": rows.len(),
        "deviations": rows,
    })))
}

/// `GET /deviations`: oldest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<DeviationList>, ApiError> {
    auth::require(
        &state,
        &caller,
        "/deviations",
        RESOURCE,
        Interaction::Search,
    )
    .await?;
    let pipeline = &state.pipeline;
    let filter = match query.get("status").map(String::as_str) {
        None | Some("unanswered") => DeviationFilter::Unanswered,
        Some("answered") => DeviationFilter::Answered,
        Some("all") => DeviationFilter::All,
        Some(other) => {
            return Err(bad(format!(
                "the query parameter status is unanswered, answered or all, not {other:?}"
            )));
        }
    };
    let addressed_to = match (query.get("principal"), query.get("unit")) {
        (None, None) => None,
        (Some(p), _) if p != "region" && p != "municipality" => {
            return Err(bad(format!(
                "the query parameter principal is region or municipality, not {p:?}"
            )));
        }
        (Some(_), Some(u))
            if crate::domain::identifiers::HsaId::parse(u).is_err()
                && crate::domain::identifiers::Kommunkod::parse(u).is_err() =>
        {
            return Err(bad(format!(
                "the query parameter unit is an HSA-id or a municipality code, not {u:?}"
            )));
        }
        (Some(p), Some(u)) => Some((p.as_str(), u.as_str())),
        _ => {
            return Err(bad(
                "the query parameters principal (region or municipality) and unit (an HSA-id or a municipality code) go together"
                    .to_owned(),
            ));
        }
    };
    let limit = super::error::limit_parameter(&query, DEFAULT_LIMIT, MAX_LIMIT)?;
    let rows = pipeline
        .store
        .deviations(filter, addressed_to, limit)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // Each case once, however many of its deviations are listed; only the caller's cases,
    // each read through the disclosure decision (and audited).
    let mut cases = HashMap::new();
    let mut deviations = Vec::with_capacity(rows.len());
    for row in rows {
        let read = match cases.entry(row.case_id) {
            Entry::Occupied(loaded) => loaded.into_mut(),
            Entry::Vacant(slot) => {
                let read = match pipeline
                    .read_case(
                        row.case_id,
                        &caller.organisation,
                        &caller.client_id,
                        "deviations",
                    )
                    .await
                {
                    Ok(read) => Some(read),
                    Err(ReceiveError::UnknownCase { .. }) => None,
                    Err(other) => return Err(other.into()),
                };
                slot.insert(read)
            }
        };
        if let Some(v) = read
            .as_ref()
            .and_then(|r| released_view(r, &row.deviation_id))
        {
            deviations.push(v);
        }
    }
    Ok(Json(DeviationList {
        count: deviations.len(),
        deviations,
    }))
}

const RESOURCE: &str = "DetectedIssue";

/// The deviation's view, if the event that raised it was released to the reader.
fn released_view(read: &CaseRead, deviation_id: &str) -> Option<DeviationView> {
    read.deviation(deviation_id)
}

async fn one(
    state: &AppState,
    caller: &Caller,
    case: CaseId,
    deviation_id: &str,
) -> Result<DeviationView, ApiError> {
    let read = state
        .pipeline
        .read_case(case, &caller.organisation, &caller.client_id, "deviation")
        .await?;
    released_view(&read, deviation_id)
        .ok_or_else(|| ApiError::NotFound(format!("no deviation {deviation_id:?} in case {case}")))
}

/// `GET /cases/{case_id}/deviations/{deviation_id}`.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((case, deviation_id)): Path<(String, String)>,
) -> Result<Json<DeviationView>, ApiError> {
    const ROUTE: &str = "/cases/{case_id}/deviations/{deviation_id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    let found = match case_id(&case) {
        Ok(case) => one(&state, &caller, case, &deviation_id).await,
        Err(e) => Err(e),
    };
    Ok(Json(auth::audited(&state, &caller, ROUTE, found).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    #[serde(default)]
    pub deviation_id: Option<String>,
    pub by: Party,
    pub addressed_to: Party,
    pub description: String,
    #[serde(default)]
    pub concerns: Option<EventId>,
}

/// `POST /cases/{case_id}/deviations`: a principal reports a deviation; 201 with it.
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    request: Result<StrictJson<Report>, ApiError>,
) -> Result<(StatusCode, Json<DeviationView>), ApiError> {
    const ROUTE: &str = "/cases/{case_id}/deviations";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Create).await?;
    let result = report_as(&state, &caller, case, request).await;
    auth::audited(&state, &caller, ROUTE, result).await
}

async fn report_as(
    state: &AppState,
    caller: &Caller,
    case: String,
    request: Result<StrictJson<Report>, ApiError>,
) -> Result<(StatusCode, Json<DeviationView>), ApiError> {
    let pipeline = &state.pipeline;
    let acting = Acting::Client(&caller.organisation);
    let report = body(request)?;
    let case = case_id(&case)?;
    if report.description.trim().is_empty() {
        return Err(bad("description: say what happened".to_owned()));
    }
    let deviation_id = report
        .deviation_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let notify = pipeline
        .read_case(case, &caller.organisation, &caller.client_id, "case")
        .await?
        .deviation_contacts(&pipeline.directory);
    let kind = EventKind::DeviationRaised {
        deviation_id: deviation_id.clone(),
        raised_by: Some(report.by.clone()),
        addressed_to: report.addressed_to,
        description: Sensitive::new(report.description),
        cause: DeviationCause::Reported,
        deadline: None,
        concerns: report.concerns,
        evidence: Vec::new(),
        notify,
    };
    pipeline
        .append(
            case,
            &report.by,
            &format!("deviation:{deviation_id}"),
            kind,
            acting,
        )
        .await
        .map_err(|e| match e {
            ReceiveError::Transition(TransitionError::DuplicateEvent { .. }) => ApiError::Conflict(
                format!("deviation {deviation_id:?} was already raised in this case"),
            ),
            other => other.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(one(state, caller, case, &deviation_id).await?),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    pub by: Party,
}

/// `POST …/acknowledgement`: the addressed party has received the deviation. Repeating it
/// changes nothing.
pub async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    Path((case, deviation_id)): Path<(String, String)>,
    request: Result<StrictJson<Acknowledgement>, ApiError>,
) -> Result<Json<DeviationView>, ApiError> {
    const ROUTE: &str = "/cases/{case_id}/deviations/{deviation_id}/acknowledgement";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Update).await?;
    let result = acknowledge_as(&state, &caller, case, deviation_id, request).await;
    auth::audited(&state, &caller, ROUTE, result).await
}

async fn acknowledge_as(
    state: &AppState,
    caller: &Caller,
    case: String,
    deviation_id: String,
    request: Result<StrictJson<Acknowledgement>, ApiError>,
) -> Result<Json<DeviationView>, ApiError> {
    let pipeline = &state.pipeline;
    let Acknowledgement { by } = body(request)?;
    let case = case_id(&case)?;
    let kind = EventKind::DeviationAcknowledged {
        deviation_id: deviation_id.clone(),
        by: by.clone(),
    };
    match pipeline
        .append(
            case,
            &by,
            &format!("acknowledged:{deviation_id}:{by}"),
            kind,
            Acting::Client(&caller.organisation),
        )
        .await
    {
        Ok(_) | Err(ReceiveError::Transition(TransitionError::DuplicateEvent { .. })) => {}
        Err(error) => return Err(deviation_error(error)),
    }
    Ok(Json(one(state, caller, case, &deviation_id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub by: Party,
    pub answer: String,
}

/// `POST …/answer`: the addressed party answers the deviation (once).
pub async fn answer(
    State(state): State<AppState>,
    caller: Caller,
    Path((case, deviation_id)): Path<(String, String)>,
    request: Result<StrictJson<Answer>, ApiError>,
) -> Result<Json<DeviationView>, ApiError> {
    const ROUTE: &str = "/cases/{case_id}/deviations/{deviation_id}/answer";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Update).await?;
    let result = answer_as(&state, &caller, case, deviation_id, request).await;
    auth::audited(&state, &caller, ROUTE, result).await
}

async fn answer_as(
    state: &AppState,
    caller: &Caller,
    case: String,
    deviation_id: String,
    request: Result<StrictJson<Answer>, ApiError>,
) -> Result<Json<DeviationView>, ApiError> {
    let pipeline = &state.pipeline;
    let Answer { by, answer } = body(request)?;
    if answer.trim().is_empty() {
        return Err(bad(
            "answer: say what was done about the deviation".to_owned()
        ));
    }
    let case = case_id(&case)?;
    let kind = EventKind::DeviationAnswered {
        deviation_id: deviation_id.clone(),
        answered_by: by.clone(),
        answer: Sensitive::new(answer),
    };
    pipeline
        .append(
            case,
            &by,
            &format!("answered:{deviation_id}"),
            kind,
            Acting::Client(&caller.organisation),
        )
        .await
        .map_err(|error| match error {
            ReceiveError::Transition(TransitionError::DuplicateEvent { .. }) => {
                ApiError::Conflict(format!("deviation {deviation_id:?} is already answered"))
            }
            other => deviation_error(other),
        })?;
    Ok(Json(one(state, caller, case, &deviation_id).await?))
}

fn deviation_error(error: ReceiveError) -> ApiError {
    match error {
        ReceiveError::Transition(e @ TransitionError::UnknownDeviation { .. }) => {
            ApiError::NotFound(e.to_string())
        }
        other => other.into(),
    }
}
