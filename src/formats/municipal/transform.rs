//! Value transforms of the mapping language, both ways: XML text ↔ the canonical JSON value
//! (dates and date-times in any strftime layout and time zone, personnummer layouts, checked
//! identifiers, code tables).

use std::borrow::Cow;
use std::sync::Arc;

use jiff::civil::{Date, DateTime};
use jiff::fmt::strtime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use serde_json::Value;

use super::codes::CodeTable;
use super::pattern::{self, Pattern};
use super::view::Ref;
use crate::domain::identifiers::{
    HsaId, Kommunkod, PersonId, Personnummer, ReserveNumber, Samordningsnummer,
};
use crate::domain::time::stockholm;

/// How a date-time's text relates to a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// Local Swedish time without an offset (summer time included).
    Stockholm,
    /// The text carries its offset; written in Swedish time with its offset.
    Offset,
    /// UTC without an offset.
    Utc,
}

/// Which personnummer layout is written (all are read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `YYYYMMDD-NNNC`
    CenturySeparator,
    /// `YYYYMMDDNNNC`
    Century,
    /// `YYMMDD-NNNC` (`+` from the year the person turns 100)
    Separator,
    /// `YYMMDDNNNC`
    Plain,
}

impl Layout {
    pub const NAMES: &'static [&'static str] =
        &["YYYYMMDD-NNNC", "YYYYMMDDNNNC", "YYMMDD-NNNC", "YYMMDDNNNC"];

    pub fn parse(name: &str) -> Option<Layout> {
        match name {
            "YYYYMMDD-NNNC" => Some(Layout::CenturySeparator),
            "YYYYMMDDNNNC" => Some(Layout::Century),
            "YYMMDD-NNNC" => Some(Layout::Separator),
            "YYMMDDNNNC" => Some(Layout::Plain),
            _ => None,
        }
    }
}

/// A date or date-time layout as the dialect gives it (strftime), with its compiled
/// [`Pattern`] when it has one.
#[derive(Debug, Clone)]
pub struct Format {
    text: String,
    pattern: Option<Pattern>,
}

impl From<String> for Format {
    fn from(text: String) -> Format {
        Format {
            pattern: Pattern::compile(&text),
            text,
        }
    }
}

impl From<&str> for Format {
    fn from(text: &str) -> Format {
        Format::from(text.to_owned())
    }
}

