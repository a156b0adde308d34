//! `GET /stats?from=YYYY-MM-DD&to=YYYY-MM-DD`: follow-up statistics per principal and unit
//! (counts, no personal data; scope `system/MeasureReport.r`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use jiff::civil::Date;

use super::error::ApiError;
use crate::process::stats::{self, Stats, StatsError};

fn date(query: &HashMap<String, String>, name: &str) -> Result<Option<Date>, ApiError> {
    query
        .get(name)
        .map(|text| {
            text.parse::<Date>().map_err(|_| ApiError::BadRequest {
                diagnostics: format!("the query parameter {name} is a date, YYYY-MM-DD"),
                expression: None,
            })
        })
        .transpose()
}

/// The statistics of `[from, to)` in local dates; the current month by default.
pub async fn stats(
    State(state): State<super::router::AppState>,
    caller: crate::auth::Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Stats>, ApiError> {
    super::auth::require(
        &state,
        &caller,
        "/stats",
        "MeasureReport",
        crate::auth::Interaction::Read,
    )
    .await?;
    let pipeline = &state.pipeline;
    let (first, next) = stats::this_month(pipeline.clock.today());
    let from = date(&query, "from")?.unwrap_or(first);
    let to = date(&query, "to")?.unwrap_or(next);
    match stats::for_period(&pipeline.store, from, to).await {
        Ok(stats) => Ok(Json(stats)),
        Err(StatsError::EmptyPeriod { .. }) => Err(ApiError::BadRequest {
            diagnostics: format!("the period is empty: from {from} is not before to {to}"),
            expression: None,
        }),
        Err(StatsError::Store(error)) => Err(ApiError::Internal(error.to_string())),
    }
}
