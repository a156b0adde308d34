//! Principals and the parties (region units, municipalities) that take part in a case.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::identifiers::{HsaId, Kommunkod};

/// The two principals (huvudmän) that share responsibility for the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    Region,
    Municipality,
}

/// A sender or recipient of process information.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Party {
    /// A unit of the region (ward, psychiatry clinic, primary-care unit), by HSA-id.
    RegionUnit { hsa_id: HsaId },
    /// A municipality, optionally narrowed to one of its units (social services, home health care).
    Municipality {
        kommunkod: Kommunkod,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<HsaId>,
    },
}

impl Party {
    pub fn principal(&self) -> Principal {
        match self {
            Party::RegionUnit { .. } => Principal::Region,
            Party::Municipality { .. } => Principal::Municipality,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Party::RegionUnit { hsa_id } => write!(f, "region unit {hsa_id}"),
            Party::Municipality {
                kommunkod,
                unit: None,
            } => write!(f, "municipality {kommunkod}"),
            Party::Municipality {
                kommunkod,
                unit: Some(unit),
            } => {
                write!(f, "municipality {kommunkod} unit {unit}")
            }
        }
    }
}
