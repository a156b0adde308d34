//! The web console's pages with a national-scale store: each page's answer time, p50 and p99,
//! over real HTTP on loopback, with `CONSOLE_CASES` cases loaded (default 100,000).
//!
//! `cargo bench --bench console` loads the cases (admission notices of as many people, admitted
//! now, posted by the region's Cosmic Link client as fast as they are accepted; Östersund's subscription
//! paused first, so that their 100,000 deliveries wait in the queue as a backlog would), reports
//! a deviation on every hundredth case, signs in an operator and coordinators, and then asks
//! each page `CONSOLE_REQUESTS` times (default 50), one request at a time:
//! - the overview, as the operator (the queue, the breakers, the deadlines due, deviations);
//! - the deliveries page, as the operator (the newest hundred of the backlog);
//! - the deviations list, as Östersund's coordinator (each case read and audited);
//! - a person's cases, found by personnummer, as Östersund's coordinator;
//! - a case's timeline, of a random case, as the region's coordinator;
//! - the statistics page (six months of every chart), as the region's coordinator;
//!
//! and then how long the gateway takes at start to read every case's statistics facts, and
//! the memory they take.
//!
//! On SQLite (a temporary file) and, with `BRYGGA_TEST_POSTGRES_URL` set, on PostgreSQL.

use std::time::Instant;

use brygga::clock::Clock;
use brygga::startup::Application;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/http.rs"]
mod http_support;
use http_support::{
    Picks, client, load_people, on_each_backend, percentile, personnummer, settings, token_as,
};

