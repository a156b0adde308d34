//! What the HTTP harnesses share: the example settings with one subscription, admission notices
//! that each open a case of their own, an access token for the region's Cosmic Link client,
//! and a PostgreSQL database of the harness's own.

use std::time::Duration;

use brygga::config::{Settings, TlsSettings};

pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The admission notice example as message `n`: a case (and message id) of its own.
#[allow(dead_code)]
pub fn admission(template: &str, n: usize, tag: &str) -> Vec<u8> {
    template
        .replace("CL-2026-0001", &format!("CL-{tag}-{n:07}"))
        .replace("SA-2026-004711", &format!("SA-{tag}-{n:07}"))
        .into_bytes()
}

/// The example settings on `database`, quiet, with Östersund subscribed to admission notices
/// at `inbox` (canonical format).
#[allow(dead_code)]
pub fn settings(database: &str, dir: &std::path::Path, inbox: &str) -> Settings {
    let mut settings = Settings::load(&root().join("deploy/config/brygga.toml")).unwrap();
    settings.server.listen = "127.0.0.1:0".parse().unwrap();
    settings.server.tls = None::<TlsSettings>;
    settings.database.url = database.to_owned();
    settings.database.max_connections = 8;
    settings.log.level = "warn".to_owned();
    let file = dir.join("subscriptions.toml");
    std::fs::write(
        &file,
        format!(
            "[[subscription]]\nid = \"ostersund\"\norganisation = \"2380\"\nendpoint = \"{inbox}\"\nformat = \"canonical\"\nevents = [\"admission_notice\"]\n"
        ),
    )
    .unwrap();
    settings.subscriptions =
        brygga::delivery::load_subscriptions(&file, &settings.directory).unwrap();
    settings
}

/// An access token for the region's Cosmic Link client from the gateway at `base`, whose clock
/// reads `now`.
#[allow(dead_code)]
pub async fn token(base: &str, now: jiff::Timestamp) -> String {
    token_as(base, now, "region-jh-cosmic").await
}

/// An access token for the example client `client_id` (its key in `example-keys/`).
pub async fn token_as(base: &str, now: jiff::Timestamp, client_id: &str) -> String {
    let pem =
        std::fs::read(root().join(format!("deploy/config/example-keys/{client_id}.pem"))).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES384);
    header.kid = Some(format!("{client_id}-1"));
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id,
        "aud": format!("{base}/auth/token"), "exp": now.as_second() + 120,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let assertion = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap(),
    )
    .unwrap();
    let body = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ])
    .unwrap();
    let response: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["access_token"].as_str().unwrap().to_owned()
}

/// With `BRYGGA_TEST_POSTGRES_URL` set, a new database `{prefix}_{pid}` on that cluster (so that
/// earlier runs do not count; their databases are dropped), after a checkpoint (so that none of
/// the earlier runs', or the test suite's, writes is flushed in the measured window: on a shared
/// cluster with thousands of test databases one checkpoint's sync phase took ten seconds, and a
/// latency phase it overlapped had a p99 of 0.3–1.1 s); its URL.
pub async fn fresh_postgres(prefix: &str) -> Option<String> {
    let url = std::env::var("BRYGGA_TEST_POSTGRES_URL").ok()?;
    let name = format!("{prefix}_{}", std::process::id());
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&url).await.unwrap();
    // Earlier runs' databases go: they would only keep the cluster's background work busy.
    let earlier: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{prefix}\\_%"))
            .fetch_all(&admin)
            .await
            .unwrap();
    for old in earlier {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {old}"
        )))
        .execute(&admin)
        .await
        .unwrap();
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("CHECKPOINT").execute(&admin).await.unwrap();
    admin.close().await;
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&url);
    Some(format!("{base}/{name}"))
}

/// The `n`-th person: a valid ten-digit personnummer (born 1940 onwards, serials 100–899).
#[allow(dead_code)]
pub fn personnummer(n: usize) -> String {
    let born = jiff::civil::date(1940, 1, 1)
        .checked_add(jiff::Span::new().days((n / 800) as i64))
        .unwrap();
    let digits = format!(
        "{:02}{:02}{:02}{:03}",
        born.year() % 100,
        born.month(),
        born.day(),
        100 + n % 800
    );
    let sum: u32 = digits
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap() * if i % 2 == 0 { 2 } else { 1 };
            d / 10 + d % 10
        })
        .sum();
    format!("{}-{}{}", &digits[..6], &digits[6..], (10 - sum % 10) % 10)
}

/// A small deterministic generator, so that runs ask for the same cases.
#[allow(dead_code)]
pub struct Picks(pub u64);

#[allow(dead_code)]
impl Picks {
    pub fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

#[allow(dead_code)]
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Connections the loaders keep.
const LOADERS: usize = 64;

/// A client that follows no redirects and keeps a connection per loader.
#[allow(dead_code)]
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(LOADERS)
        .build()
        .unwrap()
}

/// The admission notice example as case `n` of person `n`: a personnummer, a case and a
/// message id of its own (`tag` keeps harnesses apart).
#[allow(dead_code)]
pub fn person_admission(template: &str, n: usize, tag: &str) -> Vec<u8> {
    template
        .replace("811218-9876", &personnummer(n))
        .replace("CL-2026-0001", &format!("CL-{tag}-{n:07}"))
        .replace("SA-2026-004711", &format!("SA-{tag}-{n:07}"))
        .into_bytes()
}

/// Posts `cases` admissions of as many people through `LOADERS` connections, as fast as they
/// are accepted; answers each receipt's `field` (`case_id`, `event_id`), in order.
#[allow(dead_code)]
pub async fn load_people(
    base: &str,
    token: &str,
    template: &str,
    cases: usize,
    tag: &str,
    field: &str,
) -> Vec<String> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let client = client();
    let next = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(std::sync::Mutex::new(vec![String::new(); cases]));
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..LOADERS {
        let (client, next, ids) = (client.clone(), next.clone(), ids.clone());
        let url = format!("{base}/cosmic-link/v1/messages");
        let (token, template, tag, field) = (
            token.to_owned(),
            template.to_owned(),
            tag.to_owned(),
            field.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= cases {
                    break;
                }
                let receipt: serde_json::Value = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/xml")
                    .body(person_admission(&template, n, &tag))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let id = receipt[field.as_str()]
                    .as_str()
                    .unwrap_or_else(|| panic!("admission {n} was not accepted: {receipt}"));
                ids.lock().unwrap()[n] = id.to_owned();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "  loaded {cases} cases in {elapsed:.0} s ({:.0} admissions/s)",
        cases as f64 / elapsed
    );
    Arc::try_unwrap(ids).unwrap().into_inner().unwrap()
}

/// Runs `run(backend, database URL, a temporary folder, the example admission)` on SQLite (the
/// file `{name}.db` in the folder) and then, when `BRYGGA_TEST_POSTGRES_URL` is set, on a fresh
/// PostgreSQL database: a harness's `main`.
#[allow(dead_code)]
pub fn on_each_backend<F, Fut>(name: &str, run: F)
where
    F: Fn(&'static str, String, std::path::PathBuf, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let template = std::fs::read_to_string(
            root().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!(
            "sqlite://{}",
            dir.path().join(format!("{name}.db")).display()
        );
        run("SQLite", sqlite, dir.path().to_owned(), template.clone()).await;
        if let Some(database) = fresh_postgres(name).await {
            run("PostgreSQL", database, dir.path().to_owned(), template).await;
        }
    });
}
