//! Every resource a client keeps is checked against the FHIR R4 models before it is stored: a
//! Task without `status` and `intent`, an element R4 does not have, a value of the wrong type
//! are refused with 422 naming the element — and nothing is stored, so the organisation's
//! searches stay readable by every client.

use serde_json::{Value, json};

use crate::helpers::{OSTERSUND, TestApp, spawn_app};

async fn post(app: &TestApp, body: &Value) -> (u16, Value) {
    let response = app
        .as_client(OSTERSUND)
        .await
        .post(app.url("/fhir/Task"))
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
