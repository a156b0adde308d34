//! FHIR `AuditEvent`: the audit log as FHIR R4 resources, for auditors and each organisation's
//! own follow-up.
//!
//! - `GET /fhir/AuditEvent?patient=&agent=&date=&_count=` (scope `AuditEvent.s`): the records
//!   in the order written (the id is the record's sequence number), paged with `next` links;
//!   `total` counts what the caller may see. `patient` is `system|value` (or a personnummer),
//!   `agent` an organisation's HSA-id or kommunkod, `date` the recorded time with the prefixes
//!   `ge`, `gt`, `le`, `lt`, `eq`.
//! - `GET /fhir/AuditEvent/{id}` (`AuditEvent.r`): one record.
//!
//! A client sees the records naming its own organisation; an auditor client (`auditor =
//! true`) every organisation's. Reading the log is recorded in it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::auth;
use super::error::{ApiError, internal};
use super::fhir::fhir_json;
use super::router::AppState;
use super::search::{DEFAULT_COUNT, MAX_COUNT, Params, date_range};
use crate::audit::audit_event;
use crate::auth::{Caller, Interaction};
use crate::changes::AuditEntry;
use crate::store::AuditQuery;

const RESOURCE: &str = "AuditEvent";

fn bad(diagnostics: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        diagnostics: diagnostics.into(),
        expression: None,
    }
}

async fn record_read(
    state: &AppState,
    caller: &Caller,
    person: Option<crate::domain::identifiers::PersonId>,
    details: Value,
) -> Result<(), ApiError> {
    auth::record(
        state,
        AuditEntry {
            actor: caller.client_id.clone(),
            organisation: Some(caller.organisation.code()),
            action: "read audit".to_owned(),
            person,
            purpose: "logguppföljning".to_owned(),
            legal_basis: None,
            details,
        },
    )
    .await
}

/// The organisation whose records the caller reads: its own, or (an auditor) the one it names
/// or every one.
async fn organisation_filter(
    state: &AppState,
    caller: &Caller,
    asked: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let own = caller.organisation.code();
    match asked {
        Some(code) if caller.auditor => Ok(Some(code.to_owned())),
        Some(code) if code != own => Err(auth::refuse(
            state,
            Some(caller),
            "/fhir/AuditEvent",
            ApiError::Forbidden(format!(
                "the client reads the audit records of its own organisation ({own}); only an auditor client reads another's"
            )),
        )
        .await),
        _ if caller.auditor => Ok(None),
        _ => Ok(Some(own)),
    }
}

/// `GET /fhir/AuditEvent`.
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    base: super::Base,
    query: super::search::SearchQuery,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/AuditEvent";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Search).await?;
    let params = Params::new(query, RESOURCE, &["patient", "agent", "date"])?;
    for unsupported in ["_sort", "_lastUpdated", "_id"] {
        if params.first(unsupported).is_some() {
            return Err(bad(format!(
                "{unsupported}: AuditEvent is searched by patient, agent and date, in the order the records were written"
            )));
        }
    }
    let person = params
        .first("patient")
        .map(|p| super::audit::person_parameter(p, state.pipeline.clock.today()))
        .transpose()?;
    let organisation = organisation_filter(&state, &caller, params.first("agent")).await?;
    let (mut from, mut to) = (None, None);
    for value in params.all("date") {
        let (prefix, text) = match value.get(..2) {
            Some(p @ ("eq" | "gt" | "ge" | "lt" | "le")) => (p, &value[2..]),
            Some("ne" | "sa" | "eb" | "ap") => {
                return Err(bad(format!(
                    "date={value}: AuditEvent dates take the prefixes eq, gt, ge, lt and le"
                )));
            }
            _ => ("eq", value),
        };
        let (start, end) = date_range(text, "date")?;
        let later =
            |a: Option<jiff::Timestamp>, b| Some(a.map_or(b, |a: jiff::Timestamp| a.max(b)));
        let earlier =
            |a: Option<jiff::Timestamp>, b| Some(a.map_or(b, |a: jiff::Timestamp| a.min(b)));
        match prefix {
            "ge" => from = later(from, start),
            "gt" => from = later(from, end),
            "lt" => to = earlier(to, start),
            "le" => to = earlier(to, end),
            _ => {
                from = later(from, start);
                to = earlier(to, end);
            }
        }
    }
    let count = match params.first("_count") {
        None => DEFAULT_COUNT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_COUNT)
            .ok_or_else(|| bad(format!("_count={text}: 0 to {MAX_COUNT}")))?,
    };
    let after = match params.first("_cursor") {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            bad(format!(
                "_cursor={text}: not a cursor of this gateway; follow the next link as it is given"
            ))
        })?,
    };
    let audit_query = AuditQuery {
        after,
        limit: count as u32 + 1,
        organisation,
        person: person.clone(),
        from,
        to,
    };
    let store = &state.pipeline.store;
    let total = store
        .count_audit_records(&audit_query)
        .await
        .map_err(internal)?;
    let mut records = if count == 0 {
        Vec::new()
    } else {
        store.audit_records(&audit_query).await.map_err(internal)?
    };
    let more = records.len() > count;
    records.truncate(count);
    record_read(
        &state,
        &caller,
        person,
        json!({ "records": records.len(), "after": after, "format": "fhir" }),
    )
    .await?;
    let mut links = vec![
        json!({ "relation": "self", "url": base.url(&format!("{ROUTE}?{}", params.query_with_cursor(None))) }),
    ];
    if more && let Some(last) = records.last() {
        links.push(json!({
            "relation": "next",
            "url": base.url(&format!("{ROUTE}?{}", params.query_with_cursor(Some(&last.seq.to_string())))),
        }));
    }
    Ok(fhir_json(
        StatusCode::OK,
        json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total,
            "link": links,
            "entry": records.iter().map(|r| json!({
                "fullUrl": base.fhir(&format!("AuditEvent/{}", r.seq)),
                "resource": audit_event(r),
                "search": { "mode": "match" },
            })).collect::<Vec<_>>(),
        }),
    ))
}

/// `GET /fhir/AuditEvent/{id}`.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/AuditEvent/{id}";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    let not_found = || ApiError::NotFound(format!("AuditEvent/{id} is not known"));
    let found = match id.parse::<u64>() {
        Ok(seq) if seq > 0 => {
            let organisation = organisation_filter(&state, &caller, None).await?;
            state
                .pipeline
                .store
                .audit_records(&AuditQuery {
                    after: seq - 1,
                    limit: 1,
                    organisation,
                    person: None,
                    from: None,
                    to: None,
                })
                .await
                .map_err(internal)?
                .into_iter()
                .find(|r| r.seq == seq)
                .ok_or_else(not_found)
        }
        _ => Err(not_found()),
    };
    let record = auth::audited(&state, &caller, ROUTE, found).await?;
    record_read(
        &state,
        &caller,
        None,
        json!({ "record": record.seq, "format": "fhir" }),
    )
    .await?;
    Ok(fhir_json(StatusCode::OK, audit_event(&record)))
}
