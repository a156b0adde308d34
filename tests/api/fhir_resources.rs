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
        app.url(&format!(
            "/fhir/Patient/{}",
            patient["id"].as_str().unwrap()
        ))
    );
    // Krokom takes no part in the case: nothing, as for a person unknown to the gateway.
    let none = search(crate::helpers::KROKOM).await;
    assert_eq!(none["total"], 0, "{none}");
    // An identifier no one has finds nothing; a personnummer that is none says what is wrong.
    let response = app
        .as_client(OSTERSUND)
        .await
        .get(app.url("/fhir/Patient?identifier=nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let found: Value = response.json().await.unwrap();
    assert_eq!(found["total"], 0);
    let response = app
        .as_client(OSTERSUND)
        .await
        .get(app.url(
            "/fhir/Patient?identifier=http://electronichealth.se/identifier/personnummer|198112189877",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let outcome: Value = response.json().await.unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("correct check digit"),
        "{outcome}"
    );
}

#[tokio::test]
async fn a_persons_steps_are_searched_as_tasks_with_filters_and_the_patient_included() {
    let app = spawn_app().await;
    app.admitted_case().await;
    app.post_cosmic_example("06-andrad-beraknad-utskrivning.xml")
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
    // A parameter not offered, in a strict search, is refused by name.
    let response = app
        .as_client(OSTERSUND)
        .await
        .get(app.url("/fhir/Task?owner=Organization/2380&_text=x"))
        .header("prefer", "handling=strict")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let outcome: Value = response.json().await.unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("_text")
    );
}

/// A create or update of `body` as Östersund; an update names the version the body was read
/// as (its `meta.versionId`, else 1), as a client does.
async fn task_request(
    app: &crate::helpers::TestApp,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = app
        .as_client(OSTERSUND)
        .await
        .request(method.clone(), app.url(path))
        .header("content-type", "application/fhir+json");
    if method == reqwest::Method::PUT {
        let version = body["meta"]["versionId"].as_str().unwrap_or("1");
        request = request.header("if-match", format!("W/\"{version}\""));
    }
    let response = request.json(body).send().await.unwrap();
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

async fn get_as(
    app: &crate::helpers::TestApp,
    client: &str,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = app
        .as_client(client)
        .await
        .get(app.url(path))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

#[tokio::test]
async fn a_task_the_gateway_sent_changed_by_its_owner_is_its_next_version_and_read_back_so() {
    let app = spawn_app().await;
    app.admitted_case().await;
    // Hemsjukvården's admission notice Task, found by search, read by its id.
    let found = tasks_with_code(&app, "admission-notice").await;
    let mut task = found["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .find(|t| t["owner"]["identifier"]["value"] == "SE2120002411-HSJV")
        .unwrap();
    let id = task["id"].as_str().unwrap().to_owned();
    let path = format!("/fhir/Task/{id}");
    let (status, headers, read) = get_as(&app, OSTERSUND, &path).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, task, "a Task reads as the search found it");
    assert_eq!(read["meta"]["versionId"], "1");
    assert_eq!(headers["etag"], "W/\"1\"");
    assert_eq!(read["status"], "requested");

    // Moved to in-progress: planning started, the Task's version 2.
    task["status"] = serde_json::json!("in-progress");
    task["lastModified"] = serde_json::json!("2026-11-23T13:30:00+01:00");
    let (status, headers, answer) = task_request(&app, reqwest::Method::PUT, &path, &task).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], id.as_str());
    assert_eq!(answer["status"], "in-progress");
    assert_eq!(answer["meta"]["versionId"], "2");
    assert_eq!(answer["lastModified"], "2026-11-23T12:30:00Z");
    assert_eq!(headers["etag"], "W/\"2\"");
    assert_eq!(headers["location"], app.url(&path).as_str());
    let (_, _, read) = get_as(&app, OSTERSUND, &path).await;
    assert_eq!(read, answer);
    // The region, which sent the notice, sees the change on the same Task.
    let (status, _, theirs) = get_as(&app, crate::helpers::REGION, &path).await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["status"], "in-progress");
    assert_eq!(theirs["meta"]["versionId"], "2");
    // The change is not a Task of its own.
    assert_eq!(tasks_with_code(&app, "planning-started").await["total"], 0);
    let in_progress = get_as(&app, OSTERSUND, "/fhir/Task?patient=http://electronichealth.se/identifier/personnummer|198112189876&status=in-progress").await.2;
    assert_eq!(in_progress["total"], 1, "{in_progress}");
    assert_eq!(in_progress["entry"][0]["resource"]["id"], id.as_str());

    // Both versions are kept.
    let (status, _, history) = get_as(&app, OSTERSUND, &format!("{path}/_history")).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["type"], "history");
    assert_eq!(history["total"], 2);
    assert_eq!(history["entry"][0]["resource"]["meta"]["versionId"], "2");
    assert_eq!(history["entry"][1]["resource"]["status"], "requested");
    assert_eq!(history["entry"][1]["response"]["etag"], "W/\"1\"");
    let (status, headers, first) = get_as(&app, OSTERSUND, &format!("{path}/_history/1")).await;
    assert_eq!(status, 200);
    assert_eq!(first["status"], "requested");
    assert_eq!(
        headers["content-location"],
        app.url(&format!("{path}/_history/1")).as_str()
    );
    let (status, _, outcome) = get_as(&app, OSTERSUND, &format!("{path}/_history/3")).await;
    assert_eq!(status, 404);
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("versions are 1 to 2")
    );

    // The change sent as an update naming `version` (or none).
    let put = |version: Option<&'static str>| {
        let (app, path, task) = (&app, &path, &task);
        async move {
            let mut request = app
                .as_client(OSTERSUND)
                .await
                .put(app.url(path))
                .header("content-type", "application/fhir+json");
            if let Some(version) = version {
                request = request.header("if-match", version);
            }
            request.json(task).send().await.unwrap()
        }
    };
    // A change made on version 1 is refused; sent again on version 2 it is the same change.
    let stale = put(Some("W/\"1\"")).await;
    assert_eq!(stale.status(), 412);
    let outcome: Value = stale.json().await.unwrap();
    assert_eq!(outcome["issue"][0]["code"], "conflict");
    // A plain save, naming no version at all, is refused the same way: it could overwrite a
    // change it never saw (server.require_if_match, on by default).
    let plain = put(None).await;
    assert_eq!(plain.status(), 412);
    let outcome: Value = plain.json().await.unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("send If-Match"),
        "{outcome}"
    );
    let again = put(Some("W/\"2\"")).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["meta"]["versionId"], "2");

    // Krokom takes no part in the case: the Task does not exist for it, nor for anyone does a
    // made-up id.
    for (client, wanted) in [
        (crate::helpers::KROKOM, path.clone()),
        (OSTERSUND, "/fhir/Task/not-an-id".to_owned()),
        (OSTERSUND, format!("/fhir/Task/{}-0", uuid::Uuid::new_v4())),
    ] {
        let (status, _, outcome) = get_as(&app, client, &wanted).await;
        assert_eq!(status, 404, "{wanted}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["code"], "not-found");
    }
    let (status, _, _) = task_request(
        &app,
        reqwest::Method::PUT,
        &format!("/fhir/Task/{}-0", uuid::Uuid::new_v4()),
        &serde_json::json!({ "resourceType": "Task", "id": "x" }),
    )
    .await;
    assert_eq!(status, 400, "the id in the body is checked first");
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
    let task = crate::helpers::planning_started_task("LC-1");
    let (status, headers, answer) =
        task_request(&app, reqwest::Method::POST, "/fhir/Task", &task).await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["location"],
        app.url(&format!("/fhir/Task/{id}")).as_str()
    );
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

