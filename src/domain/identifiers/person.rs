//! Personnummer and samordningsnummer (Skatteverket SKV 704 and 707) and the person identity enum.
//!
//! Both numbers are parsed from the 10-digit form (`YYMMDD-NNNC`, `YYMMDD+NNNC`, `YYMMDDNNNC`)
//! or the 12-digit form (`YYYYMMDD-NNNC`, `YYYYMMDDNNNC`). Century inference for the 10-digit
//! form follows Skatteverket: `-` means the person is younger than 100 years on the reference
//! date, `+` that they are 100 or older. Values are stored as 12 digits. `Debug` never shows the
//! number, so a stray `?value` in a log line does not leak personal data.

use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::luhn;
use super::reserve_number::ReserveNumber;

/// Why a personnummer or samordningsnummer was rejected. Messages name positions and rules,
/// never the number itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CivicNumberError {
    #[error("is empty")]
    Empty,
    #[error("has {digits} digits; expected 10 (YYMMDD-NNNC) or 12 (YYYYMMDD-NNNC)")]
    WrongLength { digits: usize },
    #[error(
        "has an invalid character {found:?} at position {position}; only digits and one '-' or '+' before the last four digits are allowed"
    )]
    InvalidCharacter { found: char, position: usize },
    #[error(
        "has a separator at position {position}; it may only stand before the last four digits"
    )]
    MisplacedSeparator { position: usize },
    #[error(
        "uses '+' with a 12-digit number; '+' (age 100 or more) belongs to the 10-digit form only"
    )]
    PlusWithCentury,
    #[error("has month {month:02}, which is not 01–12")]
    InvalidMonth { month: u8 },
    #[error("has day {day:02}, which does not exist in month {month:02} of that year")]
    InvalidDay { year: i16, month: u8, day: u8 },
    #[error("has a birth date after the reference date {today}")]
    BirthDateInFuture { today: Date },
    #[error(
        "has check digit {found}, but the Luhn check digit of the first nine digits is {expected}"
    )]
    CheckDigit { expected: u8, found: u8 },
    #[error("is a samordningsnummer (day 61–91), not a personnummer")]
    IsSamordningsnummer,
    #[error(
        "is a personnummer (day 01–31), not a samordningsnummer; a samordningsnummer adds 60 to the day"
    )]
    IsPersonnummer,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Birth,
    Coordination,
}

/// The 12 digits and what they are.
struct Parsed {
    digits: [u8; 12],
    kind: Kind,
}

fn parse_civic(input: &str, today: Date) -> Result<Parsed, CivicNumberError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(CivicNumberError::Empty);
    }
    let mut digits: Vec<u8> = Vec::with_capacity(12);
    let mut separator: Option<(char, usize)> = None;
    for (position, ch) in s.chars().enumerate() {
        match ch {
            '0'..='9' => digits.push(ch as u8 - b'0'),
            '-' | '+' => {
                if separator.is_some() {
                    return Err(CivicNumberError::MisplacedSeparator { position });
                }
                separator = Some((ch, position));
            }
            other => {
                return Err(CivicNumberError::InvalidCharacter {
                    found: other,
                    position,
                });
            }
        }
    }
    if digits.len() != 10 && digits.len() != 12 {
        return Err(CivicNumberError::WrongLength {
            digits: digits.len(),
        });
    }
    if let Some((_, position)) = separator
        && position != digits.len() - 4
    {
        return Err(CivicNumberError::MisplacedSeparator { position });
    }
    let plus = matches!(separator, Some(('+', _)));
    if plus && digits.len() == 12 {
        return Err(CivicNumberError::PlusWithCentury);
    }

    let two = |i: usize| digits[i] * 10 + digits[i + 1];
    let offset = digits.len() - 10;
    let yy = i16::from(two(offset));
    let month = two(offset + 2);
    let raw_day = two(offset + 4);
    let (kind, day) = if raw_day > 60 {
        (Kind::Coordination, raw_day - 60)
    } else {
        (Kind::Birth, raw_day)
    };
    if !(1..=12).contains(&month) {
        return Err(CivicNumberError::InvalidMonth { month });
    }

    let year = if digits.len() == 12 {
        i16::from(two(0)) * 100 + yy
    } else {
        // The latest year ending in `yy` that is not after this year. A '+' marks a person
        // who turns 100 or more this year (Skatteverket changes the separator in that year);
        // otherwise a date still ahead of us this year belongs to the previous century.
        let mut year = today.year() - (today.year() - yy).rem_euclid(100);
        if plus {
            if today.year() - year < 100 {
                year -= 100;
            }
        } else if (year, month as i8, day as i8) > (today.year(), today.month(), today.day()) {
            year -= 100;
        }
        year
    };
    let date =
        Date::new(year, month as i8, day as i8).map_err(|_| CivicNumberError::InvalidDay {
            year,
            month,
            day: raw_day,
        })?;
    if date > today {
        return Err(CivicNumberError::BirthDateInFuture { today });
    }
    let expected = luhn::check_digit(&digits[offset..offset + 9]);
    let found = digits[offset + 9];
    if expected != found {
        return Err(CivicNumberError::CheckDigit { expected, found });
    }

    let mut full = [0u8; 12];
    let century = (year / 100) as u8;
    full[0] = century / 10;
    full[1] = century % 10;
    full[2..].copy_from_slice(&digits[offset..]);
    Ok(Parsed { digits: full, kind })
}

