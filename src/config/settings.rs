//! The settings file (TOML) with `BRYGGA_` environment overrides; unknown keys are errors.
//!
//! Past 700 lines: every setting with its meaning and default, and the tests of loading them,
//! in the one place an operator's question about a setting is answered.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

use super::directory::Directory;

/// Where `brygga serve` looks when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "deploy/config/brygga.toml";

/// Everything that can be wrong with the configuration. Each message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} not found; pass --config FILE or set BRYGGA_CONFIG")]
    NotFound { path: PathBuf },
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// A request that takes longer than this answers 408.
    pub request_timeout_seconds: u64,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    pub shutdown_grace_seconds: u64,
    /// Serve HTTPS (and, with a client CA, accept client certificates).
    pub tls: Option<TlsSettings>,
    /// The gateway's address as its clients reach it (`https://gw.example.se`, with a path
    /// if a proxy serves it under one): the base of the absolute URLs FHIR answers carry
    /// (`fullUrl`, paging links, `Location`) and of the token endpoint. Unset:
    /// `http(s)://<server.listen>` — set it when listening on every address or behind a proxy.
    pub public_base_url: Option<String>,
    /// Reverse proxies (addresses or networks, `10.0.0.0/8`) whose `Forwarded` and
    /// `X-Forwarded-Proto`/`-Host`/`-Port`/`-Prefix` headers say the address the client
    /// used. From any other peer these headers are ignored. Empty by default.
    pub trusted_proxies: Vec<String>,
    /// A FHIR update must name the version it replaces (`If-Match: W/"3"`, or a transaction
    /// entry's `ifMatch`); without it the answer is 412 and nothing changes, so that no
    /// client's plain save overwrites a change it never saw. On by default.
    pub require_if_match: bool,
    /// A resource a client keeps (Task, CarePlan, Patient, Subscription) with an element FHIR R4
    /// does not have is refused with 422 naming it (the default). On: it is kept as sent, each
    /// such element named in an `x-brygga-warning` header. Values R4 forbids are refused either
    /// way.
    pub keep_unknown_elements: bool,
    /// FOR TEST ENVIRONMENTS ONLY: the gateway's clock starts at the time it starts but moves
    /// only when a client moves it (`/test/clock`), so that `brygga replay --target` can run
    /// days of process time in seconds. Never set it where real cases are handled: deadlines
    /// would not fall due.
    pub test_clock: bool,
}

/// HTTPS with rustls; with `client_ca_file`, mutual TLS: clients may present a certificate
/// issued by that CA, which the clients file maps to a client (`certificates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM), relative to the settings file.
    pub certificate_file: PathBuf,
    /// The server's private key (PEM, PKCS#8, SEC1 or PKCS#1).
    pub key_file: PathBuf,
    /// The CA(s) whose client certificates are accepted (PEM). Unset: no client certificates.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit_bytes: 4 * 1024 * 1024,
            request_timeout_seconds: 30,
            shutdown_grace_seconds: 30,
            tls: None,
            public_base_url: None,
            trusted_proxies: Vec::new(),
            require_if_match: true,
            keep_unknown_elements: false,
            test_clock: false,
        }
    }
}

