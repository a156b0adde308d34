//! Subscriptions: which organisation's deliveries go where, in which format, for which events,
//! with which credentials and retry policy. Read from the subscriptions file named by
//! `delivery.subscriptions_file`.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::config::Directory;
use crate::domain::event::EventKind;
use crate::domain::party::Organisation;
use crate::domain::sensitive::Sensitive;
use crate::formats::translate::Format;

/// How a failing delivery is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// The first retry's ceiling; each next one doubles, up to `max_delay_seconds`. The wait is
    /// drawn at random below the ceiling (full jitter).
    pub initial_delay_seconds: u64,
    pub max_delay_seconds: u64,
    /// A delivery still failing this long after its event goes to the dead letters.
    pub max_age_hours: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_delay_seconds: 1,
            max_delay_seconds: 300,
            max_age_hours: 72,
        }
    }
}

/// A subscription as written in the subscriptions file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    /// Whose deliveries: a region's HSA-id or a municipality's kommunkod.
    organisation: String,
    /// Where to POST them.
    endpoint: String,
    /// `fhir`, `cosmic-link`, `canonical` or `municipal:<dialect>`.
    format: String,
    /// The event kinds it wants; all by default.
    #[serde(default)]
    events: Vec<String>,
    /// A bearer token for the call, from this environment variable…
    #[serde(default)]
    bearer_token_env: Option<String>,
    /// …or from this file (relative to the subscriptions file).
    #[serde(default)]
    bearer_token_file: Option<std::path::PathBuf>,
    /// A client certificate for the call (mutual TLS): a PEM file with the certificate chain
    /// and its private key (relative to the subscriptions file).
    #[serde(default)]
    client_identity_file: Option<std::path::PathBuf>,
    /// Certificate authorities (PEM) trusted for the endpoint besides the built-in roots, e.g.
    /// a region's own CA.
    #[serde(default)]
    ca_file: Option<std::path::PathBuf>,
    #[serde(default = "default_timeout")]
    timeout_seconds: u64,
    #[serde(default)]
    retry: RetryPolicy,
    /// `fhir` only: what a notification carries, `full-resource` (the default), `id-only` or
    /// `empty` (the Subscriptions backport's payload content).
    #[serde(default)]
    payload_content: Option<String>,
    /// `fhir` only: a heartbeat notification goes when nothing was sent for this long.
    #[serde(default)]
    heartbeat_seconds: Option<u64>,
    /// Only the steps released to this unit of the organisation (its HSA-id); all of the
    /// organisation's by default.
    #[serde(default)]
    unit: Option<String>,
}

fn default_timeout() -> u64 {
    10
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "subscription")]
    subscriptions: Vec<Entry>,
}

/// What a FHIR notification carries: the Subscriptions backport's payload content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Content {
    /// Only the subscription status (the receiver asks for the rest).
    Empty,
    /// The status and the full URLs of the resources.
    IdOnly,
    /// The status and the resources.
    #[default]
    FullResource,
}

impl Content {
    pub const CODES: &'static [&'static str] = &["empty", "id-only", "full-resource"];

    pub fn parse(code: &str) -> Option<Content> {
        match code {
            "empty" => Some(Content::Empty),
            "id-only" => Some(Content::IdOnly),
            "full-resource" => Some(Content::FullResource),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Content::Empty => "empty",
            Content::IdOnly => "id-only",
            Content::FullResource => "full-resource",
        }
    }
}

/// How a `fhir` subscription's notifications are made (the R4 Subscriptions backport).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifications {
    /// The subscription topic named in each notification.
    pub topic: String,
    pub content: Content,
    /// A heartbeat notification goes when nothing was sent for this long.
    pub heartbeat: Option<SignedDuration>,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            topic: crate::delivery::fhir::TOPIC.to_owned(),
            content: Content::FullResource,
            heartbeat: None,
        }
    }
}

