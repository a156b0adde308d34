//! Translation cost per message kind, against the raw cost of the same bytes.
//!
//! `cargo bench --bench translate` measures, for every Cosmic Link example:
//! - `to-canonical`: decode the XML into the canonical message and serialise it as JSON;
//!   `raw-to-canonical`: read every XML event of the same bytes with quick-xml and serialise
//!   the same canonical JSON value with serde_json, with no mapping at all (the ceiling);
//! - `cosmic-link-to-fhir`: decode the XML, render the FHIR R4 Bundle and serialise it;
//!   `raw-cosmic-link-to-fhir`: read every XML event of the input and serialise the same
//!   Bundle value with serde_json;
//! - `fhir-to-cosmic-link`: parse the Bundle's JSON, map it to the canonical message (with
//!   the report of unread elements) and encode the Cosmic Link XML;
//!   `raw-fhir-to-cosmic-link`: parse the same JSON with serde_json and write the same
//!   XML's events with quick-xml;
//! - `fhir-model-check`: read the Bundle through fhir-sdk's R4 models and compare, which
//!   `brygga translate` and `POST /translate` add to `fhir-to-cosmic-link` (the models are
//!   built unoptimised in release, see Cargo.toml).
//!
//! Throughput is reported in messages per second (one core).

use std::hint::black_box;

use brygga::formats::Mappings;
use brygga::formats::cosmic_link::{decode, encode};
use brygga::formats::fhir::{bundle, read_value, render};
use brygga::formats::translate::step_deadline;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "support/raw_xml.rs"]
mod raw_xml;

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
        let bundle_value =
            render(&message, &mappings.fhir, step_deadline(&message, &mappings)).unwrap();
        let json = serde_json::to_string(&message).unwrap();
        let json_value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let bundle_json = serde_json::to_vec(&bundle_value).unwrap();
        let cosmic_link = encode(&message, codes).unwrap();
        let cosmic_link_events = raw_xml::events(cosmic_link.as_bytes());
        assert_eq!(raw_xml::write(&cosmic_link_events), cosmic_link.as_bytes());

        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        group.bench_function("to-canonical", |b| {
            b.iter(|| {
                let decoded = decode(black_box(&xml), codes, today).unwrap();
                serde_json::to_string(&decoded.message).unwrap()
            })
        });
        group.bench_function("raw-to-canonical", |b| {
            b.iter(|| {
                let events = raw_xml::parse(black_box(&xml));
                (
                    events,
                    serde_json::to_string(black_box(&json_value)).unwrap(),
                )
            })
        });
        group.bench_function("cosmic-link-to-fhir", |b| {
            b.iter(|| {
                let decoded = decode(black_box(&xml), codes, today).unwrap();
                let deadline = step_deadline(&decoded.message, &mappings);
                serde_json::to_vec(&bundle(&decoded.message, &mappings.fhir, deadline).unwrap())
                    .unwrap()
            })
        });
        group.bench_function("raw-cosmic-link-to-fhir", |b| {
            b.iter(|| {
                let events = raw_xml::parse(black_box(&xml));
                (
                    events,
                    serde_json::to_vec(black_box(&bundle_value)).unwrap(),
                )
            })
        });
        group.bench_function("fhir-to-cosmic-link", |b| {
            b.iter(|| {
                let value: serde_json::Value =
                    serde_json::from_slice(black_box(&bundle_json)).unwrap();
                let read = read_value(&value, today).unwrap();
                encode(&read.message, codes).unwrap()
            })
        });
        group.bench_function("raw-fhir-to-cosmic-link", |b| {
            b.iter(|| {
                let value: serde_json::Value =
                    serde_json::from_slice(black_box(&bundle_json)).unwrap();
                (value, raw_xml::write(black_box(&cosmic_link_events)))
            })
        });
        group.bench_function("fhir-model-check", |b| {
            b.iter(|| brygga_fhir::check_value(black_box(&bundle_value)).unwrap())
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
