//! Every resource a client keeps is checked against the FHIR R4 models before it is stored: a
//! Task without `status` and `intent`, an element R4 does not have, a value of the wrong type,
//! a code outside a required binding, a value R4's JSON forbids (empty, null, control
//! characters), a Subscription without its reason, a malformed transaction Bundle are refused
//! with 422 naming the element — and nothing is stored, so the organisation's
//! searches stay readable by every client.

use serde_json::{Value, json};

use crate::helpers::{OSTERSUND, TestApp, spawn_app};

async fn post(app: &TestApp, body: &Value) -> (u16, Value) {
    post_to(app, "/fhir/Task", body).await
}

/// `body` posted to `path` as Östersund's client: the status and the answer.
async fn post_to(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let response = app
        .as_client(OSTERSUND)
        .await
        .post(app.url(path))
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_resource_that_is_not_valid_r4_is_refused_naming_the_element() {
    let app = spawn_app().await;
    let (status, outcome) = post(&app, &json!({ "resourceType": "Task" })).await;
    assert_eq!(status, 422, "{outcome}");
    let expression = outcome["issue"][0]["expression"][0].as_str().unwrap();
    assert!(
        ["Task.status", "Task.intent"].contains(&expression),
        "{outcome}"
    );
    let valid = json!({ "resourceType": "Task", "status": "draft", "intent": "plan" });
    for (wrong, element) in [
        (json!({ "colour": "red" }), "Task.colour"),
        (json!({ "priority": 5 }), "Task"),
        (
            json!({ "note": [{ "text": "x", "shade": 1 }] }),
            "Task.note[0].shade",
        ),
        // What the models would keep but R4 forbids: a code outside a required binding,
        // a control character, an empty string, list or object, a null.
        (json!({ "intent": "AAA" }), "Task.intent"),
        (json!({ "description": "a\u{6}b" }), "Task.description"),
        (json!({ "note": [{ "text": "" }] }), "Task.note[0].text"),
        (json!({ "input": [] }), "Task.input"),
        (json!({ "code": {} }), "Task.code"),
        (
            json!({ "executionPeriod": { "start": null } }),
            "Task.executionPeriod.start",
        ),
    ] {
        let mut task = valid.clone();
        task.as_object_mut()
            .unwrap()
            .extend(wrong.as_object().unwrap().clone());
        let (status, outcome) = post(&app, &task).await;
        assert_eq!(status, 422, "{task}: {outcome}");
        assert_eq!(
            outcome["issue"][0]["expression"][0], element,
            "{task}: {outcome}"
        );
    }
    // Nothing refused was kept; a valid Task is.
    let (status, found) = app
        .get_json(OSTERSUND, "/fhir/Task?_lastUpdated=ge2026-11-23")
        .await;
    assert_eq!(status, 200);
    assert_eq!(found["total"], 0, "{found}");
    let (status, kept) = post(&app, &valid).await;
    assert_eq!(status, 201, "{kept}");
}

#[tokio::test]
async fn subscriptions_and_transactions_are_checked_like_every_write() {
    let app = spawn_app().await;
    // R4 requires a Subscription's reason.
    let (status, outcome) = post_to(
        &app,
        "/fhir/Subscription",
        &json!({ "resourceType": "Subscription", "status": "requested",
                "criteria": "urn:brygga:fhir:SubscriptionTopic:coordination",
                "channel": { "type": "rest-hook", "endpoint": "http://127.0.0.1:9/hook" } }),
    )
    .await;
    assert_eq!(status, 422, "{outcome}");
    assert_eq!(outcome["issue"][0]["expression"][0], "Subscription.reason");
    // A transaction's own elements: entries are a list, a request an object of text.
    for (bundle, element) in [
        (json!({ "entry": {} }), "Bundle.entry"),
        (
            json!({ "entry": [{ "fullUrl": "", "resource": { "resourceType": "Task", "status": "draft", "intent": "plan" } }] }),
            "Bundle.entry[0].fullUrl",
        ),
        (
            json!({ "entry": [{ "request": [null], "resource": { "resourceType": "Task", "status": "draft", "intent": "plan" } }] }),
            "Bundle.entry[0].request",
        ),
        (
            json!({ "entry": [{ "request": { "method": "POST", "url": 1 }, "resource": { "resourceType": "Task", "status": "draft", "intent": "plan" } }] }),
            "Bundle.entry[0].request.url",
        ),
    ] {
        let mut body = json!({ "resourceType": "Bundle", "type": "transaction" });
        body.as_object_mut()
            .unwrap()
            .extend(bundle.as_object().unwrap().clone());
        let (status, outcome) = post_to(&app, "/fhir", &body).await;
        assert_eq!(status, 422, "{outcome}");
        assert_eq!(outcome["issue"][0]["expression"][0], element, "{outcome}");
    }
    // Nothing of it was kept.
    let (_, found) = app
        .get_json(OSTERSUND, "/fhir/Task?_lastUpdated=ge2026-11-23")
        .await;
    assert_eq!(found["total"], 0, "{found}");
}

#[tokio::test]
async fn by_setting_unknown_elements_are_kept_with_a_warning_and_wrong_values_still_refused() {
    let app = crate::helpers::spawn_app_with(|s| s.server.keep_unknown_elements = true).await;
    let task =
        json!({ "resourceType": "Task", "status": "draft", "intent": "plan", "colour": "red" });
    let response = app
        .as_client(OSTERSUND)
        .await
        .post(app.url("/fhir/Task"))
        .header("content-type", "application/fhir+json")
        .body(task.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let warnings: Vec<String> = response
        .headers()
        .get_all("x-brygga-warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("Task.colour: not an element of FHIR R4; kept as sent")),
        "{warnings:?}"
    );
    let created: Value = response.json().await.unwrap();
    let (status, read) = app
        .get_json(
            OSTERSUND,
            &format!("/fhir/Task/{}", created["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(read["colour"], "red", "{read}");
    // A wrong value is not an unknown element: refused whatever the setting.
    for wrong in [
        json!({ "resourceType": "Task", "status": "draft", "intent": "plan", "priority": 5 }),
        json!({ "resourceType": "Task", "status": "draft", "intent": "AAA", "colour": "red" }),
    ] {
        let (status, outcome) = post(&app, &wrong).await;
        assert_eq!(status, 422, "{wrong}: {outcome}");
    }
}
