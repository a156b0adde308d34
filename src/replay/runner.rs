//! Runs one scenario in-process: a gateway on a fresh embedded store (SQLite in a temporary
//! folder) with a manual clock, the scenario's receivers as local HTTP receivers (real
//! deliveries over loopback), and each step's message recorded through the pipeline as the
//! gateway's operator. Time moves from one due timer or retry to the next, so days of process
//! time pass in seconds; after each move the replay waits until the gateway has settled.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::Value;

use super::compare::{Observed, ObservedDelivery, ObservedEvent, compare};
use super::scenario::{Outcome, Scenario, Step};
use crate::clock::Clock;
use crate::config::Settings;
use crate::delivery::{Subscription, Subscriptions};
use crate::domain::case::CaseId;
use crate::domain::event::EventKind;
use crate::domain::party::Organisation;
use crate::formats::translate::{self, Format};
use crate::http::{CaptureServer, Captured};
use crate::pipeline::{Acting, Pipeline};
use crate::startup::Application;
use crate::store::Store;

/// How long the gateway may take to settle after a message or a move of the clock.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// How long nothing may change, with nothing due, for the gateway to count as settled (what
/// is due is counted in the store, so this only covers work that follows from work just done).
const QUIET: Duration = Duration::from_millis(60);
const SAMPLE: Duration = Duration::from_millis(25);

/// One step's result.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub title: String,
    pub differences: Vec<String>,
    pub observed: Observed,
}

/// One scenario's result.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub path: std::path::PathBuf,
    pub name: String,
    pub steps: Vec<StepReport>,
    /// Why the scenario could not run to its end, if it could not.
    pub error: Option<String>,
    pub elapsed: Duration,
}

impl ScenarioReport {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.steps.iter().all(|s| s.differences.is_empty())
    }
}

/// The running gateway and what the replay keeps of it.
struct Replay {
    clock: Clock,
    /// The delivery workers' circuit breakers: an open one holds its rows until its probe.
    breakers: crate::delivery::Breakers,
    store: Store,
    pipeline: Pipeline,
    capture: CaptureServer,
    /// Each receiver's format, by organisation.
    formats: HashMap<String, Format>,
    /// Events already reported, and the kind of every event.
    seen: HashSet<String>,
    kinds: HashMap<String, String>,
    /// Event ids of the messages accepted so far (a duplicate answers one of them).
    accepted: HashSet<String>,
    /// The scenario's case: the first one a message opened.
    case: Option<CaseId>,
    /// The gateway's HSA-id as a GetCarePlans producer (`riv.hsa_id`), and the registered
    /// clients its `read` steps find their consumer among.
    producer: Option<crate::domain::identifiers::HsaId>,
    clients: Vec<crate::auth::Client>,
}

