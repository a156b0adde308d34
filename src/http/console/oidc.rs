//! Sign-in to the console through an OpenID provider (`auth::oidc`): `GET
//! /console/oidc/{n}/start` begins it — a state, a nonce and a PKCE verifier kept here for ten
//! minutes, the state also in a cookie of this browser (`oidc_state`, HttpOnly, Secure,
//! SameSite=Lax so that it comes back with the provider's redirect) — and sends the browser to
//! the provider; `GET /console/oidc/callback` finishes it: the state must be this browser's
//! and still pending (once), the code is redeemed with the verifier, the ID token verified, and
//! the person's session begins. Every sign-in, refused or not, is audited.
//!
//! The session cookie is SameSite=Strict, which a browser does not send on a redirect that a
//! cross-site navigation began: the callback therefore answers a page of this site that goes
//! on to the console (a meta refresh and a link, no script), whose navigation is same-site.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::page::{self, escape, text};
use super::{Language, html, language};
use crate::auth::{Account, PendingSignIn};
use crate::changes::AuditEntry;
use crate::http::router::AppState;

/// The state cookie's name.
const STATE_COOKIE: &str = "oidc_state";
/// How long a begun sign-in may take.
const PENDING_FOR: SignedDuration = SignedDuration::from_mins(10);
/// Begun sign-ins kept at most; past it, the expired go, then the oldest.
const MOST_PENDING: usize = 10_000;

/// Sign-ins begun and not yet finished, by state.
#[derive(Debug, Default)]
pub struct Pending {
    by_state: Mutex<HashMap<String, (PendingSignIn, Timestamp, &'static str)>>,
}

impl Pending {
    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (PendingSignIn, Timestamp, &'static str)>> {
        self.by_state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn keep(&self, pending: PendingSignIn, lang: &'static str, now: Timestamp) {
        let mut map = self.map();
        if map.len() >= MOST_PENDING {
            map.retain(|_, (_, at, _)| now.duration_since(*at) < PENDING_FOR);
            if map.len() >= MOST_PENDING
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (_, at, _))| *at)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(pending.state.clone(), (pending, now, lang));
    }

    /// The sign-in begun with `state`, taken (a state is good once), if it is not too old.
    fn take(&self, state: &str, now: Timestamp) -> Option<(PendingSignIn, &'static str)> {
        let (pending, at, lang) = self.map().remove(state)?;
        (now.duration_since(at) < PENDING_FOR).then_some((pending, lang))
    }
}

fn state_cookie(value: Option<&str>) -> String {
    match value {
        Some(state) => format!(
            "{STATE_COOKIE}={state}; Path=/console/oidc; HttpOnly; Secure; SameSite=Lax; Max-Age=600"
        ),
        None => format!(
            "{STATE_COOKIE}=; Path=/console/oidc; HttpOnly; Secure; SameSite=Lax; Max-Age=0"
        ),
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

fn redirect_uri(base: &crate::http::Base) -> String {
    base.url("/console/oidc/callback")
}

/// The sign-in page with `message`, status `status`.
fn refused_page(
    state: &AppState,
    status: StatusCode,
    lang: &'static str,
    message: &str,
) -> Response {
    html(
        status,
        page::login(lang, Some(message), "", &state.auth.console_issuers()),
    )
}

/// `GET /console/oidc/{n}/start`.
pub async fn start(
    State(state): State<AppState>,
    base: crate::http::Base,
    Path(issuer): Path<usize>,
    Query(query): Query<Language>,
) -> Response {
    let lang = language(&query, None);
    let now = state.pipeline.clock.now();
    match state
        .auth
        .begin_console_sign_in(issuer, &redirect_uri(&base))
        .await
    {
        Ok((url, pending)) => {
            let cookie = state_cookie(Some(&pending.state));
            state.console.pending.keep(pending, lang, now);
            let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => {
            tracing::warn!(%error, "a console sign-in through an identity provider could not begin");
            let status = match error {
                crate::auth::AuthError::InvalidRequest(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_GATEWAY,
            };
            let message = format!("{}: {error}", text(lang, "oidc-refused"));
            refused_page(&state, status, lang, &message)
        }
    }
}

async fn audit(
    state: &AppState,
    actor: String,
    organisation: Option<String>,
    action: &str,
    details: serde_json::Value,
) -> bool {
    let entry = AuditEntry {
        actor,
        organisation,
        action: action.to_owned(),
        person: None,
        purpose: "drift och uppföljning".to_owned(),
        legal_basis: None,
        details,
    };
    super::audited(state, entry).await
}

/// `GET /console/oidc/callback?code=…&state=…` (or `error=…`).
pub async fn callback(
    State(state): State<AppState>,
    base: crate::http::Base,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let now = state.pipeline.clock.now();
    let returned = query.get("state").cloned().unwrap_or_default();
    let bound = cookie_value(&headers, STATE_COOKIE);
    // The state must be the one this browser began with, and still pending.
    let pending = if bound.as_deref() == Some(returned.as_str()) && !returned.is_empty() {
        state.console.pending.take(&returned, now)
    } else {
        None
    };
    let Some((pending, lang)) = pending else {
        let lang = "sv";
        audit(
            &state,
            "console:unknown".to_owned(),
            None,
            "console sign-in refused",
            json!({ "reason": "the sign-in's state is not this browser's, was used, or is too old" }),
        )
        .await;
        return refused_page(
            &state,
            StatusCode::BAD_REQUEST,
            lang,
            text(lang, "oidc-expired"),
        );
    };
    let finished = match (query.get("code"), query.get("error")) {
        (Some(code), None) => {
            state
                .auth
                .finish_console_sign_in(
                    &pending,
                    code,
                    &redirect_uri(&base),
                    state.auth_clock.now(),
                )
                .await
        }
        (_, error) => Err(crate::auth::AuthError::InvalidToken(format!(
            "the identity provider answered {}",
            error.map(String::as_str).unwrap_or("no code")
        ))),
    };
    let person = match finished {
        Ok(person) => person,
        Err(error) => {
            audit(
                &state,
                "console:unknown".to_owned(),
                None,
                "console sign-in refused",
                json!({ "issuer": pending.issuer, "reason": error.to_string() }),
            )
            .await;
            let message = format!("{}: {error}", text(lang, "oidc-refused"));
            return refused_page(&state, StatusCode::UNAUTHORIZED, lang, &message);
        }
    };
    let username = format!("oidc:{}", person.subject);
    if !audit(
        &state,
        format!("console:{username}"),
        Some(person.organisation.code()),
        "console sign-in",
        json!({ "issuer": person.issuer, "role": person.role.as_str() }),
    )
    .await
    {
        return refused_page(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            text(lang, "unavailable"),
        );
    }
    let account = Account::external(username, person.name, person.organisation, person.role);
    let token = state.console.sessions.sign_in(&account, lang, now);
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url=/console\"><title>{} – brygga</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\"></head><body><main id=\"main\"><p><a href=\"/console\">{}</a></p></main></body></html>",
        escape(text(lang, "sign-in")),
        escape(text(lang, "signed-in-continue")),
    );
    let mut response = html(StatusCode::OK, body);
    for cookie in [super::session::cookie(Some(&token)), state_cookie(None)] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}
