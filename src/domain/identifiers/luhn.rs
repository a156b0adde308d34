//! The Luhn (mod 10) check digit shared by personnummer and organisation numbers.

/// Computes the Luhn check digit for `digits` (values 0–9, most significant first),
/// doubling every other digit starting with the first, as Skatteverket specifies.
pub(crate) fn check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let twice = d * 2;
                twice / 10 + twice % 10
            } else {
                d
            }
        })
        .sum();
    ((10 - (sum % 10)) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::check_digit;

    #[test]
    fn skatteverket_example_has_check_digit_zero() {
        // 811218-987(6): the example Skatteverket publishes.
        assert_eq!(check_digit(&[8, 1, 1, 2, 1, 8, 9, 8, 7]), 6);
    }

    #[test]
    fn region_stockholm_organisation_number_checks() {
        // 232100-001(6)
        assert_eq!(check_digit(&[2, 3, 2, 1, 0, 0, 0, 0, 1]), 6);
    }
}
