//! FHIR R4 rendering of canonical messages: a Bundle with the Patient, one Task per step and
//! recipient, and a CarePlan for a coordinated plan. See `mappings/fhir/README.md`.

mod codes;
mod render;

pub use codes::{FhirCodes, FhirCodesError};
pub use render::{RenderError, render};
