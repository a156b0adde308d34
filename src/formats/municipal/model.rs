//! The canonical model as a dialect's rules see it: which fields a message of each kind has and
//! what each holds, read from the JSON Schema derived from the domain's types
//! (`schemars`). A dialect's rules are checked against it when the dialect is loaded, so a
//! misspelt field, a field the kind does not have or a value of the wrong type is an error
//! naming the rule — never a value silently dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::formats::canonical::CanonicalMessage;

/// What a value at one place of the model may be: any of its alternatives.
#[derive(Debug, Clone, Default)]
pub struct Node {
    alts: Vec<Ty>,
}

#[derive(Debug, Clone)]
enum Ty {
    Null,
    Boolean,
    Integer,
    /// A string, with its format (`date-time`, `hsa-id`, …) and, for a code, its values.
    Str {
        format: Option<String>,
        values: Option<Vec<String>>,
    },
    Array(Arc<Node>),
    Object(BTreeMap<String, Arc<Node>>),
    /// Anything (an unconstrained schema).
    Any,
}

/// The canonical message's model, built once.
pub fn message() -> &'static Node {
    static MODEL: OnceLock<Node> = OnceLock::new();
    MODEL.get_or_init(|| {
        let schema = serde_json::to_value(schemars::schema_for!(CanonicalMessage))
            .expect("a schema is JSON");
        let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
        Node::of(&schema, &defs, 0)
    })
}

/// The model of a message of event kind `kind`: the message with the event's common fields and
/// that kind's own. `None` for a kind the model does not have.
pub fn of_kind(kind: &str) -> Option<Node> {
    static KINDS: OnceLock<HashMap<&'static str, Node>> = OnceLock::new();
    KINDS
        .get_or_init(|| {
            crate::domain::event::EventKind::NAMES
                .iter()
                .filter_map(|k| Some((*k, build_kind(k)?)))
                .collect()
        })
        .get(kind)
        .cloned()
}

fn build_kind(kind: &str) -> Option<Node> {
    let root = message();
    let event = root.field("event").ok()?;
    let chosen: Vec<Ty> = event
        .alts
        .iter()
        .filter(|alt| match alt {
            Ty::Object(props) => props
                .get("kind")
                .is_some_and(|k| k.values() == Some(vec![kind.to_owned()])),
            _ => false,
        })
        .cloned()
        .collect();
    if chosen.is_empty() {
        return None;
    }
    Some(root.with_field("event", Node { alts: chosen }))
}

/// The model every message shares (the envelope's): the event's common fields only.
pub fn envelope() -> Node {
    let root = message();
    let common: BTreeMap<String, Arc<Node>> = ["id", "occurred_at", "source"]
        .into_iter()
        .filter_map(|name| {
            root.field("event")
                .ok()?
                .field(name)
                .ok()
                .map(|n| (name.to_owned(), Arc::new(n)))
        })
        .collect();
    root.with_field(
        "event",
        Node {
            alts: vec![Ty::Object(common)],
        },
    )
}

/// What a rule puts into a field, to be checked against the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Produces<'a> {
    String,
    Integer,
    Boolean,
    Date,
    DateTime,
    HsaId,
    Kommunkod,
    PersonId,
    /// A code table's canonical values (strings, or booleans).
    Code {
        values: &'a [&'a str],
        boolean: bool,
    },
    /// A constant JSON value.
    Json(&'a Value),
    /// A list (a repeated group).
    List,
    /// An object (a group with a field).
    Object,
}

