//! Deviations over real HTTP: reported, listed, acknowledged and answered by the addressed
//! party only; and steps in the canonical form.

use serde_json::{Value, json};

use crate::helpers::{TestApp, municipal_client, repo_root, spawn_app};

async fn admitted(app: &TestApp) -> String {
    app.admitted_case().await
}

/// Posts as the organisation of the body's `by` (the region when it names none).
async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let client = match body["by"]["kommunkod"].as_str() {
        Some(kommunkod) => app.as_client(municipal_client(kommunkod)).await,
        None => app.region().await,
    };
    let response = client.post(app.url(path)).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.region().await.get(app.url(path)).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn ward() -> Value {
    json!({"type": "region_unit", "hsa_id": "SE2321000214-E1AV"})
}

fn ostersund() -> Value {
    json!({"type": "municipality", "kommunkod": "2380", "unit": "SE2120002411-BIST"})
}

#[tokio::test]
async fn a_reported_deviation_is_acknowledged_and_answered_by_the_addressed_party_only() {
    let app = spawn_app().await;
    let case = admitted(&app).await;
    let (status, raised) = post(
        &app,
        &format!("/cases/{case}/deviations"),
        json!({
            "deviation_id": "AVV-2026-17",
            "by": ostersund(),
            "addressed_to": ward(),
            "description": "Informationen vid utskrivning saknade läkemedelslistan."
        }),
    )
    .await;
    assert_eq!(status, 201, "{raised}");
    assert_eq!(raised["status"], "open");
    assert_eq!(raised["cause"], "reported");
    // Routed to the region's patient-safety unit and Östersund's MAS.
    assert_eq!(
        raised["notify"],
        json!([
            {"type": "region_unit", "hsa_id": "SE2321000214-PSAK"},
            {"type": "municipality", "kommunkod": "2380", "unit": "SE2120002411-MAS1"}
        ])
    );
    let (status, list) = get(&app, "/deviations").await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 1);
    let (_, list) = get(&app, "/deviations?principal=region&unit=SE2321000214-E1AV").await;
    assert_eq!(list["count"], 1);
    let (_, list) = get(&app, "/deviations?principal=municipality&unit=2380").await;
    assert_eq!(list["count"], 0);

    let path = format!("/cases/{case}/deviations/AVV-2026-17");
    // The reporter cannot acknowledge a deviation addressed to the ward.
    let (status, outcome) = post(
        &app,
        &format!("{path}/acknowledgement"),
        json!({"by": ostersund()}),
    )
    .await;
    assert_eq!(status, 422, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("is addressed to region unit SE2321000214-E1AV")
    );
    for _ in 0..2 {
        let (status, acknowledged) = post(
            &app,
            &format!("{path}/acknowledgement"),
            json!({"by": ward()}),
        )
        .await;
        assert_eq!(status, 200, "{acknowledged}");
        assert_eq!(acknowledged["status"], "acknowledged");
    }
    let answer = json!({"by": ward(), "answer": "Checklistan för utskrivning är uppdaterad."});
    let (status, answered) = post(&app, &format!("{path}/answer"), answer.clone()).await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(answered["status"], "answered");
    assert_eq!(
        answered["answer"],
        "Checklistan för utskrivning är uppdaterad."
    );
    let (status, _) = post(&app, &format!("{path}/answer"), answer).await;
    assert_eq!(status, 409);
    let (_, one) = get(&app, &path).await;
    assert_eq!(one["status"], "answered");
    assert_eq!(get(&app, "/deviations").await.1["count"], 0);
    assert_eq!(get(&app, "/deviations?status=answered").await.1["count"], 1);
}

#[tokio::test]
async fn deviation_requests_that_cannot_be_met_say_why() {
    let app = spawn_app().await;
    let case = admitted(&app).await;
    let (status, outcome) = get(&app, &format!("/cases/{case}/deviations/none")).await;
    assert_eq!(status, 404, "{outcome}");
    let (status, _) = get(&app, "/cases/not-a-case/deviations/none").await;
    assert_eq!(status, 404);
    let (status, outcome) = post(
        &app,
        &format!("/cases/{case}/deviations/none/answer"),
        json!({"by": ward(), "answer": "?"}),
    )
    .await;
    assert_eq!(status, 404, "{outcome}");
    let (status, outcome) = post(
        &app,
        &format!("/cases/{case}/deviations"),
        json!({"by": ward(), "description": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("addressed_to"),
        "{outcome}"
    );
    let (status, outcome) = get(&app, "/deviations?status=late").await;
    assert_eq!(status, 400, "{outcome}");
    let (status, _) = get(&app, "/deviations?principal=region").await;
    assert_eq!(status, 400);
    let (status, outcome) = get(&app, "/deviations?principal=county&unit=23").await;
    assert_eq!(status, 400);
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("principal is region or municipality, not \"county\""),
        "{outcome}"
    );
}

#[tokio::test]
async fn a_canonical_message_is_received_like_any_other() {
    let app = spawn_app().await;
    let message: Value = serde_json::from_slice(
        &std::fs::read(
            repo_root().join("fixtures/cosmic-link/to-canonical/01-inskrivningsmeddelande.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let (status, receipt) = post(&app, "/canonical/v1/messages", message.clone()).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["kind"], "admission_notice");
    // The same message again: the same receipt.
    let (_, again) = post(&app, "/canonical/v1/messages", message).await;
    assert_eq!(again, receipt);
    let (status, outcome) = post(&app, "/canonical/v1/messages", json!({"case": {}})).await;
    assert_eq!(status, 400, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .starts_with("the canonical message is not valid"),
        "{outcome}"
    );
}
