//! FHIR `CarePlan`: the SIP, SPU and SPLPTLRV plans of a case.
//!
//! - `POST /fhir/CarePlan` (scope `CarePlan.c`): a plan made by the client, recorded as the
//!   case's `sip_plan` step and routed to the other principal (`mappings/fhir/README.md`,
//!   reading FHIR: `author` is the sender, the `case-reference` extension names the case). 201
//!   with the plan as stored, under the id that names its case.
//! - `GET /fhir/CarePlan/{id}` (`CarePlan.r`), `/_history`, `/_history/{vid}`: one version per
//!   plan message, the latest current.
//! - `PUT /fhir/CarePlan/{id}` (`CarePlan.u`, `If-Match` honoured): the plan revised — the
//!   next version, recorded and routed like the first. Its identifier must be the plan's.
//! - `GET /fhir/CarePlan?patient=<system>|<value>` (`CarePlan.s`): filters `category`
//!   (`[system|]code`: SIP, SPU, SPLPTLRV), `status`, `date` (the plan's `created`; it carries
//!   no period), `_id`, `_lastUpdated`; `_include=CarePlan:patient`; paged like every search.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::auth;
use super::case_resources::{self, Show, check_if_match, show, versioned};
use super::error::ApiError;
use super::fhir::{fhir_json, resource_body, update_body};
use super::router::AppState;
use super::search::{Hit, Params, common_filters, dates_match, instant, searchset, token_matches};
use super::stored;
use crate::auth::{Caller, Interaction};
use crate::domain::event::EventKind;
use crate::formats::fhir::careplan_id;

const RESOURCE: &str = "CarePlan";
const PARAMETERS: &[&str] = &[
    "patient", "subject", "category", "status", "date", "_include",
];

fn bad(diagnostics: impl Into<String>, expression: Option<&str>) -> ApiError {
    ApiError::BadRequest {
        diagnostics: diagnostics.into(),
        expression: expression.map(str::to_owned),
    }
}

/// `GET /fhir/CarePlan?patient=system|value`.
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    base: super::Base,
    query: super::search::SearchQuery,
) -> Result<Response, ApiError> {
    auth::require(
        &state,
        &caller,
        "/fhir/CarePlan",
        RESOURCE,
        Interaction::Search,
    )
    .await?;
    let params = Params::new(query, RESOURCE, PARAMETERS)?;
    // A status no resource can have is refused before anything is read.
    let statuses = super::search::statuses(&params, "CarePlan.status", CAREPLAN_STATUS)?;
    let patient = params.first("patient").or(params.first("subject")).ok_or_else(|| {
        bad("CarePlan is searched within one person's cases: ?patient=<system>|<value>, e.g. http://electronichealth.se/identifier/personnummer|191212121212", None)
    })?;
    let mut include_patient = false;
    for include in params.all("_include") {
        match include {
            "CarePlan:patient" | "CarePlan:subject" => include_patient = true,
            other => {
                return Err(bad(
                    format!("_include {other:?}: CarePlan:patient is supported"),
                    None,
                ));
            }
        }
    }
    let subject = case_resources::subject_parameter(&state, patient).await?;
    let (cases, kept) =
        case_resources::searched(&state, &caller, RESOURCE, &subject, "plans").await?;
    let mut hits = Vec::new();
    for hit in kept {
        if matches(&params, statuses.as_deref(), &hit.resource)? && common_filters(&params, &hit)? {
            hits.push(hit);
        }
    }
    for resources in &cases {
        for plan in resources.of_kind(RESOURCE) {
            let current = plan.current();
            let hit = Hit {
                last_updated: current.last_updated,
                id: plan.id.clone(),
                resource: current.resource.clone(),
            };
            if matches(&params, statuses.as_deref(), &hit.resource)?
                && common_filters(&params, &hit)?
            {
                hits.push(hit);
            }
        }
    }
    let patient_resource = cases.iter().find_map(|c| c.patient.clone());
    let bundle = searchset(
        &base,
        RESOURCE,
        &params,
        hits,
        |page| match patient_resource {
            Some(patient) if include_patient && !page.is_empty() => vec![patient],
            _ => Vec::new(),
        },
    )?;
    Ok(fhir_json(StatusCode::OK, bundle))
}

/// The codes of `CarePlan.status` (R4, required binding).
const CAREPLAN_STATUS: &[&str] = &[
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
];

/// Whether `plan` passes the search's filters; `statuses`: the codes `status` asks for, read
/// once per search.
fn matches(params: &Params, statuses: Option<&[String]>, plan: &Value) -> Result<bool, ApiError> {
    if let Some(statuses) = statuses
        && !statuses.iter().any(|s| plan["status"] == s.as_str())
    {
        return Ok(false);
    }
    if let Some(category) = params.first("category") {
        let found = plan["category"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|concept| token_matches(category, concept["coding"].as_array()));
        if !found {
            return Ok(false);
        }
    }
    dates_match(&params.all("date"), instant(&plan["created"]), "date")
}

/// `GET /fhir/CarePlan/{id}`.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/CarePlan/{id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(&find(&state, &caller, ROUTE, &id).await?, Show::Current)
}

/// `GET /fhir/CarePlan/{id}/_history/{vid}`.
pub async fn vread(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/CarePlan/{id}/_history/{vid}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(
        &find(&state, &caller, ROUTE, &id).await?,
        Show::Version(&vid),
    )
}

