//! Pure conversion between formats, for `brygga translate` and `POST /translate`.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;

use super::Mappings;
use super::canonical::CanonicalMessage;
use super::cosmic_link::{self, CosmicLinkError, EncodeError};
use super::fhir::{self, FhirReadError, RenderError};
use crate::process;

/// A format brygga reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Cosmic Link contract (XML).
    CosmicLink,
    /// The canonical message (JSON).
    Canonical,
    /// FHIR R4 JSON: a Bundle of Patient, Task(s) and CarePlan; a Task or a CarePlan.
    Fhir,
}

impl Format {
    pub const ALL: &'static [Format] = &[Format::CosmicLink, Format::Canonical, Format::Fhir];

    pub fn name(&self) -> &'static str {
        match self {
            Format::CosmicLink => cosmic_link::FORMAT,
            Format::Canonical => "canonical",
            Format::Fhir => "fhir",
        }
    }

    pub fn media_type(&self) -> &'static str {
        match self {
            Format::CosmicLink => "application/xml",
            Format::Canonical => "application/json",
            Format::Fhir => "application/fhir+json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(Format::name).collect();
                format!(
                    "unknown format {s:?}; this gateway translates between {}",
                    names.join(", ")
                )
            })
    }
}

/// Why a translation failed.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error("{0}")]
    CosmicLink(#[from] CosmicLinkError),
    #[error("the canonical message is not valid: {0}")]
    Canonical(#[from] serde_json::Error),
    #[error("cannot write {to}: {source}")]
    Encode { to: Format, source: EncodeError },
    #[error("cannot write fhir: {0}")]
    Render(#[from] RenderError),
    #[error("{0}")]
    Fhir(#[from] FhirReadError),
}

/// The output and what in the input was not mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    pub output: String,
    pub warnings: Vec<String>,
}

/// Reads `input` as `from`.
pub fn read(
    from: Format,
    input: &[u8],
    mappings: &Mappings,
    today: Date,
) -> Result<(CanonicalMessage, Vec<String>), TranslateError> {
    match from {
        Format::CosmicLink => {
            let decoded = cosmic_link::decode(input, &mappings.cosmic_link, today)?;
            Ok((decoded.message, decoded.warnings))
        }
        Format::Canonical => Ok((serde_json::from_slice(input)?, Vec::new())),
        Format::Fhir => {
            let read = fhir::read(input, today)?;
            Ok((read.message, read.warnings))
        }
    }
}

/// The deadline of a message's step as far as the message alone shows it, under the policy of
/// its region and municipality (for `Task.restriction.period.end`).
pub fn step_deadline(message: &CanonicalMessage, mappings: &Mappings) -> Option<jiff::Timestamp> {
    let policy = mappings.policies.for_case(
        &message.case.issuer,
        process::clocks::municipality_of(&message.event),
    );
    process::clocks::step_deadline(policy, &message.event, None)
}

/// Writes `message` as `to`.
pub fn write(
    to: Format,
    message: &CanonicalMessage,
    mappings: &Mappings,
) -> Result<String, TranslateError> {
    match to {
        Format::CosmicLink => cosmic_link::encode(message, &mappings.cosmic_link)
            .map_err(|source| TranslateError::Encode { to, source }),
        Format::Canonical => Ok(serde_json::to_string_pretty(message)? + "\n"),
        Format::Fhir => {
            let deadline = step_deadline(message, mappings);
            Ok(
                serde_json::to_string_pretty(&fhir::bundle(message, &mappings.fhir, deadline)?)?
                    + "\n",
            )
        }
    }
}

/// Converts `input` from one format to another; stores nothing.
pub fn translate(
    from: Format,
    to: Format,
    input: &[u8],
    mappings: &Mappings,
    today: Date,
) -> Result<Translation, TranslateError> {
    let (message, warnings) = read(from, input, mappings, today)?;
    Ok(Translation {
        output: write(to, &message, mappings)?,
        warnings,
    })
}
