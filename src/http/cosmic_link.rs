//! `POST /cosmic-link/v1/messages`: a region's Cosmic Link messages in, receipts out.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;

use super::auth;
use super::error::ApiError;
use super::router::AppState;
use crate::auth::{Caller, Interaction};
use crate::domain::case::TransitionError;
use crate::pipeline::{Receipt, ReceiveError};

/// Accepts a body whose `content-type` (lower case, without parameters) `accepts` allows, or
/// that names none; otherwise 415 saying what the endpoint reads (`reads`).
pub fn require_media(
    headers: &HeaderMap,
    accepts: impl Fn(&str) -> bool,
    reads: &str,
) -> Result<(), ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let media = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if accepts(&media) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "this endpoint reads {reads}, not {media}"
        )))
    }
}

/// Whether the request says its body is XML (or says nothing).
pub fn require_xml(headers: &HeaderMap) -> Result<(), ApiError> {
    require_media(
        headers,
        |media| media == "application/xml" || media == "text/xml" || media.ends_with("+xml"),
        "application/xml (the Cosmic Link contract)",
    )
}

/// The `charset` of the request's Content-Type: the encoding a document that says none of its
/// own is read in.
pub fn charset(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::formats::encoding::charset)
}

impl From<ReceiveError> for ApiError {
    fn from(error: ReceiveError) -> Self {
        match error {
            ReceiveError::Invalid(e) => {
                let expression = e.path().map(str::to_owned);
                ApiError::BadRequest {
                    diagnostics: e.to_string(),
                    expression,
                }
            }
            ReceiveError::InvalidMunicipal(e) => {
                let expression = e.path().map(str::to_owned);
                ApiError::BadRequest {
                    diagnostics: e.to_string(),
                    expression,
                }
            }
            ReceiveError::NotAccepted(_) => ApiError::Unprocessable(error.to_string()),
            ReceiveError::InvalidFhir(e) => ApiError::BadRequest {
                expression: e.path().map(str::to_owned),
                diagnostics: e.to_string(),
            },
            ReceiveError::InvalidCanonical(e) => ApiError::BadRequest {
                diagnostics: format!("the canonical message is not valid: {e}"),
                expression: None,
            },
            ReceiveError::PersonMismatch { .. } => ApiError::Unprocessable(error.to_string()),
            ReceiveError::Transition(
                e @ (TransitionError::IncompletePlan { .. }
                | TransitionError::NotAddressedTo { .. }
                | TransitionError::NotInvited { .. }),
            ) => ApiError::Unprocessable(e.to_string()),
            ReceiveError::Transition(e) => ApiError::Conflict(e.to_string()),
            ReceiveError::Unplaced(message) => ApiError::Conflict(message),
            ReceiveError::UnknownCase { .. } => ApiError::NotFound(error.to_string()),
            ReceiveError::Forbidden(message) => ApiError::Forbidden(message),
            ReceiveError::AlreadyRecorded { .. } => ApiError::Conflict(error.to_string()),
            ReceiveError::Busy => ApiError::Unavailable(error.to_string()),
            ReceiveError::Store(e) => ApiError::Internal(e.to_string()),
        }
    }
}

/// Accepts one message. 200 with the receipt, also for a message received before (the same
/// receipt again); 400/409/415/422 with an OperationOutcome, and nothing stored.
pub async fn receive(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    const ROUTE: &str = "/cosmic-link/v1/messages";
    auth::require(&state, &caller, ROUTE, "Task", Interaction::Create).await?;
    require_xml(&headers)?;
    let result = state
        .pipeline
        .receive_cosmic_link_sent(&body, charset(&headers), caller.acting())
        .await
        .map_err(ApiError::from);
    state.metrics.step("cosmic-link", &result);
    let receipt = auth::audited(&state, &caller, ROUTE, result).await?;
    tracing::info!(
        case_id = %receipt.case_id,
        event_id = %receipt.event_id,
        kind = receipt.kind,
        warnings = receipt.warnings.len(),
        "message received"
    );
    Ok(Json(receipt))
}
