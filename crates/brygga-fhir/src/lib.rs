//! FHIR R4 JSON through fhir-sdk's models, behind non-generic functions.
//!
//! fhir-sdk has no R4 module; its R4B models carry the R4 resources brygga exchanges (Task,
//! CarePlan, Patient, Consent, Subscription, …). It drops elements it does not know and turns
//! decimals into floats, so `check_resource` compares what the model kept with what was sent
//! and lists every element that did not survive, so that nothing a client sent is lost in
//! silence. The (de)serialisation code is instantiated in this crate only, so the gateway's own
//! crate recompiles without paying for it.

use fhir_sdk::r4b::resources::Resource;
use serde_json::Value;

/// Why a document is not a FHIR resource.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    #[error("not JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the document is not a FHIR resource: it has no resourceType")]
    NotAResource,
    #[error("not a valid FHIR R4 {resource_type}: {message}")]
    Invalid {
        resource_type: String,
        message: String,
    },
}

/// A resource as the model read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub resource_type: String,
    /// The resource as the model serialises it again.
    pub json: Value,
    /// Paths (`Task.input[0].valueFoo`) of input elements the model did not keep, or kept with
    /// another value.
    pub lost: Vec<String>,
    /// Paths of values R4 forbids though the model kept them, each with why
    /// (`Task.intent ("AAA" is not a code of http://hl7.org/fhir/task-intent)`): an empty
    /// string, object or list, a null, a control character, a code outside a required binding
    /// the model holds as text.
    pub invalid: Vec<String>,
}

/// Reads `input` as a FHIR R4 resource and reports what the model could not keep.
pub fn check_resource(input: &[u8]) -> Result<Checked, FhirError> {
    let original: Value = serde_json::from_slice(input).map_err(|e| FhirError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    check_value(&original)
}

/// As `check_resource`, for an already parsed document.
pub fn check_value(original: &Value) -> Result<Checked, FhirError> {
    let resource_type = original
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or(FhirError::NotAResource)?
        .to_owned();
    let resource: Resource =
        serde_json::from_value(original.clone()).map_err(|e| FhirError::Invalid {
            resource_type: resource_type.clone(),
            message: e.to_string(),
        })?;
    let json = serde_json::to_value(&resource).map_err(|e| FhirError::Invalid {
        resource_type: resource_type.clone(),
        message: e.to_string(),
    })?;
    let mut lost = Vec::new();
    compare(original, &json, &resource_type, &mut lost);
    let mut invalid = Vec::new();
    forbidden(original, &resource_type, false, &mut invalid);
    bindings(original, &resource_type, &mut invalid);
    Ok(Checked {
        resource_type,
        json,
        lost,
        invalid,
    })
}

/// The paths of `value` (named from `path`) that R4's JSON rules forbid, each with why; for a
/// document read without the models (a Bundle's own elements).
pub fn invalid_values(value: &Value, path: &str) -> Vec<String> {
    let mut invalid = Vec::new();
    forbidden(value, path, false, &mut invalid);
    invalid
}

/// R4's JSON rules for every value (http://hl7.org/fhir/R4/json.html): no empty strings,
/// objects or lists, no nulls except as placeholders in lists, no control characters but tab,
/// carriage return and line feed.
fn forbidden(value: &Value, path: &str, in_list: bool, invalid: &mut Vec<String>) {
    match value {
        Value::Null if !in_list => invalid.push(format!("{path} (null)")),
        Value::String(text) if text.is_empty() => {
            invalid.push(format!("{path} (an empty string)"));
        }
        Value::String(text)
            if text
                .chars()
                .any(|c| c < ' ' && !matches!(c, '\t' | '\r' | '\n')) =>
        {
            invalid.push(format!("{path} (a control character)"));
        }
        Value::Object(map) if map.is_empty() => invalid.push(format!("{path} (empty)")),
        Value::Array(list) if list.is_empty() => invalid.push(format!("{path} (empty)")),
        Value::Object(map) => {
            for (key, child) in map {
                forbidden(child, &format!("{path}.{key}"), false, invalid);
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                forbidden(child, &format!("{path}[{i}]"), true, invalid);
            }
        }
        _ => {}
    }
}

/// Required bindings of codes the models hold as text, so that they would keep any.
const TEXT_BINDINGS: &[(&str, &str, &str, &[&str])] = &[
    (
        "Task",
        "intent",
        "http://hl7.org/fhir/task-intent",
        &[
            "unknown",
            "proposal",
            "plan",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        ],
    ),
    (
        "CarePlan",
        "intent",
        "http://hl7.org/fhir/care-plan-intent",
        &["proposal", "plan", "order", "option"],
    ),
];

fn bindings(original: &Value, resource_type: &str, invalid: &mut Vec<String>) {
    for (kind, element, value_set, codes) in TEXT_BINDINGS {
        if *kind != resource_type {
            continue;
        }
        if let Some(code) = original.get(element).and_then(Value::as_str)
            && !codes.contains(&code)
        {
            invalid.push(format!(
                "{kind}.{element} ({code:?} is not a code of {value_set}: {})",
                codes.join(", ")
            ));
        }
    }
}

fn compare(original: &Value, kept: &Value, path: &str, lost: &mut Vec<String>) {
    match (original, kept) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let child = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => compare(value, other, &child, lost),
                    None => lost.push(child),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, value) in a.iter().enumerate() {
                let child = format!("{path}[{i}]");
                match b.get(i) {
                    Some(other) => compare(value, other, &child, lost),
                    None => lost.push(child),
                }
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        // The models write a UTC offset of +00:00 as Z: the same instant, not a loss.
        (Value::String(a), Value::String(b)) if utc_as_z(a) == utc_as_z(b) => {}
        (a, b) if a == b => {}
        _ => lost.push(format!("{path} (value changed)")),
    }
}

