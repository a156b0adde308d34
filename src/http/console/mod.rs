//! The web console at `/console`: server-rendered pages for the people who run and follow up
//! the process, in Swedish (English with `?lang=en`), usable by keyboard and screen reader.
//!
//! - `GET /console/login`, `POST /console/login`: sign-in with a local account
//!   (`auth.accounts_file`, argon2id), audited whether it succeeds or not; a session cookie
//!   (`session`) that is HttpOnly, Secure and SameSite=Strict, with idle and absolute limits.
//! - `GET /console/oidc/{n}/start`, `GET /console/oidc/callback`: sign-in through an
//!   OpenID provider of `[[auth.issuer]]` that has a `console` table (authorisation code with
//!   PKCE; `oidc`), the organisation and role from the ID token's claims.
//! - `GET /console`: the overview — the database and the timers, each subscription's queue
//!   (pending, oldest, dead letters, its circuit breaker) for operators, the deadlines and
//!   reminders due within 24 hours by kind, the deviations that wait for an answer by
//!   principal.
//! - `GET /console/deliveries` (operators): every subscription's deliveries by subscription and
//!   status, with attempts and errors; `POST /console/deliveries/{id}/redeliver` a dead letter
//!   again, `POST /console/subscriptions/{name}/redeliver` every dead letter of a subscription
//!   after a confirmation; `POST /console/subscriptions/{name}/pause` and `…/resume` hold a
//!   subscription's deliveries in the queue and let them go again; each audited under the
//!   person (`deliveries`, `pausing`).
//! - `GET /console/deviations` (coordinators and operators): the deviations of the cases the
//!   organisation takes part in, each case read through the decision and audited; one
//!   deviation with its description and evidence, acknowledged and answered from its page by
//!   the party it is addressed to (`deviations`).
//! - `GET /console/cases` (coordinators and operators): a person's cases by personnummer
//!   (sent in a POST), and `GET /console/cases/{id}?purpose=` one case's timeline — steps,
//!   whom each reached or was withheld from and why, deliveries, clocks met or missed,
//!   deviations — shown only for a stated purpose, which each read's audit record carries
//!   (`cases`).
//! - `GET /console/conformance` (operators): the formats, loaded dialects, policies in force
//!   and the national contract offered to vendors (`conformance`).
//! - `GET /console/audit`, `POST /console/audit/extract` (auditors): the organisation's audit
//!   log, newest first, and a person's log extract of its records, each view itself audited
//!   (`audit`).
//! - `GET /console/statistics` (every role): the follow-up figures as charts drawn from
//!   their tables (uPlot, vendored in `assets/` by `scripts/vendor-uplot.sh`), each table as
//!   CSV (`statistics`).
//! - `POST /console/logout`.
//!
//! Every answer carries a Content-Security-Policy that allows nothing inline and nothing from
//! elsewhere, and is not cached; every form carries the session's CSRF token, and a POST
//! from another site (`Origin`, `Sec-Fetch-Site`) is refused.

mod audit;
mod cases;
mod conformance;
mod deliveries;
mod deviations;
mod labels;
mod oidc;
mod page;
mod pausing;
pub mod session;
mod statistics;
mod texts;

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::router::AppState;
use crate::auth::{Account, Role};
use crate::changes::AuditEntry;
use page::Page;
use session::{Session, Sessions};

/// What the console holds: the accounts it signs in, and the sessions.
#[derive(Debug)]
pub struct Console {
    pub accounts: Vec<Account>,
    pub sessions: Sessions,
    /// Sign-ins through an identity provider begun and not yet finished.
    pub pending: oidc::Pending,
}

impl Console {
    pub fn new(accounts: Vec<Account>, settings: &crate::config::ConsoleSettings) -> Console {
        Console {
            accounts,
            sessions: Sessions::new(
                jiff::SignedDuration::from_mins(settings.idle_minutes as i64),
                jiff::SignedDuration::from_hours(settings.absolute_hours as i64),
            ),
            pending: Default::default(),
        }
    }
}

/// The headers of every console answer.
pub async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Pages are never kept; the static assets say how long they may be.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `?lang=`.
#[derive(Debug, Default, Deserialize)]
pub struct Language {
    lang: Option<String>,
}

fn language(query: &Language, session: Option<&Session>) -> &'static str {
    match query.lang.as_deref() {
        Some("en") => "en",
        Some("sv") => "sv",
        _ => session.map(|s| s.language).unwrap_or("sv"),
    }
}

/// The language of a page of `session`, asked for with `?lang=` or the session's.
fn page_language(
    query: &std::collections::HashMap<String, String>,
    session: &Session,
) -> &'static str {
    language(
        &Language {
            lang: query.get("lang").cloned(),
        },
        Some(session),
    )
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

