//! Delivery recovers as fast as its receiver: a short outage pauses a subscription for
//! seconds, not minutes (the circuit breaker measures probes, not the backlog, and writes no
//! far-future retry times); a restart delivers what was held at once; a gateway killed
//! mid-delivery takes its deliveries back as it starts (SQLite: its own identity), or another
//! instance does as the short, renewed lease ends (PostgreSQL); and a repeat carries its
//! attempt number and whether an earlier attempt may have reached the receiver.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::helpers::{Backend, Gateway, TestApp, receiver, repo_root, spawn_live_on, subscription};

on_both_backends!(
    a_second_long_outage_holds_deliveries_for_seconds_not_minutes,
    deliveries_held_by_an_open_circuit_go_out_at_once_after_a_restart,
);

/// The admission notice example as the `n`-th of its own case.
fn admission(n: usize, tag: &str) -> Vec<u8> {
    std::fs::read_to_string(
        repo_root().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
    )
    .unwrap()
    .replace("CL-2026-0001", &format!("CL-{tag}-{n:05}"))
    .replace("SA-2026-004711", &format!("SA-{tag}-{n:05}"))
    .into_bytes()
}

/// Posts `count` admission notices, sixteen at a time; answers how many were accepted.
async fn post_admissions(app: &TestApp, count: usize, tag: &str) -> usize {
    let region = app.region().await;
    let url = app.url("/cosmic-link/v1/messages");
    let mut accepted = 0;
    let mut posting = tokio::task::JoinSet::new();
    for n in 0..count {
        let request = region
            .post(&url)
            .header("content-type", "application/xml")
            .body(admission(n, tag));
        posting.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
        if posting.len() >= 16
            && let Some(done) = posting.join_next().await
        {
            accepted += usize::from(done.unwrap().unwrap() == 200);
        }
    }
    while let Some(done) = posting.join_next().await {
        accepted += usize::from(done.unwrap().unwrap() == 200);
    }
    accepted
}

/// A raw connection to `app`'s database.
async fn raw(app: &TestApp) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = app.database_url();
    let url = match url.strip_prefix("sqlite://") {
        Some(path) => format!("sqlite:{path}"),
        None => url,
    };
    sqlx::AnyConnection::connect(&url).await.unwrap()
}

/// Deliveries not yet delivered, and the latest next attempt among them (milliseconds).
async fn undelivered(conn: &mut sqlx::AnyConnection) -> (i64, Option<i64>) {
    use sqlx::Row;
    let row = sqlx::query(
        "SELECT COUNT(*), MAX(next_attempt_at) FROM outbox WHERE status <> 'delivered'",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    (row.get(0), row.get(1))
}

/// Waits (at most `limit`) until every delivery is delivered, checking on the way that no
/// pending row is put off more than `horizon` into the future; answers when it was done.
async fn all_delivered(app: &TestApp, limit: Duration, horizon: Duration) -> Instant {
    let mut conn = raw(app).await;
    let deadline = Instant::now() + limit;
    loop {
        let (pending, latest) = undelivered(&mut conn).await;
        if pending == 0 {
            return Instant::now();
        }
        if let Some(latest) = latest {
            let now = jiff::Timestamp::now().as_millisecond();
            assert!(
                latest <= now + horizon.as_millis() as i64,
                "a pending delivery was put off {} ms into the future",
                latest - now
            );
        }
        assert!(
            Instant::now() < deadline,
            "{pending} deliveries still pending after {} s",
            limit.as_secs()
        );
        // The next look is another query: nothing is waited for but the database's answer.
        tokio::task::yield_now().await;
    }
}

/// Waits (at most `limit`) until at least `n` deliveries have had an attempt recorded.
async fn until_attempted(app: &TestApp, n: i64, limit: Duration) {
    use sqlx::Row;
    let mut conn = raw(app).await;
    let deadline = Instant::now() + limit;
    loop {
        let attempted: i64 = sqlx::query("SELECT COUNT(*) FROM outbox WHERE attempts > 0")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        if attempted >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{attempted} deliveries attempted after {} s, expected {n}",
            limit.as_secs()
        );
        tokio::task::yield_now().await;
    }
}

