//! `GET /stats?from=YYYY-MM-DD&to=YYYY-MM-DD`: follow-up statistics per principal and unit
//! (counts, no personal data; scope `system/MeasureReport.r`): a client's own organisation's
//! units, or every unit for the county's follow-up with small figures suppressed.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use jiff::civil::Date;

use super::error::ApiError;
use crate::pipeline::stats::{Scope, StatsError, release};
use crate::process::stats;

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

/// The statistics of `[from, to)` in local dates; the current month by default. A client sees
/// its own organisation's units over the cases it takes part in; a client registered for the
/// county's follow-up (`county_statistics`) sees every unit, small figures suppressed.
pub async fn stats(
    State(state): State<super::router::AppState>,
    caller: crate::auth::Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    let scope = if caller.county_statistics {
        Scope::County {
            suppress_below: state.statistics.suppress_below,
        }
    } else {
        Scope::Organisation(&caller.organisation)
    };
    let release = match release(
        &pipeline.statistics,
        &pipeline.store,
        &pipeline.directory,
        scope,
        from,
        to,
    )
    .await
    {
        Ok(release) => release,
        Err(StatsError::EmptyPeriod { .. }) => {
            return Err(ApiError::BadRequest {
                diagnostics: format!("the period is empty: from {from} is not before to {to}"),
                expression: None,
            });
        }
        Err(error) => return Err(ApiError::Internal(error.to_string())),
    };
    Ok(Json(release.to_json()))
}
