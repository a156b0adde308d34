//! The scenario format (`fixtures/scenarios/README.md`): a TOML file with the replay's start
//! time, the receivers whose deliveries are captured, outages, and the ordered steps — each a
//! message sent at a time relative to the start, or time passing — with what is expected of
//! each. Read and checked here, with errors that name the file and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::formats::translate::Format;

/// A scenario as read from its file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// When the replay's clock starts; each step's `at` counts from it.
    pub start: Timestamp,
    /// Organisations whose deliveries are captured, each in a format.
    #[serde(default, rename = "receiver")]
    pub receivers: Vec<Receiver>,
    /// Stretches of time a receiver answers with an error.
    #[serde(default, rename = "outage")]
    pub outages: Vec<Outage>,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
    /// The deadline policy files the scenario runs under (relative to its folder), in place of
    /// the configured ones; exactly one is the default. Empty: the configured policies.
    #[serde(default)]
    pub policies: Vec<PathBuf>,
    /// The organisations file the scenario runs with (relative to its folder), in place of
    /// the configured one: a county the shipped examples do not hold.
    #[serde(default)]
    pub organisations: Option<PathBuf>,
    /// Settings laid over the configured ones, shaped like the settings file
    /// (`[settings.statistics]`, `[settings.delivery]`, …). The replay owns `server` and
    /// `database`; the files have the keys above.
    #[serde(default)]
    pub settings: Option<toml::Table>,
    /// The folder the scenario's files are named relative to (set when read).
    #[serde(skip)]
    pub dir: PathBuf,
    /// The scenario's file (set when read).
    #[serde(skip)]
    pub path: PathBuf,
}

/// A capturing receiver: a subscription of `organisation` in `format`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// A municipality's kommunkod or a region's HSA-id, as in the organisations file.
    pub organisation: String,
    /// `cosmic-link`, `canonical`, `fhir` or `municipal:<dialect>`.
    pub format: String,
    /// The event kinds it takes (every kind when empty).
    #[serde(default)]
    pub events: Vec<String>,
    /// Its subscription's retry policy, as in the subscriptions file (the default's otherwise).
    #[serde(default)]
    pub retry: Option<crate::delivery::RetryPolicy>,
}

/// A receiver down from `from` until `until`, answering `status`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub organisation: String,
    pub from: Offset,
    pub until: Offset,
    #[serde(default = "unavailable")]
    pub status: u16,
}

fn unavailable() -> u16 {
    503
}

/// One step: a message sent at `at`, or (without `send`) time passing until `at`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub name: Option<String>,
    pub at: At,
    /// The message's format: `cosmic-link`, `canonical`, `fhir` or `municipal:<dialect>`.
    #[serde(default)]
    pub send: Option<String>,
    /// The message, relative to the scenario's folder.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Text replacements made in the message before it is sent (`[["from", "to"], …]`).
    #[serde(default)]
    pub replace: Vec<(String, String)>,
    /// A read through the national platform's contract instead of a message sent:
    /// `GetCarePlans`, with `file` the request (a SOAP envelope) and `consumer` the consuming
    /// system's HSA-id (a client of the clients file with that `hsa_id`).
    #[serde(default)]
    pub read: Option<String>,
    #[serde(default)]
    pub consumer: Option<String>,
    #[serde(default)]
    pub expect: Expect,
}

/// What a step must show. Everything is optional; what is left out is not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `accepted` (the default for a step that sends), `duplicate` or `refused`.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Words the refusal's message must contain.
    #[serde(default)]
    pub refusal: Option<String>,
    /// Words each of which a warning of the receipt must contain; `[]` for a receipt that
    /// warns of nothing.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    /// The kinds of the events recorded during the step, in order (follow-on events, missed
    /// deadlines and the deviations they raise included).
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Deliveries that arrived during the step.
    #[serde(default, rename = "delivery")]
    pub deliveries: Vec<ExpectedDelivery>,
    /// Deviations raised during the step.
    #[serde(default, rename = "deviation")]
    pub deviations: Vec<ExpectedDeviation>,
    /// The case's phase after the step (`admitted`, `ready_for_discharge`, `discharged`, …).
    #[serde(default)]
    pub phase: Option<String>,
    /// The deadlines missed during the step (`admission_notice`, `sip_invitation`, …), in
    /// any order.
    #[serde(default)]
    pub missed: Option<Vec<String>>,
    /// Figures of the follow-up statistics (`brygga stats`, the total) over the days from the
    /// scenario's start to the step: `admission_notices_on_time = 1`, `deadlines_missed = 0`, …
    #[serde(default)]
    pub stats: BTreeMap<String, toml::Value>,
    /// Deadlines missed during the step, each with the due time and rule it was missed by.
    #[serde(default, rename = "deadline")]
    pub deadlines: Vec<ExpectedDeadline>,
    /// The case's clocks after the step: running (pending, due when said) or stopped.
    #[serde(default, rename = "clock")]
    pub clocks: Vec<ExpectedClock>,
    /// What a `read = "GetCarePlans"` step answers.
    #[serde(default)]
    pub care_plans: Option<ExpectedPlans>,
}

