//! Subscriptions: which organisation's deliveries go where, in which format, for which events,
//! with which credentials and retry policy. Read from the subscriptions file named by
//! `delivery.subscriptions_file`.

use std::path::Path;
use std::time::Duration;

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
}

impl PartialEq for Subscription {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Subscription {
    /// Whether it wants `kind` events.
    pub fn wants(&self, kind: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == kind)
    }
}

/// Every subscription, by organisation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subscriptions(pub Vec<Subscription>);

impl Subscriptions {
    /// The subscriptions of `organisation` that want `kind`.
    pub fn for_recipient<'a>(
        &'a self,
        organisation: &'a Organisation,
        kind: &'a str,
    ) -> impl Iterator<Item = &'a Subscription> + 'a {
        self.0
            .iter()
            .filter(move |s| &s.organisation == organisation && s.wants(kind))
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
    if entry.id.trim().is_empty() || entry.id.contains(char::is_whitespace) {
        return Err("id must be a word without spaces".to_owned());
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
    Ok(Subscription {
        id: entry.id,
        organisation,
        endpoint,
        format,
        events: entry.events,
        bearer_token,
        http,
        timeout: Duration::from_secs(entry.timeout_seconds),
        retry,
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
