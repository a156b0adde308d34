//! `/health` (the process answers) and `/ready` (the database answers, is migrated and written,
//! and its schema is one this build may run on).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::ApiError;
use super::router::AppState;

/// Liveness: 200 while the process serves requests.
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: 200 when the database answers, every migration this build knows is applied and
/// the schema does not need a newer build; else 503 with the reason.
pub async fn ready(State(state): State<AppState>) -> Result<Response, ApiError> {
    match state.pipeline.store.readiness().await {
        Ok(r) => match r.problem() {
            None => Ok(Json(json!({
                "status": "ready",
                "database": r.backend,
                "migrations": {
                    "applied": r.applied_migrations,
                    "known": r.known_migrations,
                    "newer": r.newer_migrations,
                },
            }))
            .into_response()),
            Some(reason) => Ok((
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "not ready",
                    "reason": reason,
                    "database": r.backend,
                })),
            )
                .into_response()),
        },
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            Err(ApiError::Unavailable(
                "the database does not answer".to_owned(),
            ))
        }
    }
}