/// The answer of a read through GetCarePlans.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedPlans {
    /// `OK`, `INFO` or `ERROR`.
    #[serde(default)]
    pub result: Option<String>,
    /// The result's `subCode` (`PROTECTED_IDENTITY`, `BLOCKED_INFORMATION`); `""` for none.
    #[serde(default)]
    pub sub_code: Option<String>,
    /// The plans' `documentTitle`s, in order.
    #[serde(default)]
    pub documents: Option<Vec<String>>,
}

/// A deadline missed during a step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDeadline {
    /// The deadline (`sip_invitation`, `agreement`, …).
    pub deadline: String,
    /// When it was due.
    #[serde(default)]
    pub due: Option<At>,
    /// The rule that set it (`national/sip_invitation`, `jamtland/hvb-cost-split`).
    #[serde(default)]
    pub rule: Option<String>,
}

/// A clock of the case after a step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedClock {
    /// The clock's kind, or its beginning (`sip_invitation`, `sip_attendance:`,
    /// `agreement:jamtland/hvb-cost-split`).
    pub kind: String,
    /// `running` (the default: a clock of that kind is pending) or `stopped` (none is).
    #[serde(default)]
    pub state: ClockState,
    /// When the running clock is due.
    #[serde(default)]
    pub due: Option<At>,
}

/// Whether a clock runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockState {
    #[default]
    Running,
    Stopped,
}

/// How a message was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accepted,
    Duplicate,
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Refused => "refused",
        }
    }
}

/// Deliveries of one event kind to one receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDelivery {
    /// The receiver's organisation.
    pub to: String,
    pub kind: String,
    /// Exactly this many (0: none); at least one when left out.
    #[serde(default)]
    pub count: Option<usize>,
    /// Fields every such delivery must have, by path into the delivery read back as a
    /// canonical message (`event.person.name.family`; array items by index), or into the FHIR
    /// JSON as delivered. The value `"<absent>"` says the field must not be there.
    #[serde(default)]
    pub content: BTreeMap<String, toml::Value>,
}

/// A deviation raised.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedDeviation {
    pub cause: String,
}

/// When a step happens (or a clock is due): relative to the scenario's start (`+1d2h`), or a
/// date-time — with its offset (`2026-12-28T20:00:00+01:00`), or local Swedish time
/// (`2026-12-28T20:00`; a time the clocks skip is an error, one they show twice is the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    After(Offset),
    On(Timestamp),
}

impl At {
    pub fn parse(text: &str) -> Result<At, String> {
        let text = text.trim();
        if text.starts_with('+') {
            return Offset::parse(text).map(At::After);
        }
        if let Ok(at) = text.parse::<Timestamp>() {
            return Ok(At::On(at));
        }
        let local: jiff::civil::DateTime = text.parse().map_err(|_| {
            format!(
                "{text:?} is neither a time after the start (+1d2h30m) nor a date-time \
                 (2026-12-28T20:00 Swedish time, or with its offset)"
            )
        })?;
        crate::domain::time::swedish_local(local).map(|read| At::On(read.at))
    }

    /// The instant: `start` + the offset, or the date-time itself.
    pub fn after(self, start: Timestamp) -> Timestamp {
        match self {
            At::After(offset) => offset.after(start),
            At::On(at) => at,
        }
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::After(offset) => offset.fmt(f),
            At::On(at) => write!(
                f,
                "{}",
                at.to_zoned_datetime(crate::domain::time::stockholm())
                    .strftime("%Y-%m-%d %H:%M")
            ),
        }
    }
}

impl<'de> Deserialize<'de> for At {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        At::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A time relative to the scenario's start: `+0`, `+90m`, `+2h`, `+1d2h30m`, `+3d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Offset(pub SignedDuration);

impl Offset {
    pub fn parse(text: &str) -> Result<Offset, String> {
        let wrong = || {
            format!(
                "{text:?} is not a time after the start: +0, +90m, +2h, +1d2h30m (days, hours, minutes)"
            )
        };
        let rest = text.trim().strip_prefix('+').ok_or_else(wrong)?;
        if rest == "0" {
            return Ok(Offset(SignedDuration::ZERO));
        }
        let mut total = 0i64;
        let mut digits = String::new();
        for c in rest.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let n: i64 = digits.parse().map_err(|_| wrong())?;
            digits.clear();
            total += n * match c {
                'd' => 86_400,
                'h' => 3_600,
                'm' => 60,
                's' => 1,
                _ => return Err(wrong()),
            };
        }
        if !digits.is_empty() || rest.is_empty() {
            return Err(wrong());
        }
        Ok(Offset(SignedDuration::from_secs(total)))
    }

