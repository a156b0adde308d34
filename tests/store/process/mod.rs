//! Whole cases driven through the pipeline and the timer scheduler on a manual clock: the
//! on-time path, every missed deadline, weekends and holidays, the DST nights, a revoked
//! ready-for-discharge, a restart with timers due, and two instances firing the same timers.

use std::sync::Arc;

use brygga::clock::Clock;
use brygga::config::Directory;
use brygga::domain::event::{Deadline, EventKind};
use brygga::domain::identifiers::{HsaId, Kommunkod};
use brygga::domain::party::Party;
use brygga::formats::Mappings;
use brygga::formats::canonical::CaseReference;
use brygga::pipeline::{Acting, Pipeline};
use brygga::pipeline::{Fired, Scheduler};
use brygga::process::deviations::{DeviationStatus, DeviationView};
use brygga::store::{GroupCommitter, Store};
use jiff::{SignedDuration, Timestamp};

use crate::support::TestDb;

mod agreements;
mod deadlines;
mod sip;

pub use agreements::*;
pub use deadlines::*;
pub use sip::*;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// The example organisations (Jämtland), with their deviation contacts.
fn directory() -> Arc<Directory> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/config/organisations.toml");
    Arc::new(toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

fn mappings() -> Arc<Mappings> {
    Arc::new(
        Mappings::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings")).unwrap(),
    )
}

/// An example message with text replaced (dates, municipality codes).
fn example(name: &str, replace: &[(&str, &str)]) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mappings/cosmic-link/examples")
        .join(name);
    let mut text = std::fs::read_to_string(path).unwrap();
    for (from, to) in replace {
        assert!(text.contains(from), "{name} has no {from:?}");
        text = text.replace(from, to);
    }
    text.into_bytes()
}

struct Engine {
    pipeline: Pipeline,
    scheduler: Scheduler,
    clock: Clock,
}

fn engine(store: &Store, now: &str, worker: &str) -> Engine {
    let clock = Clock::manual(at(now));
    let committer = GroupCommitter::start(store.clone(), 64);
    Engine {
        pipeline: Pipeline {
            store: store.clone(),
            committer: committer.clone(),
            mappings: mappings(),
            directory: directory(),
            subscriptions: Default::default(),
            outbox_ready: Default::default(),
            recorder: None,
            clock: clock.clone(),
            statistics: Default::default(),
        },
        scheduler: Scheduler {
            store: store.clone(),
            committer,
            mappings: mappings(),
            directory: directory(),
            subscriptions: Default::default(),
            clock: clock.clone(),
            worker: worker.to_owned(),
            lease: jiff::SignedDuration::from_secs(60),
            outbox_ready: None,
            metrics: Default::default(),
        },
        clock,
    }
}

/// The deviation contacts of the example organisations: the region's patient-safety unit and
/// Östersund's medically responsible nurse.
fn contacts() -> Vec<Party> {
    vec![
        Party::RegionUnit {
            hsa_id: HsaId::parse("SE2321000214-PSAK").unwrap(),
        },
        Party::Municipality {
            kommunkod: Kommunkod::parse("2380").unwrap(),
            unit: Some(HsaId::parse("SE2120002411-MAS1").unwrap()),
        },
    ]
}

/// The follow-up statistics of `[from, to)` (local dates) as their JSON form.
async fn stats_json(store: &Store, from: &str, to: &str) -> serde_json::Value {
    let stats =
        brygga::pipeline::stats::for_period(store, from.parse().unwrap(), to.parse().unwrap())
            .await
            .unwrap();
    serde_json::to_value(&stats).unwrap()
}

/// The statistics row of `unit` (an HSA-id or a municipality code).
fn row(json: &serde_json::Value, unit: &str) -> serde_json::Value {
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit"] == unit)
        .unwrap_or_else(|| panic!("no row for {unit}: {json}"))
        .clone()
}

