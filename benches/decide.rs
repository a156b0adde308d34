//! The cost of the disclosure decision, against the cost of writing the same payloads.
//!
//! `cargo bench --bench decide` builds a discharge case from the Cosmic Link examples (admission
//! to discharge, with a SIP invitation and plan) and a consent registry of eight directives,
//! then measures on one core:
//! - `decide`: every event of the case decided for every recipient it goes to (the pure
//!   function alone);
//! - `route`: the same through `decide::route::route` — decide, release (redactions
//!   applied), the outbox row's JSON payload and the audit record of every decision;
//! - `raw-payloads`: serialising each event once per recipient with serde_json, with no
//!   decision at all (what writing the outbox rows costs anyway; the ceiling of `route`).
//!
//! Throughput is in decisions (event × recipient) per second.

use std::hint::black_box;

use brygga::config::Directory;
use brygga::decide::parties::recipients;
use brygga::decide::route::route;
use brygga::decide::{CaseFacts, Request, decide};
use brygga::domain::case::CoordinationCase;
use brygga::domain::consent::{
    ConsentActor, ConsentDirective, InformationCategory, Provision, Recipient,
};
use brygga::domain::event::ConsentScope;
use brygga::domain::party::Party;
use brygga::formats::Mappings;
use brygga::formats::cosmic_link::decode;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn registry(at: jiff::Timestamp) -> Vec<ConsentDirective> {
    let directive = |id: &str,
                     scope,
                     provision,
                     recipients: Vec<ConsentActor>,
                     categories: Vec<InformationCategory>| {
        ConsentDirective {
            id: id.to_owned(),
            scope,
            provision,
            principals: vec![],
            recipients,
            categories,
            valid_from: None,
            valid_until: None,
            recorded_at: at,
            withdrawn_at: None,
            source: "bench".to_owned(),
            recorded_by: None,
            recorded_by_party: None,
        }
    };
    let ostersund = ConsentActor::Party(Party::Municipality {
        kommunkod: brygga::domain::identifiers::Kommunkod::parse("2380").unwrap(),
        unit: None,
    });
    let mut withdrawn = directive(
        "old-sip",
        ConsentScope::Sip,
        Provision::Permit,
        vec![],
        vec![],
    );
    withdrawn.withdrawn_at = Some(at);
    vec![
        withdrawn,
        directive("sip", ConsentScope::Sip, Provision::Permit, vec![], vec![]),
        directive(
            "d1",
            ConsentScope::Disclosure,
            Provision::Permit,
            vec![ostersund.clone()],
            vec![InformationCategory::Health],
        ),
        directive(
            "d2",
            ConsentScope::Disclosure,
            Provision::Permit,
            vec![],
            vec![InformationCategory::DischargePlanning],
        ),
        directive(
            "o1",
            ConsentScope::Disclosure,
            Provision::Deny,
            vec![ConsentActor::Unresolved {
                reference: "Organization/x".into(),
            }],
            vec![],
        ),
        directive(
            "n1",
            ConsentScope::NextOfKin,
            Provision::Deny,
            vec![],
            vec![],
        ),
        directive(
            "d3",
            ConsentScope::Disclosure,
            Provision::Permit,
            vec![ostersund],
            vec![InformationCategory::SocialServices],
        ),
        directive(
            "d4",
            ConsentScope::Disclosure,
            Provision::Permit,
            vec![],
            vec![InformationCategory::Sip],
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mappings = Mappings::load(&root.join("mappings")).unwrap();
    let directory: Directory = toml::from_str(
        &std::fs::read_to_string(root.join("deploy/config/organisations.toml")).unwrap(),
    )
    .unwrap();
    let today = jiff::civil::date(2026, 11, 23);
    let mut case = None;
    for name in [
        "01-inskrivningsmeddelande.xml",
        "04-fast-vardkontakt.xml",
        "05-planering-paborjad.xml",
        "06-andrad-beraknad-utskrivning.xml",
        "08-utskrivningsklar.xml",
        "11-kallelse-sip.xml",
        "14-svar-kallelse.xml",
        "18-plan-sip.xml",
        "19-information-vid-utskrivning.xml",
        "20-utskriven.xml",
    ] {
        let xml = std::fs::read(root.join("mappings/cosmic-link/examples").join(name)).unwrap();
        let message = decode(&xml, &mappings.cosmic_link, today).unwrap().message;
        let case = case.get_or_insert_with(|| {
            CoordinationCase::new(message.case.case_id(), message.person.clone())
        });
        case.apply(message.event).unwrap();
    }
    let case = case.unwrap();
    let reference = brygga::formats::canonical::CaseReference {
        issuer: "SE2321000214-1000".to_owned(),
        value: "SA-2026-004711".to_owned(),
    };
    // Every recipient organisation subscribes, so that every release writes its outbox row.
    let subscriptions = brygga::delivery::Subscriptions(
        ["SE2321000214-1000", "2380"]
            .iter()
            .map(|code| {
                brygga::delivery::Subscription::new(
                    &format!("s-{code}"),
                    brygga::domain::party::Organisation::parse(code).unwrap(),
                    "http://127.0.0.1:9/".parse().unwrap(),
                    brygga::formats::translate::Format::Canonical,
                )
            })
            .collect(),
    );
    let at: jiff::Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
    let consents = registry(at);
    let events = case.events();
    let directory = &directory;
    let case = &case;
    let pairs: Vec<_> = events
        .iter()
        .flat_map(|e| {
            recipients(e, case, &[]).into_iter().map(move |party| {
                let recipient = Recipient {
                    organisation: directory.organisation_of(&party),
                    party,
                };
                (e, recipient)
            })
        })
        .collect();
    let decisions = pairs.len() as u64;
    let facts = CaseFacts {
        protected_identity: false,
    };

    let mut group = c.benchmark_group("disclosure");
    group.throughput(Throughput::Elements(decisions));
    group.bench_function("decide", |b| {
        b.iter(|| {
            for (event, recipient) in &pairs {
                black_box(decide(&Request {
                    event,
                    recipient,
                    consents: &consents,
                    legal_basis: None,
                    sender: None,
                    facts,
                    at,
                }));
            }
        })
    });
    group.bench_function("route", |b| {
        b.iter(|| {
            black_box(
                route(
                    case,
                    &reference,
                    events,
                    &consents,
                    directory,
                    &subscriptions,
                    &[],
                    at,
                    false,
                )
                .unwrap(),
            )
        })
    });
    group.bench_function("raw-payloads", |b| {
        b.iter(|| {
            for (event, _) in &pairs {
                black_box(serde_json::to_string(event).unwrap());
            }
        })
    });
    group.finish();
    println!(
        "{decisions} decisions per iteration ({} events)",
        events.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
