//! The mapping data every format needs, loaded from the mappings folder at start-up.

use std::path::Path;

use super::cosmic_link::{CodeTables, CodeTablesError};

/// Loaded and checked mapping data.
#[derive(Debug, Clone)]
pub struct Mappings {
    pub cosmic_link: CodeTables,
}

impl Mappings {
    /// Loads every mapping under `dir`; the error names the file and the entry.
    pub fn load(dir: &Path) -> Result<Mappings, CodeTablesError> {
        Ok(Mappings {
            cosmic_link: CodeTables::load(&dir.join("cosmic-link/codes.toml"))?,
        })
    }
}