#[tokio::test]
async fn tasks_are_searched_by_owner_period_and_last_update_and_paged_by_next_links() {
    let app = spawn_app().await;
    app.admitted_case().await;
    let base = "/fhir/Task?patient=http://electronichealth.se/identifier/personnummer|198112189876";
    let total = |query: &str| {
        let app = &app;
        let path = format!("{base}{query}");
        async move {
            let (status, _, found) = get_as(app, OSTERSUND, &path).await;
            assert_eq!(status, 200, "{path}: {found}");
            found["total"].as_u64().unwrap()
        }
    };
    // The admission notice is one Task per recipient: Biståndsenheten, Hemsjukvården and the
    // primary care unit.
    assert_eq!(total("").await, 3);
    assert_eq!(total("&owner=SE2120002411-HSJV").await, 1);
    assert_eq!(
        total("&owner=urn:oid:1.2.752.29.4.19|SE2120002411-HSJV").await,
        1
    );
    assert_eq!(
        total("&owner:identifier=urn:oid:1.2.752.29.4.19|SE2120002411-BIST,SE2321000214-E3HC")
            .await,
        2
    );
    assert_eq!(
        total("&owner=urn:oid:1.2.752.129.2.2.1.17|SE2120002411-HSJV").await,
        0
    );
    assert_eq!(total("&period=2026-11-20").await, 3);
    assert_eq!(total("&period=gt2026-11-21").await, 0);
    assert_eq!(
        total("&period=ge2026-11-20T08:00:00%2B01:00&period=lt2026-11-20T08:06:00%2B01:00").await,
        3
    );
    // Recorded at the test clock's noon on 23 November.
    assert_eq!(total("&_lastUpdated=ge2026-11-23").await, 3);
    assert_eq!(total("&_lastUpdated=lt2026-11-23T12:00:00Z").await, 0);

    // Two per page: the next link gives the rest, and nothing twice.
    let (_, _, first) = get_as(&app, OSTERSUND, &format!("{base}&_count=2")).await;
    assert_eq!(first["total"], 3);
    let mut seen: Vec<String> = first["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen.len(), 2);
    let next = first["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .expect("a next link")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    // Absolute, as R4 requires of a link.
    assert!(next.starts_with(&app.url("/fhir/Task?")), "{next}");
    let (status, _, second) = get_as(&app, OSTERSUND, &next).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["entry"].as_array().unwrap().len(), 1);
    assert!(
        second["link"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["relation"] != "next"),
        "{second}"
    );
    seen.push(
        second["entry"][0]["resource"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3);
    // By id, in the other order, and nothing but the count.
    assert_eq!(total(&format!("&_id={}", seen[1])).await, 1);
    let (_, _, descending) = get_as(&app, OSTERSUND, &format!("{base}&_sort=-_lastUpdated")).await;
    let order: Vec<&str> = descending["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [seen[2].as_str(), seen[1].as_str(), seen[0].as_str()]
    );
    let (_, _, counted) = get_as(&app, OSTERSUND, &format!("{base}&_count=0")).await;
    assert_eq!(counted["total"], 3);
    assert_eq!(counted["entry"].as_array().unwrap().len(), 0);
    // Values that are not dates or are out of range say so (unknown parameters:
    // `search_knobs`).
    for (query, says) in [
        ("&period=yesterday", "a date (2026-12-01)"),
        ("&_count=10000", "0 to 500"),
        ("&_include=Task:owner", "Task:patient and Task:focus"),
    ] {
        let (status, _, outcome) = get_as(&app, OSTERSUND, &format!("{base}{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert!(
            outcome["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(says),
            "{query}: {outcome}"
        );
    }
}

#[tokio::test]
async fn a_worklist_finds_the_callers_tasks_across_people_in_a_window_of_time() {
    let app = spawn_app().await;
    app.admitted_case().await;
    let worklist = "/fhir/Task?owner=SE2120002411-HSJV&status=requested&_lastUpdated=ge2026-11-22";
    let (status, _, found) = get_as(&app, OSTERSUND, worklist).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(
        found["entry"][0]["resource"]["owner"]["identifier"]["value"],
        "SE2120002411-HSJV"
    );
    let (_, _, with_patient) = get_as(
        &app,
        OSTERSUND,
        &format!("{worklist}&_include=Task:patient"),
    )
    .await;
    assert_eq!(
        with_patient["entry"][1]["resource"]["resourceType"],
        "Patient"
    );
    // Nothing for an organisation without the case, nothing before the window.
    let (_, _, theirs) = get_as(&app, crate::helpers::KROKOM, worklist).await;
    assert_eq!(theirs["total"], 0);
    let (_, _, later) = get_as(
        &app,
        OSTERSUND,
        "/fhir/Task?owner=SE2120002411-HSJV&_lastUpdated=gt2026-11-23",
    )
    .await;
    assert_eq!(later["total"], 0, "{later}");
    // Without a person, the window is the last 31 days, and reaches no further: a lenient
    // search narrows it and says so in the Bundle, a strict one is refused.
    let (_, _, in_window) = get_as(
        &app,
        OSTERSUND,
        "/fhir/Task?owner=SE2120002411-HSJV&_lastUpdated=ge2026-11-22",
    )
    .await;
    let worklist_total = in_window["total"].clone();
    assert!(worklist_total.as_u64().unwrap() > 0, "{in_window}");
    let (status, _, defaulted) =
        get_as(&app, OSTERSUND, "/fhir/Task?owner=SE2120002411-HSJV").await;
    assert_eq!(status, 200, "{defaulted}");
    assert_eq!(defaulted["total"], worklist_total, "{defaulted}");
    let too_far = "/fhir/Task?owner=SE2120002411-HSJV&_lastUpdated=ge2026-01-01";
    let (status, _, narrowed) = get_as(&app, OSTERSUND, too_far).await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["total"], worklist_total, "{narrowed}");
    let warning = narrowed["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("the narrowing is reported");
    assert!(
        warning["resource"]["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("at most 31 days"),
        "{warning}"
    );
    let response = app
        .as_client(OSTERSUND)
        .await
        .get(app.url(too_far))
        .header("prefer", "handling=strict")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let outcome: Value = response.json().await.unwrap();
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("at most 31 days"),
        "{outcome}"
    );
}
