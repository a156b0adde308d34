//! Principals and the parties (region units, municipalities) that take part in a case.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::identifiers::{HsaId, Kommunkod};

/// The two principals (huvudmän) that share responsibility for the person.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    Region,
    Municipality,
}

/// A sender or recipient of process information.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
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

    /// The municipality's code, for a municipality or one of its units.
    pub fn kommunkod(&self) -> Option<Kommunkod> {
        match self {
            Party::Municipality { kommunkod, .. } => Some(*kommunkod),
            Party::RegionUnit { .. } => None,
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

/// An organisation that a client acts for and that information is disclosed to: a region (by
/// its HSA-id) or a municipality (by its kommunkod). Its units are parties of it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Organisation {
    Region { hsa_id: HsaId },
    Municipality { kommunkod: Kommunkod },
}

impl Organisation {
    pub fn principal(&self) -> Principal {
        match self {
            Organisation::Region { .. } => Principal::Region,
            Organisation::Municipality { .. } => Principal::Municipality,
        }
    }

    /// As configured and as carried in access tokens: the region's HSA-id or the four digits.
    pub fn code(&self) -> String {
        match self {
            Organisation::Region { hsa_id } => hsa_id.to_string(),
            Organisation::Municipality { kommunkod } => kommunkod.to_string(),
        }
    }

    /// Reads an organisation code: four digits are a kommunkod, anything else an HSA-id.
    pub fn parse(code: &str) -> Result<Organisation, String> {
        if code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()) {
            Kommunkod::parse(code)
                .map(|kommunkod| Organisation::Municipality { kommunkod })
                .map_err(|e| format!("{code:?} is not a municipality code: {e}"))
        } else {
            HsaId::parse(code)
                .map(|hsa_id| Organisation::Region { hsa_id })
                .map_err(|e| {
                    format!("{code:?} is neither a municipality code nor a region's HSA-id: {e}")
                })
        }
    }
}

impl fmt::Display for Organisation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Organisation::Region { hsa_id } => write!(f, "region {hsa_id}"),
            Organisation::Municipality { kommunkod } => write!(f, "municipality {kommunkod}"),
        }
    }
}
