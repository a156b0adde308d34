//! Municipal dialects: messages per second per core to read and write each dialect, beside raw
//! quick-xml parsing and writing of the same bytes.
//!
//! `cargo bench --bench municipal` measures, for every dialect, over all of its examples (one
//! iteration is every example once; throughput is in messages):
//! - `decode`: the document's bytes → the canonical message (parse, namespaces checked, kind
//!   detected, rules applied, identifiers and dates checked, unread input reported);
//!   `raw-parse`: read every XML event of the same bytes with quick-xml's namespace-resolving
//!   reader, building nothing (the ceiling);
//! - `encode`: the canonical message → the document's text;
//!   `raw-write`: write the same document's XML events with quick-xml's writer, from events
//!   parsed beforehand (the ceiling);
//! - `to-canonical`: the document's bytes → the canonical JSON text, as the gateway stores a
//!   received message; `raw-to-canonical`: the raw parse of the same bytes and serde_json
//!   serialising the same canonical JSON (the ceiling `benches/translate.rs` uses for Cosmic
//!   Link);
//! - `from-canonical`: the canonical JSON text → the document's text, as the gateway delivers
//!   a stored message; `raw-from-canonical`: serde_json parsing the same JSON and the raw
//!   write of the document.
//!
//! `MUNICIPAL_REPEAT=<operation>:<dialect>:<times>` runs one operation (`decode`, `encode`,
//! `raw-parse`, `raw-write`) over a dialect's examples that many times and no benchmark: for
//! counting instructions (`scripts/count-instructions.sh`), which, unlike time, do not move
//! with the machine's other load.
//!
//! The group `cosmic-link` measures the hand-written Cosmic Link codec the same way over its
//! examples (`decode`/`raw-parse`, `encode`/`raw-write`), the reference for what a codec with
//! no rules to interpret costs against the same ceilings.

use std::hint::black_box;

use brygga::formats::Mappings;
use brygga::formats::canonical::UnplacedMessage;
use brygga::formats::municipal::{decode, encode};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group};
use quick_xml::events::Event;

#[path = "support/raw_xml.rs"]
mod raw_xml;

/// The gateway's allocator (`src/main.rs`): the codecs are measured as the gateway runs them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The XML documents in `folder`, by name.
fn documents(folder: &std::path::Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// The events of each written document, checked to write back the same bytes.
fn events_of(written: &[String]) -> Vec<Vec<Event<'static>>> {
    let events: Vec<Vec<Event<'static>>> = written
        .iter()
        .map(|w| raw_xml::events(w.as_bytes()))
        .collect();
    for (text, events) in written.iter().zip(&events) {
        assert_eq!(
            raw_xml::write(events),
            text.as_bytes(),
            "the raw writer writes the same bytes"
        );
    }
    events
}

