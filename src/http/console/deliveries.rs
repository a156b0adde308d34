//! The console's deliveries, for operators: every subscription's deliveries filtered by
//! subscription and status, each with its attempts and last error; a dead letter delivered
//! again on request, or every dead letter of a subscription at once after a confirmation.
//! Each redelivery is audited under the person who asked. The page also lists the
//! subscriptions, each pausable and resumable (`pausing`).

use std::collections::HashMap;
use std::fmt::Write;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::page::{self, Page, age, escape, text};
use super::session::Session;
use super::{html, redirect, same_session, signed_in, unavailable};
use crate::auth::Role;
use crate::changes::AuditEntry;
use crate::http::router::AppState;
use crate::store::DeliveryQuery;

/// How many deliveries a page lists.
const PAGE: u32 = 100;

/// The signed-in operator, or the answer to give instead.
fn operator(state: &AppState, headers: &HeaderMap) -> Result<Session, Box<Response>> {
    signed_in(state, headers, &[Role::Operator], "operators-only")
}

/// `GET /console/deliveries?subscription=…&status=…&after=…`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let session = match operator(&state, &headers) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let lang = super::page_language(&query, &session);
    let configured: Vec<String> = state
        .pipeline
        .subscriptions
        .current()
        .0
        .iter()
        .map(|s| s.id.clone())
        .collect();
    let subscription = query
        .get("subscription")
        .filter(|s| configured.contains(s))
        .cloned();
    let status = query
        .get("status")
        .map(String::as_str)
        .filter(|s| matches!(*s, "pending" | "delivered" | "dead"))
        .map(str::to_owned);
    let case = query
        .get("case")
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .and_then(|c| crate::domain::case::CaseId::parse(c).ok());
    let after = query
        .get("after")
        .and_then(|a| a.parse::<i64>().ok())
        .filter(|a| *a >= 0)
        .unwrap_or(0);
    let rows = state
        .pipeline
        .store
        .deliveries(&DeliveryQuery {
            status: status.clone(),
            subscriptions: subscription
                .clone()
                .map(|s| vec![s])
                .unwrap_or_else(|| configured.clone()),
            case_id: case,
            after,
            limit: PAGE,
        })
        .await;
    let now = state.pipeline.clock.now();
    let mut page = Page::new(
        lang,
        text(lang, "deliveries"),
        &session,
        "/console/deliveries",
    );
    let mut out = String::new();
    for (key, said) in [("paused", "was-paused"), ("resumed", "was-resumed")] {
        if let Some(name) = query.get(key) {
            let _ = write!(
                out,
                "<p role=\"status\">{} {}.</p>",
                escape(name),
                text(lang, said)
            );
        }
    }
    let paused = state
        .pipeline
        .store
        .paused_subscriptions()
        .await
        .unwrap_or_else(|error| {
            tracing::error!(%error, "the console could not read the paused subscriptions");
            Vec::new()
        });
    super::pausing::section(&mut out, lang, &session, &configured, &paused, now);
    if let Some(done) = query.get("redelivered") {
        let _ = write!(
            out,
            "<p role=\"status\">{} {}.</p>",
            escape(done),
            text(lang, "redelivered")
        );
    }
    // The filter.
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/console/deliveries\"><label for=\"subscription\">{}</label><select id=\"subscription\" name=\"subscription\"><option value=\"\">{}</option>",
        text(lang, "subscription"),
        text(lang, "all")
    );
    for name in &configured {
        let _ = write!(
            out,
            "<option value=\"{0}\"{1}>{0}</option>",
            escape(name),
            if subscription.as_ref() == Some(name) {
                " selected"
            } else {
                ""
            }
        );
    }
    let _ = write!(
        out,
        "</select><label for=\"status\">{}</label><select id=\"status\" name=\"status\"><option value=\"\">{}</option>",
        text(lang, "status"),
        text(lang, "all")
    );
    for value in ["pending", "delivered", "dead"] {
        let _ = write!(
            out,
            "<option value=\"{value}\"{}>{}</option>",
            if status.as_deref() == Some(value) {
                " selected"
            } else {
                ""
            },
            text(lang, &format!("status-{value}"))
        );
    }
    let _ = write!(
        out,
        "</select><label for=\"case\">{}</label><input type=\"text\" id=\"case\" name=\"case\" value=\"{}\"><p><button type=\"submit\">{}</button></p></form>",
        text(lang, "case-id"),
        case.map(|c| c.to_string()).unwrap_or_default(),
        text(lang, "show")
    );
    // Every dead letter of the subscription shown, again, after a confirmation.
    if let (Some(name), Some("dead")) = (&subscription, status.as_deref()) {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/console/subscriptions/{0}/redeliver\"><input type=\"hidden\" name=\"csrf\" value=\"{1}\"><p><input type=\"checkbox\" id=\"confirm\" name=\"confirm\" value=\"yes\"> <label for=\"confirm\" class=\"inline\">{2}</label></p><p><button type=\"submit\">{3}</button></p></form>",
            escape(name),
            escape(&session.csrf),
            text(lang, "confirm-all"),
            text(lang, "redeliver-all"),
        );
    }
    match rows {
        Err(error) => {
            tracing::error!(%error, "the console could not read the deliveries");
            let _ = write!(
                out,
                "<p class=\"message\" role=\"alert\">{}</p>",
                text(lang, "store-unreadable")
            );
        }
        Ok(rows) if rows.is_empty() => {
            let _ = write!(out, "<p>{}</p>", text(lang, "no-deliveries"));
        }
        Ok(rows) => {
            let _ = write!(
                out,
                "<table aria-label=\"{}\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\" class=\"number\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
                text(lang, "deliveries"),
                text(lang, "delivery"),
                text(lang, "subscription"),
                text(lang, "recipient"),
                text(lang, "status"),
                text(lang, "attempts"),
                text(lang, "last-error"),
                text(lang, "created"),
                text(lang, "case"),
            );
            for row in &rows {
                let redeliver = if row.status == "dead" {
                    format!(
                        "<form class=\"inline\" method=\"post\" action=\"/console/deliveries/{}/redeliver\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"> <button type=\"submit\" class=\"quiet\" aria-label=\"{} {}\">{}</button></form>",
                        row.id,
                        escape(&session.csrf),
                        text(lang, "redeliver"),
                        row.id,
                        text(lang, "redeliver"),
                    )
                } else {
                    String::new()
                };
                let _ = write!(
                    out,
                    "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td{}>{}{}</td><td class=\"number\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    row.id,
                    escape(&row.subscription),
                    escape(&row.recipient),
                    if row.status == "dead" {
                        " class=\"bad\""
                    } else {
                        ""
                    },
                    text(lang, &format!("status-{}", row.status)),
                    redeliver,
                    row.attempts,
                    escape(&row.last_error.clone().unwrap_or_default()),
                    age(row.created_at, now),
                    escape(&row.case_id),
                );
            }
            out.push_str("</tbody></table>");
            if rows.len() as u32 == PAGE
                && let Some(last) = rows.last()
            {
                let mut next = vec![("after", last.id.to_string())];
                if let Some(name) = &subscription {
                    next.push(("subscription", name.clone()));
                }
                if let Some(status) = &status {
                    next.push(("status", status.clone()));
                }
                if let Some(case) = case {
                    next.push(("case", case.to_string()));
                }
                let _ = write!(
                    out,
                    "<p><a href=\"/console/deliveries?{}\">{}</a></p>",
                    escape(&serde_urlencoded::to_string(next).unwrap_or_default()),
                    if lang == "en" {
                        "Next page"
                    } else {
                        "Nästa sida"
                    }
                );
            }
        }
    }
    page.push(&out);
    html(StatusCode::OK, page.finish())
}

