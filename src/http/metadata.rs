//! What the gateway says of itself: `GET /fhir/metadata`, the FHIR R4 `CapabilityStatement`
//! listing exactly the FHIR resources, interactions, search parameters and operations it
//! implements, with SMART Backend Services as its security; and `GET /openapi.json`, the
//! OpenAPI document of every HTTP endpoint (`mappings/openapi.json`). Tests exercise every
//! claim of both and compare the OpenAPI paths with the router's.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fhir::fhir_json;
use super::router::AppState;

const BACKPORT: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/";

fn interactions(codes: &[&str]) -> Value {
    Value::Array(codes.iter().map(|code| json!({ "code": code })).collect())
}

/// The search result parameters every FHIR search takes (`super::shaping`).
fn shaping() -> [Value; 3] {
    [
        json!({ "name": "_summary", "type": "special", "documentation": "true, text, data, count or false; a summary is marked SUBSETTED (reads take it too)" }),
        json!({ "name": "_elements", "type": "special", "documentation": "top-level element names, comma-separated; mandatory elements are kept (reads take it too)" }),
        json!({ "name": "_total", "type": "special", "documentation": "none, estimate or accurate: the total is always accurate" }),
    ]
}

/// `own` search parameters and those every search of the gateway's own resources takes.
fn with_paging(mut own: Vec<Value>) -> Value {
    own.extend([
        json!({ "name": "_id", "type": "token" }),
        json!({ "name": "_lastUpdated", "type": "date", "documentation": "prefixes eq, ne, gt, ge, lt, le" }),
        json!({ "name": "_count", "type": "number", "documentation": "0 to 500; 50 unless given" }),
        json!({ "name": "_sort", "type": "special", "documentation": "_lastUpdated or -_lastUpdated" }),
    ]);
    own.extend(shaping());
    Value::Array(own)
}

/// What every kept resource type says of its conditional interactions: a create may be
/// conditional (`If-None-Exist: identifier=…`), nothing else is.
fn conditional(mut resource: Value, create: bool) -> Value {
    if let Some(map) = resource.as_object_mut() {
        map.insert("conditionalCreate".into(), json!(create));
        map.insert("conditionalRead".into(), json!("not-supported"));
        map.insert("conditionalUpdate".into(), json!(false));
        map.insert("conditionalDelete".into(), json!("not-supported"));
    }
    resource
}

