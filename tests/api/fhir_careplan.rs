//! FHIR `CarePlan` over HTTP: a plan made by a municipality, read back by both principals and
//! by no one else, searched, revised as its next version with `If-Match`, its history; and the
//! plan's Task pointing at it (`focus`, `_include=Task:focus`).

use serde_json::{Value, json};

use crate::helpers::{KROKOM, OSTERSUND, REGION, TestApp, repo_root, spawn_app};

const PATIENT: &str = "http://electronichealth.se/identifier/personnummer|198112189876";

fn plan() -> Value {
    serde_json::from_slice(
        &std::fs::read(repo_root().join("fixtures/fhir/inputs/careplan-from-municipality.json"))
            .unwrap(),
    )
    .unwrap()
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: &Value,
    if_match: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
    app.send_json(OSTERSUND, method, path, body, &headers).await
}

async fn get(app: &TestApp, client: &str, path: &str) -> (u16, Value) {
    app.get_json(client, path).await
}

fn ids(bundle: &Value, kind: &str) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == kind)
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_plan_is_made_read_by_both_principals_searched_revised_and_its_history_kept() {
    let app = spawn_app().await;
    app.admitted_case().await;
    app.sip_consent().await;
    let (status, headers, made) =
        send(&app, reqwest::Method::POST, "/fhir/CarePlan", &plan(), None).await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["meta"]["versionId"], "1");
    assert_eq!(headers["etag"], "W/\"1\"");
    assert_eq!(
        headers["location"],
        app.url(&format!("/fhir/CarePlan/{id}/_history/1")).as_str()
    );
    // What the mapping does not carry on is said.
    let warnings: Vec<&str> = headers
        .get_all("x-brygga-warning")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("CarePlan.note")),
        "{warnings:?}"
    );
    assert_eq!(made["category"][0]["coding"][0]["code"], "SIP");
    assert_eq!(
        made["activity"][0]["detail"]["description"],
        "Boendestöd tre dagar i veckan med fokus på struktur och ekonomi."
    );

    // Both principals read it; an organisation outside the case does not find it.
    let path = format!("/fhir/CarePlan/{id}");
    let (status, mine) = get(&app, OSTERSUND, &path).await;
    assert_eq!(status, 200);
    assert_eq!(mine, made);
    let (status, theirs) = get(&app, REGION, &path).await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["id"], id.as_str());
    let (status, outcome) = get(&app, KROKOM, &path).await;
    assert_eq!(status, 404, "{outcome}");
    let (status, _) = get(&app, OSTERSUND, "/fhir/CarePlan/not-a-plan").await;
    assert_eq!(status, 404);

    // Searched by the person, with the plan's parameters.
    for (query, expected) in [
        ("", 1),
        ("&category=SIP", 1),
        ("&category=urn:brygga:fhir:CodeSystem:plan-type|SIP", 1),
        ("&category=SPU", 0),
        ("&status=active", 1),
        ("&status=completed", 0),
        ("&date=2026-12-03", 1),
        ("&date=lt2026-12-01", 0),
        ("&date=ge2026-12-01&date=le2026-12-31", 1),
    ] {
        let (status, found) = get(
            &app,
            OSTERSUND,
            &format!("/fhir/CarePlan?patient={PATIENT}{query}"),
        )
        .await;
        assert_eq!(status, 200, "{query}: {found}");
        assert_eq!(found["total"], expected, "{query}: {found}");
    }
    let (_, found) = get(
        &app,
        OSTERSUND,
        &format!("/fhir/CarePlan?patient={PATIENT}&_include=CarePlan:patient"),
    )
    .await;
    assert_eq!(ids(&found, "Patient").len(), 1, "{found}");
    assert_eq!(found["entry"][1]["search"]["mode"], "include");
    let (_, theirs) = get(&app, KROKOM, &format!("/fhir/CarePlan?patient={PATIENT}")).await;
    assert_eq!(theirs["total"], 0);

    // The plan's Task points at it.
    let (_, tasks) = get(
        &app,
        REGION,
        &format!("/fhir/Task?patient={PATIENT}&focus=CarePlan/{id}&_include=Task:focus"),
    )
    .await;
    assert_eq!(tasks["total"], 1, "{tasks}");
    assert_eq!(
        ids(&tasks, "CarePlan"),
        std::slice::from_ref(&id),
        "{tasks}"
    );

    // Revised: the next version, routed like the first.
    let mut revised = made.clone();
    revised["activity"][0]["detail"]["description"] = json!("Boendestöd fyra dagar i veckan.");
    revised["meta"]["lastUpdated"] = json!("2026-12-10T09:00:00+01:00");
    let (status, headers, answer) =
        send(&app, reqwest::Method::PUT, &path, &revised, Some("W/\"1\"")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["meta"]["versionId"], "2");
    assert_eq!(headers["etag"], "W/\"2\"");
    assert_eq!(
        answer["activity"][0]["detail"]["description"],
        "Boendestöd fyra dagar i veckan."
    );
    let (_, theirs) = get(&app, REGION, &path).await;
    assert_eq!(theirs["meta"]["versionId"], "2");
    // A revision made on version 1 is refused now.
    let (status, _, outcome) =
        send(&app, reqwest::Method::PUT, &path, &revised, Some("W/\"1\"")).await;
    assert_eq!(status, 412, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("is at version 2")
    );
    // Another plan's identifier is not a revision of this one.
    let mut other = revised.clone();
    other["identifier"][0]["value"] = json!("ÖSD-SIP-2026-999");
    let (status, _, outcome) =
        send(&app, reqwest::Method::PUT, &path, &other, Some("W/\"2\"")).await;
    assert_eq!(status, 400, "{outcome}");
    assert_eq!(outcome["issue"][0]["expression"][0], "CarePlan.identifier");

    let (status, history) = get(&app, OSTERSUND, &format!("{path}/_history")).await;
    assert_eq!(status, 200);
    assert_eq!(history["total"], 2);
    let (status, first) = get(&app, OSTERSUND, &format!("{path}/_history/1")).await;
    assert_eq!(status, 200);
    assert_eq!(first, made);
    let (_, found) = get(
        &app,
        OSTERSUND,
        &format!("/fhir/CarePlan?patient={PATIENT}"),
    )
    .await;
    assert_eq!(
        found["total"], 1,
        "one plan, at its latest version: {found}"
    );
    assert_eq!(found["entry"][0]["resource"]["meta"]["versionId"], "2");
}

