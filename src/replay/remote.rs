//! `brygga replay --target URL`: a scenario against a running gateway over HTTP. Each message is
//! posted to the gateway's endpoint for its format as a registered client; the deliveries are
//! captured by local receivers (`--receivers`), which the gateway's subscriptions must name
//! (`http://<receivers>/<organisation>`). With the gateway's test clock (`server.test_clock`)
//! the replay sets and moves its clock through `/test/clock`, from one due timer or retry to
//! the next, waiting until it shows nothing due; without it, the steps wait in real time
//! (`--real-time`).
//!
//! What the replay sees of a remote gateway is what its clients see: each message's outcome
//! and the deliveries. Expectations of events, missed deadlines, deviations and the case's
//! phase are checked in-process only; the report names them as not checked.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::Value;

use super::compare::{Observed, ObservedDelivery, compare};
use super::runner::{ScenarioReport, StepReport};
use super::scenario::{Expect, Outcome, Scenario};
use crate::clock::Clock;
use crate::formats::Mappings;
use crate::formats::translate::Format;
use crate::http::CaptureServer;

const SETTLE_LIMIT: Duration = Duration::from_secs(60);
const QUIET: Duration = Duration::from_millis(200);
const SAMPLE: Duration = Duration::from_millis(50);

/// A running gateway to replay against.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its base URL (`http://127.0.0.1:8080`).
    pub base: String,
    /// An access token of a client allowed to send the scenario's messages (a relay client
    /// for Cosmic Link, as its integration is).
    pub token: String,
    /// Where the local receivers listen.
    pub receivers: std::net::SocketAddr,
    /// Without the gateway's test clock, wait for each step in real time.
    pub real_time: bool,
}

/// The endpoint a message of `format` is posted to, and its media type.
fn endpoint(format: &Format, body: &[u8]) -> (String, &'static str) {
    match format {
        Format::CosmicLink => ("/cosmic-link/v1/messages".to_owned(), "application/xml"),
        Format::Canonical => ("/canonical/v1/messages".to_owned(), "application/json"),
        Format::Municipal(dialect) => (
            format!("/municipal/{dialect}/v1/messages"),
            "application/xml",
        ),
        Format::Fhir => {
            let kind = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["resourceType"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let path = match kind.as_str() {
                "Bundle" => "/fhir".to_owned(),
                other => format!("/fhir/{other}"),
            };
            (path, "application/fhir+json")
        }
    }
}

struct Remote<'a> {
    target: &'a Target,
    http: reqwest::Client,
    capture: CaptureServer,
    clock: Clock,
    test_clock: bool,
    mappings: &'a Mappings,
    formats: std::collections::HashMap<String, Format>,
    accepted: HashSet<String>,
    began: Instant,
}

impl Remote<'_> {
    async fn clock_reading(&self) -> Result<Value, String> {
        let response = self
            .http
            .get(format!("{}/test/clock", self.target.base))
            .bearer_auth(&self.target.token)
            .send()
            .await
            .map_err(|e| format!("the target: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "the target's /test/clock answered {}",
                response.status()
            ));
        }
        response
            .json()
            .await
            .map_err(|e| format!("the target: {e}"))
    }

    async fn set_clock(&self, at: Timestamp) -> Result<(), String> {
        let response = self
            .http
            .post(format!("{}/test/clock", self.target.base))
            .bearer_auth(&self.target.token)
            .json(&serde_json::json!({ "at": at.to_string() }))
            .send()
            .await
            .map_err(|e| format!("the target: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "setting the target's clock answered {}",
                response.status()
            ));
        }
        self.clock.advance(at.duration_since(self.clock.now()));
        Ok(())
    }

    /// Waits until the target shows nothing due and nothing moving, nor any delivery arriving.
    async fn settle(&self) -> Result<(), String> {
        let mut settling = super::runner::Settling::new(SETTLE_LIMIT);
        loop {
            let (due, activity) = if self.test_clock {
                let reading = self.clock_reading().await?;
                (
                    reading["due"].as_i64().unwrap_or(0),
                    reading["activity"].clone(),
                )
            } else {
                (0, Value::Null)
            };
            let sample = (due, activity, self.capture.waiting());
            if settling
                .sample(sample, due, QUIET)
                .map_err(|e| format!("the target {e} within {} s", SETTLE_LIMIT.as_secs()))?
            {
                return Ok(());
            }
            tokio::time::sleep(SAMPLE).await;
        }
    }

    async fn advance_to(&self, scenario: &Scenario, target: Timestamp) -> Result<(), String> {
        if !self.test_clock {
            // Real time: the step's offset after the replay began.
            let due = self.began + target.duration_since(scenario.start).unsigned_abs();
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            return self.settle().await;
        }
        loop {
            let reading = self.clock_reading().await?;
            let now: Timestamp = reading["now"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .ok_or("the target's clock reading has no time")?;
            if now >= target {
                return Ok(());
            }
            let next = reading["next"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok());
            let to = match next {
                Some(at) if at < target => at,
                _ => target,
            };
            self.set_clock(to).await?;
            self.settle().await?;
        }
    }

    async fn send(&mut self, format: &Format, body: &[u8]) -> Result<(Outcome, String), String> {
        let (path, media) = endpoint(format, body);
        let response = self
            .http
            .post(format!("{}{path}", self.target.base))
            .bearer_auth(&self.target.token)
            .header("content-type", media)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| format!("the target: {e}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let diagnostics = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["issue"][0]["diagnostics"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Ok((Outcome::Refused, format!("{status}: {diagnostics}")));
        }
        let event = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["event_id"].as_str().map(str::to_owned));
        Ok(match event {
            Some(event) if !self.accepted.insert(event.clone()) => (
                Outcome::Duplicate,
                format!("the receipt of event {event} again"),
            ),
            _ => (Outcome::Accepted, String::new()),
        })
    }

    fn deliveries(&self) -> Vec<ObservedDelivery> {
        self.capture
            .take()
            .into_iter()
            .map(|captured| {
                let (to, content) = super::runner::read_delivery(
                    &self.formats,
                    &captured,
                    self.mappings,
                    self.clock.today(),
                );
                // A remote gateway's events are not seen: the kind is the delivery's own.
                let kind = content["event"]["kind"]
                    .as_str()
                    .unwrap_or("unknown")
                    .to_owned();
                ObservedDelivery { to, kind, content }
            })
            .collect()
    }
}

