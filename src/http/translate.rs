//! `POST /translate?from=FORMAT&to=FORMAT`: pure conversion for integration testers.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::formats::translate::{Format, TranslateError, translate as convert};
use crate::pipeline::Pipeline;

impl From<TranslateError> for ApiError {
    fn from(error: TranslateError) -> Self {
        let expression = match &error {
            TranslateError::CosmicLink(e) => e.path().map(str::to_owned),
            TranslateError::Fhir(e) => e.path().map(str::to_owned),
            TranslateError::Municipal(e) => e.path().map(str::to_owned),
            _ => None,
        };
        match error {
            TranslateError::Encode { .. }
            | TranslateError::Render(_)
            | TranslateError::MunicipalWrite { .. } => ApiError::Unprocessable(error.to_string()),
            other => ApiError::BadRequest {
                diagnostics: other.to_string(),
                expression,
            },
        }
    }
}

fn format_parameter(query: &HashMap<String, String>, name: &str) -> Result<Format, ApiError> {
    let value = query.get(name).ok_or_else(|| ApiError::BadRequest {
        diagnostics: format!(
            "the query parameter {name} is required (?from=cosmic-link&to=canonical)"
        ),
        expression: None,
    })?;
    value.parse().map_err(|e: String| ApiError::BadRequest {
        diagnostics: e,
        expression: None,
    })
}

/// Converts the body; nothing is stored. Each input element that was not mapped is reported in
/// an `x-brygga-warning` header. Any authenticated client may translate: the body is its own.
pub async fn translate(
    State(pipeline): State<Pipeline>,
    _caller: crate::auth::Caller,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let from = format_parameter(&query, "from")?;
    let to = format_parameter(&query, "to")?;
    let translation = convert(
        &from,
        &to,
        &body,
        &pipeline.mappings,
        pipeline.clock.today(),
    )?;
    let (body, media_type) =
        crate::formats::translate::sent(&to, translation.output, &pipeline.mappings)?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&media_type).unwrap_or(HeaderValue::from_static(to.media_type())),
    );
    super::error::warning_headers(headers, &translation.warnings);
    Ok(response)
}
