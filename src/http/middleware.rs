//! Cross-cutting request handling: the request span, OperationOutcome bodies for errors that
//! layers answer themselves (413 body too large, 408 timeout, 404/405 routing), and the FHIR
//! endpoints' `_format` and `Accept` (JSON only: XML is refused with 406, never mis-served).

use axum::Json;
use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Span;

use super::error::{issue_code, operation_outcome};

/// The span of one request: method, route template and request id. Never the URI itself,
/// whose query may carry a personnummer.
pub fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str())
        .unwrap_or("unmatched");
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let span = tracing::info_span!(
        "request",
        // The exported span: a server span named by method and route template.
        otel.name = %format!("{} {route}", request.method()),
        otel.kind = "server",
        method = %request.method(),
        route,
        request_id,
        status = tracing::field::Empty,
        // A step's, once it is recorded (`record_step`): on every later line of the request.
        case_id = tracing::field::Empty,
        event_id = tracing::field::Empty,
    );
    crate::telemetry::follow_caller(&span, request.headers());
    span
}

/// Logs the answer (status and latency) and puts its status on the request's span.
pub fn on_response<B>(
    response: &axum::http::Response<B>,
    latency: std::time::Duration,
    span: &Span,
) {
    span.record("status", response.status().as_u16());
    tower_http::trace::OnResponse::on_response(
        tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
        response,
        latency,
        span,
    );
}

/// Puts a recorded step's case and event on the request's span, so that every later log line
/// of the request carries them (never personal data: two uuids).
pub fn record_step(receipt: &crate::pipeline::Receipt) {
    let span = Span::current();
    span.record("case_id", tracing::field::display(&receipt.case_id));
    span.record("event_id", tracing::field::display(&receipt.event_id));
}

/// Gives error answers that have no body of their own (or a plain-text one) an
/// `OperationOutcome`, so every client sees one error format.
pub async fn outcome_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // JSON errors are OperationOutcomes already; XML errors are a dialect's own error form.
    let has_body = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json") || v.contains("xml") || v.starts_with("text/html"));
    if has_body {
        return response;
    }
    let diagnostics = match status.as_u16() {
        404 => "no such endpoint".to_owned(),
        405 => "this endpoint does not support the request's method".to_owned(),
        408 => {
            "the request took longer than the configured server.request_timeout_seconds".to_owned()
        }
        413 => "the request body is larger than the configured server.body_limit_bytes".to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let body = operation_outcome("error", issue_code(status), &diagnostics);
    (parts, [(CONTENT_TYPE, "application/fhir+json")], Json(body)).into_response()
}

/// The most header fields, and header bytes (names and values), a request may carry. Below
/// hyper's own limits (100 fields, about 400 KiB), so that a request over them is answered here,
/// with an OperationOutcome; beyond hyper's, the connection answers a bare 431.
pub const MAX_HEADER_FIELDS: usize = 64;
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses a request whose headers are too many or too large: 431 with an OperationOutcome
/// that says which limit, before anything reads them.
pub async fn header_limits(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let diagnostics = if headers.len() > MAX_HEADER_FIELDS {
        format!(
            "the request has {} header fields; at most {MAX_HEADER_FIELDS} are accepted",
            headers.len()
        )
    } else if bytes > MAX_HEADER_BYTES {
        format!("the request's headers are {bytes} bytes; at most {MAX_HEADER_BYTES} are accepted")
    } else {
        return next.run(request).await;
    };
    let body = operation_outcome("error", "too-long", &diagnostics);
    (
        axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        [(CONTENT_TYPE, "application/fhir+json")],
        Json(body),
    )
        .into_response()
}

/// Whether a FHIR `_format` or media type names JSON.
fn names_json(format: &str) -> bool {
    let media = format
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        media.as_str(),
        "json" | "application/json" | "application/fhir+json" | "*/*" | "application/*"
    )
}

/// On `/fhir/…`: a `_format` or an `Accept` that leaves no room for JSON answers 406 with an
/// OperationOutcome; the gateway writes FHIR JSON only.
pub async fn fhir_format(request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/fhir/") {
        return next.run(request).await;
    }
    const ONLY: &str =
        "this server writes FHIR JSON only: use _format=json or Accept: application/fhir+json";
    let format = request.uri().query().and_then(|query| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find(|(name, _)| name == "_format")
            .map(|(_, value)| value)
    });
    if let Some(format) = format
        && !names_json(&format)
    {
        return super::error::ApiError::NotAcceptable(format!("_format {format:?}: {ONLY}"))
            .into_response();
    }
    if let Some(accept) = request
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        && !accept.split(',').any(names_json)
    {
        return super::error::ApiError::NotAcceptable(format!("Accept {accept:?}: {ONLY}"))
            .into_response();
    }
    next.run(request).await
}
