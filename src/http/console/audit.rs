//! The console's audit pages, for auditors: their organisation's audit log, newest first and
//! paged (who did what, about whom, why, on what basis), and a person's log extract — every
//! record of their organisation about the person, found by personnummer (in a POST body, never
//! a URL). Both are personal data: each view is itself audited (`read audit (console)`,
//! `read audit extract (console)`), with the purpose `logguppföljning`.

use std::collections::HashMap;
use std::fmt::Write;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::page::{Page, escape, local, text};
use super::session::Session;
use super::{actor, html, same_session, signed_in, unavailable};
use crate::auth::Role;
use crate::changes::AuditEntry;
use crate::domain::identifiers::PersonId;
use crate::http::router::AppState;
use crate::store::AuditRecord;

/// Records a page lists.
const PAGE: u32 = 100;

fn auditor(state: &AppState, headers: &HeaderMap) -> Result<Session, Box<Response>> {
    signed_in(state, headers, &[Role::Auditor], "auditors-only")
}

/// Audits the auditor's view; whether it was recorded (nothing is shown otherwise).
async fn audited(
    state: &AppState,
    session: &Session,
    action: &str,
    person: Option<PersonId>,
    shown: usize,
) -> bool {
    let entry = AuditEntry {
        actor: actor(session),
        organisation: Some(session.organisation.code()),
        action: action.to_owned(),
        person,
        purpose: "logguppföljning".to_owned(),
        legal_basis: None,
        details: json!({ "records": shown }),
    };
    super::audited(state, entry).await
}

/// The table of `records`.
fn records_table(out: &mut String, lang: &str, records: &[AuditRecord], today: jiff::civil::Date) {
    if records.is_empty() {
        let _ = write!(out, "<p>{}</p>", text(lang, "no-records"));
        return;
    }
    let _ = write!(
        out,
        "<table aria-label=\"{}\"><thead><tr><th scope=\"col\" class=\"number\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        text(lang, "audit-log"),
        text(lang, "seq"),
        text(lang, "when"),
        text(lang, "who"),
        text(lang, "what"),
        text(lang, "person"),
        text(lang, "purpose"),
        text(lang, "legal-basis"),
    );
    for record in records {
        let person = record
            .person
            .as_deref()
            .and_then(|token| token.split_once('|'))
            .and_then(|(system, value)| PersonId::from_system(system, value, today))
            .map(|p| p.value())
            .unwrap_or_else(|| "–".to_owned());
        let _ = write!(
            out,
            "<tr><th scope=\"row\" class=\"number\">{}</th><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            record.seq,
            local(record.recorded_at),
            escape(&record.actor),
            escape(&record.action),
            escape(&person),
            escape(&record.purpose),
            escape(record.legal_basis.as_deref().unwrap_or("–")),
        );
    }
    out.push_str("</tbody></table>");
}

fn extract_form(out: &mut String, lang: &str, session: &Session) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"extract\"><h2 id=\"extract\">{}</h2><form method=\"post\" action=\"/console/audit/extract\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label for=\"person\">{}</label><input type=\"text\" id=\"person\" name=\"person\" autocomplete=\"off\" inputmode=\"numeric\" required><p><button type=\"submit\">{}</button></p></form></section>",
        text(lang, "log-extract"),
        escape(&session.csrf),
        text(lang, "person-number"),
        text(lang, "show-extract"),
    );
}

/// `GET /console/audit?before=` — the organisation's records, newest first.
pub async fn log(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = match auditor(&state, &headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = super::page_language(&query, &session);
    let store = &state.pipeline.store;
    // Newest first: the page of the `PAGE` records before `before` (the newest without it).
    let before = query.get("before").and_then(|b| b.parse::<u64>().ok());
    let records = match store
        .audit_records_before(before, PAGE, &session.organisation.code())
        .await
    {
        Ok(records) => records,
        Err(error) => {
            tracing::error!(%error, "the console could not read the audit log");
            return unavailable(lang);
        }
    };
    if !audited(
        &state,
        &session,
        "read audit (console)",
        None,
        records.len(),
    )
    .await
    {
        return unavailable(lang);
    }
    let mut out = format!("<p>{}</p>", text(lang, "audit-intro"));
    extract_form(&mut out, lang, &session);
    let _ = write!(out, "<h2>{}</h2>", text(lang, "audit-log"));
    records_table(&mut out, lang, &records, state.pipeline.clock.today());
    if records.len() as u32 == PAGE
        && let Some(oldest) = records.last()
    {
        let _ = write!(
            out,
            "<p><a href=\"/console/audit?before={}\">{}</a></p>",
            oldest.seq,
            text(lang, "older")
        );
    }
    let mut page = Page::new(lang, text(lang, "audit-log"), &session, "/console/audit");
    page.push(&out);
    html(StatusCode::OK, page.finish())
}

#[derive(Debug, Deserialize)]
pub struct ExtractForm {
    csrf: String,
    person: String,
}

/// `POST /console/audit/extract` — the person's log extract of the organisation's records.
pub async fn extract(
    State(state): State<AppState>,
    base: crate::http::Base,
    headers: HeaderMap,
    Form(form): Form<ExtractForm>,
) -> Response {
    let session = match auditor(&state, &headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = session.language;
    if let Err(refusal) = same_session(&session, &headers, &base, &form.csrf) {
        return *refusal;
    }
    let today = state.pipeline.clock.today();
    let mut out = String::new();
    let Some(person) = PersonId::parse_any(form.person.trim(), today) else {
        let _ = write!(
            out,
            "<p class=\"message\" role=\"alert\">{}</p>",
            text(lang, "bad-person-only")
        );
        extract_form(&mut out, lang, &session);
        let mut page = Page::new(lang, text(lang, "log-extract"), &session, "/console/audit");
        page.push(&out);
        return html(StatusCode::BAD_REQUEST, page.finish());
    };
    let own = session.organisation.code();
    let records: Vec<AuditRecord> = match state.pipeline.store.audit_for_person(&person).await {
        Ok(records) => records
            .into_iter()
            .filter(|r| r.organisation.as_deref() == Some(own.as_str()))
            .collect(),
        Err(error) => {
            tracing::error!(%error, "the console could not read a person's audit records");
            return unavailable(lang);
        }
    };
    if !audited(
        &state,
        &session,
        "read audit extract (console)",
        Some(person.clone()),
        records.len(),
    )
    .await
    {
        return unavailable(lang);
    }
    let _ = write!(
        out,
        "<p>{} {}: {}</p>",
        text(lang, "extract-of"),
        escape(&person.value()),
        records.len()
    );
    records_table(&mut out, lang, &records, today);
    extract_form(&mut out, lang, &session);
    let mut page = Page::new(lang, text(lang, "log-extract"), &session, "/console/audit");
    page.push(&out);
    html(StatusCode::OK, page.finish())
}