/// Today's date in Sweden. Kept, per thread, until the next midnight there: working it out
/// (the time zone's rules) costs more than the rest of reading a number.
fn today_in_sweden() -> Date {
    use crate::domain::time::{end_of, local_date, start_of};
    thread_local! {
        /// The date, and the instants it starts and ends (a clock set back is noticed).
        static TODAY: std::cell::Cell<Option<(Date, jiff::Timestamp, jiff::Timestamp)>> =
            const { std::cell::Cell::new(None) };
    }
    let now = jiff::Timestamp::now();
    TODAY.with(|today| {
        if let Some((date, from, until)) = today.get()
            && from <= now
            && now < until
        {
            return date;
        }
        let date = local_date(now);
        today.set(Some((date, start_of(date), end_of(date))));
        date
    })
}

fn to_string12(digits: &[u8; 12]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

macro_rules! civic_number {
    ($name:ident, $kind:expr, $wrong:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 12]);

        impl $name {
            /// Parses the 10- or 12-digit form; the 10-digit form's century is inferred
            /// relative to today's date in Sweden.
            pub fn parse(input: &str) -> Result<Self, CivicNumberError> {
                Self::parse_on(input, today_in_sweden())
            }

            /// Parses with an explicit reference date for century inference.
            pub fn parse_on(input: &str, today: Date) -> Result<Self, CivicNumberError> {
                let parsed = parse_civic(input, today)?;
                if parsed.kind != $kind {
                    return Err($wrong);
                }
                Ok(Self(parsed.digits))
            }

            /// The 12 digits without separator (`YYYYMMDDNNNC`), the form stored and exchanged.
            pub fn as_digits(&self) -> String {
                to_string12(&self.0)
            }

            /// The 10-digit form with separator (`YYMMDD-NNNC`, or `+` from the year the
            /// person turns 100), as on Swedish documents.
            pub fn to_ten_digit(&self, today: Date) -> String {
                let s = to_string12(&self.0);
                let year: i16 = s[0..4].parse().unwrap_or(0);
                let sep = if today.year() - year >= 100 { '+' } else { '-' };
                format!("{}{}{}", &s[2..8], sep, &s[8..])
            }
        }

        impl fmt::Display for $name {
            /// `YYYYMMDD-NNNC`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let s = to_string12(&self.0);
                write!(f, "{}-{}", &s[..8], &s[8..])
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.as_digits())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(|e| {
                    serde::de::Error::custom(format!(concat!(stringify!($name), " {}"), e))
                })
            }
        }

        impl std::str::FromStr for $name {
            type Err = CivicNumberError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

civic_number!(
    Personnummer,
    Kind::Birth,
    CivicNumberError::IsSamordningsnummer,
    "A valid Swedish personnummer: real date of birth, Luhn check digit."
);
civic_number!(
    Samordningsnummer,
    Kind::Coordination,
    CivicNumberError::IsPersonnummer,
    "A valid samordningsnummer: a personnummer-shaped number whose day is increased by 60."
);

/// How a person is identified in a coordination case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "system", content = "value", rename_all = "snake_case")]
pub enum PersonId {
    Personnummer(Personnummer),
    Samordningsnummer(Samordningsnummer),
    ReserveNumber(ReserveNumber),
}

impl PersonId {
    /// Any Swedish person identifier as people type it: a personnummer or samordningsnummer
    /// in any layout, or a reserve number. `None` if it is none of them (the caller says so
    /// without echoing the input).
    pub fn parse_any(input: &str, today: Date) -> Option<PersonId> {
        Personnummer::parse_on(input, today)
            .map(PersonId::Personnummer)
            .or_else(|_| Samordningsnummer::parse_on(input, today).map(PersonId::Samordningsnummer))
            .or_else(|_| ReserveNumber::parse(input).map(PersonId::ReserveNumber))
            .ok()
    }

    /// A person identifier given with its system URI (as in FHIR and in `system|value`
    /// tokens). `None` if the system is not a Swedish person system or the value is not valid
    /// in it.
    pub fn from_system(system: &str, value: &str, today: Date) -> Option<PersonId> {
        use super::systems;
        match system {
            // Coordination numbers are also exchanged under the personnummer system.
            systems::PERSONNUMMER => Personnummer::parse_on(value, today)
                .map(PersonId::Personnummer)
                .or_else(|_| {
                    Samordningsnummer::parse_on(value, today).map(PersonId::Samordningsnummer)
                })
                .ok(),
            systems::SAMORDNINGSNUMMER => Samordningsnummer::parse_on(value, today)
                .map(PersonId::Samordningsnummer)
                .ok(),
            systems::NATIONAL_RESERVE_NUMBER => ReserveNumber::parse(value)
                .map(PersonId::ReserveNumber)
                .ok(),
            _ => None,
        }
    }

    /// The identifier system URI used in FHIR.
    pub fn system(&self) -> &'static str {
        use super::systems;
        match self {
            PersonId::Personnummer(_) => systems::PERSONNUMMER,
            PersonId::Samordningsnummer(_) => systems::SAMORDNINGSNUMMER,
            PersonId::ReserveNumber(_) => systems::NATIONAL_RESERVE_NUMBER,
        }
    }

    /// The value as exchanged (12 characters, no separator).
    pub fn value(&self) -> String {
        match self {
            PersonId::Personnummer(p) => p.as_digits(),
            PersonId::Samordningsnummer(s) => s.as_digits(),
            PersonId::ReserveNumber(r) => r.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const TODAY: Date = date(2026, 11, 23);

    /// The kept date is today's in Sweden, read fresh, whether worked out or kept.
    #[test]
    fn today_is_swedish_whether_worked_out_or_kept() {
        let fresh = || crate::domain::time::local_date(jiff::Timestamp::now());
        for _ in 0..3 {
            let before = fresh();
            let today = today_in_sweden();
            let after = fresh();
            assert!(
                today == before || today == after,
                "{today} {before} {after}"
            );
        }
    }

    #[test]
    fn accepts_every_layout_of_the_same_number() {
        let expected = Personnummer::parse_on("19811218-9876", TODAY).unwrap();
        for input in [
            "811218-9876",
            "8112189876",
            "198112189876",
            "19811218-9876",
            " 811218-9876 ",
        ] {
            assert_eq!(
                Personnummer::parse_on(input, TODAY).unwrap(),
                expected,
                "{input}"
            );
        }
        assert_eq!(expected.as_digits(), "198112189876");
        assert_eq!(expected.to_string(), "19811218-9876");
        assert_eq!(expected.to_ten_digit(TODAY), "811218-9876");
    }

    #[test]
    fn century_is_inferred_from_the_reference_date() {
        // Born 2012: '-' on a date after the birthday this century.
        let p = Personnummer::parse_on("121212-1212", TODAY).unwrap();
        assert_eq!(&p.as_digits()[..4], "2012");
        // Born 1912, written with '+'.
        let p = Personnummer::parse_on("121212+1212", TODAY).unwrap();
        assert_eq!(&p.as_digits()[..4], "1912");
        assert_eq!(p.to_ten_digit(TODAY), "121212+1212");
    }

    #[test]
    fn a_birthday_later_this_year_means_last_century() {
        // 26-12-24 would be in the future on 2026-11-23, so it is 1926.
        let check = luhn::check_digit(&[2, 6, 1, 2, 2, 4, 1, 2, 3]);
        let input = format!("261224-123{check}");
        let p = Personnummer::parse_on(&input, TODAY).unwrap();
        assert_eq!(&p.as_digits()[..4], "1926");
    }

    #[test]
    fn rejects_with_specific_reasons() {
        let cases: &[(&str, CivicNumberError)] = &[
            ("", CivicNumberError::Empty),
            ("81121898", CivicNumberError::WrongLength { digits: 8 }),
            (
                "811218-98a6",
                CivicNumberError::InvalidCharacter {
                    found: 'a',
                    position: 9,
                },
            ),
            (
                "8112-189876",
                CivicNumberError::MisplacedSeparator { position: 4 },
            ),
            ("19811218+9876", CivicNumberError::PlusWithCentury),
            ("811318-9876", CivicNumberError::InvalidMonth { month: 13 }),
            (
                "19810231-0000",
                CivicNumberError::InvalidDay {
                    year: 1981,
                    month: 2,
                    day: 31,
                },
            ),
            (
                "811218-9877",
                CivicNumberError::CheckDigit {
                    expected: 6,
                    found: 7,
                },
            ),
        ];
        for (input, error) in cases {
            assert_eq!(
                Personnummer::parse_on(input, TODAY).unwrap_err(),
                *error,
                "{input}"
            );
        }
    }

    #[test]
    fn february_29_is_valid_only_in_leap_years() {
        let leap = luhn::check_digit(&[0, 0, 0, 2, 2, 9, 1, 2, 3]);
        assert!(Personnummer::parse_on(&format!("20000229-123{leap}"), TODAY).is_ok());
        let plain = luhn::check_digit(&[0, 1, 0, 2, 2, 9, 1, 2, 3]);
        assert_eq!(
            Personnummer::parse_on(&format!("20010229-123{plain}"), TODAY).unwrap_err(),
            CivicNumberError::InvalidDay {
                year: 2001,
                month: 2,
                day: 29
            }
        );
    }

    #[test]
    fn rejects_a_birth_date_in_the_future() {
        let check = luhn::check_digit(&[2, 7, 0, 1, 0, 1, 1, 2, 3]);
        assert_eq!(
            Personnummer::parse_on(&format!("20270101-123{check}"), TODAY).unwrap_err(),
            CivicNumberError::BirthDateInFuture { today: TODAY }
        );
    }

    #[test]
    fn samordningsnummer_adds_sixty_to_the_day() {
        // 701063-2391 is Skatteverket's example samordningsnummer.
        let s = Samordningsnummer::parse_on("701063-2391", TODAY).unwrap();
        assert_eq!(s.as_digits(), "197010632391");
        assert_eq!(
            Personnummer::parse_on("701063-2391", TODAY).unwrap_err(),
            CivicNumberError::IsSamordningsnummer
        );
        assert_eq!(
            Samordningsnummer::parse_on("811218-9876", TODAY).unwrap_err(),
            CivicNumberError::IsPersonnummer
        );
    }

    #[test]
    fn debug_output_never_shows_the_number() {
        let p = Personnummer::parse_on("811218-9876", TODAY).unwrap();
        let debug = format!("{p:?}");
        assert!(!debug.contains("9876"), "{debug}");
        assert!(!debug.contains("811218"), "{debug}");
    }

    #[test]
    fn errors_never_contain_the_number() {
        for input in ["811218-9877", "811318-9876", "19810231-0000"] {
            let message = Personnummer::parse_on(input, TODAY)
                .unwrap_err()
                .to_string();
            assert!(!message.contains(&input[..6]), "{message}");
        }
    }
}