/// What a target cannot show of `expect`: those expectations, named, and the rest to check.
fn checkable(expect: &Expect) -> (Expect, Vec<&'static str>) {
    let mut unchecked = Vec::new();
    let mut rest = expect.clone();
    if rest.events.take().is_some() {
        unchecked.push("events");
    }
    if rest.missed.take().is_some() {
        unchecked.push("missed deadlines");
    }
    if !std::mem::take(&mut rest.deviations).is_empty() {
        unchecked.push("deviations");
    }
    if rest.phase.take().is_some() {
        unchecked.push("phase");
    }
    if !std::mem::take(&mut rest.stats).is_empty() {
        unchecked.push("statistics");
    }
    if !std::mem::take(&mut rest.deadlines).is_empty() {
        unchecked.push("deadlines");
    }
    if !std::mem::take(&mut rest.clocks).is_empty() {
        unchecked.push("clocks");
    }
    if rest.care_plans.take().is_some() {
        unchecked.push("care_plans (GetCarePlans is read with the consumer's client certificate)");
    }
    (rest, unchecked)
}

/// Runs `scenario` against `target`.
pub async fn run(scenario: &Scenario, target: &Target, mappings: &Mappings) -> ScenarioReport {
    let began = Instant::now();
    let mut report = ScenarioReport {
        path: scenario.path.clone(),
        name: scenario.name.clone(),
        steps: Vec::new(),
        error: None,
        elapsed: Duration::ZERO,
    };
    if let Err(error) = run_steps(scenario, target, mappings, &mut report).await {
        report.error = Some(error);
    }
    report.elapsed = began.elapsed();
    report
}

async fn run_steps(
    scenario: &Scenario,
    target: &Target,
    mappings: &Mappings,
    report: &mut ScenarioReport,
) -> Result<(), String> {
    let clock = Clock::manual(scenario.start);
    let capture = CaptureServer::start_on(target.receivers, clock.clone())
        .await
        .map_err(|e| {
            format!(
                "the local receivers cannot listen on {}: {e}",
                target.receivers
            )
        })?;
    let mut remote = Remote {
        target,
        http: reqwest::Client::new(),
        capture,
        clock,
        test_clock: false,
        mappings,
        formats: scenario
            .receivers
            .iter()
            .filter_map(|r| Some((r.organisation.clone(), r.format.parse().ok()?)))
            .collect(),
        accepted: HashSet::new(),
        began: Instant::now(),
    };
    remote.test_clock = remote.clock_reading().await.is_ok();
    if !remote.test_clock && !target.real_time {
        let last = scenario
            .steps
            .last()
            .map(|s| s.at.to_string())
            .unwrap_or_default();
        return Err(format!(
            "the target has no test clock (server.test_clock): add --real-time to wait for the steps in real time (this scenario spans {last})"
        ));
    }
    for outage in &scenario.outages {
        remote.capture.outage(
            &super::runner::receiver_path(&outage.organisation),
            outage.from.after(scenario.start),
            outage.until.after(scenario.start),
            outage.status,
        );
    }
    if remote.test_clock {
        remote.set_clock(scenario.start).await?;
        remote.settle().await?;
    }
    for (index, step) in scenario.steps.iter().enumerate() {
        let title = step.title(index);
        remote
            .advance_to(scenario, step.at.after(scenario.start))
            .await
            .map_err(|e| format!("{title}: {e}"))?;
        let mut observed = Observed::default();
        if let (Some(format), Some(file)) = (&step.send, &step.file) {
            let format: Format = format.parse().map_err(|e| format!("{title}: {e}"))?;
            let path = scenario.dir.join(file);
            let mut text = std::fs::read_to_string(&path)
                .map_err(|e| format!("{title}: {}: {e}", path.display()))?;
            for (from, to) in &step.replace {
                text = text.replace(from.as_str(), to);
            }
            observed.outcome = Some(
                remote
                    .send(&format, text.as_bytes())
                    .await
                    .map_err(|e| format!("{title}: {e}"))?,
            );
            remote.settle().await.map_err(|e| format!("{title}: {e}"))?;
        }
        observed.deliveries = remote.deliveries();
        let (expect, unchecked) = checkable(&step.expect);
        let differences = compare(&expect, step.send.is_some(), &observed);
        if !unchecked.is_empty() {
            observed.notes.push(format!(
                "not checked against a target: {}",
                unchecked.join(", ")
            ));
        }
        report.steps.push(StepReport {
            title,
            differences,
            observed,
        });
    }
    Ok(())
}
