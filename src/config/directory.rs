//! The organisation directory: the regions, municipalities and units the gateway serves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::identifiers::{HsaId, Kommunkod, OrganisationNumber};
use crate::domain::party::Party;

/// What a region unit does; it decides which process messages it sends and receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionUnitKind {
    InpatientWard,
    PsychiatricInpatientWard,
    PsychiatricOutpatientClinic,
    PrimaryCare,
    Other,
}

/// What a municipal unit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MunicipalUnitKind {
    SocialServices,
    HomeHealthCare,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionUnit {
    pub hsa_id: HsaId,
    pub name: String,
    pub kind: RegionUnitKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub name: String,
    pub organisation_number: OrganisationNumber,
    pub hsa_id: HsaId,
    #[serde(default)]
    pub units: Vec<RegionUnit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MunicipalUnit {
    #[serde(default)]
    pub hsa_id: Option<HsaId>,
    pub name: String,
    pub kind: MunicipalUnitKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Municipality {
    pub name: String,
    pub kommunkod: Kommunkod,
    pub organisation_number: OrganisationNumber,
    #[serde(default)]
    pub units: Vec<MunicipalUnit>,
}

/// All organisations known to the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    #[serde(default, rename = "region")]
    pub regions: Vec<Region>,
    #[serde(default, rename = "municipality")]
    pub municipalities: Vec<Municipality>,
}

impl Directory {
    /// Checks what serde cannot: identifiers are unique across the directory.
    /// Returns one message per problem, each naming the entry.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut hsa_ids: BTreeMap<HsaId, String> = BTreeMap::new();
        let mut claim = |id: &HsaId, owner: String, problems: &mut Vec<String>| {
            if let Some(first) = hsa_ids.get(id) {
                problems.push(format!("HSA-id {id} is used by both {first} and {owner}"));
            } else {
                hsa_ids.insert(id.clone(), owner);
            }
        };
        for (i, region) in self.regions.iter().enumerate() {
            claim(
                &region.hsa_id,
                format!("region[{i}] ({})", region.name),
                &mut problems,
            );
            for (j, unit) in region.units.iter().enumerate() {
                claim(
                    &unit.hsa_id,
                    format!("region[{i}].units[{j}] ({})", unit.name),
                    &mut problems,
                );
            }
        }
        let mut codes: BTreeMap<Kommunkod, usize> = BTreeMap::new();
        for (i, municipality) in self.municipalities.iter().enumerate() {
            if let Some(first) = codes.insert(municipality.kommunkod, i) {
                problems.push(format!(
                    "municipality code {} is used by both municipality[{first}] and municipality[{i}]",
                    municipality.kommunkod
                ));
            }
            for (j, unit) in municipality.units.iter().enumerate() {
                if let Some(id) = &unit.hsa_id {
                    claim(
                        id,
                        format!("municipality[{i}].units[{j}] ({})", unit.name),
                        &mut problems,
                    );
                }
            }
        }
        problems
    }

    /// Whether the party is an organisation (or unit) in the directory.
    pub fn knows(&self, party: &Party) -> bool {
        match party {
            Party::RegionUnit { hsa_id } => self
                .regions
                .iter()
                .any(|r| &r.hsa_id == hsa_id || r.units.iter().any(|u| &u.hsa_id == hsa_id)),
            Party::Municipality { kommunkod, .. } => self
                .municipalities
                .iter()
                .any(|m| &m.kommunkod == kommunkod),
        }
    }
}