impl ServerSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (embedded, the default) or `postgres://USER@HOST:PORT/DB`.
    pub url: String,
    /// Connections for reading. SQLite has one writer beside them; PostgreSQL four, two for
    /// the delivery bookkeeping and two for the delivery workers' claims.
    pub max_connections: u32,
    /// Apply pending migrations at start.
    pub migrate_on_start: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: "sqlite://data/brygga.db".to_owned(),
            max_connections: 8,
            migrate_on_start: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `brygga=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Pretty,
            level: "info".to_owned(),
        }
    }
}

/// An external identity provider whose access tokens the gateway accepts (instead of, or
/// beside, its own token endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalIssuer {
    /// The tokens' `iss`.
    pub issuer: String,
    /// Where its signing keys are published (a JWKS document).
    pub jwks_url: String,
    /// The `aud` its tokens for brygga carry.
    pub audience: String,
    /// The claim naming the organisation the caller acts for (HSA-id or kommunkod).
    #[serde(default = "default_organisation_claim")]
    pub organisation_claim: String,
    /// The claim with the granted scopes (a space-separated string or an array).
    #[serde(default = "default_scope_claim")]
    pub scope_claim: String,
    /// People sign in to the web console through this provider when set (OpenID Connect,
    /// the authorisation code flow with PKCE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleSignIn>,
}

/// The web console's sign-in through an external OpenID provider: its endpoints are read from
/// the issuer's discovery document (`{issuer}/.well-known/openid-configuration`); the ID
/// token is verified with the keys at the issuer's `jwks_url`, and names the person's
/// organisation (the issuer's `organisation_claim`) and console role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSignIn {
    /// The console's client id at the provider; the redirect URI to register with it is
    /// `<public base URL>/console/oidc/callback`.
    pub client_id: String,
    /// The environment variable holding the client's secret, for a provider that registered
    /// the console as a confidential client (sent in the token request's body); unset for a
    /// public client. PKCE is used either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// What the sign-in button names the provider as (e.g. `SITHS-kort`).
    pub label: String,
    /// The ID token's claim with the person's console role: `operator`, `coordinator`,
    /// `auditor` or `follow-up`.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// The ID token's claim with the person's name.
    #[serde(default = "default_name_claim")]
    pub name_claim: String,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_console_scopes")]
    pub scopes: Vec<String>,
}

fn default_role_claim() -> String {
    "brygga_role".to_owned()
}

fn default_name_claim() -> String {
    "name".to_owned()
}

fn default_console_scopes() -> Vec<String> {
    vec!["profile".to_owned()]
}

fn default_organisation_claim() -> String {
    "organisation".to_owned()
}

fn default_scope_claim() -> String {
    "scope".to_owned()
}

/// Authentication: the SMART Backend Services token endpoint, its clients, external
/// identity providers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// The token endpoint's public URL, which client assertions name as their `aud`. Unset:
    /// `<server.public_base_url>/auth/token`, or `http://<server.listen>/auth/token`.
    pub token_url: Option<String>,
    /// How long an access token is valid.
    pub token_lifetime_seconds: u64,
    /// A file with the secret (at least 32 bytes) that signs access tokens; instances sharing
    /// a database share it. Unset: a random secret at each start (tokens end with the process).
    pub token_key_file: Option<PathBuf>,
    /// The registered clients, relative to the settings file. Unset: `clients.toml` beside
    /// it, if there is one (without any client, every protected endpoint answers 401).
    pub clients_file: Option<PathBuf>,
    /// People's local accounts for the web console (`brygga user add`), relative to the
    /// settings file. Unset: `accounts.toml` beside it, if there is one.
    pub accounts_file: Option<PathBuf>,
    /// External identity providers.
    #[serde(rename = "issuer")]
    pub issuers: Vec<ExternalIssuer>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            token_url: None,
            token_lifetime_seconds: 300,
            token_key_file: None,
            clients_file: None,
            accounts_file: None,
            issuers: Vec::new(),
        }
    }
}

/// Delivery of the outbox to the subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySettings {
    /// The subscriptions, relative to the settings file. Unset: `subscriptions.toml` beside
    /// it, if there is one (without any, nothing is delivered; the outbox stays empty).
    pub subscriptions_file: Option<PathBuf>,
    /// Outbox rows a worker claims at a time (and delivers concurrently).
    pub batch: u32,
    /// How long a claim holds before another instance may take the row over. Renewed while a
    /// delivery is on its way (every third of it), so it can be short: a stopped instance's
    /// deliveries go out again this soon after. Claims on due timers hold as long, so its
    /// timers fire elsewhere as soon.
    pub lease_seconds: u64,
    /// This instance's identity in the claims it makes. Unset: one is made once and kept
    /// beside the SQLite database (`instance-id`, locked while the gateway runs), so that a
    /// restarted gateway takes back its own claims at once; on PostgreSQL without it each start
    /// is a new instance, and a stopped one's claims pass to the others when its lease ends.
    /// Instances sharing a database must have different ones.
    pub instance_id: Option<String>,
    /// Delivered and dead-lettered rows, with their message bodies, are deleted this many days
    /// after they finished (0 keeps them).
    pub retention_days: u64,
    /// Where subscriptions created through the API (FHIR `Subscription`) may send: URL
    /// prefixes such as `https://vendor.example/`. Empty: any https endpoint, and http only to
    /// this machine (loopback).
    pub api_endpoints: Vec<String>,
    /// A delivery still failing this many minutes before its step's legal or agreed deadline
    /// (or after it) raises a deviation in the case; so does a dead-lettered one.
    pub deadline_warning_minutes: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            subscriptions_file: None,
            batch: 64,
            lease_seconds: 10,
            instance_id: None,
            retention_days: 30,
            api_endpoints: Vec::new(),
            deadline_warning_minutes: 120,
        }
    }
}

