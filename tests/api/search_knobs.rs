//! The search and write knobs FHIR clients send: `Prefer: handling` (lenient by default, an
//! unknown parameter reported in the Bundle; strict refuses it), `_summary`, `_elements`,
//! `_total`, Task `identifier`, and `Prefer: return` on a create.

use serde_json::Value;

use crate::helpers::{OSTERSUND, TestApp, spawn_app};

const PERSON: &str =
    "/fhir/Task?patient=http://electronichealth.se/identifier/personnummer|198112189876";

async fn get(app: &TestApp, path: &str, prefer: Option<&str>) -> (u16, Value) {
    let mut request = app.as_client(OSTERSUND).await.get(app.url(path));
    if let Some(prefer) = prefer {
        request = request.header("prefer", prefer);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn matched(bundle: &Value) -> Vec<&Value> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| &e["resource"])
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_unknown_parameter_is_ignored_and_reported_unless_the_client_is_strict() {
    let app = spawn_app().await;
    app.admitted_case().await;
    let (status, lenient) = get(&app, &format!("{PERSON}&_text=x"), None).await;
    assert_eq!(status, 200, "{lenient}");
    assert_eq!(lenient["total"], 3);
    let outcome = lenient["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("an OperationOutcome entry");
    assert_eq!(outcome["resource"]["issue"][0]["code"], "not-supported");
    assert!(
        !lenient["link"][0]["url"]
            .as_str()
            .unwrap()
            .contains("_text"),
        "the self link names only what was used: {lenient}"
    );
    let (status, strict) = get(&app, &format!("{PERSON}&_text=x"), Some("handling=strict")).await;
    assert_eq!(status, 400);
    assert!(
        strict["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("\"_text\" is not supported"),
        "{strict}"
    );
    let (status, _) = get(&app, PERSON, Some("handling=sloppy")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn summaries_elements_and_totals_shape_searches_and_reads() {
    let app = spawn_app().await;
    app.admitted_case().await;
    let (status, count) = get(&app, &format!("{PERSON}&_summary=count"), None).await;
    assert_eq!(status, 200);
    assert_eq!(count["total"], 3);
    assert!(count.get("entry").is_none(), "{count}");

    let (_, full) = get(&app, PERSON, None).await;
    assert!(matched(&full).iter().all(|t| t.get("input").is_some()));
    let (_, summary) = get(&app, &format!("{PERSON}&_summary=true"), None).await;
    for task in matched(&summary) {
        assert!(task.get("input").is_none(), "{task}");
        assert!(task.get("owner").is_some() && task.get("code").is_some());
        assert_eq!(task["meta"]["tag"][0]["code"], "SUBSETTED");
    }
    let (_, elements) = get(&app, &format!("{PERSON}&_elements=owner"), None).await;
    for task in matched(&elements) {
        let mut names: Vec<&str> = task
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["id", "intent", "meta", "owner", "resourceType", "status"]
        );
    }
    // A read takes them too.
    let id = matched(&full)[0]["id"].as_str().unwrap().to_owned();
    let (status, read) = get(&app, &format!("/fhir/Task/{id}?_summary=true"), None).await;
    assert_eq!(status, 200);
    assert!(
        read.get("input").is_none() && read["status"].is_string(),
        "{read}"
    );

    // What clients ask of the server's statement: answered whole.
    let (status, statement) = get(&app, "/fhir/metadata?_summary=true", None).await;
    assert_eq!(status, 200);
    assert!(statement["rest"][0]["resource"].is_array(), "{statement}");
    let (status, _) = get(&app, &format!("{PERSON}&_total=accurate"), None).await;
    assert_eq!(status, 200);
    // Both: the summary, cut to the elements named.
    let (status, both) = get(
        &app,
        &format!("{PERSON}&_summary=true&_elements=owner"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{both}");
    let task = &both["entry"][0]["resource"];
    assert!(
        task["owner"].is_object() && task.get("code").is_none(),
        "{task}"
    );
    for wrong in ["_total=all", "_summary=maybe"] {
        let (status, outcome) = get(&app, &format!("{PERSON}&{wrong}"), None).await;
        assert_eq!(status, 400, "{wrong}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
}

#[tokio::test]
async fn a_task_is_found_by_its_identifier() {
    let app = spawn_app().await;
    app.admitted_case().await;
    let (_, full) = get(&app, PERSON, None).await;
    let task = matched(&full)[0].clone();
    let identifier = &task["identifier"][0];
    let token = format!(
        "{}|{}",
        identifier["system"].as_str().unwrap(),
        identifier["value"].as_str().unwrap()
    );
    let (status, found) = get(
        &app,
        &format!("{PERSON}&identifier={}", token.replace('|', "%7C")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    let ids: Vec<&Value> = matched(&found).iter().map(|t| &t["id"]).collect();
    assert!(ids.contains(&&task["id"]), "{found}");
    assert!(
        matched(&found)
            .iter()
            .all(|t| t["identifier"].as_array().unwrap().contains(identifier))
    );
    let (_, none) = get(&app, &format!("{PERSON}&identifier=urn:x%7Cnothing"), None).await;
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn a_create_answers_as_the_client_prefers() {
    let app = spawn_app().await;
    app.admitted_case().await;
    let task = crate::helpers::planning_started_task;
    let client = app.as_client(OSTERSUND).await;
    let create = |prefer: &str, message: &str| {
        client
            .post(app.url("/fhir/Task"))
            .header("content-type", "application/fhir+json")
            .header("prefer", prefer)
            .body(task(message).to_string())
            .send()
    };
    let minimal = create("return=minimal", "LC-1").await.unwrap();
    assert_eq!(minimal.status(), 201);
    assert!(minimal.headers().contains_key("location"));
    assert!(minimal.headers().contains_key("etag"));
    assert_eq!(minimal.bytes().await.unwrap().len(), 0);
    let outcome = create("return=OperationOutcome", "LC-2").await.unwrap();
    assert_eq!(outcome.status(), 201);
    let outcome: Value = outcome.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    assert_eq!(outcome["issue"][0]["diagnostics"], "created");
}
