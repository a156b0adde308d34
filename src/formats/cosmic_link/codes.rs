//! The contract's code tables, loaded from `mappings/cosmic-link/codes.toml` and checked at
//! start-up: every key must be a canonical value, every canonical value needs a code, and no
//! code may stand for two values.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Toml};

use crate::domain::consent::{InformationCategory, Provision};
use crate::domain::event::{
    ChildConcernOutcome, ConsentScope, Deadline, DeviationCause, LvmDecisionKind, LvmGround,
    LvmSubstance, PlanType, ServiceType,
};
use crate::domain::party::Principal;

/// What an answer to an invitation says, without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerKind {
    Accepted,
    Declined,
    ProposedOtherTime,
}

/// One code table: local codes to a canonical value and back.
#[derive(Debug, Clone)]
pub struct Table<T> {
    decode: HashMap<String, T>,
    encode: Vec<(T, String)>,
}

impl<T: Copy + PartialEq> Table<T> {
    pub fn decode(&self, code: &str) -> Option<T> {
        self.decode.get(code).copied()
    }

    /// The code written for `value` (the first listed).
    pub fn encode(&self, value: T) -> Option<&str> {
        self.encode
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, c)| c.as_str())
    }

    /// Every accepted code, for error messages.
    pub fn codes(&self) -> Vec<String> {
        let mut codes: Vec<String> = self.decode.keys().cloned().collect();
        codes.sort();
        codes
    }
}

/// All code tables of the contract.
#[derive(Debug, Clone)]
pub struct CodeTables {
    pub plan_type: Table<PlanType>,
    pub service_type: Table<ServiceType>,
    /// `None` stands for "another actor" (next of kin, another authority).
    pub principal: Table<Option<Principal>>,
    pub answer: Table<AnswerKind>,
    /// `true` for psychiatric inpatient care.
    pub care_form: Table<bool>,
    pub lvm_decision: Table<LvmDecisionKind>,
    pub consent_scope: Table<ConsentScope>,
    pub provision: Table<Provision>,
    pub information_category: Table<InformationCategory>,
    pub deviation_cause: Table<DeviationCause>,
    pub deadline: Table<Deadline>,
    pub child_concern_outcome: Table<ChildConcernOutcome>,
    pub lvm_substance: Table<LvmSubstance>,
    pub lvm_ground: Table<LvmGround>,
}

/// A code table file that cannot be used; the message names the file and the entry.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {problem}")]
pub struct CodeTablesError {
    pub origin: String,
    pub problem: String,
}

type Raw = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn table<T: Copy + PartialEq>(
    raw: &mut Raw,
    origin: &str,
    name: &str,
    values: &[(&str, T)],
) -> Result<Table<T>, CodeTablesError> {
    let error = |problem: String| CodeTablesError {
        origin: origin.to_owned(),
        problem,
    };
    let entries = raw
        .remove(name)
        .ok_or_else(|| error(format!("table [{name}] is missing")))?;
    let mut decode = HashMap::new();
    let mut encode = Vec::new();
    for (key, codes) in entries {
        let Some((_, value)) = values.iter().find(|(k, _)| *k == key) else {
            let known: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
            return Err(error(format!(
                "[{name}] {key:?} is not a canonical value; expected one of {}",
                known.join(", ")
            )));
        };
        let Some(first) = codes.first() else {
            return Err(error(format!("[{name}] {key:?} lists no codes")));
        };
        encode.push((*value, first.clone()));
        for code in codes {
            if decode.insert(code.clone(), *value).is_some() {
                return Err(error(format!(
                    "[{name}] code {code:?} is listed more than once"
                )));
            }
        }
    }
    for (key, value) in values {
        if !encode.iter().any(|(v, _)| v == value) {
            return Err(error(format!(
                "[{name}] has no codes for canonical value {key:?}"
            )));
        }
    }
    Ok(Table { decode, encode })
}

impl CodeTables {
    /// Reads and checks a code table file.
    pub fn load(path: &Path) -> Result<CodeTables, CodeTablesError> {
        let origin = path.display().to_string();
        if !path.is_file() {
            return Err(CodeTablesError {
                origin,
                problem: "file not found".to_owned(),
            });
        }
        let raw: Raw = Figment::from(Toml::file_exact(path))
            .extract()
            .map_err(|e| CodeTablesError {
                origin: origin.clone(),
                problem: e.to_string(),
            })?;
        Self::from_raw(raw, &origin)
    }

