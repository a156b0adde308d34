//! The gateway killed with SIGKILL while it accepts and delivers, again and again: after the
//! last restart every message it accepted (answered 2xx) has reached the receiver, and the
//! receiver applies each idempotency key once.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::helpers::{Backend, Gateway, receiver, repo_root};

fn admission(n: usize) -> Vec<u8> {
    std::fs::read_to_string(
        repo_root().join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
    )
    .unwrap()
    .replace("CL-2026-0001", &format!("CL-CRASH-{n:05}"))
    .replace("SA-2026-004711", &format!("SA-CRASH-{n:05}"))
    .into_bytes()
}

on_both_backends!(killing_the_gateway_repeatedly_loses_no_accepted_message_and_duplicates_nothing);

async fn killing_the_gateway_repeatedly_loses_no_accepted_message_and_duplicates_nothing(
    backend: Backend,
) {
    let inbox = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(crate::helpers::postgres_database().await),
    };
    let subscriptions = dir.path().join("subscriptions.toml");
    std::fs::write(
        &subscriptions,
        format!(
            "[[subscription]]\nid = \"ostersund\"\norganisation = \"2380\"\nendpoint = \"{}\"\nformat = \"canonical\"\nevents = [\"admission_notice\"]\n[subscription.retry]\ninitial_delay_seconds = 1\nmax_delay_seconds = 1\n",
            inbox.url
        ),
    )
    .unwrap();
    // Claims of a killed instance come back when their lease ends: keep it short.
    let mut env = vec![
        (
            "BRYGGA_DELIVERY__SUBSCRIPTIONS_FILE",
            subscriptions.to_str().unwrap(),
        ),
        ("BRYGGA_DELIVERY__LEASE_SECONDS", "3"),
    ];
    if let Some(url) = &database {
        env.push(("BRYGGA_DATABASE__URL", url.as_str()));
    }
    let mut accepted = 0usize;
    let mut sent = 0usize;
    for round in 0..4 {
        let mut gateway = Gateway::start(dir.path(), &env);
        assert!(
            gateway.wait_for_log("brygga is serving", Duration::from_secs(60)),
            "round {round}: {:?}",
            gateway.log
        );
        let token = gateway.region_token(&format!("crash-{round}")).await;
        let client = reqwest::Client::new();
        let url = gateway.url("/cosmic-link/v1/messages");
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let (client, url, token, body) =
                (client.clone(), url.clone(), token.clone(), admission(sent));
            sent += 1;
            tasks.push(tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .header("content-type", "application/xml")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }));
        }
        // Kill it while messages are still arriving and deliveries are under way.
        for (done, task) in tasks.into_iter().enumerate() {
            if done == 20 {
                gateway.child.kill().unwrap();
            }
            if task.await.unwrap() {
                accepted += 1;
            }
        }
        let _ = gateway.child.wait();
    }
    assert!(accepted >= 40, "{accepted} of {sent} accepted");
    // One last start delivers whatever was accepted and not yet delivered.
    let mut gateway = Gateway::start(dir.path(), &env);
    assert!(gateway.wait_for_log("brygga is serving", Duration::from_secs(60)));
    // Each accepted admission notice goes to Östersund's two units.
    let expected = accepted * 2;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let keys: BTreeSet<String> = inbox
            .received()
            .iter()
            .map(|r| r.headers["idempotency-key"].clone())
            .collect();
        if keys.len() >= expected {
            // A receiver that applies each key once has applied exactly the accepted ones
            // (a message killed before its 2xx may have been committed, and delivered, too).
            assert!(keys.len() <= sent * 2);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {expected} keys",
            keys.len()
        );
        let n = inbox.received().len();
        let _ = tokio::time::timeout(Duration::from_millis(500), inbox.wait_for(n + 1)).await;
    }
    // This receiver answers every delivery 200, so a key that arrives again was answered
    // before and the gateway died before it recorded the answer: the repeat says so, and the
    // attempt number has moved on.
    let mut seen = BTreeSet::new();
    let mut repeats = 0;
    for delivery in inbox.received() {
        let key = delivery.headers["idempotency-key"].clone();
        if !seen.insert(key.clone()) {
            repeats += 1;
            assert_eq!(
                delivery
                    .headers
                    .get("x-brygga-possibly-delivered")
                    .map(String::as_str),
                Some("true"),
                "repeat of {key} not marked"
            );
            let attempt: u32 = delivery.headers["x-brygga-attempt"].parse().unwrap();
            assert!(attempt >= 2, "repeat of {key} is attempt {attempt}");
        }
    }
    eprintln!("{repeats} unrecorded repeats over 4 kills");
    gateway.terminate();
    gateway.wait_exit(Duration::from_secs(30));
}
