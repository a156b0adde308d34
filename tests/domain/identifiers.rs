//! Property tests for the identifier parsers.

use brygga::domain::identifiers::{
    CivicNumberError, HsaId, Kommunkod, OrganisationNumber, Personnummer, ReserveNumber,
    Samordningsnummer,
};
use jiff::civil::{Date, date};
use proptest::prelude::*;

const TODAY: Date = date(2026, 11, 23);

fn luhn(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                (d * 2) / 10 + (d * 2) % 10
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A valid birth date, a serial and the resulting 12-digit number.
fn civic_number(day_offset: u8) -> impl Strategy<Value = (Date, String)> {
    (0i32..45_000, 0u16..1000).prop_map(move |(days_back, serial)| {
        let birth = TODAY
            .checked_sub(jiff::Span::new().days(days_back))
            .unwrap();
        let ten = format!(
            "{:02}{:02}{:02}{:03}",
            birth.year() % 100,
            birth.month(),
            birth.day() as u8 + day_offset,
            serial
        );
        let digits: Vec<u8> = ten.bytes().map(|b| b - b'0').collect();
        let check = luhn(&digits);
        (birth, format!("{:02}{ten}{check}", birth.year() / 100))
    })
}

/// Skatteverket writes '+' from the year the person turns 100.
fn age_at_least_100(birth: Date) -> bool {
    TODAY.year() - birth.year() >= 100
}

proptest! {
    #[test]
    fn personnummer_parses_in_every_layout((birth, twelve) in civic_number(0)) {
        let sep = if age_at_least_100(birth) { '+' } else { '-' };
        let ten = format!("{}{sep}{}", &twelve[2..8], &twelve[8..]);
        let dashed = format!("{}-{}", &twelve[..8], &twelve[8..]);
        for input in [twelve.clone(), dashed, ten.clone()] {
            let parsed = Personnummer::parse_on(&input, TODAY).unwrap();
            prop_assert_eq!(parsed.as_digits(), twelve.clone());
        }
        if sep == '-' {
            let bare = ten.replace('-', "");
            prop_assert_eq!(Personnummer::parse_on(&bare, TODAY).unwrap().as_digits(), twelve.clone());
        }
        prop_assert_eq!(Personnummer::parse_on(&twelve, TODAY).unwrap().to_ten_digit(TODAY), ten);
    }

    #[test]
    fn samordningsnummer_parses_and_is_not_a_personnummer((_birth, twelve) in civic_number(60)) {
        prop_assert_eq!(Samordningsnummer::parse_on(&twelve, TODAY).unwrap().as_digits(), twelve.clone());
        prop_assert_eq!(Personnummer::parse_on(&twelve, TODAY).unwrap_err(), CivicNumberError::IsSamordningsnummer);
    }

    #[test]
    fn any_single_digit_change_is_rejected((_birth, twelve) in civic_number(0), position in 2usize..12, delta in 1u8..10) {
        let mut bytes = twelve.into_bytes();
        bytes[position] = b'0' + (bytes[position] - b'0' + delta) % 10;
        let changed = String::from_utf8(bytes).unwrap();
        // Luhn detects every single-digit substitution; a change in the date may fail earlier.
        prop_assert!(Personnummer::parse_on(&changed, TODAY).is_err());
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_input(input in "\\PC{0,40}") {
        let _ = Personnummer::parse_on(&input, TODAY);
        let _ = Samordningsnummer::parse_on(&input, TODAY);
        let _ = HsaId::parse(&input);
        let _ = Kommunkod::parse(&input);
        let _ = OrganisationNumber::parse(&input);
        let _ = ReserveNumber::parse(&input);
    }

    #[test]
    fn parsers_never_panic_on_digit_heavy_input(input in "[0-9+\\- ]{0,16}") {
        let _ = Personnummer::parse_on(&input, TODAY);
        let _ = Samordningsnummer::parse_on(&input, TODAY);
        let _ = OrganisationNumber::parse(&input);
        let _ = Kommunkod::parse(&input);
    }

    #[test]
    fn reserve_numbers_with_a_known_birth_date_parse(
        (birth, _) in civic_number(0), series in 1i16..=26, letters in "[ABCDEFGHJKLMNPRSTUXYZ]{2}", gender in "[0-9]", check in "[0-9]",
    ) {
        let prefix = birth.year() / 100 + 3 * series;
        let number = format!("{prefix:02}{:02}{:02}{:02}{letters}{gender}{check}", birth.year() % 100, birth.month(), birth.day());
        prop_assert!(ReserveNumber::parse(&number).is_ok(), "{}", number);
        // A prefix in 18–21 would read as a personnummer's century and is never issued.
        let colliding = format!("{}{}", 19 + (series % 3), &number[2..]);
        prop_assert!(ReserveNumber::parse(&colliding).is_err(), "{}", colliding);
    }

    #[test]
    fn hsa_ids_of_the_documented_shape_parse(issuer in "[0-9]{10}", suffix in "[A-Za-z0-9]{1,18}") {
        let id = format!("SE{issuer}-{suffix}");
        let parsed = HsaId::parse(&id).unwrap();
        prop_assert_eq!(parsed.as_str(), id.to_ascii_uppercase());
    }

    #[test]
    fn hsa_ids_with_a_foreign_character_in_the_suffix_are_rejected(
        issuer in "[0-9]{10}", head in "[A-Z0-9]{0,6}", bad in "[^A-Za-z0-9\\s]", tail in "[A-Z0-9]{0,6}",
    ) {
        let id = format!("SE{issuer}-{head}{bad}{tail}");
        prop_assert!(HsaId::parse(&id).is_err());
    }

    #[test]
    fn kommunkod_accepts_exactly_the_counties_in_use(value in 0u16..10_000) {
        let code = format!("{value:04}");
        let county = value / 100;
        let valid = (1..=25).contains(&county) && ![2, 11, 15, 16].contains(&county) && value % 100 != 0;
        prop_assert_eq!(Kommunkod::parse(&code).is_ok(), valid, "{}", code);
    }

    #[test]
    fn organisation_numbers_with_a_luhn_digit_parse_and_mutations_do_not(
        head in "[0-9]{2}[2-9][0-9]{6}", position in 0usize..10, delta in 1u8..10,
    ) {
        let digits: Vec<u8> = head.bytes().map(|b| b - b'0').collect();
        let number = format!("{head}{}", luhn(&digits));
        prop_assert!(OrganisationNumber::parse(&number).is_ok());
        let mut bytes = number.into_bytes();
        bytes[position] = b'0' + (bytes[position] - b'0' + delta) % 10;
        prop_assert!(OrganisationNumber::parse(&String::from_utf8(bytes).unwrap()).is_err());
    }
}
