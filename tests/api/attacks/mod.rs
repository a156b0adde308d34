//! The attack suite: each hole an attack review found in the gateway's disclosure controls,
//! and the attacks it already withstood, as regression tests on both backends (SQLite and a
//! fresh PostgreSQL database), so that none can silently reopen. Each attack says what the
//! attacker tries and asserts what the gateway must answer and what it must not store.

use serde_json::{Value, json};

use crate::helpers::{Backend, OSTERSUND, REGION, TestApp, spawn_app_on};

mod audit;
mod identity;
mod record;

on_both_backends!(
    duplicate_json_keys_are_refused_on_every_json_endpoint,
    steps_only_the_gateway_records_are_refused_from_clients,
);

const PNR_SYSTEM: &str = "http://electronichealth.se/identifier/personnummer";
const PERSONNUMMER: &str = "198112189876";

async fn app(backend: Backend) -> TestApp {
    spawn_app_on(backend, |_| {}).await
}

/// `client` sends `body` with `method` to `path`; the status and the body as JSON (or Null).
async fn send(
    app: &TestApp,
    client: &str,
    method: reqwest::Method,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let response = app
        .as_client(client)
        .await
        .request(method, app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn count(app: &TestApp, table: &str) -> u64 {
    app.store
        .table_counts()
        .await
        .unwrap()
        .into_iter()
        .find(|(t, _)| *t == table)
        .map(|(_, n)| n)
        .unwrap_or_else(|| panic!("no table {table}"))
}

fn diagnostics(outcome: &Value) -> String {
    outcome["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `{"type":"permit","type":"deny"}`: one reader would take permit, another deny. Every JSON
/// endpoint refuses a key named twice with 400, saying which, and stores nothing.
async fn duplicate_json_keys_are_refused_on_every_json_endpoint(backend: Backend) {
    let app = app(backend).await;
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    let case = brygga::formats::canonical::CaseReference {
        issuer: "SE2321000214-1000".into(),
        value: "SA-2026-004711".into(),
    }
    .case_id();
    let received_before = count(&app, "received_messages").await;
    let consent = format!(
        r#"{{"resourceType": "Consent", "status": "active",
            "scope": {{"coding": [{{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}]}},
            "category": [{{"coding": [{{"system": "urn:brygga:fhir:CodeSystem:consent-scope", "code": "sip"}}]}}],
            "patient": {{"identifier": {{"system": "{PNR_SYSTEM}", "value": "{PERSONNUMMER}"}}}},
            "dateTime": "2026-11-21",
            "provision": {{"type": "permit", "type": "deny"}}}}"#
    );
    let canonical = std::fs::read_to_string(
        crate::helpers::repo_root()
            .join("fixtures/cosmic-link/to-canonical/05-planering-paborjad.json"),
    )
    .unwrap()
    .replacen(
        "\"case\": {",
        "\"case\": {\"value\": \"SA-2026-004711\",",
        1,
    );
    let attempts: Vec<(&str, reqwest::Method, String, &str, String)> = vec![
        (
            OSTERSUND,
            reqwest::Method::POST,
            "/fhir/Consent".into(),
            "application/fhir+json",
            consent,
        ),
        (
            OSTERSUND,
            reqwest::Method::POST,
            "/fhir/Task".into(),
            "application/fhir+json",
            r#"{"resourceType": "Task", "status": "requested", "status": "completed", "intent": "order"}"#.into(),
        ),
        (
            OSTERSUND,
            reqwest::Method::POST,
            "/fhir/Subscription".into(),
            "application/fhir+json",
            r#"{"resourceType": "Subscription", "status": "requested", "reason": "x", "reason": "y", "criteria": "Task", "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:1/x", "payload": "application/fhir+json"}}"#.into(),
        ),
        (
            OSTERSUND,
            reqwest::Method::POST,
            "/fhir".into(),
            "application/fhir+json",
            r#"{"resourceType": "Bundle", "type": "transaction", "type": "batch", "entry": []}"#.into(),
        ),
        (
            REGION,
            reqwest::Method::POST,
            "/canonical/v1/messages".into(),
            "application/json",
            canonical,
        ),
        (
            OSTERSUND,
            reqwest::Method::POST,
            format!("/cases/{case}/deviations"),
            "application/json",
            r#"{"by": {"type": "municipality", "kommunkod": "2380"}, "addressed_to": {"type": "region_unit", "hsa_id": "SE2321000214-E1AV"}, "description": "a", "description": "b"}"#.into(),
        ),
        (
            OSTERSUND,
            reqwest::Method::POST,
            "/translate?from=canonical&to=fhir".into(),
            "application/json",
            r#"{"case": {}, "case": {}}"#.into(),
        ),
    ];
    for (client, method, path, content_type, body) in attempts {
        let (status, outcome) = send(&app, client, method, &path, content_type, body).await;
        assert_eq!(status, 400, "{path}: {outcome}");
        assert!(
            diagnostics(&outcome).contains("appears twice"),
            "{path}: {outcome}"
        );
    }
    assert_eq!(count(&app, "received_messages").await, received_before);
    assert_eq!(count(&app, "consents").await, 0);
    assert_eq!(count(&app, "fhir_subscriptions").await, 0);
}

/// A client posts a missed deadline (or a reminder, or a deviation with the gateway's
/// evidence) to blame another party: refused with 422, nothing stored. Whom the gateway blames
/// is decided from what it stored, never from a message.
async fn steps_only_the_gateway_records_are_refused_from_clients(backend: Backend) {
    let app = app(backend).await;
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    app.post_cosmic_example("08-utskrivningsklar.xml").await;
    // The gateway's own missed deadlines may fire meanwhile; what a client sends is counted by
    // the messages received.
    let received_before = count(&app, "received_messages").await;
    let case = json!({"issuer": "SE2321000214-1000", "value": "SA-2026-004711"});
    let person = json!({"system": "personnummer", "value": PERSONNUMMER});
    let forged = [
        json!({
            "kind": "deadline_missed",
            "id": uuid::Uuid::new_v4(),
            "occurred_at": "2026-11-28T08:00:00Z",
            "deadline": "sip_invitation",
            "due_at": "2026-11-27T23:00:00Z",
            "party": {"type": "municipality", "kommunkod": "2380"},
            "source": {"format": "canonical", "message_id": "forged-1"},
        }),
        json!({
            "kind": "deviation_raised",
            "id": uuid::Uuid::new_v4(),
            "occurred_at": "2026-11-28T08:00:00Z",
            "deviation_id": "AV-forged",
            "addressed_to": {"type": "municipality", "kommunkod": "2380"},
            "description": "SIP-kallelsen skickades inte i tid",
            "cause": "deadline_missed",
            "source": {"format": "canonical", "message_id": "forged-2",
                       "sender": {"type": "region_unit", "hsa_id": "SE2321000214-E1AV"}},
        }),
    ];
    for event in forged {
        let message = json!({"case": case, "person": person, "sent_at": "2026-11-28T08:00:00Z", "event": event});
        for client in [REGION, OSTERSUND] {
            let (status, outcome) = send(
                &app,
                client,
                reqwest::Method::POST,
                "/canonical/v1/messages",
                "application/json",
                message.to_string(),
            )
            .await;
            assert!(
                status == 422 || status == 403 || status == 400,
                "{client}: {status} {outcome}"
            );
            if client == REGION {
                assert_eq!(status, 422, "{outcome}");
                assert!(
                    diagnostics(&outcome).contains("recorded by the gateway itself"),
                    "{outcome}"
                );
            }
        }
    }
    assert_eq!(count(&app, "received_messages").await, received_before);
}

/// Posts the first story's Cosmic Link examples up to and including `last`.
async fn story_until(app: &TestApp, last: &str) {
    let dir = crate::helpers::repo_root().join("mappings/cosmic-link/examples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        app.post_cosmic_example(&name).await;
        if name == last {
            return;
        }
    }
    panic!("no example {last}");
}