impl Node {
    fn of(schema: &Value, defs: &Value, depth: usize) -> Node {
        let mut node = Node::default();
        if depth > 32 {
            node.alts.push(Ty::Any);
            return node;
        }
        if let Some(name) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            return match defs.get(name) {
                Some(def) => Node::of(def, defs, depth + 1),
                None => Node {
                    alts: vec![Ty::Any],
                },
            };
        }
        let choices = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array);
        if let Some(choices) = choices {
            // Properties beside the choice (an event's common fields) belong to every one.
            let common = Node::properties(schema, defs, depth);
            for choice in choices {
                for alt in Node::of(choice, defs, depth + 1).alts {
                    node.alts.push(match (alt, &common) {
                        (Ty::Object(mut props), Some(common)) => {
                            for (k, v) in common {
                                props.entry(k.clone()).or_insert_with(|| v.clone());
                            }
                            Ty::Object(props)
                        }
                        (alt, _) => alt,
                    });
                }
            }
            return node;
        }
        let format = schema
            .get("format")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(constant) = schema.get("const") {
            node.alts.push(match constant {
                Value::Bool(_) => Ty::Boolean,
                Value::String(s) => Ty::Str {
                    format,
                    values: Some(vec![s.clone()]),
                },
                _ => Ty::Any,
            });
            return node;
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            node.alts.push(Ty::Str {
                format,
                values: Some(
                    values
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                ),
            });
            return node;
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ if schema.get("properties").is_some() => vec!["object"],
            _ => Vec::new(),
        };
        if types.is_empty() {
            node.alts.push(Ty::Any);
        }
        for t in types {
            node.alts.push(match t {
                "null" => Ty::Null,
                "boolean" => Ty::Boolean,
                "integer" | "number" => Ty::Integer,
                "string" => Ty::Str {
                    format: format.clone(),
                    values: None,
                },
                "array" => Ty::Array(Arc::new(
                    schema
                        .get("items")
                        .map(|items| Node::of(items, defs, depth + 1))
                        .unwrap_or(Node {
                            alts: vec![Ty::Any],
                        }),
                )),
                "object" => Ty::Object(Node::properties(schema, defs, depth).unwrap_or_default()),
                _ => Ty::Any,
            });
        }
        node
    }

    fn properties(
        schema: &Value,
        defs: &Value,
        depth: usize,
    ) -> Option<BTreeMap<String, Arc<Node>>> {
        let props = schema.get("properties")?.as_object()?;
        Some(
            props
                .iter()
                .map(|(k, v)| (k.clone(), Arc::new(Node::of(v, defs, depth + 1))))
                .collect(),
        )
    }

    /// This node with field `name` of its objects replaced.
    fn with_field(&self, name: &str, value: Node) -> Node {
        Node {
            alts: self
                .alts
                .iter()
                .map(|alt| match alt {
                    Ty::Object(props) => {
                        let mut props = props.clone();
                        props.insert(name.to_owned(), Arc::new(value.clone()));
                        Ty::Object(props)
                    }
                    other => other.clone(),
                })
                .collect(),
        }
    }

    /// The field `name` of this node's objects (an item index of its lists), or the names it
    /// does have.
    pub fn field(&self, name: &str) -> Result<Node, Vec<String>> {
        let mut found = Node::default();
        let mut known = Vec::new();
        for alt in &self.alts {
            match alt {
                Ty::Object(props) => match props.get(name) {
                    Some(node) => found.alts.extend(node.alts.iter().cloned()),
                    None => known.extend(props.keys().cloned()),
                },
                Ty::Array(items) if name.parse::<usize>().is_ok() => {
                    found.alts.extend(items.alts.iter().cloned());
                }
                Ty::Any => found.alts.push(Ty::Any),
                _ => {}
            }
        }
        if found.alts.is_empty() {
            known.sort();
            known.dedup();
            return Err(known);
        }
        Ok(found)
    }

    /// The items of this node's lists.
    pub fn items(&self) -> Option<Node> {
        let mut items = Node::default();
        for alt in &self.alts {
            match alt {
                Ty::Array(node) => items.alts.extend(node.alts.iter().cloned()),
                Ty::Any => items.alts.push(Ty::Any),
                _ => {}
            }
        }
        (!items.alts.is_empty()).then_some(items)
    }

    /// The string values allowed here, when they are a closed set of one alternative shape.
    fn values(&self) -> Option<Vec<String>> {
        let mut all = Vec::new();
        for alt in &self.alts {
            match alt {
                Ty::Str {
                    values: Some(values),
                    ..
                } => all.extend(values.iter().cloned()),
                Ty::Null => {}
                _ => return None,
            }
        }
        (!all.is_empty()).then_some(all)
    }

    fn formats(&self) -> Vec<Option<&str>> {
        self.alts
            .iter()
            .filter_map(|alt| match alt {
                Ty::Str { format, .. } => Some(format.as_deref()),
                _ => None,
            })
            .collect()
    }

    fn has(&self, wanted: fn(&Ty) -> bool) -> bool {
        self.alts
            .iter()
            .any(|alt| matches!(alt, Ty::Any) || wanted(alt))
    }

    /// What this place holds, in the words of the mapping language's types.
    pub fn describe(&self) -> String {
        let mut words: Vec<String> = self
            .alts
            .iter()
            .filter_map(|alt| match alt {
                Ty::Null => None,
                Ty::Boolean => Some("a boolean".to_owned()),
                Ty::Integer => Some("an integer".to_owned()),
                Ty::Str {
                    values: Some(values),
                    ..
                } if values.len() == 1 => Some(format!("{:?}", values[0])),
                Ty::Str {
                    values: Some(values),
                    ..
                } => Some(format!("one of {}", values.join(", "))),
                Ty::Str {
                    format: Some(format),
                    ..
                } => Some(format!("a {}", type_of_format(format))),
                Ty::Str { .. } => Some("a string".to_owned()),
                Ty::Array(_) => Some("a list".to_owned()),
                Ty::Object(props) if props.contains_key("system") => Some("a person-id".to_owned()),
                Ty::Object(_) => Some("an object".to_owned()),
                Ty::Any => Some("anything".to_owned()),
            })
            .collect();
        words.dedup();
        if words.len() > 3 && self.values().is_some() {
            return format!("one of {}", self.values().unwrap_or_default().join(", "));
        }
        words.join(" or ")
    }

    /// Whether a rule producing `produced` may fill this place; otherwise what is wrong.
    pub fn accepts(&self, produced: Produces<'_>) -> Result<(), String> {
        let string_with = |format: &str| {
            self.formats().contains(&Some(format)) || self.has(|t| matches!(t, Ty::Any))
        };
        let ok = match produced {
            Produces::String => {
                if !self.has(|t| matches!(t, Ty::Str { .. })) {
                    false
                } else if let Some(format) = self
                    .formats()
                    .into_iter()
                    .flatten()
                    .find(|f| MAPPED.contains(f))
                {
                    return Err(format!(
                        "the field holds a {0}: read it with type = \"{0}\"",
                        type_of_format(format)
                    ));
                } else if let Some(values) = self.values() {
                    return Err(format!(
                        "the field holds one of {}: map the document's codes with a table",
                        values.join(", ")
                    ));
                } else {
                    true
                }
            }
            Produces::Integer => self.has(|t| matches!(t, Ty::Integer)),
            Produces::Boolean => self.has(|t| matches!(t, Ty::Boolean)),
            Produces::Date => string_with("date"),
            Produces::DateTime => string_with("date-time"),
            Produces::HsaId => string_with("hsa-id"),
            Produces::Kommunkod => string_with("kommunkod"),
            Produces::PersonId => {
                self.has(|t| matches!(t, Ty::Object(props) if props.contains_key("system")))
            }
            Produces::Code { values, boolean } => {
                if boolean {
                    self.has(|t| matches!(t, Ty::Boolean))
                } else {
                    return self.accepts_values(values.iter().copied());
                }
            }
            Produces::Json(value) => match value {
                Value::Bool(_) => self.has(|t| matches!(t, Ty::Boolean)),
                Value::Number(_) => self.has(|t| matches!(t, Ty::Integer)),
                Value::String(s) => return self.accepts_values(std::iter::once(s.as_str())),
                Value::Null => true,
                Value::Array(_) => self.items().is_some(),
                Value::Object(_) => self.has(|t| matches!(t, Ty::Object(_))),
            },
            Produces::List => self.items().is_some(),
            Produces::Object => self.has(|t| matches!(t, Ty::Object(_))),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("the field holds {}", self.describe()))
        }
    }

    fn accepts_values<'v>(&self, values: impl Iterator<Item = &'v str>) -> Result<(), String> {
        if !self.has(|t| matches!(t, Ty::Str { .. })) {
            return Err(format!("the field holds {}", self.describe()));
        }
        let Some(allowed) = self.values() else {
            return Ok(());
        };
        let foreign: Vec<&str> = values.filter(|v| !allowed.iter().any(|a| a == v)).collect();
        if foreign.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} is not a value of the field, which holds one of {}",
                foreign.join(", "),
                allowed.join(", ")
            ))
        }
    }
}

