//! The one JSON reader for everything the gateway receives: `serde_json`'s parser, but an
//! object that names a key twice is refused (with the key and its line and column) instead of
//! keeping the last value — `{"type":"permit","type":"deny"}` must not quietly mean deny to one
//! reader and permit to another.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a body is not strict JSON: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub line: usize,
    pub column: usize,
    /// What is wrong, without the position.
    pub message: String,
}

impl JsonError {
    fn from_serde(e: &serde_json::Error) -> JsonError {
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(at) => message[..at].to_owned(),
            None => message,
        };
        JsonError {
            line: e.line(),
            column: e.column(),
            message,
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "not JSON at line {}, column {}: {}",
                self.line, self.column, self.message
            )
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for JsonError {}

/// Parses `bytes` as one JSON value, refusing duplicate keys and trailing data.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue
        .deserialize(&mut deserializer)
        .map_err(|e| JsonError::from_serde(&e))?;
    deserializer.end().map_err(|e| JsonError::from_serde(&e))?;
    Ok(value)
}

/// Parses `bytes` strictly, then reads the value as a `T` (an error of its shape has no
/// position).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let value = parse(bytes)?;
    serde_json::from_value(value).map_err(|e| JsonError {
        line: 0,
        column: 0,
        message: e.to_string(),
    })
}

/// A `Value` seed that refuses a key named twice in one object.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        StrictValue.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key {key:?} appears twice in one object"
                )));
            }
            let value = map.next_value_seed(StrictValue)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_named_twice_is_refused_with_its_position() {
        let error =
            parse(b"{\"provision\": {\"type\": \"permit\",\n \"type\": \"deny\"}}").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(
            error.message.contains("\"type\" appears twice"),
            "{}",
            error.message
        );
    }

    #[test]
    fn the_same_key_in_different_objects_is_fine() {
        let value = parse(br#"[{"a": 1}, {"a": 2, "b": {"a": 3}}]"#).unwrap();
        assert_eq!(value[1]["b"]["a"], 3);
    }

    #[test]
    fn trailing_data_and_non_json_are_refused() {
        assert!(parse(b"{} {}").is_err());
        assert!(parse(b"1e999").is_err());
        assert!(parse(b"").is_err());
        let deep = "[".repeat(10_000);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn values_read_as_serde_json_reads_them() {
        let text = br#"{"n": -3, "u": 18446744073709551615, "f": 1.5, "s": "\u00e5", "z": null, "t": true}"#;
        assert_eq!(
            parse(text).unwrap(),
            serde_json::from_slice::<Value>(text).unwrap()
        );
    }
}
