//! The code systems brygga publishes for FHIR, read from `mappings/fhir/` and checked at
//! start-up against the codes the renderer uses.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

/// The URL of the process-step code system (Task.code).
pub const PROCESS_STEP: &str = "urn:brygga:fhir:CodeSystem:process-step";
/// The URL of the Task input type code system (Task.input.type).
pub const TASK_INPUT: &str = "urn:brygga:fhir:CodeSystem:task-input";

#[derive(Deserialize)]
struct CodeSystem {
    url: String,
    concept: Vec<Concept>,
}

#[derive(Deserialize)]
struct Concept {
    code: String,
    display: String,
}

/// Code → display for each published code system.
#[derive(Debug, Clone)]
pub struct FhirCodes {
    pub process_step: HashMap<String, String>,
    pub task_input: HashMap<String, String>,
}

/// A code system file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {problem}")]
pub struct FhirCodesError {
    pub origin: String,
    pub problem: String,
}

fn read(
    path: &Path,
    url: &str,
    required: &[&str],
) -> Result<HashMap<String, String>, FhirCodesError> {
    let origin = path.display().to_string();
    let error = |problem: String| FhirCodesError {
        origin: origin.clone(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let system: CodeSystem =
        serde_json::from_str(&text).map_err(|e| error(format!("not a CodeSystem: {e}")))?;
    if system.url != url {
        return Err(error(format!("url is {:?}; expected {url:?}", system.url)));
    }
    let codes: HashMap<String, String> = system
        .concept
        .into_iter()
        .map(|c| (c.code, c.display))
        .collect();
    if let Some(missing) = required.iter().find(|code| !codes.contains_key(**code)) {
        return Err(error(format!(
            "concept {missing:?} is missing; the renderer uses it"
        )));
    }
    Ok(codes)
}

impl FhirCodes {
    /// Reads the code systems under `dir` (`mappings/fhir`).
    pub fn load(dir: &Path) -> Result<FhirCodes, FhirCodesError> {
        Ok(FhirCodes {
            process_step: read(
                &dir.join("CodeSystem-process-step.json"),
                PROCESS_STEP,
                super::render::STEP_CODES,
            )?,
            task_input: read(
                &dir.join("CodeSystem-task-input.json"),
                TASK_INPUT,
                super::render::INPUT_CODES,
            )?,
        })
    }

    pub(super) fn step_display<'a>(&'a self, code: &'a str) -> &'a str {
        self.process_step
            .get(code)
            .map(String::as_str)
            .unwrap_or(code)
    }

    pub(super) fn input_display<'a>(&'a self, code: &'a str) -> &'a str {
        self.task_input
            .get(code)
            .map(String::as_str)
            .unwrap_or(code)
    }
}
