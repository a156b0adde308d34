//! FHIR `Subscription` resources over real HTTP on loopback: the official R4 example accepted
//! and read back, the backport's handshake, event notifications and heartbeats reaching a
//! receiver, changes with `If-Match`, deletion, and every refusal with its element.

use jiff::SignedDuration;
use serde_json::{Value, json};

use crate::helpers::{
    KROKOM, OSTERSUND, Receiver, STROMSUND, TestApp, receiver, repo_root, spawn_app,
    spawn_app_with, subscription,
};

const TOPIC: &str = "urn:brygga:fhir:SubscriptionTopic:coordination";
const BACKPORT: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/";

fn official() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(
            repo_root().join("fixtures/fhir-r4-official/Subscription-example.json"),
        )
        .unwrap(),
    )
    .unwrap()
}

/// A backport subscription to `url` for admission notices.
fn backport(url: &str) -> Value {
    json!({
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Inskrivningsmeddelanden till Östersunds verksamhetssystem",
        "criteria": TOPIC,
        "_criteria": { "extension": [{
            "url": format!("{BACKPORT}backport-filter-criteria"),
            "valueString": "event=admission_notice",
        }]},
        "channel": {
            "type": "rest-hook",
            "endpoint": url,
            "payload": "application/fhir+json",
            "_payload": { "extension": [{
                "url": format!("{BACKPORT}backport-payload-content"),
                "valueCode": "full-resource",
            }]},
            "header": ["X-Api-Key: nyckel-1"],
        },
    })
}

async fn post(app: &TestApp, client: &str, body: &Value) -> reqwest::Response {
    app.as_client(client)
        .await
        .post(app.url("/fhir/Subscription"))
        .header("content-type", "application/fhir+json")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, client: &str, path: &str) -> reqwest::Response {
    app.as_client(client)
        .await
        .get(app.url(path))
        .send()
        .await
        .unwrap()
}

/// The SubscriptionStatus (the first entry's Parameters) of a notification, by name.
fn status_of(notification: &Value) -> std::collections::HashMap<String, Value> {
    assert_eq!(notification["resourceType"], "Bundle");
    assert_eq!(notification["type"], "history");
    let parameters = &notification["entry"][0]["resource"];
    assert_eq!(parameters["resourceType"], "Parameters");
    parameters["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let value = p
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.starts_with("value") || *k == "part")
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null);
            (p["name"].as_str().unwrap().to_owned(), value)
        })
        .collect()
}

fn body(received: &crate::helpers::Received) -> Value {
    serde_json::from_str(&received.body).unwrap()
}