/// The reproduction of the crash review: admission notices for Östersund while its system
/// answers 503 for one second. The circuit opens after five failures; the failures of the
/// requests already on their way do not grow its pause; its one probe after five seconds
/// succeeds and everything goes — within seconds of the receiver's recovery, and no row is
/// ever put off further than its own retry.
async fn a_second_long_outage_holds_deliveries_for_seconds_not_minutes(backend: Backend) {
    let inbox = receiver().await;
    let url = inbox.url.clone();
    let app = spawn_live_on(backend, move |settings| {
        let mut ostersund = subscription("ostersund", "2380", &url, "canonical");
        ostersund.events = vec!["admission_notice".to_owned()];
        settings.subscriptions.0.push(ostersund);
    })
    .await;
    inbox.down_for(Duration::from_secs(1));
    let recovered = Instant::now() + Duration::from_secs(1);
    let accepted = post_admissions(&app, 1_200, "OUT").await;
    assert_eq!(accepted, 1_200);
    let done = all_delivered(&app, Duration::from_secs(60), Duration::from_secs(3)).await;
    let after = done.saturating_duration_since(recovered);
    assert!(
        after < Duration::from_secs(12),
        "delivered {} ms after the receiver recovered",
        after.as_millis()
    );
    // Each notice to Östersund's two units, each key once applied.
    let keys: BTreeSet<String> = inbox
        .received()
        .iter()
        .map(|r| r.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(keys.len(), 2_400);
}

/// The receiver is down; the circuit opens and holds the deliveries. The gateway is stopped
/// and started again (same database, same identity) as the receiver comes back: nothing of
/// the circuit was stored, the rows kept their own retry schedule, and they go at once.
async fn deliveries_held_by_an_open_circuit_go_out_at_once_after_a_restart(backend: Backend) {
    let inbox = receiver().await;
    let url = inbox.url.clone();
    let shared = tempfile::tempdir().unwrap();
    let database = match backend {
        Backend::Sqlite => format!("sqlite://{}", shared.path().join("brygga.db").display()),
        Backend::Postgres => crate::helpers::postgres_database().await,
    };
    let settings = move |settings: &mut brygga::config::Settings| {
        settings.database.url = database.clone();
        settings.delivery.instance_id = Some("restarted".to_owned());
        let mut ostersund = subscription("ostersund", "2380", &url, "canonical");
        ostersund.events = vec!["admission_notice".to_owned()];
        settings.subscriptions.0.push(ostersund);
    };
    inbox.down_for(Duration::from_secs(3_600));
    let first = spawn_live_on(backend, settings.clone()).await;
    assert_eq!(post_admissions(&first, 50, "RST").await, 50);
    // The circuit opened after five failures; they are recorded before the instance goes.
    let _ = inbox.wait_for(5).await;
    until_attempted(&first, 5, Duration::from_secs(10)).await;
    drop(first);
    inbox.down_for(Duration::ZERO);
    let started = Instant::now();
    let second = spawn_live_on(backend, settings).await;
    let done = all_delivered(&second, Duration::from_secs(30), Duration::from_secs(3)).await;
    let took = done.duration_since(started);
    assert!(
        took < Duration::from_secs(6),
        "delivered {} ms after the restart",
        took.as_millis()
    );
}

/// Writes the subscriptions file of the SIGKILL tests: Östersund's admission notices to
/// `url`, canonical, retried after a second.
fn subscriptions_file(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("subscriptions.toml");
    std::fs::write(
        &path,
        format!(
            "[[subscription]]\nid = \"ostersund\"\norganisation = \"2380\"\nendpoint = \"{url}\"\nformat = \"canonical\"\nevents = [\"admission_notice\"]\ntimeout_seconds = 30\n[subscription.retry]\ninitial_delay_seconds = 1\nmax_delay_seconds = 1\n"
        ),
    )
    .unwrap();
    path
}

/// Posts `count` admission notices to a gateway process; answers how many were accepted.
async fn post_to(gateway: &Gateway, count: usize, tag: &str) -> usize {
    let token = gateway.region_token(&format!("{tag}-token")).await;
    let client = reqwest::Client::new();
    let mut accepted = 0;
    for n in 0..count {
        let response = client
            .post(gateway.url("/cosmic-link/v1/messages"))
            .bearer_auth(&token)
            .header("content-type", "application/xml")
            .body(admission(n, tag))
            .send()
            .await
            .unwrap();
        accepted += usize::from(response.status() == 200);
    }
    accepted
}

/// Waits (at most `limit`) until the receiver has seen `keys` distinct idempotency keys;
/// answers when.
async fn until_keys(inbox: &crate::helpers::Receiver, keys: usize, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        let seen: BTreeSet<String> = inbox
            .received()
            .iter()
            .map(|r| r.headers["idempotency-key"].clone())
            .collect();
        if seen.len() >= keys {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{} of {keys} keys", seen.len());
        let n = inbox.received().len();
        let _ = tokio::time::timeout(Duration::from_millis(200), inbox.wait_for(n + 1)).await;
    }
}

/// SQLite: a gateway killed with SIGKILL while its deliveries wait on a slow receiver. It has
/// an identity of its own, kept beside its database: started again, it takes its claims back
/// at once — the deliveries go out within a couple of seconds, not when a lease ends — and
/// each one it sends again says it may have reached the receiver before, on its second
/// attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_takes_its_deliveries_back_as_it_starts() {
    let inbox = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let subscriptions = subscriptions_file(dir.path(), &inbox.url);
    let env = [
        (
            "BRYGGA_DELIVERY__SUBSCRIPTIONS_FILE",
            subscriptions.to_str().unwrap(),
        ),
        // A long lease: what comes back fast is taken back, not waited out.
        ("BRYGGA_DELIVERY__LEASE_SECONDS", "60"),
    ];
    // The receiver holds the first deliveries without answering: one per case (its second
    // unit's waits behind it, in order).
    inbox.answer_with(&[0; 3]);
    let mut gateway = Gateway::start(dir.path(), &env);
    assert!(gateway.wait_for_log("brygga is serving", Duration::from_secs(60)));
    assert_eq!(post_to(&gateway, 3, "KILL").await, 3);
    let held = inbox.wait_for(3).await;
    assert!(held.iter().all(|r| r.headers["x-brygga-attempt"] == "1"));
    assert!(
        held.iter()
            .all(|r| r.headers["x-brygga-possibly-delivered"] == "false")
    );
    gateway.child.kill().unwrap();
    let _ = gateway.child.wait();
    let restarted = Instant::now();
    let mut gateway = Gateway::start(dir.path(), &env);
    assert!(gateway.wait_for_log("brygga is serving", Duration::from_secs(60)));
    // The three again, answered now, and the three that waited behind them.
    until_keys(&inbox, 6, Duration::from_secs(10)).await;
    let took = restarted.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "delivered {} ms after the restart (the lease is 60 s)",
        took.as_millis()
    );
    let held_keys: BTreeSet<&str> = held
        .iter()
        .map(|r| r.headers["idempotency-key"].as_str())
        .collect();
    for request in inbox.received().iter().skip(3) {
        let key = request.headers["idempotency-key"].as_str();
        let repeat = held_keys.contains(key);
        assert_eq!(
            request.headers["x-brygga-possibly-delivered"],
            if repeat { "true" } else { "false" },
            "{key}"
        );
        assert_eq!(
            request.headers["x-brygga-attempt"],
            if repeat { "2" } else { "1" }
        );
    }
    gateway.terminate();
    gateway.wait_exit(Duration::from_secs(30));
}