const PASSWORD: &str = "a long enough password";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Signs in `username`; the session cookie.
async fn sign_in(client: &reqwest::Client, base: &str, username: &str) -> String {
    let response = client
        .post(format!("{base}/console/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([("username", username), ("password", PASSWORD)]).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{username} signs in");
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// The session's CSRF token, from a page's sign-out form.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// Asks `request(i)` `count` times, one at a time; prints p50 and p99 (and the largest answer).
async fn measure<F, Fut>(name: &str, count: usize, request: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let mut latencies = Vec::with_capacity(count);
    let mut largest = 0usize;
    for i in 0..count {
        let began = Instant::now();
        let response = request(i).await;
        let status = response.status();
        let body = response.bytes().await.unwrap();
        latencies.push(began.elapsed());
        assert!(status.is_success(), "{name} {i}: answered {status}");
        largest = largest.max(body.len());
    }
    latencies.sort();
    println!(
        "  {name}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({count} requests, up to {} kB)",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies
            .last()
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0),
        largest / 1024
    );
}

async fn run(backend: &str, database: &str, dir: &std::path::Path, template: &str) {
    let cases = env_number("CONSOLE_CASES", 100_000);
    let count = env_number("CONSOLE_REQUESTS", 50);
    let mut settings = settings(database, dir, "http://127.0.0.1:9/unused");
    let file = dir.join(format!("accounts-{backend}.toml"));
    for (username, organisation, role) in [
        ("anna", "SE2321000214-1000", brygga::auth::Role::Operator),
        ("rut", "SE2321000214-1000", brygga::auth::Role::Coordinator),
        ("karin", "2380", brygga::auth::Role::Coordinator),
    ] {
        brygga::auth::add_account(
            &file,
            &settings.directory,
            brygga::auth::NewAccount {
                username,
                name: username,
                organisation,
                role,
                county_statistics: false,
                password: PASSWORD,
            },
        )
        .unwrap();
    }
    settings.accounts = brygga::auth::load_accounts(&file, &settings.directory).unwrap();
    let app = Application::build_with_clock(settings, Clock::System)
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let store = app.store().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    println!("{backend}, {cases} cases:");
    let http = client();
    let anna = sign_in(&http, &base, "anna").await;
    let overview = http
        .get(format!("{base}/console/deliveries"))
        .header("cookie", &anna)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The subscription paused: its deliveries wait, a backlog the pages must carry.
    let paused = http
        .post(format!("{base}/console/subscriptions/ostersund/pause"))
        .header("cookie", &anna)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", csrf(&overview)))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 303, "the subscription is paused");

    let region = token_as(&base, jiff::Timestamp::now(), "region-jh-cosmic").await;
    // Admitted now: a backlog of fresh steps, none past its deadline (a held step near its
    // deadline raises a deviation, which is not what this harness measures).
    let now = {
        use brygga::process::calendar::{local_date, start_of};
        let at = jiff::Timestamp::now();
        let today = local_date(at);
        let seconds = at.duration_since(start_of(today)).as_secs();
        format!(
            "{today}T{:02}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    };
    let template = template
        .replace("2026-11-20T08:05:00", &now)
        .replace("2026-11-20T08:40:00", &now);
    let ids = load_people(&base, &region, &template, cases, "CONS", "case_id").await;
    // A deviation on every hundredth case, the ward's to Östersund's social services.
    for (n, case) in ids.iter().enumerate().step_by(100) {
        let response = http
            .post(format!("{base}/cases/{case}/deviations"))
            .bearer_auth(&region)
            .json(&serde_json::json!({
                "deviation_id": format!("AVV-{n:07}"),
                "by": {"type": "region_unit", "hsa_id": "SE2321000214-E1AV"},
                "addressed_to": {"type": "municipality", "kommunkod": "2380", "unit": "SE2120002411-BIST"},
                "description": "Kallelsen besvarades inte."
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "deviation {n}");
    }
    // (Signed in again: the first session has been idle through the load.)
    let anna = sign_in(&http, &base, "anna").await;
    let rut = sign_in(&http, &base, "rut").await;
    let karin = sign_in(&http, &base, "karin").await;
    let page = |path: String, cookie: String| {
        let http = http.clone();
        async move {
            http.get(path)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    measure("overview (operator)", count, |_| {
        page(format!("{base}/console"), anna.clone())
    })
    .await;
    measure("deliveries (operator)", count, |_| {
        page(format!("{base}/console/deliveries"), anna.clone())
    })
    .await;
    measure("deviations (coordinator)", count, |_| {
        page(format!("{base}/console/deviations"), karin.clone())
    })
    .await;
    let search = page(format!("{base}/console/cases"), karin.clone())
        .await
        .text()
        .await
        .unwrap();
    let token = csrf(&search);
    measure("a person's cases (coordinator)", count, |i| {
        let n = Picks(i as u64 * 40_503 + 7).next(cases);
        let body = serde_urlencoded::to_string([
            ("csrf", token.as_str()),
            ("person", personnummer(n).as_str()),
            ("purpose", "planning"),
        ])
        .unwrap();
        let (http, karin) = (http.clone(), karin.clone());
        let url = format!("{base}/console/cases");
        async move {
            http.post(url)
                .header("cookie", karin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    })
    .await;
    measure("a case's timeline (coordinator)", count, |i| {
        let case = &ids[Picks(i as u64 * 2_654_435_761 + 1).next(cases)];
        page(
            format!("{base}/console/cases/{case}?purpose=planning"),
            rut.clone(),
        )
    })
    .await;
    measure("statistics, six months (coordinator)", count, |_| {
        page(format!("{base}/console/statistics"), rut.clone())
    })
    .await;
    // What the gateway does once at start: every case's statistics facts read from the store.
    let resident = || -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    };
    let (before, began) = (resident(), Instant::now());
    let projection = brygga::pipeline::projection::StatsProjection::new();
    let held = projection.current(&store).await.unwrap();
    println!(
        "  statistics facts loaded at start: {} cases in {:.0} ms, resident memory {:+.1} MB",
        held.len(),
        began.elapsed().as_secs_f64() * 1000.0,
        (resident() as f64 - before as f64) / 1024.0
    );
    drop(held);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

fn main() {
    on_each_backend("console", |backend, database, dir, template| async move {
        run(backend, &database, &dir, &template).await
    });
}
