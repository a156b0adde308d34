//! FHIR `AuditEvent` over HTTP: each organisation reads its own records, an auditor anyone's;
//! filtered by person, organisation and date, paged with `next` links, read one by one.

use serde_json::Value;

use crate::helpers::{AUDITOR, KROKOM, OSTERSUND, TestApp, spawn_app};

const PATIENT: &str = "http://electronichealth.se/identifier/personnummer|198112189876";

async fn get(app: &TestApp, client: &str, path: &str) -> (u16, Value) {
    app.get_json(client, path).await
}

fn organisations(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["resource"]["agent"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["type"]["text"] == "organisation")
                .map(|a| a["who"]["identifier"]["value"].as_str().unwrap().to_owned())
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn audit_events_are_read_by_their_organisation_and_an_auditor_filtered_and_paged() {
    let app = spawn_app().await;
    app.admitted_case().await;
    // Östersund reads the person's steps: audited reads of its own.
    let (status, _) = get(&app, OSTERSUND, &format!("/fhir/Task?patient={PATIENT}")).await;
    assert_eq!(status, 200);
    let (_, _) = get(&app, KROKOM, &format!("/fhir/Task?patient={PATIENT}")).await;

    let (status, mine) = get(&app, OSTERSUND, "/fhir/AuditEvent").await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["type"], "searchset");
    let entries = mine["entry"].as_array().unwrap().len() as u64;
    assert!(entries >= 2, "{mine}");
    assert_eq!(mine["total"].as_u64().unwrap(), entries);
    assert!(organisations(&mine).iter().all(|o| o == "2380"), "{mine}");

    // Two by two, every record once.
    let mut seen = Vec::new();
    let mut path = "/fhir/AuditEvent?_count=2".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = get(&app, OSTERSUND, &path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(
            page["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["resource"]["id"].as_str().unwrap().to_owned()),
        );
        match page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
        {
            Some(next) => path = next["url"].as_str().unwrap().to_owned(),
            None => break,
        }
        assert!(pages < 50, "the pages end");
    }
    // Reading the log is recorded in it, so the pages saw at least the records of the first read.
    assert!(seen.len() as u64 >= entries, "{seen:?}");
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique, seen, "in order, none twice");

    // About the person only.
    let (_, about) = get(
        &app,
        OSTERSUND,
        &format!("/fhir/AuditEvent?patient={PATIENT}"),
    )
    .await;
    assert!(about["total"].as_u64().unwrap() >= 1, "{about}");
    for entry in about["entry"].as_array().unwrap() {
        let person = entry["resource"]["entity"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|e| e["what"]["identifier"]["value"].as_str());
        assert_eq!(person, Some("198112189876"), "{entry}");
    }
    let (_, before) = get(&app, OSTERSUND, "/fhir/AuditEvent?date=lt2026-01-01").await;
    assert_eq!(before["total"], 0);
    let (_, today) = get(&app, OSTERSUND, "/fhir/AuditEvent?date=2026-11-23").await;
    assert!(today["total"].as_u64().unwrap() >= entries, "{today}");

    // Another organisation's records: refused for Östersund, open to the auditor.
    let (status, outcome) = get(&app, OSTERSUND, "/fhir/AuditEvent?agent=2309").await;
    assert_eq!(status, 403, "{outcome}");
    let (status, krokom) = get(&app, AUDITOR, "/fhir/AuditEvent?agent=2309").await;
    assert_eq!(status, 200, "{krokom}");
    assert!(!organisations(&krokom).is_empty());
    assert!(
        organisations(&krokom).iter().all(|o| o == "2309"),
        "{krokom}"
    );

    // One by one: Östersund's own, and not Krokom's.
    let id = &seen[0];
    let (status, record) = get(&app, OSTERSUND, &format!("/fhir/AuditEvent/{id}")).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["resourceType"], "AuditEvent");
    assert_eq!(record["id"], id.as_str());
    let (status, _) = get(&app, KROKOM, &format!("/fhir/AuditEvent/{id}")).await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, OSTERSUND, "/fhir/AuditEvent/not-a-number").await;
    assert_eq!(status, 404);
    let (status, outcome) = get(&app, OSTERSUND, "/fhir/AuditEvent?_sort=date").await;
    assert_eq!(status, 400, "{outcome}");
}
