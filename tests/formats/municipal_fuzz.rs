//! Property tests that throw arbitrary and mangled input at every dialect's reader: nothing may
//! panic, and whatever a dialect accepts it must be able to write back as a document it reads.

use std::sync::LazyLock;

use brygga::formats::Mappings;
use brygga::formats::municipal::{decode, encode};
use jiff::civil::{Date, date};
use proptest::prelude::*;

use crate::golden::{files, repo};

const TODAY: Date = date(2026, 11, 23);

static MAPPINGS: LazyLock<Mappings> =
    LazyLock::new(|| Mappings::load(&repo().join("mappings")).expect("the shipped mappings"));

/// Every example of every dialect: (dialect, bytes).
static EXAMPLES: LazyLock<Vec<(String, Vec<u8>)>> = LazyLock::new(|| {
    MAPPINGS
        .municipal
        .iter()
        .flat_map(|dialect| {
            files(
                &repo()
                    .join("mappings/municipal")
                    .join(&dialect.name)
                    .join("examples"),
                ".xml",
            )
            .into_iter()
            .map(|path| (dialect.name.clone(), std::fs::read(path).unwrap()))
        })
        .collect()
});

/// Reads `bytes` in `dialect`; if it is accepted, writes it and reads the result again.
fn read_and_write_back(dialect: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let dialect = MAPPINGS.municipal.get(dialect).unwrap();
    if let Ok(decoded) = decode(dialect, bytes, TODAY)
        && let Ok(written) = encode(dialect, &decoded.message, TODAY)
    {
        let again = decode(dialect, written.as_bytes(), TODAY);
        prop_assert!(
            again.is_ok(),
            "{} wrote a document it does not read: {:?}\n{written}",
            dialect.name,
            again.err()
        );
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Edit::Replace(at, byte)),
        (
            any::<usize>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 1..8),
                Just(b"<!DOCTYPE x [<!ENTITY e \"e\">]>".to_vec()),
                Just(b"&e;".to_vec()),
                Just(b"<x:y/>".to_vec()),
                Just(b"</".to_vec()),
                Just("\u{0}\u{1}å\u{10FFFF}".as_bytes().to_vec()),
            ]
        )
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (any::<usize>(), 1usize..32).prop_map(|(at, n)| Edit::Delete(at, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let len = bytes.len().max(1);
    match edit {
        Edit::Replace(at, byte) => {
            if !bytes.is_empty() {
                bytes[at % len] = *byte;
            }
        }
        Edit::Insert(at, insert) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, insert.iter().copied());
        }
        Edit::Delete(at, n) => {
            let at = at % len;
            let end = (at + n).min(bytes.len());
            if at < end {
                bytes.drain(at..end);
            }
        }
        Edit::Truncate(at) => bytes.truncate(at % len),
    }
}

/// Text and attribute values replaced by arbitrary strings: well-formed documents with
/// values no mapping expects.
fn replace_values(bytes: &[u8], values: &[String]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut values = values.iter().cycle();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find('>') {
        out.push_str(&rest[..=start]);
        rest = &rest[start + 1..];
        match rest.find('<') {
            Some(end) if end > 0 && !rest[..end].trim().is_empty() => {
                let value = values.next().map(String::as_str).unwrap_or("");
                out.push_str(&quick_xml::escape::escape(value));
                rest = &rest[end..];
            }
            _ => {}
        }
    }
    out.push_str(rest);
    out.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_any_dialect(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for dialect in MAPPINGS.municipal.iter() {
            read_and_write_back(&dialect.name, &bytes)?;
        }
    }

    #[test]
    fn mangled_examples_never_panic_and_what_is_accepted_is_written_back(
        example in 0usize..1000,
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let (dialect, bytes) = &EXAMPLES[example % EXAMPLES.len()];
        let mut bytes = bytes.clone();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        read_and_write_back(dialect, &bytes)?;
    }

    #[test]
    fn arbitrary_values_in_well_formed_examples_never_panic(
        example in 0usize..1000,
        values in proptest::collection::vec(any::<String>(), 1..8),
    ) {
        let (dialect, bytes) = &EXAMPLES[example % EXAMPLES.len()];
        read_and_write_back(dialect, &replace_values(bytes, &values))?;
    }
}