/// The statement of the FHIR base `fhir_base`, with the token endpoint `token_url`, as of
/// `date`; `require_if_match` as `server.require_if_match` says.
pub fn capability_statement(
    fhir_base: &str,
    token_url: &str,
    date: jiff::Timestamp,
    require_if_match: bool,
) -> Value {
    let updates = if require_if_match {
        "An update names the version it replaces (If-Match: W/\"<versionId>\"; 412 without it or for another)."
    } else {
        "An update may name the version it replaces (If-Match: W/\"<versionId>\"; 412 for another)."
    };
    let documentation = format!(
        "Searches are lenient unless the request says Prefer: handling=strict: an unknown parameter is left out of the self link and reported in an OperationOutcome entry (search.mode outcome). _include takes the searchInclude values listed; _revinclude, _has and chained parameters are not offered. Every resource written is checked against the R4 model (required elements, datatypes, required code bindings, R4's JSON rules); what fails answers 422 with the element in the OperationOutcome's expression. {updates} Creates and updates answer Prefer: return=minimal (no body), representation (the default) or OperationOutcome. Every URL in an answer is absolute under the gateway's public base."
    );
    let mut statement = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date.to_string(),
        "publisher": "brygga",
        "kind": "instance",
        "software": { "name": "brygga", "version": env!("CARGO_PKG_VERSION") },
        "implementation": {
            "description": "brygga: the coordination gateway between region and municipality",
            "url": fhir_base,
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": documentation,
            "security": {
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{ "url": "token", "valueUri": token_url }],
                }],
                "service": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }],
                }],
                "description": "SMART Backend Services: a client assertion (private_key_jwt) for an access token with system/… scopes; see /.well-known/smart-configuration",
            },
            "interaction": [{
                "code": "transaction",
                "documentation": "POST /fhir: one process step with its resources (a plan with its tasks), or resources the client keeps; all or nothing",
            }],
            "resource": [
                {
                    "type": "Task",
                    "interaction": interactions(&["read", "vread", "update", "history-instance", "create", "search-type"]),
                    "versioning": "versioned-update",
                    "readHistory": true,
                    "updateCreate": false,
                    "searchParam": with_paging(vec![
                        json!({
                            "name": "patient",
                            "type": "token",
                            "documentation": "<system>|<value> of the person whose cases' steps are searched, or Patient/<id> (also as subject); without it, a worklist over the cases changed since _lastUpdated=ge<date> (the last 31 days unless given; at most that far back)",
                        }),
                        json!({ "name": "status", "type": "token" }),
                        json!({ "name": "code", "type": "token" }),
                        json!({ "name": "business-status", "type": "token" }),
                        json!({
                            "name": "owner",
                            "type": "reference",
                            "documentation": "[system|]value or Organization/<value> of the owner: a unit's HSA-id, or an organisation's own identifier (a kommunkod, a region's HSA-id), which finds the Tasks of its units too; also owner:identifier",
                        }),
                        json!({ "name": "focus", "type": "reference", "documentation": "CarePlan/id" }),
                        json!({ "name": "identifier", "type": "token", "documentation": "[system|]value of the Task's identifier" }),
                        json!({ "name": "period", "type": "date", "documentation": "compared with executionPeriod.start" }),
                    ]),
                    "searchInclude": ["Task:patient", "Task:focus"],
                },
                {
                    "type": "CarePlan",
                    "interaction": interactions(&["read", "vread", "update", "history-instance", "create", "search-type"]),
                    "versioning": "versioned-update",
                    "readHistory": true,
                    "updateCreate": false,
                    "searchParam": with_paging(vec![
                        json!({
                            "name": "patient",
                            "type": "token",
                            "documentation": "required: <system>|<value> of the person whose cases' plans are searched, or Patient/<id> (also as subject)",
                        }),
                        json!({ "name": "category", "type": "token", "documentation": "the plan type: SIP, SPU, SPLPTLRV" }),
                        json!({ "name": "status", "type": "token" }),
                        json!({ "name": "date", "type": "date", "documentation": "compared with created (a plan carries no period)" }),
                    ]),
                    "searchInclude": ["CarePlan:patient"],
                },
                {
                    "type": "Patient",
                    "interaction": interactions(&["read", "vread", "update", "history-instance", "create", "search-type"]),
                    "versioning": "versioned-update",
                    "readHistory": true,
                    "updateCreate": false,
                    "searchParam": with_paging(vec![json!({
                        "name": "identifier",
                        "type": "token",
                        "documentation": "[system|]value: a personnummer, samordningsnummer or reserve number finds the person of the caller's cases; any identifier finds the Patients the caller keeps",
                    })]),
                },
                {
                    "type": "Consent",
                    "interaction": interactions(&["create", "read", "vread", "update", "history-instance", "search-type"]),
                    "versioning": "versioned-update",
                    "readHistory": true,
                    "updateCreate": false,
                    "searchParam": with_paging(vec![json!({
                        "name": "patient",
                        "type": "token",
                        "documentation": "<system>|<value> of a personnummer, samordningsnummer or reserve number",
                    })]),
                },
                {
                    "type": "AuditEvent",
                    "interaction": interactions(&["read", "search-type"]),
                    "searchParam": [
                        {
                            "name": "patient",
                            "type": "token",
                            "documentation": "<system>|<value> of the person the records are about",
                        },
                        {
                            "name": "agent",
                            "type": "token",
                            "documentation": "the organisation (HSA-id or kommunkod): the caller's own, or any for an auditor",
                        },
                        { "name": "date", "type": "date", "documentation": "when recorded; prefixes eq, gt, ge, lt, le" },
                        { "name": "_count", "type": "number", "documentation": "0 to 500; 50 unless given" },
                        shaping()[0], shaping()[1], shaping()[2],
                    ],
                },
                {
                    "type": "Subscription",
                    "supportedProfile": [format!("{BACKPORT}backport-subscription")],
                    "interaction": interactions(&["create", "read", "update", "delete", "search-type"]),
                    "versioning": "versioned-update",
                    "updateCreate": false,
                    "searchParam": [
                        { "name": "status", "type": "token" },
                        shaping()[0], shaping()[1], shaping()[2],
                    ],
                    "operation": [{
                        "name": "status",
                        "definition": "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status",
                    }],
                },
            ],
        }],
    });
    // Task, CarePlan and Patient take a conditional create; Consent and Subscription do not.
    if let Some(resources) = statement["rest"][0]["resource"].as_array_mut() {
        for resource in resources.iter_mut() {
            let kind = resource["type"].as_str().unwrap_or_default().to_owned();
            if matches!(
                kind.as_str(),
                "Task" | "CarePlan" | "Patient" | "Consent" | "Subscription"
            ) {
                *resource = conditional(
                    std::mem::take(resource),
                    matches!(kind.as_str(), "Task" | "CarePlan" | "Patient"),
                );
            }
        }
    }
    statement
}

/// `GET /fhir/metadata` (open, as FHIR servers answer it).
pub async fn metadata(State(state): State<AppState>, base: super::Base) -> Response {
    fhir_json(
        StatusCode::OK,
        capability_statement(
            &base.url("/fhir"),
            state.auth.token_url(),
            state.pipeline.clock.now(),
            state.require_if_match,
        ),
    )
}

/// The OpenAPI document of every endpoint, as shipped.
const OPENAPI: &str = include_str!("../../mappings/openapi.json");

/// `GET /openapi.json` (open): the shipped document, with the gateway's public base as its
/// server and token URL, and without the test clock's endpoint unless it is switched on
/// (`server.test_clock`), so that the document lists exactly what this gateway serves.
pub async fn openapi(
    State(state): State<AppState>,
    base: super::Base,
    test_clock: bool,
) -> Response {
    static DOCUMENT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
        serde_json::from_str(OPENAPI).expect("the shipped OpenAPI document is JSON")
    });
    let mut document = DOCUMENT.clone();
    document["servers"] = json!([{ "url": base.url("") }]);
    document["components"]["securitySchemes"]["smart"]["flows"]["clientCredentials"]["tokenUrl"] =
        json!(state.auth.token_url());
    if !test_clock && let Some(paths) = document["paths"].as_object_mut() {
        paths.remove("/test/clock");
    }
    // The municipal dialects are data: the ones this gateway read.
    let dialects = &state.pipeline.mappings.municipal;
    let names: Vec<&str> = dialects.iter().map(|d| d.name.as_str()).collect();
    let formats = ["cosmic-link", "canonical", "fhir"]
        .into_iter()
        .chain(dialects.iter().map(|d| d.format.as_str()));
    let formats: Vec<&str> = formats.collect();
    for parameter in document["paths"]["/municipal/{dialect}/v1/messages"]["post"]["parameters"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == "dialect")
    {
        parameter["schema"]["enum"] = json!(names);
    }
    for parameter in document["paths"]["/translate"]["post"]["parameters"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == "from" || p["name"] == "to")
    {
        parameter["schema"]["enum"] = json!(formats);
    }
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document.to_string(),
    )
        .into_response()
}
