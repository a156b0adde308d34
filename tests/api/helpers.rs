//! Spawning the gateway in-process and as a child process, with bounded waits.
//!
//! Past 700 lines: the one harness every API test uses (the gateway, its clients and tokens,
//! local receivers, bounded waits); split, its pieces would be imported together anyway.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use brygga::clock::Clock;
use brygga::config::{AuthSettings, DatabaseSettings, LogSettings, ServerSettings, Settings};
use brygga::startup::Application;
use brygga::store::Store;

/// The Cosmic Link example `name` (`mappings/cosmic-link/examples/`).
/// Hemsjukvården (Östersund) reporting that it started planning in the first story's case,
/// as a municipal vendor's FHIR integration sends it: a Task whose message id is `message`.
pub fn planning_started_task(message: &str) -> serde_json::Value {
    let hemsjukvarden = serde_json::json!({
        "type": "Organization",
        "identifier": { "system": "urn:oid:1.2.752.29.4.19", "value": "SE2120002411-HSJV" },
        "extension": [{
            "url": "urn:brygga:fhir:StructureDefinition:municipality",
            "valueIdentifier": { "system": "urn:oid:1.2.752.129.2.2.1.17", "value": "2380" }
        }]
    });
    serde_json::json!({
        "resourceType": "Task",
        "identifier": [{ "system": "urn:oid:1.2.752.129.2.2.1.17.2380.msg", "value": message }],
        "groupIdentifier": {
            "system": "urn:brygga:case-reference:SE2321000214-1000",
            "value": "SA-2026-004711"
        },
        "status": "in-progress",
        "intent": "order",
        "code": { "coding": [{
            "system": "urn:brygga:fhir:CodeSystem:process-step",
            "code": "planning-started"
        }]},
        "for": { "identifier": {
            "system": "http://electronichealth.se/identifier/personnummer",
            "value": "198112189876"
        }},
        "authoredOn": "2026-11-23T13:05:00+01:00",
        "requester": hemsjukvarden.clone(),
        "owner": hemsjukvarden,
    })
}

pub fn cosmic_example(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("mappings/cosmic-link/examples").join(name)).unwrap()
}

/// The repository root (where `deploy/config` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn test_settings(dir: &Path) -> Settings {
    let mut settings = Settings {
        server: ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ServerSettings::default()
        },
        database: DatabaseSettings {
            url: format!("sqlite://{}", dir.join("brygga.db").display()),
            ..DatabaseSettings::default()
        },
        log: LogSettings::default(),
        traces: Default::default(),
        auth: AuthSettings::default(),
        delivery: Default::default(),
        retention: Default::default(),
        recording: Default::default(),
        statistics: Default::default(),
        audit: Default::default(),
        riv: Default::default(),
        console: Default::default(),
        organisations_file: PathBuf::from("organisations.toml"),
        mappings_dir: repo_root().join("mappings"),
        policy_files: Vec::new(),
        // The example organisations (Jämtland), with their deviation contacts.
        directory: toml::from_str(
            &std::fs::read_to_string(repo_root().join("deploy/config/organisations.toml"))
                .expect("the example organisations"),
        )
        .expect("the example organisations parse"),
        clients: Vec::new(),
        clients_source: None,
        accounts: Vec::new(),
        subscriptions: Default::default(),
        source: dir.join("brygga.toml"),
    };
    // The example clients, with their example keys.
    settings.clients = brygga::auth::load_clients(
        &repo_root().join("deploy/config/clients.toml"),
        &settings.directory,
    )
    .expect("the example clients load");
    settings
}

