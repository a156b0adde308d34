//! `GET /fhir/Patient?identifier=…`: the person of the caller's cases, with what was released
//! to the caller, and nothing for an organisation without a case of the person.

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