/// The two ceilings: `raw-parse` of the documents read, `raw-write` of the documents written.
fn raw_ceilings(
    group: &mut BenchmarkGroup<'_, WallTime>,
    documents: &[Vec<u8>],
    events: &[Vec<Event<'static>>],
) {
    group.bench_function("raw-parse", |b| {
        b.iter(|| {
            for document in documents {
                black_box(raw_xml::parse(black_box(document)));
            }
        })
    });
    group.bench_function("raw-write", |b| {
        b.iter(|| {
            for events in events {
                black_box(raw_xml::write(black_box(events)));
            }
        })
    });
}

fn dialects(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mappings = Mappings::load(&root.join("mappings")).unwrap();
    let today = jiff::civil::date(2026, 11, 23);
    for dialect in mappings.municipal.iter() {
        let documents = documents(
            &root
                .join("mappings/municipal")
                .join(&dialect.name)
                .join("examples"),
        );
        let messages: Vec<UnplacedMessage> = documents
            .iter()
            .map(|d| decode(dialect, d, today).unwrap().message)
            .collect();
        let written: Vec<String> = messages
            .iter()
            .map(|m| encode(dialect, m, today).unwrap())
            .collect();
        let events = events_of(&written);
        let canonical: Vec<String> = messages
            .iter()
            .map(|m| serde_json::to_string(m).unwrap())
            .collect();
        let canonical_values: Vec<serde_json::Value> = canonical
            .iter()
            .map(|c| serde_json::from_str(c).unwrap())
            .collect();
        let bytes: usize = documents.iter().map(Vec::len).sum();
        eprintln!(
            "{}: {} messages, {} bytes on average",
            dialect.name,
            documents.len(),
            bytes / documents.len()
        );

        let mut group = c.benchmark_group(&dialect.name);
        group.throughput(Throughput::Elements(documents.len() as u64));
        group.bench_function("decode", |b| {
            b.iter(|| {
                for document in &documents {
                    black_box(decode(dialect, black_box(document), today).unwrap());
                }
            })
        });
        group.bench_function("encode", |b| {
            b.iter(|| {
                for message in &messages {
                    black_box(encode(dialect, black_box(message), today).unwrap());
                }
            })
        });
        raw_ceilings(&mut group, &documents, &events);
        group.bench_function("to-canonical", |b| {
            b.iter(|| {
                for document in &documents {
                    let decoded = decode(dialect, black_box(document), today).unwrap();
                    black_box(serde_json::to_string(&decoded.message).unwrap());
                }
            })
        });
        group.bench_function("raw-to-canonical", |b| {
            b.iter(|| {
                for (document, value) in documents.iter().zip(&canonical_values) {
                    black_box(raw_xml::parse(black_box(document)));
                    black_box(serde_json::to_string(black_box(value)).unwrap());
                }
            })
        });
        group.bench_function("from-canonical", |b| {
            b.iter(|| {
                for json in &canonical {
                    let message: UnplacedMessage = serde_json::from_str(black_box(json)).unwrap();
                    black_box(encode(dialect, &message, today).unwrap());
                }
            })
        });
        group.bench_function("raw-from-canonical", |b| {
            b.iter(|| {
                for (json, events) in canonical.iter().zip(&events) {
                    let value: serde_json::Value = serde_json::from_str(black_box(json)).unwrap();
                    black_box(value);
                    black_box(raw_xml::write(black_box(events)));
                }
            })
        });
        group.finish();
    }
}

/// The hand-written Cosmic Link codec against the same ceilings.
fn cosmic_link(c: &mut Criterion) {
    use brygga::formats::cosmic_link;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mappings = Mappings::load(&root.join("mappings")).unwrap();
    let codes = &mappings.cosmic_link;
    let today = jiff::civil::date(2026, 11, 23);
    let documents = documents(&root.join("mappings/cosmic-link/examples"));
    let messages: Vec<_> = documents
        .iter()
        .map(|d| cosmic_link::decode(d, codes, today).unwrap().message)
        .collect();
    let written: Vec<String> = messages
        .iter()
        .map(|m| cosmic_link::encode(m, codes).unwrap())
        .collect();
    let events = events_of(&written);
    let mut group = c.benchmark_group("cosmic-link");
    group.throughput(Throughput::Elements(documents.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            for document in &documents {
                black_box(cosmic_link::decode(black_box(document), codes, today).unwrap());
            }
        })
    });
    group.bench_function("encode", |b| {
        b.iter(|| {
            for message in &messages {
                black_box(cosmic_link::encode(black_box(message), codes).unwrap());
            }
        })
    });
    raw_ceilings(&mut group, &documents, &events);
    group.finish();
}

/// A message read by either codec.
enum Read {
    Municipal(UnplacedMessage),
    CosmicLink(brygga::formats::canonical::CanonicalMessage),
}

/// Runs `operation` over every example of `dialect` (or of Cosmic Link) `times` times.
fn repeat(spec: &str) {
    use brygga::formats::cosmic_link;
    let [operation, name, times] = spec.splitn(3, ':').collect::<Vec<_>>()[..] else {
        panic!("MUNICIPAL_REPEAT is <operation>:<dialect>:<times>, not {spec:?}");
    };
    let times: usize = times.parse().expect("a number of times");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mappings = Mappings::load(&root.join("mappings")).unwrap();
    let codes = &mappings.cosmic_link;
    let today = jiff::civil::date(2026, 11, 23);
    let dialect = mappings.municipal.iter().find(|d| d.name == name);
    let folder = match dialect {
        Some(_) => root.join("mappings/municipal").join(name).join("examples"),
        None if name == "cosmic-link" => root.join("mappings/cosmic-link/examples"),
        None => panic!("no dialect {name:?}"),
    };
    let documents = documents(&folder);
    let read = |document: &[u8]| match dialect {
        Some(dialect) => Read::Municipal(decode(dialect, document, today).unwrap().message),
        None => Read::CosmicLink(cosmic_link::decode(document, codes, today).unwrap().message),
    };
    let write = |message: &Read| match (dialect, message) {
        (Some(dialect), Read::Municipal(message)) => encode(dialect, message, today).unwrap(),
        (_, Read::CosmicLink(message)) => cosmic_link::encode(message, codes).unwrap(),
        (None, Read::Municipal(_)) => unreachable!("Cosmic Link reads its own messages"),
    };
    let messages: Vec<Read> = documents.iter().map(|d| read(d)).collect();
    let written: Vec<String> = messages.iter().map(write).collect();
    let events = events_of(&written);
    for _ in 0..times {
        match operation {
            "decode" => documents.iter().for_each(|d| {
                black_box(read(black_box(d)));
            }),
            "encode" => messages.iter().for_each(|m| {
                black_box(write(black_box(m)));
            }),
            "raw-parse" => documents.iter().for_each(|d| {
                black_box(raw_xml::parse(black_box(d)));
            }),
            "raw-write" => events.iter().for_each(|e| {
                black_box(raw_xml::write(black_box(e)));
            }),
            other => panic!("no operation {other:?}"),
        }
    }
}

criterion_group!(benches, dialects, cosmic_link);

fn main() {
    if let Ok(spec) = std::env::var("MUNICIPAL_REPEAT") {
        repeat(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