/// The page saying the store could not be read or written (503); the caller logs why.
fn unavailable(lang: &'static str) -> Response {
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        page::refused(lang, page::text(lang, "store-unreadable")),
    )
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// A POST made from another site, as the browser says: `Sec-Fetch-Site` where it is sent
/// (every current browser), else an `Origin` that is not the gateway's.
fn cross_site(headers: &HeaderMap, base: &super::Base) -> bool {
    let text = |name| {
        headers
            .get(name)
            .map(|v: &HeaderValue| v.to_str().unwrap_or("invalid"))
    };
    match text(header::HeaderName::from_static("sec-fetch-site")) {
        Some(site) => !matches!(site, "same-origin" | "none"),
        None => text(header::ORIGIN).is_some_and(|origin| origin != base.url("")),
    }
}

/// The live session of the request, if any.
fn current(state: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let token = session::token(headers)?;
    let session = state
        .console
        .sessions
        .find(&token, state.pipeline.clock.now())?;
    Some((token, session))
}

/// The signed-in person, if their role is one of `roles`; otherwise the answer to give: the
/// sign-in page, or a refusal saying who the page is for (`refusal`, a text key).
fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    roles: &[Role],
    refusal: &str,
) -> Result<Session, Box<Response>> {
    let Some((_, session)) = current(state, headers) else {
        return Err(Box::new(redirect("/console/login")));
    };
    if !roles.contains(&session.role) {
        return Err(Box::new(html(
            StatusCode::FORBIDDEN,
            page::refused(session.language, page::text(session.language, refusal)),
        )));
    }
    Ok(session)
}

/// The signed-in coordinator or operator (the case and deviation pages'), or the answer to
/// give instead.
fn follower(state: &AppState, headers: &HeaderMap) -> Result<Session, Box<Response>> {
    signed_in(
        state,
        headers,
        &[Role::Coordinator, Role::Operator],
        "coordinators-only",
    )
}

/// Who a person's reads and steps are audited as.
fn actor(session: &Session) -> String {
    format!("console:{}", session.username)
}

/// Appends `entry` to the audit log (durable before the answer); whether it was: what is not
/// audited is not shown or done.
async fn audited(state: &AppState, entry: AuditEntry) -> bool {
    match state
        .pipeline
        .committer
        .append_audit(None, &[entry], state.pipeline.clock.now())
        .await
    {
        Ok(_) => true,
        Err(error) => {
            tracing::error!(%error, "the console could not audit what it was asked");
            false
        }
    }
}

/// The 404 page when a subscription `name` is not one of the configured.
fn unknown_subscription(state: &AppState, name: &str, lang: &'static str) -> Option<Response> {
    let known = state
        .pipeline
        .subscriptions
        .current()
        .0
        .iter()
        .any(|s| s.id == name);
    (!known).then(|| {
        html(
            StatusCode::NOT_FOUND,
            page::refused(lang, page::text(lang, "no-such-subscription")),
        )
    })
}

/// A form POST of `session`: from this site and carrying the session's CSRF token; otherwise
/// the refusal to answer.
fn same_session(
    session: &Session,
    headers: &HeaderMap,
    base: &super::Base,
    csrf: &str,
) -> Result<(), Box<Response>> {
    if cross_site(headers, base) || csrf != session.csrf {
        return Err(Box::new(html(
            StatusCode::FORBIDDEN,
            page::refused(session.language, page::text(session.language, "csrf")),
        )));
    }
    Ok(())
}

/// `GET /console/assets/console.css`.
pub async fn stylesheet() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        include_str!("assets/console.css"),
    )
        .into_response()
}

