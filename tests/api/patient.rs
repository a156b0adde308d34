//! `GET /fhir/Patient?identifier=…` and `GET /fhir/Task?patient=…`: the person of the caller's
//! cases and their steps, with what was released to the caller, and nothing for an
//! organisation without a case of the person.

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