    /// Parses and checks code tables from TOML text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<CodeTables, CodeTablesError> {
        let raw: Raw =
            Figment::from(Toml::string(text))
                .extract()
                .map_err(|e| CodeTablesError {
                    origin: origin.to_owned(),
                    problem: e.to_string(),
                })?;
        Self::from_raw(raw, origin)
    }

    fn from_raw(mut raw: Raw, origin: &str) -> Result<CodeTables, CodeTablesError> {
        let tables = CodeTables {
            plan_type: table(
                &mut raw,
                origin,
                "plan_type",
                &[
                    ("SIP", PlanType::Sip),
                    ("SPU", PlanType::Spu),
                    ("SPLPTLRV", PlanType::Splptlrv),
                ],
            )?,
            service_type: table(
                &mut raw,
                origin,
                "service_type",
                &[
                    ("HTJ", ServiceType::Htj),
                    ("LSS", ServiceType::Lss),
                    ("SABO", ServiceType::Sabo),
                    ("HSJV", ServiceType::Hsjv),
                    ("BOENDESTOD", ServiceType::Boendestod),
                ],
            )?,
            principal: table(
                &mut raw,
                origin,
                "principal",
                &[
                    ("region", Some(Principal::Region)),
                    ("municipality", Some(Principal::Municipality)),
                    ("other", None),
                ],
            )?,
            answer: table(
                &mut raw,
                origin,
                "answer",
                &[
                    ("accepted", AnswerKind::Accepted),
                    ("declined", AnswerKind::Declined),
                    ("proposed_other_time", AnswerKind::ProposedOtherTime),
                ],
            )?,
            care_form: table(
                &mut raw,
                origin,
                "care_form",
                &[("somatic", false), ("psychiatric", true)],
            )?,
            lvm_decision: table(
                &mut raw,
                origin,
                "lvm_decision",
                &[
                    ("care", LvmDecisionKind::Care),
                    ("immediate_custody", LvmDecisionKind::ImmediateCustody),
                ],
            )?,
            consent_scope: table(
                &mut raw,
                origin,
                "consent_scope",
                &[
                    ("sip", ConsentScope::Sip),
                    ("disclosure", ConsentScope::Disclosure),
                    ("next_of_kin", ConsentScope::NextOfKin),
                ],
            )?,
            provision: table(
                &mut raw,
                origin,
                "provision",
                &[("permit", Provision::Permit), ("deny", Provision::Deny)],
            )?,
            information_category: table(
                &mut raw,
                origin,
                "information_category",
                &InformationCategory::ALL
                    .iter()
                    .map(|c| (c.as_str(), *c))
                    .collect::<Vec<_>>(),
            )?,
            deviation_cause: table(
                &mut raw,
                origin,
                "deviation_cause",
                &DeviationCause::ALL
                    .iter()
                    .map(|c| (c.as_str(), *c))
                    .collect::<Vec<_>>(),
            )?,
            deadline: table(
                &mut raw,
                origin,
                "deadline",
                &Deadline::ALL
                    .iter()
                    .map(|d| (d.as_str(), *d))
                    .collect::<Vec<_>>(),
            )?,
            child_concern_outcome: table(
                &mut raw,
                origin,
                "child_concern_outcome",
                &ChildConcernOutcome::ALL
                    .iter()
                    .map(|o| (o.as_str(), *o))
                    .collect::<Vec<_>>(),
            )?,
            lvm_substance: table(
                &mut raw,
                origin,
                "lvm_substance",
                &LvmSubstance::ALL
                    .iter()
                    .map(|o| (o.as_str(), *o))
                    .collect::<Vec<_>>(),
            )?,
            lvm_ground: table(
                &mut raw,
                origin,
                "lvm_ground",
                &LvmGround::ALL
                    .iter()
                    .map(|o| (o.as_str(), *o))
                    .collect::<Vec<_>>(),
            )?,
        };
        if let Some(name) = raw.keys().next() {
            return Err(CodeTablesError {
                origin: origin.to_owned(),
                problem: format!("table [{name}] is not part of the contract"),
            });
        }
        Ok(tables)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../mappings/cosmic-link/codes.toml");

    #[test]
    fn the_shipped_tables_load_and_translate_both_ways() {
        let t = CodeTables::from_toml_str(SHIPPED, "codes.toml").unwrap();
        assert_eq!(t.service_type.decode("SÄBO"), Some(ServiceType::Sabo));
        assert_eq!(t.service_type.decode("SABO"), Some(ServiceType::Sabo));
        assert_eq!(t.service_type.encode(ServiceType::Sabo), Some("SÄBO"));
        assert_eq!(t.principal.decode("annan"), Some(None));
        assert_eq!(t.care_form.decode("psykiatrisk"), Some(true));
        assert_eq!(t.answer.decode("okänt"), None);
    }

    #[test]
    fn a_broken_table_names_the_file_the_table_and_the_entry() {
        let broken = SHIPPED.replace("LSS = [\"LSS\"]", "LSX = [\"LSS\"]");
        let err = CodeTables::from_toml_str(&broken, "mappings/cosmic-link/codes.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mappings/cosmic-link/codes.toml")
                && err.contains("[service_type]")
                && err.contains("LSX"),
            "{err}"
        );

        let duplicate = SHIPPED.replace("LSS = [\"LSS\"]", "LSS = [\"LSS\", \"HTJ\"]");
        let err = CodeTables::from_toml_str(&duplicate, "codes.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"HTJ\" is listed more than once"), "{err}");

        let missing = SHIPPED.replace("LSS = [\"LSS\"]", "");
        let err = CodeTables::from_toml_str(&missing, "codes.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no codes for canonical value \"LSS\""),
            "{err}"
        );
    }
}
