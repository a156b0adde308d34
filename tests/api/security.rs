//! Attacks on authentication and authorisation: each must fail with 401, 403 or 404 and leave
//! a record in the audit log. Also tokens of an external identity provider, verified against
//! its JWKS served on loopback.

use axum::Router;
use axum::routing::get;
use base64::Engine;
use jiff::SignedDuration;
use serde_json::{Value, json};

use crate::helpers::{
    KROKOM, OSTERSUND, REGION, STROMSUND, TestApp, assertion, repo_root, spawn_app, spawn_app_with,
};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Audit records of refusals so far.
async fn refusals(app: &TestApp) -> Vec<brygga::store::AuditRecord> {
    app.store
        .audit_records(&brygga::store::AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action.contains("refused"))
        .collect()
}

async fn get_with(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn public_jwks(client: &str) -> String {
    std::fs::read_to_string(
        repo_root()
            .join("deploy/config/clients")
            .join(format!("{client}.jwks.json")),
    )
    .unwrap()
}

async fn admitted_case(app: &TestApp) -> String {
    app.admitted_case().await
}

#[tokio::test]
async fn a_request_without_a_token_is_401_with_a_challenge_and_audited() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/deviations")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], "login");
    let refused = refusals(&app).await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].action, "access refused: not authenticated");
    assert_eq!(refused[0].details["route"], "/deviations");
    // The open endpoints stay open.
    for path in ["/health", "/.well-known/smart-configuration"] {
        assert_eq!(
            app.client.get(app.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let app = spawn_app().await;
    let token = app.token(REGION, None).await;
    assert_eq!(get_with(&app, &token, "/deviations").await.status(), 200);
    app.clock.advance(SignedDuration::from_secs(301));
    let response = get_with(&app, &token, "/deviations").await;
    assert_eq!(response.status(), 401);
    let outcome: Value = response.json().await.unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{outcome}"
    );
    assert_eq!(refusals(&app).await.len(), 1);
}

#[tokio::test]
async fn an_assertion_for_another_audience_is_401_invalid_client() {
    let app = spawn_app().await;
    let wrong = assertion(
        REGION,
        "https://elsewhere.example/auth/token",
        app.clock.now(),
        "a-1",
    );
    let response = app.request_token(&wrong, None).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"].as_str().unwrap().contains("aud"),
        "{body}"
    );
    let refused = refusals(&app).await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].action, "login refused");
}

#[tokio::test]
async fn alg_none_is_refused_as_an_assertion_and_as_a_bearer_token() {
    let app = spawn_app().await;
    let now = app.clock.now().as_second();
    let claims = json!({"iss": REGION, "sub": REGION, "aud": app.token_url(), "exp": now + 60, "jti": "n-1"});
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let response = app.request_token(&unsigned, None).await;
    assert_eq!(response.status(), 401);
    let access = json!({"iss": app.token_url(), "sub": REGION, "aud": app.url(""), "exp": now + 60,
        "iat": now, "jti": "t-1", "scope": "system/*.*", "organisation": "SE2321000214-1000", "auditor": true});
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT","kid":"brygga-access-token"}"#),
        b64(access.to_string().as_bytes())
    );
    assert_eq!(get_with(&app, &unsigned, "/audit").await.status(), 401);
    assert_eq!(refusals(&app).await.len(), 2);
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_public_key_is_refused() {
    let app = spawn_app().await;
    let now = app.clock.now().as_second();
    // The classic confusion: the client's public key used as an HMAC secret.
    let secret = public_jwks(REGION);
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(format!("{REGION}-1"));
    let claims = json!({"iss": REGION, "sub": REGION, "aud": app.token_url(), "exp": now + 60, "jti": "h-1"});
    let forged = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let response = app.request_token(&forged, None).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("HS256"),
        "{body}"
    );
    // And as a bearer token dressed as one of the gateway's own.
    header.kid = Some("brygga-access-token".to_owned());
    let access = json!({"iss": app.token_url(), "sub": REGION, "aud": app.url(""), "exp": now + 60,
        "iat": now, "jti": "t-1", "scope": "system/*.*", "organisation": "SE2321000214-1000", "auditor": true});
    let forged = jsonwebtoken::encode(&header, &access, &key).unwrap();
    let response = get_with(&app, &forged, "/audit").await;
    assert_eq!(response.status(), 401);
    assert_eq!(refusals(&app).await.len(), 2);
}

#[tokio::test]
async fn a_replayed_assertion_is_refused_and_audited_as_a_replay() {
    let app = spawn_app().await;
    let signed = assertion(OSTERSUND, &app.token_url(), app.clock.now(), "once");
    assert_eq!(app.request_token(&signed, None).await.status(), 200);
    let again = app.request_token(&signed, None).await;
    assert_eq!(again.status(), 401);
    let body: Value = again.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("used before"),
        "{body}"
    );
    let refused = refusals(&app).await;
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].details["reason"]
            .as_str()
            .unwrap()
            .contains("replay")
    );
    assert_eq!(refused[0].organisation.as_deref(), Some("2380"));
}