/// The path a receiver's deliveries are posted to (`/{organisation}`, URL-safe).
pub(super) fn receiver_path(organisation: &str) -> String {
    organisation
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Runs `scenario` with `settings` (its organisations, policies and clients; the database,
/// listener and subscriptions are the replay's own).
pub async fn run(scenario: &Scenario, settings: &Settings) -> ScenarioReport {
    run_with_progress(scenario, settings, &|_, _| {}).await
}

/// `run`, telling `progress` each step as it begins (its index and title).
pub async fn run_with_progress(
    scenario: &Scenario,
    settings: &Settings,
    progress: &(dyn Fn(usize, &str) + Sync),
) -> ScenarioReport {
    let started = Instant::now();
    let mut report = ScenarioReport {
        path: scenario.path.clone(),
        name: scenario.name.clone(),
        steps: Vec::new(),
        error: None,
        elapsed: Duration::ZERO,
    };
    if let Err(error) = run_steps(scenario, settings, &mut report, progress).await {
        report.error = Some(error);
    }
    report.elapsed = started.elapsed();
    report
}

async fn run_steps(
    scenario: &Scenario,
    settings: &Settings,
    report: &mut ScenarioReport,
    progress: &(dyn Fn(usize, &str) + Sync),
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("no temporary folder for the store: {e}"))?;
    let clock = Clock::manual(scenario.start);
    let capture = CaptureServer::start(clock.clone())
        .await
        .map_err(|e| format!("the local receivers cannot listen: {e}"))?;
    let mut settings = scenario_settings(scenario, settings)?;
    settings.database.url = format!("sqlite://{}", dir.path().join("replay.db").display());
    settings.database.migrate_on_start = true;
    settings.server.listen = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    settings.server.tls = None;
    let mut subscriptions = Vec::new();
    let mut formats = HashMap::new();
    for receiver in &scenario.receivers {
        let organisation = Organisation::parse(&receiver.organisation)
            .map_err(|e| format!("receiver {}: {e}", receiver.organisation))?;
        let known = match &organisation {
            Organisation::Region { hsa_id } => settings.directory.region(hsa_id).is_some(),
            Organisation::Municipality { kommunkod } => {
                settings.directory.municipality(*kommunkod).is_some()
            }
        };
        if !known {
            let directory = match &scenario.organisations {
                Some(file) => scenario.dir.join(file),
                None => settings.resolve(&settings.organisations_file),
            };
            return Err(format!(
                "receiver {}: not a region or municipality of the organisation directory ({})",
                receiver.organisation,
                directory.display()
            ));
        }
        let format: Format = receiver
            .format
            .parse()
            .map_err(|e| format!("receiver {}: {e}", receiver.organisation))?;
        let url = capture
            .url(&receiver_path(&receiver.organisation))
            .parse()
            .map_err(|e| format!("receiver {}: {e}", receiver.organisation))?;
        let mut subscription = Subscription::new(
            &format!("replay-{}", receiver_path(&receiver.organisation)),
            organisation,
            url,
            format.clone(),
        );
        subscription.events = receiver.events.clone();
        if let Some(retry) = &receiver.retry {
            subscription.retry = *retry;
        }
        subscriptions.push(subscription);
        formats.insert(receiver.organisation.clone(), format);
    }
    for outage in &scenario.outages {
        capture.outage(
            &receiver_path(&outage.organisation),
            outage.from.after(scenario.start),
            outage.until.after(scenario.start),
            outage.status,
        );
    }
    settings.subscriptions = Subscriptions(subscriptions);
    let producer = settings.riv.producer();
    let clients = settings.clients.clone();
    let mut app = Application::build_with_clock(settings, clock.clone())
        .await
        .map_err(|e| format!("the gateway cannot start: {e:#}"))?;
    let store = app.store().clone();
    let breakers = app.breakers();
    let handle = app.pipeline_handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let pipeline = handle
        .await
        .map_err(|_| "the gateway stopped before it served".to_owned())?;
    let mut replay = Replay {
        clock,
        breakers,
        store,
        pipeline,
        capture,
        formats,
        seen: HashSet::new(),
        kinds: HashMap::new(),
        accepted: HashSet::new(),
        case: None,
        producer,
        clients,
    };
    let result = async {
        for (index, step) in scenario.steps.iter().enumerate() {
            let title = step.title(index);
            progress(index, &title);
            let observed = replay
                .step(scenario, step)
                .await
                .map_err(|e| format!("{title}: {e}"))?;
            report.steps.push(StepReport {
                differences: compare(&step.expect, step.send.is_some(), &observed),
                title,
                observed,
            });
        }
        Ok(())
    }
    .await;
    let _ = stop.send(());
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(format!("the gateway stopped with an error: {error:#}")),
        Err(error) => return Err(format!("the gateway stopped abnormally: {error}")),
    }
    result
}

