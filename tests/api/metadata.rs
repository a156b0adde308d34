//! The CapabilityStatement at `/fhir/metadata` claims exactly what the server does: every
//! interaction, search parameter and operation it lists answers (not "no such endpoint", not
//! 405), and every one of the common interactions it leaves out is refused.

use serde_json::{Value, json};

use crate::helpers::{OSTERSUND, TestApp, spawn_app};

const INTERACTIONS: &[&str] = &["create", "read", "update", "delete", "search-type"];

/// The request for `interaction` on `resource_type` (nothing of it exists, so a working route
/// answers 400 or 404 about the resource, never about the endpoint).
async fn exercise(
    app: &TestApp,
    resource_type: &str,
    interaction: &str,
    search: &str,
) -> (u16, Value) {
    let client = app.as_client(OSTERSUND).await;
    let body = json!({ "resourceType": resource_type });
    let request = match interaction {
        "create" => client
            .post(app.url(&format!("/fhir/{resource_type}")))
            .json(&body),
        "read" => client.get(app.url(&format!("/fhir/{resource_type}/no-such-id"))),
        "update" => client
            .put(app.url(&format!("/fhir/{resource_type}/no-such-id")))
            .json(&body),
        "delete" => client.delete(app.url(&format!("/fhir/{resource_type}/no-such-id"))),
        "search-type" => client.get(app.url(&format!("/fhir/{resource_type}?{search}"))),
        operation => client.get(app.url(&format!("/fhir/{resource_type}/no-such-id/${operation}"))),
    };
    let response = request
        .header("content-type", "application/fhir+json")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn routed(status: u16, outcome: &Value) -> bool {
    status != 405 && outcome["issue"][0]["diagnostics"] != "no such endpoint"
}

#[tokio::test]
async fn the_capability_statement_claims_exactly_what_answers() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/fhir/metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    let statement: Value = response.json().await.unwrap();
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    assert!(
        statement["rest"][0]["security"]["extension"][0]["extension"][0]["valueUri"]
            .as_str()
            .unwrap()
            .ends_with("/auth/token")
    );
    let resources = statement["rest"][0]["resource"].as_array().unwrap();
    assert!(!resources.is_empty());
    for resource in resources {
        let resource_type = resource["type"].as_str().unwrap();
        let claimed: Vec<&str> = resource["interaction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["code"].as_str().unwrap())
            .collect();
        let search = match resource["searchParam"][0]["name"].as_str() {
            Some("patient") => {
                "patient=http://electronichealth.se/identifier/personnummer|191212121212"
            }
            Some("status") => "status=active",
            Some(other) => panic!("a search parameter the test does not know: {other}"),
            None => "",
        };
        for interaction in INTERACTIONS {
            let (status, outcome) = exercise(&app, resource_type, interaction, search).await;
            if claimed.contains(interaction) {
                assert!(
                    routed(status, &outcome) && status != 500,
                    "{resource_type} {interaction} is claimed but answers {status}: {outcome}"
                );
            } else {
                assert!(
                    !routed(status, &outcome),
                    "{resource_type} {interaction} is not claimed but answers {status}: {outcome}"
                );
            }
        }
        for operation in resource["operation"].as_array().into_iter().flatten() {
            let name = operation["name"].as_str().unwrap();
            let (status, outcome) = exercise(&app, resource_type, name, search).await;
            assert!(
                routed(status, &outcome) && status != 500,
                "{resource_type} ${name} is claimed but answers {status}: {outcome}"
            );
        }
    }
    // A resource type it does not list has no endpoint.
    let (status, outcome) = exercise(&app, "Observation", "read", "").await;
    assert!(!routed(status, &outcome), "{status}: {outcome}");
}
