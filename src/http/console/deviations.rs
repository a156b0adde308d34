//! The console's deviations, for coordinators (and operators): the deviations of the cases
//! their organisation takes part in — unanswered, answered or all — each case read through the
//! disclosure decision and audited as the person's read (unanswered, overdue — reminded past
//! the answer's deadline —, answered or all); one deviation with its description,
//! evidence and state; and, for the party it is addressed to, acknowledging and answering it
//! from the page (recorded as the organisation's steps, as the API records them).

use std::collections::HashMap;
use std::fmt::Write;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::page::{self, Page, age, escape, local, text};
use super::session::Session;
use super::{actor, follower, html, redirect, same_session};
use crate::domain::case::{CaseId, TransitionError};
use crate::domain::event::EventKind;
use crate::domain::sensitive::Sensitive;
use crate::http::router::AppState;
use crate::pipeline::{Acting, ReceiveError, reader_party};
use crate::process::deviations::{DeviationStatus, DeviationView};
use crate::store::DeviationFilter;

/// What the deviation pages' reads are audited as done for: the pages exist for nothing else.
const PURPOSE: &str = "uppföljning av avvikelser";

/// How many deviations a page lists.
const PAGE: u32 = 200;

fn snake(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn status_text(lang: &str, status: DeviationStatus) -> &'static str {
    text(
        lang,
        match status {
            DeviationStatus::Open => "deviation-open",
            DeviationStatus::Acknowledged => "deviation-acknowledged",
            DeviationStatus::Answered => "deviation-answered",
        },
    )
}

/// `GET /console/deviations?status=unanswered|answered|all`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = match follower(&state, &headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = super::page_language(&query, &session);
    let (filter, chosen) = match query.get("status").map(String::as_str) {
        Some("answered") => (DeviationFilter::Answered, "answered"),
        Some("all") => (DeviationFilter::All, "all"),
        // Unanswered past the answer's deadline: reminded at least once.
        Some("overdue") => (DeviationFilter::Unanswered, "overdue"),
        _ => (DeviationFilter::Unanswered, "unanswered"),
    };
    let pipeline = &state.pipeline;
    let now = pipeline.clock.now();
    let mut out = String::new();
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/console/deviations\"><label for=\"status\">{}</label><select id=\"status\" name=\"status\">",
        text(lang, "status")
    );
    for (value, key) in [
        ("unanswered", "unanswered"),
        ("overdue", "overdue"),
        ("answered", "deviation-answered"),
        ("all", "all"),
    ] {
        let _ = write!(
            out,
            "<option value=\"{value}\"{}>{}</option>",
            if value == chosen { " selected" } else { "" },
            text(lang, key)
        );
    }
    let _ = write!(
        out,
        "</select><p><button type=\"submit\">{}</button></p></form>",
        text(lang, "show")
    );
    let rows = match pipeline.store.deviations(filter, None, PAGE).await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::error!(%error, "the console could not read the deviations");
            Vec::new()
        }
    };
    // Each case once, read as the person's organisation may read it (and audited): together,
    // so that their audit records share the committer's transactions.
    let mut case_ids: Vec<CaseId> = rows.iter().map(|row| row.case_id).collect();
    case_ids.sort_by_key(|id| id.0);
    case_ids.dedup();
    let mut reading = tokio::task::JoinSet::new();
    for case_id in case_ids {
        let (pipeline, organisation, actor) = (
            pipeline.clone(),
            session.organisation.clone(),
            actor(&session),
        );
        reading.spawn(async move {
            pipeline
                .read_case_for(
                    case_id,
                    &organisation,
                    &actor,
                    "deviations (console)",
                    PURPOSE,
                )
                .await
                .ok()
                .map(|read| (case_id, read))
        });
    }
    let mut reads: HashMap<CaseId, crate::pipeline::CaseRead> = HashMap::new();
    while let Some(done) = reading.join_next().await {
        if let Ok(Some((case_id, read))) = done {
            reads.insert(case_id, read);
        }
    }
    let shown: Vec<DeviationView> = rows
        .iter()
        .filter_map(|row| reads.get(&row.case_id)?.deviation(&row.deviation_id))
        .filter(|view| chosen != "overdue" || view.reminders > 0)
        .collect();
    if shown.is_empty() {
        let _ = write!(out, "<p>{}</p>", text(lang, "no-deviations"));
    } else {
        let _ = write!(
            out,
            "<table aria-label=\"{}\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\" class=\"number\">{}</th></tr></thead><tbody>",
            text(lang, "deviations-title"),
            text(lang, "cause"),
            text(lang, "addressed-to"),
            text(lang, "raised"),
            text(lang, "status"),
            text(lang, "case"),
            text(lang, "reminders"),
        );
        for view in &shown {
            let _ = write!(
                out,
                "<tr><th scope=\"row\"><a href=\"/console/cases/{}/deviations/{}\">{}</a></th><td>{}</td><td>{}</td><td{}>{}</td><td>{}</td><td class=\"number\">{}</td></tr>",
                view.case_id,
                escape(&view.deviation_id),
                escape(&snake(&view.cause)),
                escape(&view.addressed_to.to_string()),
                age(view.raised_at, now),
                if view.status == DeviationStatus::Answered {
                    ""
                } else {
                    " class=\"bad\""
                },
                status_text(lang, view.status),
                view.case_id,
                view.reminders,
            );
        }
        out.push_str("</tbody></table>");
    }
    let mut page = Page::new(
        lang,
        text(lang, "deviations-title"),
        &session,
        "/console/deviations",
    );
    page.push(&out);
    html(StatusCode::OK, page.finish())
}

