//! Subscriptions over FHIR: `Subscription` resources (R4 with the Subscriptions backport)
//! created, read, searched, changed and deleted by the organisations they notify.
//!
//! - `POST /fhir/Subscription` (scope `Subscription.c`): stored as `requested`, a handshake
//!   is sent, and the answer is the resource `active` — or `error`, with the reason in
//!   `Subscription.error`, when the endpoint does not answer the handshake with 2xx. Elements
//!   accepted but not acted on are named in `x-brygga-warning` headers.
//! - `GET /fhir/Subscription/{id}` (`Subscription.r`), `GET /fhir/Subscription?status=…`
//!   (`Subscription.s`): the caller's organisation's subscriptions, those of the
//!   subscriptions file included (read-only). Header values are masked.
//! - `GET /fhir/Subscription/{id}/$status` (`Subscription.r`): the backport's status.
//! - `PUT /fhir/Subscription/{id}` (`Subscription.u`, `If-Match` honoured): a changed endpoint,
//!   or a subscription asked for again after `off` or `error`, gets a new handshake.
//! - `DELETE /fhir/Subscription/{id}` (`Subscription.d`): its deliveries still waiting go to
//!   the dead letters.
//!
//! A subscription is notified of the events released to its organisation (after the consent
//! decision), like any other subscription. Every change is audited.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth;
use super::error::{ApiError, internal};
use super::fhir::{fhir_json, json_body};
use super::router::AppState;
use crate::auth::{Caller, Interaction};
use crate::changes::AuditEntry;
use crate::delivery::fhir::{self, Problem};
use crate::store::StoredSubscription;

const RESOURCE: &str = "Subscription";
const ROUTE: &str = "/fhir/Subscription";
const ROUTE_ID: &str = "/fhir/Subscription/{id}";

fn problem(p: Problem) -> ApiError {
    if p.unsupported {
        ApiError::UnsupportedAt {
            diagnostics: p.diagnostics,
            expression: p.expression,
        }
    } else {
        ApiError::BadRequest {
            diagnostics: p.diagnostics,
            expression: Some(p.expression),
        }
    }
}

fn audit(caller: &Caller, action: &str, id: &str, details: Value) -> AuditEntry {
    let mut details = details;
    details["subscription"] = json!(id);
    AuditEntry {
        actor: caller.client_id.clone(),
        organisation: Some(caller.organisation.code()),
        action: action.to_owned(),
        person: None,
        purpose: "leverans".to_owned(),
        legal_basis: None,
        details,
    }
}

/// The resource as written, without what the gateway sets.
fn as_written(mut resource: Value, id: &str) -> Value {
    if let Some(object) = resource.as_object_mut() {
        object.remove("meta");
        object.remove("error");
    }
    resource["id"] = json!(id);
    resource
}

/// Sends the handshake when the subscription is asked for on (and has not ended), and sets
/// its status by the answer.
async fn handshake(state: &AppState, stored: &mut StoredSubscription, on: bool) {
    let now = state.pipeline.clock.now();
    if !on || fhir::status_at(stored, now) == "off" {
        stored.status = "off".to_owned();
        stored.error = None;
        return;
    }
    let outcome = match fhir::subscription(stored) {
        Ok(subscription) => state.deliverer.handshake(&subscription).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => {
            stored.status = "active".to_owned();
            stored.error = None;
        }
        Err(reason) => {
            tracing::warn!(subscription = stored.id, %reason, "a subscription's handshake failed");
            stored.status = "error".to_owned();
            stored.error = Some(format!("the handshake was not accepted: {reason}"));
        }
    }
}

fn with_headers(
    mut response: Response,
    stored: &StoredSubscription,
    warnings: &[String],
) -> Response {
    super::fhir::version_headers(&mut response, "Subscription", &stored.id, stored.version);
    let headers = response.headers_mut();
    super::error::warning_headers(headers, warnings);
    response
}

async fn reload(state: &AppState) -> Result<(), ApiError> {
    state
        .deliverer
        .reload_subscriptions()
        .await
        .map_err(internal)
}

/// Stores `stored` (one version on from the stored one) with its audit record and puts it in
/// force; `changed` is the answer when another change came first.
async fn store_change(
    state: &AppState,
    stored: &StoredSubscription,
    entry: AuditEntry,
    changed: impl FnOnce() -> ApiError,
) -> Result<(), ApiError> {
    if !state
        .pipeline
        .store
        .update_subscription(stored, &[entry])
        .await
        .map_err(internal)?
    {
        return Err(changed());
    }
    reload(state).await
}

