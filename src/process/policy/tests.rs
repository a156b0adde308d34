//! The policies' tests: the shipped files load, and the deadlines they set.

use std::path::Path;

use super::*;

fn policies() -> Policies {
    Policies::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/policies")).unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn the_shipped_policies_load_and_the_jamtland_agreement_covers_its_municipalities() {
    let p = policies();
    assert_eq!(p.default.id, "national");
    let jamtland = p.for_case("SE2321000214-1000", Kommunkod::parse("2380").ok());
    assert_eq!(jamtland.id, "jamtland");
    assert_eq!(
        p.for_case("SE2321000214-1000", Kommunkod::parse("0180").ok())
            .id,
        "national"
    );
    assert_eq!(p.for_case("SE2321000511-0001", None).id, "national");
    assert_eq!(jamtland.clocks[0].id, "hvb-cost-split");
}

#[test]
fn the_admission_notice_is_due_24_elapsed_hours_later_across_dst() {
    let p = policies().default;
    // The spring night has 23 hours: 24 elapsed hours end at 09:00 local, not 08:00.
    assert_eq!(
        p.admission_notice_due(at("2026-03-28T07:00:00Z"))
            .to_string(),
        "2026-03-29T07:00:00Z"
    );
    assert_eq!(
        p.admission_notice_due(at("2026-10-24T06:00:00Z"))
            .to_string(),
        "2026-10-25T06:00:00Z"
    );
}

#[test]
fn payment_responsibility_by_the_national_default_and_the_jamtland_agreement() {
    let p = policies();
    let national = &p.default;
    let jamtland = p.for_case("SE2321000214-1000", Kommunkod::parse("2380").ok());
    // Ready Friday 2026-11-27 10:00 local. National: 3 calendar days after day 0 → from
    // Tuesday 00:00 local.
    let ready = at("2026-11-27T09:00:00Z");
    assert_eq!(
        national
            .payment_responsibility_from(ready, false)
            .to_string(),
        "2026-11-30T23:00:00Z"
    );
    // Jämtland: 3 working days → Mon, Tue, Wed → from Thursday 00:00.
    assert_eq!(
        jamtland
            .payment_responsibility_from(ready, false)
            .to_string(),
        "2026-12-02T23:00:00Z"
    );
    // After the 12:00 cut-off the notice counts from Monday → from Friday 00:00.
    assert_eq!(
        jamtland
            .payment_responsibility_from(at("2026-11-27T12:30:00Z"), false)
            .to_string(),
        "2026-12-03T23:00:00Z"
    );
    // Psychiatric inpatient care counts separately.
    assert_eq!(
        national
            .payment_responsibility_from(ready, true)
            .to_string(),
        "2026-12-27T23:00:00Z"
    );
}

#[test]
fn a_deadline_on_a_holiday_moves_to_the_next_working_day() {
    let p = policies();
    let jamtland = p.for_case("SE2321000214-1000", Kommunkod::parse("2380").ok());
    // Ready Monday 2026-12-21: 3 calendar days → Thursday 24th, Christmas Eve, which the
    // agreement treats as a holiday → Monday 28th, end of day.
    assert_eq!(
        jamtland
            .sip_invitation_due(at("2026-12-21T09:00:00Z"))
            .to_string(),
        "2026-12-28T23:00:00Z"
    );
    // A deadline on Christmas Eve moves, by Lag (1930:173) 2 §, past Christmas Day, Boxing
    // Day and the weekend to Monday 28 December, whether or not a policy counts eves as
    // working days; likewise Midsummer Eve (Friday 19 June 2026 → Monday 22 June) and New
    // Year's Eve (Thursday 31 December 2026 → Monday 4 January 2027, past New Year's Day
    // and the weekend).
    assert_eq!(
        p.default
            .sip_invitation_due(at("2026-12-21T09:00:00Z"))
            .to_string(),
        "2026-12-28T23:00:00Z"
    );
    assert_eq!(
        p.default
            .sip_invitation_due(at("2026-06-16T09:00:00Z"))
            .to_string(),
        "2026-06-22T22:00:00Z"
    );
    assert_eq!(
        p.default
            .sip_invitation_due(at("2026-12-28T09:00:00Z"))
            .to_string(),
        "2027-01-04T23:00:00Z"
    );
    // Payment responsibility is not moved: it begins after the third day, Christmas Eve
    // or not.
    assert_eq!(
        p.default
            .payment_responsibility_from(at("2026-12-21T09:00:00Z"), false)
            .to_string(),
        "2026-12-24T23:00:00Z"
    );
    // Information at discharge: the end of the day of discharge, on the autumn DST day.
    assert_eq!(
        p.default
            .information_at_discharge_due(at("2026-10-25T10:00:00Z"))
            .to_string(),
        "2026-10-25T23:00:00Z"
    );
}

#[test]
fn a_chosen_set_of_policy_files_needs_its_one_default() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/policies");
    let national = Policies::load_files(&[dir.join("national.toml")], &dir).unwrap();
    assert!(national.agreements.is_empty());
    // Every case follows the national default: Östersund's case too.
    assert_eq!(
        national
            .for_case("SE2321000214-1000", Kommunkod::parse("2380").ok())
            .id,
        "national"
    );
    let error = Policies::load_files(&[dir.join("jamtland.toml")], &dir)
        .unwrap_err()
        .to_string();
    assert!(error.contains("no default policy"), "{error}");
}

#[test]
fn a_broken_policy_stops_with_file_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let national = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/policies/national.toml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("national.toml"), &national).unwrap();
    let jamtland = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/policies/jamtland.toml"),
    )
    .unwrap()
    .replace("starts_on = \"placement\"", "starts_on = \"placment\"");
    std::fs::write(dir.path().join("jamtland.toml"), jamtland).unwrap();
    let error = Policies::load(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("jamtland.toml")
            && error.contains("clock[0] (hvb-cost-split).starts_on")
            && error.contains("\"placment\""),
        "{error}"
    );
    std::fs::write(
        dir.path().join("jamtland.toml"),
        national.replace("days = 3", "dayz = 3"),
    )
    .unwrap();
    let error = Policies::load(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("jamtland.toml") && error.contains("dayz"),
        "{error}"
    );
}
