//! Kommunkod: SCB's four-digit municipality code, county code (län) followed by two digits.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a municipality code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KommunkodError {
    #[error("has {length} characters; a municipality code is exactly four digits, e.g. 2380")]
    WrongLength { length: usize },
    #[error("has a non-digit {found:?} at position {position}")]
    NotADigit { found: char, position: usize },
    #[error("starts with county code {county:02}, which is outside 01–25")]
    CountyOutOfRange { county: u8 },
    #[error(
        "starts with county code {county:02}, which is no longer in use (merged into Skåne 12 or Västra Götaland 14)"
    )]
    CountyNotInUse { county: u8 },
    #[error("has municipality part 00, which is reserved for the county itself")]
    CountyItself,
}

/// A four-digit municipality code with a county prefix in use (01–25 except 02, 11, 15, 16).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Kommunkod(u16);

impl Kommunkod {
    pub fn parse(input: &str) -> Result<Self, KommunkodError> {
        let s = input.trim();
        let length = s.chars().count();
        if length != 4 {
            return Err(KommunkodError::WrongLength { length });
        }
        if let Some((position, found)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(KommunkodError::NotADigit { found, position });
        }
        let value: u16 = s
            .parse()
            .map_err(|_| KommunkodError::WrongLength { length })?;
        let county = (value / 100) as u8;
        if !(1..=25).contains(&county) {
            return Err(KommunkodError::CountyOutOfRange { county });
        }
        if matches!(county, 2 | 11 | 15 | 16) {
            return Err(KommunkodError::CountyNotInUse { county });
        }
        if value.is_multiple_of(100) {
            return Err(KommunkodError::CountyItself);
        }
        Ok(Kommunkod(value))
    }

    /// The county (län) code, e.g. 23 for Jämtland.
    pub fn county(&self) -> u8 {
        (self.0 / 100) as u8
    }
}

impl fmt::Display for Kommunkod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl fmt::Debug for Kommunkod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kommunkod({:04})", self.0)
    }
}

impl TryFrom<String> for Kommunkod {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Kommunkod::parse(&s).map_err(|e| format!("municipality code {s:?} {e}"))
    }
}

impl From<Kommunkod> for String {
    fn from(k: Kommunkod) -> String {
        k.to_string()
    }
}

impl std::str::FromStr for Kommunkod {
    type Err = KommunkodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kommunkod::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_jamtland_municipalities_and_keeps_leading_zeros() {
        for code in [
            "2380", "2309", "2313", "2321", "2326", "2361", "2305", "2303", "0680", "0114",
        ] {
            let k = Kommunkod::parse(code).unwrap();
            assert_eq!(k.to_string(), code);
        }
        assert_eq!(Kommunkod::parse("2380").unwrap().county(), 23);
    }

    #[test]
    fn rejects_with_specific_reasons() {
        let cases: &[(&str, KommunkodError)] = &[
            ("238", KommunkodError::WrongLength { length: 3 }),
            ("23800", KommunkodError::WrongLength { length: 5 }),
            (
                "23a0",
                KommunkodError::NotADigit {
                    found: 'a',
                    position: 2,
                },
            ),
            ("0080", KommunkodError::CountyOutOfRange { county: 0 }),
            ("2680", KommunkodError::CountyOutOfRange { county: 26 }),
            ("1180", KommunkodError::CountyNotInUse { county: 11 }),
            ("2300", KommunkodError::CountyItself),
        ];
        for (input, error) in cases {
            assert_eq!(Kommunkod::parse(input).unwrap_err(), *error, "{input}");
        }
    }
}
