//! Pure conversion between formats, for `brygga translate` and `POST /translate`.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;

use super::Mappings;
use super::canonical::{self, CanonicalMessage, UnplacedMessage};
use super::cosmic_link::{self, CosmicLinkError, EncodeError};
use super::fhir::{self, FhirReadError, RenderError};
use super::municipal::{self, Dialect, MunicipalError, WriteError};
use crate::process;

/// A format brygga reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// The Cosmic Link contract (XML).
    CosmicLink,
    /// The canonical message (JSON).
    Canonical,
    /// FHIR R4 JSON: a Bundle of Patient, Task(s) and CarePlan; a Task or a CarePlan.
    Fhir,
    /// A municipal case-system dialect (XML), by its folder's name under `mappings/municipal/`.
    Municipal(String),
}

impl Format {
    /// The formats that are not dialects.
    pub const FIXED: &'static [Format] = &[Format::CosmicLink, Format::Canonical, Format::Fhir];

    pub fn name(&self) -> String {
        match self {
            Format::CosmicLink => cosmic_link::FORMAT.to_owned(),
            Format::Canonical => "canonical".to_owned(),
            Format::Fhir => "fhir".to_owned(),
            Format::Municipal(dialect) => format!("{}{dialect}", municipal::FORMAT_PREFIX),
        }
    }

    pub fn media_type(&self) -> &'static str {
        match self {
            Format::CosmicLink | Format::Municipal(_) => "application/xml",
            Format::Canonical => "application/json",
            Format::Fhir => "application/fhir+json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    /// `cosmic-link`, `canonical`, `fhir` or `municipal:<dialect>` (whether the dialect exists
    /// is known from the mappings, when it is used).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(dialect) = s.strip_prefix(municipal::FORMAT_PREFIX) {
            return Ok(Format::Municipal(dialect.to_owned()));
        }
        Format::FIXED
            .iter()
            .find(|f| f.name() == s)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<String> = Format::FIXED.iter().map(Format::name).collect();
                format!(
                    "unknown format {s:?}; this gateway translates between {} and municipal:<dialect>",
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
    Canonical(#[from] crate::formats::strict_json::JsonError),
    /// Serialising JSON failed (not expected for the gateway's own types).
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write {to}: {source}")]
    Encode { to: Format, source: EncodeError },
    #[error("cannot write fhir: {0}")]
    Render(#[from] RenderError),
    #[error("{0}")]
    Fhir(#[from] FhirReadError),
    #[error("{0}")]
    Municipal(#[from] MunicipalError),
    #[error("cannot write {to}: {source}")]
    MunicipalWrite { to: String, source: WriteError },
    #[error("there is no municipal dialect {name:?}; the mappings define {known}")]
    UnknownDialect { name: String, known: String },
    /// A message without a whole case reference written to a format that needs one.
    #[error(
        "cannot write {to}: the message does not name its case by number and issuer ({have}); \
         the gateway finds its case when it receives it (by the person's cases), and {to} needs the case's reference"
    )]
    Unplaced { to: String, have: String },
}

/// The dialect `name` from the mappings.
pub fn dialect<'m>(mappings: &'m Mappings, name: &str) -> Result<&'m Dialect, TranslateError> {
    mappings
        .municipal
        .get(name)
        .ok_or_else(|| TranslateError::UnknownDialect {
            name: name.to_owned(),
            known: match mappings.municipal.names() {
                names if names.is_empty() => "none".to_owned(),
                names => names.join(", "),
            },
        })
}

/// The output and what in the input was not mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    pub output: String,
    pub warnings: Vec<String>,
}

/// Reads `input` as `from`; the message must name its case in full.
pub fn read(
    from: &Format,
    input: &[u8],
    mappings: &Mappings,
    today: Date,
) -> Result<(CanonicalMessage, Vec<String>), TranslateError> {
    let (message, warnings) = read_unplaced(from, input, mappings, today)?;
    Ok((placed(message, &Format::Canonical)?, warnings))
}

