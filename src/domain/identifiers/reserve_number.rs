//! National reserve identity (nationell reservidentitet, NRID) for people without a
//! personnummer or samordningsnummer.
//!
//! Format `XXYYMMDDNNGC`, 12 characters, no separator:
//! - `XX`: for a known birth date the birth century plus a series constant (3, 6, … 78), so
//!   22–98 and never 18–21 (which would collide with personnummer); `00` when the birth date is
//!   unknown;
//! - `YYMMDD`: the birth date, or for an unknown birth date a serial with month 20–99 and day
//!   40–59;
//! - `NN`: two capital letters A–Z except I, O, Q, V and W;
//! - `G`: a digit (gender as in a personnummer) or, for an unknown gender, a letter from the
//!   same set;
//! - `C`: a check digit. Its algorithm is defined in the national specification, which is not
//!   public; brygga checks that it is a digit and leaves its verification to the issuer.

use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// Why a reserve number was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReserveNumberError {
    #[error(
        "has {length} characters; a national reserve number has 12 (XXYYMMDDNNGC) and no separator"
    )]
    WrongLength { length: usize },
    #[error("has {found:?} at position {position}, where {expected} is required")]
    InvalidCharacter {
        found: char,
        position: usize,
        expected: &'static str,
    },
    #[error(
        "has series prefix {prefix:02}; expected 00 (unknown birth date) or a birth century plus 3, 6, … 78 (22–98)"
    )]
    InvalidPrefix { prefix: u8 },
    #[error("has a birth date that does not exist (month {month:02}, day {day:02})")]
    InvalidBirthDate { month: u8, day: u8 },
    #[error(
        "has an unknown-birth-date serial with month {month:02} and day {day:02}; expected month 20–99 and day 40–59"
    )]
    InvalidSerial { month: u8, day: u8 },
}

const LETTERS: &str = "ABCDEFGHJKLMNPRSTUXYZ";

/// A structurally valid national reserve number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReserveNumber(String);

impl ReserveNumber {
    pub fn parse(input: &str) -> Result<Self, ReserveNumberError> {
        let s = input.trim();
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 12 {
            return Err(ReserveNumberError::WrongLength {
                length: chars.len(),
            });
        }
        let digit = |position: usize| -> Result<u8, ReserveNumberError> {
            chars[position].to_digit(10).map(|d| d as u8).ok_or(
                ReserveNumberError::InvalidCharacter {
                    found: chars[position],
                    position,
                    expected: "a digit",
                },
            )
        };
        let letter = |position: usize| -> Result<(), ReserveNumberError> {
            if LETTERS.contains(chars[position]) {
                Ok(())
            } else {
                Err(ReserveNumberError::InvalidCharacter {
                    found: chars[position],
                    position,
                    expected: "a capital letter A–Z other than I, O, Q, V, W",
                })
            }
        };
        let pair =
            |p: usize| -> Result<u8, ReserveNumberError> { Ok(digit(p)? * 10 + digit(p + 1)?) };
        let prefix = pair(0)?;
        let yy = pair(2)?;
        let month = pair(4)?;
        let day = pair(6)?;
        letter(8)?;
        letter(9)?;
        if !chars[10].is_ascii_digit() {
            letter(10)?;
        }
        digit(11)?;
        if prefix == 0 {
            if !(20..=99).contains(&month) || !(40..=59).contains(&day) {
                return Err(ReserveNumberError::InvalidSerial { month, day });
            }
        } else {
            let century = [19u8, 20]
                .into_iter()
                .find(|c| prefix > *c && (prefix - c) % 3 == 0 && (3..=78).contains(&(prefix - c)));
            let Some(century) = century.filter(|_| !(18..=21).contains(&prefix)) else {
                return Err(ReserveNumberError::InvalidPrefix { prefix });
            };
            let year = i16::from(century) * 100 + i16::from(yy);
            if Date::new(year, month as i8, day as i8).is_err() {
                return Err(ReserveNumberError::InvalidBirthDate { month, day });
            }
        }
        Ok(ReserveNumber(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ReserveNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReserveNumber(<redacted>)")
    }
}

impl TryFrom<String> for ReserveNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ReserveNumber::parse(&s).map_err(|e| format!("reserve number {e}"))
    }
}

impl From<ReserveNumber> for String {
    fn from(r: ReserveNumber) -> String {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_known_and_unknown_birth_dates() {
        for input in [
            "22850612AB12",
            "23100101ZZ31",
            "00992045KLX7",
            "97850612AB12",
        ] {
            assert!(ReserveNumber::parse(input).is_ok(), "{input}");
        }
    }

    #[test]
    fn rejects_with_specific_reasons() {
        let cases: &[(&str, ReserveNumberError)] = &[
            (
                "2285-0612AB12",
                ReserveNumberError::WrongLength { length: 13 },
            ),
            (
                "19850612AB12",
                ReserveNumberError::InvalidPrefix { prefix: 19 },
            ),
            (
                "24850612AB12",
                ReserveNumberError::InvalidPrefix { prefix: 24 },
            ),
            (
                "22850231AB12",
                ReserveNumberError::InvalidBirthDate { month: 2, day: 31 },
            ),
            (
                "00991245AB12",
                ReserveNumberError::InvalidSerial { month: 12, day: 45 },
            ),
            (
                "22850612IB12",
                ReserveNumberError::InvalidCharacter {
                    found: 'I',
                    position: 8,
                    expected: "a capital letter A–Z other than I, O, Q, V, W",
                },
            ),
            (
                "22850612AB1X",
                ReserveNumberError::InvalidCharacter {
                    found: 'X',
                    position: 11,
                    expected: "a digit",
                },
            ),
        ];
        for (input, error) in cases {
            assert_eq!(ReserveNumber::parse(input).unwrap_err(), *error, "{input}");
        }
    }
}