/// A gateway serving on a free loopback port until the returned handle is dropped.
pub struct TestApp {
    pub address: SocketAddr,
    pub store: Store,
    /// Unauthenticated: for the open endpoints and for attacks.
    pub client: reqwest::Client,
    pub clock: Clock,
    /// What the gateway counts, to wait for a count to change (`/metrics` shows it).
    pub metrics: brygga::telemetry::Metrics,
    /// Whether it speaks HTTPS (`server.tls`, the test CA's certificate).
    pub tls: bool,
    database_url: String,
    clients:
        tokio::sync::Mutex<std::collections::HashMap<String, (reqwest::Client, jiff::Timestamp)>>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// The example clients (deploy/config/clients.toml) the tests act as.
pub const REGION: &str = "region-jh-cosmic";
pub const OSTERSUND: &str = "ostersund-treserva";
pub const KROKOM: &str = "krokom-lifecare";
pub const STROMSUND: &str = "stromsund-combine";
pub const AUDITOR: &str = "brygga-auditor";

/// The example client that acts for `kommunkod`'s municipality.
pub fn municipal_client(kommunkod: &str) -> &'static str {
    match kommunkod {
        "2380" => OSTERSUND,
        "2309" => KROKOM,
        "2313" => STROMSUND,
        other => panic!("no example client acts for municipality {other}"),
    }
}

/// A client assertion for `client_id`, signed with its example private key (ES384 or RS384,
/// as its JWKS says), for the token endpoint `aud`, issued at `now`.
pub fn assertion(client_id: &str, aud: &str, now: jiff::Timestamp, jti: &str) -> String {
    let key_path = repo_root()
        .join("deploy/config/example-keys")
        .join(format!("{client_id}.pem"));
    let pem = std::fs::read(&key_path).expect("example private key");
    let jwks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root()
                .join("deploy/config/clients")
                .join(format!("{client_id}.jwks.json")),
        )
        .expect("example JWKS"),
    )
    .unwrap();
    let jwk = &jwks["keys"][0];
    let (alg, key) = match jwk["kty"].as_str() {
        Some("RSA") => (
            jsonwebtoken::Algorithm::RS384,
            jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
        ),
        _ => (
            jsonwebtoken::Algorithm::ES384,
            jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap(),
        ),
    };
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = jwk["kid"].as_str().map(str::to_owned);
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": now.as_second() + 120,
        "jti": jti,
    });
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

impl TestApp {
    /// The database the gateway runs on.
    pub fn database_url(&self) -> String {
        self.database_url.clone()
    }

