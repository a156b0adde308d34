//! The official FHIR R4 examples of Task, CarePlan and Patient (`fixtures/fhir-r4-official/`)
//! over HTTP: each is created, read back with no element lost (apart from the server's `id`
//! and `meta`), found by search, changed as its next version and read as it was; created
//! again with `If-None-Exist` it is the same resource; a client of another organisation sees
//! none of them.

use serde_json::{Value, json};

use crate::helpers::{KROKOM, OSTERSUND, TestApp, repo_root, spawn_app};

const EXAMPLES: &[(&str, &str)] = &[
    ("Task-example1.json", "patient=Patient/example"),
    ("Task-example2.json", "patient=Patient/example"),
    ("Task-example3.json", "patient=Patient/f001"),
    ("Task-example4.json", "patient=Patient/example"),
    ("Task-example5.json", "patient=Patient/example"),
    ("Task-example6.json", "patient=Patient/example"),
    ("CarePlan-example.json", "patient=Patient/example"),
    ("CarePlan-gpvisit.json", "patient=Patient/100"),
    (
        "Patient-example.json",
        "identifier=urn:oid:1.2.36.146.595.217.0.1|12345",
    ),
];

fn example(name: &str) -> Value {
    serde_json::from_slice(
        &std::fs::read(repo_root().join("fixtures/fhir-r4-official").join(name)).unwrap(),
    )
    .unwrap()
}

/// `resource` without what the server assigns: `id`, `meta.versionId`, `meta.lastUpdated`
/// (and `meta` itself when nothing else is in it).
fn without_server_elements(mut resource: Value) -> Value {
    let map = resource.as_object_mut().unwrap();
    map.remove("id");
    if let Some(meta) = map.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        if meta.is_empty() {
            map.remove("meta");
        }
    }
    resource
}

async fn send(
    app: &TestApp,
    client: &str,
    method: reqwest::Method,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    app.send_json(client, method, path, body, headers).await
}

async fn get(app: &TestApp, client: &str, path: &str) -> (u16, Value) {
    app.get_json(client, path).await
}