impl DeliverySettings {
    /// Whether an API subscription may send to `endpoint`; the reason when not.
    pub fn endpoint_allowed(&self, endpoint: &reqwest::Url) -> Result<(), String> {
        if self.api_endpoints.is_empty() {
            let host = endpoint.host_str().unwrap_or("");
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if endpoint.scheme() == "https" || loopback {
                return Ok(());
            }
            return Err(format!(
                "{endpoint}: use https (http only to this machine), or list the endpoint in delivery.api_endpoints"
            ));
        }
        if self
            .api_endpoints
            .iter()
            .any(|prefix| endpoint.as_str().starts_with(prefix.as_str()))
        {
            Ok(())
        } else {
            Err(format!(
                "{endpoint}: subscriptions may send only to {} (delivery.api_endpoints)",
                self.api_endpoints.join(", ")
            ))
        }
    }
}

/// The audit log's signed checkpoints (`crate::anchor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// The Ed25519 private key (PKCS#8 PEM, `openssl genpkey -algorithm ed25519 -out FILE`)
    /// that signs the audit log's checkpoints, relative to the settings file. Keep it where
    /// the database's administrators cannot read it. Needed for `retention.audit_days`: audit
    /// records are deleted only below a signed checkpoint.
    pub anchor_key_file: Option<PathBuf>,
    /// With a key: the gateway signs a checkpoint of the chain's head this often (minutes).
    pub checkpoint_minutes: u64,
    /// With a key: a folder (relative to the settings file) each checkpoint is also written
    /// to, as `checkpoint-<seq>.json`, for export to write-once storage.
    pub checkpoint_dir: Option<PathBuf>,
    /// The gateway verifies the records added to the chain this often (seconds) and the whole
    /// chain once a day, and shows the result in `brygga_audit_chain_intact`; 0 turns it off.
    pub verify_seconds: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            anchor_key_file: None,
            checkpoint_minutes: 60,
            checkpoint_dir: None,
            verify_seconds: 60,
        }
    }
}

/// The follow-up statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatisticsSettings {
    /// In the county's view of every organisation (a client with `county_statistics`, and
    /// `brygga stats` without `--organisation`), a figure about fewer than this many (1 to
    /// this less one) is suppressed, as in official statistics, so that no person can be
    /// recognised in a small cell. 0 turns suppression off.
    pub suppress_below: u64,
    /// The secret (a file of at least 32 bytes, relative to the settings file) that makes the
    /// pseudonyms of the de-identified deviation export (`brygga deviations export
    /// --deidentified`, `GET /deviations/export`): the same case gets the same pseudonym in
    /// every export made with it, and nobody without it can tell which case it is.
    pub pseudonym_key_file: Option<PathBuf>,
}

impl Default for StatisticsSettings {
    fn default() -> Self {
        StatisticsSettings {
            suppress_below: 5,
            pseudonym_key_file: None,
        }
    }
}

/// Recording the accepted messages as a scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingSettings {
    /// When set, every message the gateway accepts is also written into this folder
    /// (relative to the settings file) as a step of a scenario that `brygga replay` runs, its
    /// personal data replaced by test identities before it is written. Off by default: turn
    /// it on to reproduce a problem, in a test environment or for as long as it takes.
    pub dir: Option<PathBuf>,
}