/// The deviation as the person's organisation may read it (the read audited).
async fn view_of(
    state: &AppState,
    session: &Session,
    case_id: CaseId,
    deviation_id: &str,
) -> Option<DeviationView> {
    state
        .pipeline
        .read_case_for(
            case_id,
            &session.organisation,
            &actor(session),
            "deviation (console)",
            PURPOSE,
        )
        .await
        .ok()?
        .deviation(deviation_id)
}

/// `GET /console/cases/{case_id}/deviations/{deviation_id}`.
pub async fn one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((case, deviation_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = match follower(&state, &headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = super::page_language(&query, &session);
    let found = match CaseId::parse(&case) {
        Ok(case_id) => view_of(&state, &session, case_id, &deviation_id).await,
        Err(_) => None,
    };
    let Some(view) = found else {
        return html(
            StatusCode::NOT_FOUND,
            page::refused(lang, text(lang, "no-such-deviation")),
        );
    };
    let now = state.pipeline.clock.now();
    let mut out = String::new();
    let _ = write!(
        out,
        "<dl><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{} ({})</dd><dt>{}</dt><dd>{}</dd></dl><h2>{}</h2><p>{}</p>",
        text(lang, "status"),
        status_text(lang, view.status),
        text(lang, "cause"),
        escape(&snake(&view.cause)),
        text(lang, "addressed-to"),
        escape(&view.addressed_to.to_string()),
        text(lang, "raised"),
        local(view.raised_at),
        age(view.raised_at, now),
        text(lang, "reminders"),
        view.reminders,
        text(lang, "description"),
        escape(view.description.expose()),
    );
    if !view.evidence.is_empty() {
        let _ = write!(out, "<h2>{}</h2><ul>", text(lang, "evidence"));
        for evidence in &view.evidence {
            let _ = write!(out, "<li>{}: {}</li>", escape(&evidence.what), evidence.at);
        }
        out.push_str("</ul>");
    }
    if let Some(answer) = &view.answer {
        let _ = write!(
            out,
            "<h2>{}</h2><p>{}</p>",
            text(lang, "answer"),
            escape(answer.expose())
        );
    }
    // The addressed party acknowledges and answers.
    let addressed = state
        .pipeline
        .directory
        .organisation_of(&view.addressed_to)
        .as_ref()
        == Some(&session.organisation);
    if addressed && view.status != DeviationStatus::Answered {
        let action = format!(
            "/console/cases/{}/deviations/{}",
            view.case_id,
            escape(&view.deviation_id)
        );
        if view.status == DeviationStatus::Open {
            let _ = write!(
                out,
                "<form method=\"post\" action=\"{action}/acknowledgement\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><p><button type=\"submit\">{}</button></p></form>",
                escape(&session.csrf),
                text(lang, "acknowledge"),
            );
        }
        let _ = write!(
            out,
            "<form method=\"post\" action=\"{action}/answer\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label for=\"answer\">{}</label><textarea id=\"answer\" name=\"answer\" rows=\"4\" cols=\"60\" required></textarea><p><button type=\"submit\">{}</button></p></form>",
            escape(&session.csrf),
            text(lang, "answer-label"),
            text(lang, "send-answer"),
        );
    }
    let _ = write!(
        out,
        "<p><a href=\"/console/cases/{}\">{}</a></p>",
        view.case_id,
        text(lang, "case-timeline")
    );
    let mut page = Page::new(
        lang,
        text(lang, "deviation"),
        &session,
        "/console/deviations",
    );
    page.push(&out);
    html(StatusCode::OK, page.finish())
}

#[derive(Debug, Deserialize)]
pub struct StepForm {
    csrf: String,
    #[serde(default)]
    answer: Option<String>,
}

/// Records the acknowledgement or the answer as the person's organisation's step.
async fn record(
    state: &AppState,
    headers: &HeaderMap,
    base: &crate::http::Base,
    case: &str,
    deviation_id: &str,
    form: StepForm,
    answering: bool,
) -> Response {
    let session = match follower(state, headers) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = session.language;
    if let Err(refusal) = same_session(&session, headers, base, &form.csrf) {
        return *refusal;
    }
    let Ok(case_id) = CaseId::parse(case) else {
        return html(
            StatusCode::NOT_FOUND,
            page::refused(lang, text(lang, "no-such-deviation")),
        );
    };
    // Only a deviation the organisation may read, addressed to it.
    let Some(view) = view_of(state, &session, case_id, deviation_id).await else {
        return html(
            StatusCode::NOT_FOUND,
            page::refused(lang, text(lang, "no-such-deviation")),
        );
    };
    let by = reader_party(&session.organisation);
    if state.pipeline.directory.organisation_of(&view.addressed_to)
        != Some(session.organisation.clone())
    {
        return html(
            StatusCode::FORBIDDEN,
            page::refused(lang, text(lang, "not-addressed")),
        );
    }
    let (key, kind) = if answering {
        let answer = form.answer.unwrap_or_default();
        if answer.trim().is_empty() {
            return html(
                StatusCode::BAD_REQUEST,
                page::refused(lang, text(lang, "answer-empty")),
            );
        }
        (
            format!("answered:{deviation_id}"),
            EventKind::DeviationAnswered {
                deviation_id: deviation_id.to_owned(),
                answered_by: by.clone(),
                answer: Sensitive::new(answer),
            },
        )
    } else {
        (
            format!("acknowledged:{deviation_id}:{by}"),
            EventKind::DeviationAcknowledged {
                deviation_id: deviation_id.to_owned(),
                by: by.clone(),
            },
        )
    };
    match state
        .pipeline
        .append(
            case_id,
            &by,
            &key,
            kind,
            Acting::Client(&session.organisation),
        )
        .await
    {
        Ok(_) | Err(ReceiveError::Transition(TransitionError::DuplicateEvent { .. })) => {
            redirect(&format!(
                "/console/cases/{case_id}/deviations/{}",
                url_segment(deviation_id)
            ))
        }
        Err(error) => {
            let message = error.to_string();
            html(StatusCode::CONFLICT, page::refused(lang, &message))
        }
    }
}

/// `deviation_id` as one path segment.
pub(super) fn url_segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `POST /console/cases/{case_id}/deviations/{deviation_id}/acknowledgement`.
pub async fn acknowledge(
    State(state): State<AppState>,
    base: crate::http::Base,
    headers: HeaderMap,
    Path((case, deviation_id)): Path<(String, String)>,
    Form(form): Form<StepForm>,
) -> Response {
    record(&state, &headers, &base, &case, &deviation_id, form, false).await
}

/// `POST /console/cases/{case_id}/deviations/{deviation_id}/answer`.
pub async fn answer(
    State(state): State<AppState>,
    base: crate::http::Base,
    headers: HeaderMap,
    Path((case, deviation_id)): Path<(String, String)>,
    Form(form): Form<StepForm>,
) -> Response {
    record(&state, &headers, &base, &case, &deviation_id, form, true).await
}