/// The string formats a rule reads with a type of its own.
const MAPPED: &[&str] = &["date", "date-time", "hsa-id", "kommunkod"];

fn type_of_format(format: &str) -> &str {
    match format {
        "date-time" => "datetime",
        other => other,
    }
}

/// The names of `known` closest to `name`, for "did you mean".
pub fn nearest<'a>(name: &str, known: &'a [String]) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), k.as_str()))
        .filter(|(score, _)| *score > 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(3).map(|(_, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_has_its_own_fields_and_the_events_common_ones() {
        let report = of_kind("lvm_report").unwrap();
        let event = report.field("event").unwrap();
        assert!(event.field("physician").is_ok());
        assert!(event.field("occurred_at").is_ok());
        let known = event.field("physican").unwrap_err();
        assert_eq!(nearest("physican", &known), ["physician"]);
        assert!(
            of_kind("sip_response")
                .unwrap()
                .field("event")
                .unwrap()
                .field("attendees")
                .is_err()
        );
        assert!(of_kind("no_such_kind").is_none());
    }

    #[test]
    fn types_are_checked_with_what_the_field_holds() {
        let event = of_kind("sip_invitation").unwrap().field("event").unwrap();
        let meeting = event.field("meeting_at").unwrap();
        assert!(meeting.accepts(Produces::DateTime).is_ok());
        assert!(meeting.accepts(Produces::Date).is_err());
        assert_eq!(
            meeting.accepts(Produces::String).unwrap_err(),
            "the field holds a datetime: read it with type = \"datetime\""
        );
        let plan_type = event.field("plan_type").unwrap();
        assert!(
            plan_type
                .accepts(Produces::Code {
                    values: &["SIP", "SPU", "SPLPTLRV"],
                    boolean: false
                })
                .is_ok()
        );
        assert!(
            plan_type
                .accepts(Produces::Code {
                    values: &["SIP", "VP"],
                    boolean: false
                })
                .unwrap_err()
                .contains("VP is not a value")
        );
        let invited = event.field("invited").unwrap().items().unwrap();
        assert!(invited.field("party").unwrap().field("hsa_id").is_ok());
        let person = message().field("person").unwrap();
        assert!(person.accepts(Produces::PersonId).is_ok());
        assert!(person.accepts(Produces::String).is_err());
    }
}