    /// The gateway's URL of `path`; an absolute URL (a link the gateway gave) as it is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_owned();
        }
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.address)
    }

    pub fn token_url(&self) -> String {
        self.url("/auth/token")
    }

    /// Posts a token request with `assertion`; the raw response.
    pub async fn request_token(&self, assertion: &str, scope: Option<&str>) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", assertion.to_owned()),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope.to_owned()));
        }
        self.client
            .post(self.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
            .await
            .unwrap()
    }

    /// An access token for `client_id` (all its scopes, or `scope`), through the token endpoint.
    pub async fn token(&self, client_id: &str, scope: Option<&str>) -> String {
        let jti = uuid::Uuid::new_v4().to_string();
        let response = self
            .request_token(
                &assertion(client_id, &self.token_url(), self.clock.now(), &jti),
                scope,
            )
            .await;
        assert_eq!(response.status(), 200, "token for {client_id}");
        let body: serde_json::Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// An HTTP client that sends `client_id`'s access token with every request (a new token
    /// once the test clock has moved on by most of a token's lifetime).
    pub async fn as_client(&self, client_id: &str) -> reqwest::Client {
        let mut clients = self.clients.lock().await;
        if let Some((client, issued)) = clients.get(client_id)
            && self.clock.now() < *issued + jiff::SignedDuration::from_secs(200)
        {
            return client.clone();
        }
        let token = self.token(client_id, None).await;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        let client = http_client().default_headers(headers).build().unwrap();
        clients.insert(client_id.to_owned(), (client.clone(), self.clock.now()));
        client
    }

    /// The region's Cosmic Link integration.
    pub async fn region(&self) -> reqwest::Client {
        self.as_client(REGION).await
    }

    /// Posts a Cosmic Link message as the region; the raw response.
    pub async fn post_cosmic_link(&self, body: Vec<u8>) -> reqwest::Response {
        self.region()
            .await
            .post(self.url("/cosmic-link/v1/messages"))
            .header("content-type", "application/xml")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Posts `body` as `client` to `path`: the status and the answer's text.
    pub async fn post_text(
        &self,
        client: &str,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, String) {
        let response = self
            .as_client(client)
            .await
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    }

    /// Posts the Cosmic Link example `name`, which must be accepted; its receipt.
    pub async fn post_cosmic_example(&self, name: &str) -> serde_json::Value {
        let response = self.post_cosmic_link(cosmic_example(name)).await;
        assert_eq!(response.status(), 200, "{name}");
        response.json().await.unwrap()
    }

    /// `GET path` as `client`: the status and the JSON answer.
    pub async fn get_json(&self, client: &str, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .as_client(client)
            .await
            .get(self.url(path))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// `method path` with a FHIR JSON body and `headers` as `client`: the status, the headers
    /// and the JSON answer.
    pub async fn send_json(
        &self,
        client: &str,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let mut request = self
            .as_client(client)
            .await
            .request(method, self.url(path))
            .header("content-type", "application/fhir+json")
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.json().await.unwrap())
    }

    /// The example person's consent to a SIP with both principals, recorded by the region.
    /// The person's consent to SIP, recorded by the region and by Östersund: each discloses
    /// SIP information on its own recorded consent.
    pub async fn sip_consent(&self) {
        self.sip_consent_by(REGION).await;
        self.sip_consent_by(OSTERSUND).await;
    }

    /// The person's consent to SIP, recorded through FHIR by `client`'s organisation.
    pub async fn sip_consent_by(&self, client: &str) {
        let (status, _, answer) = self
            .send_json(
                client,
                reqwest::Method::POST,
                "/fhir/Consent",
                &serde_json::json!({
                    "resourceType": "Consent",
                    "status": "active",
                    "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
                    "category": [{ "coding": [{ "system": "urn:brygga:fhir:CodeSystem:consent-scope", "code": "sip" }] }],
                    "patient": { "identifier": { "system": "http://electronichealth.se/identifier/personnummer", "value": "198112189876" } },
                    "dateTime": "2026-11-21",
                    "provision": { "type": "permit" }
                }),
                &[],
            )
            .await;
        assert_eq!(status, 201, "{answer}");
    }

    /// A case opened by the admission notice example; its id.
    pub async fn admitted_case(&self) -> String {
        let receipt = self
            .post_cosmic_example("01-inskrivningsmeddelande.xml")
            .await;
        receipt["case_id"].as_str().unwrap().to_owned()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    // A fixed clock: the example messages' deadlines fall due only when a test moves it, never
    // because of the day the tests run.
    spawn_app_at_with("2026-11-23T12:00:00Z", adjust).await
}

/// The database a test gateway runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// A fresh database in the cluster at `BRYGGA_TEST_POSTGRES_URL` (`scripts/test.sh`
    /// starts one).
    Postgres,
}

/// A fresh PostgreSQL database in the test cluster; its URL.
pub async fn postgres_database() -> String {
    use sqlx::{Connection, Executor};
    let admin = std::env::var("BRYGGA_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "this test runs on PostgreSQL too: run the tests with scripts/test.sh, or set BRYGGA_TEST_POSTGRES_URL (eval \"$(scripts/test-postgres.sh start)\")"
        )
    });
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {admin}: {e}"));
    let name = format!("brygga_api_{}", uuid::Uuid::new_v4().simple());
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create test database");
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin);
    format!("{base}/{name}")
}

/// A gateway on `backend` with the system clock (for what is measured in real seconds:
/// breakers, leases), with `adjust` applied to its settings.
pub async fn spawn_live_on(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(postgres_database().await),
    };
    spawn_with_clock(Clock::System, |settings| {
        if let Some(url) = database {
            settings.database.url = url;
        }
        adjust(settings);
    })
    .await
}

/// A gateway on `backend` (its clock after the examples' first two stories), with `adjust`
/// applied to its settings.
pub async fn spawn_app_on(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(postgres_database().await),
    };
    // After the first two stories' messages, so none of them is dated ahead of the gateway.
    spawn_app_at_with("2026-11-28T12:00:00Z", |settings| {
        if let Some(url) = database {
            settings.database.url = url;
        }
        adjust(settings);
    })
    .await
}

