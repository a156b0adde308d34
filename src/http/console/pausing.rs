//! Pausing and resuming a subscription from the console, for operators: while paused, its
//! deliveries stay in the queue on every instance (`delivery::Paused`); resumed, they go in
//! order. Each change is audited under the person, in the same transaction as the change.

use std::fmt::Write;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::json;

use super::page::{self, age, escape, text};
use super::session::Session;
use super::{CsrfForm, redirect, unavailable};
use crate::changes::AuditEntry;
use crate::http::router::AppState;

/// The subscriptions section of the deliveries page: each configured subscription, whether
/// it is paused (since when, by whom), and the button that changes it.
pub fn section(
    out: &mut String,
    lang: &str,
    session: &Session,
    configured: &[String],
    paused: &[(String, String, Timestamp)],
    now: Timestamp,
) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"subscriptions\"><h2 id=\"subscriptions\">{}</h2><p class=\"note\">{}</p><table aria-labelledby=\"subscriptions\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\"><span class=\"hidden\">{}</span></th></tr></thead><tbody>",
        text(lang, "subscriptions"),
        text(lang, "pause-note"),
        text(lang, "subscription"),
        text(lang, "status"),
        text(lang, "change"),
    );
    for name in configured {
        let found = paused.iter().find(|(n, _, _)| n == name);
        let (state, action, button) = match found {
            Some((_, by, at)) => (
                format!(
                    "<span class=\"bad\">{}</span> {} ({}, {})",
                    text(lang, "paused"),
                    page::local(*at),
                    age(*at, now),
                    escape(by.strip_prefix("console:").unwrap_or(by)),
                ),
                "resume",
                text(lang, "resume"),
            ),
            None => (
                text(lang, "active").to_owned(),
                "pause",
                text(lang, "pause"),
            ),
        };
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{name}</th><td>{state}</td><td><form class=\"inline\" method=\"post\" action=\"/console/subscriptions/{name}/{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" class=\"quiet\" aria-label=\"{button} {name}\">{button}</button></form></td></tr>",
            escape(&session.csrf),
            name = escape(name),
        );
    }
    out.push_str("</tbody></table></section>");
}

async fn change(
    state: &AppState,
    base: &crate::http::Base,
    headers: &HeaderMap,
    name: &str,
    csrf: &str,
    pausing: bool,
) -> Response {
    let session = match super::deliveries::checked(state, base, headers, csrf) {
        Ok(session) => session,
        Err(answer) => return *answer,
    };
    let lang = session.language;
    if let Some(refusal) = super::unknown_subscription(state, name, lang) {
        return refusal;
    }
    let actor = format!("console:{}", session.username);
    let entry = AuditEntry {
        actor: actor.clone(),
        organisation: Some(session.organisation.code()),
        action: if pausing {
            "pause subscription"
        } else {
            "resume subscription"
        }
        .to_owned(),
        person: None,
        purpose: "leverans".to_owned(),
        legal_basis: None,
        details: json!({ "subscription": name }),
    };
    let store = &state.pipeline.store;
    let changed = store
        .set_paused(name, pausing, &actor, state.pipeline.clock.now(), &[entry])
        .await;
    // This instance holds the change at once; the others within a second.
    let reread = state.deliverer.paused.read(store).await;
    if let Err(error) = changed.map(|_| ()).and_then(|()| reread.map(|_| ())) {
        tracing::error!(%error, "the console could not pause or resume a subscription");
        return unavailable(lang);
    }
    if !pausing {
        state.pipeline.outbox_ready.notify_waiters();
    }
    redirect(&format!(
        "/console/deliveries?{}",
        serde_urlencoded::to_string([(if pausing { "paused" } else { "resumed" }, name)])
            .unwrap_or_default()
    ))
}

/// `POST /console/subscriptions/{name}/pause`.
pub async fn pause(
    State(state): State<AppState>,
    base: crate::http::Base,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    change(&state, &base, &headers, &name, &form.csrf, true).await
}

/// `POST /console/subscriptions/{name}/resume`.
pub async fn resume(
    State(state): State<AppState>,
    base: crate::http::Base,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    change(&state, &base, &headers, &name, &form.csrf, false).await
}