impl Replay {
    async fn step(&mut self, scenario: &Scenario, step: &Step) -> Result<Observed, String> {
        self.advance_to(step.at.after(scenario.start)).await?;
        let mut observed = Observed::default();
        if step.read.is_some() {
            observed.care_plans = Some(self.read_care_plans(scenario, step).await?);
        }
        if let (Some(format), Some(file)) = (&step.send, &step.file) {
            let path = scenario.dir.join(file);
            let mut text = std::fs::read_to_string(&path)
                .map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
            for (from, to) in &step.replace {
                if !text.contains(from.as_str()) {
                    return Err(format!("replace: {from:?} is not in {}", path.display()));
                }
                text = text.replace(from.as_str(), to);
            }
            let sent = self.send(format, text.as_bytes()).await?;
            observed.outcome = Some(sent.outcome);
            observed.withheld = sent.withheld;
            observed.warnings = sent.warnings;
            self.settle().await?;
        }
        self.observe(&mut observed).await?;
        if !step.expect.stats.is_empty() {
            let from = crate::process::calendar::local_date(scenario.start);
            let to = crate::process::calendar::plus_days(
                crate::process::calendar::local_date(self.clock.now()),
                1,
            );
            let stats = crate::pipeline::stats::for_period(&self.store, from, to)
                .await
                .map_err(|e| format!("the statistics: {e}"))?;
            observed.stats = serde_json::to_value(&stats.total).ok();
        }
        Ok(observed)
    }

    /// Reads through GetCarePlans as the step's consumer, as the gateway answers it.
    async fn read_care_plans(
        &self,
        scenario: &Scenario,
        step: &Step,
    ) -> Result<super::compare::ObservedPlans, String> {
        let producer = self.producer.as_ref().ok_or(
            "read: the configuration does not serve GetCarePlans; set riv.hsa_id ([settings.riv] in the scenario)",
        )?;
        let consumer = step
            .consumer
            .as_deref()
            .and_then(|id| crate::domain::identifiers::HsaId::parse(id).ok())
            .ok_or("read: consumer is no HSA-id")?;
        let client = self
            .clients
            .iter()
            .find(|c| c.hsa_id.as_ref() == Some(&consumer))
            .ok_or_else(|| format!("read: no client of the clients file has hsa_id {consumer}"))?;
        let path = scenario
            .dir
            .join(step.file.as_deref().unwrap_or(std::path::Path::new("")));
        let bytes =
            std::fs::read(&path).map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
        let request = crate::formats::riv::decode_request(&bytes, self.clock.today())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let caller = crate::auth::Caller::platform_consumer(client);
        let read = self
            .pipeline
            .get_care_plans(producer, &caller, &consumer, &request)
            .await
            .map_err(|e| format!("read: {e}"))?;
        Ok(super::compare::ObservedPlans {
            result: match read.result.code {
                crate::formats::riv::ResultCode::Ok => "OK",
                crate::formats::riv::ResultCode::Info => "INFO",
                crate::formats::riv::ResultCode::Error => "ERROR",
            }
            .to_owned(),
            sub_code: read.result.sub_code,
            documents: read
                .plans
                .into_iter()
                .map(|p| p.title.unwrap_or_default())
                .collect(),
        })
    }

    /// Records the message as the operator; how it was taken, whom the decision withheld it
    /// from, and what its receipt warned of.
    async fn send(&mut self, format: &str, bytes: &[u8]) -> Result<Sent, String> {
        let format: Format = format.parse().map_err(|e| format!("send: {e}"))?;
        let pipeline = &self.pipeline;
        let result = match &format {
            Format::CosmicLink => pipeline.receive_cosmic_link(bytes, Acting::Operator).await,
            Format::Canonical => pipeline.receive_canonical(bytes, Acting::Operator).await,
            Format::Fhir => pipeline.receive_fhir(bytes, Acting::Operator).await,
            Format::Municipal(name) => {
                let dialect = pipeline
                    .mappings
                    .municipal
                    .get(name)
                    .ok_or_else(|| format!("send: no municipal dialect {name:?}"))?;
                pipeline
                    .receive_municipal(dialect, bytes, None, Acting::Operator)
                    .await
            }
        };
        Ok(match result {
            Ok(receipt) => {
                let event = receipt.event_id.to_string();
                self.case.get_or_insert(receipt.case_id);
                let withheld = receipt
                    .withheld
                    .iter()
                    .map(|w| format!("{}: {}", w.recipient, w.reason))
                    .collect();
                let outcome = if self.accepted.insert(event.clone()) {
                    (Outcome::Accepted, String::new())
                } else {
                    (
                        Outcome::Duplicate,
                        format!("the receipt of event {event} again"),
                    )
                };
                Sent {
                    outcome,
                    withheld,
                    warnings: receipt.warnings,
                }
            }
            Err(error) => Sent {
                outcome: (Outcome::Refused, error.to_string()),
                withheld: Vec::new(),
                warnings: Vec::new(),
            },
        })
    }

