//! Authentication over HTTP: `POST /auth/token` (SMART Backend Services), the SMART
//! configuration, and `Caller`, the extractor every protected handler takes — it answers 401
//! (no or bad token) or 403 (scope) itself, after writing the refusal to the audit log.
//!
//! - `POST /auth/token` (form): `grant_type=client_credentials`,
//!   `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
//!   `client_assertion=<JWT>`, `scope=<space-separated system scopes>` (optional: all held)
//! - `GET /.well-known/smart-configuration`

use std::collections::HashMap;

use axum::Json;
use axum::extract::{FromRequestParts, MatchedPath, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;
use super::router::AppState;
use crate::auth::{ASSERTION_TYPE, AuthError, Caller, Interaction};
use crate::changes::AuditEntry;

/// An OAuth error answer (RFC 6749 section 5.2).
fn oauth_error(status: StatusCode, error: &AuthError) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        Json(json!({ "error": error.oauth_code(), "error_description": error.to_string() })),
    )
        .into_response()
}

fn refused(actor: &str, action: &str, reason: &str, details: Value) -> AuditEntry {
    let mut details = details;
    details["reason"] = json!(reason);
    AuditEntry {
        actor: actor.to_owned(),
        organisation: None,
        action: action.to_owned(),
        person: None,
        purpose: "åtkomstkontroll".to_owned(),
        legal_basis: None,
        details,
    }
}

/// `POST /auth/token`.
pub async fn token(
    State(state): State<AppState>,
    parts: Parts,
    body: axum::body::Bytes,
) -> Response {
    let certificate = peer_certificate(&parts);
    let now = state.auth_clock.now();
    let store = &state.pipeline.store;
    let auth = &state.auth;
    let form: HashMap<String, String> = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                &AuthError::InvalidRequest(
                    "the body is not application/x-www-form-urlencoded".to_owned(),
                ),
            );
        }
    };
    let field = |name: &str| form.get(name).map(String::as_str);
    let outcome = requested_assertion(&parts.headers, &form, certificate.is_some())
        .and_then(|assertion| authenticate(auth, assertion, &form, certificate.as_deref(), now));
    let verified = match outcome {
        Ok(verified) => verified,
        Err(error) => {
            let status = match error {
                AuthError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            return refuse_login(store, "unauthenticated", &error, status, now).await;
        }
    };
    let Some(client) = auth.client(&verified.client_id) else {
        return ApiError::Internal("a verified client vanished".to_owned()).into_response();
    };
    let scopes = match auth.grant(&client, field("scope").unwrap_or("")) {
        Ok(scopes) => scopes,
        Err(error) => {
            return refuse_login(
                store,
                &client.client_id,
                &error,
                StatusCode::BAD_REQUEST,
                now,
            )
            .await;
        }
    };
    let response = auth.issue(&client, &scopes, now, certificate.as_deref());
    let organisation = Some(client.organisation.code());
    let login = AuditEntry {
        actor: client.client_id.clone(),
        organisation: organisation.clone(),
        action: "login".to_owned(),
        person: None,
        purpose: "åtkomstkontroll".to_owned(),
        legal_basis: None,
        details: json!({ "scope": response.scope, "expires_in": response.expires_in, "assertion": verified.jti }),
    };
    if verified.jti.is_empty() {
        // Certificate authentication: no assertion to mark used.
        return match store.append_audit(None, &[login], now).await {
            Ok(()) => issued(response),
            Err(e) => ApiError::Internal(e.to_string()).into_response(),
        };
    }
    let replay = AuditEntry {
        organisation,
        ..refused(
            &client.client_id,
            "login refused",
            "the client assertion was used before (replay)",
            json!({ "route": "/auth/token", "assertion": verified.jti }),
        )
    };
    match store
        .use_assertion(
            &verified.client_id,
            &verified.jti,
            verified.expires_at,
            now,
            &login,
            &replay,
        )
        .await
    {
        Ok(true) => issued(response),
        Ok(false) => oauth_error(
            StatusCode::UNAUTHORIZED,
            &AuthError::InvalidClient(
                "the client assertion was used before; sign a new one with a new jti".to_owned(),
            ),
        ),
        Err(e) => ApiError::Internal(e.to_string()).into_response(),
    }
}

/// The client assertion a token request carries, or `None` when the client is proven by its
/// certificate instead (RFC 8705 `tls_client_auth`: a `client_id`, no assertion); an error
/// says what the request lacks.
fn requested_assertion<'f>(
    headers: &axum::http::HeaderMap,
    form: &'f HashMap<String, String>,
    has_certificate: bool,
) -> Result<Option<&'f str>, AuthError> {
    let field = |name: &str| form.get(name).map(String::as_str);
    let media_ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !media_ok {
        return Err(AuthError::InvalidRequest(
            "the token request is application/x-www-form-urlencoded".to_owned(),
        ));
    }
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(AuthError::UnsupportedGrant(format!(
                "grant_type {other:?} is not supported; use client_credentials"
            )));
        }
        None => {
            return Err(AuthError::InvalidRequest(
                "grant_type is missing; use client_credentials".to_owned(),
            ));
        }
    }
    if field("client_assertion").is_none() && field("client_id").is_some() && has_certificate {
        return Ok(None);
    }
    if field("client_assertion_type") != Some(ASSERTION_TYPE) {
        return Err(AuthError::InvalidRequest(format!(
            "client_assertion_type must be {ASSERTION_TYPE}"
        )));
    }
    field("client_assertion")
        .map(Some)
        .ok_or_else(|| AuthError::InvalidRequest("client_assertion is missing".to_owned()))
}