/// A subscription, checked.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub organisation: Organisation,
    pub endpoint: reqwest::Url,
    pub format: Format,
    /// Empty for every kind.
    pub events: Vec<String>,
    pub bearer_token: Option<Sensitive<String>>,
    /// An HTTP client of its own, when the subscription has TLS settings of its own (a client
    /// certificate, trusted CAs); otherwise the delivery worker's shared client is used.
    pub http: Option<reqwest::Client>,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Further request headers (a FHIR subscription's `channel.header`); their values are
    /// secrets as much as the bearer token.
    pub headers: Vec<(String, Sensitive<String>)>,
    /// For the `fhir` format: the notifications' topic, content and heartbeat.
    pub notifications: Notifications,
    /// Created through the API (a FHIR `Subscription` resource), not in the subscriptions file.
    pub managed: bool,
    /// Whether it takes new events: false while a managed subscription is `off` or in `error`.
    pub active: bool,
    /// It takes no events after this.
    pub end: Option<Timestamp>,
    /// Its criteria name resources the gateway never sends: it is kept (and gets heartbeats)
    /// but no events.
    pub silent: bool,
    /// Only the steps released to this unit (an HSA-id); none: every unit of the organisation.
    pub unit: Option<crate::domain::identifiers::HsaId>,
    /// Only the cases of this person; none: every case the organisation takes part in.
    pub person: Option<crate::domain::identifiers::PersonId>,
}

impl PartialEq for Subscription {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Subscription {
    /// A subscription from the subscriptions file with every optional setting at its default.
    pub fn new(
        id: &str,
        organisation: Organisation,
        endpoint: reqwest::Url,
        format: Format,
    ) -> Self {
        Subscription {
            id: id.to_owned(),
            organisation,
            endpoint,
            format,
            events: Vec::new(),
            bearer_token: None,
            http: None,
            timeout: Duration::from_secs(default_timeout()),
            retry: RetryPolicy::default(),
            headers: Vec::new(),
            notifications: Notifications::default(),
            managed: false,
            active: true,
            end: None,
            silent: false,
            unit: None,
            person: None,
        }
    }

    /// Whether it wants `kind` events.
    pub fn wants(&self, kind: &str) -> bool {
        !self.silent && (self.events.is_empty() || self.events.iter().any(|e| e == kind))
    }

    /// Whether it takes new events at `at`: active, and not ended.
    pub fn takes_events(&self, at: Timestamp) -> bool {
        self.active && self.end.is_none_or(|end| at < end)
    }

    /// Whether a step released to `recipient` in a case of `person` is for it (its unit and
    /// person filters).
    pub fn covers(
        &self,
        recipient: &crate::domain::party::Party,
        person: &crate::domain::identifiers::PersonId,
    ) -> bool {
        use crate::domain::party::Party;
        let unit_ok = match (&self.unit, recipient) {
            (None, _) => true,
            (Some(unit), Party::RegionUnit { hsa_id }) => hsa_id == unit,
            (Some(unit), Party::Municipality { unit: Some(u), .. }) => u == unit,
            (Some(_), Party::Municipality { unit: None, .. }) => false,
        };
        unit_ok && self.person.as_ref().is_none_or(|p| p == person)
    }
}

/// Every subscription, by organisation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subscriptions(pub Vec<Subscription>);

impl Subscriptions {
    /// The subscriptions of `organisation` that take a `kind` step released to `recipient`
    /// in a case of `person` at `at`.
    pub fn for_recipient<'a>(
        &'a self,
        organisation: &'a Organisation,
        recipient: &'a crate::domain::party::Party,
        person: &'a crate::domain::identifiers::PersonId,
        kind: &'a str,
        at: Timestamp,
    ) -> impl Iterator<Item = &'a Subscription> + 'a {
        self.0.iter().filter(move |s| {
            &s.organisation == organisation
                && s.wants(kind)
                && s.takes_events(at)
                && s.covers(recipient, person)
        })
    }

    pub fn get(&self, id: &str) -> Option<&Subscription> {
        self.0.iter().find(|s| s.id == id)
    }

