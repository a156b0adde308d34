//! The mapping data every format needs, loaded from the mappings folder at start-up.

use std::path::{Path, PathBuf};

use super::cosmic_link::CodeTables;
use super::fhir::FhirCodes;
use super::municipal::Dialects;
use crate::process::Policies;

/// Loaded and checked mapping data.
#[derive(Debug, Clone)]
pub struct Mappings {
    pub cosmic_link: CodeTables,
    pub fhir: FhirCodes,
    /// The deadline policies (`policies/`).
    pub policies: Policies,
    /// The municipal case-system dialects (`municipal/<dialect>/`).
    pub municipal: Dialects,
}

/// A mapping file that cannot be used; the message names the file and the entry.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MappingError(String);

impl Mappings {
    /// Loads every mapping under `dir`; the error names the file and the entry.
    pub fn load(dir: &Path) -> Result<Mappings, MappingError> {
        Mappings::load_with_policies(dir, &[])
    }

    /// As `load`, with the deadline policies of `policy_files` in place of `dir`'s `policies/`
    /// (all of them when empty).
    pub fn load_with_policies(
        dir: &Path,
        policy_files: &[PathBuf],
    ) -> Result<Mappings, MappingError> {
        let policies = if policy_files.is_empty() {
            Policies::load(&dir.join("policies"))
        } else {
            Policies::load_files(policy_files, Path::new("policy_files"))
        };
        let mut mappings = Mappings {
            cosmic_link: CodeTables::load(&dir.join("cosmic-link/codes.toml"))
                .map_err(|e| MappingError(e.to_string()))?,
            fhir: FhirCodes::load(&dir.join("fhir")).map_err(|e| MappingError(e.to_string()))?,
            policies: policies.map_err(|e| MappingError(e.to_string()))?,
            municipal: Dialects::load(&dir.join("municipal"))
                .map_err(|e| MappingError(e.to_string()))?,
        };
        let functions = crate::process::functions::Functions::load(&dir.join("functions.toml"))
            .map_err(MappingError)?;
        mappings.policies = mappings.policies.with_functions(functions);
        Ok(mappings)
    }
}
