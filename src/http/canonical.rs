//! `POST /canonical/v1/messages`: steps in the gateway's own JSON form (the `canonical` format
//! of `brygga translate`), for systems that speak neither Cosmic Link nor FHIR — and for the
//! steps those formats do not carry, such as a SIP meeting recorded as held.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;

use super::auth;
use super::cosmic_link::require_media;
use super::error::ApiError;
use super::router::AppState;
use crate::auth::{Caller, Interaction};
use crate::pipeline::Receipt;

/// Accepts one canonical message: 200 with the receipt (the same receipt again for a message
/// id received before); 400/404/409/415/422 with an OperationOutcome, and nothing stored.
pub async fn receive(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    const ROUTE: &str = "/canonical/v1/messages";
    auth::require(&state, &caller, ROUTE, "Task", Interaction::Create).await?;
    require_media(
        &headers,
        |media| media == "application/json",
        "application/json (the canonical message)",
    )?;
    // Recording or withdrawing a consent takes the Consent scope too.
    let kind = crate::formats::strict_json::parse(&body)
        .ok()
        .and_then(|v| {
            v.pointer("/event/kind")
                .and_then(|k| k.as_str())
                .map(str::to_owned)
        });
    if matches!(
        kind.as_deref(),
        Some("consent_recorded" | "consent_withdrawn")
    ) {
        let interaction = if kind.as_deref() == Some("consent_recorded") {
            Interaction::Create
        } else {
            Interaction::Update
        };
        auth::require(&state, &caller, ROUTE, "Consent", interaction).await?;
    }
    let result = state
        .pipeline
        .receive_canonical(&body, caller.acting())
        .await
        .map_err(ApiError::from);
    state.metrics.step("canonical", &result);
    let receipt = auth::audited(&state, &caller, ROUTE, result).await?;
    tracing::info!(
        case_id = %receipt.case_id,
        event_id = %receipt.event_id,
        kind = receipt.kind,
        "canonical message received"
    );
    Ok(Json(receipt))
}
