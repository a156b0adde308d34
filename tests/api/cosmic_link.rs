//! `POST /cosmic-link/v1/messages` and `POST /translate` over real HTTP.

use serde_json::Value;

use crate::helpers::{TestApp, cosmic_example, repo_root, spawn_app};

fn example(name: &str) -> Vec<u8> {
    cosmic_example(name)
}

async fn post_message(app: &TestApp, body: Vec<u8>) -> reqwest::Response {
    app.post_cosmic_link(body).await
}

async fn count(app: &TestApp, table: &str) -> u64 {
    app.store
        .table_counts()
        .await
        .unwrap()
        .into_iter()
        .find(|(t, _)| *t == table)
        .unwrap()
        .1
}

#[tokio::test]
async fn an_admission_notice_is_accepted_with_a_receipt_naming_case_and_event() {
    let app = spawn_app().await;
    let response = post_message(&app, example("01-inskrivningsmeddelande.xml")).await;
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["status"], "accepted");
    assert_eq!(receipt["message_id"], "CL-2026-0001");
    assert_eq!(receipt["kind"], "admission_notice");
    assert_eq!(receipt["sequence"], 1);
    assert_eq!(receipt["warnings"], serde_json::json!([]));
    let case_id =
        brygga::domain::case::CaseId::parse(receipt["case_id"].as_str().unwrap()).unwrap();
    let stored = app
        .store
        .load_case(case_id)
        .await
        .unwrap()
        .expect("case stored");
    assert_eq!(stored.events.len(), 1);
    assert_eq!(
        stored.events[0].event.id.to_string(),
        receipt["event_id"].as_str().unwrap()
    );
    // One record of the receipt, and one disclosure per recipient (three in the example).
    let audit = app.store.audit_for_case(case_id).await.unwrap();
    assert_eq!(audit[0].action, "receive admission_notice");
    assert_eq!(audit.len(), 1 + 3);
    assert!(
        audit[1..]
            .iter()
            .all(|r| r.action == "disclose admission_notice" && r.legal_basis.is_some())
    );
}

#[tokio::test]
async fn the_same_message_sent_twice_gets_the_same_receipt_and_one_event() {
    let app = spawn_app().await;
    let first: Value = post_message(&app, example("01-inskrivningsmeddelande.xml"))
        .await
        .json()
        .await
        .unwrap();
    let second = post_message(&app, example("01-inskrivningsmeddelande.xml")).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.json::<Value>().await.unwrap(), first);
    assert_eq!(count(&app, "events").await, 1);
    // The login, the receipt and one disclosure per recipient: nothing for the second.
    assert_eq!(count(&app, "audit_log").await, 2 + 3);
}

#[tokio::test]
async fn a_discharge_case_is_carried_from_admission_to_discharge() {
    let app = spawn_app().await;
    let mut case_id = None;
    for (n, name) in [
        "01-inskrivningsmeddelande.xml",
        "03-samtycke.xml",
        "04-fast-vardkontakt.xml",
        "05-planering-paborjad.xml",
        "06-andrad-beraknad-utskrivning.xml",
        "07-samtycke-sip.xml",
        "08-utskrivningsklar.xml",
        "11-kallelse-sip.xml",
        "14-svar-kallelse.xml",
        "18-plan-sip.xml",
        "19-information-vid-utskrivning.xml",
        "20-utskriven.xml",
    ]
    .iter()
    .enumerate()
    {
        let response = post_message(&app, example(name)).await;
        assert_eq!(
            response.status(),
            200,
            "{name}: {}",
            response.text().await.unwrap()
        );
        let receipt: Value = response.json().await.unwrap();
        assert_eq!(receipt["sequence"], n as u64 + 1, "{name}");
        let id = receipt["case_id"].as_str().unwrap().to_owned();
        assert_eq!(
            case_id.get_or_insert(id.clone()),
            &id,
            "{name} landed in another case"
        );
    }
    let case_id = brygga::domain::case::CaseId::parse(&case_id.unwrap()).unwrap();
    let case = app
        .store
        .load_case(case_id)
        .await
        .unwrap()
        .unwrap()
        .to_case()
        .unwrap();
    assert_eq!(case.phase(), brygga::domain::case::Phase::Discharged);
    assert!(app.store.verify_audit_chain().await.unwrap().is_intact());
}

