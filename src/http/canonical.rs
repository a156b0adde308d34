//! `POST /canonical/v1/messages`: steps in the gateway's own JSON form (the `canonical` format
//! of `brygga translate`), for systems that speak neither Cosmic Link nor FHIR — and for the
//! steps those formats do not carry, such as a SIP meeting recorded as held.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;

use super::cosmic_link::require_media;
use super::error::ApiError;
use crate::pipeline::{Pipeline, Receipt};

/// Accepts one canonical message: 200 with the receipt (the same receipt again for a message
/// id received before); 400/404/409/415/422 with an OperationOutcome, and nothing stored.
pub async fn receive(
    State(pipeline): State<Pipeline>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    require_media(
        &headers,
        |media| media == "application/json",
        "application/json (the canonical message)",
    )?;
    let receipt = pipeline.receive_canonical(&body).await?;
    tracing::info!(
        case_id = %receipt.case_id,
        event_id = %receipt.event_id,
        kind = receipt.kind,
        "canonical message received"
    );
    Ok(Json(receipt))
}
