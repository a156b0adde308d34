//! Placing a message of a dialect without case numbering (`mappings/municipal/socsys`): by the
//! region's case number alone, by the person's one open case, and a 409 that names what to add
//! when that is not one case — only among the cases the sender takes part in.

use brygga::formats::canonical::CaseReference;

use crate::helpers::{KROKOM, OSTERSUND, TestApp, cosmic_example, spawn_app_at};

const KVITTENS: &str = include_str!("../../mappings/municipal/socsys/examples/02-kvittens.xml");

/// The case id of the region's case `number` (Region Jämtland Härjedalen's numbering).
fn case_id(number: &str) -> String {
    CaseReference {
        issuer: "SE2321000214-1000".to_owned(),
        value: number.to_owned(),
    }
    .case_id()
    .to_string()
}

/// Posts a socsys document as `client`: the status and the answer (the dialect's own XML).
async fn post(app: &TestApp, client: &str, body: String) -> (u16, String) {
    app.post_text(
        client,
        "/municipal/socsys/v1/messages",
        "application/xml",
        body,
    )
    .await
}

/// Östersund's kvittens of the admission, with message id `id` and the case reference element
/// `reference` (empty: none).
fn kvittens(id: &str, reference: &str) -> String {
    KVITTENS
        .replace("TRS-2380-2026-0101", id)
        .replace("<s:Referens s:nummer=\"SA-2026-004711\"/>", reference)
}

/// The text of `<s:Arende>` in a receipt: the case the message was placed in.
fn placed_in(receipt: &str) -> &str {
    receipt
        .split_once("<s:Arende>")
        .and_then(|(_, rest)| rest.split_once("</s:Arende>"))
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no case in {receipt}"))
}

#[tokio::test]
async fn a_message_without_a_case_number_is_placed_by_number_or_by_the_open_case() {
    let app = spawn_app_at("2026-12-31T12:00:00Z").await;
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;

    // The region's number alone (no issuer): the person's case with that number.
    let (status, receipt) = post(
        &app,
        OSTERSUND,
        kvittens("K-1", "<s:Referens s:nummer=\"SA-2026-004711\"/>"),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(placed_in(&receipt), case_id("SA-2026-004711"));

    // No number at all: the person's one open case.
    let (status, receipt) = post(&app, OSTERSUND, kvittens("K-2", "")).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(placed_in(&receipt), case_id("SA-2026-004711"));

    // A number the person has no case with: refused, nothing stored.
    let (status, answer) = post(
        &app,
        OSTERSUND,
        kvittens("K-3", "<s:Referens s:nummer=\"SA-2026-000001\"/>"),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer.contains("no case numbered SA-2026-000001"),
        "{answer}"
    );

    // A second open case of the person: without a number, which one is not known.
    let second = String::from_utf8(cosmic_example("01-inskrivningsmeddelande.xml"))
        .unwrap()
        .replace("SA-2026-004711", "SA-2026-009999")
        .replace("CL-2026-0001", "CL-2026-9001");
    assert_eq!(
        app.post_cosmic_link(second.into_bytes()).await.status(),
        200
    );
    let (status, answer) = post(&app, OSTERSUND, kvittens("K-4", "")).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer.contains("2 cases")
            && answer.contains("SA-2026-004711")
            && answer.contains("SA-2026-009999"),
        "{answer}"
    );
    // With the number, it is placed in that one.
    let (status, receipt) = post(
        &app,
        OSTERSUND,
        kvittens("K-5", "<s:Referens s:nummer=\"SA-2026-009999\"/>").replace(
            "s:meddelandeId=\"CL-2026-0001\"",
            "s:meddelandeId=\"CL-2026-9001\"",
        ),
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(placed_in(&receipt), case_id("SA-2026-009999"));
}

#[tokio::test]
async fn a_municipality_finds_only_the_cases_it_takes_part_in() {
    let app = spawn_app_at("2026-12-31T12:00:00Z").await;
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    // Krokom takes no part in the person's case: to Krokom the person has no case, and the
    // answer names none of Östersund's.
    let from_krokom = kvittens("K-1", "").replace(
        "s:kommunkod=\"2380\" s:hsaId=\"SE2120002411-BIST\"",
        "s:kommunkod=\"2309\"",
    );
    let (status, answer) = post(&app, KROKOM, from_krokom.clone()).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer.contains("no open case"), "{answer}");
    assert!(!answer.contains("SA-2026-004711"), "{answer}");
    let by_number = from_krokom.replace(
        "<s:Mottagare s:hsaId=\"SE2321000214-E1AV\"/>",
        "<s:Mottagare s:hsaId=\"SE2321000214-E1AV\"/>\n    <s:Referens s:nummer=\"SA-2026-004711\"/>",
    );
    let (status, answer) = post(&app, KROKOM, by_number).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer.contains("no case numbered SA-2026-004711 that municipality 2309"),
        "{answer}"
    );
    // A client that sends as another municipality than its own is refused before any search.
    let (status, answer) = post(&app, KROKOM, kvittens("K-2", "")).await;
    assert_eq!(status, 403, "{answer}");
}

/// Posts a canonical message as Östersund: the status and the answer.
async fn post_canonical(app: &TestApp, message: &serde_json::Value) -> (u16, String) {
    app.post_text(
        OSTERSUND,
        "/canonical/v1/messages",
        "application/json",
        message.to_string(),
    )
    .await
}

/// The canonical endpoint places a message the same way: `case` with a number alone, or empty.
#[tokio::test]
async fn a_canonical_message_without_a_whole_case_reference_is_placed_too() {
    let app = spawn_app_at("2026-12-31T12:00:00Z").await;
    let admission = app
        .post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    let kvittens: serde_json::Value = serde_json::from_str(include_str!(
        "../../fixtures/municipal/canonical/municipality-kvittens.json"
    ))
    .unwrap();
    for (id, event, case) in [
        (
            "C-1",
            "cf32e2a6-89e3-5ccc-94f9-1cfab3271c4d",
            serde_json::json!({"value": "SA-2026-004711"}),
        ),
        (
            "C-2",
            "cf32e2a6-89e3-5ccc-94f9-1cfab3271c4e",
            serde_json::json!({}),
        ),
    ] {
        let mut message = kvittens.clone();
        message["case"] = case;
        message["event"]["id"] = event.into();
        message["event"]["source"]["message_id"] = id.into();
        message["event"]["source"]["format"] = "canonical".into();
        let (status, body) = post_canonical(&app, &message).await;
        assert_eq!(status, 200, "{body}");
        let receipt: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(receipt["case_id"], admission["case_id"], "{id}");
    }
    // A number the person has no case with is a conflict, as from a dialect.
    let mut message = kvittens.clone();
    message["case"] = serde_json::json!({"value": "SA-2026-000001"});
    message["event"]["id"] = "cf32e2a6-89e3-5ccc-94f9-1cfab3271c4f".into();
    message["event"]["source"]["message_id"] = "C-3".into();
    let (status, body) = post_canonical(&app, &message).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("no case numbered SA-2026-000001"), "{body}");
}