#[derive(Debug, Deserialize)]
pub struct RedeliverForm {
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// Puts dead letter `id` back in the queue, audited as `session`'s; whether it was dead.
async fn redeliver_one(
    state: &AppState,
    session: &Session,
    id: i64,
    subscription: &str,
) -> Result<bool, crate::store::StoreError> {
    let entry = AuditEntry {
        actor: format!("console:{}", session.username),
        organisation: Some(session.organisation.code()),
        action: "redeliver".to_owned(),
        person: None,
        purpose: "leverans".to_owned(),
        legal_basis: None,
        details: json!({ "delivery": id, "subscription": subscription }),
    };
    state
        .pipeline
        .store
        .redeliver(id, state.pipeline.clock.now(), &entry)
        .await
}

/// Checks a console POST: signed in as an operator, from this site, with the session's token.
pub(super) fn checked(
    state: &AppState,
    base: &crate::http::Base,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Session, Box<Response>> {
    let session = operator(state, headers)?;
    same_session(&session, headers, base, csrf)?;
    Ok(session)
}

/// `POST /console/deliveries/{id}/redeliver`.
pub async fn redeliver(
    State(state): State<AppState>,
    base: crate::http::Base,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<RedeliverForm>,
) -> Response {
    let session = match checked(&state, &base, &headers, &form.csrf) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let row = match state.pipeline.store.delivery(id).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            return html(
                StatusCode::NOT_FOUND,
                page::refused(session.language, text(session.language, "no-such-delivery")),
            );
        }
        Err(error) => {
            tracing::error!(%error, "the console could not read a delivery");
            return unavailable(session.language);
        }
    };
    match redeliver_one(&state, &session, row.id, &row.subscription).await {
        Ok(true) => {
            state.pipeline.outbox_ready.notify_waiters();
            back_to(&row.subscription, Some(1))
        }
        Ok(false) => back_to(&row.subscription, None),
        Err(error) => {
            tracing::error!(%error, "the console could not redeliver");
            unavailable(session.language)
        }
    }
}

