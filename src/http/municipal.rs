//! `POST /municipal/{dialect}/v1/messages`: municipal case systems' XML in, each dialect's own
//! receipt (or error document) out; `GET /municipal` lists the dialects and their message kinds.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth;
use super::cosmic_link::require_xml;
use super::error::{ApiError, INTERNAL_DIAGNOSTICS};
use super::router::AppState;
use crate::auth::{Caller, Interaction};
use crate::formats::municipal::{self, Dialect, Form};
use crate::pipeline::{Pipeline, ReceiveError};

/// What a refused message is answered with: the status of the gateway's other endpoints for
/// the same error, the dialect's error code (from the `error_code` vocabulary) and the error's
/// JSON form.
fn refusal(error: ReceiveError, message_id: Option<String>) -> (StatusCode, Value) {
    let not_accepted = matches!(error, ReceiveError::NotAccepted(_));
    let (path, position) = match &error {
        ReceiveError::InvalidMunicipal(e) => (e.path().map(str::to_owned), e.position()),
        _ => (None, None),
    };
    let error = ApiError::from(error);
    let status = error.status();
    let code = match status.as_u16() {
        _ if not_accepted => "not_accepted",
        400 => "invalid",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "unknown_case",
        409 => "conflict",
        422 => "unprocessable",
        503 => "busy",
        _ => "internal",
    };
    let diagnostics = match &error {
        ApiError::Internal(detail) => {
            tracing::error!(error = %detail, "municipal message failed");
            INTERNAL_DIAGNOSTICS.to_owned()
        }
        other => other.to_string(),
    };
    let mut body = json!({
        "status": "rejected",
        "code": code,
        "diagnostics": diagnostics,
    });
    if let Some(id) = message_id {
        body["message_id"] = Value::from(id);
    }
    if let Some(path) = path {
        body["path"] = Value::from(path);
    }
    if let Some(position) = position {
        body["line"] = Value::from(position.line);
        body["column"] = Value::from(position.column);
    }
    (status, body)
}

/// A document of the dialect's own (`receipt`, `error`) as an XML response.
fn document(
    pipeline: &Pipeline,
    dialect: &Dialect,
    status: StatusCode,
    form: &Form,
    value: &Value,
) -> Response {
    let written = municipal::write_form(dialect, form, value, pipeline.clock.today())
        .and_then(|xml| Ok(dialect.sent(&xml)?.into_owned()));
    match written {
        Ok(xml) => {
            let mut response = (status, xml).into_response();
            let media_type = if dialect.encoding.is_utf8() {
                HeaderValue::from_static("application/xml; charset=utf-8")
            } else {
                HeaderValue::from_str(&dialect.media_type())
                    .unwrap_or(HeaderValue::from_static("application/xml"))
            };
            response.headers_mut().insert(CONTENT_TYPE, media_type);
            response
        }
        Err(error) => ApiError::Internal(format!(
            "the {} dialect cannot write its answer: {error}",
            dialect.name
        ))
        .into_response(),
    }
}

/// Accepts one message in `dialect`: 200 with the dialect's receipt, also for a message id
/// received before (the same receipt again); 400/404/409/415/422 with the dialect's error
/// document, and nothing stored. An unknown dialect answers 404 with an OperationOutcome.
pub async fn receive(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const ROUTE: &str = "/municipal/{dialect}/v1/messages";
    let pipeline = &state.pipeline;
    let Some(dialect) = pipeline.mappings.municipal.get(&name) else {
        return ApiError::NotFound(format!(
            "there is no municipal dialect {name:?}; this gateway serves {}",
            match pipeline.mappings.municipal.names() {
                names if names.is_empty() => "none".to_owned(),
                names => names.join(", "),
            }
        ))
        .into_response();
    };
    // Refusals of the caller, in the dialect's own error document (the extractor audited them).
    let refused = |error: ApiError| {
        let status = error.status();
        let value = json!({
            "status": "rejected",
            "code": if status == StatusCode::UNAUTHORIZED { "unauthorized" } else { "forbidden" },
            "diagnostics": error.to_string(),
        });
        let mut response = document(pipeline, dialect, status, &dialect.error, &value);
        if let Some(challenge) = error
            .into_response()
            .headers()
            .get(axum::http::header::WWW_AUTHENTICATE)
        {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, challenge.clone());
        }
        response
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return refused(error),
    };
    if let Err(error) = auth::require(&state, &caller, ROUTE, "Task", Interaction::Create).await {
        return refused(error);
    }
    if let Err(ApiError::UnsupportedMediaType(problem)) = require_xml(&headers) {
        let value = json!({
            "status": "rejected",
            "code": "unsupported_media_type",
            "diagnostics": problem,
        });
        return document(
            pipeline,
            dialect,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &dialect.error,
            &value,
        );
    }
    let charset = super::cosmic_link::charset(&headers);
    match pipeline
        .receive_municipal(dialect, &body, charset, caller.acting())
        .await
    {
        Ok(receipt) => {
            super::middleware::record_step(&receipt);
            state.metrics.received(&dialect.format, &receipt.kind);
            tracing::info!(
                dialect = dialect.name,
                case_id = %receipt.case_id,
                event_id = %receipt.event_id,
                kind = receipt.kind,
                warnings = receipt.warnings.len(),
                "municipal message received"
            );
            match serde_json::to_value(&receipt) {
                Ok(value) => {
                    let mut response =
                        document(pipeline, dialect, StatusCode::OK, &dialect.receipt, &value);
                    super::error::warning_headers(response.headers_mut(), &receipt.warnings);
                    response
                }
                Err(e) => ApiError::Internal(e.to_string()).into_response(),
            }
        }
        Err(error) => {
            let audited = match &error {
                ReceiveError::Forbidden(m) => Some(ApiError::Forbidden(m.clone())),
                ReceiveError::UnknownCase { .. } => Some(ApiError::NotFound(error.to_string())),
                _ => None,
            };
            if let Some(refusal) = audited {
                let _ = auth::refuse(&state, Some(&caller), ROUTE, refusal).await;
            }
            let (status, value) = refusal(error, municipal::message_id_of(dialect, &body, charset));
            state.metrics.refused_with(&dialect.format, status);
            tracing::info!(
                dialect = dialect.name,
                status = status.as_u16(),
                "municipal message refused"
            );
            document(pipeline, dialect, status, &dialect.error, &value)
        }
    }
}

/// The dialects this gateway serves, with their message kinds and which way each travels.
pub async fn dialects(State(pipeline): State<Pipeline>) -> Json<Value> {
    let dialects: Vec<Value> = pipeline
        .mappings
        .municipal
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "format": d.format,
                "description": d.description,
                "endpoint": format!("/municipal/{}/v1/messages", d.name),
                // "own": every message names its case; "placed": the gateway finds the case of
                // one that does not (by number alone, or the person's open case).
                "case_numbering": if d.numbers_cases { "own" } else { "placed" },
                // What its documents are written in (received ones are read as they declare).
                "encoding": d.encoding.label(),
                "message_kinds": d.kinds.iter().map(|k| json!({
                    "name": k.name,
                    "event": k.kind,
                    "direction": k.direction.as_str(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "dialects": dialects }))
}
