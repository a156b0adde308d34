//! Worklists: `owner` finds a municipality's or a region's Tasks by the organisation's own
//! identifier as well as by a unit's HSA-id (the README's worklist query), and a Task ends
//! when its case does — cancelled with the case, ended at discharge — so it leaves the
//! `status=requested` worklist.

use serde_json::Value;

use crate::helpers::{OSTERSUND, REGION, TestApp, spawn_app};

async fn total(app: &TestApp, client: &str, query: &str) -> u64 {
    let (status, found) = app.get_json(client, &format!("/fhir/Task?{query}")).await;
    assert_eq!(status, 200, "{query}: {found}");
    found["total"].as_u64().unwrap()
}

fn statuses(bundle: &Value, code: &str) -> Vec<(String, String)> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|t| t["code"]["coding"][0]["code"] == code)
        .map(|t| {
            (
                t["status"].as_str().unwrap().to_owned(),
                t["statusReason"]["text"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_readme_worklist_finds_a_municipality_s_tasks_by_its_code() {
    let app = spawn_app().await;
    app.admitted_case().await;
    // As in the README (the test clock stands at 23 November): Östersund's units'
    // admission notices, Biståndsenheten's and Hemsjukvården's.
    let readme = "owner=2380&status=requested";
    assert_eq!(total(&app, OSTERSUND, readme).await, 2);
    for owner in [
        "Organization/2380",
        "urn:oid:1.2.752.129.2.2.1.17|2380",
        "SE2120002411-BIST,SE2120002411-HSJV",
    ] {
        assert_eq!(
            total(
                &app,
                OSTERSUND,
                &format!("owner={owner}&_lastUpdated=ge2026-11-23")
            )
            .await,
            2,
            "{owner}"
        );
    }
    // Another municipality's code, or the code under another system, finds none.
    assert_eq!(
        total(&app, OSTERSUND, "owner=2309&_lastUpdated=ge2026-11-23").await,
        0
    );
    assert_eq!(
        total(
            &app,
            OSTERSUND,
            "owner=urn:oid:1.2.752.29.4.19|2380&_lastUpdated=ge2026-11-23"
        )
        .await,
        0
    );
    // The region by its own HSA-id: the Tasks of its units (the primary care unit's notice).
    let region = "_lastUpdated=ge2026-11-23&owner=";
    let by_unit = total(&app, REGION, &format!("{region}SE2321000214-E3HC")).await;
    assert_eq!(by_unit, 1);
    assert_eq!(
        total(
            &app,
            REGION,
            &format!("{region}Organization/SE2321000214-1000")
        )
        .await,
        by_unit
    );
}

#[tokio::test]
async fn a_cancelled_case_s_open_tasks_are_cancelled_and_leave_the_worklist() {
    let app = spawn_app().await;
    app.post_cosmic_example("26-inskrivningsmeddelande-fel-patient.xml")
        .await;
    let person = "patient=http://electronichealth.se/identifier/personnummer|195504152389";
    let worklist = "owner=2380&status=requested&_lastUpdated=ge2026-11-23";
    let before = total(&app, OSTERSUND, worklist).await;
    assert!(before > 0);
    app.post_cosmic_example("27-arende-avslutat.xml").await;
    let (_, found) = app
        .get_json(OSTERSUND, &format!("/fhir/Task?{person}"))
        .await;
    let notices = statuses(&found, "admission-notice");
    assert!(!notices.is_empty(), "{found}");
    assert!(
        notices
            .iter()
            .all(|(s, r)| s == "cancelled" && r == "the case was cancelled"),
        "{notices:?}"
    );
    assert_eq!(total(&app, OSTERSUND, worklist).await, 0);
    // The ending is a version of its own: the notice as sent stays readable.
    let task = found["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["code"]["coding"][0]["code"] == "admission-notice")
        .unwrap();
    assert_eq!(task["resource"]["meta"]["versionId"], "2");
    let id = task["resource"]["id"].as_str().unwrap();
    let (status, first) = app
        .get_json(OSTERSUND, &format!("/fhir/Task/{id}/_history/1"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(first["status"], "requested");
}

#[tokio::test]
async fn discharge_ends_the_inpatient_steps_and_keeps_the_rest() {
    let app = spawn_app().await;
    app.admitted_case().await;
    app.post_cosmic_example("05-planering-paborjad.xml").await;
    app.post_cosmic_example("20-utskriven.xml").await;
    let (_, found) = app
        .get_json(
            OSTERSUND,
            "/fhir/Task?patient=http://electronichealth.se/identifier/personnummer|198112189876",
        )
        .await;
    let reason = "the person was discharged".to_owned();
    // Planning under way is done; a notice nobody took up is no longer needed.
    assert_eq!(
        statuses(&found, "planning-started"),
        vec![("completed".to_owned(), reason.clone())]
    );
    let notices = statuses(&found, "admission-notice");
    assert!(!notices.is_empty());
    assert!(
        notices
            .iter()
            .all(|n| *n == ("cancelled".to_owned(), reason.clone())),
        "{notices:?}"
    );
    // The discharge itself is a completed step, not ended by itself.
    assert_eq!(
        statuses(&found, "discharged"),
        vec![("completed".to_owned(), String::new())]
    );
}