/// How long closed cases are kept (finished deliveries: `delivery.retention_days`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// A case discharged or cancelled, untouched this many days and with nothing left to do
    /// (no running clock, no delivery waiting, no deviation unanswered), is deleted with its
    /// events, deliveries, timers and the consents recorded in it; the audit log keeps its
    /// records. 0 (the default) keeps every case.
    pub closed_cases_days: u64,
    /// Audit records older than this many days are deleted, oldest first; the chain of those
    /// kept verifies from the last deleted record's hash, and each deletion is itself
    /// recorded. 0 (the default) keeps the whole log. Set it to what the law and the
    /// principals' log policy require (several years).
    pub audit_days: u64,
}

impl Directory {
    /// Reads an organisations file and checks it; the problems each name the file.
    pub fn load(path: &Path) -> Result<Directory, Vec<String>> {
        let directory: Directory = Figment::new()
            .merge(Toml::file_exact(path))
            .extract()
            .map_err(|e| describe(e, path))?;
        let problems: Vec<String> = directory
            .validate()
            .into_iter()
            .map(|p| format!("{}: {p}", path.display()))
            .collect();
        if problems.is_empty() {
            Ok(directory)
        } else {
            Err(problems)
        }
    }
}

/// The whole configuration as read from the settings file and the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub traces: TraceSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub delivery: DeliverySettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default)]
    pub recording: RecordingSettings,
    #[serde(default)]
    pub statistics: StatisticsSettings,
    #[serde(default)]
    pub audit: AuditSettings,
    #[serde(default)]
    pub riv: RivSettings,
    #[serde(default)]
    pub console: ConsoleSettings,
    /// The organisation directory, relative to the settings file.
    #[serde(default = "default_organisations_file")]
    pub organisations_file: PathBuf,
    /// The mapping data (format contracts and code tables), relative to the settings file.
    #[serde(default = "default_mappings_dir")]
    pub mappings_dir: PathBuf,
    /// The deadline policies in force, relative to the settings file: every `*.toml` of the
    /// mappings folder's `policies/` when empty (the default), else exactly these files.
    #[serde(default)]
    pub policy_files: Vec<PathBuf>,
    /// Loaded from `organisations_file`.
    #[serde(skip)]
    pub directory: Directory,
    /// Loaded from `auth.clients_file`.
    #[serde(skip)]
    pub clients: Vec<crate::auth::Client>,
    /// The clients file they were loaded from, read again by the gateway when it changes.
    #[serde(skip)]
    pub clients_source: Option<PathBuf>,
    /// Loaded from `auth.accounts_file`.
    #[serde(skip)]
    pub accounts: Vec<crate::auth::Account>,
    /// Loaded from `delivery.subscriptions_file`.
    #[serde(skip)]
    pub subscriptions: crate::delivery::Subscriptions,
    /// The settings file this was read from.
    #[serde(skip)]
    pub source: PathBuf,
}

fn default_organisations_file() -> PathBuf {
    PathBuf::from("organisations.toml")
}

fn default_mappings_dir() -> PathBuf {
    PathBuf::from("../../mappings")
}

impl Settings {
    /// The token endpoint's URL (`auth.token_url`, or derived from `server.public_base_url`
    /// or `server.listen`).
    pub fn token_url(&self) -> String {
        self.token_url_at(self.server.listen)
    }

    /// As `token_url`, for a gateway bound to `bound` (the port chosen when `listen` names 0).
    pub fn token_url_at(&self, bound: SocketAddr) -> String {
        let scheme = if self.server.tls.is_some() {
            "https"
        } else {
            "http"
        };
        match (&self.auth.token_url, &self.server.public_base_url) {
            (Some(url), _) => url.clone(),
            (None, Some(base)) => format!("{}/auth/token", base.trim_end_matches('/')),
            (None, None) => format!("{scheme}://{bound}/auth/token"),
        }
    }