impl std::ops::Deref for Format {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl AsRef<[u8]> for Format {
    fn as_ref(&self) -> &[u8] {
        self.text.as_bytes()
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A value type with its parameters.
#[derive(Debug, Clone)]
pub enum Transform {
    String { max_length: Option<usize> },
    Integer,
    Boolean,
    Date { format: Format },
    DateTime { format: Format, zone: Zone },
    PersonId { layout: Layout },
    HsaId,
    Kommunkod,
    Code(Arc<CodeTable>),
}

/// Why a value could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransformError {
    Invalid(String),
    UnknownCode { code: String, expected: String },
}

fn invalid(problem: impl Into<String>) -> TransformError {
    TransformError::Invalid(problem.into())
}

/// The type names of the mapping language.
pub const TYPES: &[&str] = &[
    "string",
    "integer",
    "boolean",
    "date",
    "datetime",
    "person-id",
    "hsa-id",
    "kommunkod",
];

fn zoned(at: Timestamp, zone: Zone) -> ZonedDateTime {
    match zone {
        Zone::Stockholm | Zone::Offset => at.to_zoned_datetime(stockholm()),
        Zone::Utc => at.to_zoned_datetime(TimeZone::UTC),
    }
}

/// A dialect's local time in Swedish time: its layouts in local time carry no offset.
fn swedish(local: jiff::civil::DateTime) -> Result<crate::domain::time::LocalTime, String> {
    crate::domain::time::swedish_local_in(local, crate::domain::time::Offsets::NotInLayout)
}

fn read_datetime(text: &str, format: &Format, zone: Zone) -> Result<Timestamp, String> {
    read_instant(text, format, zone).map(|(at, _)| at)
}

/// [`read_datetime`], and the local Swedish time read when the wall clock shows it twice (read
/// as the first): the reader warns of it.
fn read_instant(
    text: &str,
    format: &Format,
    zone: Zone,
) -> Result<(Timestamp, Option<DateTime>), String> {
    let local_read =
        |local: DateTime| swedish(local).map(|read| (read.at, read.twice.then_some(local)));
    let read = format.pattern.as_ref().and_then(|p| p.read(text));
    match (zone, read.and_then(|r| r.time), read.and_then(|r| r.offset)) {
        (Zone::Stockholm, Some(local), None) => return local_read(local),
        (Zone::Utc, Some(local), None) => {
            if let Ok(at) = jiff::tz::Offset::UTC.to_timestamp(local) {
                return Ok((at, None));
            }
        }
        (Zone::Offset, Some(local), Some(offset)) => {
            if let Ok(at) = offset.to_timestamp(local) {
                return Ok((at, None));
            }
        }
        _ => {}
    }
    let broken = strtime::parse(format, text);
    let at = match zone {
        Zone::Offset => broken
            .and_then(|b| b.to_timestamp())
            .or_else(|e| text.parse::<Timestamp>().map_err(|_| e)),
        Zone::Stockholm => match broken.and_then(|b| b.to_datetime()) {
            // A time the clocks skip is refused with its own reason.
            Ok(local) => return local_read(local),
            Err(error) => Err(error),
        },
        Zone::Utc => broken
            .and_then(|b| b.to_datetime())
            .and_then(|dt| dt.to_zoned_datetime(TimeZone::UTC))
            .map(|z| z.timestamp()),
    };
    at.map(|at| (at, None)).map_err(|_| {
        let zone = match zone {
            Zone::Stockholm => "local Swedish time",
            Zone::Offset => "with an offset",
            Zone::Utc => "UTC",
        };
        format!(
            "{text:?} is not a date-time in the layout {format} ({zone}): {}",
            why_not(text, format)
        )
    })
}

/// Why `text` does not read in `format`: the day a month does not have, or what `strtime`
/// found wrong (a field out of its range, a character the layout does not have there).
fn why_not(text: &str, format: &Format) -> String {
    let broken = match strtime::parse(format, text) {
        Ok(broken) => broken,
        // The directive and its reason (`%H failed: failed to parse hour number: parameter
        // 'hour' is not in the required range of 0..=23`).
        Err(e) => {
            let message = e.to_string();
            return match message.strip_prefix("strptime parsing failed: ") {
                Some(reason) => reason.to_owned(),
                None => message,
            };
        }
    };
    if let (Some(year), Some(month), Some(day)) = (broken.year(), broken.month(), broken.day())
        && let Ok(first) = Date::new(year, month, 1)
        && day > first.days_in_month()
    {
        return format!(
            "{} has {} days",
            first.strftime("%B %Y"),
            first.days_in_month()
        );
    }
    "the layout's fields do not make one date and time".to_owned()
}

fn write_datetime(at: Timestamp, format: &Format, zone: Zone) -> Result<String, String> {
    if let Some(pattern) = &format.pattern {
        let offset = match zone {
            Zone::Stockholm | Zone::Offset => stockholm().to_offset(at),
            Zone::Utc => jiff::tz::Offset::UTC,
        };
        let mut text = String::new();
        if pattern.write(offset.to_datetime(at), Some(offset), &mut text) {
            return Ok(text);
        }
    }
    strtime::format(format, &zoned(at, zone))
        .map_err(|e| format!("cannot write a date-time as {format}: {e}"))
}

/// A date in `format`. A layout of a date-time (a date-time element that carries a date) is
/// written at the start of the day in Swedish time; reading takes the date part as written.
fn write_date(date: Date, format: &Format) -> Result<String, String> {
    if let Some(pattern) = format.pattern.as_ref().filter(|p| !p.has_time()) {
        let mut text = String::new();
        if pattern.write(
            date.to_datetime(jiff::civil::Time::midnight()),
            None,
            &mut text,
        ) {
            return Ok(text);
        }
    }
    // A date layout needs no time zone; only a date-time layout is given the day's start.
    if let Ok(text) = strtime::format(format, date) {
        return Ok(text);
    }
    let midnight = date
        .to_zoned_datetime(stockholm())
        .map_err(|e| format!("cannot write a date as {format}: {e}"))?;
    strtime::format(format, &midnight).map_err(|e| format!("cannot write a date as {format}: {e}"))
}

/// A person id as JSON, as serde writes it (`{"system": …, "value": …}`), put together
/// without a serializer.
fn person_value(id: PersonId) -> Value {
    let (system, value) = match id {
        PersonId::Personnummer(p) => ("personnummer", p.as_digits()),
        PersonId::Samordningsnummer(s) => ("samordningsnummer", s.as_digits()),
        PersonId::ReserveNumber(r) => ("reserve_number", r.into()),
    };
    let mut object = serde_json::Map::new();
    object.insert("system".to_owned(), Value::String(system.to_owned()));
    object.insert("value".to_owned(), Value::String(value));
    Value::Object(object)
}

fn person_id(text: &str, today: Date) -> Result<PersonId, String> {
    if text.chars().any(|c| c.is_ascii_alphabetic()) {
        return ReserveNumber::parse(text)
            .map(PersonId::ReserveNumber)
            .map_err(|e| format!("reserve number {e}"));
    }
    // A samordningsnummer adds 60 to the day of birth (the two digits before the last four).
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    let day = digits
        .len()
        .checked_sub(6)
        .map(|i| digits[i] * 10 + digits[i + 1]);
    if day.is_some_and(|d| d > 60) {
        return Samordningsnummer::parse_on(text, today)
            .map(PersonId::Samordningsnummer)
            .map_err(|e| format!("samordningsnummer {e}"));
    }
    Personnummer::parse_on(text, today)
        .map(PersonId::Personnummer)
        .map_err(|e| format!("personnummer {e}"))
}

/// A civic number (twelve digits) in `layout`; `ten` makes the ten-digit form (with `-`, or
/// `+` from the hundredth year), only for the layouts that need it.
fn civic_layout(twelve: String, ten: impl FnOnce() -> String, layout: Layout) -> String {
    match layout {
        Layout::CenturySeparator => format!("{}-{}", &twelve[..8], &twelve[8..]),
        Layout::Century => twelve,
        Layout::Separator => ten(),
        Layout::Plain => ten().replace(['-', '+'], ""),
    }
}

impl Transform {
    /// Reads `text` (never empty: an empty value counts as absent before this is called).
    pub fn read(&self, text: &str, today: Date) -> Result<Value, TransformError> {
        self.read_noting(text, today).map(|(value, _)| value)
    }