#[tokio::test]
async fn assertions_that_are_unknown_unsigned_by_the_client_or_too_long_lived_are_refused() {
    let app = spawn_app().await;
    let now = app.clock.now();
    // Signed with Krokom's key but claiming to be Östersund.
    let pem =
        std::fs::read(repo_root().join("deploy/config/example-keys/krokom-lifecare.pem")).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS384);
    header.kid = Some("ostersund-treserva-1".to_owned());
    let claims = json!({"iss": OSTERSUND, "sub": OSTERSUND, "aud": app.token_url(), "exp": now.as_second() + 60, "jti": "x-1"});
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap();
    assert_eq!(app.request_token(&forged, None).await.status(), 401);
    // A client nobody registered.
    let claims = json!({"iss": "mallory", "sub": "mallory", "aud": app.token_url(), "exp": now.as_second() + 60, "jti": "x-2"});
    let unknown = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap();
    let response = app.request_token(&unknown, None).await;
    assert_eq!(response.status(), 401);
    // An assertion valid for an hour.
    let long = {
        let pem =
            std::fs::read(repo_root().join("deploy/config/example-keys/region-jh-cosmic.pem"))
                .unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
        header.kid = Some("region-jh-cosmic-1".to_owned());
        let claims = json!({"iss": REGION, "sub": REGION, "aud": app.token_url(), "exp": now.as_second() + 3600, "jti": "x-3"});
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap(),
        )
        .unwrap()
    };
    let response = app.request_token(&long, None).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("five minutes"),
        "{body}"
    );
    // The wrong grant type is a bad request, and a scope the client does not hold is refused.
    let plain = app
        .client
        .post(app.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&username=a&password=b")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 400);
    assert_eq!(
        plain.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let signed = assertion(STROMSUND, &app.token_url(), now, "x-4");
    let response = app
        .request_token(&signed, Some("system/AuditEvent.rs"))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    assert_eq!(refusals(&app).await.len(), 5);
}

#[tokio::test]
async fn a_municipality_cannot_read_another_municipalitys_case_and_learns_nothing_of_it() {
    let app = spawn_app().await;
    let case = admitted_case(&app).await;
    let raised = app
        .as_client(OSTERSUND)
        .await
        .post(app.url(&format!("/cases/{case}/deviations")))
        .json(&json!({
            "deviation_id": "AVV-1",
            "by": {"type": "municipality", "kommunkod": "2380"},
            "addressed_to": {"type": "region_unit", "hsa_id": "SE2321000214-E1AV"},
            "description": "Inskrivningsmeddelandet kom sent."
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(raised.status(), 201);
    let path = format!("/cases/{case}/deviations/AVV-1");
    let own = app
        .as_client(OSTERSUND)
        .await
        .get(app.url(&path))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    // Krokom takes no part in the case: the same answer as for a case that does not exist.
    let other = app
        .as_client(KROKOM)
        .await
        .get(app.url(&path))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let other: Value = other.json().await.unwrap();
    let missing = app
        .as_client(KROKOM)
        .await
        .get(app.url(&format!("/cases/{}/deviations/AVV-1", uuid::Uuid::new_v4())))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(!other.to_string().contains("Inskrivningsmeddelandet"));
    // Nor does it list it, nor may it answer it.
    let list: Value = app
        .as_client(KROKOM)
        .await
        .get(app.url("/deviations?status=all"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["count"], 0);
    let answer = app
        .as_client(KROKOM)
        .await
        .post(app.url(&format!("{path}/acknowledgement")))
        .json(&json!({"by": {"type": "municipality", "kommunkod": "2309"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let refused = refusals(&app).await;
    assert!(
        refused
            .iter()
            .filter(|r| r.action == "access refused: not found")
            .count()
            >= 2,
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .all(|r| r.organisation.as_deref() == Some("2309"))
    );
}

#[tokio::test]
async fn a_client_cannot_send_as_another_organisation() {
    let app = spawn_app().await;
    // Krokom's system posting Östersund's message.
    let body = std::fs::read(
        repo_root().join("mappings/municipal/treserva-like/examples/03-planering-paborjad.xml"),
    )
    .unwrap();
    let response = app
        .as_client(KROKOM)
        .await
        .post(app.url("/municipal/treserva-like/v1/messages"))
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("EJ_BEHORIG"));
    // The region's system posting a deviation by a municipality.
    let case = admitted_case(&app).await;
    let response = app
        .region()
        .await
        .post(app.url(&format!("/cases/{case}/deviations")))
        .json(&json!({
            "by": {"type": "municipality", "kommunkod": "2380"},
            "addressed_to": {"type": "region_unit", "hsa_id": "SE2321000214-E1AV"},
            "description": "x"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(!refusals(&app).await.is_empty());
}

#[tokio::test]
async fn a_scope_that_does_not_cover_the_interaction_is_403_and_audited() {
    let app = spawn_app().await;
    // Strömsund may not record consents.
    let response = app
        .as_client(STROMSUND)
        .await
        .post(app.url("/fhir/Consent"))
        .header("content-type", "application/fhir+json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["issue"][0]["code"], "forbidden");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("system/Consent.c")
    );
    // A token asked for with fewer scopes than the client holds carries only those.
    let narrow = app.token(REGION, Some("system/DetectedIssue.rs")).await;
    let response = app
        .client
        .post(app.url("/cosmic-link/v1/messages"))
        .bearer_auth(&narrow)
        .header("content-type", "application/xml")
        .body(
            std::fs::read(
                repo_root().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
            )
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(get_with(&app, &narrow, "/deviations").await.status(), 200);
    let refused = refusals(&app).await;
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|r| r.action == "access refused: scope"));
    assert!(app.store.verify_audit_chain().await.unwrap().is_intact());
}

/// An identity provider on loopback publishing Strömsund's example key as its own.
async fn identity_provider() -> (String, tokio::sync::oneshot::Sender<()>) {
    let jwks = public_jwks(STROMSUND);
    let router = Router::new().route("/jwks", get(move || async move { jwks }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (format!("http://{address}/jwks"), stop)
}

fn idp_token(now: jiff::Timestamp, claims: Value) -> String {
    let pem = std::fs::read(repo_root().join("deploy/config/example-keys/stromsund-combine.pem"))
        .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
    header.kid = Some("stromsund-combine-1".to_owned());
    let mut all = json!({"iss": "https://idp.test/realms/vard", "aud": "brygga", "exp": now.as_second() + 300, "jti": "idp-1"});
    for (k, v) in claims.as_object().unwrap() {
        all[k] = v.clone();
    }
    jsonwebtoken::encode(
        &header,
        &all,
        &jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn tokens_of_an_external_identity_provider_are_verified_against_its_jwks() {
    let (jwks_url, _idp) = identity_provider().await;
    let app = spawn_app_with(|settings| {
        settings.auth.issuers.push(brygga::config::ExternalIssuer {
            issuer: "https://idp.test/realms/vard".to_owned(),
            jwks_url,
            audience: "brygga".to_owned(),
            organisation_claim: "organisation".to_owned(),
            scope_claim: "scope".to_owned(),
            console: None,
        });
    })
    .await;
    let now = app.clock.now();
    let good = idp_token(
        now,
        json!({"organisation": "2380", "scope": "openid system/DetectedIssue.rs", "azp": "treserva-sso"}),
    );
    assert_eq!(get_with(&app, &good, "/deviations").await.status(), 200);
    // Its scopes are all it gets.
    assert_eq!(get_with(&app, &good, "/audit").await.status(), 403);
    for (claims, what) in [
        (
            json!({"organisation": "2380", "scope": "system/DetectedIssue.rs", "aud": "someone-else"}),
            "audience",
        ),
        (
            json!({"organisation": "9999", "scope": "system/DetectedIssue.rs"}),
            "organisation",
        ),
        (json!({"scope": "system/DetectedIssue.rs"}), "organisation"),
        (
            json!({"organisation": "2380", "scope": "system/DetectedIssue.rs", "exp": now.as_second() - 1}),
            "expired",
        ),
    ] {
        let response = get_with(&app, &idp_token(now, claims), "/deviations").await;
        assert_eq!(response.status(), 401, "{what}");
        let outcome: Value = response.json().await.unwrap();
        assert!(
            outcome["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(what),
            "{outcome}"
        );
    }
    // A token of an issuer nobody configured.
    let stranger = idp_token(
        now,
        json!({"iss": "https://evil.test", "organisation": "2380"}),
    );
    assert_eq!(get_with(&app, &stranger, "/deviations").await.status(), 401);
}

#[tokio::test]
async fn only_a_relay_posts_steps_of_other_organisations_and_only_into_its_cases() {
    // A municipality's acknowledgement recorded in Cosmic Link, relayed by the region's
    // Cosmic Link integration.
    let kvittens =
        std::fs::read(repo_root().join("mappings/cosmic-link/examples/02-kvittens.xml")).unwrap();
    let post = |app: &TestApp, client: reqwest::Client, body: Vec<u8>| {
        let url = app.url("/cosmic-link/v1/messages");
        async move {
            client
                .post(url)
                .header("content-type", "application/xml")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let app = spawn_app().await;
    admitted_case(&app).await;
    assert_eq!(post(&app, app.region().await, kvittens.clone()).await, 200);
    // The same region client without the relay mark sends only as itself.
    let app = spawn_app_with(|settings| {
        for client in &mut settings.clients {
            client.relay = false;
        }
    })
    .await;
    admitted_case(&app).await;
    assert_eq!(post(&app, app.region().await, kvittens).await, 403);
}

#[test]
fn the_readme_states_every_access_rule() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let access = &readme[readme.find("## Access").expect("an Access section")..];
    let access = &access[..access[3..].find("\n## ").map_or(access.len(), |i| i + 3)];
    for rule in brygga::auth::access::RULES {
        let row = format!("| {} |", rule.action);
        assert!(
            access.contains(&row),
            "the README's Access section has no row for {:?}",
            rule.action
        );
    }
}