/// Reads `input` as `from`, also when it does not name its case in full (a dialect without
/// case numbering, a canonical message in that form).
pub fn read_unplaced(
    from: &Format,
    input: &[u8],
    mappings: &Mappings,
    today: Date,
) -> Result<(UnplacedMessage, Vec<String>), TranslateError> {
    match from {
        Format::CosmicLink => {
            let decoded = cosmic_link::decode(input, &mappings.cosmic_link, today)?;
            Ok((decoded.message.into(), decoded.warnings))
        }
        Format::Canonical => Ok((canonical::parse(input)?, Vec::new())),
        Format::Fhir => {
            let read = fhir::read(input, today)?;
            Ok((read.message.into(), read.warnings))
        }
        Format::Municipal(name) => {
            let decoded = municipal::decode(dialect(mappings, name)?, input, today)?;
            Ok((decoded.message, decoded.warnings))
        }
    }
}

/// `message` with its whole case reference, or why `to` cannot be written without one.
fn placed(message: UnplacedMessage, to: &Format) -> Result<CanonicalMessage, TranslateError> {
    message.placed().map_err(|m| TranslateError::Unplaced {
        to: to.name(),
        have: match (&m.case.issuer, &m.case.value) {
            (None, None) => "it names neither".to_owned(),
            (None, Some(_)) => "it names a number, not whose".to_owned(),
            (Some(_), _) => "it names whose numbering, not the number".to_owned(),
        },
    })
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

/// A written document (`write`, `translate`) as it is sent: its bytes (a municipal dialect's
/// in the encoding the dialect writes) and its media type.
pub fn sent(
    to: &Format,
    document: String,
    mappings: &Mappings,
) -> Result<(Vec<u8>, String), TranslateError> {
    if let Format::Municipal(name) = to {
        let dialect = dialect(mappings, name)?;
        if !dialect.encoding.is_utf8() {
            let bytes =
                dialect
                    .sent(&document)
                    .map_err(|source| TranslateError::MunicipalWrite {
                        to: to.name(),
                        source,
                    })?;
            return Ok((bytes.into_owned(), dialect.media_type()));
        }
    }
    Ok((document.into_bytes(), to.media_type().to_owned()))
}

/// Writes `message` as `to`. `today` places 10-digit personnummer in their century.
pub fn write(
    to: &Format,
    message: &CanonicalMessage,
    mappings: &Mappings,
    today: Date,
) -> Result<String, TranslateError> {
    match to {
        Format::CosmicLink => {
            cosmic_link::encode(message, &mappings.cosmic_link).map_err(|source| {
                TranslateError::Encode {
                    to: to.clone(),
                    source,
                }
            })
        }
        Format::Municipal(name) => municipal::encode(dialect(mappings, name)?, message, today)
            .map_err(|source| TranslateError::MunicipalWrite {
                to: to.name(),
                source,
            }),
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

/// `message` as a FHIR R4 collection Bundle, with its step's deadline.
pub fn fhir_bundle(
    message: &CanonicalMessage,
    mappings: &Mappings,
) -> Result<serde_json::Value, TranslateError> {
    let deadline = step_deadline(message, mappings);
    Ok(fhir::render(message, &mappings.fhir, deadline)?)
}

/// Converts `input` from one format to another; stores nothing.
pub fn translate(
    from: &Format,
    to: &Format,
    input: &[u8],
    mappings: &Mappings,
    today: Date,
) -> Result<Translation, TranslateError> {
    let (message, warnings) = read_unplaced(from, input, mappings, today)?;
    let output = match to {
        // The formats that can say what the message says of its case, whole or not.
        Format::Canonical => serde_json::to_string_pretty(&message)? + "\n",
        Format::Municipal(name) => municipal::encode(dialect(mappings, name)?, &message, today)
            .map_err(|source| TranslateError::MunicipalWrite {
                to: to.name(),
                source,
            })?,
        _ => write(to, &placed(message, to)?, mappings, today)?,
    };
    Ok(Translation { output, warnings })
}
