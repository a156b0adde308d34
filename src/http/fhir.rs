//! FHIR JSON in and out, as the FHIR endpoints share it: responses as
//! `application/fhir+json`, and request bodies checked for their media type and parsed, with
//! the line and column of a JSON error.

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::cosmic_link::require_media;
use super::error::ApiError;

/// `body` as an `application/fhir+json` answer.
pub fn fhir_json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        Json(body),
    )
        .into_response()
}

/// A request body that must be FHIR JSON (`application/fhir+json` or `application/json`) of a
/// `resource`, parsed.
pub fn json_body(headers: &HeaderMap, body: &[u8], resource: &str) -> Result<Value, ApiError> {
    require_media(
        headers,
        |media| media == "application/fhir+json" || media == "application/json",
        &format!("application/fhir+json (a FHIR R4 {resource})"),
    )?;
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest {
        diagnostics: format!(
            "the body is not JSON at line {}, column {}",
            e.line(),
            e.column()
        ),
        expression: None,
    })
}
