//! The municipal dialects, found by walking `mappings/municipal/`: every example reads to its
//! golden canonical message and writes back to itself, every canonical message of the shared
//! corpus writes to its golden document in every dialect, every error fixture fails with its
//! golden message, and every document validates against its dialect's schema.

use std::path::{Path, PathBuf};

use brygga::formats::Mappings;
use brygga::formats::canonical::CanonicalMessage;
use brygga::formats::municipal::{Dialect, decode, encode, write_form};
use brygga::formats::xml::{self, Element};
use jiff::civil::{Date, date};

use crate::golden::{check_json, check_text, files, repo};

const TODAY: Date = date(2026, 11, 23);

fn mappings() -> Mappings {
    Mappings::load(&repo().join("mappings")).unwrap_or_else(|e| panic!("{e}"))
}

/// Every dialect folder, with its compiled dialect.
fn dialects(mappings: &Mappings) -> Vec<(PathBuf, &Dialect)> {
    let dir = repo().join("mappings/municipal");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("dialect.toml").is_file())
        .collect();
    folders.sort();
    assert!(folders.len() >= 3, "the three shipped dialects");
    folders
        .into_iter()
        .map(|folder| {
            let name = folder.file_name().unwrap().to_string_lossy().into_owned();
            let dialect = mappings
                .municipal
                .get(&name)
                .unwrap_or_else(|| panic!("dialect {name} was not loaded"));
            (folder, dialect)
        })
        .collect()
}

