//! The Cosmic Link contract: every example decodes to its golden canonical message, every
//! error fixture fails with its golden message, and every example survives a round trip.

use brygga::formats::cosmic_link::{CodeTables, decode, encode};
use jiff::civil::{Date, date};

use crate::golden::{check_json, check_text, cosmic_link_examples, files, repo, validate};

const TODAY: Date = date(2026, 11, 23);

fn codes() -> CodeTables {
    CodeTables::load(&repo().join("mappings/cosmic-link/codes.toml")).unwrap()
}

#[test]
fn every_example_decodes_to_its_golden_canonical_message() {
    let codes = codes();
    let expected_dir = repo().join("fixtures/cosmic-link/to-canonical");
    for input in cosmic_link_examples() {
        let bytes = std::fs::read(&input).unwrap();
        let decoded =
            decode(&bytes, &codes, TODAY).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        assert!(
            decoded.warnings.is_empty(),
            "{}: {:?}",
            input.display(),
            decoded.warnings
        );
        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        check_json(
            &expected_dir.join(format!("{name}.json")),
            &serde_json::to_value(&decoded.message).unwrap(),
        );
    }
}

#[test]
fn every_example_survives_a_round_trip_through_the_canonical_model() {
    let codes = codes();
    for input in cosmic_link_examples() {
        let first = decode(&std::fs::read(&input).unwrap(), &codes, TODAY)
            .unwrap()
            .message;
        let written = encode(&first, &codes).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        let again = decode(written.as_bytes(), &codes, TODAY).unwrap_or_else(|e| {
            panic!(
                "{}: re-encoded message does not decode: {e}\n{written}",
                input.display()
            )
        });
        assert!(
            again.warnings.is_empty(),
            "{}: {:?}",
            input.display(),
            again.warnings
        );
        assert_eq!(
            again.message,
            first,
            "{}: round trip changed the message\n{written}",
            input.display()
        );
        assert_eq!(
            encode(&again.message, &codes).unwrap(),
            written,
            "{}: encoding is not stable",
            input.display()
        );
    }
}

#[test]
fn every_error_fixture_fails_with_its_golden_message() {
    let codes = codes();
    let dir = repo().join("fixtures/cosmic-link/errors");
    for input in files(&dir, ".xml") {
        let bytes = std::fs::read(&input).unwrap();
        let error = match decode(&bytes, &codes, TODAY) {
            Ok(decoded) => panic!(
                "{} decoded, but should fail: {:?}",
                input.display(),
                decoded.message.event.kind.name()
            ),
            Err(error) => error.to_string(),
        };
        let name = input.file_stem().unwrap().to_string_lossy().into_owned();
        check_text(&dir.join(format!("{name}.error")), &error);
        assert!(
            !error.contains("9876"),
            "{}: error shows the personnummer: {error}",
            input.display()
        );
    }
}

#[test]
fn elements_outside_the_contract_are_reported_not_dropped() {
    let codes = codes();
    let example =
        std::fs::read_to_string(repo().join("mappings/cosmic-link/examples/20-utskriven.xml"))
            .unwrap();
    let extended = example.replace(
        "<Tidpunkt>2026-11-27T14:30:00</Tidpunkt>",
        "<Tidpunkt>2026-11-27T14:30:00</Tidpunkt>\n    <Transport typ=\"taxi\">Färdtjänst bokad</Transport>",
    );
    let decoded = decode(extended.as_bytes(), &codes, TODAY).unwrap();
    assert_eq!(
        decoded.warnings,
        vec![
            "/CosmicLinkMeddelande/Utskriven/Transport (line 14, column 5) is not mapped and was ignored"
        ]
    );
}

