//! FHIR `Patient` and `Task` over HTTP: the person of the caller's cases and their steps, as
//! released to the caller (nothing for an organisation without a case of the person); a step
//! a client reports as a Task, and a Task the gateway sent changed by its owner, recorded.

use serde_json::Value;

use crate::helpers::{OSTERSUND, spawn_app};

#[tokio::test]
async fn a_patient_is_found_by_identifier_by_the_organisations_of_its_cases_only() {
    let app = spawn_app().await;
    app.admitted_case().await;
    let search = |client: &'static str| {
        let app = &app;
        async move {
            let response = app
                .as_client(client)
                .await
                .get(app.url(
                    "/fhir/Patient?identifier=http://electronichealth.se/identifier/personnummer|198112189876",
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let found = search(OSTERSUND).await;
    assert_eq!(found["total"], 1, "{found}");
    let patient = &found["entry"][0]["resource"];
    assert_eq!(patient["resourceType"], "Patient");
    assert_eq!(patient["identifier"][0]["value"], "198112189876");
    assert_eq!(patient["name"][0]["family"], "Lindqvist");
    assert_eq!(patient["address"][0]["city"], "Östersund");
    // The same id as in every Bundle the gateway sends.
    assert_eq!(
        found["entry"][0]["fullUrl"],
        format!("Patient/{}", patient["id"].as_str().unwrap())
    );
    // Krokom takes no part in the case: nothing, as for a person unknown to the gateway.
    let none = search(crate::helpers::KROKOM).await;
    assert_eq!(none["total"], 0, "{none}");
    // A malformed identifier says what is wrong.
    let response = app
        .as_client(OSTERSUND)
        .await
        .get(app.url("/fhir/Patient?identifier=nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_persons_steps_are_searched_as_tasks_with_filters_and_the_patient_included() {
    let app = spawn_app().await;
    app.admitted_case().await;
    app.post_cosmic_example("02-andrad-beraknad-utskrivning.xml")
        .await;
    let search = |client: &'static str, query: &'static str| {
        let app = &app;
        async move {
            let response = app
                .as_client(client)
                .await
                .get(app.url(&format!(
                    "/fhir/Task?patient=http://electronichealth.se/identifier/personnummer|198112189876{query}"
                )))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, all) = search(OSTERSUND, "&_include=Task:patient").await;
    assert_eq!(status, 200, "{all}");
    let entries = all["entry"].as_array().unwrap();
    let tasks: Vec<&Value> = entries
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| &e["resource"])
        .collect();
    assert_eq!(all["total"], tasks.len());
    assert!(tasks.len() >= 2, "{all}");
    assert!(tasks.iter().all(|t| t["resourceType"] == "Task"));
    // The included Patient, and every Task's subject pointing at it.
    let included: Vec<&Value> = entries
        .iter()
        .filter(|e| e["search"]["mode"] == "include")
        .collect();
    assert_eq!(included.len(), 1, "{all}");
    let patient = format!(
        "Patient/{}",
        included[0]["resource"]["id"].as_str().unwrap()
    );
    assert!(
        tasks
            .iter()
            .all(|t| t["for"]["reference"] == patient.as_str()),
        "{all}"
    );
    // The admission notice to its three recipients, and the changed estimate.
    assert_eq!(all["total"], 4, "{all}");
    for (query, expected) in [
        ("&code=estimated-discharge-changed", 1),
        (
            "&code=urn:brygga:fhir:CodeSystem:process-step|admission-notice",
            3,
        ),
        ("&code=urn:other|admission-notice", 0),
        ("&status=completed", 1),
        ("&status=requested,completed", 4),
        ("&status=cancelled", 0),
    ] {
        let (status, found) = search(OSTERSUND, query).await;
        assert_eq!(status, 200, "{query}: {found}");
        assert_eq!(found["total"], expected, "{query}: {found}");
    }
    // Krokom takes no part in the case.
    let (_, theirs) = search(crate::helpers::KROKOM, "").await;
    assert_eq!(theirs["total"], 0, "{theirs}");
    // Without a patient, or with a parameter not offered, the search says what to do.
    let response = app
        .as_client(OSTERSUND)
        .await
        .get(app.url("/fhir/Task?owner=Organization/2380"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

async fn task_request(
    app: &crate::helpers::TestApp,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = app
        .as_client(OSTERSUND)
        .await
        .request(method, app.url(path))
        .header("content-type", "application/fhir+json")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

async fn tasks_with_code(app: &crate::helpers::TestApp, code: &str) -> Value {
    app.as_client(OSTERSUND)
        .await
        .get(app.url(&format!(
            "/fhir/Task?patient=http://electronichealth.se/identifier/personnummer|198112189876&code={code}"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_task_the_gateway_sent_changed_by_its_owner_records_the_step() {
    let app = spawn_app().await;
    app.admitted_case().await;
    // Hemsjukvården's admission notice Task, found by search, moved to in-progress.
    let found = tasks_with_code(&app, "admission-notice").await;
    let mut task = found["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .find(|t| t["owner"]["identifier"]["value"] == "SE2120002411-HSJV")
        .unwrap();
    let id = task["id"].as_str().unwrap().to_owned();
    task["status"] = serde_json::json!("in-progress");
    task["lastModified"] = serde_json::json!("2026-11-23T13:30:00+01:00");
    let (status, headers, answer) = task_request(
        &app,
        reqwest::Method::PUT,
        &format!("/fhir/Task/{id}"),
        &task,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], id.as_str());
    assert_eq!(headers["location"], format!("/fhir/Task/{id}").as_str());
    // The change is the municipality's step: planning started.
    let planning = tasks_with_code(&app, "planning-started").await;
    assert_eq!(planning["total"], 1, "{planning}");
    // Sent again, it is the same change (the same receipt).
    let (status, _, _) = task_request(
        &app,
        reqwest::Method::PUT,
        &format!("/fhir/Task/{id}"),
        &task,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(tasks_with_code(&app, "planning-started").await["total"], 1);
    // The id in the body must be the one in the URL.
    let (status, _, outcome) =
        task_request(&app, reqwest::Method::PUT, "/fhir/Task/another-id", &task).await;
    assert_eq!(status, 400);
    assert_eq!(outcome["issue"][0]["expression"][0], "Task.id");
}

#[tokio::test]
async fn a_step_the_client_reports_as_a_task_is_recorded_and_found_under_the_id_it_is_given() {
    let app = spawn_app().await;
    app.admitted_case().await;
    let hemsjukvarden = serde_json::json!({
        "type": "Organization",
        "identifier": { "system": "urn:oid:1.2.752.29.4.19", "value": "SE2120002411-HSJV" },
        "extension": [{
            "url": "urn:brygga:fhir:StructureDefinition:municipality",
            "valueIdentifier": { "system": "urn:oid:1.2.752.129.2.2.1.17", "value": "2380" }
        }]
    });
    let task = serde_json::json!({
        "resourceType": "Task",
        "identifier": [{ "system": "urn:oid:1.2.752.129.2.2.1.17.2380.msg", "value": "LC-1" }],
        "groupIdentifier": {
            "system": "urn:brygga:case-reference:SE2321000214-1000",
            "value": "SA-2026-004711"
        },
        "status": "in-progress",
        "intent": "order",
        "code": { "coding": [{
            "system": "urn:brygga:fhir:CodeSystem:process-step",
            "code": "planning-started"
        }]},
        "for": { "identifier": {
            "system": "http://electronichealth.se/identifier/personnummer",
            "value": "198112189876"
        }},
        "authoredOn": "2026-11-23T13:05:00+01:00",
        "requester": hemsjukvarden.clone(),
        "owner": hemsjukvarden,
    });
    let (status, headers, answer) =
        task_request(&app, reqwest::Method::POST, "/fhir/Task", &task).await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/fhir/Task/{id}").as_str());
    let planning = tasks_with_code(&app, "planning-started").await;
    assert_eq!(planning["total"], 1, "{planning}");
    assert_eq!(planning["entry"][0]["resource"]["id"], id.as_str());
    // A Task that breaks the contract says where.
    let mut wrong = task.clone();
    wrong["code"]["coding"][0]["code"] = serde_json::json!("no-such-step");
    let (status, _, outcome) =
        task_request(&app, reqwest::Method::POST, "/fhir/Task", &wrong).await;
    assert_eq!(status, 400, "{outcome}");
    assert!(
        outcome["issue"][0]["expression"][0]
            .as_str()
            .unwrap()
            .starts_with("Task.code")
    );
}
