//! The organisation directory: the regions, municipalities and units the gateway serves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::identifiers::{HsaId, Kommunkod, OrganisationNumber};
use crate::domain::party::{Organisation, Party};

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
    /// Receives the region's deviations (e.g. the patient-safety unit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deviation_contact: bool,
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
    /// Receives the municipality's deviations (e.g. the medically responsible nurse, MAS).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deviation_contact: bool,
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

    /// The region that `hsa_id` is (its care-provider id) or is a unit of.
    pub fn region_of(&self, hsa_id: &HsaId) -> Option<&Region> {
        self.regions
            .iter()
            .find(|r| &r.hsa_id == hsa_id || r.units.iter().any(|u| &u.hsa_id == hsa_id))
    }

    /// The region whose care-provider id is `hsa_id` (not one of its units).
    pub fn region(&self, hsa_id: &HsaId) -> Option<&Region> {
        self.regions.iter().find(|r| &r.hsa_id == hsa_id)
    }

    pub fn region_unit(&self, hsa_id: &HsaId) -> Option<&RegionUnit> {
        self.regions
            .iter()
            .flat_map(|r| &r.units)
            .find(|u| &u.hsa_id == hsa_id)
    }

    pub fn municipality(&self, kommunkod: Kommunkod) -> Option<&Municipality> {
        self.municipalities
            .iter()
            .find(|m| m.kommunkod == kommunkod)
    }

    /// The deviation contacts of the principals involved with `region_units` and
    /// `municipalities`: each region's and municipality's units marked `deviation_contact`, or
    /// the organisation itself where none is marked (or it is not in the directory).
    pub fn deviation_contacts<'a>(
        &self,
        region_units: impl IntoIterator<Item = &'a HsaId>,
        municipalities: impl IntoIterator<Item = &'a Kommunkod>,
    ) -> Vec<Party> {
        let mut contacts = Vec::new();
        for unit in region_units {
            match self.region_of(unit) {
                Some(region) => {
                    let marked: Vec<Party> = region
                        .units
                        .iter()
                        .filter(|u| u.deviation_contact)
                        .map(|u| Party::RegionUnit {
                            hsa_id: u.hsa_id.clone(),
                        })
                        .collect();
                    if marked.is_empty() {
                        contacts.push(Party::RegionUnit {
                            hsa_id: region.hsa_id.clone(),
                        });
                    }
                    contacts.extend(marked);
                }
                None => contacts.push(Party::RegionUnit {
                    hsa_id: unit.clone(),
                }),
            }
        }
        for &kommunkod in municipalities {
            let marked: Vec<Party> = self
                .municipality(kommunkod)
                .into_iter()
                .flat_map(|m| &m.units)
                .filter(|u| u.deviation_contact)
                .map(|u| Party::Municipality {
                    kommunkod,
                    unit: u.hsa_id.clone(),
                })
                .collect();
            if marked.is_empty() {
                contacts.push(Party::Municipality {
                    kommunkod,
                    unit: None,
                });
            }
            contacts.extend(marked);
        }
        contacts.sort();
        contacts.dedup();
        contacts
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

    /// The organisation a party belongs to: a region unit's region, or the municipality. A
    /// region unit not in the directory belongs to no known organisation.
    pub fn organisation_of(&self, party: &Party) -> Option<Organisation> {
        match party {
            Party::RegionUnit { hsa_id } => self.region_of(hsa_id).map(|r| Organisation::Region {
                hsa_id: r.hsa_id.clone(),
            }),
            Party::Municipality { kommunkod, .. } => Some(Organisation::Municipality {
                kommunkod: *kommunkod,
            }),
        }
    }

    /// Whether the organisation is a region (by its care-provider HSA-id) or municipality of
    /// the directory.
    pub fn has_organisation(&self, organisation: &Organisation) -> bool {
        match organisation {
            Organisation::Region { hsa_id } => self.region(hsa_id).is_some(),
            Organisation::Municipality { kommunkod } => self.municipality(*kommunkod).is_some(),
        }
    }
}
