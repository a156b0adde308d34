//! The JSON Schema of the canonical model's leaves that are not plain Rust types: times and
//! dates (jiff), identifiers with their own text form, personal data. The derived schemas of
//! the domain's types use these; the municipal dialects check their rules against the whole.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// A point in time, RFC 3339 (`jiff::Timestamp`).
pub struct DateTime;

impl JsonSchema for DateTime {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "date-time".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time" })
    }
}

/// A calendar date, `YYYY-MM-DD` (`jiff::civil::Date`).
pub struct Date;

impl JsonSchema for Date {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "date".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date" })
    }
}

/// A string with a format of its own (an HSA-id, a kommunkod, a UUID), named by `format`.
macro_rules! formatted_string {
    ($type:ty, $format:literal) => {
        impl JsonSchema for $type {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                $format.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "format": $format })
            }
        }
    };
}

formatted_string!(super::identifiers::HsaId, "hsa-id");
formatted_string!(super::identifiers::Kommunkod, "kommunkod");
formatted_string!(
    super::identifiers::OrganisationNumber,
    "organisation-number"
);
formatted_string!(super::event::EventId, "uuid");
formatted_string!(super::identifiers::Personnummer, "personnummer");
formatted_string!(super::identifiers::Samordningsnummer, "samordningsnummer");
formatted_string!(super::identifiers::ReserveNumber, "reserve-number");

impl<T: JsonSchema> JsonSchema for super::sensitive::Sensitive<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}
