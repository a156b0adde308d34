//! Real FHIR client libraries against the running gateway, as a vendor's integration would use
//! them (Python, installed by `scripts/python-clients.sh`): fhirpy creates, reads, searches
//! (following `next` links), counts and updates Tasks and reads the Patient
//! (`tests/clients/fhirpy_client.py`); SMART's fhirclient, whose R4 models parse every answer
//! strictly, pages, reads, updates with `If-Match` and subscribes
//! (`tests/clients/fhirclient_session.py`).

use serde_json::Value;

use crate::helpers::{OSTERSUND, repo_root, run_client, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_fhir_client_creates_reads_searches_and_updates_tasks() {
    let inbox = crate::helpers::receiver().await;
    let app = spawn_app().await;
    app.admitted_case().await;
    let summary = run_client(
        "fhirpy_client.py",
        vec![
            ("BRYGGA_FHIR_BASE", app.url("/fhir")),
            ("BRYGGA_TOKEN", app.token(OSTERSUND, None).await),
            (
                "BRYGGA_FIXTURES",
                repo_root().join("fixtures").display().to_string(),
            ),
            ("BRYGGA_RECEIVER", inbox.url.clone()),
        ],
    )
    .await;
    assert_eq!(summary["process_tasks"], 3);
    assert!(summary["subscription"].is_string(), "{summary}");
    assert_eq!(inbox.wait_for(1).await.len(), 1);
    assert!(
        summary["refusal"]
            .as_str()
            .unwrap()
            .contains("no-such-step"),
        "{summary}"
    );
    // The change the client made is the case's: the region sees it.
    let id = summary["changed_step"].as_str().unwrap();
    let read: Value = app
        .as_client(crate::helpers::REGION)
        .await
        .get(app.url(&format!("/fhir/Task/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "in-progress", "{read}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smart_fhirclient_pages_reads_updates_and_subscribes() {
    let inbox = crate::helpers::receiver().await;
    let app = spawn_app().await;
    app.admitted_case().await;
    let summary = run_client(
        "fhirclient_session.py",
        vec![
            ("BRYGGA_FHIR_BASE", app.url("/fhir")),
            ("BRYGGA_TOKEN", app.token(OSTERSUND, None).await),
            ("BRYGGA_RECEIVER", inbox.url.clone()),
        ],
    )
    .await;
    assert_eq!(summary["paged_tasks"], 3);
    let searchable = summary["searchable"].as_array().unwrap();
    for parameter in [
        "patient",
        "owner",
        "status",
        "identifier",
        "_summary",
        "_elements",
    ] {
        assert!(searchable.iter().any(|p| p == parameter), "{summary}");
    }
    // The subscription's handshake reached the receiver.
    let handshake = inbox.wait_for(1).await;
    let notification: Value = serde_json::from_str(&handshake[0].body).unwrap();
    assert_eq!(notification["type"], "history", "{notification}");
    // The change the client made is the case's: the region sees it.
    let id = summary["changed_step"].as_str().unwrap();
    let read: Value = app
        .as_client(crate::helpers::REGION)
        .await
        .get(app.url(&format!("/fhir/Task/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "in-progress", "{read}");
    assert_eq!(read["meta"]["versionId"], "2", "{read}");
}