fn fixtures(dialect: &Dialect) -> PathBuf {
    repo().join("fixtures/municipal").join(&dialect.name)
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Two documents are the same when their element trees are: names with namespaces, attributes
/// (in any order), text and children in order. Prefixes and whitespace do not matter.
fn same_tree(a: &Element, b: &Element, path: &str) -> Result<(), String> {
    let here = format!("{path}/{}", a.name);
    if a.name != b.name || a.namespace != b.namespace {
        return Err(format!(
            "{here}: <{} xmlns={:?}> against <{} xmlns={:?}>",
            a.name, a.namespace, b.name, b.namespace
        ));
    }
    let mut attributes_a: Vec<(&str, &str)> =
        a.attributes.iter().map(|x| (x.name, &*x.value)).collect();
    let mut attributes_b: Vec<(&str, &str)> =
        b.attributes.iter().map(|x| (x.name, &*x.value)).collect();
    attributes_a.sort_unstable();
    attributes_b.sort_unstable();
    if attributes_a != attributes_b {
        return Err(format!(
            "{here}: attributes {attributes_a:?} against {attributes_b:?}"
        ));
    }
    if a.text != b.text {
        return Err(format!("{here}: text {:?} against {:?}", a.text, b.text));
    }
    if a.children.len() != b.children.len() {
        let names = |e: &Element| {
            e.children
                .iter()
                .map(|c| c.name.to_owned())
                .collect::<Vec<_>>()
        };
        return Err(format!(
            "{here}: children {:?} against {:?}",
            names(a),
            names(b)
        ));
    }
    for (x, y) in a.children.iter().zip(&b.children) {
        same_tree(x, y, &here)?;
    }
    Ok(())
}

fn assert_same_document(expected: &[u8], actual: &str, what: &str) {
    let a = xml::parse(expected).unwrap_or_else(|e| panic!("{what}: {e}"));
    let b = xml::parse(actual.as_bytes()).unwrap_or_else(|e| panic!("{what}: written: {e}"));
    if let Err(diff) = same_tree(&a, &b, "") {
        panic!("{what}: the written document differs at {diff}\n{actual}");
    }
}

/// Validates `xml` against the dialect's schema (`<dialect>.xsd`, which may import others).
fn validate(folder: &Path, xml: &[u8], what: &str) {
    let name = folder.file_name().unwrap().to_string_lossy().into_owned();
    crate::golden::validate(&folder.join(format!("{name}.xsd")), xml, what);
}

#[test]
fn every_example_reads_to_its_golden_canonical_message() {
    let mappings = mappings();
    for (folder, dialect) in dialects(&mappings) {
        let expected = fixtures(dialect).join("to-canonical");
        for input in files(&folder.join("examples"), ".xml") {
            let decoded = decode(dialect, &std::fs::read(&input).unwrap(), TODAY)
                .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
            assert!(
                decoded.warnings.is_empty(),
                "{}: {:?}",
                input.display(),
                decoded.warnings
            );
            check_json(
                &expected.join(format!("{}.json", stem(&input))),
                &serde_json::to_value(&decoded.message).unwrap(),
            );
        }
    }
}

#[test]
fn every_example_reads_the_same_in_latin_1_and_utf_16() {
    let mappings = mappings();
    for (folder, dialect) in dialects(&mappings) {
        for input in files(&folder.join("examples"), ".xml") {
            let utf8 = std::fs::read_to_string(&input).unwrap();
            let expected = decode(dialect, utf8.as_bytes(), TODAY).unwrap().message;
            let declared = |label: &str| {
                utf8.replacen("encoding=\"UTF-8\"", &format!("encoding=\"{label}\""), 1)
            };
            let latin1_text = declared("ISO-8859-1");
            let (latin1, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&latin1_text);
            assert!(
                !unmappable,
                "{}: Swedish text fits Latin-1",
                input.display()
            );
            let utf16: Vec<u8> = [0xFF, 0xFE]
                .into_iter()
                .chain(declared("UTF-16").encode_utf16().flat_map(u16::to_le_bytes))
                .collect();
            for (encoding, bytes) in [("ISO-8859-1", &latin1[..]), ("UTF-16", &utf16[..])] {
                let decoded = decode(dialect, bytes, TODAY)
                    .unwrap_or_else(|e| panic!("{} in {encoding}: {e}", input.display()));
                assert_eq!(
                    decoded.message,
                    expected,
                    "{} in {encoding}",
                    input.display()
                );
                assert!(decoded.warnings.is_empty(), "{:?}", decoded.warnings);
            }
            // Latin-1 bytes that say nothing of their encoding are not UTF-8: refused, at the
            // first byte that is not.
            let undeclared = encoding_rs::WINDOWS_1252.encode(&utf8).0;
            if undeclared.iter().any(|b| !b.is_ascii()) {
                let error = decode(dialect, &undeclared, TODAY).unwrap_err().to_string();
                assert!(
                    error.contains("is not UTF-8 at line") && error.contains("ISO-8859-1"),
                    "{error}"
                );
            }
        }
    }
}

#[test]
fn every_example_is_written_back_as_itself() {
    let mappings = mappings();
    for (folder, dialect) in dialects(&mappings) {
        for input in files(&folder.join("examples"), ".xml") {
            let bytes = std::fs::read(&input).unwrap();
            let first = decode(dialect, &bytes, TODAY).unwrap().message;
            let written = encode(dialect, &first, TODAY)
                .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
            assert_same_document(&bytes, &written, &input.display().to_string());
            let again = decode(dialect, written.as_bytes(), TODAY).unwrap_or_else(|e| {
                panic!(
                    "{}: the written document does not read: {e}\n{written}",
                    input.display()
                )
            });
            assert_eq!(
                again.message,
                first,
                "{}: round trip changed the message",
                input.display()
            );
            assert!(
                again.warnings.is_empty(),
                "{}: {:?}",
                input.display(),
                again.warnings
            );
        }
    }
}

#[test]
fn every_message_kind_of_every_dialect_has_an_example() {
    let mappings = mappings();
    for (folder, dialect) in dialects(&mappings) {
        let mut seen = std::collections::BTreeSet::new();
        for input in files(&folder.join("examples"), ".xml") {
            let decoded = decode(dialect, &std::fs::read(&input).unwrap(), TODAY).unwrap();
            seen.insert(decoded.kind);
        }
        for kind in &dialect.kinds {
            assert!(
                seen.contains(&kind.name),
                "{}: messages/{}.toml has no example in examples/",
                dialect.name,
                kind.name
            );
        }
    }
}

/// The canonical corpus written into every dialect: one message of every kind the dialects
/// carry, from Cosmic Link, the municipalities and the gateway itself.
fn corpus() -> Vec<(PathBuf, CanonicalMessage)> {
    files(&repo().join("fixtures/municipal/canonical"), ".json")
        .into_iter()
        .map(|path| {
            let message = serde_json::from_slice(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, message)
        })
        .collect()
}

#[test]
fn every_canonical_message_is_written_to_its_golden_document_in_every_dialect() {
    let mappings = mappings();
    let corpus = corpus();
    for (folder, dialect) in dialects(&mappings) {
        let expected = fixtures(dialect).join("from-canonical");
        let mut kinds = std::collections::BTreeSet::new();
        for (path, message) in &corpus {
            let written = encode(dialect, message, TODAY)
                .unwrap_or_else(|e| panic!("{} in {}: {e}", path.display(), dialect.name));
            kinds.insert(message.event.kind.name());
            check_text(
                &expected.join(format!("{}.xml", stem(path))),
                written.trim_end(),
            );
            validate(
                &folder,
                written.as_bytes(),
                &format!("{} in {}", path.display(), dialect.name),
            );
            let back = decode(dialect, written.as_bytes(), TODAY).unwrap_or_else(|e| {
                panic!(
                    "{} in {}: the written document does not read: {e}\n{written}",
                    path.display(),
                    dialect.name
                )
            });
            assert!(
                back.warnings.is_empty(),
                "{}: {:?}",
                path.display(),
                back.warnings
            );
            // The same event, now from the dialect: the same content but its own id and format.
            let mut expected_event = serde_json::to_value(message).unwrap();
            let mut actual = serde_json::to_value(&back.message).unwrap();
            for value in [&mut expected_event, &mut actual] {
                let event = value["event"].as_object_mut().unwrap();
                event.remove("id");
                event["source"].as_object_mut().unwrap().remove("format");
            }
            assert_eq!(
                actual,
                expected_event,
                "{} through {}",
                path.display(),
                dialect.name
            );
        }
        for kind in &dialect.kinds {
            assert!(
                kinds.contains(kind.kind),
                "the canonical corpus has no {} message for {}",
                kind.kind,
                dialect.name
            );
        }
    }
}

#[test]
fn every_example_validates_against_its_dialects_schema() {
    let mappings = mappings();
    for (folder, _) in dialects(&mappings) {
        for input in files(&folder.join("examples"), ".xml") {
            validate(
                &folder,
                &std::fs::read(&input).unwrap(),
                &input.display().to_string(),
            );
        }
    }
}

#[test]
fn every_error_fixture_fails_with_its_golden_message() {
    let mappings = mappings();
    for (_, dialect) in dialects(&mappings) {
        let dir = fixtures(dialect).join("errors");
        for input in files(&dir, ".xml") {
            let error = match decode(dialect, &std::fs::read(&input).unwrap(), TODAY) {
                Ok(decoded) => panic!(
                    "{} read as {}, but should fail",
                    input.display(),
                    decoded.kind
                ),
                Err(error) => error.to_string(),
            };
            check_text(&dir.join(format!("{}.error", stem(&input))), &error);
            assert!(
                !error.contains("9876") && !error.contains("9875"),
                "{}: the error shows the personnummer: {error}",
                input.display()
            );
        }
    }
}

#[test]
fn receipts_and_error_answers_are_written_in_each_dialects_form() {
    let mappings = mappings();
    for (folder, dialect) in dialects(&mappings) {
        let receipt = serde_json::json!({
            "status": "accepted",
            "message_id": "M-1",
            "case_id": "0b8e4d6f-2a37-5c91-8e4f-7d2a6b3c9e51",
            "event_id": "d3f1a9b2-6c4e-5f87-9a1b-2e7c4d8f6a35",
            "kind": "services_decided",
            "sequence": 4,
            "warnings": ["/x/y (line 3, column 5) is not mapped and was ignored"],
            "withheld": [
                {
                    "recipient": {"type": "region_unit", "hsa_id": "SE2321000214-1000"},
                    "reason": "SIP information needs a consent to SIP"
                },
                {
                    "recipient": {"type": "municipality", "kommunkod": "2380", "unit": "SE2120002411-HSJV"},
                    "reason": "an objection covers the recipient"
                }
            ],
        });
        let written = write_form(dialect, &dialect.receipt, &receipt, TODAY).unwrap();
        validate(
            &folder,
            written.as_bytes(),
            &format!("the receipt of {}", dialect.name),
        );
        assert!(
            written.contains("M-1") && written.contains("is not mapped"),
            "{written}"
        );
        // Whom the step was withheld from, and why: every party and reason written.
        for text in [
            "SE2321000214-1000",
            "needs a consent to SIP",
            "2380",
            "SE2120002411-HSJV",
            "an objection covers the recipient",
        ] {
            assert!(
                written.contains(text),
                "{}: no {text} in {written}",
                dialect.name
            );
        }
        let error = serde_json::json!({
            "status": "rejected",
            "code": "invalid",
            "message_id": "M-2",
            "diagnostics": "/x (line 2, column 3): missing required element <y>",
            "path": "/x",
            "line": 2,
            "column": 3,
        });
        let written = write_form(dialect, &dialect.error, &error, TODAY).unwrap();
        validate(
            &folder,
            written.as_bytes(),
            &format!("the error answer of {}", dialect.name),
        );
        assert!(written.contains("missing required element"), "{written}");
    }
}

#[test]
fn a_local_time_the_clocks_skip_is_refused_and_one_they_show_twice_is_warned_of() {
    let mappings = mappings();
    let dialect = mappings
        .municipal
        .get("treserva-like")
        .expect("the treserva-like dialect");
    let example = std::fs::read_to_string(
        repo().join("mappings/municipal/treserva-like/examples/16-utskriven.xml"),
    )
    .unwrap();
    let with = |local: &str| {
        example.replace(
            "<Utskriven>20261127143000</Utskriven>",
            &format!("<Utskriven>{local}</Utskriven>"),
        )
    };
    let error = decode(dialect, with("20260329023000").as_bytes(), TODAY)
        .unwrap_err()
        .to_string();
    assert!(error.contains("Utskriven"), "{error}");
    assert!(error.contains("does not exist in Swedish time"), "{error}");
    let decoded = decode(dialect, with("20261025023000").as_bytes(), TODAY).unwrap();
    assert_eq!(
        decoded.message.event.occurred_at.to_string(),
        "2026-10-25T00:30:00Z"
    );
    assert!(
        decoded
            .warnings
            .iter()
            .any(|w| w.contains("Utskriven") && w.contains("shows twice")),
        "{:?}",
        decoded.warnings
    );
}

#[test]
fn documents_beyond_a_dialects_limits_are_refused_before_they_are_read() {
    let mappings = mappings();
    for (folder, dialect) in dialects(&mappings) {
        let example =
            std::fs::read_to_string(files(&folder.join("examples"), ".xml").remove(0)).unwrap();
        let limits = dialect.limits;
        // Too large: padding in a comment keeps the document well-formed.
        let large = example.replacen(
            "?>",
            &format!("?><!--{}-->", " ".repeat(limits.max_bytes)),
            1,
        );
        let error = decode(dialect, large.as_bytes(), TODAY)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("at most {} are accepted", limits.max_bytes)),
            "{error}"
        );
        // Too many elements, each harmless on its own.
        let crowd = "<x/>".repeat(limits.max_elements + 1);
        let close = format!("</{}>", dialect.root);
        let full = example.replacen(&close, &format!("{crowd}{close}"), 1);
        let error = decode(dialect, full.as_bytes(), TODAY)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("more than {} elements", limits.max_elements)),
            "{}: {error}",
            dialect.name
        );
        // Too deep.
        let depth = limits.max_depth + 1;
        let deep = example.replacen(
            &close,
            &format!("{}{}{close}", "<x>".repeat(depth), "</x>".repeat(depth)),
            1,
        );
        let error = decode(dialect, deep.as_bytes(), TODAY)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("nest deeper than"),
            "{}: {error}",
            dialect.name
        );
    }
}

