//! FHIR R4 for canonical messages: rendering as a Bundle with the Patient, one Task per step and
//! recipient, and a CarePlan for a coordinated plan; and reading Bundles, Tasks and CarePlans
//! back. See `mappings/fhir/README.md`.

mod codes;
mod consent;
mod json;
mod read;
mod render;

pub use codes::{FhirCodes, FhirCodesError, PROCESS_STEP};
pub use consent::{
    CONSENT_SCOPE, ConsentRead, INFORMATION_CATEGORY, consent_resource, read_consent,
};
pub use json::FhirReadError;
pub use read::{FORMAT, FhirRead, read, read_value};
pub use render::{
    Bundle, EXT_MUNICIPALITY, PLAN_TYPE, RenderError, apply_change, bundle, careplan_case,
    careplan_id, changed_task, patient_id, patient_resource, render, task_event, task_id,
};