#[tokio::test]
async fn the_official_r4_example_is_accepted_and_read_back_without_loss() {
    let app = spawn_app().await;
    let example = official();
    let response = post(&app, OSTERSUND, &example).await;
    assert_eq!(response.status(), 201);
    let warnings: Vec<String> = response
        .headers()
        .get_all("x-brygga-warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("no Observation")),
        "{warnings:?}"
    );
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    // Its end (2021) has passed: it is off, and no handshake was tried.
    assert_eq!(created["status"], "off");
    assert_eq!(created["meta"]["versionId"], "2");
    let read = get(&app, OSTERSUND, &location).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"], "W/\"2\"");
    let read: Value = read.json().await.unwrap();
    for (key, value) in example.as_object().unwrap() {
        match key.as_str() {
            "id" | "status" => {}
            "channel" => {
                let mut expected = value.clone();
                expected["header"] = json!(["Authorization: ***"]);
                assert_eq!(read["channel"], expected, "the header's value is masked");
            }
            _ => assert_eq!(&read[key], value, "{key}"),
        }
    }
    // Another organisation does not see it; a client without the scope cannot make one.
    assert_eq!(get(&app, KROKOM, &location).await.status(), 404);
    assert_eq!(post(&app, STROMSUND, &example).await.status(), 403);
    let search: Value = get(&app, OSTERSUND, "/fhir/Subscription?status=off")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(search["total"], 1);
    let none: Value = get(&app, KROKOM, "/fhir/Subscription")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn a_handshake_then_one_event_notification_per_released_step_in_number_order() {
    let inbox = receiver().await;
    let app = spawn_app().await;
    let response = post(&app, OSTERSUND, &backport(&inbox.url)).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["status"], "active", "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let handshake = inbox.wait_for(1).await;
    let status = status_of(&body(&handshake[0]));
    assert_eq!(status["type"], "handshake");
    assert_eq!(status["status"], "requested");
    assert_eq!(
        status["subscription"]["reference"],
        format!("Subscription/{id}")
    );
    assert_eq!(handshake[0].headers["x-api-key"], "nyckel-1");

    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    // The admission notice goes to two units of Östersund: two notifications.
    let all = inbox.wait_for(3).await;
    let mut numbers = Vec::new();
    for delivery in &all[1..] {
        let notification = body(delivery);
        let status = status_of(&notification);
        assert_eq!(status["type"], "event-notification");
        assert_eq!(status["topic"], TOPIC);
        let event = status["notification-event"].as_array().unwrap();
        let number = event.iter().find(|p| p["name"] == "event-number").unwrap()["valueString"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(status["events-since-subscription-start"], number.as_str());
        numbers.push(number);
        let focus =
            event.iter().find(|p| p["name"] == "focus").unwrap()["valueReference"]["reference"]
                .as_str()
                .unwrap();
        let entries = notification["entry"].as_array().unwrap();
        let task = entries.iter().find(|e| e["fullUrl"] == focus).unwrap();
        assert_eq!(task["resource"]["resourceType"], "Task");
        assert!(
            entries
                .iter()
                .any(|e| e["resource"]["resourceType"] == "Patient")
        );
        assert_eq!(delivery.headers["x-api-key"], "nyckel-1");
        assert!(!delivery.headers["idempotency-key"].is_empty());
    }
    numbers.sort();
    assert_eq!(numbers, ["1", "2"]);

    let status: Value = get(&app, OSTERSUND, &format!("/fhir/Subscription/{id}/$status"))
        .await
        .json()
        .await
        .unwrap();
    let parameters = &status["entry"][0]["resource"]["parameter"];
    assert!(
        parameters
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "events-since-subscription-start" && p["valueString"] == "2"),
        "{status}"
    );
    // Its deliveries are the organisation's, under the subscription's reference.
    let deliveries: Value = get(
        &app,
        OSTERSUND,
        &format!("/deliveries?subscription=Subscription/{id}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        deliveries["deliveries"].as_array().map(Vec::len),
        Some(2),
        "{deliveries}"
    );

    // Deleted, it takes no further event.
    let deleted = app
        .as_client(OSTERSUND)
        .await
        .delete(app.url(&format!("/fhir/Subscription/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        get(&app, OSTERSUND, &format!("/fhir/Subscription/{id}"))
            .await
            .status(),
        404
    );
    // Another case's admission notice.
    let other = String::from_utf8(crate::helpers::cosmic_example(
        "01-inskrivningsmeddelande.xml",
    ))
    .unwrap()
    .replace("CL-2026-0001", "CL-2026-0901")
    .replace("SA-2026-004711", "SA-2026-004799");
    let response = app.post_cosmic_link(other.into_bytes()).await;
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    let case = brygga::domain::case::CaseId::parse(receipt["case_id"].as_str().unwrap()).unwrap();
    let rows = app.store.outbox_status_for_case(case).await.unwrap();
    assert!(rows.is_empty(), "{rows:?}");
}

#[tokio::test]
async fn a_refused_handshake_leaves_it_in_error_until_a_put_with_the_current_version() {
    let inbox = receiver().await;
    inbox.answer_with(&[503]);
    let app = spawn_app().await;
    let created: Value = post(&app, OSTERSUND, &backport(&inbox.url))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["status"], "error");
    assert!(
        created["error"].as_str().unwrap().contains("503"),
        "{created}"
    );
    let id = created["id"].as_str().unwrap();
    // Written back as read (the header masked): asked for again, with a fresh handshake.
    let mut again = created.clone();
    again["status"] = json!("requested");
    let put = |if_match: &'static str, body: Value| {
        let app = &app;
        async move {
            app.as_client(OSTERSUND)
                .await
                .put(app.url(&format!("/fhir/Subscription/{id}")))
                .header("content-type", "application/fhir+json")
                .header("if-match", if_match)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let response = put("W/\"1\"", again.clone()).await;
    assert_eq!(response.status(), 412);
    let response = put("W/\"2\"", again.clone()).await;
    assert_eq!(response.status(), 200);
    let active: Value = response.json().await.unwrap();
    assert_eq!(active["status"], "active");
    assert_eq!(active["meta"]["versionId"], "3");
    assert!(active.get("error").is_none());
    let handshakes = inbox.wait_for(2).await;
    assert_eq!(
        handshakes[1].headers["x-api-key"], "nyckel-1",
        "the masked header kept its stored value"
    );
    // Turned off: no handshake, and it takes no events.
    let mut off = active.clone();
    off["status"] = json!("off");
    let response = put("W/\"3\"", off).await;
    assert_eq!(response.status(), 200);
    let off: Value = response.json().await.unwrap();
    assert_eq!(off["status"], "off");
    let receipt = app
        .post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    let case = brygga::domain::case::CaseId::parse(receipt["case_id"].as_str().unwrap()).unwrap();
    assert!(
        app.store
            .outbox_status_for_case(case)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(inbox.received().len(), 2);
}

/// Moves the clock on five seconds at a time until `inbox` has `n` requests.
async fn advance_until(app: &TestApp, inbox: &Receiver, n: usize) {
    for _ in 0..40 {
        if inbox.received().len() >= n {
            return;
        }
        app.clock.advance(SignedDuration::from_secs(5));
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(200), inbox.wait_for(n)).await;
    }
    assert!(
        inbox.received().len() >= n,
        "{} requests",
        inbox.received().len()
    );
}

#[tokio::test]
async fn a_quiet_subscription_gets_a_heartbeat_each_period() {
    let inbox = receiver().await;
    let app = spawn_app().await;
    let mut resource = backport(&inbox.url);
    resource["channel"]["extension"] = json!([{
        "url": format!("{BACKPORT}backport-heartbeat-period"),
        "valueUnsignedInt": 30,
    }]);
    let created: Value = post(&app, OSTERSUND, &resource).await.json().await.unwrap();
    assert_eq!(created["status"], "active");
    inbox.wait_for(1).await;
    let started = app.clock.now();
    advance_until(&app, &inbox, 2).await;
    let heartbeat = &inbox.received()[1];
    let status = status_of(&body(heartbeat));
    assert_eq!(status["type"], "heartbeat");
    assert_eq!(status["status"], "active");
    assert_eq!(status["events-since-subscription-start"], "0");
    assert!(
        app.clock.now().duration_since(started) >= SignedDuration::from_secs(30),
        "not before the period passed"
    );
}

#[tokio::test]
async fn what_the_gateway_does_not_offer_is_refused_with_its_element() {
    let app = spawn_app().await;
    let cases = [
        (
            "/channel/type",
            json!("websocket"),
            422,
            "Subscription.channel.type",
        ),
        (
            "/channel/payload",
            json!("application/fhir+xml"),
            422,
            "Subscription.channel.payload",
        ),
        (
            "/channel/endpoint",
            json!("http://receiver.example/hook"),
            422,
            "Subscription.channel.endpoint",
        ),
        (
            "/criteria",
            json!("Task?owner=Organization/1"),
            422,
            "Subscription.criteria",
        ),
        (
            "/channel/header",
            json!(["Idempotency-Key: 1"]),
            422,
            "Subscription.channel.header[0]",
        ),
        ("/status", json!("sleeping"), 400, "Subscription.status"),
    ];
    for (pointer, value, status, expression) in cases {
        let mut resource = backport("http://127.0.0.1:9/hook");
        *resource.pointer_mut(pointer).unwrap() = value;
        let response = post(&app, OSTERSUND, &resource).await;
        assert_eq!(response.status(), status, "{pointer}");
        let outcome: Value = response.json().await.unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(
            outcome["issue"][0]["expression"][0], expression,
            "{outcome}"
        );
    }
    let response = app
        .as_client(OSTERSUND)
        .await
        .post(app.url("/fhir/Subscription"))
        .header("content-type", "application/fhir+json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Nothing of it was stored.
    let search: Value = get(&app, OSTERSUND, "/fhir/Subscription")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(search["total"], 0);
}

#[tokio::test]
async fn subscriptions_of_the_file_are_listed_read_only() {
    let inbox = receiver().await;
    let app = spawn_app_with(|settings| {
        settings
            .subscriptions
            .0
            .push(subscription("ostersund-fhir", "2380", &inbox.url, "fhir"))
    })
    .await;
    let search: Value = get(&app, OSTERSUND, "/fhir/Subscription")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(search["total"], 1);
    assert_eq!(search["entry"][0]["resource"]["id"], "ostersund-fhir");
    assert_eq!(search["entry"][0]["resource"]["criteria"], TOPIC);
    let put = app
        .as_client(OSTERSUND)
        .await
        .put(app.url("/fhir/Subscription/ostersund-fhir"))
        .header("content-type", "application/fhir+json")
        .header("if-match", "W/\"1\"")
        .json(&backport(&inbox.url))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 409);
    assert_eq!(
        get(&app, KROKOM, "/fhir/Subscription/ostersund-fhir")
            .await
            .status(),
        404
    );
    // Its deliveries are event notifications too.
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    let delivered = inbox.wait_for(1).await;
    let status = status_of(&body(&delivered[0]));
    assert_eq!(status["type"], "event-notification");
    assert_eq!(
        status["subscription"]["reference"],
        "Subscription/ostersund-fhir"
    );
}

#[tokio::test]
async fn a_subscription_narrowed_to_a_unit_or_a_patient_gets_only_those_steps() {
    let inbox = receiver().await;
    let mut bistand = subscription("ostersund-bistand", "2380", &inbox.url, "canonical");
    bistand.unit = Some(brygga::domain::identifiers::HsaId::parse("SE2120002411-BIST").unwrap());
    let app = spawn_app_with(move |settings| settings.subscriptions.0.push(bistand)).await;
    let criteria = |patient: &str| {
        let mut resource = backport(&inbox.url);
        resource["_criteria"]["extension"][0]["valueString"] = json!(format!(
            "event=admission_notice&patient=http://electronichealth.se/identifier/personnummer|{patient}"
        ));
        resource
    };
    let theirs: Value = post(&app, OSTERSUND, &criteria("198112189876"))
        .await
        .json()
        .await
        .unwrap();
    let someone_else: Value = post(&app, OSTERSUND, &criteria("191212121212"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["status"], "active");
    assert_eq!(someone_else["status"], "active");
    let receipt = app
        .post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    let case = brygga::domain::case::CaseId::parse(receipt["case_id"].as_str().unwrap()).unwrap();
    let rows = app.store.outbox_status_for_case(case).await.unwrap();
    let count = |destination: &str| rows.iter().filter(|(d, _, _)| d == destination).count();
    // Two units of Östersund receive the admission notice: the unit's subscription gets one.
    assert_eq!(count("ostersund-bistand"), 1, "{rows:?}");
    let id = |resource: &Value| format!("Subscription/{}", resource["id"].as_str().unwrap());
    assert_eq!(count(&id(&theirs)), 2, "{rows:?}");
    assert_eq!(count(&id(&someone_else)), 0, "{rows:?}");
}