#[tokio::test]
async fn the_official_r4_examples_are_created_read_back_without_loss_searched_and_versioned() {
    let app = spawn_app().await;
    for (name, search) in EXAMPLES {
        let original = example(name);
        let kind = original["resourceType"].as_str().unwrap().to_owned();
        let (status, headers, created) = send(
            &app,
            OSTERSUND,
            reqwest::Method::POST,
            &format!("/fhir/{kind}"),
            &original,
            &[],
        )
        .await;
        assert_eq!(status, 201, "{name}: {created}");
        let id = created["id"].as_str().unwrap().to_owned();
        assert_ne!(
            Some(id.as_str()),
            original["id"].as_str(),
            "{name}: the server gives the id"
        );
        assert_eq!(created["meta"]["versionId"], "1", "{name}");
        assert!(
            headers["x-brygga-warning"]
                .to_str()
                .unwrap()
                .contains("not routed"),
            "{name}: {headers:?}"
        );
        let path = format!("/fhir/{kind}/{id}");
        let (status, read) = get(&app, OSTERSUND, &path).await;
        assert_eq!(status, 200, "{name}: {read}");
        assert_eq!(
            without_server_elements(read.clone()),
            without_server_elements(original.clone()),
            "{name} comes back whole"
        );

        let (status, found) = get(&app, OSTERSUND, &format!("/fhir/{kind}?{search}")).await;
        assert_eq!(status, 200, "{name}: {found}");
        let ids: Vec<&str> = found["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap())
            .collect();
        assert!(
            ids.contains(&id.as_str()),
            "{name}: {search} finds it: {found}"
        );

        // Created again on the condition that no such identifier exists: the same resource.
        if let Some(identifier) = original["identifier"][0]["value"].as_str() {
            let system = original["identifier"][0]["system"]
                .as_str()
                .unwrap_or_default();
            let condition = format!("identifier={system}|{identifier}");
            let (status, _, again) = send(
                &app,
                OSTERSUND,
                reqwest::Method::POST,
                &format!("/fhir/{kind}"),
                &original,
                &[("if-none-exist", &condition)],
            )
            .await;
            // Task examples 1, 5 and 6 (and 2 and 4) share an identifier: a second one
            // makes the condition ambiguous.
            let earlier_with_it = EXAMPLES
                .iter()
                .take_while(|(n, _)| n != name)
                .filter(|(n, _)| example(n)["identifier"][0] == original["identifier"][0])
                .count();
            if earlier_with_it == 0 {
                assert_eq!(status, 200, "{name}: {again}");
                assert_eq!(again["id"], id.as_str(), "{name}");
            } else {
                assert_eq!(status, 412, "{name}: {again}");
            }
        }

        // Changed: version 2; version 1 reads as it was.
        let mut changed = read.clone();
        changed["language"] = json!("sv");
        let (status, headers, updated) = send(
            &app,
            OSTERSUND,
            reqwest::Method::PUT,
            &path,
            &changed,
            &[("if-match", "W/\"1\"")],
        )
        .await;
        assert_eq!(status, 200, "{name}: {updated}");
        assert_eq!(updated["meta"]["versionId"], "2");
        assert_eq!(headers["etag"], "W/\"2\"");
        let (status, outcome) = {
            let (status, _, outcome) = send(
                &app,
                OSTERSUND,
                reqwest::Method::PUT,
                &path,
                &changed,
                &[("if-match", "W/\"1\"")],
            )
            .await;
            (status, outcome)
        };
        assert_eq!(status, 412, "{name}: {outcome}");
        let (_, first) = get(&app, OSTERSUND, &format!("{path}/_history/1")).await;
        assert_eq!(first, read, "{name}");
        let (_, history) = get(&app, OSTERSUND, &format!("{path}/_history")).await;
        assert_eq!(history["total"], 2, "{name}");

        // Another organisation sees none of it.
        let (status, _) = get(&app, KROKOM, &path).await;
        assert_eq!(status, 404, "{name}");
        let (_, theirs) = get(&app, KROKOM, &format!("/fhir/{kind}?{search}")).await;
        assert_eq!(theirs["total"], 0, "{name}: {theirs}");
        let (status, _, _) = send(
            &app,
            KROKOM,
            reqwest::Method::PUT,
            &path,
            &changed,
            &[("if-match", "W/\"2\"")],
        )
        .await;
        assert_ne!(status, 200, "{name}: another organisation cannot change it");
    }
    // Every create, read and change is in the audit log.
    let (_, log) = get(&app, OSTERSUND, "/audit?limit=500").await;
    let actions: Vec<&str> = log["records"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["action"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for action in [
        "create task",
        "read task",
        "update task",
        "create patient",
        "update careplan",
    ] {
        assert!(
            actions.contains(&action),
            "{action} is audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn a_case_persons_patient_is_read_by_its_id_and_not_changed_through_the_api() {
    let app = spawn_app().await;
    app.admitted_case().await;
    let (_, found) = get(
        &app,
        OSTERSUND,
        "/fhir/Patient?identifier=http://electronichealth.se/identifier/personnummer|198112189876",
    )
    .await;
    assert_eq!(found["total"], 1, "{found}");
    let patient = found["entry"][0]["resource"].clone();
    let id = patient["id"].as_str().unwrap();
    let (status, read) = get(&app, OSTERSUND, &format!("/fhir/Patient/{id}")).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, patient);
    assert_eq!(read["meta"]["versionId"], "1");
    let (status, _) = get(&app, OSTERSUND, &format!("/fhir/Patient/{id}/_history/1")).await;
    assert_eq!(status, 200);
    // Tasks are found by the Patient's reference too.
    let (_, tasks) = get(&app, OSTERSUND, &format!("/fhir/Task?patient=Patient/{id}")).await;
    assert_eq!(tasks["total"], 3, "{tasks}");
    // Krokom has no case of the person.
    let (status, _) = get(&app, KROKOM, &format!("/fhir/Patient/{id}")).await;
    assert_eq!(status, 404);
    let (status, _, outcome) = send(
        &app,
        OSTERSUND,
        reqwest::Method::PUT,
        &format!("/fhir/Patient/{id}"),
        &read,
        &[("if-match", "W/\"1\"")],
    )
    .await;
    assert_eq!(status, 422, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("not changed through the API")
    );
}