    /// Moves the clock to `target`, stopping at every due timer and retry on the way.
    async fn advance_to(&mut self, target: Timestamp) -> Result<(), String> {
        loop {
            let now = self.clock.now();
            if now >= target {
                return Ok(());
            }
            let next = self
                .store
                .next_work_after(now)
                .await
                .map_err(|e| format!("the store: {e}"))?;
            // A subscription whose circuit is open waits for its probe, not for its rows.
            let next = [next, self.breakers.next_probe_after(now)]
                .into_iter()
                .flatten()
                .min();
            let to = match next {
                Some(at) if at < target => at,
                _ => target,
            };
            self.clock.advance(to.duration_since(now));
            // Retries that fell due: the delivery worker need not wait for its next poll.
            self.pipeline.outbox_ready.notify_one();
            self.settle().await?;
        }
    }

    /// Waits until the gateway has settled: nothing due is left undone (timers, deliveries
    /// that may go) and nothing has changed for `QUIET` (no new event, attempt, settlement or
    /// delivery).
    async fn settle(&self) -> Result<(), String> {
        let store_error = |e: crate::store::StoreError| format!("the store: {e}");
        let mut settling = Settling::new(SETTLE_LIMIT);
        loop {
            let now = self.clock.now();
            let due = self
                .store
                .due_work_except(now, &self.breakers.held_back(now))
                .await
                .map_err(store_error)?;
            let activity = self.store.activity().await.map_err(store_error)?;
            let sample = (due, activity, self.capture.waiting());
            if settling
                .sample(sample, due, QUIET)
                .map_err(|e| format!("the gateway {e} within {} s", SETTLE_LIMIT.as_secs()))?
            {
                return Ok(());
            }
            tokio::time::sleep(SAMPLE).await;
        }
    }

    /// What happened since the last observation: new events, deliveries, the case's phase.
    async fn observe(&mut self, observed: &mut Observed) -> Result<(), String> {
        let store_error = |e: crate::store::StoreError| format!("the store: {e}");
        // The clocks as they stand after the latest look: what runs at the step's end.
        let mut clocks = Vec::new();
        for case_id in self.store.all_case_ids().await.map_err(store_error)? {
            let Some(stored) = self.store.load_case(case_id).await.map_err(store_error)? else {
                continue;
            };
            for stored_event in &stored.events {
                let event = &stored_event.event;
                let id = event.id.to_string();
                self.kinds.insert(id.clone(), event.kind.name().to_owned());
                if !self.seen.insert(id) {
                    continue;
                }
                observed.events.push(ObservedEvent {
                    kind: event.kind.name().to_owned(),
                    missed: match &event.kind {
                        EventKind::DeadlineMissed { deadline, .. } => {
                            serde_json::to_value(deadline)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_owned))
                        }
                        _ => None,
                    },
                    cause: match &event.kind {
                        EventKind::DeviationRaised { cause, .. } => Some(cause.as_str().to_owned()),
                        _ => None,
                    },
                    due: match &event.kind {
                        EventKind::DeadlineMissed { due_at, .. } => Some(*due_at),
                        _ => None,
                    },
                    rule: match &event.kind {
                        EventKind::DeadlineMissed { rule, .. } => rule.clone(),
                        _ => None,
                    },
                });
            }
            if Some(case_id) == self.case {
                observed.phase = Some(stored.phase.as_str().to_owned());
            }
            clocks.extend(
                self.store
                    .pending_timers(case_id)
                    .await
                    .map_err(store_error)?,
            );
        }
        observed.clocks = clocks;
        for captured in self.capture.take() {
            observed.deliveries.push(self.delivery(captured));
        }
        Ok(())
    }

    fn delivery(&self, captured: Captured) -> ObservedDelivery {
        let (to, content) = read_delivery(
            &self.formats,
            &captured,
            &self.pipeline.mappings,
            self.clock.today(),
        );
        let kind = captured
            .event_id
            .as_ref()
            .and_then(|id| self.kinds.get(id))
            .cloned()
            .unwrap_or_else(|| "unknown".to_owned());
        ObservedDelivery { to, kind, content }
    }
}

