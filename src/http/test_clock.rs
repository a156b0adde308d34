//! `/test/clock`, served only with `server.test_clock` (test environments): the gateway's
//! manual clock read and moved forward by a client, with what the store shows due, so that
//! `brygga replay --target` can move a running gateway from one due timer or retry to the next
//! and wait until it has settled.
//!
//! - `GET /test/clock` (any authenticated client): `now`, `due` (timers and deliveries due and
//!   not done), `next` (the next time something falls due), `activity` (counters that move
//!   while the gateway works).
//! - `POST /test/clock` with `{"at": "<date-time>"}`: sets the clock there and answers the
//!   same. Moving it back is for starting a scenario on a fresh gateway; with cases in flight
//!   it makes no sense.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::error::{ApiError, internal};
use super::router::AppState;
use crate::auth::Caller;

async fn reading(state: &AppState) -> Result<Json<Value>, ApiError> {
    let store = &state.pipeline.store;
    let now = state.pipeline.clock.now();
    Ok(Json(json!({
        "now": now.to_string(),
        "due": store.due_work(now).await.map_err(internal)?,
        "next": store.next_work_after(now).await.map_err(internal)?.map(|t| t.to_string()),
        "activity": store.activity().await.map_err(internal)?,
    })))
}

/// `GET /test/clock`.
pub async fn read(State(state): State<AppState>, _caller: Caller) -> Result<Json<Value>, ApiError> {
    reading(&state).await
}

/// `POST /test/clock`.
pub async fn set(
    State(state): State<AppState>,
    _caller: Caller,
    body: Result<super::fhir::StrictJson<Value>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let super::fhir::StrictJson(body) = body?;
    let at: jiff::Timestamp = body["at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| ApiError::BadRequest {
            diagnostics: "the body is {\"at\": \"<date-time with offset>\"}".to_owned(),
            expression: Some("at".to_owned()),
        })?;
    let clock = &state.pipeline.clock;
    clock.advance(at.duration_since(clock.now()));
    // Retries that fell due go now, not at the worker's next poll.
    state.pipeline.outbox_ready.notify_one();
    reading(&state).await
}