/// `POST /fhir/Subscription`.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Create).await?;
    let value = json_body(&headers, &body, RESOURCE)?;
    let requested =
        fhir::read(&value, |url| state.delivery.endpoint_allowed(url)).map_err(problem)?;
    // What the subscription's own reading does not look at is checked against the R4 model.
    let mut requested = requested;
    requested.warnings.extend(super::stored::validated(
        &value,
        state.keep_unknown_elements,
    )?);
    let now = state.pipeline.clock.now();
    let id = uuid::Uuid::now_v7().to_string();
    let mut stored = StoredSubscription {
        id: id.clone(),
        organisation: caller.organisation.code(),
        client_id: caller.client_id.clone(),
        status: "requested".to_owned(),
        resource: as_written(value, &id),
        error: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let entry = audit(
        &caller,
        "create subscription",
        &id,
        json!({ "events": requested.events }),
    );
    state
        .pipeline
        .store
        .create_subscription(&stored, &[entry])
        .await
        .map_err(internal)?;
    handshake(&state, &mut stored, requested.on).await;
    stored.version += 1;
    stored.updated_at = state.pipeline.clock.now();
    let entry = audit(
        &caller,
        "subscription status",
        &id,
        json!({ "status": stored.status }),
    );
    store_change(&state, &stored, entry, || {
        ApiError::Conflict(
            "the subscription was changed while its handshake was made; read it again".to_owned(),
        )
    })
    .await?;
    let body = fhir::shown(&stored, state.pipeline.clock.now());
    let mut response = with_headers(
        fhir_json(StatusCode::CREATED, body),
        &stored,
        &requested.warnings,
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/fhir/Subscription/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// A subscription the caller may see: one of its organisation's (any, for an auditor).
enum Found {
    Managed(StoredSubscription),
    Configured(Box<crate::delivery::Subscription>),
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<Found, ApiError> {
    let not_found = || ApiError::NotFound(format!("no Subscription {id:?}"));
    if let Some(stored) = state
        .pipeline
        .store
        .subscription(id)
        .await
        .map_err(internal)?
    {
        if caller.auditor || stored.organisation == caller.organisation.code() {
            return Ok(Found::Managed(stored));
        }
        return Err(not_found());
    }
    match state.deliverer.subscriptions.configured().get(id) {
        Some(s) if caller.auditor || s.organisation == caller.organisation => {
            Ok(Found::Configured(Box::new(s.clone())))
        }
        _ => Err(not_found()),
    }
}

/// `GET /fhir/Subscription/{id}`.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    auth::require(&state, &caller, ROUTE_ID, RESOURCE, Interaction::Read).await?;
    let found = auth::audited(&state, &caller, ROUTE_ID, find(&state, &caller, &id).await).await?;
    Ok(match found {
        Found::Managed(stored) => with_headers(
            fhir_json(
                StatusCode::OK,
                fhir::shown(&stored, state.pipeline.clock.now()),
            ),
            &stored,
            &[],
        ),
        Found::Configured(subscription) => {
            fhir_json(StatusCode::OK, fhir::configured(&subscription))
        }
    })
}

/// `GET /fhir/Subscription/{id}/$status`.
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    const ROUTE: &str = "/fhir/Subscription/{id}/$status";
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Read).await?;
    let found = auth::audited(&state, &caller, ROUTE, find(&state, &caller, &id).await).await?;
    let now = state.pipeline.clock.now();
    let (destination, status, topic) = match &found {
        Found::Managed(stored) => {
            let topic = fhir::subscription(stored)
                .map(|s| s.notifications.topic)
                .unwrap_or_else(|_| fhir::TOPIC.to_owned());
            (
                fhir::destination(&stored.id),
                fhir::status_at(stored, now).to_owned(),
                topic,
            )
        }
        Found::Configured(s) => (
            s.id.clone(),
            "active".to_owned(),
            s.notifications.topic.clone(),
        ),
    };
    let events = state
        .pipeline
        .store
        .subscription_events(&destination)
        .await
        .map_err(internal)?;
    Ok(fhir_json(
        StatusCode::OK,
        fhir::status_bundle(&format!("Subscription/{id}"), &topic, &status, events),
    ))
}