/// The case's deviations in the order they were raised.
async fn deviations(store: &Store) -> Vec<DeviationView> {
    let case = store
        .load_case(case_id())
        .await
        .unwrap()
        .unwrap()
        .to_case()
        .unwrap();
    let mut ids: Vec<(jiff::Timestamp, String)> = case
        .state()
        .deviations
        .iter()
        .map(|(id, d)| (d.raised_at, id.clone()))
        .collect();
    ids.sort();
    ids.iter()
        .map(|(_, id)| brygga::process::deviations::view(&case, id).unwrap())
        .collect()
}

impl Engine {
    /// Receives a canonical message of the example case with `event` (its kind and fields).
    async fn canonical(
        &self,
        message_id: &str,
        mut event: serde_json::Value,
    ) -> Result<brygga::pipeline::Receipt, brygga::pipeline::ReceiveError> {
        let now = self.clock.now();
        event["id"] = serde_json::json!(uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            message_id.as_bytes()
        ));
        event["occurred_at"] = serde_json::json!(now);
        event["source"] = serde_json::json!({"format": "canonical", "message_id": message_id});
        let message = serde_json::json!({
            "case": {"issuer": "SE2321000214-1000", "value": "SA-2026-004711"},
            "person": {"system": "personnummer", "value": "198112189876"},
            "sent_at": now,
            "event": event,
        });
        self.pipeline
            .receive_canonical(&serde_json::to_vec(&message).unwrap(), Acting::Operator)
            .await
    }

    async fn receive(&self, name: &str, replace: &[(&str, &str)]) {
        self.pipeline
            .receive_cosmic_link(&example(name, replace), Acting::Operator)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    /// The person's consents as the examples' story records them: to disclosure of health
    /// information (03) and to SIP (07). Without them the SIP steps and the information at
    /// discharge are withheld, and no clock waits for the parties they did not reach. Both in
    /// force from the admission on, since these tests' clock stays at the admission's day.
    async fn consents(&self) {
        // 08:50 Swedish time: after the admission (08:40), before the clock (09:00).
        let from = "2026-11-20T08:50:00";
        self.receive(
            "03-samtycke.xml",
            &[
                ("2026-11-20T10:05:00", from),
                (
                    "<GallerFran>2026-11-20T10:00:00",
                    &format!("<GallerFran>{from}"),
                ),
            ],
        )
        .await;
        self.receive("07-samtycke-sip.xml", &[("2026-11-21T11:30:00", from)])
            .await;
    }

    fn set_clock(&self, to: &str) {
        let by = at(to).duration_since(self.clock.now());
        self.clock.advance(by);
    }
}

/// The case of the examples' first story (the medicine ward's discharge).
fn case_id() -> brygga::domain::case::CaseId {
    story_case("SA-2026-004711")
}

/// The case of an example story, by its samordningsärende.
fn story_case(value: &str) -> brygga::domain::case::CaseId {
    CaseReference {
        issuer: "SE2321000214-1000".into(),
        value: value.into(),
    }
    .case_id()
}

/// The missed deadlines of the case: (deadline, due_at, rule), by due time and rule.
async fn missed(store: &Store) -> Vec<(Deadline, String, String)> {
    missed_in(store, case_id()).await
}

/// The missed deadlines of `case`: (deadline, due_at, rule), by due time and rule.
async fn missed_in(
    store: &Store,
    case: brygga::domain::case::CaseId,
) -> Vec<(Deadline, String, String)> {
    let case = store.load_case(case).await.unwrap().unwrap();
    let mut missed: Vec<_> = case
        .events
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::DeadlineMissed {
                deadline,
                due_at,
                rule,
                ..
            } => Some((
                *deadline,
                due_at.to_string(),
                rule.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    missed.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
    missed
}

/// The pending timers of the case: (kind, due_at), by due time and kind.
async fn pending(store: &Store) -> Vec<(String, String)> {
    let mut pending = store
        .pending_timers(case_id())
        .await
        .unwrap()
        .into_iter()
        .map(|(kind, due)| (kind, due.to_string()))
        .collect::<Vec<_>>();
    pending.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    pending
}