#[tokio::test]
async fn a_step_that_does_not_fit_the_case_answers_409_and_stores_nothing() {
    let app = spawn_app().await;
    // Into a case that does not exist: answered as a case of another organisation is.
    let response = post_message(&app, example("08-utskrivningsklar.xml")).await;
    assert_eq!(response.status(), 404);
    let outcome: Value = response.json().await.unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("that this client takes part in"),
        "{outcome}"
    );

    post_message(&app, example("01-inskrivningsmeddelande.xml")).await;
    let response = post_message(&app, example("16-svar-pa-kommunens-kallelse.xml")).await;
    assert_eq!(response.status(), 409);
    let outcome: Value = response.json().await.unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("OSD-SIP-2026-118"),
        "{outcome}"
    );
    assert_eq!(count(&app, "events").await, 1);
    assert_eq!(count(&app, "received_messages").await, 1);
}

#[tokio::test]
async fn every_malformed_message_answers_400_naming_the_problem_and_stores_nothing() {
    let app = spawn_app().await;
    let dir = repo_root().join("fixtures/cosmic-link/errors");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "xml") {
            let response = post_message(&app, std::fs::read(&path).unwrap()).await;
            assert_eq!(response.status(), 400, "{}", path.display());
            let outcome: Value = response.json().await.unwrap();
            let expected = std::fs::read_to_string(path.with_extension("error")).unwrap();
            assert_eq!(outcome["resourceType"], "OperationOutcome");
            assert_eq!(
                outcome["issue"][0]["diagnostics"],
                expected.trim_end(),
                "{}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 10);
    for table in ["cases", "events", "received_messages", "outbox"] {
        assert_eq!(count(&app, table).await, 0, "{table}");
    }
    // Only the client's login is in the audit log.
    assert_eq!(count(&app, "audit_log").await, 1);
}

#[tokio::test]
async fn the_outcome_points_at_the_offending_element() {
    let app = spawn_app().await;
    let body = std::fs::read(
        repo_root().join("fixtures/cosmic-link/errors/unknown-service-type-code.xml"),
    )
    .unwrap();
    let outcome: Value = post_message(&app, body).await.json().await.unwrap();
    assert_eq!(
        outcome["issue"][0]["expression"][0],
        "/CosmicLinkMeddelande/Plan/Insats/Insatstyp"
    );
}

#[tokio::test]
async fn a_json_body_is_refused_with_415() {
    let app = spawn_app().await;
    let response = app
        .region()
        .await
        .post(app.url("/cosmic-link/v1/messages"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn translate_converts_without_storing_and_reports_unmapped_input() {
    let app = spawn_app().await;
    let xml = String::from_utf8(example("20-utskriven.xml"))
        .unwrap()
        .replace(
            "</Utskriven>",
            "  <Transport>Taxi</Transport>\n  </Utskriven>",
        );
    let response = app
        .region()
        .await
        .post(app.url("/translate?from=cosmic-link&to=canonical"))
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let warnings: Vec<&str> = response
        .headers()
        .get_all("x-brygga-warning")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("/CosmicLinkMeddelande/Utskriven/Transport"));
    let canonical = response.text().await.unwrap();
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root().join("fixtures/cosmic-link/to-canonical/20-utskriven.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&canonical).unwrap(), golden);

    let back = app
        .region()
        .await
        .post(app.url("/translate?from=canonical&to=cosmic-link"))
        .body(canonical)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    assert!(
        back.text()
            .await
            .unwrap()
            .contains("<Tidpunkt>2026-11-27T14:30:00</Tidpunkt>")
    );
    assert_eq!(count(&app, "events").await, 0);

    let unknown = app
        .region()
        .await
        .post(app.url("/translate?from=cosmic-link&to=hl7v2"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let outcome: Value = unknown.json().await.unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("hl7v2")
    );
}

#[tokio::test]
async fn translate_reads_a_fhir_task_update_into_cosmic_link_and_reports_what_it_does_not_carry() {
    let app = spawn_app().await;
    let mut task: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root().join("fixtures/fhir/inputs/task-update-accepts-invitation.json"),
        )
        .unwrap(),
    )
    .unwrap();
    task["note"] = serde_json::json!([{ "text": "Vi kommer två." }]);
    let response = app
        .region()
        .await
        .post(app.url("/translate?from=fhir&to=cosmic-link"))
        .body(task.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/xml");
    let warnings: Vec<&str> = response
        .headers()
        .get_all("x-brygga-warning")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(warnings, ["Task.note: not mapped; not carried on"]);
    let xml = response.text().await.unwrap();
    let golden = std::fs::read_to_string(
        repo_root().join("fixtures/fhir/to-cosmic-link/task-update-accepts-invitation.xml"),
    )
    .unwrap();
    assert_eq!(xml.trim_end(), golden.trim_end());

    task["lastModified"] = serde_json::json!("2026-11-25");
    let refused = app
        .region()
        .await
        .post(app.url("/translate?from=fhir&to=cosmic-link"))
        .body(task.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let outcome: Value = refused.json().await.unwrap();
    assert_eq!(outcome["issue"][0]["expression"][0], "Task.lastModified");
    assert_eq!(count(&app, "events").await, 0);
}

#[tokio::test]
async fn concurrent_messages_of_one_case_all_land_in_order_of_commit() {
    let app = spawn_app().await;
    post_message(&app, example("01-inskrivningsmeddelande.xml")).await;
    // Three independent steps of the same case at once: the group committer and the retry on
    // version conflicts must land all three.
    let bodies = [
        "06-andrad-beraknad-utskrivning.xml",
        "04-fast-vardkontakt.xml",
        "05-planering-paborjad.xml",
    ];
    let mut tasks = Vec::new();
    for name in bodies {
        let client = app.region().await;
        let url = app.url("/cosmic-link/v1/messages");
        let body = example(name);
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", "application/xml")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(count(&app, "events").await, 4);
    let mut sequences: Vec<u64> = Vec::new();
    let case_id = app
        .store
        .cases_for_person(&brygga::domain::identifiers::PersonId::Personnummer(
            brygga::domain::identifiers::Personnummer::parse("19811218-9876").unwrap(),
        ))
        .await
        .unwrap()[0];
    for event in app.store.load_case(case_id).await.unwrap().unwrap().events {
        sequences.push(event.seq);
    }
    assert_eq!(sequences, [1, 2, 3, 4]);
}

#[tokio::test]
async fn a_message_about_another_person_in_an_existing_case_answers_422() {
    let app = spawn_app().await;
    post_message(&app, example("01-inskrivningsmeddelande.xml")).await;
    let other_person = String::from_utf8(example("06-andrad-beraknad-utskrivning.xml"))
        .unwrap()
        .replace("19811218-9876", "19121212-1212");
    let response = post_message(&app, other_person.into_bytes()).await;
    assert_eq!(response.status(), 422);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["issue"][0]["code"], "business-rule");
    let diagnostics = outcome["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(diagnostics.contains("SA-2026-004711"), "{diagnostics}");
    assert!(
        !diagnostics.contains("1212"),
        "the answer must not show a personnummer: {diagnostics}"
    );
    assert_eq!(count(&app, "events").await, 1);
}

#[tokio::test]
async fn stats_answer_per_unit_for_a_period_and_refuse_a_bad_one() {
    let app = spawn_app().await;
    assert_eq!(
        post_message(&app, example("01-inskrivningsmeddelande.xml"))
            .await
            .status(),
        200
    );
    let response = app
        .region()
        .await
        .get(app.url("/stats?from=2026-11-01&to=2026-12-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stats: Value = response.json().await.unwrap();
    assert_eq!(stats["from"], "2026-11-01");
    assert_eq!(stats["cases"], 1);
    assert_eq!(stats["total"]["admission_notices"], 1);
    assert_eq!(stats["total"]["admission_notices_on_time"], 1);
    assert_eq!(stats["rows"][0]["unit"], "SE2321000214-E1AV");
    assert!(
        !stats.to_string().contains("198112189876"),
        "statistics carry no personal data"
    );

    for (query, problem) in [
        ("from=2026-13-01", "from is a date"),
        ("from=2026-12-01&to=2026-11-01", "the period is empty"),
    ] {
        let refused = app
            .region()
            .await
            .get(app.url(&format!("/stats?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{query}");
        let outcome: Value = refused.json().await.unwrap();
        assert!(
            outcome["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(problem),
            "{outcome}"
        );
    }
}

#[tokio::test]
async fn an_incomplete_plan_is_refused_naming_what_is_missing() {
    let app = spawn_app().await;
    assert_eq!(
        post_message(&app, example("01-inskrivningsmeddelande.xml"))
            .await
            .status(),
        200
    );
    let plan = String::from_utf8(example("18-plan-sip.xml"))
        .unwrap()
        .replace("<Ansvarig>kommun</Ansvarig>", "<Ansvarig>annan</Ansvarig>")
        .replace("<Ansvarig>region</Ansvarig>", "<Ansvarig>annan</Ansvarig>");
    let response = post_message(&app, plan.into_bytes()).await;
    assert_eq!(response.status(), 422);
    let outcome: Value = response.json().await.unwrap();
    let diagnostics = outcome["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(
        diagnostics.contains("incomplete") && diagnostics.contains("which principal answers"),
        "{diagnostics}"
    );
    assert_eq!(
        count(&app, "events").await,
        1,
        "nothing of the plan is stored"
    );
}

#[tokio::test]
async fn a_services_decision_without_its_date_is_recorded_with_a_warning() {
    let app = spawn_app().await;
    let response = post_message(&app, example("01-inskrivningsmeddelande.xml")).await;
    assert_eq!(response.status(), 200);
    let undated = String::from_utf8(example("15-beviljade-insatser.xml"))
        .unwrap()
        .replace("    <Beslutsdatum>2026-11-25</Beslutsdatum>\n", "");
    let response = post_message(&app, undated.into_bytes()).await;
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    assert!(
        receipt["warnings"]
            .to_string()
            .contains("the services decision gives no decision date"),
        "{receipt}"
    );
}

#[tokio::test]
async fn a_message_in_latin_1_is_read_as_its_declaration_or_content_type_says() {
    let app = spawn_app().await;
    let utf8 = String::from_utf8(example("01-inskrivningsmeddelande.xml")).unwrap();
    let bare = utf8.replacen(" encoding=\"UTF-8\"", "", 1);
    assert_ne!(bare, utf8, "the example declares its encoding");
    let latin1 = |text: &str| encoding_rs::WINDOWS_1252.encode(text).0.into_owned();
    let post = |body: Vec<u8>, content_type: &'static str| {
        let app = &app;
        async move {
            app.region()
                .await
                .post(app.url("/cosmic-link/v1/messages"))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    // Undeclared Latin-1 is not UTF-8: refused at its first such byte, nothing stored …
    let refused = post(latin1(&bare), "application/xml").await;
    assert_eq!(refused.status(), 400);
    let outcome: Value = refused.json().await.unwrap();
    let diagnostics = outcome["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(diagnostics.contains("not UTF-8 at line"), "{diagnostics}");
    assert_eq!(count(&app, "events").await, 0);
    // … unless its Content-Type says what it is; then it is the same message as in UTF-8.
    let first = post(latin1(&bare), "application/xml; charset=ISO-8859-1").await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again = post(utf8.clone().into_bytes(), "application/xml").await;
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(count(&app, "events").await, 1);
    // What the document says decides over the Content-Type.
    let declared = latin1(&utf8.replacen("UTF-8", "ISO-8859-1", 1));
    let third = post(declared, "application/xml; charset=UTF-8").await;
    assert_eq!(third.status(), 200);
    assert_eq!(count(&app, "events").await, 1);
}