#[test]
fn input_no_rule_reads_is_reported_with_its_path() {
    let mappings = mappings();
    let dialect = mappings.municipal.get("lifecare-like").unwrap();
    let example = std::fs::read_to_string(
        repo().join("mappings/municipal/lifecare-like/examples/16-discharged.xml"),
    )
    .unwrap();
    let extended = example
        .replace(
            "</DischargedAt>",
            "</DischargedAt>\n      <Transport mode=\"taxi\">Färdtjänst</Transport>",
        )
        .replace("<Discharged>", "<Discharged urgent=\"yes\">");
    let decoded = decode(dialect, extended.as_bytes(), TODAY).unwrap();
    assert_eq!(
        decoded.warnings,
        vec![
            "/Envelope/Body/Discharged/@urgent (line 17, column 5) is not mapped and was ignored",
            "/Envelope/Body/Discharged/Transport (line 19, column 7) is not mapped and was ignored",
        ]
    );
}

#[test]
fn a_protected_persons_address_is_not_read_and_never_written() {
    let mappings = mappings();
    for (folder, dialect) in dialects(&mappings) {
        let admission = files(&folder.join("examples"), ".xml").remove(0);
        let text = std::fs::read_to_string(&admission).unwrap();
        let protected = match dialect.name.as_str() {
            "treserva-like" => text.replace("skyddadIdentitet=\"N\"", "skyddadIdentitet=\"J\""),
            "lifecare-like" => text.replace(
                "<ProtectedIdentity>false</ProtectedIdentity>",
                "<ProtectedIdentity>true</ProtectedIdentity>",
            ),
            "combine-like" => text.replace(
                "<ct:SkyddadIdentitet>N</ct:SkyddadIdentitet>",
                "<ct:SkyddadIdentitet>J</ct:SkyddadIdentitet>",
            ),
            "socsys" => text.replace("s:skyddadIdentitet=\"N\"", "s:skyddadIdentitet=\"J\""),
            "faltlista" => text.replace(
                "<Falt namn=\"skyddadidentitet\">N</Falt>",
                "<Falt namn=\"skyddadidentitet\">J</Falt>",
            ),
            other => panic!("no protected-identity variant for {other}"),
        };
        assert_ne!(
            protected, text,
            "{}: the example names protected identity",
            dialect.name
        );
        let decoded = decode(dialect, protected.as_bytes(), TODAY).unwrap();
        let json = serde_json::to_value(&decoded.message).unwrap();
        assert_eq!(
            json["event"]["person"]["protected_identity"], true,
            "{}",
            dialect.name
        );
        assert!(
            json["event"]["person"].get("registered_address").is_none(),
            "{json}"
        );
        assert!(
            !decoded.warnings.is_empty()
                && decoded.warnings.iter().all(|w| w.contains("is not mapped")),
            "{}: the dropped address is reported: {:?}",
            dialect.name,
            decoded.warnings
        );
        let written = encode(dialect, &decoded.message, TODAY).unwrap();
        assert!(!written.contains("Storgatan"), "{written}");
    }
}

