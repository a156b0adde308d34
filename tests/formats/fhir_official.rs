//! The official FHIR R4 examples parse and re-serialise through the models without losing an
//! element.

use crate::golden::{files, repo};

#[test]
fn every_official_example_survives_the_models_whole() {
    let mut checked = Vec::new();
    for path in files(&repo().join("fixtures/fhir-r4-official"), ".json") {
        let bytes = std::fs::read(&path).unwrap();
        let result = brygga_fhir::check_resource(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            result.lost.is_empty(),
            "{} lost {:?}",
            path.display(),
            result.lost
        );
        checked.push(result.resource_type);
    }
    for wanted in ["Task", "CarePlan", "Patient", "Consent", "Subscription"] {
        assert!(
            checked.iter().any(|t| t == wanted),
            "no official {wanted} example was checked"
        );
    }
}

#[test]
fn the_published_code_systems_are_valid_fhir() {
    for path in files(&repo().join("mappings/fhir"), ".json") {
        let checked = brygga_fhir::check_resource(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(checked.resource_type, "CodeSystem", "{}", path.display());
        assert!(
            checked.lost.is_empty(),
            "{}: {:?}",
            path.display(),
            checked.lost
        );
    }
}