    /// [`Transform::read`], and for a local Swedish date-time the wall clock shows twice (read
    /// as the first), that time: the reader warns of it.
    pub fn read_noting(
        &self,
        text: &str,
        today: Date,
    ) -> Result<(Value, Option<DateTime>), TransformError> {
        let mut twice = None;
        let value = match self {
            Transform::String { max_length } => {
                if let Some(max) = max_length
                    && text.chars().count() > *max
                {
                    return Err(invalid(format!(
                        "has {} characters; at most {max} are accepted",
                        text.chars().count()
                    )));
                }
                Value::String(text.to_owned())
            }
            Transform::Integer => Value::from(
                text.parse::<i64>()
                    .map_err(|_| invalid(format!("{text:?} is not a whole number")))?,
            ),
            Transform::Boolean => Value::Bool(match text {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(invalid(format!("{text:?} is not true or false"))),
            }),
            Transform::Date { format } => {
                let date = match format.pattern.as_ref().and_then(|p| p.read(text)) {
                    Some(read) => read.date,
                    None => strtime::parse(format, text)
                        .and_then(|b| b.to_date())
                        .map_err(|_| {
                            invalid(format!(
                                "{text:?} is not a date in the layout {format}: {}",
                                why_not(text, format)
                            ))
                        })?,
                };
                Value::String(date.to_string())
            }
            Transform::DateTime { format, zone } => {
                let (at, shown_twice) = read_instant(text, format, *zone).map_err(invalid)?;
                twice = shown_twice;
                Value::String(at.to_string())
            }
            Transform::PersonId { .. } => person_value(person_id(text, today).map_err(invalid)?),
            Transform::HsaId => Value::String(
                HsaId::parse(text)
                    .map_err(|e| invalid(format!("HSA-id {text:?} {e}")))?
                    .to_string(),
            ),
            Transform::Kommunkod => Value::String(
                Kommunkod::parse(text)
                    .map_err(|e| invalid(format!("municipality code {text:?} {e}")))?
                    .to_string(),
            ),
            Transform::Code(table) => match table.decode(text) {
                Some(Some(value)) => value.clone(),
                Some(None) => Value::Null,
                None => {
                    return Err(TransformError::UnknownCode {
                        code: text.to_owned(),
                        expected: table.codes().join(", "),
                    });
                }
            },
        };
        Ok((value, twice))
    }