#[test]
fn local_times_follow_swedish_summer_and_winter_time_in_every_layout() {
    let mappings = mappings();
    let cases = [
        (
            "treserva-like",
            "16-utskriven.xml",
            "20261127143000",
            ["20260701143000", "20260115143000"],
        ),
        (
            "lifecare-like",
            "16-discharged.xml",
            "2026-11-27T14:30:00+01:00",
            ["2026-07-01T14:30:00+02:00", "2026-01-15T14:30:00+01:00"],
        ),
        (
            "combine-like",
            "16-utskriven.xml",
            "<cm:Tidpunkt>\n          <ct:Datum>2026-11-27</ct:Datum>",
            [
                "<cm:Tidpunkt>\n          <ct:Datum>2026-07-01</ct:Datum>",
                "<cm:Tidpunkt>\n          <ct:Datum>2026-01-15</ct:Datum>",
            ],
        ),
    ];
    for (name, file, original, [summer, winter]) in cases {
        let dialect = mappings.municipal.get(name).unwrap();
        let text = std::fs::read_to_string(
            repo()
                .join("mappings/municipal")
                .join(name)
                .join("examples")
                .join(file),
        )
        .unwrap();
        for (replacement, utc) in [
            (summer, "2026-07-01T12:30:00Z"),
            (winter, "2026-01-15T13:30:00Z"),
        ] {
            let changed = text.replacen(original, replacement, 1);
            let decoded = decode(dialect, changed.as_bytes(), TODAY).unwrap();
            assert_eq!(decoded.message.event.occurred_at.to_string(), utc, "{name}");
        }
    }
}

#[test]
fn a_dialect_reads_the_same_message_to_the_same_ids_and_one_case() {
    let mappings = mappings();
    let dialect = mappings.municipal.get("combine-like").unwrap();
    let dir = repo().join("mappings/municipal/combine-like/examples");
    let read = |name: &str| {
        decode(dialect, &std::fs::read(dir.join(name)).unwrap(), TODAY)
            .unwrap()
            .message
    };
    let a = read("11-beviljade-insatser.xml");
    let b = read("11-beviljade-insatser.xml");
    assert_eq!(a.event.id, b.event.id);
    let admission = read("01-inskrivning.xml");
    assert_eq!(
        admission.case.reference().map(|r| r.case_id()),
        a.case.reference().map(|r| r.case_id()),
        "one samordningsärende, one case"
    );
    assert_ne!(admission.event.id, a.event.id);
    assert_eq!(a.event.source.format, "municipal:combine-like");
}