#[test]
fn a_protected_persons_address_is_never_kept() {
    let codes = codes();
    let example = std::fs::read_to_string(
        repo().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
    )
    .unwrap();
    let protected = example.replace(
        "</Folkbokforingsadress>",
        "</Folkbokforingsadress>\n    <SkyddadIdentitet>true</SkyddadIdentitet>",
    );
    let decoded = decode(protected.as_bytes(), &codes, TODAY).unwrap();
    let json = serde_json::to_value(&decoded.message).unwrap();
    assert_eq!(json["event"]["person"]["protected_identity"], true);
    assert!(
        json["event"]["person"].get("registered_address").is_none(),
        "{json}"
    );
    assert_eq!(decoded.warnings.len(), 1);
    assert!(decoded.warnings[0].contains("protected identity"));
    let written = encode(&decoded.message, &codes).unwrap();
    assert!(!written.contains("Storgatan"), "{written}");
}

#[test]
fn local_times_follow_swedish_summer_and_winter_time() {
    let codes = codes();
    let example =
        std::fs::read_to_string(repo().join("mappings/cosmic-link/examples/20-utskriven.xml"))
            .unwrap();
    for (local, utc) in [
        ("2026-07-01T14:30:00", "2026-07-01T12:30:00Z"),
        ("2026-01-15T14:30:00", "2026-01-15T13:30:00Z"),
        ("2026-07-01T14:30:00+02:00", "2026-07-01T12:30:00Z"),
    ] {
        let message = example.replace(
            "2026-11-27T14:30:00</Tidpunkt>",
            &format!("{local}</Tidpunkt>"),
        );
        let decoded = decode(message.as_bytes(), &codes, TODAY).unwrap();
        assert_eq!(
            decoded.message.event.occurred_at.to_string(),
            utc,
            "{local}"
        );
    }
}

#[test]
fn a_local_time_the_clocks_skip_is_refused_and_one_they_show_twice_is_warned_of() {
    let codes = codes();
    let example =
        std::fs::read_to_string(repo().join("mappings/cosmic-link/examples/20-utskriven.xml"))
            .unwrap();
    let with = |local: &str| {
        example.replace(
            "2026-11-27T14:30:00</Tidpunkt>",
            &format!("{local}</Tidpunkt>"),
        )
    };
    // 29 March 2026, 02:30: the clocks went from 02:00 to 03:00; which instant was meant
    // cannot be known.
    let error = decode(with("2026-03-29T02:30:00").as_bytes(), &codes, TODAY)
        .unwrap_err()
        .to_string();
    assert!(error.contains("Tidpunkt"), "{error}");
    assert!(error.contains("does not exist in Swedish time"), "{error}");
    // 25 October 2026, 02:30 shows twice: read as the first (summer time), with a warning
    // naming the element.
    let decoded = decode(with("2026-10-25T02:30:00").as_bytes(), &codes, TODAY).unwrap();
    assert_eq!(
        decoded.message.event.occurred_at.to_string(),
        "2026-10-25T00:30:00Z"
    );
    assert!(
        decoded
            .warnings
            .iter()
            .any(|w| w.contains("Tidpunkt") && w.contains("shows twice")),
        "{:?}",
        decoded.warnings
    );
    // With its offset, the second is meant and nothing is warned of.
    let decoded = decode(with("2026-10-25T02:30:00+01:00").as_bytes(), &codes, TODAY).unwrap();
    assert_eq!(
        decoded.message.event.occurred_at.to_string(),
        "2026-10-25T01:30:00Z"
    );
    assert!(
        !decoded.warnings.iter().any(|w| w.contains("shows twice")),
        "{:?}",
        decoded.warnings
    );
}

