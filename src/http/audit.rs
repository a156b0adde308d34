//! The audit log for auditors.
//!
//! - `GET /audit?after=&limit=&person=&organisation=&from=&to=&_format=json|fhir` (scope
//!   `AuditEvent.s`): records in order, paged by sequence number (`next_after`); `_format=fhir`
//!   answers a Bundle of `AuditEvent`. A client sees the records naming its own organisation;
//!   an auditor client (`auditor = true`) any organisation's.
//! - `GET /audit/extract?person=<personnummer or system|value>` (auditor, `AuditEvent.r`): the
//!   person's log extract — which organisations saw or received what, when, and why.
//!
//! Reading the log is recorded in it.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use serde_json::{Value, json};

use super::auth;
use super::error::ApiError;
use super::router::AppState;
use crate::auth::{Caller, Interaction};
use crate::changes::AuditEntry;
use crate::domain::identifiers::PersonId;
use crate::store::AuditQuery;

const RESOURCE: &str = "AuditEvent";
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

fn bad(diagnostics: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        diagnostics: diagnostics.into(),
        expression: None,
    }
}

/// A person from `191212121212`, `19121212-1212` or `<system>|<value>`.
pub fn person_parameter(text: &str, today: Date) -> Result<PersonId, ApiError> {
    let invalid = || {
        bad(
            "the person parameter is a personnummer, samordningsnummer or reserve number, or <system>|<value>",
        )
    };
    let Some((system, value)) = text.split_once('|') else {
        return PersonId::parse_any(text, today).ok_or_else(invalid);
    };
    PersonId::from_system(system, value, today).ok_or_else(invalid)
}

fn day(query: &HashMap<String, String>, name: &str) -> Result<Option<jiff::Timestamp>, ApiError> {
    query
        .get(name)
        .map(|text| {
            text.parse::<Date>()
                .map(crate::process::calendar::start_of)
                .map_err(|_| bad(format!("the query parameter {name} is a date, YYYY-MM-DD")))
        })
        .transpose()
}

async fn record_read(
    state: &AppState,
    caller: &Caller,
    action: &str,
    person: Option<PersonId>,
    details: Value,
) -> Result<(), ApiError> {
    let entry = AuditEntry {
        actor: caller.client_id.clone(),
        organisation: Some(caller.organisation.code()),
        action: action.to_owned(),
        person,
        purpose: "logguppföljning".to_owned(),
        legal_basis: None,
        details,
    };
    auth::record(state, entry).await
}

/// `GET /audit`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    base: super::Base,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    auth::require(&state, &caller, "/audit", RESOURCE, Interaction::Search).await?;
    let today = state.pipeline.clock.today();
    let limit = super::error::limit_parameter(&query, DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = match query.get("after") {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .and_then(|after| u64::try_from(after).ok())
            .ok_or_else(|| bad("the query parameter after is a sequence number"))?,
    };
    let own = caller.organisation.code();
    let organisation = match query.get("organisation") {
        Some(code) if caller.auditor => Some(code.clone()),
        Some(code) if *code != own => {
            return Err(auth::refuse(
                &state,
                Some(&caller),
                "/audit",
                ApiError::Forbidden(format!(
                    "the client reads the audit records of its own organisation ({own}); only an auditor client reads another's"
                )),
            )
            .await);
        }
        _ if caller.auditor => None,
        _ => Some(own),
    };
    let person = query
        .get("person")
        .map(|p| person_parameter(p, today))
        .transpose()?;
    let audit_query = AuditQuery {
        after,
        limit,
        organisation,
        person: person.clone(),
        from: day(&query, "from")?,
        to: day(&query, "to")?,
    };
    let records = state
        .pipeline
        .store
        .audit_records(&audit_query)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    record_read(
        &state,
        &caller,
        "read audit",
        person,
        json!({ "records": records.len(), "after": after }),
    )
    .await?;
    let next_after = (records.len() as u32 == limit)
        .then(|| records.last().map(|r| r.seq))
        .flatten();
    let fhir = match query.get("_format").map(String::as_str) {
        None | Some("json" | "application/json") => false,
        Some("fhir" | "json+fhir" | "application/fhir+json") => true,
        Some(other) => {
            return Err(ApiError::BadRequest {
                diagnostics: format!("_format={other}: json (the default) or fhir"),
                expression: None,
            });
        }
    };
    if fhir {
        let mut bundle = crate::audit::audit_bundle(&records);
        // Absolute, as in every FHIR answer (`public_url`).
        for entry in bundle["entry"].as_array_mut().into_iter().flatten() {
            if let Some(relative) = entry["fullUrl"].as_str() {
                entry["fullUrl"] = json!(base.fhir(relative));
            }
        }
        if let Some(next) = next_after {
            bundle["link"] = json!([{ "relation": "next", "url": base.url(&format!("/audit?_format=fhir&after={next}&limit={limit}")) }]);
        }
        return Ok((
            [(header::CONTENT_TYPE, "application/fhir+json")],
            Json(bundle),
        )
            .into_response());
    }
    Ok(Json(json!({
        "count": records.len(),
        "next_after": next_after,
        "records": records,
    }))
    .into_response())
}

/// `GET /audit/extract`.
pub async fn extract(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    auth::require(
        &state,
        &caller,
        "/audit/extract",
        RESOURCE,
        Interaction::Read,
    )
    .await?;
    if !caller.auditor {
        return Err(auth::refuse(
            &state,
            Some(&caller),
            "/audit/extract",
            ApiError::Forbidden(
                "a person's log extract spans every organisation; only an auditor client reads it"
                    .to_owned(),
            ),
        )
        .await);
    }
    let person = person_parameter(
        query
            .get("person")
            .ok_or_else(|| bad("the query parameter person names whose extract it is"))?,
        state.pipeline.clock.today(),
    )?;
    let records = state
        .pipeline
        .store
        .audit_for_person(&person)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    record_read(
        &state,
        &caller,
        "read audit extract",
        Some(person),
        json!({ "records": records.len() }),
    )
    .await?;
    let lines = crate::audit::extract(&records, &state.pipeline.directory);
    Ok(Json(json!({ "count": lines.len(), "lines": lines })))
}
