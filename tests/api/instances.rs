//! Three gateway instances on one PostgreSQL under load: one is killed with SIGKILL and another
//! restarted while messages arrive at all three. Afterwards every message an instance accepted
//! is stored, every delivery the accepted messages caused reached the receiver (each
//! idempotency key delivered, none lost), and every due timer fired once, with one event.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sqlx::{Connection, Row};

use crate::helpers::{Gateway, ostersund_subscription, receiver, repo_root};

/// The two steps of one case: its admission notice and, later, its ready-for-discharge
/// notice (whose deadlines lie in the past, so its timers are due at once).
fn steps(n: usize) -> [(String, Vec<u8>); 2] {
    let step = |example: &str, id: &str| {
        let message = format!("{id}-{n:05}");
        let body = std::fs::read_to_string(
            repo_root()
                .join("mappings/cosmic-link/examples")
                .join(example),
        )
        .unwrap()
        .replace(id, &message)
        .replace("SA-2026-004711", &format!("SA-INST-{n:05}"));
        (message, body.into_bytes())
    };
    [
        step("01-inskrivningsmeddelande.xml", "CL-2026-0001"),
        step("08-utskrivningsklar.xml", "CL-2026-0005"),
    ]
}

/// Posts one message; answers whether it was accepted (2xx). A refused connection (the
/// instance is down) is no acceptance.
async fn post(client: &reqwest::Client, url: &str, token: &str, body: Vec<u8>) -> bool {
    client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false)
}

struct Instance {
    gateway: Gateway,
    token: String,
}

async fn start(dir: &std::path::Path, env: &[(&str, &str)], name: &str) -> Instance {
    let mut gateway = Gateway::start(dir, env);
    assert!(
        gateway.wait_for_log("brygga is serving", Duration::from_secs(60)),
        "{name}: {:?}",
        gateway.log
    );
    let token = gateway
        .region_token(&format!("instances-{name}-{}", gateway.port))
        .await;
    Instance { gateway, token }
}