/// PostgreSQL with two instances: one is killed with SIGKILL mid-delivery; the other takes its
/// deliveries over as the killed one's short lease ends (leases are renewed while a delivery
/// is on its way, so they can be short without two instances sending one row).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instances_deliveries_pass_to_another_when_its_lease_ends() {
    let inbox = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let database = crate::helpers::postgres_database().await;
    let subscriptions = subscriptions_file(dir.path(), &inbox.url);
    let env = |instance: &'static str| {
        vec![
            ("BRYGGA_DATABASE__URL", database.clone()),
            (
                "BRYGGA_DELIVERY__SUBSCRIPTIONS_FILE",
                subscriptions.display().to_string(),
            ),
            ("BRYGGA_DELIVERY__LEASE_SECONDS", "3".to_owned()),
            ("BRYGGA_DELIVERY__INSTANCE_ID", instance.to_owned()),
        ]
    };
    fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
    let env_a = env("a");
    let env_b = env("b");
    inbox.answer_with(&[0; 2]);
    let mut a = Gateway::start(dir.path(), &as_refs(&env_a));
    assert!(a.wait_for_log("brygga is serving", Duration::from_secs(60)));
    assert_eq!(post_to(&a, 2, "LEASE").await, 2);
    let _ = inbox.wait_for(2).await;
    let mut b = Gateway::start(other_dir.path(), &as_refs(&env_b));
    assert!(b.wait_for_log("brygga is serving", Duration::from_secs(60)));
    // Renewed while on their way: b does not take them while a lives, past the lease (3 s).
    assert!(
        inbox.no_more_than(2, Duration::from_secs(5)).await,
        "another instance sent a row still in flight"
    );
    a.child.kill().unwrap();
    let _ = a.child.wait();
    let killed = Instant::now();
    until_keys(&inbox, 4, Duration::from_secs(10)).await;
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "taken over {} ms after the kill (lease 3 s)",
        took.as_millis()
    );
    let repeats = inbox
        .received()
        .iter()
        .skip(2)
        .filter(|r| r.headers["x-brygga-possibly-delivered"] == "true")
        .count();
    assert_eq!(
        repeats, 2,
        "the two sent before the kill, each said to be a repeat"
    );
    b.terminate();
    b.wait_exit(Duration::from_secs(30));
}

