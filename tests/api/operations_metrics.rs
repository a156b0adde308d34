//! `/metrics` tells an operator what waits and what went wrong: after a scenario, the steps
//! received and refused are counted by format, kind and reason, and the gauges read from the
//! store show the subscription's queue, the timers and the deviations — with no personal data
//! anywhere in the text.

use std::collections::HashMap;

use crate::helpers::{TestApp, spawn_app_with, subscription};

/// The samples of the text format, `name{labels}` → value; every line is a comment or a
/// sample.
fn samples(text: &str) -> HashMap<String, f64> {
    let mut found = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        found.insert(series.to_owned(), value);
    }
    found
}

async fn scrape(app: &TestApp) -> (String, HashMap<String, f64>) {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    let parsed = samples(&text);
    (text, parsed)
}

#[tokio::test]
async fn after_a_scenario_the_metrics_show_what_waits_and_what_was_refused() {
    // Östersund's system does not answer: its deliveries wait.
    let app = spawn_app_with(|settings| {
        settings.subscriptions.0.push(subscription(
            "ostersund",
            "2380",
            "http://127.0.0.1:9/hook",
            "canonical",
        ));
    })
    .await;
    let (_, before) = scrape(&app).await;
    assert_eq!(before["brygga_store_readable"], 1.0);
    assert_eq!(before["brygga_timers_pending"], 0.0);
    assert!(!before.contains_key("brygga_outbox_pending{subscription=\"ostersund\"}"));

    for name in [
        "01-inskrivningsmeddelande.xml",
        "04-fast-vardkontakt.xml",
        "05-planering-paborjad.xml",
        "08-utskrivningsklar.xml",
    ] {
        app.post_cosmic_example(name).await;
    }
    let broken = app
        .post_cosmic_link(b"<CosmicLinkMeddelande>".to_vec())
        .await;
    assert_eq!(broken.status(), 400);
    app.clock.advance(jiff::SignedDuration::from_mins(10));

    let (text, after) = scrape(&app).await;
    assert_eq!(
        after["brygga_steps_received_total{format=\"cosmic-link\",kind=\"admission_notice\"}"], 1.0,
        "{text}"
    );
    assert_eq!(
        after["brygga_steps_refused_total{format=\"cosmic-link\",reason=\"invalid\"}"], 1.0,
        "{text}"
    );
    // The steps wait for Östersund, the first accepted ten minutes ago.
    let pending = after["brygga_outbox_pending{subscription=\"ostersund\"}"];
    assert!(pending >= 1.0, "{text}");
    let age = after["brygga_outbox_oldest_pending_age_seconds{subscription=\"ostersund\"}"];
    assert!((600.0..700.0).contains(&age), "{age}: {text}");
    assert_eq!(after["brygga_outbox_dead{subscription=\"ostersund\"}"], 0.0);
    assert_eq!(after["brygga_dead_letters"], 0.0);
    // Ready for discharge started the deadline clocks; none is overdue yet.
    assert!(after["brygga_timers_pending"] >= 1.0, "{text}");
    assert_eq!(after["brygga_timers_overdue"], 0.0, "{text}");
    assert_eq!(after["brygga_timer_lag_seconds"], 0.0, "{text}");
    for principal in ["region", "municipality"] {
        assert!(after.contains_key(&format!(
            "brygga_deviations_unanswered{{principal=\"{principal}\"}}"
        )));
    }
    assert!(after["brygga_database_bytes"] > 0.0);
    // The steps went through the group committer, with their audit records.
    assert!(after["brygga_commit_batch_size_count"] >= 1.0, "{text}");
    assert_eq!(
        after["brygga_commit_seconds_count"],
        after["brygga_commit_batch_size_count"]
    );
    assert!(after["brygga_audit_records_total"] >= 4.0, "{text}");
    assert!(text.contains("brygga_build_info{version=\""), "{text}");
    // Built in a git checkout, the build names its commit (cargo runs the tests with the
    // build's BUILD_GIT_COMMIT; the checkout's HEAD otherwise).
    let expected = std::env::var("BUILD_GIT_COMMIT").ok().or_else(|| {
        let head = std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(crate::helpers::repo_root())
            .output()
            .ok()?;
        Some(String::from_utf8(head.stdout).ok()?.trim().to_owned())
    });
    let expected = expected
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    assert!(text.contains(&format!("commit=\"{expected}\"")), "{text}");
    // Nothing personal: not the personnummer, name or address of the example's person.
    for personal in ["198112189876", "Astrid", "Lindqvist", "Storgatan"] {
        assert!(!text.contains(personal), "{personal} in the metrics");
    }

    // Days later the municipality's deadlines have passed: the timers fire, each missed
    // deadline counted by its rule, each firing with how late it came.
    app.clock.advance(jiff::SignedDuration::from_hours(24 * 5));
    let missed = |m: &HashMap<String, f64>| {
        m.iter()
            .filter(|(k, _)| k.starts_with("brygga_deadlines_missed_total{rule=\""))
            .map(|(_, v)| *v)
            .sum::<f64>()
    };
    let (text, fired) = scrape_until(&app, |m| missed(m) >= 1.0).await;
    assert!(
        fired["brygga_timer_fire_delay_seconds_count"] >= missed(&fired),
        "{text}"
    );
    assert!(!text.contains("198112189876"));
}