    /// Writes the canonical `value` as XML text.
    pub fn write<'a>(&'a self, value: Ref<'a>, today: Date) -> Result<Cow<'a, str>, String> {
        let text = || {
            value
                .text()
                .ok_or_else(|| format!("expected a single value, found {}", value.kind()))
        };
        match self {
            Transform::String { .. } | Transform::HsaId | Transform::Kommunkod => text(),
            Transform::Integer => value
                .as_i64()
                .map(|n| Cow::Owned(n.to_string()))
                .ok_or_else(|| format!("expected a whole number, found {}", value.kind())),
            Transform::Boolean => value
                .as_bool()
                .map(|b| Cow::Borrowed(if b { "true" } else { "false" }))
                .ok_or_else(|| format!("expected true or false, found {}", value.kind())),
            Transform::Date { format } => {
                let date: Date = value
                    .as_str()
                    .and_then(|t| pattern::canonical_date(t).or_else(|| t.parse().ok()))
                    .ok_or_else(|| "expected a date (YYYY-MM-DD)".to_owned())?;
                write_date(date, format).map(Cow::Owned)
            }
            Transform::DateTime { format, zone } => {
                let at: Timestamp = value
                    .as_str()
                    .and_then(|t| pattern::canonical_timestamp(t).or_else(|| t.parse().ok()))
                    .ok_or_else(|| "expected a date-time with an offset".to_owned())?;
                write_datetime(at, format, *zone).map(Cow::Owned)
            }
            Transform::PersonId { layout } => {
                // The canonical form: `{"system": …, "value": …}` (`PersonId`).
                let field = |name| value.child(name).and_then(Ref::as_str);
                let (Some(system), Some(text)) = (field("system"), field("value")) else {
                    return Err(format!(
                        "not a person identifier: expected system and value, found {}",
                        value.kind()
                    ));
                };
                let invalid = |e: &dyn std::fmt::Display| format!("not a person identifier: {e}");
                Ok(Cow::Owned(match system {
                    "personnummer" => {
                        let p = Personnummer::parse(text).map_err(|e| invalid(&e))?;
                        civic_layout(p.as_digits(), || p.to_ten_digit(today), *layout)
                    }
                    "samordningsnummer" => {
                        let s = Samordningsnummer::parse(text).map_err(|e| invalid(&e))?;
                        civic_layout(s.as_digits(), || s.to_ten_digit(today), *layout)
                    }
                    "reserve_number" => ReserveNumber::parse(text)
                        .map_err(|e| invalid(&e))?
                        .as_str()
                        .to_owned(),
                    other => return Err(format!("not a person identifier: the system {other:?}")),
                }))
            }
            Transform::Code(table) => table
                .encode_ref(value)
                .map(Cow::Borrowed)
                .ok_or_else(|| format!("the code table [{}] has no code for {value}", table.name)),
        }
    }

    /// The text written when the canonical field is absent: a code table's code for "no value".
    pub fn write_absent(&self) -> Option<&str> {
        match self {
            Transform::Code(table) => table.encode(None),
            _ => None,
        }
    }