/// `GET /fhir/Subscription?status=…`.
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    base: super::Base,
    query: super::search::SearchQuery,
) -> Result<Response, ApiError> {
    auth::require(&state, &caller, ROUTE, RESOURCE, Interaction::Search).await?;
    let params = super::search::Params::new(query, RESOURCE, &["status"])?;
    let wanted = super::search::statuses(
        &params,
        "Subscription.status",
        &["requested", "active", "error", "off"],
    )?;
    let now = state.pipeline.clock.now();
    let mut resources: Vec<Value> = state
        .deliverer
        .subscriptions
        .configured()
        .0
        .iter()
        .filter(|s| caller.auditor || s.organisation == caller.organisation)
        .map(fhir::configured)
        .collect();
    resources.extend(
        state
            .pipeline
            .store
            .all_subscriptions()
            .await
            .map_err(internal)?
            .iter()
            .filter(|s| caller.auditor || s.organisation == caller.organisation.code())
            .map(|s| fhir::shown(s, now)),
    );
    let entries: Vec<Value> = resources
        .into_iter()
        .filter(|r| {
            wanted.as_ref().is_none_or(|w| {
                r.get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|s| w.iter().any(|c| c == s))
            })
        })
        .map(|resource| {
            json!({
                "fullUrl": base.fhir(&format!("Subscription/{}", resource["id"].as_str().unwrap_or_default())),
                "resource": resource,
                "search": { "mode": "match" },
            })
        })
        .collect();
    let total = entries.len();
    let mut entries = entries;
    entries.extend(super::search::ignored_outcome(&params));
    Ok(fhir_json(
        StatusCode::OK,
        json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total,
            "entry": entries,
        }),
    ))
}

fn managed(found: Found) -> Result<StoredSubscription, ApiError> {
    match found {
        Found::Managed(stored) => Ok(stored),
        Found::Configured(_) => Err(ApiError::Conflict(
            "this subscription is defined in the gateway's subscriptions file; change it there"
                .to_owned(),
        )),
    }
}

/// `PUT /fhir/Subscription/{id}`.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth::require(&state, &caller, ROUTE_ID, RESOURCE, Interaction::Update).await?;
    let mut value = json_body(&headers, &body, RESOURCE)?;
    let found = auth::audited(&state, &caller, ROUTE_ID, find(&state, &caller, &id).await).await?;
    let before = managed(found)?;
    if let Some(version) = super::fhir::if_match(&headers, state.require_if_match)?
        && version != before.version
    {
        return Err(ApiError::PreconditionFailed(format!(
            "If-Match names version {version}; the subscription is at version {}",
            before.version
        )));
    }
    if value
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(|given| given != id)
    {
        return Err(ApiError::BadRequest {
            diagnostics: format!("Subscription.id is not {id:?}, the id in the URL"),
            expression: Some("Subscription.id".to_owned()),
        });
    }
    fhir::unmask(&mut value, &before.resource);
    let mut requested =
        fhir::read(&value, |url| state.delivery.endpoint_allowed(url)).map_err(problem)?;
    requested.warnings.extend(super::stored::validated(
        &value,
        state.keep_unknown_elements,
    )?);
    let mut stored = StoredSubscription {
        resource: as_written(value, &id),
        version: before.version + 1,
        updated_at: state.pipeline.clock.now(),
        ..before.clone()
    };
    let endpoint_changed = stored.resource.pointer("/channel/endpoint")
        != before.resource.pointer("/channel/endpoint");
    let now = state.pipeline.clock.now();
    let needs_handshake = requested.on
        && (endpoint_changed
            || before.status != "active"
            || fhir::status_at(&before, now) == "off");
    if needs_handshake || !requested.on {
        handshake(&state, &mut stored, requested.on).await;
    }
    let entry = audit(
        &caller,
        "update subscription",
        &id,
        json!({ "status": stored.status, "events": requested.events }),
    );
    store_change(&state, &stored, entry, || {
        ApiError::PreconditionFailed(
            "the subscription was changed meanwhile; read it again".to_owned(),
        )
    })
    .await?;
    Ok(with_headers(
        fhir_json(StatusCode::OK, fhir::shown(&stored, now)),
        &stored,
        &requested.warnings,
    ))
}

/// `DELETE /fhir/Subscription/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    auth::require(&state, &caller, ROUTE_ID, RESOURCE, Interaction::Delete).await?;
    let found = auth::audited(&state, &caller, ROUTE_ID, find(&state, &caller, &id).await).await?;
    let stored = managed(found)?;
    let entry = audit(&caller, "delete subscription", &id, json!({}));
    state
        .pipeline
        .store
        .delete_subscription(
            &stored.id,
            &fhir::destination(&stored.id),
            state.pipeline.clock.now(),
            &[entry],
        )
        .await
        .map_err(internal)?;
    reload(&state).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
