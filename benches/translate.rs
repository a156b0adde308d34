//! Translation cost per message kind, against the raw cost of the same bytes.
//!
//! `cargo bench --bench translate` measures, for every Cosmic Link example:
//! - `to-canonical`: decode the XML into the canonical message and serialise it as JSON;
//! - `from-canonical`: parse the canonical JSON and encode it as Cosmic Link XML;
//! - `to-fhir`: decode the XML and render the FHIR R4 Bundle as JSON;
//! - `fhir-check`: read that Bundle through the FHIR models and compare (how incoming FHIR is
//!   checked; the models are built unoptimised in release, see Cargo.toml);
//! - `raw`: the ceiling — read every XML event of the same bytes with quick-xml and serialise
//!   the same canonical JSON value with serde_json, with no mapping at all.
//!
//! Throughput is reported in messages per second (one core).

use std::hint::black_box;

use brygga::formats::Mappings;
use brygga::formats::canonical::CanonicalMessage;
use brygga::formats::cosmic_link::{decode, encode};
use brygga::formats::fhir::render;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quick_xml::events::Event;
use quick_xml::reader::NsReader;

fn raw_xml_events(bytes: &[u8]) -> usize {
    let mut reader = NsReader::from_reader(bytes);
    let mut buffer = Vec::new();
    let mut events = 0;
    loop {
        match reader.read_resolved_event_into(&mut buffer) {
            Ok((_, Event::Eof)) | Err(_) => break,
            Ok(_) => events += 1,
        }
        buffer.clear();
    }
    events
}

fn translate(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mappings = Mappings::load(&root.join("mappings")).unwrap();
    let codes = &mappings.cosmic_link;
    let today = jiff::civil::date(2026, 11, 23);
    let mut examples: Vec<_> = std::fs::read_dir(root.join("mappings/cosmic-link/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    for path in examples {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let xml = std::fs::read(&path).unwrap();
        let message = decode(&xml, codes, today).unwrap().message;
        let bundle = render(&message, &mappings.fhir).unwrap();
        let json = serde_json::to_string(&message).unwrap();
        let json_value: serde_json::Value = serde_json::from_str(&json).unwrap();

        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        group.bench_function("to-canonical", |b| {
            b.iter(|| {
                let decoded = decode(black_box(&xml), codes, today).unwrap();
                serde_json::to_string(&decoded.message).unwrap()
            })
        });
        group.bench_function("from-canonical", |b| {
            b.iter(|| {
                let message: CanonicalMessage = serde_json::from_str(black_box(&json)).unwrap();
                encode(&message, codes).unwrap()
            })
        });
        group.bench_function("to-fhir", |b| {
            b.iter(|| {
                let decoded = decode(black_box(&xml), codes, today).unwrap();
                serde_json::to_string(&render(&decoded.message, &mappings.fhir).unwrap()).unwrap()
            })
        });
        group.bench_function("fhir-check", |b| {
            b.iter(|| brygga_fhir::check_value(black_box(&bundle)).unwrap())
        });
        group.bench_function("raw", |b| {
            b.iter(|| {
                let events = raw_xml_events(black_box(&xml));
                (
                    events,
                    serde_json::to_string(black_box(&json_value)).unwrap(),
                )
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = translate
}
criterion_main!(benches);