/// The client a token request proves: by its signed assertion (and, for a client bound to a
/// certificate, that certificate), or by its certificate alone.
fn authenticate(
    auth: &crate::auth::Authenticator,
    assertion: Option<&str>,
    form: &HashMap<String, String>,
    certificate: Option<&str>,
    now: jiff::Timestamp,
) -> Result<crate::auth::VerifiedAssertion, AuthError> {
    match assertion {
        Some(assertion) => {
            let verified = auth.verify_assertion(assertion, now)?;
            let client = auth
                .client(&verified.client_id)
                .ok_or_else(|| AuthError::InvalidClient("unknown client".to_owned()))?;
            auth.check_certificate(&client, certificate)?;
            Ok(verified)
        }
        None => {
            let id = form
                .get("client_id")
                .map(String::as_str)
                .unwrap_or_default();
            auth.certificate_client(id, certificate)
                .map(|c| crate::auth::VerifiedAssertion {
                    client_id: c.client_id.clone(),
                    jti: String::new(),
                    expires_at: now,
                })
        }
    }
}

/// A refused login: audited, then answered with the OAuth error.
async fn refuse_login(
    store: &crate::store::Store,
    actor: &str,
    error: &AuthError,
    status: StatusCode,
    now: jiff::Timestamp,
) -> Response {
    let entry = refused(
        actor,
        "login refused",
        &error.to_string(),
        json!({ "route": "/auth/token" }),
    );
    if let Err(e) = store.append_audit(None, &[entry], now).await {
        return ApiError::Internal(e.to_string()).into_response();
    }
    oauth_error(status, error)
}

/// An issued token: never cached.
fn issued(response: crate::auth::TokenResponse) -> Response {
    (
        StatusCode::OK,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(response),
    )
        .into_response()
}

/// The SHA-256 of the client certificate the request's connection presented, if any.
fn peer_certificate(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<super::tls::Peer>>()
        .and_then(|c| c.0.certificate.clone())
}

/// `GET /.well-known/smart-configuration`.
pub async fn smart_configuration(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "token_endpoint": state.auth.token_url(),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "tls_client_auth"],
        "tls_client_certificate_bound_access_tokens": true,
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": state.auth.scopes_supported(),
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    }))
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Forbidden(m) => ApiError::Forbidden(m),
            AuthError::Unavailable(m) => ApiError::Unavailable(m),
            other => ApiError::Unauthorized {
                code: other.oauth_code(),
                message: other.to_string(),
            },
        }
    }
}

/// Appends one audit record that belongs to no commit (a read, a refusal), at the clock's now.
pub async fn record(state: &AppState, entry: AuditEntry) -> Result<(), ApiError> {
    let now = state.pipeline.clock.now();
    // Through the group committer: concurrent reads share a transaction and an fsync.
    state
        .pipeline
        .committer
        .append_audit(None, &[entry], now)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Writes a refused request to the audit log and answers the refusal.
pub async fn refuse(
    state: &AppState,
    caller: Option<&Caller>,
    route: &str,
    error: ApiError,
) -> ApiError {
    let (actor, organisation) = match caller {
        Some(c) => (c.client_id.clone(), Some(c.organisation.code())),
        None => ("unauthenticated".to_owned(), None),
    };
    let action = match error.status().as_u16() {
        401 => "access refused: not authenticated",
        403 => "access refused: scope",
        _ => "access refused: not found",
    };
    let entry = AuditEntry {
        organisation,
        ..refused(
            &actor,
            action,
            &error.to_string(),
            json!({ "route": route }),
        )
    };
    match record(state, entry).await {
        Ok(()) => error,
        Err(internal) => internal,
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let result = match token {
            None => Err(AuthError::NoToken),
            Some(token) => {
                state
                    .auth
                    .verify_token(
                        token,
                        state.auth_clock.now(),
                        peer_certificate(parts).as_deref(),
                    )
                    .await
            }
        };
        match result {
            Ok(caller) => Ok(caller),
            Err(error) => Err(refuse(state, None, &route, error.into()).await),
        }
    }
}

/// Checks the caller's scopes for `interaction` on `resource`; a refusal is audited.
pub async fn require(
    state: &AppState,
    caller: &Caller,
    route: &str,
    resource: &str,
    interaction: Interaction,
) -> Result<(), ApiError> {
    match caller.require(resource, interaction) {
        Ok(()) => Ok(()),
        Err(error) => Err(refuse(state, Some(caller), route, error.into()).await),
    }
}

/// Passes `result` on; a 403 or 404 (a case of another organisation, or none) is written to
/// the audit log first.
pub async fn audited<T>(
    state: &AppState,
    caller: &Caller,
    route: &str,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    match result {
        Err(error @ (ApiError::Forbidden(_) | ApiError::NotFound(_))) => {
            Err(refuse(state, Some(caller), route, error).await)
        }
        other => other,
    }
}