/// `POST /console/subscriptions/{name}/redeliver`: every dead letter of the subscription, once
/// the operator has ticked the confirmation.
pub async fn redeliver_all(
    State(state): State<AppState>,
    base: crate::http::Base,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<RedeliverForm>,
) -> Response {
    let session = match checked(&state, &base, &headers, &form.csrf) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = session.language;
    if form.confirm.as_deref() != Some("yes") {
        return html(
            StatusCode::BAD_REQUEST,
            page::refused(lang, text(lang, "not-confirmed")),
        );
    }
    if let Some(refusal) = super::unknown_subscription(&state, &name, lang) {
        return refusal;
    }
    let mut done = 0usize;
    let mut after = 0;
    let outcome: Result<(), crate::store::StoreError> = async {
        loop {
            let rows = state
                .pipeline
                .store
                .deliveries(&DeliveryQuery {
                    status: Some("dead".to_owned()),
                    subscriptions: vec![name.clone()],
                    case_id: None,
                    after,
                    limit: 500,
                })
                .await?;
            let Some(last) = rows.last().map(|r| r.id) else {
                return Ok(());
            };
            for row in &rows {
                if redeliver_one(&state, &session, row.id, &name).await? {
                    done += 1;
                }
            }
            after = last;
        }
    }
    .await;
    if done > 0 {
        state.pipeline.outbox_ready.notify_waiters();
    }
    if let Err(error) = outcome {
        // Said, with how many went back before it stopped: nothing is left half-done unseen.
        tracing::error!(%error, "the console could not redeliver every dead letter");
        let message = format!(
            "{} ({done} {})",
            text(lang, "store-unreadable"),
            text(lang, "redelivered")
        );
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            page::refused(lang, &message),
        );
    }
    back_to(&name, Some(done))
}

/// Back to the subscription's deliveries, saying how many were redelivered.
fn back_to(subscription: &str, redelivered: Option<usize>) -> Response {
    let mut query = vec![("subscription", subscription.to_owned())];
    if let Some(n) = redelivered {
        query.push(("redelivered", n.to_string()));
    }
    redirect(&format!(
        "/console/deliveries?{}",
        serde_urlencoded::to_string(query).unwrap_or_default()
    ))
}
