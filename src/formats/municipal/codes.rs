//! Code tables of a dialect (`codes.toml`): local codes ↔ canonical values, checked at start-up
//! against the canonical vocabularies (every key a canonical value, every value a code, no code
//! meaning two things).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::view::Ref;

use crate::domain::event::EventKind;

/// A closed set of canonical values that a code table may stand for.
#[derive(Debug)]
pub struct Vocabulary {
    pub name: &'static str,
    pub values: &'static [&'static str],
    /// The values are JSON booleans (`true`, `false`), not strings.
    pub boolean: bool,
}

const fn vocabulary(name: &'static str, values: &'static [&'static str]) -> Vocabulary {
    Vocabulary {
        name,
        values,
        boolean: false,
    }
}

/// Every canonical vocabulary, with the values as the canonical JSON form writes them.
pub const VOCABULARIES: &[Vocabulary] = &[
    vocabulary("plan_type", &["SIP", "SPU", "SPLPTLRV"]),
    vocabulary(
        "service_type",
        &["HTJ", "LSS", "SABO", "HSJV", "BOENDESTOD"],
    ),
    vocabulary("principal", &["region", "municipality"]),
    vocabulary("answer", &["accepted", "declined", "proposed_other_time"]),
    vocabulary("lvm_decision", &["care", "immediate_custody"]),
    Vocabulary {
        name: "boolean",
        values: &["true", "false"],
        boolean: true,
    },
    vocabulary("party_type", &["region_unit", "municipality"]),
    vocabulary("meeting_place", &["address", "link"]),
    vocabulary(
        "person_id_system",
        &["personnummer", "samordningsnummer", "reserve_number"],
    ),
    vocabulary("consent_scope", &["sip", "disclosure", "next_of_kin"]),
    vocabulary("consent_provision", &["permit", "deny"]),
    vocabulary(
        "information_category",
        &[
            "discharge_planning",
            "sip",
            "health",
            "psychiatric",
            "social_services",
            "substance_abuse",
            "deviations",
        ],
    ),
    vocabulary(
        "deviation_cause",
        &[
            "reported",
            "deadline_missed",
            "absent_from_meeting",
            "absent_by_function",
            "delivery_late",
            "not_delivered",
            "planning_missing",
        ],
    ),
    vocabulary(
        "deadline",
        &[
            "admission_notice",
            "sip_invitation",
            "information_at_discharge",
            "payment_responsibility",
            "deviation_answer",
            "sip_attendance",
            "plan_follow_up",
            "lvm_hold",
            "agreement",
        ],
    ),
    vocabulary(
        "child_concern_outcome",
        &[
            "investigation_opened",
            "no_investigation",
            "investigation_ongoing",
        ],
    ),
    vocabulary(
        "lvm_substance",
        &["alcohol", "narcotics", "volatile_solvents"],
    ),
    vocabulary(
        "lvm_ground",
        &["health_in_danger", "risk_of_ruining_life", "risk_of_harm"],
    ),
    vocabulary("event_kind", EventKind::NAMES),
    vocabulary("receipt_status", &["accepted", "rejected"]),
    vocabulary(
        "error_code",
        &[
            "invalid",
            "not_accepted",
            "conflict",
            "unprocessable",
            "unknown_case",
            "unsupported_media_type",
            "busy",
            "internal",
            "unauthorized",
            "forbidden",
        ],
    ),
];

impl Vocabulary {
    pub fn find(name: &str) -> Option<&'static Vocabulary> {
        VOCABULARIES.iter().find(|v| v.name == name)
    }

    fn json(&self, value: &str) -> Value {
        if self.boolean {
            Value::Bool(value == "true")
        } else {
            Value::String(value.to_owned())
        }
    }
}

/// The key that lists codes meaning "no value" (the canonical field is absent).
pub const NONE_KEY: &str = "none";

/// One code table: local codes to canonical values and back.
#[derive(Debug, Clone)]
pub struct CodeTable {
    pub name: String,
    pub vocabulary: &'static str,
    decode: HashMap<String, Option<Value>>,
    /// The code written for each value (`None`: the field is absent); the first listed.
    encode: Vec<(Option<Value>, String)>,
}