fn utc_as_z(s: &str) -> std::borrow::Cow<'_, str> {
    match s.strip_suffix("+00:00") {
        Some(head) if head.contains('T') => std::borrow::Cow::Owned(format!("{head}Z")),
        _ => std::borrow::Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_element_is_reported_with_its_path() {
        let task = br#"{"resourceType":"Task","status":"requested","intent":"order",
            "input":[{"type":{"text":"x"},"valueString":"y","valueSurprise":1}],"madeUp":true}"#;
        let checked = check_resource(task).unwrap();
        assert_eq!(checked.resource_type, "Task");
        assert_eq!(
            checked.lost,
            vec!["Task.input[0].valueSurprise", "Task.madeUp"]
        );
    }

    #[test]
    fn values_r4_forbids_are_reported_with_their_path_and_why() {
        let task = br#"{"resourceType":"Task","status":"requested","intent":"AAA",
            "description":"a\u0006b","note":[{"text":""}],"code":{},"input":[],
            "executionPeriod":{"start":null},"_instantiatesUri":null}"#;
        let checked = check_resource(task).unwrap();
        assert_eq!(
            checked.invalid,
            vec![
                "Task._instantiatesUri (null)",
                "Task.code (empty)",
                "Task.description (a control character)",
                "Task.executionPeriod.start (null)",
                "Task.input (empty)",
                "Task.note[0].text (an empty string)",
                "Task.intent (\"AAA\" is not a code of http://hl7.org/fhir/task-intent: unknown, proposal, plan, order, original-order, reflex-order, filler-order, instance-order, option)",
            ]
        );
        // Tab, line feed and carriage return are text; a null holds a place in a list.
        let fine = br#"{"resourceType":"Task","status":"requested","intent":"order",
            "description":"a\tb\r\nc"}"#;
        assert_eq!(check_resource(fine).unwrap().invalid, Vec::<String>::new());
        let mut invalid = Vec::new();
        forbidden(
            &serde_json::json!({ "_given": [null, { "id": "a" }] }),
            "HumanName",
            false,
            &mut invalid,
        );
        assert_eq!(invalid, Vec::<String>::new());
    }

    #[test]
    fn a_resource_that_survives_whole_reports_nothing() {
        let patient = br#"{"resourceType":"Patient","id":"p1","identifier":[{"system":"http://electronichealth.se/identifier/personnummer","value":"198112189876"}]}"#;
        assert!(check_resource(patient).unwrap().lost.is_empty());
    }

    #[test]
    fn errors_say_where_and_what() {
        assert!(matches!(
            check_resource(b"{\n  \"a\": }"),
            Err(FhirError::Json { line: 2, .. })
        ));
        assert!(matches!(
            check_resource(b"{\"id\":\"x\"}"),
            Err(FhirError::NotAResource)
        ));
        let err = check_resource(br#"{"resourceType":"Task","intent":"order"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Task") && err.contains("status"), "{err}");
    }
}
