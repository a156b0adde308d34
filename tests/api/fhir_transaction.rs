//! `POST /fhir` transactions over HTTP: a plan posted with its task is one step, read back by
//! both principals; resources a client keeps are written together, their references pointed at
//! the ids given, and a stale entry writes nothing; what a transaction cannot carry is refused
//! at the entry.

use serde_json::{Value, json};

use crate::helpers::{OSTERSUND, REGION, TestApp, repo_root, spawn_app};

async fn post(
    app: &TestApp,
    client: &str,
    bundle: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    app.send_json(client, reqwest::Method::POST, "/fhir", bundle, &[])
        .await
}

async fn get(app: &TestApp, client: &str, path: &str) -> (u16, Value) {
    app.get_json(client, path).await
}

fn location(answer: &Value, index: usize) -> String {
    answer["entry"][index]["response"]["location"]
        .as_str()
        .unwrap_or_else(|| panic!("entry {index} has a location: {answer}"))
        .to_owned()
}

#[tokio::test]
async fn a_plan_posted_with_its_task_is_one_step_that_both_principals_read() {
    let app = spawn_app().await;
    app.admitted_case().await;
    app.sip_consent().await;
    // The region's SIP plan as the gateway renders it, sent as a transaction.
    let mut bundle: Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("fixtures/cosmic-link/to-fhir/18-plan-sip.json")).unwrap(),
    )
    .unwrap();
    bundle["type"] = json!("transaction");
    for entry in bundle["entry"].as_array_mut().unwrap() {
        let kind = entry["resource"]["resourceType"]
            .as_str()
            .unwrap()
            .to_owned();
        entry["request"] = json!({ "method": "POST", "url": kind });
    }
    let kinds: Vec<String> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["Patient", "CarePlan", "Task"]);
    let (status, _, answer) = post(&app, REGION, &bundle).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["type"], "transaction-response");
    assert_eq!(answer["entry"].as_array().unwrap().len(), 3);
    assert_eq!(answer["entry"][0]["response"]["status"], "200 OK");
    assert!(location(&answer, 0).starts_with("Patient/"));
    assert_eq!(answer["entry"][1]["response"]["status"], "201 Created");
    let plan = location(&answer, 1);
    assert!(
        plan.starts_with("CarePlan/") && plan.ends_with("/_history/1"),
        "{plan}"
    );
    let task = location(&answer, 2);
    assert!(task.starts_with("Task/"), "{task}");
    let plan_id = plan.split('/').nth(1).unwrap();
    assert_eq!(answer["entry"][1]["resource"]["id"], plan_id);

    // The municipality reads the plan and the Task that points at it.
    let (status, read) = get(&app, OSTERSUND, &format!("/fhir/CarePlan/{plan_id}")).await;
    assert_eq!(status, 200, "{read}");
    let task_id = task.split('/').nth(1).unwrap();
    let (status, read) = get(&app, OSTERSUND, &format!("/fhir/Task/{task_id}")).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(
        read["focus"]["reference"],
        format!("CarePlan/{plan_id}").as_str()
    );
    assert_eq!(read["code"]["coding"][0]["code"], "sip-plan");
    // Sent again, it is the same step.
    let (status, _, again) = post(&app, REGION, &bundle).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(location(&again, 2), task);
    let (_, plans) = get(
        &app,
        OSTERSUND,
        "/fhir/CarePlan?patient=http://electronichealth.se/identifier/personnummer|198112189876",
    )
    .await;
    assert_eq!(plans["total"], 1, "{plans}");
}