/// `GET /fhir/CarePlan/{id}/_history`.
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    base: super::Base,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/CarePlan/{id}/_history";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    show(
        &find(&state, &caller, ROUTE, &id).await?,
        Show::History(&base),
    )
}

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

/// The id the plan in `body` has: its case's id and a digest of its identifier.
fn plan_id_of(state: &AppState, body: &[u8]) -> Result<String, ApiError> {
    let read = crate::formats::fhir::read(body, state.pipeline.clock.today())
        .map_err(crate::pipeline::ReceiveError::from)?;
    match &read.message.event.kind {
        EventKind::SipPlan { plan_id, .. } => Ok(careplan_id(&read.message.case, plan_id)),
        _ => Err(bad(
            "the body is not a CarePlan",
            Some("CarePlan.resourceType"),
        )),
    }
}

/// The answer to a recorded plan: its current version as stored, with the warnings of what
/// was not carried on and, for a new plan, its `Location`.
fn recorded(
    status: StatusCode,
    history: &crate::pipeline::History,
    receipt: &crate::pipeline::Receipt,
) -> Response {
    let mut response = versioned(status, RESOURCE, &history.id, history.current());
    let headers = response.headers_mut();
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!(
            "/fhir/CarePlan/{}/_history/{}",
            history.id,
            history.current().version
        ))
    {
        headers.insert(header::LOCATION, location);
    }
    // Recorded, and readable by its maker; those it was withheld from are named, so that the
    // maker knows (is the person's consent to a SIP recorded?).
    let withheld = receipt.withheld.iter().map(|w| {
        format!(
            "CarePlan: withheld from {} by the disclosure decision ({}); is the person's consent to a SIP recorded?",
            w.recipient, w.reason
        )
    });
    for warning in receipt.warnings.iter().cloned().chain(withheld) {
        if let Ok(value) = HeaderValue::from_str(&warning) {
            headers.append(HeaderName::from_static("x-brygga-warning"), value);
        }
    }
    response
}

/// `POST /fhir/CarePlan`: a plan made by the client.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/CarePlan";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Create).await?;
    let plan = resource_body(&headers, &body, RESOURCE)?;
    if !stored::is_process_document(RESOURCE, &plan) {
        return stored::create(&state, &caller, RESOURCE, &headers, plan).await;
    }
    let id = plan_id_of(&state, &body)?;
    let receipt = case_resources::receive(&state, &caller, ROUTE, &body).await?;
    match case_resources::find(&state, &caller, RESOURCE, &id).await {
        Ok(history) => Ok(recorded(StatusCode::CREATED, &history, &receipt)),
        // Recorded, but the maker cannot read it back (a plan it sent for another): answered
        // as sent, under its id, saying so.
        Err(ApiError::NotFound(_)) => {
            let mut plan = plan;
            plan["id"] = Value::String(id.clone());
            let mut response = fhir_json(StatusCode::CREATED, plan);
            let headers = response.headers_mut();
            if let Ok(location) = HeaderValue::from_str(&format!("/fhir/CarePlan/{id}")) {
                headers.insert(header::LOCATION, location);
            }
            let withheld = HeaderValue::from_static(
                "CarePlan: recorded, but withheld by the disclosure decision (is the person's consent to a SIP recorded?); not readable until it is",
            );
            for value in std::iter::once(withheld).chain(
                receipt
                    .warnings
                    .iter()
                    .filter_map(|w| HeaderValue::from_str(w).ok()),
            ) {
                headers.append(HeaderName::from_static("x-brygga-warning"), value);
            }
            Ok(response)
        }
        Err(other) => Err(other),
    }
}

/// `PUT /fhir/CarePlan/{id}`: the plan revised.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/CarePlan/{id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Update).await?;
    let plan = update_body(&headers, &body, RESOURCE, &id)?;
    if let Some(kept) = stored::find(&state, &caller, RESOURCE, &id).await? {
        return stored::update(&state, &caller, RESOURCE, &id, &headers, &kept, plan).await;
    }
    let current = find(&state, &caller, ROUTE, &id).await?;
    check_if_match(&headers, &current, state.require_if_match)?;
    // Decided on the plan as stored: who wrote it, and whom it is about.
    let stored = &current.current().resource;
    crate::auth::access::unchanged(RESOURCE, stored, &plan, crate::auth::access::CAREPLAN_FIXED)?;
    let author = stored["author"]
        .as_object()
        .and_then(|_| crate::auth::access::referenced_party(&stored["author"]))
        .and_then(|party| state.pipeline.directory.organisation_of(&party));
    auth::audited(
        &state,
        &caller,
        ROUTE,
        crate::auth::access::may_revise_plan(&caller.organisation, author.as_ref())
            .map_err(ApiError::from),
    )
    .await?;
    if plan_id_of(&state, &body)? != id {
        return Err(bad(
            format!(
                "CarePlan.identifier names another plan than CarePlan/{id}; a new plan is created with POST"
            ),
            Some("CarePlan.identifier"),
        ));
    }
    let receipt = case_resources::receive(&state, &caller, ROUTE, &body).await?;
    let history = case_resources::find(&state, &caller, RESOURCE, &id).await?;
    Ok(recorded(StatusCode::OK, &history, &receipt))
}
