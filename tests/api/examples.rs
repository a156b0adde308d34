//! The shipped examples as a newcomer posts them: every example folder — Cosmic Link's and each
//! municipal dialect's — in file-name order over HTTP to a fresh gateway with the example
//! configuration, each step accepted. The folders tell consecutive stories: once a story's case
//! is left, no later example returns to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use brygga::domain::case::{CaseId, Phase};
use brygga::domain::party::Party;
use brygga::formats::Mappings;
use serde_json::{Value, json};

use crate::helpers::{REGION, TestApp, municipal_client, repo_root, spawn_app_at};

/// Before the stories begin; the clock is then moved to each message's own time as it is
/// posted, as when the steps happen one by one.
const BEFORE_THE_STORIES: &str = "2026-11-20T06:00:00Z";
/// Long after them, as on the day a newcomer tries the examples: every deadline has passed, so
/// the scheduler records missed deadlines between the steps as they are posted.
const AFTER_THE_STORIES: &str = "2026-12-31T12:00:00Z";

/// The XML files of `dir`, in file-name order.
fn examples(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Posts `body` as `client` to `path`; the status and the body's text.
/// Posts `body`, again (as a client is told to) while the gateway answers that the case is
/// busy: the examples' deadlines lie in the past, so the case's clocks fire as its messages
/// arrive, and a step may lose the race for the case five times on a loaded machine.
async fn post(
    app: &TestApp,
    client: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let mut answered = app
        .post_text(client, path, content_type, body.clone())
        .await;
    for _ in 0..5 {
        if !(answered.0 == 503 && answered.1.contains("\"transient\"")) {
            break;
        }
        answered = app
            .post_text(client, path, content_type, body.clone())
            .await;
    }
    answered
}

/// The cases the examples landed in, in the order they were first met; fails if a case is met
/// again after another one (the stories must be consecutive).
#[derive(Default)]
struct Stories {
    cases: Vec<String>,
    first_example: BTreeMap<String, String>,
}

impl Stories {
    fn step(&mut self, example: &str, case_id: &str) {
        if self.cases.last().map(String::as_str) == Some(case_id) {
            return;
        }
        assert!(
            !self.cases.iter().any(|c| c == case_id),
            "{example} returns to the story that began with {}, after another story",
            self.first_example[case_id]
        );
        self.cases.push(case_id.to_owned());
        self.first_example
            .insert(case_id.to_owned(), example.to_owned());
    }
}

async fn phase(app: &TestApp, case_id: &str) -> Phase {
    app.store
        .load_case(CaseId::parse(case_id).unwrap())
        .await
        .unwrap()
        .expect("the case is stored")
        .to_case()
        .unwrap()
        .phase()
}

#[tokio::test]
async fn the_cosmic_link_examples_are_accepted_in_file_name_order() {
    let dir = repo_root().join("mappings/cosmic-link/examples");
    let codes = Mappings::load(&repo_root().join("mappings"))
        .unwrap()
        .cosmic_link;
    for now in [BEFORE_THE_STORIES, AFTER_THE_STORIES] {
        let app = spawn_app_at(now).await;
        let mut stories = Stories::default();
        for path in examples(&dir) {
            let example = name(&path);
            let bytes = std::fs::read(&path).unwrap();
            let message = brygga::formats::cosmic_link::decode(&bytes, &codes, app.clock.today())
                .unwrap()
                .message;
            if now == BEFORE_THE_STORIES {
                let ahead = message.sent_at.duration_since(app.clock.now());
                if ahead.is_positive() {
                    app.clock.advance(ahead);
                }
            }
            // The README's token: the region's Cosmic Link integration, which relays the
            // municipalities' Cosmic Link messages too.
            let (status, body) = post(
                &app,
                REGION,
                "/cosmic-link/v1/messages",
                "application/xml",
                bytes,
            )
            .await;
            assert_eq!(status, 200, "{example} (clock at {now}): {body}");
            let receipt: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(receipt["status"], "accepted", "{example}: {body}");
            stories.step(&example, receipt["case_id"].as_str().unwrap());
        }
        // Each story runs to its end: the medicine ward's discharge with SIP, the LVM hold and
        // its discharge, the admission sent for the wrong patient and cancelled, and the
        // outpatient whose child social services look into and who is placed in an HVB.
        let mut ends = Vec::new();
        for case in &stories.cases {
            ends.push(phase(&app, case).await);
        }
        assert_eq!(
            ends,
            [
                Phase::Discharged,
                Phase::Discharged,
                Phase::Cancelled,
                Phase::Outpatient
            ],
            "clock at {now}"
        );
        assert!(app.store.verify_audit_chain().await.unwrap().is_intact());
    }
}

/// The kinds only the gateway writes to a municipality (missed deadlines, its own deviations
/// and their reminders): their examples show what arrives, and nobody posts them.
const WRITTEN_BY_THE_GATEWAY: &[&str] =
    &["deadline_missed", "deviation_raised", "deviation_reminder"];

#[tokio::test]
async fn every_dialects_examples_are_accepted_in_file_name_order() {
    let mappings = Mappings::load(&repo_root().join("mappings")).unwrap();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(repo_root().join("mappings/municipal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("dialect.toml").is_file())
        .collect();
    folders.sort();
    assert!(folders.len() >= 3, "the shipped dialects");
    for folder in folders {
        let dialect_name = name(&folder);
        let dialect = mappings.municipal.get(&dialect_name).unwrap();
        let app = spawn_app_at(AFTER_THE_STORIES).await;
        let mut stories = Stories::default();
        let mut posted = 0;
        for path in examples(&folder.join("examples")) {
            let example = format!("{dialect_name}/{}", name(&path));
            let bytes = std::fs::read(&path).unwrap();
            let decoded = brygga::formats::municipal::decode(dialect, &bytes, app.clock.today())
                .unwrap_or_else(|e| panic!("{example}: {e}"));
            let message = decoded.message;
            // A municipality's step is posted by its case system in the dialect; a region
            // unit's step (what the municipality receives) by the region, here as canonical
            // JSON; a step with no sender is one the gateway writes itself.
            let (status, body) = match &message.event.source.sender {
                Some(Party::Municipality { kommunkod, .. }) => {
                    post(
                        &app,
                        municipal_client(&kommunkod.to_string()),
                        &format!("/municipal/{dialect_name}/v1/messages"),
                        "application/xml",
                        bytes,
                    )
                    .await
                }
                Some(Party::RegionUnit { .. }) => {
                    post(
                        &app,
                        REGION,
                        "/canonical/v1/messages",
                        "application/json",
                        serde_json::to_vec(&message).unwrap(),
                    )
                    .await
                }
                None => {
                    let kind = message.event.kind.name();
                    assert!(
                        WRITTEN_BY_THE_GATEWAY.contains(&kind),
                        "{example}: a {kind} with no sender cannot be posted"
                    );
                    continue;
                }
            };
            assert_eq!(status, 200, "{example}: {body}");
            posted += 1;
            // The case the message names (a dialect's receipt is its own XML); a message of a
            // dialect without case numbering is placed by the gateway (tests/api/placing.rs).
            if let Some(reference) = message.case.reference() {
                stories.step(&example, &reference.case_id().to_string());
            }
        }
        assert!(posted >= 20, "{dialect_name}: {posted} examples posted");
        assert!(stories.cases.len() >= 2, "{dialect_name}");
    }
}

/// `brygga receive` as a child process: its stdout lines, and the address it listens on.
struct ReceiverProcess {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    address: String,
}

impl ReceiverProcess {
    fn start() -> ReceiverProcess {
        Self::start_with(&[])
    }

    fn start_with(args: &[&str]) -> ReceiverProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_brygga"))
            .args(["receive", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn brygga receive");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the receiver says where it listens");
        let address = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{first}"))
            .to_owned();
        ReceiverProcess {
            child,
            lines,
            address,
        }
    }

    /// The next line printed, waiting at most 20 s.
    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("a line from the receiver")
    }
}

impl Drop for ReceiverProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_receiver_takes_each_delivery_once_and_marks_repeats_and_late_steps() {
    let receiver = ReceiverProcess::start();
    let client = reqwest::Client::new();
    let deliver = |key: &str, sequence: &str| {
        client
            .post(format!("http://{}/ostersund", receiver.address))
            .header("idempotency-key", key)
            .header("x-brygga-case", "4b39be19-11ef-5aba-8245-abd0f89f530d")
            .header("x-brygga-sequence", sequence)
            .header("content-type", "application/json")
            .body("{}")
            .send()
    };
    assert_eq!(deliver("k-2", "2").await.unwrap().status(), 200);
    let line = receiver.next_line();
    assert!(
        line.contains("POST /ostersund") && line.contains("sequence=2") && line.contains("key=k-2"),
        "{line}"
    );
    assert!(
        !line.contains("repeat") && !line.contains("out of order"),
        "{line}"
    );
    // The same key again: answered 200 (the sender may stop), not taken twice.
    assert_eq!(deliver("k-2", "2").await.unwrap().status(), 200);
    assert!(receiver.next_line().contains("(repeat: already taken"));
    // An earlier step of the case after a later one.
    assert_eq!(deliver("k-1", "1").await.unwrap().status(), 200);
    assert!(receiver.next_line().contains("(out of order"));
}

#[tokio::test]
async fn the_reference_receiver_stores_before_it_answers_and_remembers_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("inbox");
    let store_arg = store.to_str().unwrap().to_owned();
    let deliver = |address: String, key: &'static str, sequence: &'static str| async move {
        reqwest::Client::new()
            .post(format!("http://{address}/ostersund"))
            .header("idempotency-key", key)
            .header("x-brygga-case", "c-1")
            .header("x-brygga-sequence", sequence)
            .header("x-brygga-attempt", "1")
            .body("{\"step\": 1}")
            .send()
            .await
            .unwrap()
            .status()
    };
    let first = ReceiverProcess::start_with(&["--store", &store_arg]);
    assert_eq!(deliver(first.address.clone(), "k-1", "1").await, 200);
    let line = first.next_line();
    assert!(!line.contains("repeat"), "{line}");
    // Answered only once it was on disk.
    let index = std::fs::read_to_string(store.join("index.jsonl")).unwrap();
    assert!(index.contains("\"k-1\""), "{index}");
    assert_eq!(
        std::fs::read_to_string(store.join("00000001.body")).unwrap(),
        "{\"step\": 1}"
    );
    drop(first);
    // Restarted on the same store: the key and the case's sequence are remembered.
    let second = ReceiverProcess::start_with(&["--store", &store_arg]);
    assert_eq!(deliver(second.address.clone(), "k-1", "1").await, 200);
    assert!(second.next_line().contains("(repeat"));
    // The same step for another unit (the same sequence), then the case's next step.
    assert_eq!(deliver(second.address.clone(), "k-1b", "1").await, 200);
    let line = second.next_line();
    assert!(!line.contains('('), "{line}");
    assert_eq!(deliver(second.address.clone(), "k-3", "3").await, 200);
    assert!(!second.next_line().contains('('));
    // An older step after a later one: not applied.
    assert_eq!(deliver(second.address.clone(), "k-2", "2").await, 200);
    assert!(second.next_line().contains("(out of order"));
    assert_eq!(
        std::fs::read_to_string(store.join("index.jsonl"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

/// The README's first five minutes, step by step: a receiver for Östersund, Östersund's FHIR
/// subscription to it, the Cosmic Link examples posted in order, then the case as FHIR Tasks,
/// the deliveries and the statistics.
#[tokio::test]
async fn the_readmes_first_five_minutes_work() {
    let receiver = ReceiverProcess::start();
    let app = spawn_app_at(AFTER_THE_STORIES).await;
    let osd = app.as_client(crate::helpers::OSTERSUND).await;
    // The subscription of the README's step 3 (its endpoint on this test's receiver).
    let subscription: Value = osd
        .post(app.url("/fhir/Subscription"))
        .header("content-type", "application/fhir+json")
        .body(
            serde_json::json!({
                "resourceType": "Subscription",
                "status": "requested",
                "reason": "Östersund receives its steps",
                "criteria": "urn:brygga:fhir:SubscriptionTopic:coordination",
                "channel": {
                    "type": "rest-hook",
                    "endpoint": format!("http://{}/ostersund", receiver.address),
                    "payload": "application/fhir+json",
                },
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(subscription["status"], "active", "{subscription}");
    // The handshake reached the receiver.
    assert!(receiver.next_line().contains("POST /ostersund"));

    for path in examples(&repo_root().join("mappings/cosmic-link/examples")) {
        let (status, body) = post(
            &app,
            REGION,
            "/cosmic-link/v1/messages",
            "application/xml",
            std::fs::read(&path).unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{}: {body}", name(&path));
    }
    // The admission notice reached Östersund's receiver, as the first step of its case.
    let first = receiver.next_line();
    assert!(
        first.contains("sequence=1") && first.contains("type=application/fhir+json"),
        "{first}"
    );

    let tasks: Value = osd
        .get(app.url(
            "/fhir/Task?patient=http://electronichealth.se/identifier/personnummer|198112189876",
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tasks["resourceType"], "Bundle");
    assert!(tasks["total"].as_u64().unwrap() >= 10, "{tasks}");

    let deliveries: Value = osd
        .get(app.url("/deliveries?limit=20"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(deliveries["count"].as_u64().unwrap() >= 1, "{deliveries}");

    let stats: Value = osd
        .get(app.url("/stats?from=2026-11-01&to=2026-12-01"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Östersund's own figures only.
    let rows = stats["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{stats}");
    assert!(rows.iter().all(|r| r["unit"] == "2380"), "{stats}");
    // The county's follow-up sees every unit, the small figures of three stories suppressed.
    let county: Value = app
        .as_client("jamtland-uppfoljning")
        .await
        .get(app.url("/stats?from=2026-11-01&to=2026-12-01"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(county["rows"].as_array().unwrap().len() > 1, "{county}");
    assert_eq!(
        county["total"]["admission_notices"],
        Value::Null,
        "{county}"
    );
    assert!(
        county["total"]["suppressed"]
            .as_array()
            .unwrap()
            .contains(&json!("admission_notices")),
        "{county}"
    );
    assert_eq!(county["suppression"]["below"], 5);
}