#[test]
fn the_same_message_always_gets_the_same_case_and_event_ids() {
    let codes = codes();
    let bytes = std::fs::read(repo().join("mappings/cosmic-link/examples/08-utskrivningsklar.xml"))
        .unwrap();
    let a = decode(&bytes, &codes, TODAY).unwrap().message;
    let b = decode(&bytes, &codes, TODAY).unwrap().message;
    assert_eq!(a.event.id, b.event.id);
    assert_eq!(a.case.case_id(), b.case.case_id());
    let admission = decode(
        &std::fs::read(repo().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"))
            .unwrap(),
        &codes,
        TODAY,
    )
    .unwrap()
    .message;
    assert_eq!(
        admission.case.case_id(),
        a.case.case_id(),
        "one samordningsärende, one case"
    );
    assert_ne!(admission.event.id, a.event.id);
}

/// Validates `xml` against the contract's XSD with xmllint (libxml2-utils).
pub fn validate_against_xsd(xml: &[u8], what: &str) {
    validate(
        &repo().join("mappings/cosmic-link/cosmic-link.xsd"),
        xml,
        what,
    );
}

#[test]
fn examples_and_the_encoders_output_validate_against_the_xsd() {
    let codes = codes();
    for input in cosmic_link_examples() {
        let bytes = std::fs::read(&input).unwrap();
        validate_against_xsd(&bytes, &input.display().to_string());
        let written = encode(&decode(&bytes, &codes, TODAY).unwrap().message, &codes).unwrap();
        validate_against_xsd(
            written.as_bytes(),
            &format!("the encoding of {}", input.display()),
        );
    }
}

/// Cosmic Link says who answers a SIP invitation by its sender: an answer whose responder is
/// another party cannot be written without changing who answered, and is refused saying so
/// (found by the `fhir` fuzz target: a Task read with an owner other than its requester).
#[test]
fn an_answer_whose_responder_is_not_its_sender_is_refused() {
    let codes = codes();
    let input = repo().join("mappings/cosmic-link/examples/14-svar-kallelse.xml");
    let mut message = decode(&std::fs::read(&input).unwrap(), &codes, TODAY)
        .unwrap()
        .message;
    assert!(encode(&message, &codes).is_ok());
    if let brygga::domain::event::EventKind::SipResponse { responder, .. } = &mut message.event.kind
    {
        *responder = brygga::domain::party::Party::RegionUnit {
            hsa_id: "SE2321000214-E3HC".parse().unwrap(),
        };
    } else {
        panic!("14 is a SIP answer");
    }
    let error = encode(&message, &codes).unwrap_err().to_string();
    assert!(
        error.contains("this answer's responder") && error.contains("is not its sender"),
        "{error}"
    );
}

/// An admission notice comes from the region's ward: one whose sender names a kommunkod (a
/// municipality's unit) is refused, naming the sender, instead of being read as a ward and
/// written back as another sender (found by the `cosmic_link` fuzz target).
#[test]
fn an_admission_notice_from_a_municipality_is_refused() {
    let codes = codes();
    let input = std::fs::read_to_string(
        repo().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
    )
    .unwrap();
    let sender = input
        .lines()
        .find(|l| l.contains("<Avsandare "))
        .expect("the example names its sender");
    let from_municipality = input.replace(
        sender,
        &sender.replacen("<Avsandare ", "<Avsandare kommunkod=\"2380\" ", 1),
    );
    let error = decode(from_municipality.as_bytes(), &codes, TODAY)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("/CosmicLinkMeddelande/Huvud/Avsandare")
            && error.contains("sent by the region's ward"),
        "{error}"
    );
    assert!(decode(input.as_bytes(), &codes, TODAY).is_ok());
}

/// A step whose message id a `MeddelandeId` cannot be (from FHIR, which allows longer
/// identifiers) is refused rather than written as a message no reader takes (found by the
/// `fhir` fuzz target).
#[test]
fn a_message_id_longer_than_the_contract_allows_is_refused() {
    let codes = codes();
    let input = repo().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml");
    let mut message = decode(&std::fs::read(&input).unwrap(), &codes, TODAY)
        .unwrap()
        .message;
    message.event.source.message_id = "x".repeat(129);
    let error = encode(&message, &codes).unwrap_err().to_string();
    assert!(
        error.contains("at most 128 printable characters"),
        "{error}"
    );
    message.event.source.message_id = "x".repeat(128);
    let written = encode(&message, &codes).unwrap();
    assert!(decode(written.as_bytes(), &codes, TODAY).is_ok());
}