    /// Checks a date or date-time layout by writing sample values and reading them back.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Transform::DateTime { format, zone } => {
                let has_offset = format.contains("%z") || format.contains("%:z");
                match (zone, has_offset) {
                    (Zone::Offset, false) => {
                        return Err(format!(
                            "zone = \"offset\" needs an offset in the format (%:z or %z); {format} has none"
                        ));
                    }
                    (Zone::Stockholm | Zone::Utc, true) => {
                        return Err(format!(
                            "format {format} writes an offset; use zone = \"offset\""
                        ));
                    }
                    _ => {}
                }
                for sample in ["2026-11-20T07:40:00Z", "2026-07-01T12:30:00Z"] {
                    let at: Timestamp = sample.parse().map_err(|e| format!("{e}"))?;
                    let written = write_datetime(at, format, *zone)?;
                    let back = read_datetime(&written, format, *zone)?;
                    if back != at {
                        return Err(format!(
                            "format {format} does not carry a whole date-time: {sample} is written {written:?} and read back as {back}"
                        ));
                    }
                }
                Ok(())
            }
            Transform::Date { format } => {
                let sample = jiff::civil::date(2026, 11, 27);
                let written = write_date(sample, format)?;
                let back = strtime::parse(format, &written).and_then(|b| b.to_date());
                match back {
                    Ok(back) if back == sample => Ok(()),
                    _ => Err(format!(
                        "format {format} does not carry a whole date: 2026-11-27 is written {written:?}"
                    )),
                }
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A person id is the JSON serde writes of it, whichever kind it is.
    #[test]
    fn a_person_id_is_written_as_serde_writes_it() {
        let mut systems = Vec::new();
        for text in ["19121212-1212", "19701063-2391", "22850612AB12"] {
            let id = person_id(text, TODAY).unwrap();
            let value = person_value(id.clone());
            assert_eq!(value, serde_json::to_value(&id).unwrap(), "{text}");
            systems.push(value["system"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            systems,
            ["personnummer", "samordningsnummer", "reserve_number"]
        );
    }

    impl Transform {
        /// Writes a JSON value (as the writer would have it from a message).
        fn write_value(&self, value: &Value, today: Date) -> Result<String, String> {
            let view = super::super::view::View::of(value).unwrap();
            self.write(view.root(), today).map(Cow::into_owned)
        }
    }
    use jiff::civil::date;

    const TODAY: Date = date(2026, 11, 23);

    fn datetime(format: &str, zone: Zone) -> Transform {
        Transform::DateTime {
            format: format.into(),
            zone,
        }
    }

    #[test]
    fn compact_local_date_times_follow_swedish_summer_time() {
        let t = datetime("%Y%m%d%H%M%S", Zone::Stockholm);
        t.check().unwrap();
        assert_eq!(
            t.read("20260701143000", TODAY).unwrap(),
            Value::from("2026-07-01T12:30:00Z")
        );
        assert_eq!(
            t.read("20260115143000", TODAY).unwrap(),
            Value::from("2026-01-15T13:30:00Z")
        );
        assert_eq!(
            t.write_value(&Value::from("2026-07-01T12:30:00Z"), TODAY)
                .unwrap(),
            "20260701143000"
        );
    }

    #[test]
    fn offsets_are_read_as_written_and_written_in_swedish_time() {
        let t = datetime("%Y-%m-%dT%H:%M:%S%:z", Zone::Offset);
        t.check().unwrap();
        assert_eq!(
            t.read("2026-11-20T08:40:00+01:00", TODAY).unwrap(),
            Value::from("2026-11-20T07:40:00Z")
        );
        assert_eq!(
            t.read("2026-11-20T07:40:00Z", TODAY).unwrap(),
            Value::from("2026-11-20T07:40:00Z")
        );
        assert_eq!(
            t.write_value(&Value::from("2026-07-01T12:30:00Z"), TODAY)
                .unwrap(),
            "2026-07-01T14:30:00+02:00"
        );
        assert!(matches!(
            t.read("2026-11-20 08:40", TODAY),
            Err(TransformError::Invalid(_))
        ));
    }

    /// The message of a value `t` does not read.
    fn refusal(t: &Transform, text: &str) -> String {
        match t.read(text, TODAY) {
            Err(TransformError::Invalid(message)) => message,
            other => panic!("{text:?} read as {other:?}"),
        }
    }

    #[test]
    fn a_date_time_that_does_not_read_says_why() {
        // Day first, a dot in the clock, no seconds: strtime's layout.
        let t = datetime("%d/%m/%Y %H.%M", Zone::Stockholm);
        t.check().unwrap();
        let error = refusal(&t, "29/02/2027 10.00");
        assert!(error.contains("February 2027 has 28 days"), "{error}");
        assert!(t.read("29/02/2028 10.00", TODAY).is_ok());
        let error = refusal(&t, "31/04/2027 10.00");
        assert!(error.contains("April 2027 has 30 days"), "{error}");
        let error = refusal(&t, "01/04/2027 24.00");
        assert!(
            error.contains("hour") && error.contains("0..=23"),
            "{error}"
        );
        let error = refusal(&t, "01/13/2027 10.00");
        assert!(
            error.contains("month") && error.contains("1..=12"),
            "{error}"
        );
        // A fixed-width layout: the same reasons.
        let t = datetime("%Y%m%d%H%M%S", Zone::Stockholm);
        let error = refusal(&t, "20270229100000");
        assert!(error.contains("February 2027 has 28 days"), "{error}");
        let date = Transform::Date {
            format: "%Y%m%d".into(),
        };
        let error = refusal(&date, "20270229");
        assert!(
            error.contains("is not a date in the layout %Y%m%d"),
            "{error}"
        );
        assert!(error.contains("February 2027 has 28 days"), "{error}");
    }

    #[test]
    fn a_local_time_the_clocks_skip_is_refused_without_asking_for_an_offset() {
        // The layout has no offset: the sender cannot give one.
        let t = datetime("%Y%m%d%H%M%S", Zone::Stockholm);
        let error = refusal(&t, "20260329023000");
        assert!(error.contains("does not exist in Swedish time"), "{error}");
        assert!(!error.contains("offset"), "{error}");
        let t = datetime("%d/%m/%Y %H.%M", Zone::Stockholm);
        let error = refusal(&t, "29/03/2026 02.30");
        assert!(error.contains("does not exist in Swedish time"), "{error}");
        assert!(!error.contains("offset"), "{error}");
    }

    #[test]
    fn a_format_that_loses_part_of_the_time_is_refused() {
        assert!(
            datetime("%Y-%m-%d", Zone::Stockholm)
                .check()
                .unwrap_err()
                .contains("does not carry a whole date-time")
        );
        assert!(datetime("%Y-%m-%dT%H:%M:%S", Zone::Offset).check().is_err());
    }

    #[test]
    fn a_date_is_the_date_part_of_a_date_time_element() {
        let date = Transform::Date {
            format: "%Y-%m-%dT%H:%M:%S%:z".into(),
        };
        date.check().unwrap();
        assert_eq!(
            date.read("2026-11-27T14:30:00+01:00", TODAY).unwrap(),
            "2026-11-27"
        );
        // Written at the start of the day, Swedish time: winter and summer.
        assert_eq!(
            date.write_value(&"2026-11-27".into(), TODAY).unwrap(),
            "2026-11-27T00:00:00+01:00"
        );
        assert_eq!(
            date.write_value(&"2026-06-01".into(), TODAY).unwrap(),
            "2026-06-01T00:00:00+02:00"
        );
        let compact = Transform::Date {
            format: "%Y%m%d%H%M%S".into(),
        };
        compact.check().unwrap();
        assert_eq!(compact.read("20261127143000", TODAY).unwrap(), "2026-11-27");
        assert_eq!(
            compact.write_value(&"2026-11-27".into(), TODAY).unwrap(),
            "20261127000000"
        );
    }

    #[test]
    fn personnummer_are_read_in_every_layout_and_written_in_the_dialects() {
        let read = Transform::PersonId {
            layout: Layout::Separator,
        };
        let expected = serde_json::json!({"system": "personnummer", "value": "198112189876"});
        for text in ["811218-9876", "8112189876", "19811218-9876", "198112189876"] {
            assert_eq!(read.read(text, TODAY).unwrap(), expected, "{text}");
        }
        for (layout, written) in [
            (Layout::Separator, "811218-9876"),
            (Layout::Plain, "8112189876"),
            (Layout::Century, "198112189876"),
            (Layout::CenturySeparator, "19811218-9876"),
        ] {
            assert_eq!(
                Transform::PersonId { layout }
                    .write_value(&expected, TODAY)
                    .unwrap(),
                written
            );
        }
        let err = read.read("811218-9875", TODAY).unwrap_err();
        assert!(
            matches!(&err, TransformError::Invalid(m) if m.contains("check digit") && !m.contains("9875")),
            "{err:?}"
        );
        assert_eq!(
            read.read("811278-9873", TODAY).unwrap(),
            serde_json::json!({"system": "samordningsnummer", "value": "198112789873"})
        );
        assert!(matches!(
            read.read("811278-9874", TODAY),
            Err(TransformError::Invalid(m)) if m.starts_with("samordningsnummer has check digit")
        ));
    }
}