    /// Checks what the file alone cannot: that every `municipal:<dialect>` is a dialect of
    /// the mappings.
    pub fn check_formats(&self, mappings: &crate::formats::Mappings) -> Result<(), String> {
        for subscription in &self.0 {
            if let Format::Municipal(dialect) = &subscription.format
                && mappings.municipal.get(dialect).is_none()
            {
                return Err(format!(
                    "subscription {}: format municipal:{dialect} names no dialect of the mappings (there are {})",
                    subscription.id,
                    mappings.municipal.names().join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// Reads and checks the subscriptions file; every problem names the file, the subscription
/// and what is wrong. Whether a municipal dialect exists is checked at start-up, with the
/// mappings.
pub fn load_subscriptions(
    path: &Path,
    directory: &Directory,
) -> Result<Subscriptions, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot be read: {e}", path.display())])?;
    let file: File =
        toml::from_str(&text).map_err(|e| vec![format!("{}: {}", path.display(), e.message())])?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut subscriptions = Vec::new();
    let mut problems = Vec::new();
    for (i, entry) in file.subscriptions.into_iter().enumerate() {
        let at = format!("{}: subscription[{i}] ({})", path.display(), entry.id);
        if subscriptions
            .iter()
            .any(|s: &Subscription| s.id == entry.id)
        {
            problems.push(format!("{at}: the id is used twice"));
            continue;
        }
        match subscription(entry, base, directory) {
            Ok(s) => subscriptions.push(s),
            Err(problem) => problems.push(format!("{at}: {problem}")),
        }
    }
    if problems.is_empty() {
        Ok(Subscriptions(subscriptions))
    } else {
        Err(problems)
    }
}

fn subscription(entry: Entry, base: &Path, directory: &Directory) -> Result<Subscription, String> {
    if entry.id.trim().is_empty()
        || entry.id.contains(char::is_whitespace)
        || entry.id.contains('/')
    {
        return Err("id must be a word without spaces or slashes".to_owned());
    }
    let organisation =
        Organisation::parse(&entry.organisation).map_err(|e| format!("organisation: {e}"))?;
    if !directory.has_organisation(&organisation) {
        return Err(format!(
            "organisation: {organisation} is not in the organisation directory"
        ));
    }
    let endpoint = reqwest::Url::parse(&entry.endpoint)
        .map_err(|e| format!("endpoint {:?}: {e}", entry.endpoint))?;
    if !matches!(endpoint.scheme(), "http" | "https") {
        return Err(format!("endpoint {:?}: use http or https", entry.endpoint));
    }
    let format: Format = entry.format.parse().map_err(|e| format!("format: {e}"))?;
    for kind in &entry.events {
        if !EventKind::NAMES.contains(&kind.as_str()) {
            return Err(format!(
                "events: {kind:?} is not an event kind; the kinds are {}",
                EventKind::NAMES.join(", ")
            ));
        }
    }
    let bearer_token = match (&entry.bearer_token_env, &entry.bearer_token_file) {
        (Some(_), Some(_)) => {
            return Err("give bearer_token_env or bearer_token_file, not both".to_owned());
        }
        (Some(var), None) => Some(Sensitive::new(std::env::var(var).map_err(|_| {
            format!("bearer_token_env: the environment variable {var} is not set")
        })?)),
        (None, Some(file)) => {
            let file = base.join(file);
            let token = std::fs::read_to_string(&file)
                .map_err(|e| format!("bearer_token_file {}: {e}", file.display()))?;
            Some(Sensitive::new(token.trim().to_owned()))
        }
        (None, None) => None,
    };
    let http = tls_client(&entry, &endpoint, base)?;
    if entry.timeout_seconds == 0 {
        return Err("timeout_seconds must be at least 1".to_owned());
    }
    let retry = entry.retry;
    if retry.initial_delay_seconds == 0 || retry.max_delay_seconds < retry.initial_delay_seconds {
        return Err(
            "retry: initial_delay_seconds must be at least 1 and at most max_delay_seconds"
                .to_owned(),
        );
    }
    let unit = entry
        .unit
        .as_deref()
        .map(|unit| {
            crate::domain::identifiers::HsaId::parse(unit)
                .map_err(|e| format!("unit {unit:?}: {e}"))
        })
        .transpose()?;
    let mut notifications = Notifications::default();
    if entry.payload_content.is_some() || entry.heartbeat_seconds.is_some() {
        if format != Format::Fhir {
            return Err("payload_content and heartbeat_seconds are for the fhir format".to_owned());
        }
        if let Some(code) = &entry.payload_content {
            notifications.content = Content::parse(code).ok_or_else(|| {
                format!(
                    "payload_content {code:?}: use one of {}",
                    Content::CODES.join(", ")
                )
            })?;
        }
        if let Some(seconds) = entry.heartbeat_seconds {
            if seconds == 0 {
                return Err("heartbeat_seconds must be at least 1".to_owned());
            }
            notifications.heartbeat = Some(SignedDuration::from_secs(seconds as i64));
        }
    }
    Ok(Subscription {
        events: entry.events,
        bearer_token,
        http,
        timeout: Duration::from_secs(entry.timeout_seconds),
        retry,
        notifications,
        unit,
        ..Subscription::new(&entry.id, organisation, endpoint, format)
    })
}

/// The subscription's own HTTP client, for a client certificate or CAs of its own.
fn tls_client(
    entry: &Entry,
    endpoint: &reqwest::Url,
    base: &Path,
) -> Result<Option<reqwest::Client>, String> {
    if entry.client_identity_file.is_none() && entry.ca_file.is_none() {
        return Ok(None);
    }
    if endpoint.scheme() != "https" {
        return Err(format!(
            "endpoint {:?}: client_identity_file and ca_file need an https endpoint",
            entry.endpoint
        ));
    }
    let mut builder = crate::delivery::http_client_builder();
    if let Some(file) = &entry.client_identity_file {
        let file = base.join(file);
        let pem = std::fs::read(&file)
            .map_err(|e| format!("client_identity_file {}: {e}", file.display()))?;
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
            format!(
                "client_identity_file {}: not a PEM certificate chain with its private key: {e}",
                file.display()
            )
        })?;
        builder = builder.identity(identity);
    }
    if let Some(file) = &entry.ca_file {
        let file = base.join(file);
        let pem = std::fs::read(&file).map_err(|e| format!("ca_file {}: {e}", file.display()))?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("ca_file {}: {e}", file.display()))?;
        if roots.is_empty() {
            return Err(format!("ca_file {}: no certificate in it", file.display()));
        }
        builder = builder.tls_certs_merge(roots);
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| format!("TLS settings: {e}"))
}

/// The subscriptions in force: the file's, and those created through the API (kept in the
/// store; reloaded when they change on this instance, and every few seconds for the changes
/// of other instances). Readers take a snapshot.
#[derive(Debug, Clone, Default)]
pub struct Live {
    configured: Arc<Subscriptions>,
    current: Arc<RwLock<Arc<Subscriptions>>>,
}

impl Live {
    pub fn new(configured: Subscriptions) -> Self {
        let configured = Arc::new(configured);
        Live {
            current: Arc::new(RwLock::new(configured.clone())),
            configured,
        }
    }

    /// The subscriptions in force now.
    pub fn current(&self) -> Arc<Subscriptions> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The subscriptions file's.
    pub fn configured(&self) -> &Subscriptions {
        &self.configured
    }

    /// Puts `managed` (every API subscription) in force beside the file's.
    pub fn set_managed(&self, managed: Vec<Subscription>) {
        let mut all = self.configured.0.clone();
        all.extend(managed);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Subscriptions(all));
    }
}

impl From<Subscriptions> for Live {
    fn from(configured: Subscriptions) -> Self {
        Live::new(configured)
    }
}