#[tokio::test]
async fn a_plan_that_breaks_the_contract_is_refused_and_one_without_consent_is_withheld() {
    let app = spawn_app().await;
    app.admitted_case().await;
    let mut wrong = plan();
    wrong["category"][0]["coding"][0]["code"] = json!("NO-SUCH-PLAN");
    let (status, _, outcome) =
        send(&app, reqwest::Method::POST, "/fhir/CarePlan", &wrong, None).await;
    assert_eq!(status, 400, "{outcome}");
    assert!(
        outcome["issue"][0]["expression"][0]
            .as_str()
            .unwrap()
            .starts_with("CarePlan.category"),
        "{outcome}"
    );
    let (status, _, outcome) = send(
        &app,
        reqwest::Method::POST,
        "/fhir/CarePlan",
        &json!({ "resourceType": "Task" }),
        None,
    )
    .await;
    assert_eq!(status, 400, "{outcome}");
    assert_eq!(
        outcome["issue"][0]["expression"][0],
        "CarePlan.resourceType"
    );
    let (_, found) = get(
        &app,
        OSTERSUND,
        &format!("/fhir/CarePlan?patient={PATIENT}"),
    )
    .await;
    assert_eq!(found["total"], 0, "{found}");
    // Without the person's consent to a SIP the plan is recorded, but withheld from the other
    // principal, its maker told so.
    let (status, headers, made) =
        send(&app, reqwest::Method::POST, "/fhir/CarePlan", &plan(), None).await;
    assert_eq!(status, 201, "{made}");
    assert!(
        headers
            .get_all("x-brygga-warning")
            .iter()
            .any(|w| w.to_str().unwrap().contains("by the disclosure decision")),
        "{headers:?}"
    );
    let id = made["id"].as_str().unwrap();
    // Withheld from the region; its maker (Östersund) keeps seeing its own plan.
    let (status, _) = get(&app, REGION, &format!("/fhir/CarePlan/{id}")).await;
    assert_eq!(status, 404);
    let (status, own) = get(&app, OSTERSUND, &format!("/fhir/CarePlan/{id}")).await;
    assert_eq!(status, 200, "the maker reads its own plan: {own}");
    app.sip_consent().await;
    let (status, read) = get(&app, REGION, &format!("/fhir/CarePlan/{id}")).await;
    assert_eq!(
        status, 200,
        "with the consent recorded the plan is read: {read}"
    );
}
