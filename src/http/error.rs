//! `ApiError`: every error answer is a FHIR `OperationOutcome` with the matching status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answer. Each variant documents its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: no such resource, or one the caller may not see.
    #[error("{0}")]
    NotFound(String),
    /// 503: a dependency (the database) is not available.
    #[error("{0}")]
    Unavailable(String),
    /// 500: an unexpected failure. The detail is logged once, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A FHIR `OperationOutcome` with one issue.
pub fn operation_outcome(severity: &str, code: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": severity, "code": code, "diagnostics": diagnostics }]
    })
}

/// The FHIR issue code for an HTTP error status.
pub fn issue_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid",
        401 | 403 => "security",
        404 | 405 => "not-supported",
        408 | 504 => "timeout",
        409 | 412 => "conflict",
        413 => "too-costly",
        415 | 406 => "not-supported",
        429 => "throttled",
        503 => "transient",
        _ => "exception",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let diagnostics = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "internal error; the request id in the x-request-id header identifies it in the gateway's log"
                    .to_owned()
            }
            other => other.to_string(),
        };
        let body = operation_outcome("error", issue_code(status), &diagnostics);
        (
            status,
            [("content-type", "application/fhir+json")],
            Json(body),
        )
            .into_response()
    }
}