    /// The instant `start` + this.
    pub fn after(self, start: Timestamp) -> Timestamp {
        start.checked_add(self.0).unwrap_or(start)
    }
}

impl std::fmt::Display for Offset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut secs = self.0.as_secs();
        if secs == 0 {
            return write!(f, "+0");
        }
        write!(f, "+")?;
        for (unit, size) in [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Offset::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Step {
    /// How the report names the step: its name, else its file, else the time passing.
    pub fn title(&self, index: usize) -> String {
        let what = match (&self.name, &self.file) {
            (Some(name), _) => name.clone(),
            (None, Some(file)) => file.display().to_string(),
            (None, None) => "time passes".to_owned(),
        };
        format!("step {} ({}): {what}", index + 1, self.at)
    }
}

/// Reads and checks the scenario at `path`.
pub fn load(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
    let mut scenario: Scenario =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    scenario.dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    scenario.path = path.to_path_buf();
    // Due times in expectations are instants from here on.
    let start = scenario.start;
    for step in &mut scenario.steps {
        for due in step
            .expect
            .deadlines
            .iter_mut()
            .filter_map(|d| d.due.as_mut())
            .chain(step.expect.clocks.iter_mut().filter_map(|c| c.due.as_mut()))
        {
            *due = At::On(due.after(start));
        }
    }
    check(&scenario).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(scenario)
}

fn check(scenario: &Scenario) -> Result<(), String> {
    if scenario.steps.is_empty() {
        return Err("a scenario has at least one [[step]]".to_owned());
    }
    for policy in &scenario.policies {
        let path = scenario.dir.join(policy);
        if !path.is_file() {
            return Err(format!("policies: file {} does not exist", path.display()));
        }
    }
    if let Some(file) = &scenario.organisations {
        let path = scenario.dir.join(file);
        if !path.is_file() {
            return Err(format!(
                "organisations: file {} does not exist",
                path.display()
            ));
        }
    }
    if let Some(settings) = &scenario.settings {
        for key in settings.keys() {
            let owned = match key.as_str() {
                "server" | "database" => Some("the replay runs its own store and listener"),
                "organisations_file" => Some("name the file with the scenario's `organisations`"),
                "policy_files" => Some("name the files with the scenario's `policies`"),
                "mappings_dir" => Some("the replay reads the configured mappings"),
                _ => None,
            };
            if let Some(why) = owned {
                return Err(format!("settings.{key}: not set by a scenario: {why}"));
            }
        }
    }
    for receiver in &scenario.receivers {
        receiver
            .format
            .parse::<Format>()
            .map_err(|e| format!("receiver {}: format: {e}", receiver.organisation))?;
    }
    for outage in &scenario.outages {
        if !scenario
            .receivers
            .iter()
            .any(|r| r.organisation == outage.organisation)
        {
            return Err(format!(
                "outage of {}: no [[receiver]] of that organisation",
                outage.organisation
            ));
        }
        if outage.until <= outage.from {
            return Err(format!(
                "outage of {}: until ({}) is not after from ({})",
                outage.organisation, outage.until, outage.from
            ));
        }
    }
    let mut previous = At::After(Offset(SignedDuration::ZERO));
    for (index, step) in scenario.steps.iter().enumerate() {
        let title = step.title(index);
        if step.at.after(scenario.start) < previous.after(scenario.start) {
            return Err(format!(
                "{title}: at {} is before the step before it ({previous}); steps are in time order",
                step.at
            ));
        }
        previous = step.at;
        if let Some(read) = &step.read {
            if read != "GetCarePlans" {
                return Err(format!(
                    "{title}: read: {read:?} is no contract the replay reads; \"GetCarePlans\" is"
                ));
            }
            if step.send.is_some() {
                return Err(format!(
                    "{title}: a step sends a message or reads, not both"
                ));
            }
            let Some(file) = &step.file else {
                return Err(format!(
                    "{title}: read needs a file: the GetCarePlans request (a SOAP envelope)"
                ));
            };
            let path = scenario.dir.join(file);
            if !path.is_file() {
                return Err(format!("{title}: file {} does not exist", path.display()));
            }
            match &step.consumer {
                Some(id) => {
                    crate::domain::identifiers::HsaId::parse(id)
                        .map_err(|e| format!("{title}: consumer: {id:?} {e}"))?;
                }
                None => {
                    return Err(format!(
                        "{title}: read needs consumer: the consuming system's HSA-id"
                    ));
                }
            }
            continue;
        }
        if step.expect.care_plans.is_some() || step.consumer.is_some() {
            return Err(format!(
                "{title}: consumer and care_plans belong to a step that reads (read = \"GetCarePlans\")"
            ));
        }
        match (&step.send, &step.file) {
            (Some(format), Some(file)) => {
                format
                    .parse::<Format>()
                    .map_err(|e| format!("{title}: send: {e}"))?;
                let path = scenario.dir.join(file);
                if !path.is_file() {
                    return Err(format!("{title}: file {} does not exist", path.display()));
                }
            }
            (Some(_), None) => return Err(format!("{title}: send names a format but no file")),
            (None, Some(_)) => {
                return Err(format!(
                    "{title}: file without send: name the message's format"
                ));
            }
            (None, None) => {
                if step.expect.outcome.is_some()
                    || step.expect.refusal.is_some()
                    || step.expect.warnings.is_some()
                {
                    return Err(format!(
                        "{title}: outcome, refusal and warnings are expected of a step that sends"
                    ));
                }
            }
        }
        for delivery in &step.expect.deliveries {
            if !scenario
                .receivers
                .iter()
                .any(|r| r.organisation == delivery.to)
            {
                return Err(format!(
                    "{title}: a delivery to {} is expected, but it is no [[receiver]]",
                    delivery.to
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_and_print_as_written() {
        for (text, secs) in [
            ("+0", 0),
            ("+90m", 5400),
            ("+2h", 7200),
            ("+1d2h30m", 95_400),
        ] {
            let offset = Offset::parse(text).unwrap();
            assert_eq!(offset.0.as_secs(), secs, "{text}");
        }
        assert_eq!(Offset::parse("+90m").unwrap().to_string(), "+1h30m");
        assert_eq!(Offset::parse("+1d2h30m").unwrap().to_string(), "+1d2h30m");
        for wrong in ["2h", "+", "+2x", "+h", "+2h3"] {
            let error = Offset::parse(wrong).unwrap_err();
            assert!(
                error.contains("not a time after the start"),
                "{wrong}: {error}"
            );
        }
    }

    #[test]
    fn a_scenario_that_cannot_run_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| {
            let path = dir.path().join("s.toml");
            std::fs::write(&path, text).unwrap();
            load(&path).unwrap_err()
        };
        let base = "name = \"x\"\nstart = \"2026-11-20T08:00:00+01:00\"\n";
        let error = write(&format!(
            "{base}[[step]]\nat = \"+1h\"\nsend = \"cosmic-link\"\nfile = \"missing.xml\"\n"
        ));
        assert!(
            error.contains("step 1 (+1h): missing.xml: file") && error.contains("does not exist"),
            "{error}"
        );
        let error = write(&format!(
            "{base}[[step]]\nat = \"+2h\"\n[[step]]\nat = \"+1h\"\n"
        ));
        assert!(
            error.contains("step 2 (+1h)") && error.contains("before the step before it"),
            "{error}"
        );
        let error = write(&format!("{base}[[step]]\nat = \"+1h\"\ncolour = \"red\"\n"));
        assert!(error.contains("colour"), "{error}");
        let error = write(&format!(
            "{base}[[step]]\nat = \"+1h\"\n[[step.expect.delivery]]\nto = \"2380\"\nkind = \"admission_notice\"\n"
        ));
        assert!(error.contains("no [[receiver]]"), "{error}");
        let error = write(&format!(
            "{base}[[receiver]]\norganisation = \"2380\"\nformat = \"telex\"\n[[step]]\nat = \"+0\"\n"
        ));
        assert!(error.contains("receiver 2380: format"), "{error}");
        let error = write(&format!(
            "organisations = \"elsewhere.toml\"\n{base}[[step]]\nat = \"+0\"\n"
        ));
        assert!(
            error.contains("organisations: file") && error.contains("elsewhere.toml"),
            "{error}"
        );
        let error = write(&format!(
            "{base}[settings.database]\nurl = \"sqlite://x\"\n[[step]]\nat = \"+0\"\n"
        ));
        assert!(
            error.contains("settings.database: not set by a scenario"),
            "{error}"
        );
        let error = write(&format!(
            "{base}[[step]]\nat = \"+0\"\n[step.expect]\nwarnings = []\n"
        ));
        assert!(error.contains("expected of a step that sends"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