    /// A path of the settings, resolved relative to the settings file.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.source.parent().unwrap_or(Path::new(".")).join(path)
    }

    /// These settings with `overrides` (a table shaped like the settings file) laid over
    /// them, as a scenario states its own; what is loaded from files (the directory, clients,
    /// subscriptions) is kept. Errors name the key, with `origin` as the file.
    pub fn with_overrides(
        &self,
        overrides: &toml::Table,
        origin: &Path,
    ) -> Result<Settings, Vec<String>> {
        let mut merged: Settings = Figment::new()
            .merge(figment::providers::Serialized::defaults(self))
            .merge(figment::providers::Serialized::defaults(overrides))
            .extract()
            .map_err(|e| describe(e, origin))?;
        merged.directory = self.directory.clone();
        merged.clients = self.clients.clone();
        merged.clients_source = self.clients_source.clone();
        merged.accounts = self.accounts.clone();
        merged.subscriptions = self.subscriptions.clone();
        merged.source = self.source.clone();
        Ok(merged)
    }

    /// The key that signs the audit log's checkpoints, if one is configured.
    pub fn anchor_key(&self) -> Result<Option<crate::anchor::AnchorKey>, ConfigError> {
        self.audit
            .anchor_key_file
            .as_ref()
            .map(|file| crate::anchor::AnchorKey::load(&self.resolve(file)))
            .transpose()
            .map_err(|e| ConfigError::Invalid(vec![e]))
    }

    /// The secret of the de-identified export's pseudonyms (`statistics.pseudonym_key_file`).
    pub fn pseudonym_key(&self) -> Result<Vec<u8>, ConfigError> {
        let Some(file) = &self.statistics.pseudonym_key_file else {
            return Err(ConfigError::Invalid(vec![
                "statistics.pseudonym_key_file is not set: the de-identified export needs a \
                 secret of at least 32 bytes, so that a case keeps its pseudonym from one \
                 export to the next"
                    .to_owned(),
            ]));
        };
        let path = self.resolve(file);
        let key = std::fs::read(&path).map_err(|e| {
            ConfigError::Invalid(vec![format!(
                "statistics.pseudonym_key_file {}: cannot be read: {e}",
                path.display()
            )])
        })?;
        if key.len() < 32 {
            return Err(ConfigError::Invalid(vec![format!(
                "statistics.pseudonym_key_file {}: {} bytes; at least 32 are needed",
                path.display(),
                key.len()
            )]));
        }
        Ok(key)
    }

    /// The secret that signs access tokens: from `auth.token_key_file`, or random.
    pub fn token_key(&self) -> Result<Vec<u8>, ConfigError> {
        match &self.auth.token_key_file {
            Some(file) => {
                let file = self.source.parent().unwrap_or(Path::new(".")).join(file);
                let key = std::fs::read(&file).map_err(|e| {
                    ConfigError::Invalid(vec![format!(
                        "auth.token_key_file {}: {e}",
                        file.display()
                    )])
                })?;
                let key = key.trim_ascii().to_vec();
                if key.len() < 32 {
                    return Err(ConfigError::Invalid(vec![format!(
                        "auth.token_key_file {}: the secret is {} bytes; it must be at least 32",
                        file.display(),
                        key.len()
                    )]));
                }
                Ok(key)
            }
            None => crate::auth::random_key().map_err(|e| ConfigError::Invalid(vec![e])),
        }
    }

    /// The mappings folder, resolved relative to the settings file.
    pub fn mappings_path(&self) -> PathBuf {
        self.source
            .parent()
            .unwrap_or(Path::new("."))
            .join(&self.mappings_dir)
    }

    /// Loads and checks the mapping data; a broken file stops start-up with its name and entry.
    pub fn load_mappings(&self) -> Result<crate::formats::Mappings, ConfigError> {
        let policy_files: Vec<PathBuf> =
            self.policy_files.iter().map(|p| self.resolve(p)).collect();
        crate::formats::Mappings::load_with_policies(&self.mappings_path(), &policy_files)
            .map_err(|e| ConfigError::Invalid(vec![e.to_string()]))
    }

    /// Reads the settings file, applies `BRYGGA_SECTION__KEY` environment overrides, reads the
    /// organisation directory and validates both.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        Self::load_with_env(path, Env::prefixed("BRYGGA_"))
    }

    fn load_with_env(path: &Path, env: Env) -> Result<Settings, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError::NotFound {
                path: path.to_owned(),
            });
        }
        // BRYGGA_CONFIG names the file itself and BRYGGA_TEST_* belong to the test tooling.
        let env = env
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                key != "config" && !key.starts_with("test_")
            })
            .split("__");
        let mut settings: Settings = Figment::new()
            .merge(Toml::file_exact(path))
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(e, path)))?;
        settings.source = path.to_owned();

        let directory_path = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&settings.organisations_file);
        if !directory_path.is_file() {
            return Err(ConfigError::Invalid(vec![format!(
                "{}: organisations_file {} not found (resolved relative to the settings file)",
                path.display(),
                directory_path.display()
            )]));
        }
        let mut problems = Vec::new();
        match Directory::load(&directory_path) {
            Ok(directory) => settings.directory = directory,
            Err(found) => problems.extend(found),
        }
        match &settings.audit.anchor_key_file {
            Some(file) => {
                let file = path.parent().unwrap_or(Path::new(".")).join(file);
                if let Err(problem) = crate::anchor::AnchorKey::load(&file) {
                    problems.push(format!("{}: audit.anchor_key_file: {problem}", path.display()));
                }
            }
            None if settings.retention.audit_days > 0 => problems.push(format!(
                "{}: retention.audit_days needs audit.anchor_key_file: audit records are deleted only below a checkpoint signed with it",
                path.display()
            )),
            None => {}
        }
        if settings.audit.checkpoint_minutes == 0 {
            problems.push(format!(
                "{}: audit.checkpoint_minutes must be at least 1",
                path.display()
            ));
        }
        if let Some(base) = &settings.server.public_base_url
            && let Err(problem) = crate::http::parse_base(base)
        {
            problems.push(format!(
                "{}: server.public_base_url: {problem}",
                path.display()
            ));
        }
        for proxy in &settings.server.trusted_proxies {
            if let Err(problem) = crate::http::parse_proxy(proxy) {
                problems.push(format!(
                    "{}: server.trusted_proxies: {problem}",
                    path.display()
                ));
            }
        }
        let url = &settings.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problems.push(format!(
                "{}: database.url must start with sqlite:, postgres:// or postgresql://",
                path.display()
            ));
        }
        if problems.is_empty() {
            match beside(
                path,
                settings.auth.clients_file.as_deref(),
                "clients.toml",
                "auth.clients_file",
            ) {
                Ok(Some(file)) => match crate::auth::load_clients(&file, &settings.directory) {
                    Ok(clients) => {
                        settings.clients = clients;
                        settings.clients_source = Some(file);
                    }
                    Err(found) => problems.extend(found),
                },
                Ok(None) => {}
                Err(problem) => problems.push(problem),
            }
            match beside(
                path,
                settings.auth.accounts_file.as_deref(),
                "accounts.toml",
                "auth.accounts_file",
            ) {
                Ok(Some(file)) => match crate::auth::load_accounts(&file, &settings.directory) {
                    Ok(accounts) => settings.accounts = accounts,
                    Err(found) => problems.extend(found),
                },
                Ok(None) => {}
                Err(problem) => problems.push(problem),
            }
            match beside(
                path,
                settings.delivery.subscriptions_file.as_deref(),
                "subscriptions.toml",
                "delivery.subscriptions_file",
            ) {
                Ok(Some(file)) => {
                    match crate::delivery::load_subscriptions(&file, &settings.directory) {
                        Ok(subscriptions) => settings.subscriptions = subscriptions,
                        Err(found) => problems.extend(found),
                    }
                }
                Ok(None) => {}
                Err(problem) => problems.push(problem),
            }
        }
        problems.extend(
            settings
                .console
                .problems()
                .into_iter()
                .map(|p| format!("{}: {p}", path.display())),
        );
        problems.extend(
            settings
                .riv
                .problems()
                .into_iter()
                .map(|p| format!("{}: {p}", path.display())),
        );
        if let Some(anchors) = &settings.riv.trust_anchors_file {
            let file = path.parent().unwrap_or(Path::new(".")).join(anchors);
            if let Err(problem) = crate::http::trust_anchors(&file) {
                problems.push(format!(
                    "{}: riv.trust_anchors_file: {problem}",
                    path.display()
                ));
            }
        }
        problems.extend(
            settings
                .traces
                .problems()
                .into_iter()
                .map(|p| format!("{}: {p}", path.display())),
        );
        if settings.delivery.batch == 0 || settings.delivery.lease_seconds == 0 {
            problems.push(format!(
                "{}: delivery.batch and delivery.lease_seconds must be at least 1",
                path.display()
            ));
        }
        let client_ca = settings
            .server
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca_file.is_some());
        for client in &settings.clients {
            if !client.certificates.is_empty() && !client_ca {
                problems.push(format!(
                    "{}: client {} is bound to client certificates, but server.tls.client_ca_file is not set, so no certificate can be presented",
                    path.display(),
                    client.client_id
                ));
            }
        }
        if settings.auth.token_lifetime_seconds == 0 || settings.auth.token_lifetime_seconds > 3600
        {
            problems.push(format!(
                "{}: auth.token_lifetime_seconds must be between 1 and 3600 (access tokens are short-lived)",
                path.display()
            ));
        }
        if settings.database.max_connections == 0 {
            problems.push(format!(
                "{}: database.max_connections must be at least 1",
                path.display()
            ));
        }
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// A file the settings name (`configured`, relative to the settings file), or the one named
/// `default` beside it if it exists. `Ok(None)` when neither is set nor there; an error when the
/// configured one (key `key`) is missing.
fn beside(
    settings_file: &Path,
    configured: Option<&Path>,
    default: &str,
    key: &str,
) -> Result<Option<PathBuf>, String> {
    let folder = settings_file.parent().unwrap_or(Path::new("."));
    let file = folder.join(configured.unwrap_or(Path::new(default)));
    if file.is_file() {
        Ok(Some(file))
    } else if configured.is_some() {
        Err(format!(
            "{}: {key} {} not found (resolved relative to the settings file)",
            settings_file.display(),
            file.display()
        ))
    } else {
        Ok(None)
    }
}

