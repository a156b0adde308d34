//! `ApiError`: every error answer is a FHIR `OperationOutcome` with the matching status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answer. Each variant documents its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request does not follow the contract; `expression` points at the element.
    #[error("{diagnostics}")]
    BadRequest {
        diagnostics: String,
        expression: Option<String>,
    },
    /// 409: the request conflicts with the state of the case.
    #[error("{0}")]
    Conflict(String),
    /// 415: the body's media type is not one this endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed, but against a business rule.
    #[error("{0}")]
    Unprocessable(String),
    /// 422 about one element: against a business rule (an element an update cannot change).
    #[error("{diagnostics}")]
    UnprocessableAt {
        diagnostics: String,
        expression: String,
    },
    /// 422 about one element: understood, but not something the gateway offers.
    #[error("{diagnostics}")]
    UnsupportedAt {
        diagnostics: String,
        expression: String,
    },
    /// 406: the client asks for a representation the gateway does not give (FHIR XML).
    #[error("{0}")]
    NotAcceptable(String),
    /// 412: `If-Match` names a version that is no longer the current one.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 404: no such resource, or one the caller may not see.
    #[error("{0}")]
    NotFound(String),
    /// 401: no valid access token; the answer carries `WWW-Authenticate`.
    #[error("{message}")]
    Unauthorized { message: String, code: &'static str },
    /// 403: the token does not cover what the request does.
    #[error("{0}")]
    Forbidden(String),
    /// 503: a dependency (the database) is not available.
    #[error("{0}")]
    Unavailable(String),
    /// 500: an unexpected failure. The detail is logged once, never sent.
    #[error("internal error")]
    Internal(String),
}

/// What an internal error answers: the detail is in the log, under the request id.
pub const INTERNAL_DIAGNOSTICS: &str =
    "internal error; the request id in the x-request-id header identifies it in the gateway's log";

impl ApiError {
    /// The status the error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_)
            | ApiError::UnprocessableAt { .. }
            | ApiError::UnsupportedAt { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A store failure as a 500 (its detail logged, never sent).
pub fn internal(error: crate::store::StoreError) -> ApiError {
    ApiError::Internal(error.to_string())
}

/// A FHIR `OperationOutcome` with one issue.
pub fn operation_outcome(severity: &str, code: &str, diagnostics: &str) -> Value {
    operation_outcome_at(severity, code, diagnostics, None)
}

/// A FHIR `OperationOutcome` with one issue about the element at `expression`.
pub fn operation_outcome_at(
    severity: &str,
    code: &str,
    diagnostics: &str,
    expression: Option<&str>,
) -> Value {
    let mut issue = json!({ "severity": severity, "code": code, "diagnostics": diagnostics });
    if let Some(expression) = expression {
        issue["expression"] = json!([expression]);
    }
    json!({ "resourceType": "OperationOutcome", "issue": [issue] })
}

/// The FHIR issue code for an HTTP error status.
pub fn issue_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid",
        401 => "login",
        403 => "forbidden",
        404 => "not-found",
        405 => "not-supported",
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
        let (code, expression) = match &self {
            ApiError::BadRequest { expression, .. } => ("invalid", expression.clone()),
            ApiError::Conflict(_) | ApiError::Unprocessable(_) => ("business-rule", None),
            ApiError::UnprocessableAt { expression, .. } => {
                ("business-rule", Some(expression.clone()))
            }
            ApiError::UnsupportedAt { expression, .. } => {
                ("not-supported", Some(expression.clone()))
            }
            _ => (issue_code(status), None),
        };
        let diagnostics = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                INTERNAL_DIAGNOSTICS.to_owned()
            }
            other => other.to_string(),
        };
        let body = operation_outcome_at("error", code, &diagnostics, expression.as_deref());
        let mut response = (
            status,
            [("content-type", "application/fhir+json")],
            Json(body),
        )
            .into_response();
        let challenge = match &self {
            ApiError::Unauthorized { message, code } => Some(format!(
                "Bearer error=\"{code}\", error_description=\"{}\"",
                message.replace(['"', '\\'], "'")
            )),
            ApiError::Forbidden(message) => Some(format!(
                "Bearer error=\"insufficient_scope\", error_description=\"{}\"",
                message.replace(['"', '\\'], "'")
            )),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|c| axum::http::HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The `limit` query parameter: `default` when absent, otherwise 1 to `max`.
pub fn limit_parameter(
    query: &std::collections::HashMap<String, String>,
    default: u32,
    max: u32,
) -> Result<u32, ApiError> {
    match query.get("limit") {
        None => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::BadRequest {
                diagnostics: format!("the query parameter limit is 1 to {max}"),
                expression: None,
            }),
    }
}

impl From<crate::auth::access::Refusal> for ApiError {
    fn from(refusal: crate::auth::access::Refusal) -> ApiError {
        match refusal {
            crate::auth::access::Refusal::Forbidden(message) => ApiError::Forbidden(message),
            crate::auth::access::Refusal::Unchangeable { element, problem } => {
                ApiError::UnprocessableAt {
                    diagnostics: format!("{element}: {problem}"),
                    expression: element,
                }
            }
        }
    }
}

/// Adds one `x-brygga-warning` header per warning (input not carried on, what a step warns its
/// sender of). A header cannot carry control characters: they become spaces, so no warning
/// is dropped.
pub fn warning_headers(headers: &mut axum::http::HeaderMap, warnings: &[String]) {
    for warning in warnings {
        let clean: String = warning
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let value = axum::http::HeaderValue::from_bytes(clean.as_bytes())
            .unwrap_or_else(|_| axum::http::HeaderValue::from_static("see the receipt's warnings"));
        headers.append(
            axum::http::HeaderName::from_static("x-brygga-warning"),
            value,
        );
    }
}
