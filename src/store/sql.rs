//! The store's lowest layer: which backend, and how values become columns (times as
//! milliseconds, person ids as two columns or one token).

use jiff::Timestamp;

use super::error::StoreError;
use crate::domain::identifiers::PersonId;

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

pub(super) fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(super) fn from_millis(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms).map_err(|e| StoreError::decode("timestamp", e))
}

/// The person id as two columns: the serde tag (`personnummer`, …) and the value.
pub(super) fn person_columns(person: &PersonId) -> Result<(String, String), StoreError> {
    let value = serde_json::to_value(person).map_err(|e| StoreError::decode("person id", e))?;
    let system = value["system"].as_str().unwrap_or_default().to_owned();
    Ok((system, person.value()))
}

pub(super) fn person_from_columns(system: String, value: String) -> Result<PersonId, StoreError> {
    serde_json::from_value(serde_json::json!({ "system": system, "value": value }))
        .map_err(|e| StoreError::decode("person id", e))
}

/// A person as one column (`system|value`): the key of their consents and protection.
pub(super) fn person_token(person: &PersonId) -> String {
    format!("{}|{}", person.system(), person.value())
}