/// One line per figment error: the file (or environment variable), the key and the problem.
fn describe(error: figment::Error, file: &Path) -> Vec<String> {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.iter().fold(String::new(), |mut key, segment| {
                if segment.parse::<usize>().is_ok() {
                    key.push_str(&format!("[{segment}]"));
                } else {
                    if !key.is_empty() {
                        key.push('.');
                    }
                    key.push_str(segment);
                }
                key
            });
            let source = match e.metadata.as_ref() {
                Some(m) if m.name.contains("environment") => {
                    format!(
                        "environment variable BRYGGA_{}",
                        key.to_uppercase().replace('.', "__")
                    )
                }
                _ => file.display().to_string(),
            };
            let what = match &e.kind {
                figment::error::Kind::UnknownField(field, _) => match retired(&key) {
                    Some(why) => format!("`{key}` is no longer a setting: {why}; remove it"),
                    None => format!("unknown key `{field}`"),
                },
                other => other.to_string(),
            };
            if key.is_empty() {
                format!("{source}: {what}")
            } else {
                format!("{source}: key `{key}`: {what}")
            }
        })
        .collect()
}

/// Settings that earlier versions read, and why they are gone: an operator upgrading is told
/// what to do rather than only that the key is unknown.
fn retired(key: &str) -> Option<&'static str> {
    match key {
        "database.sqlite_wal_sync" | "database.postgres_wal_sync" => Some(
            "every batch's commit now waits for the disk itself (the gateway's own log sync was measured to gain nothing and removed)",
        ),
        _ => None,
    }
}

mod console;
mod riv;
#[cfg(test)]
mod tests;
mod traces;
pub use console::ConsoleSettings;
pub use riv::RivSettings;
pub use traces::TraceSettings;
