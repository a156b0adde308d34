//! The FHIR resources as the gateway writes them: borrowed, serialised straight to JSON.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

use crate::formats::fhir::codes::TASK_INPUT;

/// A FHIR Identifier.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Identifier<'a> {
    pub(super) system: Cow<'a, str>,
    pub(super) value: Cow<'a, str>,
}

/// A FHIR Coding.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Coding<'a> {
    pub(super) system: &'a str,
    pub(super) code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) display: Option<&'a str>,
}

/// A FHIR CodeableConcept with codings only.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Concept<'a> {
    pub(super) coding: [Coding<'a>; 1],
}

pub(super) fn concept<'a>(system: &'a str, code: &'a str, display: Option<&'a str>) -> Concept<'a> {
    Concept {
        coding: [Coding {
            system,
            code,
            display,
        }],
    }
}

/// A FHIR Reference: to a Bundle entry, or to a unit by its identifier.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Reference<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) extension: Vec<Extension<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reference: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) identifier: Option<Identifier<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) display: Option<&'a str>,
}

pub(super) fn local_reference(id: &str) -> Reference<'static> {
    Reference {
        reference: Some(format!("urn:uuid:{id}")),
        ..Reference::default()
    }
}

/// An extension with one typed value.
#[derive(Debug, Clone)]
pub(super) struct Extension<'a> {
    pub(super) url: &'static str,
    pub(super) value: Typed<'a>,
}

/// A `value[x]`: the element name is chosen by the type.
#[derive(Debug, Clone)]
pub(super) enum Typed<'a> {
    String(&'a str),
    DateTime(String),
    Date(String),
    Boolean(bool),
    Code(&'static str),
    Url(&'a str),
    Coding(Coding<'a>),
    Identifier(Identifier<'a>),
    Reference(Reference<'a>),
    Integer(i64),
    /// An amount in whole Swedish kronor (`Money` with currency SEK).
    Sek(u64),
}

impl Typed<'_> {
    fn entry<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match self {
            Typed::String(v) => map.serialize_entry("valueString", v),
            Typed::DateTime(v) => map.serialize_entry("valueDateTime", v),
            Typed::Date(v) => map.serialize_entry("valueDate", v),
            Typed::Boolean(v) => map.serialize_entry("valueBoolean", v),
            Typed::Code(v) => map.serialize_entry("valueCode", v),
            Typed::Url(v) => map.serialize_entry("valueUrl", v),
            Typed::Coding(v) => map.serialize_entry("valueCoding", v),
            Typed::Identifier(v) => map.serialize_entry("valueIdentifier", v),
            Typed::Reference(v) => map.serialize_entry("valueReference", v),
            Typed::Integer(v) => map.serialize_entry("valueInteger", v),
            Typed::Sek(v) => map.serialize_entry(
                "valueMoney",
                &serde_json::json!({ "value": v, "currency": "SEK" }),
            ),
        }
    }
}

impl Serialize for Extension<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("url", self.url)?;
        self.value.entry(&mut map)?;
        map.end()
    }
}

/// One typed Task input.
#[derive(Debug, Clone)]
pub(super) struct Input<'a> {
    pub(super) code: &'a str,
    pub(super) display: &'a str,
    pub(super) value: Typed<'a>,
    pub(super) extension: Vec<Extension<'a>>,
}

impl Serialize for Input<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if !self.extension.is_empty() {
            map.serialize_entry("extension", &self.extension)?;
        }
        map.serialize_entry("type", &concept(TASK_INPUT, self.code, Some(self.display)))?;
        self.value.entry(&mut map)?;
        map.end()
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Period {
    pub(super) start: String,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct EndPeriod {
    pub(super) end: String,
}

/// Task.restriction: the period within which the Task is to be fulfilled.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Restriction {
    pub(super) period: EndPeriod,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Task<'a> {
    pub(super) resource_type: &'static str,
    pub(super) id: String,
    pub(super) identifier: [Identifier<'a>; 1],
    pub(super) group_identifier: Identifier<'a>,
    pub(super) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) business_status: Option<Concept<'a>>,
    pub(super) intent: &'static str,
    pub(super) code: Concept<'a>,
    #[serde(rename = "for")]
    pub(super) subject: Reference<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) focus: Option<Reference<'a>>,
    pub(super) execution_period: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) restriction: Option<Restriction>,
    pub(super) authored_on: String,
    pub(super) last_modified: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) requester: Option<Reference<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) owner: Option<Reference<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) input: Vec<Input<'a>>,
}

#[derive(Debug, Serialize)]
pub(super) struct Meta {
    pub(super) security: [Coding<'static>; 1],
}

#[derive(Debug, Serialize)]
pub(super) struct HumanName<'a> {
    pub(super) family: &'a str,
    pub(super) given: [&'a str; 1],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PostalAddress<'a> {
    #[serde(rename = "use")]
    pub(super) purpose: &'static str,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) line: [&'a str; 1],
    pub(super) postal_code: &'a str,
    pub(super) city: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) district: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Patient<'a> {
    pub(super) resource_type: &'static str,
    pub(super) id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) meta: Option<Meta>,
    pub(super) identifier: [Identifier<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<[HumanName<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) address: Option<[PostalAddress<'a>; 1]>,
}

#[derive(Debug, Serialize)]
pub(super) struct ActivityDetail<'a> {
    pub(super) extension: [Extension<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) code: Option<Concept<'a>>,
    pub(super) status: &'static str,
    pub(super) description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) performer: Option<[Reference<'a>; 1]>,
}

#[derive(Debug, Serialize)]
pub(super) struct Activity<'a> {
    pub(super) detail: ActivityDetail<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CarePlan<'a> {
    pub(super) resource_type: &'static str,
    pub(super) id: String,
    pub(super) extension: Vec<Extension<'a>>,
    pub(super) identifier: [Identifier<'a>; 1],
    pub(super) status: &'static str,
    pub(super) intent: &'static str,
    pub(super) category: [Concept<'a>; 1],
    pub(super) subject: Reference<'a>,
    pub(super) created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) author: Option<Reference<'a>>,
    pub(super) activity: Vec<Activity<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum Resource<'a> {
    Patient(Box<Patient<'a>>),
    Consent(Box<Value>),
    Task(Box<Task<'a>>),
    CarePlan(Box<CarePlan<'a>>),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Entry<'a> {
    pub(super) full_url: String,
    pub(super) resource: Resource<'a>,
}

/// A rendered Bundle, borrowing from the message; serialise it, or see [`render`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle<'a> {
    pub(super) resource_type: &'static str,
    pub(super) id: String,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) timestamp: String,
    pub(super) entry: Vec<Entry<'a>>,
}
