//! Deliveries for the organisations that receive them: their history, the dead letters, and
//! redelivery. A client sees the deliveries of its own organisation's subscriptions (an
//! auditor client every one); any other answers 404.
//!
//! - `GET /deliveries?status=pending|delivered|dead&subscription=…&after=…&limit=…`
//!   (scope `Subscription.s`)
//! - `GET /deliveries/{id}` (`Subscription.r`)
//! - `POST /deliveries/{id}/redeliver` (`Subscription.u`): a dead-lettered delivery goes back in
//!   the queue, due now, with its attempts reset (409 if it is not dead)
//! - `GET /cases/{case_id}/deliveries` (`Subscription.s`): a case's deliveries to the caller

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::auth;
use super::error::{ApiError, internal};
use super::router::AppState;
use crate::auth::{Caller, Interaction};
use crate::changes::AuditEntry;
use crate::domain::case::CaseId;
use crate::store::{DeliveryQuery, DeliveryRow};

const RESOURCE: &str = "Subscription";
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

fn bad(diagnostics: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        diagnostics: diagnostics.into(),
        expression: None,
    }
}

/// The subscriptions whose deliveries the caller sees.
fn visible(state: &AppState, caller: &Caller) -> Vec<String> {
    state
        .pipeline
        .subscriptions
        .current()
        .0
        .iter()
        .filter(|s| caller.auditor || s.organisation == caller.organisation)
        .map(|s| s.id.clone())
        .collect()
}

fn query_of(
    state: &AppState,
    caller: &Caller,
    query: &HashMap<String, String>,
) -> Result<DeliveryQuery, ApiError> {
    let visible = visible(state, caller);
    let subscriptions = match query.get("subscription") {
        Some(s) if visible.contains(s) => vec![s.clone()],
        Some(s) => return Err(ApiError::NotFound(format!("no subscription {s:?}"))),
        None => visible,
    };
    let status = match query.get("status").map(String::as_str) {
        None => None,
        Some(s @ ("pending" | "delivered" | "dead")) => Some(s.to_owned()),
        Some(other) => {
            return Err(bad(format!(
                "the query parameter status is pending, delivered or dead, not {other:?}"
            )));
        }
    };
    let limit = super::error::limit_parameter(query, DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = match query.get("after") {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|after| *after >= 0)
            .ok_or_else(|| bad("the query parameter after is a delivery id"))?,
    };
    Ok(DeliveryQuery {
        status,
        subscriptions,
        case_id: None,
        after,
        limit,
    })
}

async fn list_of(state: &AppState, query: DeliveryQuery) -> Result<Json<Value>, ApiError> {
    if query.subscriptions.is_empty() {
        return Ok(Json(json!({ "count": 0, "deliveries": [] })));
    }
    let limit = query.limit;
    let rows = state
        .pipeline
        .store
        .deliveries(&query)
        .await
        .map_err(internal)?;
    let next_after = (rows.len() as u32 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(
        json!({ "count": rows.len(), "next_after": next_after, "deliveries": rows }),
    ))
}

/// `GET /deliveries`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth::require(
        &state,
        &caller,
        "/deliveries",
        RESOURCE,
        Interaction::Search,
    )
    .await?;
    let query = auth::audited(
        &state,
        &caller,
        "/deliveries",
        query_of(&state, &caller, &query),
    )
    .await?;
    list_of(&state, query).await
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<DeliveryRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("no delivery {id:?}"));
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let row = state
        .pipeline
        .store
        .delivery(id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    if visible(state, caller).contains(&row.subscription) {
        Ok(row)
    } else {
        Err(not_found())
    }
}

/// `GET /deliveries/{id}`.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeliveryRow>, ApiError> {
    const ROUTE: &str = "/deliveries/{id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    Ok(Json(
        auth::audited(&state, &caller, ROUTE, find(&state, &caller, &id).await).await?,
    ))
}

/// `POST /deliveries/{id}/redeliver`.
pub async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeliveryRow>, ApiError> {
    const ROUTE: &str = "/deliveries/{id}/redeliver";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Update).await?;
    let row = auth::audited(&state, &caller, ROUTE, find(&state, &caller, &id).await).await?;
    let entry = AuditEntry {
        actor: caller.client_id.clone(),
        organisation: Some(caller.organisation.code()),
        action: "redeliver".to_owned(),
        person: None,
        purpose: "leverans".to_owned(),
        legal_basis: None,
        details: json!({ "delivery": row.id, "subscription": row.subscription, "last_error": row.last_error }),
    };
    let now = state.pipeline.clock.now();
    if !state
        .pipeline
        .store
        .redeliver(row.id, now, &entry)
        .await
        .map_err(internal)?
    {
        return Err(ApiError::Conflict(format!(
            "delivery {} is {}, not dead: only a dead-lettered delivery is redelivered",
            row.id, row.status
        )));
    }
    Ok(Json(find(&state, &caller, &id).await?))
}

/// `GET /cases/{case_id}/deliveries`.
pub async fn for_case(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    const ROUTE: &str = "/cases/{case_id}/deliveries";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Search).await?;
    let found = async {
        let case_id =
            CaseId::parse(&case).map_err(|_| ApiError::NotFound(format!("no case {case:?}")))?;
        // Only a case the caller's organisation takes part in (the read is audited).
        state
            .pipeline
            .read_case(
                case_id,
                &caller.organisation,
                &caller.client_id,
                "deliveries",
            )
            .await?;
        let mut query = query_of(&state, &caller, &query)?;
        query.case_id = Some(case_id);
        Ok(query)
    }
    .await;
    let query = auth::audited(&state, &caller, ROUTE, found).await?;
    list_of(&state, query).await
}
