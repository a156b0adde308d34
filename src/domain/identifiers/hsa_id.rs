//! HSA-id: the national directory identifier of a care unit, function or person.
//!
//! Structure: the country code `SE`, the issuing organisation's number (10 digits, or 12 with the
//! `16` prefix), a hyphen, and a local suffix of letters and digits; at most 31 characters in all.
//! Example: `SE2321000016-15CQ`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an HSA-id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HsaIdError {
    #[error("is empty")]
    Empty,
    #[error("is {length} characters long; an HSA-id has at most 31")]
    TooLong { length: usize },
    #[error("does not start with the country code \"SE\"")]
    MissingCountryCode,
    #[error(
        "has {digits} digits after \"SE\"; expected the issuer's organisation number (10 digits, or 12 starting with 16)"
    )]
    IssuerDigits { digits: usize },
    #[error("has no '-' between the issuer's organisation number and the local suffix")]
    MissingHyphen,
    #[error("has an empty local suffix after '-'")]
    EmptySuffix,
    #[error(
        "has an invalid character {found:?} at position {position}; the suffix allows letters A–Z and digits"
    )]
    InvalidCharacter { found: char, position: usize },
}

/// A syntactically valid HSA-id, stored in upper case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HsaId(String);

impl HsaId {
    pub fn parse(input: &str) -> Result<Self, HsaIdError> {
        let s = input.trim();
        Self::check(s)?;
        Ok(HsaId(s.to_ascii_uppercase()))
    }

    /// Whether `s` (trimmed) is an HSA-id in any letter case; read without copying it.
    fn check(s: &str) -> Result<(), HsaIdError> {
        if s.is_empty() {
            return Err(HsaIdError::Empty);
        }
        if s.len() > 31 {
            let length = s.chars().count();
            if length > 31 {
                return Err(HsaIdError::TooLong { length });
            }
        }
        let Some(rest) = s
            .get(..2)
            .filter(|country| country.eq_ignore_ascii_case("SE"))
            .map(|_| &s[2..])
        else {
            return Err(HsaIdError::MissingCountryCode);
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let after = &rest[digits..];
        if !after.starts_with('-') {
            if digits != 10 && digits != 12 {
                return Err(HsaIdError::IssuerDigits { digits });
            }
            return match after.char_indices().next() {
                Some((i, found)) if !found.is_ascii_alphanumeric() => {
                    Err(HsaIdError::InvalidCharacter {
                        found,
                        position: 2 + digits + i,
                    })
                }
                _ => Err(HsaIdError::MissingHyphen),
            };
        }
        if digits != 10 && !(digits == 12 && rest.starts_with("16")) {
            return Err(HsaIdError::IssuerDigits { digits });
        }
        let suffix = &after[1..];
        if suffix.is_empty() {
            return Err(HsaIdError::EmptySuffix);
        }
        if let Some((i, found)) = suffix
            .char_indices()
            .find(|(_, c)| !c.is_ascii_alphanumeric())
        {
            return Err(HsaIdError::InvalidCharacter {
                found,
                position: 2 + digits + 1 + i,
            });
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The issuing organisation's part, before the `-`: the same for every unit of one care
    /// provider (`SE2321000214` for Region Jämtland Härjedalen's units).
    pub fn organisation_number(&self) -> &str {
        self.0
            .split_once('-')
            .map_or(self.0.as_str(), |(org, _)| org)
    }
}

impl fmt::Display for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HsaId({})", self.0)
    }
}

impl TryFrom<String> for HsaId {
    type Error = String;
    /// Keeps `s` itself where it is already the stored form (trimmed, upper case).
    fn try_from(s: String) -> Result<Self, String> {
        let trimmed = s.trim();
        HsaId::check(trimmed).map_err(|e| format!("HSA-id {s:?} {e}"))?;
        if trimmed.len() == s.len() && !s.bytes().any(|b| b.is_ascii_lowercase()) {
            Ok(HsaId(s))
        } else {
            Ok(HsaId(trimmed.to_ascii_uppercase()))
        }
    }
}

impl From<HsaId> for String {
    fn from(id: HsaId) -> String {
        id.0
    }
}

impl std::str::FromStr for HsaId {
    type Err = HsaIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HsaId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_unit_and_person_ids() {
        for id in [
            "SE2321000016-15CQ",
            "SE2321000218-E000000001",
            "se162321000255-1000",
            "SE5565594230-B9P",
        ] {
            assert!(HsaId::parse(id).is_ok(), "{id}");
        }
        assert_eq!(
            HsaId::parse("se2321000016-15cq").unwrap().as_str(),
            "SE2321000016-15CQ"
        );
    }

    #[test]
    fn rejects_with_specific_reasons() {
        let cases: &[(&str, HsaIdError)] = &[
            ("", HsaIdError::Empty),
            ("DK2321000016-15CQ", HsaIdError::MissingCountryCode),
            ("SE23210000-15CQ", HsaIdError::IssuerDigits { digits: 8 }),
            ("SE2321000016", HsaIdError::MissingHyphen),
            ("SE2321000016-", HsaIdError::EmptySuffix),
            (
                "SE2321000016-15 CQ",
                HsaIdError::InvalidCharacter {
                    found: ' ',
                    position: 15,
                },
            ),
            (
                "SE2321000016_15CQ",
                HsaIdError::InvalidCharacter {
                    found: '_',
                    position: 12,
                },
            ),
            (
                "SE2321000016-ABCDEFGHIJKLMNOPQRS",
                HsaIdError::TooLong { length: 32 },
            ),
            ("SE992321000016-1", HsaIdError::IssuerDigits { digits: 12 }),
        ];
        for (input, error) in cases {
            assert_eq!(HsaId::parse(input).unwrap_err(), *error, "{input}");
        }
    }

    /// Read from JSON, an id is stored in the form `parse` gives, whatever its case and
    /// padding; a text that starts with something other than ASCII has no country code.
    #[test]
    fn serde_reads_the_stored_form() {
        for (json, stored) in [
            ("\"SE2321000016-15CQ\"", "SE2321000016-15CQ"),
            ("\"se2321000016-15cq\"", "SE2321000016-15CQ"),
            ("\" SE2321000016-15cq \"", "SE2321000016-15CQ"),
        ] {
            let id: HsaId = serde_json::from_str(json).unwrap();
            assert_eq!(id.as_str(), stored, "{json}");
            assert_eq!(id, HsaId::parse(json.trim_matches('"')).unwrap());
        }
        assert_eq!(
            HsaId::parse("ÅE2321000016-15CQ").unwrap_err(),
            HsaIdError::MissingCountryCode
        );
        assert_eq!(
            HsaId::parse("S").unwrap_err(),
            HsaIdError::MissingCountryCode
        );
    }

    #[test]
    fn serde_error_names_the_value_and_the_reason() {
        let err = serde_json::from_str::<HsaId>("\"SE2321000016\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("SE2321000016") && err.contains("'-'"), "{err}");
    }
}