/// Waits until what the gateway counted satisfies `wanted`, waking at each count it records
/// (read from its registry, which a read does not change), for at most ten seconds; then
/// scrapes `/metrics`. The delivery workers and timers count an outcome just after it happens.
async fn scrape_until(
    app: &TestApp,
    wanted: impl Fn(&HashMap<String, f64>) -> bool,
) -> (String, HashMap<String, f64>) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let recorded = app.metrics.recorded();
        tokio::pin!(recorded);
        recorded.as_mut().enable();
        let counted = app.metrics.render();
        if wanted(&samples(&counted)) {
            break;
        }
        assert!(
            tokio::time::timeout_at(deadline, recorded).await.is_ok(),
            "not within ten seconds:\n{counted}"
        );
    }
    let (text, found) = scrape(app).await;
    assert!(wanted(&found), "{text}");
    (text, found)
}

#[tokio::test]
async fn deliveries_are_counted_by_outcome_with_their_latency_and_circuit() {
    let inbox = crate::helpers::receiver().await;
    // The first attempt fails; the retry (a second later by the policy) goes.
    inbox.answer_with(&[503]);
    let url = inbox.url.clone();
    let app = spawn_app_with(move |settings| {
        settings
            .subscriptions
            .0
            .push(subscription("ostersund", "2380", &url, "canonical"));
    })
    .await;
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    let retried = "brygga_deliveries_total{subscription=\"ostersund\",outcome=\"retried\"}";
    let (text, found) = scrape_until(&app, |m| m.get(retried) == Some(&1.0)).await;
    assert_eq!(
        found["brygga_circuit_state{subscription=\"ostersund\"}"], 0.0,
        "{text}"
    );
    // The retry is due once the clock has moved past it.
    app.clock.advance(jiff::SignedDuration::from_secs(5));
    let delivered = "brygga_deliveries_total{subscription=\"ostersund\",outcome=\"delivered\"}";
    let (text, found) = scrape_until(&app, |m| m.get(delivered).is_some_and(|n| *n >= 1.0)).await;
    let latencies = found["brygga_delivery_latency_seconds_count{subscription=\"ostersund\"}"];
    assert_eq!(latencies, found[delivered], "{text}");
    // Accepted at the clock's start and delivered after it moved five seconds on.
    let total = found["brygga_delivery_latency_seconds_sum{subscription=\"ostersund\"}"];
    assert!(total >= 5.0 * latencies, "{total}: {text}");
    assert_eq!(
        found.get("brygga_deliveries_total{subscription=\"ostersund\",outcome=\"dead\"}"),
        None
    );
}