impl CodeTable {
    /// `None`: an unknown code; `Some(None)`: a code meaning "no value".
    pub fn decode(&self, code: &str) -> Option<Option<&Value>> {
        self.decode.get(code).map(Option::as_ref)
    }

    /// The code written for `value` (`None`: the field is absent), if the table has one.
    pub fn encode(&self, value: Option<&Value>) -> Option<&str> {
        self.encode
            .iter()
            .find(|(v, _)| v.as_ref() == value)
            .map(|(_, c)| c.as_str())
    }

    /// The code written for a value of a message being written.
    pub(super) fn encode_ref(&self, value: Ref<'_>) -> Option<&str> {
        self.encode
            .iter()
            .find(|(v, _)| v.as_ref().is_some_and(|v| value.equals(v)))
            .map(|(_, c)| c.as_str())
    }

    /// Every accepted code, sorted, for error messages.
    pub fn codes(&self) -> Vec<&str> {
        let mut codes: Vec<&str> = self.decode.keys().map(String::as_str).collect();
        codes.sort_unstable();
        codes
    }
}

/// All code tables of a dialect, by name.
#[derive(Debug, Clone, Default)]
pub struct CodeTables {
    tables: BTreeMap<String, Arc<CodeTable>>,
}

impl CodeTables {
    pub fn get(&self, name: &str) -> Option<&Arc<CodeTable>> {
        self.tables.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }

    /// Reads `codes.toml` text. A table is named after its vocabulary, or mapped to one in
    /// `[vocabulary]` (`insatskod = "service_type"`). Errors name the table and the entry.
    pub fn parse(text: &str) -> Result<CodeTables, String> {
        let raw: BTreeMap<String, toml::Value> = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut vocabulary_of: BTreeMap<String, String> = BTreeMap::new();
        if let Some(declared) = raw.get("vocabulary") {
            let declared = declared
                .as_table()
                .ok_or("[vocabulary] is a table of table name = vocabulary name")?;
            for (table, vocabulary) in declared {
                let vocabulary = vocabulary.as_str().ok_or_else(|| {
                    format!(
                        "[vocabulary] {table}: the vocabulary is a string, e.g. \"service_type\""
                    )
                })?;
                vocabulary_of.insert(table.clone(), vocabulary.to_owned());
            }
        }
        let known: Vec<&str> = VOCABULARIES.iter().map(|v| v.name).collect();
        let mut tables = BTreeMap::new();
        for (name, entries) in &raw {
            if name == "vocabulary" {
                continue;
            }
            let vocabulary_name = vocabulary_of.get(name).map(String::as_str).unwrap_or(name);
            let vocabulary = Vocabulary::find(vocabulary_name).ok_or_else(|| {
                format!(
                    "[{name}]: {vocabulary_name:?} is not a canonical vocabulary; name the table after one, or map it in [vocabulary]: {}",
                    known.join(", ")
                )
            })?;
            let entries = entries
                .as_table()
                .ok_or_else(|| format!("[{name}] is a table of canonical value = [codes]"))?;
            let mut decode = HashMap::new();
            let mut encode = Vec::new();
            for (key, codes) in entries {
                let value = if key == NONE_KEY {
                    None
                } else if vocabulary.values.contains(&key.as_str()) {
                    Some(vocabulary.json(key))
                } else {
                    return Err(format!(
                        "[{name}] {key:?} is not a value of {}; expected one of {} (or {NONE_KEY:?} for codes that mean no value)",
                        vocabulary.name,
                        vocabulary.values.join(", ")
                    ));
                };
                let codes: Vec<&str> = codes
                    .as_array()
                    .and_then(|a| a.iter().map(toml::Value::as_str).collect())
                    .ok_or_else(|| {
                        format!("[{name}] {key}: the codes are a list of strings, e.g. [\"HT\"]")
                    })?;
                let Some(first) = codes.first() else {
                    return Err(format!("[{name}] {key:?} lists no codes"));
                };
                encode.push((value.clone(), (*first).to_owned()));
                for code in codes {
                    if decode.insert(code.to_owned(), value.clone()).is_some() {
                        return Err(format!("[{name}] code {code:?} is listed more than once"));
                    }
                }
            }
            let missing: Vec<&str> = vocabulary
                .values
                .iter()
                .filter(|v| !entries.contains_key(**v))
                .copied()
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "[{name}] has no codes for {}; every value of {} needs one",
                    missing.join(", "),
                    vocabulary.name
                ));
            }
            tables.insert(
                name.clone(),
                Arc::new(CodeTable {
                    name: name.clone(),
                    vocabulary: vocabulary.name,
                    decode,
                    encode,
                }),
            );
        }
        if let Some(unused) = vocabulary_of.keys().find(|t| !tables.contains_key(*t)) {
            return Err(format!(
                "[vocabulary] names table {unused:?}, which is not defined"
            ));
        }
        Ok(CodeTables { tables })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{
        ChildConcernOutcome, ConsentScope, Deadline, DeviationCause, LvmDecisionKind, LvmGround,
        LvmSubstance, PlanType, ServiceType,
    };
    use crate::domain::party::Principal;

    fn parses_as<T: serde::de::DeserializeOwned>(vocabulary: &str) {
        for value in Vocabulary::find(vocabulary).unwrap().values {
            serde_json::from_value::<T>(Value::String((*value).to_owned()))
                .unwrap_or_else(|e| panic!("{vocabulary} {value}: {e}"));
        }
    }

    #[test]
    fn the_vocabularies_are_the_canonical_values() {
        parses_as::<PlanType>("plan_type");
        parses_as::<ServiceType>("service_type");
        parses_as::<Principal>("principal");
        parses_as::<LvmDecisionKind>("lvm_decision");
        parses_as::<ConsentScope>("consent_scope");
        parses_as::<DeviationCause>("deviation_cause");
        parses_as::<Deadline>("deadline");
        parses_as::<ChildConcernOutcome>("child_concern_outcome");
        parses_as::<LvmSubstance>("lvm_substance");
        parses_as::<LvmGround>("lvm_ground");
        assert_eq!(
            Vocabulary::find("service_type").unwrap().values.len(),
            5,
            "every service type"
        );
    }

    #[test]
    fn tables_translate_both_ways_and_know_codes_for_no_value() {
        let t = CodeTables::parse(
            "[vocabulary]\nansvar = \"principal\"\n[ansvar]\nregion = [\"R\", \"REG\"]\nmunicipality = [\"K\"]\nnone = [\"A\"]\n[boolean]\ntrue = [\"J\"]\nfalse = [\"N\"]",
        )
        .unwrap();
        let ansvar = t.get("ansvar").unwrap();
        assert_eq!(ansvar.decode("REG"), Some(Some(&Value::from("region"))));
        assert_eq!(ansvar.decode("A"), Some(None));
        assert_eq!(ansvar.decode("X"), None);
        assert_eq!(ansvar.encode(Some(&Value::from("region"))), Some("R"));
        assert_eq!(ansvar.encode(None), Some("A"));
        assert_eq!(
            t.get("boolean").unwrap().decode("J"),
            Some(Some(&Value::Bool(true)))
        );
    }

    #[test]
    fn a_broken_table_says_which_entry_is_wrong() {
        let err = CodeTables::parse("[service_type]\nHTJ = [\"HT\"]\nXYZ = [\"X\"]").unwrap_err();
        assert!(
            err.contains("[service_type] \"XYZ\" is not a value"),
            "{err}"
        );
        let err = CodeTables::parse("[service_type]\nHTJ = [\"HT\"]").unwrap_err();
        assert!(
            err.contains("no codes for LSS, SABO, HSJV, BOENDESTOD"),
            "{err}"
        );
        let err =
            CodeTables::parse("[principal]\nregion = [\"R\"]\nmunicipality = [\"R\"]").unwrap_err();
        assert!(err.contains("code \"R\" is listed more than once"), "{err}");
        let err = CodeTables::parse("[insats]\nHTJ = [\"HT\"]").unwrap_err();
        assert!(err.contains("not a canonical vocabulary"), "{err}");
    }
}
