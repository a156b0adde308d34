//! FHIR JSON in and out, as the FHIR endpoints share it: responses as
//! `application/fhir+json`, and request bodies checked for their media type and parsed, with
//! the line and column of a JSON error.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
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
    crate::formats::strict_json::parse(body).map_err(|e| ApiError::BadRequest {
        diagnostics: format!("the body is {e}"),
        expression: None,
    })
}

/// A request body that must be a FHIR JSON `resource`: parsed, its `resourceType` checked.
pub fn resource_body(headers: &HeaderMap, body: &[u8], resource: &str) -> Result<Value, ApiError> {
    let value = json_body(headers, body, resource)?;
    if value.get("resourceType").and_then(Value::as_str) != Some(resource) {
        return Err(ApiError::BadRequest {
            diagnostics: format!("the body is not a {resource}"),
            expression: Some(format!("{resource}.resourceType")),
        });
    }
    Ok(value)
}

/// The body of `PUT /fhir/{resource}/{id}`: as `resource_body`, its `id` the URL's.
pub fn update_body(
    headers: &HeaderMap,
    body: &[u8],
    resource: &str,
    id: &str,
) -> Result<Value, ApiError> {
    let value = resource_body(headers, body, resource)?;
    if value.get("id").and_then(Value::as_str) != Some(id) {
        return Err(ApiError::BadRequest {
            diagnostics: format!("{resource}.id must be {id:?}, the id in the URL"),
            expression: Some(format!("{resource}.id")),
        });
    }
    Ok(value)
}

/// Sets `ETag` (`W/"{version}"`) and `Content-Location` (`/fhir/{kind}/{id}/_history/{version}`)
/// on an answer carrying version `version` of a resource.
pub fn version_headers(response: &mut Response, kind: &str, id: &str, version: u64) {
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{version}\"")) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(location) = HeaderValue::from_str(&format!("/fhir/{kind}/{id}/_history/{version}")) {
        headers.insert(header::CONTENT_LOCATION, location);
    }
}

/// The version `If-Match` asks for, if it names one. Without one, an update with `required`
/// (`server.require_if_match`) is refused with 412: it could overwrite a change it never saw.
pub fn if_match(headers: &HeaderMap, required: bool) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        if required {
            return Err(ApiError::PreconditionFailed(
                "an update names the version it replaces: send If-Match with the ETag of the version read (W/\"<versionId>\"), so that a change made meanwhile is not overwritten (server.require_if_match)"
                    .to_owned(),
            ));
        }
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest {
            diagnostics: "If-Match: a version as the ETag gives it, e.g. W/\"2\"".to_owned(),
            expression: None,
        })
}

/// A JSON request body read strictly (`formats::strict_json`: a key named twice is refused)
/// into a `T`; `application/json` or no content type.
pub struct StrictJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for StrictJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        super::cosmic_link::require_media(
            request.headers(),
            |media| media == "application/json",
            "application/json",
        )?;
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::BadRequest {
                diagnostics: format!("the request body: {}", rejection.body_text()),
                expression: None,
            })?;
        crate::formats::strict_json::from_slice(&bytes)
            .map(StrictJson)
            .map_err(|e| ApiError::BadRequest {
                diagnostics: format!("the request body: {e}"),
                expression: None,
            })
    }
}