/// A gateway whose clock starts at `now` (and moves only when the test moves it).
pub async fn spawn_app_at(now: &str) -> TestApp {
    spawn_app_at_with(now, |_| {}).await
}

pub async fn spawn_app_at_with(now: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_with_clock(Clock::manual(now.parse().expect("timestamp")), adjust).await
}

async fn spawn_with_clock(clock: Clock, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut settings = test_settings(dir.path());
    adjust(&mut settings);
    let database_url = settings.database.url.clone();
    let tls = settings.server.tls.is_some();
    let app = Application::build_with_clock(settings, clock.clone())
        .await
        .expect("build application");
    let address = app.local_addr().expect("bound address");
    let store = app.store().clone();
    let metrics = app.metrics();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        store,
        client: http_client().build().unwrap(),
        clock,
        metrics,
        tls,
        database_url,
        clients: Default::default(),
        _stop: stop,
        _dir: dir,
    }
}

/// An HTTP client that trusts the test CA (`fixtures/tls/ca.pem`), for a gateway speaking HTTPS.
pub fn http_client() -> reqwest::ClientBuilder {
    let ca = std::fs::read(repo_root().join("fixtures/tls/ca.pem")).expect("the test CA");
    reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
}

/// A free loopback port (bound and released; the OS does not hand it out again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The `brygga` binary as a child process, with its log lines readable as they arrive.
pub struct Gateway {
    pub child: Child,
    pub port: u16,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Gateway {
    /// Starts `brygga serve` with the shipped example configuration, on a free port and a
    /// database in `data_dir`.
    pub fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Gateway {
        Gateway::start_build(
            Path::new(env!("CARGO_BIN_EXE_brygga")),
            &repo_root().join("deploy/config/brygga.toml"),
            data_dir,
            extra_env,
        )
    }

    /// Starts `binary serve` (another build of brygga) with the settings file `config`.
    pub fn start_build(
        binary: &Path,
        config: &Path,
        data_dir: &Path,
        extra_env: &[(&str, &str)],
    ) -> Gateway {
        let port = free_port();
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .env("BRYGGA_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "BRYGGA_DATABASE__URL",
                format!("sqlite://{}", data_dir.join("brygga.db").display()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn brygga");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Gateway {
            child,
            port,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits (at most `limit`) for a log line containing `needle`.
    pub fn wait_for_log(&mut self, needle: &str, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.log.push(line);
                    if found {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// An access token for the region's client, its assertion numbered `jti`.
    pub async fn region_token(&self, jti: &str) -> String {
        let token_url = self.url("/auth/token");
        let form = [
            ("grant_type", "client_credentials".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            (
                "client_assertion",
                assertion(REGION, &token_url, jiff::Timestamp::now(), jti),
            ),
        ];
        let response = reqwest::Client::new()
            .post(&token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Posts a Cosmic Link message with `token`; the answer, or the error of a gateway that
    /// does not answer (killed, stopped).
    pub async fn post_cosmic_link(
        &self,
        token: &str,
        body: Vec<u8>,
    ) -> reqwest::Result<reqwest::Response> {
        reqwest::Client::new()
            .post(self.url("/cosmic-link/v1/messages"))
            .bearer_auth(token)
            .header("content-type", "application/xml")
            .body(body)
            .send()
            .await
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits (at most `limit`) for the process to exit: its stderr closes when it does.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => return None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return self.child.wait().ok(),
            }
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `brygga` binary to completion.
/// A program of the Python tools' virtual environment (`python`, `st`, `kubernetes-validate`),
/// installed by `scripts/python-clients.sh` when missing.
pub fn python_tool(name: &str) -> std::path::PathBuf {
    let output = Command::new(repo_root().join("scripts/python-clients.sh"))
        .output()
        .expect("scripts/python-clients.sh runs");
    assert!(
        output.status.success(),
        "installing the Python tools failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let python = std::path::PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    python.with_file_name(name)
}

/// Runs the client `script` (of `tests/clients/`) with `env`; its JSON summary.
pub async fn run_client(
    script: &'static str,
    env: Vec<(&'static str, String)>,
) -> serde_json::Value {
    run_script(
        python_tool("python"),
        repo_root().join("tests/clients").join(script),
        env,
    )
    .await
}

/// Runs `program script` with `env`; its JSON summary on standard output (a failure shows
/// both outputs).
pub async fn run_script(
    program: PathBuf,
    script: PathBuf,
    env: Vec<(&'static str, String)>,
) -> serde_json::Value {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .arg(&script)
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the script's checks: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `brygga ARGS` on the shipped configuration with its SQLite database at `database`.
pub fn brygga_with_database(database: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(args)
        .current_dir(repo_root())
        .env_remove("BRYGGA_CONFIG")
        .env(
            "BRYGGA_DATABASE__URL",
            format!("sqlite://{}", database.display()),
        )
        .output()
        .expect("run brygga")
}

pub fn run_brygga(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(args)
        .current_dir(repo_root())
        .env_remove("BRYGGA_CONFIG")
        .output()
        .expect("run brygga")
}

/// Copies the folder `from` (recursively) to `to`, e.g. the shipped mappings to adapt them.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

/// One request a test receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: std::collections::HashMap<String, String>,
    /// The body as text (bytes that are not UTF-8 replaced).
    pub body: String,
    /// The body as it came.
    pub bytes: Vec<u8>,
}

/// A receiving system on loopback: records every delivery and answers with the statuses
/// queued by `answer_with` (200 once the queue is empty).
pub struct Receiver {
    pub url: String,
    down_until: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    statuses: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<u16>>>,
    retry_after: std::sync::Arc<std::sync::Mutex<Option<u64>>>,
    arrived: std::sync::Arc<tokio::sync::Notify>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn receiver() -> Receiver {
    serve_receiver(false).await
}

/// A receiving system on loopback over HTTPS (the test CA's `localhost` certificate) that
/// asks for a client certificate: it records the certificate's fingerprint in the header
/// `x-test-client-certificate` and answers 401 to a call without one.
pub async fn tls_receiver() -> Receiver {
    serve_receiver(true).await
}

async fn serve_receiver(tls: bool) -> Receiver {
    use axum::http::{HeaderMap, StatusCode};
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let statuses = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
    let arrived = std::sync::Arc::new(tokio::sync::Notify::new());
    let retry_after = std::sync::Arc::new(std::sync::Mutex::new(None::<u64>));
    let down_until = std::sync::Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
    let (r, s, a, ra, du) = (
        received.clone(),
        statuses.clone(),
        arrived.clone(),
        retry_after.clone(),
        down_until.clone(),
    );
    let router = axum::Router::new().route(
        "/inbox",
        axum::routing::post(
            move |peer: Option<axum::Extension<axum::extract::ConnectInfo<brygga::http::Peer>>>,
                  headers: HeaderMap,
                  bytes: axum::body::Bytes| {
                let (r, s, a, ra, du) = (r.clone(), s.clone(), a.clone(), ra.clone(), du.clone());
                async move {
                    let certificate = peer.and_then(|p| p.0.0.certificate);
                    let mut status = s.lock().unwrap().pop_front().unwrap_or(200);
                    if du
                        .lock()
                        .unwrap()
                        .is_some_and(|until| std::time::Instant::now() < until)
                    {
                        status = 503;
                    }
                    if tls && certificate.is_none() {
                        status = 401;
                    }
                    let mut headers = headers;
                    if let Some(fingerprint) = certificate {
                        headers.insert("x-test-client-certificate", fingerprint.parse().unwrap());
                    }
                    let retry_after = *ra.lock().unwrap();
                    r.lock().unwrap().push(Received {
                        headers: headers
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                            .collect(),
                        body: String::from_utf8_lossy(&bytes).into_owned(),
                        bytes: bytes.to_vec(),
                    });
                    a.notify_waiters();
                    if status == 0 {
                        // Never answers: the caller's timeout must end it.
                        std::future::pending::<()>().await;
                    }
                    let mut headers = HeaderMap::new();
                    if let Some(seconds) = retry_after.filter(|_| status == 429 || status == 503) {
                        headers.insert("retry-after", seconds.to_string().parse().unwrap());
                    }
                    (StatusCode::from_u16(status).unwrap(), headers)
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let url = if tls {
        let tls_dir = repo_root().join("fixtures/tls");
        let settings = brygga::config::TlsSettings {
            certificate_file: tls_dir.join("server.pem"),
            key_file: tls_dir.join("server.key"),
            client_ca_file: Some(tls_dir.join("ca.pem")),
        };
        let config = brygga::http::server_config(&settings, None, |p| p.to_path_buf()).unwrap();
        let listener = brygga::http::TlsListener::new(listener, config).unwrap();
        let service = router.into_make_service_with_connect_info::<brygga::http::Peer>();
        tokio::spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        format!("https://localhost:{port}/inbox")
    } else {
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        format!("http://127.0.0.1:{port}/inbox")
    };
    Receiver {
        url,
        down_until,
        received,
        statuses,
        retry_after,
        arrived,
        _stop: stop,
    }
}

impl Receiver {
    /// Answers 503 to every request for `outage` from now.
    pub fn down_for(&self, outage: Duration) {
        *self.down_until.lock().unwrap() = Some(std::time::Instant::now() + outage);
    }

    /// The next answers, in order (0: hold the request and never answer).
    pub fn answer_with(&self, statuses: &[u16]) {
        self.statuses.lock().unwrap().extend(statuses);
    }

    /// The `Retry-After` (seconds) sent with 429 and 503 answers.
    pub fn retry_after(&self, seconds: u64) {
        *self.retry_after.lock().unwrap() = Some(seconds);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (at most ten seconds) until a request that `wanted` holds has arrived; answers it.
    pub async fn wait_until(&self, wanted: impl Fn(&Received) -> bool) -> Received {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrival = self.arrived.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            if let Some(found) = self.received().into_iter().find(|r| wanted(r)) {
                return found;
            }
            if tokio::time::timeout_at(deadline, arrival).await.is_err() {
                panic!(
                    "the delivery waited for did not arrive within ten seconds ({} others did)",
                    self.received().len()
                );
            }
        }
    }

    /// Waits out `within`, answering as soon as more than `n` requests have arrived: whether
    /// no more than `n` arrived in that time (each arrival is waited on, not polled for).
    pub async fn no_more_than(&self, n: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrival = self.arrived.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            if self.received().len() > n {
                return false;
            }
            if tokio::time::timeout_at(deadline, arrival).await.is_err() {
                return self.received().len() <= n;
            }
        }
    }

    /// Waits (at most ten seconds) until `n` requests have arrived; answers them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrival = self.arrived.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrival).await.is_err() {
                panic!(
                    "{} deliveries arrived within ten seconds, expected {n}",
                    got.len()
                );
            }
        }
    }
}

/// Writes `subscriptions.toml` in `dir`: Östersund's (2380) steps to `url` as canonical JSON,
/// only `events` (all when empty), retried after a second. Answers its path as text.
pub fn ostersund_subscription(dir: &Path, url: &str, events: &[&str]) -> String {
    let path = dir.join("subscriptions.toml");
    let events = if events.is_empty() {
        String::new()
    } else {
        format!("events = {events:?}\n")
    };
    std::fs::write(
        &path,
        format!(
            "[[subscription]]\nid = \"ostersund\"\norganisation = \"2380\"\nendpoint = \"{url}\"\nformat = \"canonical\"\n{events}[subscription.retry]\ninitial_delay_seconds = 1\nmax_delay_seconds = 1\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// A subscription of `organisation` delivering `format` to `url`.
pub fn subscription(
    id: &str,
    organisation: &str,
    url: &str,
    format: &str,
) -> brygga::delivery::Subscription {
    brygga::delivery::Subscription {
        timeout: Duration::from_secs(5),
        retry: brygga::delivery::RetryPolicy {
            initial_delay_seconds: 1,
            max_delay_seconds: 1,
            max_age_hours: 72,
        },
        ..brygga::delivery::Subscription::new(
            id,
            brygga::domain::party::Organisation::parse(organisation).unwrap(),
            url.parse().unwrap(),
            format.parse().unwrap(),
        )
    }
}
