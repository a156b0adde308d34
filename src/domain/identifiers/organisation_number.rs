//! Swedish organisation number (organisationsnummer): ten digits with a Luhn check digit.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::luhn;

/// Why an organisation number was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganisationNumberError {
    #[error("has {digits} digits; expected 10 (NNNNNN-NNNN), optionally prefixed with 16")]
    WrongLength { digits: usize },
    #[error("has an invalid character {found:?} at position {position}")]
    InvalidCharacter { found: char, position: usize },
    #[error("has a '-' at position {position}; it may only stand before the last four digits")]
    MisplacedHyphen { position: usize },
    #[error(
        "has {third} as its third digit; a legal person's number has 2 or more there (a lower value is a personnummer)"
    )]
    NotALegalPerson { third: u8 },
    #[error(
        "has check digit {found}, but the Luhn check digit of the first nine digits is {expected}"
    )]
    CheckDigit { expected: u8, found: u8 },
}

/// A valid organisation number of a legal person, stored as ten digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrganisationNumber([u8; 10]);

impl OrganisationNumber {
    pub fn parse(input: &str) -> Result<Self, OrganisationNumberError> {
        let s = input.trim();
        let mut digits = Vec::with_capacity(12);
        let mut hyphen = None;
        for (position, ch) in s.chars().enumerate() {
            match ch {
                '0'..='9' => digits.push(ch as u8 - b'0'),
                '-' if hyphen.is_none() => hyphen = Some(position),
                '-' => return Err(OrganisationNumberError::MisplacedHyphen { position }),
                found => return Err(OrganisationNumberError::InvalidCharacter { found, position }),
            }
        }
        if digits.len() == 12 && digits[0] == 1 && digits[1] == 6 {
            digits.drain(..2);
            hyphen = hyphen.map(|p| p.saturating_sub(2));
        }
        if digits.len() != 10 {
            return Err(OrganisationNumberError::WrongLength {
                digits: digits.len(),
            });
        }
        if let Some(position) = hyphen
            && position != 6
        {
            return Err(OrganisationNumberError::MisplacedHyphen { position });
        }
        if digits[2] < 2 {
            return Err(OrganisationNumberError::NotALegalPerson { third: digits[2] });
        }
        let expected = luhn::check_digit(&digits[..9]);
        if expected != digits[9] {
            return Err(OrganisationNumberError::CheckDigit {
                expected,
                found: digits[9],
            });
        }
        let mut out = [0u8; 10];
        out.copy_from_slice(&digits);
        Ok(OrganisationNumber(out))
    }
}

impl fmt::Display for OrganisationNumber {
    /// `NNNNNN-NNNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i == 6 {
                f.write_str("-")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for OrganisationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrganisationNumber({self})")
    }
}

impl TryFrom<String> for OrganisationNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        OrganisationNumber::parse(&s).map_err(|e| format!("organisation number {s:?} {e}"))
    }
}

impl From<OrganisationNumber> for String {
    fn from(o: OrganisationNumber) -> String {
        o.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_region_and_municipality_numbers() {
        for (input, shown) in [
            ("232100-0016", "232100-0016"),
            ("2321000016", "232100-0016"),
            ("162321000016", "232100-0016"),
            ("212000-2411", "212000-2411"),
        ] {
            assert_eq!(
                OrganisationNumber::parse(input).unwrap().to_string(),
                shown,
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_with_specific_reasons() {
        let cases: &[(&str, OrganisationNumberError)] = &[
            (
                "232100-001",
                OrganisationNumberError::WrongLength { digits: 9 },
            ),
            (
                "232100-001X",
                OrganisationNumberError::InvalidCharacter {
                    found: 'X',
                    position: 10,
                },
            ),
            (
                "2321-000016",
                OrganisationNumberError::MisplacedHyphen { position: 4 },
            ),
            (
                "811218-9876",
                OrganisationNumberError::NotALegalPerson { third: 1 },
            ),
            (
                "232100-0017",
                OrganisationNumberError::CheckDigit {
                    expected: 6,
                    found: 7,
                },
            ),
        ];
        for (input, error) in cases {
            assert_eq!(
                OrganisationNumber::parse(input).unwrap_err(),
                *error,
                "{input}"
            );
        }
    }
}