/// Counts of what the database holds, for the wait and the assertions.
async fn count(db: &mut sqlx::PgConnection, sql: &'static str) -> i64 {
    sqlx::query(sql).fetch_one(&mut *db).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_postgres_lose_nothing_when_one_is_killed_and_one_restarted() {
    let inbox = receiver().await;
    let database = crate::helpers::postgres_database().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let subscriptions = ostersund_subscription(dirs[0].path(), &inbox.url, &[]);
    let names = ["a", "b", "c"];
    let env = |name: &'static str| {
        vec![
            ("BRYGGA_DATABASE__URL", database.as_str()),
            (
                "BRYGGA_DELIVERY__SUBSCRIPTIONS_FILE",
                subscriptions.as_str(),
            ),
            // A killed instance's claims pass to the others when this runs out.
            ("BRYGGA_DELIVERY__LEASE_SECONDS", "3"),
            ("BRYGGA_DELIVERY__INSTANCE_ID", name),
        ]
    };
    let mut instances = Vec::new();
    for (dir, name) in dirs.iter().zip(names) {
        instances.push(start(dir.path(), &env(name), name).await);
    }
    let client = reqwest::Client::new();
    let mut accepted: BTreeSet<String> = BTreeSet::new();
    let cases = 90;
    for wave in 0..3 {
        // Each case's two steps go, one after the other, to two different instances; the
        // cases of a wave run side by side.
        let mut posting = tokio::task::JoinSet::new();
        for n in wave * cases / 3..(wave + 1) * cases / 3 {
            let [first, second] = steps(n);
            let targets: Vec<(String, String)> = [n % 3, (n + 1) % 3]
                .iter()
                .map(|&i| {
                    let instance = &instances[i];
                    (
                        instance.gateway.url("/cosmic-link/v1/messages"),
                        instance.token.clone(),
                    )
                })
                .collect();
            let client = client.clone();
            posting.spawn(async move {
                let mut done = Vec::new();
                if post(&client, &targets[0].0, &targets[0].1, first.1).await {
                    done.push(first.0);
                    if post(&client, &targets[1].0, &targets[1].1, second.1).await {
                        done.push(second.0);
                    }
                }
                done
            });
        }
        // In the second wave, while its messages arrive: a is killed, b restarted.
        if wave == 1 {
            let _ = posting.join_next().await;
            instances[0].gateway.child.kill().unwrap();
            let _ = instances[0].gateway.child.wait();
            instances[1].gateway.terminate();
            assert!(
                instances[1]
                    .gateway
                    .wait_exit(Duration::from_secs(30))
                    .is_some(),
                "b did not stop"
            );
            instances[1] = start(dirs[1].path(), &env("b"), "b-again").await;
        }
        while let Some(done) = posting.join_next().await {
            accepted.extend(done.unwrap());
        }
    }
    assert!(
        accepted.len() >= cases,
        "{} of {} messages accepted",
        accepted.len(),
        cases * 2
    );

    let mut db = sqlx::PgConnection::connect(&database).await.unwrap();
    // Every accepted message is stored.
    let stored: BTreeSet<String> = sqlx::query_scalar("SELECT message_id FROM received_messages")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<_> = accepted.difference(&stored).collect();
    assert!(lost.is_empty(), "accepted and not stored: {lost:?}");

    // The survivors settle everything: no delivery left undelivered, no timer left due.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let open = count(
            &mut db,
            "SELECT COUNT(*) FROM outbox WHERE status <> 'delivered'",
        )
        .await;
        let due = count(
            &mut db,
            "SELECT COUNT(*) FROM timers WHERE status = 'pending' \
             AND due_at <= (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT",
        )
        .await;
        let keys: BTreeSet<String> = inbox
            .received()
            .iter()
            .map(|r| r.headers["idempotency-key"].clone())
            .collect();
        let outbox = count(&mut db, "SELECT COUNT(*) FROM outbox").await;
        if open == 0 && due == 0 && keys.len() as i64 == outbox {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 90 s: {open} deliveries open, {due} timers due, {} of {outbox} keys received",
            keys.len()
        );
        let n = inbox.received().len();
        let _ = tokio::time::timeout(Duration::from_millis(500), inbox.wait_for(n + 1)).await;
    }
    // The receiver got exactly the deliveries the store holds: none lost, none invented.
    let written: BTreeSet<String> = sqlx::query_scalar("SELECT idempotency_key FROM outbox")
        .fetch_all(&mut db)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let received: BTreeSet<String> = inbox
        .received()
        .iter()
        .map(|r| r.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(received, written);
    // Each accepted admission notice went out (to Östersund's two units).
    let admitted = accepted
        .iter()
        .filter(|m| m.starts_with("CL-2026-0001"))
        .count() as i64;
    let notices = count(
        &mut db,
        "SELECT COUNT(*) FROM outbox o JOIN events e ON e.id = o.event_id \
         WHERE e.kind = 'admission_notice'",
    )
    .await;
    assert!(
        notices >= admitted * 2,
        "{notices} notices for {admitted} admissions"
    );
    // A repeat reached the receiver only as a marked repeat of an unanswered attempt.
    let mut seen = BTreeSet::new();
    for delivery in inbox.received() {
        let key = delivery.headers["idempotency-key"].clone();
        if !seen.insert(key.clone()) {
            assert_eq!(
                delivery.headers["x-brygga-possibly-delivered"], "true",
                "{key} repeated unmarked"
            );
        }
    }
    // Every timer due fired once: fired, and one deadline event per fired timer.
    let fired = count(
        &mut db,
        "SELECT COUNT(*) FROM timers WHERE status = 'fired'",
    )
    .await;
    assert!(
        fired > 0,
        "the ready-for-discharge notices set no timer due"
    );
    let events = count(
        &mut db,
        "SELECT COUNT(*) FROM events WHERE kind IN ('deadline_missed', 'deviation_reminder')",
    )
    .await;
    assert_eq!(events, fired, "{fired} timers fired, {events} timer events");
    let outbox = count(&mut db, "SELECT COUNT(*) FROM outbox").await;
    eprintln!(
        "{} of {} messages accepted, {outbox} deliveries, {} arrivals, {fired} timers fired",
        accepted.len(),
        cases * 2,
        inbox.received().len()
    );
    db.close().await.unwrap();
    for instance in &mut instances[1..] {
        instance.gateway.terminate();
        assert!(
            instance
                .gateway
                .wait_exit(Duration::from_secs(30))
                .is_some()
        );
    }
}