/// Every log line of a step names its case and event — the request's, and the delivery's,
/// however much later — and no line carries the person's number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steps_log_lines_name_its_case_and_event_and_nothing_personal() {
    let dir = tempfile::tempdir().unwrap();
    let subscriptions = dir.path().join("subscriptions.toml");
    std::fs::write(
        &subscriptions,
        "[[subscription]]\nid = \"ostersund\"\norganisation = \"2380\"\n\
         endpoint = \"http://127.0.0.1:9/hook\"\nformat = \"canonical\"\n",
    )
    .unwrap();
    let mut gateway = crate::helpers::Gateway::start(
        dir.path(),
        &[
            ("BRYGGA_LOG__FORMAT", "json"),
            (
                "BRYGGA_DELIVERY__SUBSCRIPTIONS_FILE",
                subscriptions.to_str().unwrap(),
            ),
        ],
    );
    assert!(
        gateway.wait_for_log("brygga is serving", std::time::Duration::from_secs(60)),
        "{:?}",
        gateway.log
    );
    let token = gateway.region_token("log-lines").await;
    let body = std::fs::read(
        crate::helpers::repo_root()
            .join("mappings/cosmic-link/examples/01-inskrivningsmeddelande.xml"),
    )
    .unwrap();
    let receipt: serde_json::Value = reqwest::Client::new()
        .post(gateway.url("/cosmic-link/v1/messages"))
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (case_id, event_id) = (
        receipt["case_id"].as_str().unwrap().to_owned(),
        receipt["event_id"].as_str().unwrap().to_owned(),
    );
    assert!(
        gateway.wait_for_log(
            "delivery failed; will retry",
            std::time::Duration::from_secs(20)
        ),
        "{:?}",
        gateway.log
    );
    gateway.terminate();
    gateway
        .wait_exit(std::time::Duration::from_secs(30))
        .expect("exited");
    let lines: Vec<serde_json::Value> = gateway
        .log
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let names = |line: &serde_json::Value| {
        let field = |name: &str| {
            line[name]
                .as_str()
                .or_else(|| line["span"][name].as_str())
                .map(str::to_owned)
        };
        (field("case_id"), field("event_id"))
    };
    // The request's lines once the step was recorded, and each delivery attempt's.
    let received: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| {
            l["message"] == "message received"
                || l["message"] == "finished processing request"
                    && l["span"]["route"] == "/cosmic-link/v1/messages"
        })
        .collect();
    assert_eq!(received.len(), 2, "{:?}", gateway.log);
    let delivering: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["message"] == "delivery failed; will retry")
        .collect();
    assert!(!delivering.is_empty());
    for line in received.into_iter().chain(delivering) {
        assert_eq!(
            names(line),
            (Some(case_id.clone()), Some(event_id.clone())),
            "{line}"
        );
    }
    for line in &gateway.log {
        assert!(
            !line.contains("198112189876") && !line.contains("Lindqvist"),
            "{line}"
        );
    }
}

/// The audit chain is verified while the gateway runs: intact after a scenario, and the first
/// look after someone rewrites a record outside the gateway says it is not (and where, in
/// the log — a sequence number, nothing personal). The instance is ready as `/ready` says.
#[tokio::test]
async fn a_rewritten_audit_record_shows_on_metrics_at_the_next_look() {
    let app = spawn_app_with(|settings| settings.audit.verify_seconds = 1).await;
    app.post_cosmic_example("01-inskrivningsmeddelande.xml")
        .await;
    let records = {
        use sqlx::Row;
        let row = sqlx::query("SELECT MAX(seq) FROM audit_log")
            .fetch_one(&mut raw(&app).await)
            .await
            .unwrap();
        row.get::<i64, _>(0)
    };
    assert!(records > 0);
    let verified = format!("{records}");
    let (_, found) = scrape_until(&app, |m| {
        m.get("brygga_audit_verified_seq")
            .is_some_and(|s| *s >= records as f64)
    })
    .await;
    assert_eq!(found["brygga_audit_chain_intact"], 1.0, "{verified}");
    assert_eq!(found["brygga_ready"], 1.0);
    assert!(found["brygga_audit_last_verified_timestamp_seconds"] > 1.7e9);

    // Someone with write access to the database rewrites a record behind its triggers, and
    // the head with it so that no new record links to the old hash.
    {
        use sqlx::Executor;
        let mut db = raw(&app).await;
        db.execute("DROP TRIGGER audit_append_only_update")
            .await
            .unwrap();
        db.execute("UPDATE audit_log SET purpose = 'curiosity' WHERE seq = 1")
            .await
            .unwrap();
        db.execute("UPDATE audit_head SET hash = 'forged'")
            .await
            .unwrap();
    }
    let (text, found) =
        scrape_until(&app, |m| m.get("brygga_audit_chain_intact") == Some(&0.0)).await;
    assert_eq!(found["brygga_audit_chain_intact"], 0.0, "{text}");
}

/// A raw connection to the test gateway's SQLite database.
async fn raw(app: &TestApp) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let url = app.database_url();
    let path = url
        .strip_prefix("sqlite://")
        .expect("an SQLite test gateway");
    sqlx::SqliteConnection::connect(&format!("sqlite:{path}"))
        .await
        .unwrap()
}