/// An attempt that went out and got no answer (here a timeout) may have reached the receiver:
/// the next attempt says so, and so does every attempt after it, even when one in between was
/// plainly refused. A refusal alone (503) says the receiver did not store it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_attempt_marks_every_later_attempt_as_possibly_delivered() {
    let inbox = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("subscriptions.toml");
    std::fs::write(
        &path,
        format!(
            "[[subscription]]\nid = \"ostersund\"\norganisation = \"2380\"\nendpoint = \"{}\"\nformat = \"canonical\"\nevents = [\"admission_notice\"]\ntimeout_seconds = 1\n[subscription.retry]\ninitial_delay_seconds = 1\nmax_delay_seconds = 1\n",
            inbox.url
        ),
    )
    .unwrap();
    let env = [(
        "BRYGGA_DELIVERY__SUBSCRIPTIONS_FILE",
        path.to_str().unwrap(),
    )];
    // The first unit: refused, then silent, then refused, then taken. The second waits its
    // turn behind it and is taken at once.
    inbox.answer_with(&[503, 0, 503, 200, 200]);
    let mut gateway = Gateway::start(dir.path(), &env);
    assert!(gateway.wait_for_log("brygga is serving", Duration::from_secs(60)));
    assert_eq!(post_to(&gateway, 1, "UNANSWERED").await, 1);
    let all = inbox.wait_for(5).await;
    let first = &all[0].headers["idempotency-key"];
    let attempts: Vec<(&str, &str)> = all
        .iter()
        .filter(|r| &r.headers["idempotency-key"] == first)
        .map(|r| {
            (
                r.headers["x-brygga-attempt"].as_str(),
                r.headers["x-brygga-possibly-delivered"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [("1", "false"), ("2", "false"), ("3", "true"), ("4", "true")]
    );
    let second = &all[4];
    assert_ne!(&second.headers["idempotency-key"], first);
    assert_eq!(second.headers["x-brygga-attempt"], "1");
    assert_eq!(second.headers["x-brygga-possibly-delivered"], "false");
    gateway.terminate();
    gateway.wait_exit(Duration::from_secs(30));
}