/// The receiver a captured delivery went to, and its content: read back as a canonical message
/// (for Cosmic Link and municipal receivers), or the JSON as delivered (canonical, FHIR).
pub(super) fn read_delivery(
    formats: &HashMap<String, Format>,
    captured: &Captured,
    mappings: &crate::formats::Mappings,
    today: jiff::civil::Date,
) -> (String, Value) {
    let to = formats
        .keys()
        .find(|org| receiver_path(org) == captured.receiver)
        .cloned()
        .unwrap_or(captured.receiver.clone());
    let content = match formats.get(&to) {
        Some(Format::Canonical | Format::Fhir) | None => {
            serde_json::from_slice(&captured.body).unwrap_or(Value::Null)
        }
        Some(format) => translate::read(format, &captured.body, mappings, today)
            .ok()
            .and_then(|(message, _)| serde_json::to_value(message).ok())
            .unwrap_or(Value::Null),
    };
    (to, content)
}

/// Tells when a gateway has settled: samples of what it shows, nothing due and nothing changed
/// for `QUIET`.
pub(super) struct Settling<T> {
    last: Option<T>,
    since: Instant,
    limit: Instant,
}

impl<T: PartialEq> Settling<T> {
    pub(super) fn new(limit: Duration) -> Self {
        Settling {
            last: None,
            since: Instant::now(),
            limit: Instant::now() + limit,
        }
    }

    /// Takes a sample; `Ok(true)` once settled, an error past the limit.
    pub(super) fn sample(&mut self, sample: T, due: i64, quiet: Duration) -> Result<bool, String> {
        if self.last.as_ref() != Some(&sample) {
            self.last = Some(sample);
            self.since = Instant::now();
        } else if due == 0 && self.since.elapsed() >= quiet {
            return Ok(true);
        }
        if Instant::now() > self.limit {
            return Err(format!("did not settle ({due} timers or deliveries due)"));
        }
        Ok(false)
    }
}

/// How a sent message was taken: outcome (and refusal), whom it was withheld from, and the
/// warnings of its receipt.
struct Sent {
    outcome: (Outcome, String),
    withheld: Vec<String>,
    warnings: Vec<String>,
}

/// The configured settings with what the scenario states its own: settings laid over them,
/// its policies, its organisations.
fn scenario_settings(scenario: &Scenario, configured: &Settings) -> Result<Settings, String> {
    let mut settings = match &scenario.settings {
        Some(overrides) => configured
            .with_overrides(overrides, &scenario.path)
            .map_err(|problems| problems.join("; "))?,
        None => configured.clone(),
    };
    let own = |p: &std::path::PathBuf| {
        std::path::absolute(scenario.dir.join(p)).unwrap_or_else(|_| scenario.dir.join(p))
    };
    if !scenario.policies.is_empty() {
        settings.policy_files = scenario.policies.iter().map(own).collect();
    }
    if let Some(file) = &scenario.organisations {
        settings.directory =
            crate::config::Directory::load(&own(file)).map_err(|problems| problems.join("; "))?;
    }
    Ok(settings)
}