#[tokio::test]
async fn kept_resources_are_written_together_or_not_at_all() {
    let app = spawn_app().await;
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:7f1c0a3e-4b6d-4f0a-9d1e-2b3c4d5e6f70",
                "resource": { "resourceType": "Patient", "identifier": [{ "system": "urn:example:mrn", "value": "A-1" }] },
                "request": { "method": "POST", "url": "Patient" }
            },
            {
                "resource": {
                    "resourceType": "Task",
                    "status": "requested",
                    "intent": "order",
                    "for": { "reference": "urn:uuid:7f1c0a3e-4b6d-4f0a-9d1e-2b3c4d5e6f70" }
                },
                "request": { "method": "POST", "url": "Task" }
            }
        ]
    });
    let (status, headers, answer) = post(&app, OSTERSUND, &bundle).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        headers["x-brygga-warning"]
            .to_str()
            .unwrap()
            .contains("not routed")
    );
    let patient = location(&answer, 0);
    let task = location(&answer, 1);
    let patient_ref = patient.trim_end_matches("/_history/1");
    assert_eq!(
        answer["entry"][1]["resource"]["for"]["reference"], patient_ref,
        "the reference points at the id given"
    );
    let task_path = format!("/fhir/{}", task.trim_end_matches("/_history/1"));
    let (status, read) = get(&app, OSTERSUND, &task_path).await;
    assert_eq!(status, 200, "{read}");
    let (_, found) = get(
        &app,
        OSTERSUND,
        &format!("/fhir/Task?patient={patient_ref}"),
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");

    // A change on a stale version takes the new Patient with it.
    let task_id = task_path.rsplit('/').next().unwrap().to_owned();
    let mut changed = read.clone();
    changed["status"] = json!("completed");
    let change = |version: &str| {
        json!({
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": { "resourceType": "Patient", "identifier": [{ "system": "urn:example:mrn", "value": "B-2" }] },
                    "request": { "method": "POST", "url": "Patient" }
                },
                {
                    "resource": changed.clone(),
                    "request": { "method": "PUT", "url": format!("Task/{task_id}"), "ifMatch": version }
                }
            ]
        })
    };
    let (status, _, answer) = post(&app, OSTERSUND, &change("W/\"1\"")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entry"][1]["response"]["status"], "200 OK");
    assert_eq!(answer["entry"][1]["response"]["etag"], "W/\"2\"");
    let (status, _, outcome) = post(&app, OSTERSUND, &change("W/\"1\"")).await;
    assert_eq!(status, 412, "{outcome}");
    // An entry that names no version is refused too (server.require_if_match), and with it
    // the whole transaction.
    let mut unversioned = change("W/\"2\"");
    unversioned["entry"][1]["request"]
        .as_object_mut()
        .unwrap()
        .remove("ifMatch");
    let (status, _, outcome) = post(&app, OSTERSUND, &unversioned).await;
    assert_eq!(status, 412, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("request.ifMatch"),
        "{outcome}"
    );
    let (_, patients) = get(
        &app,
        OSTERSUND,
        "/fhir/Patient?identifier=urn:example:mrn|B-2",
    )
    .await;
    assert_eq!(
        patients["total"], 1,
        "only the first transaction's Patient: {patients}"
    );
    let (_, task_now) = get(&app, OSTERSUND, &task_path).await;
    assert_eq!(task_now["meta"]["versionId"], "2");
}

#[tokio::test]
async fn what_a_transaction_cannot_carry_is_refused_at_the_entry_and_nothing_is_written() {
    let app = spawn_app().await;
    app.admitted_case().await;
    let official: Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("fixtures/fhir-r4-official/Task-example1.json")).unwrap(),
    )
    .unwrap();
    let step: Value = serde_json::from_slice(
        &std::fs::read(
            repo_root().join("fixtures/fhir/inputs/transaction-planning-started-by-vendor.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut mixed = step.clone();
    mixed["entry"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "resource": official, "request": { "method": "POST", "url": "Task" } }));
    let observation = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{ "resource": { "resourceType": "Observation", "status": "final" }, "request": { "method": "POST", "url": "Observation" } }]
    });
    let mut batch = step.clone();
    batch["type"] = json!("batch");
    for (bundle, status, expression) in [
        (mixed, 422, "Bundle.entry[3].resource"),
        (observation, 422, "Bundle.entry[0].resource"),
        (batch, 422, "Bundle.type"),
        (
            json!({ "resourceType": "Task" }),
            400,
            "Bundle.resourceType",
        ),
    ] {
        let (got, _, outcome) = post(&app, OSTERSUND, &bundle).await;
        assert_eq!(got, status, "{outcome}");
        assert_eq!(
            outcome["issue"][0]["expression"][0], expression,
            "{outcome}"
        );
    }
    let (_, tasks) = get(
        &app,
        OSTERSUND,
        "/fhir/Task?patient=http://electronichealth.se/identifier/personnummer|198112189876&code=planning-started",
    )
    .await;
    assert_eq!(
        tasks["total"], 0,
        "the refused step was not recorded: {tasks}"
    );
    // The vendor's step alone is recorded.
    let (status, _, answer) = post(&app, OSTERSUND, &step).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entry"][2]["response"]["status"], "201 Created");
}

#[tokio::test]
async fn a_sparse_lvm_report_sent_over_fhir_is_warned_of_in_the_headers() {
    let app = spawn_app().await;
    // The 6 § LVM report as the gateway renders it, without what the person misuses or the
    // grounds: recorded, with the warning in an x-brygga-warning header.
    let mut bundle: Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("fixtures/cosmic-link/to-fhir/22-lvm-anmalan.json"))
            .unwrap(),
    )
    .unwrap();
    bundle["type"] = json!("transaction");
    for entry in bundle["entry"].as_array_mut().unwrap() {
        let kind = entry["resource"]["resourceType"]
            .as_str()
            .unwrap()
            .to_owned();
        entry["request"] = json!({ "method": "POST", "url": kind });
        if let Some(inputs) = entry["resource"]
            .get_mut("input")
            .and_then(Value::as_array_mut)
        {
            inputs.retain(|input| {
                let code = input["type"]["coding"][0]["code"].as_str().unwrap_or("");
                code != "substance" && code != "lvm-ground"
            });
        }
    }
    let (status, headers, answer) = post(&app, REGION, &bundle).await;
    assert_eq!(status, 200, "{answer}");
    let warnings: Vec<String> = headers
        .get_all("x-brygga-warning")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("the 6 § LVM report does not say what the person misuses")),
        "{warnings:?}"
    );
}
