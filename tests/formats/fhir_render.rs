//! Canonical → FHIR R4: golden Bundles for every Cosmic Link example, checked against the FHIR
//! models (nothing the models would drop), with references that resolve inside the Bundle.

use std::collections::HashSet;

use brygga::formats::Mappings;
use brygga::formats::cosmic_link::decode;
use brygga::formats::fhir::render;
use brygga::formats::translate::step_deadline;
use jiff::civil::{Date, date};
use serde_json::Value;

use crate::golden::{check_json, cosmic_link_examples, repo};

const TODAY: Date = date(2026, 11, 23);

fn mappings() -> Mappings {
    Mappings::load(&repo().join("mappings")).unwrap()
}

fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "reference"
                    && let Some(r) = v.as_str()
                {
                    out.push(r.to_owned());
                }
                references(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

#[test]
fn every_example_renders_its_golden_bundle_that_the_fhir_models_keep_whole() {
    let mappings = mappings();
    let expected = repo().join("fixtures/cosmic-link/to-fhir");
    for input in cosmic_link_examples() {
        let message = decode(
            &std::fs::read(&input).unwrap(),
            &mappings.cosmic_link,
            TODAY,
        )
        .unwrap()
        .message;
        let bundle = render(&message, &mappings.fhir, step_deadline(&message, &mappings))
            .unwrap_or_else(|e| panic!("{}: {e}", input.display()));

        let checked = brygga_fhir::check_value(&bundle)
            .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        assert!(
            checked.lost.is_empty(),
            "{}: the models drop {:?}",
            input.display(),
            checked.lost
        );

        let full_urls: HashSet<&str> = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["fullUrl"].as_str().unwrap())
            .collect();
        let mut refs = Vec::new();
        references(&bundle, &mut refs);
        for r in refs {
            assert!(
                full_urls.contains(r.as_str()),
                "{}: reference {r} does not resolve",
                input.display()
            );
        }
        assert_eq!(
            render(&message, &mappings.fhir, step_deadline(&message, &mappings)).unwrap(),
            bundle,
            "rendering is deterministic"
        );

        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        check_json(&expected.join(format!("{name}.json")), &bundle);
    }
}

#[test]
fn an_admission_notice_gives_each_recipient_its_own_task() {
    let mappings = mappings();
    let message = decode(
        &std::fs::read(repo().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"))
            .unwrap(),
        &mappings.cosmic_link,
        TODAY,
    )
    .unwrap()
    .message;
    let bundle = render(&message, &mappings.fhir, step_deadline(&message, &mappings)).unwrap();
    let tasks: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Task")
        .collect();
    assert_eq!(tasks.len(), 3);
    let owners: Vec<&str> = tasks
        .iter()
        .map(|t| t["owner"]["identifier"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        owners,
        [
            "SE2120002411-BIST",
            "SE2120002411-HSJV",
            "SE2321000214-E3HC"
        ]
    );
    assert!(tasks.iter().all(
        |t| t["status"] == "requested" && t["code"]["coding"][0]["code"] == "admission-notice"
    ));
}

#[test]
fn a_protected_person_is_labelled_and_has_no_address() {
    let mappings = mappings();
    let xml = std::fs::read_to_string(
        repo().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
    )
    .unwrap()
    .replace(
        "</Folkbokforingsadress>",
        "</Folkbokforingsadress>\n    <SkyddadIdentitet>true</SkyddadIdentitet>",
    );
    let message = decode(xml.as_bytes(), &mappings.cosmic_link, TODAY)
        .unwrap()
        .message;
    let bundle = render(&message, &mappings.fhir, step_deadline(&message, &mappings)).unwrap();
    let patient = &bundle["entry"][0]["resource"];
    assert_eq!(patient["resourceType"], "Patient");
    assert_eq!(patient["meta"]["security"][0]["code"], "R");
    assert!(patient.get("address").is_none());
    assert!(!bundle.to_string().contains("Storgatan"));
}

#[test]
fn a_plan_becomes_a_care_plan_that_the_task_points_at() {
    let mappings = mappings();
    let message = decode(
        &std::fs::read(repo().join("mappings/cosmic-link/examples/18-plan-sip.xml")).unwrap(),
        &mappings.cosmic_link,
        TODAY,
    )
    .unwrap()
    .message;
    let bundle = render(&message, &mappings.fhir, step_deadline(&message, &mappings)).unwrap();
    let plan = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "CarePlan")
        .unwrap();
    let task = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Task")
        .unwrap();
    assert_eq!(task["resource"]["focus"]["reference"], plan["fullUrl"]);
    let activities = plan["resource"]["activity"].as_array().unwrap();
    assert_eq!(activities.len(), 4);
    assert_eq!(plan["resource"]["category"][0]["coding"][0]["code"], "SIP");
}