/// A vendored or own static file of the console, cached for a day (its name changes with
/// its version).
async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /console/assets/icon.svg`: the console's icon (a bridge's arch).
pub async fn icon() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"))],
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\"><path d=\"M2 24h28M4 24c4-10 20-10 24 0\" fill=\"none\" stroke=\"#0b5cad\" stroke-width=\"3\"/></svg>",
    )
        .into_response()
}

/// `GET /console/login`.
pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Language>,
) -> Response {
    if current(&state, &headers).is_some() {
        return redirect("/console");
    }
    html(
        StatusCode::OK,
        page::login(
            language(&query, None),
            None,
            "",
            &state.auth.console_issuers(),
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
    #[serde(default)]
    lang: Option<String>,
}

/// `POST /console/login`.
pub async fn login(
    State(state): State<AppState>,
    base: super::Base,
    headers: HeaderMap,
    Form(credentials): Form<Credentials>,
) -> Response {
    let lang = language(
        &Language {
            lang: credentials.lang.clone(),
        },
        None,
    );
    if cross_site(&headers, &base) {
        return html(
            StatusCode::FORBIDDEN,
            page::login(
                lang,
                Some(page::text(lang, "cross-site")),
                "",
                &state.auth.console_issuers(),
            ),
        );
    }
    let console: Arc<Console> = state.console.clone();
    let username = credentials.username.trim().to_owned();
    let password = credentials.password;
    // Hashing is deliberately slow: off the request threads.
    let found = tokio::task::spawn_blocking(move || {
        crate::auth::sign_in(&console.accounts, &username, &password).cloned()
    })
    .await
    .ok()
    .flatten();
    let now = state.pipeline.clock.now();
    let known = state
        .console
        .accounts
        .iter()
        .find(|a| a.username == credentials.username.trim());
    let entry = AuditEntry {
        actor: format!(
            "console:{}",
            known.map(|a| a.username.as_str()).unwrap_or("unknown")
        ),
        organisation: known.map(|a| a.organisation.code()),
        action: if found.is_some() {
            "console sign-in".to_owned()
        } else {
            "console sign-in refused".to_owned()
        },
        person: None,
        purpose: "drift och uppföljning".to_owned(),
        legal_basis: None,
        details: serde_json::json!({ "account_known": known.is_some() }),
    };
    if !audited(&state, entry).await {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            page::login(
                lang,
                Some(page::text(lang, "unavailable")),
                "",
                &state.auth.console_issuers(),
            ),
        );
    }
    let Some(account) = found else {
        return html(
            StatusCode::UNAUTHORIZED,
            page::login(
                lang,
                Some(page::text(lang, "wrong")),
                credentials.username.trim(),
                &state.auth.console_issuers(),
            ),
        );
    };
    let token = state.console.sessions.sign_in(&account, lang, now);
    let mut response = redirect("/console");
    if let Ok(value) = HeaderValue::from_str(&session::cookie(Some(&token))) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub(super) csrf: String,
}

/// `POST /console/logout`.
pub async fn logout(
    State(state): State<AppState>,
    base: super::Base,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Some((token, session)) = current(&state, &headers) else {
        return redirect("/console/login");
    };
    if let Err(refusal) = same_session(&session, &headers, &base, &form.csrf) {
        return *refusal;
    }
    state.console.sessions.sign_out(&token);
    let mut response = redirect("/console/login");
    if let Ok(value) = HeaderValue::from_str(&session::cookie(None)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /console`: the overview.
pub async fn overview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Language>,
) -> Response {
    let Some((token, mut session)) = current(&state, &headers) else {
        return redirect("/console/login");
    };
    let lang = language(&query, Some(&session));
    if lang != session.language {
        state.console.sessions.set_language(&token, lang);
        session.language = lang;
    }
    let now = state.pipeline.clock.now();
    let store = &state.pipeline.store;
    let ready = matches!(store.readiness().await, Ok(r) if r.is_ready());
    let operations = store.operations(now).await.ok();
    let breakers = state.deliverer.breakers.states(now);
    let paused = state.deliverer.paused.names(store).await;
    let mut page = Page::new(lang, page::text(lang, "overview"), &session, "/console");
    page.health(ready, operations.as_ref(), now);
    if session.role == Role::Operator {
        page.queues(operations.as_ref(), &breakers, &paused, now);
    }
    if matches!(session.role, Role::Operator | Role::Coordinator) {
        page.due_soon(operations.as_ref());
        page.deviations(operations.as_ref());
    }
    html(StatusCode::OK, page.finish())
}

/// The console's routes, under `/console`.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console", get(overview))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
        .route("/console/oidc/{issuer}/start", get(oidc::start))
        .route("/console/oidc/callback", get(oidc::callback))
        .route("/console/deliveries", get(deliveries::list))
        .route(
            "/console/deliveries/{id}/redeliver",
            post(deliveries::redeliver),
        )
        .route(
            "/console/subscriptions/{name}/redeliver",
            post(deliveries::redeliver_all),
        )
        .route("/console/subscriptions/{name}/pause", post(pausing::pause))
        .route(
            "/console/subscriptions/{name}/resume",
            post(pausing::resume),
        )
        .route("/console/deviations", get(deviations::list))
        .route(
            "/console/cases/{case_id}/deviations/{deviation_id}",
            get(deviations::one),
        )
        .route(
            "/console/cases/{case_id}/deviations/{deviation_id}/acknowledgement",
            post(deviations::acknowledge),
        )
        .route(
            "/console/cases/{case_id}/deviations/{deviation_id}/answer",
            post(deviations::answer),
        )
        .route("/console/cases", get(cases::find_form).post(cases::find))
        .route("/console/cases/{case_id}", get(cases::timeline))
        .route("/console/conformance", get(conformance::page))
        .route("/console/audit", get(audit::log))
        .route("/console/audit/extract", post(audit::extract))
        .route("/console/statistics", get(statistics::charts))
        .route("/console/statistics/{file}", get(statistics::csv))
        .route("/console/assets/console.css", get(stylesheet))
        .route(
            "/console/assets/uPlot.min.css",
            get(|| {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("assets/uPlot.min.css"),
                )
            }),
        )
        .route(
            "/console/assets/uPlot.iife.min.js",
            get(|| {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("assets/uPlot.iife.min.js"),
                )
            }),
        )
        .route(
            "/console/assets/charts.js",
            get(|| {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("assets/charts.js"),
                )
            }),
        )
        .route("/console/assets/icon.svg", get(icon))
        .layer(axum::middleware::from_fn(security_headers))
}
