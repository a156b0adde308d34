//! Delivery over real HTTP on loopback: each subscription gets the released message in its
//! own format with an idempotency key and the event's sequence number; failures are retried
//! with backoff, refusals dead-lettered with the reason.

use jiff::SignedDuration;
use serde_json::Value;

use crate::helpers::{Receiver, TestApp, receiver, spawn_app_with, subscription};

pub(crate) async fn gateway(subscriptions: Vec<brygga::delivery::Subscription>) -> TestApp {
    spawn_app_with(move |settings| settings.subscriptions.0.extend(subscriptions)).await
}

async fn post_cosmic(app: &TestApp, name: &str) -> Value {
    app.post_cosmic_example(name).await
}

/// Moves the test clock on until `inbox` has `n` deliveries (retries fall due as it moves).
pub(crate) async fn advance_until(app: &TestApp, inbox: &Receiver, n: usize) {
    for _ in 0..40 {
        if inbox.received().len() >= n {
            return;
        }
        app.clock.advance(SignedDuration::from_secs(2));
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(250), inbox.wait_for(n)).await;
    }
    assert!(
        inbox.received().len() >= n,
        "{} deliveries",
        inbox.received().len()
    );
}

#[tokio::test]
async fn each_subscription_gets_the_message_in_its_own_format_with_key_and_sequence() {
    let treserva = receiver().await;
    let fhir = receiver().await;
    let app = gateway(vec![
        subscription(
            "ostersund-treserva",
            "2380",
            &treserva.url,
            "municipal:treserva-like",
        ),
        subscription("region-fhir", "SE2321000214-1000", &fhir.url, "fhir"),
    ])
    .await;
    let receipt = post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    // Two units of Östersund and one region unit are recipients of the admission notice.
    let to_ostersund = treserva.wait_for(2).await;
    for delivery in &to_ostersund {
        assert!(
            delivery.body.contains("typ=\"Inskrivningsmeddelande\""),
            "{}",
            delivery.body
        );
        assert_eq!(delivery.headers["content-type"], "application/xml");
        assert_eq!(delivery.headers["x-brygga-sequence"], "1");
        assert_eq!(
            delivery.headers["x-brygga-event"],
            receipt["event_id"].as_str().unwrap()
        );
        assert!(
            delivery.headers["idempotency-key"].starts_with(receipt["event_id"].as_str().unwrap())
        );
    }
    assert_ne!(
        to_ostersund[0].headers["idempotency-key"], to_ostersund[1].headers["idempotency-key"],
        "one key per recipient"
    );
    let to_region = fhir.wait_for(1).await;
    let bundle: Value = serde_json::from_str(&to_region[0].body).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(
        to_region[0].headers["content-type"],
        "application/fhir+json"
    );
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_delivery_again_until_it_answers_2xx() {
    let inbox = receiver().await;
    inbox.answer_with(&[500, 503]);
    let mut s = subscription("krokom", "2380", &inbox.url, "canonical");
    s.events = vec!["admission_notice".to_owned()];
    let app = gateway(vec![s]).await;
    let receipt = post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let case = brygga::domain::case::CaseId::parse(receipt["case_id"].as_str().unwrap()).unwrap();
    // Two recipients (two units) through one subscription: in order, so the first is tried
    // until it succeeds (500, 503, 200) before the second goes, with the same key each time.
    advance_until(&app, &inbox, 4).await;
    let keys: Vec<String> = inbox
        .received()
        .iter()
        .map(|r| r.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(keys[0] == keys[1] && keys[1] == keys[2], "{keys:?}");
    assert_ne!(keys[2], keys[3], "{keys:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let outbox = app.store.outbox_status_for_case(case).await.unwrap();
        if outbox.iter().all(|(_, _, status)| status == "delivered") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{outbox:?}");
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            inbox.wait_for(keys.len() + 1),
        )
        .await;
    }
}

#[tokio::test]
async fn a_refusal_is_dead_lettered_with_its_reason_and_a_format_that_cannot_carry_the_step_too() {
    let inbox = receiver().await;
    inbox.answer_with(&[400, 400]);
    let cosmic = receiver().await;
    // Admission notices only: the dead letters raise deviations (routed to Östersund's MAS).
    let mut refusing = subscription("refusing", "2380", &inbox.url, "canonical");
    refusing.events = vec!["admission_notice".to_owned()];
    let app = gateway(vec![
        refusing,
        // Cosmic Link does not carry missed deadlines or deviations; the SIP invitation
        // clock raises one later, but the admission notice it carries.
        subscription(
            "region-cosmic",
            "SE2321000214-1000",
            &cosmic.url,
            "cosmic-link",
        ),
    ])
    .await;
    let receipt = post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let case = brygga::domain::case::CaseId::parse(receipt["case_id"].as_str().unwrap()).unwrap();
    inbox.wait_for(2).await;
    cosmic.wait_for(1).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let outbox = app.store.outbox_status_for_case(case).await.unwrap();
        let dead = outbox
            .iter()
            .filter(|(d, _, s)| d == "refusing" && s == "dead")
            .count();
        if dead == 2 {
            assert!(
                outbox
                    .iter()
                    .any(|(d, _, s)| d == "region-cosmic" && s == "delivered")
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{outbox:?}");
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(100), inbox.wait_for(3)).await;
    }
    // Each dead letter raised a deviation addressed to its recipient.
    let raised = late_deviations(&app, &case.to_string()).await;
    assert_eq!(raised.len(), 2, "{raised:?}");
    assert!(
        raised.iter().all(|(_, d)| d.contains("dead letters")),
        "{raised:?}"
    );
    // No retry of a refusal, however long we wait.
    app.clock.advance(SignedDuration::from_hours(1));
    assert_eq!(inbox.received().len(), 2);
}

#[tokio::test]
async fn dead_letters_are_listed_for_their_organisation_and_redelivered_on_request() {
    let inbox = receiver().await;
    inbox.answer_with(&[422, 422]);
    // Admission notices only: the dead letters raise deviations (routed to Östersund's MAS).
    let mut ostersund = subscription("ostersund", "2380", &inbox.url, "canonical");
    ostersund.events = vec!["admission_notice".to_owned()];
    let app = gateway(vec![ostersund]).await;
    let receipt = post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let case = receipt["case_id"].as_str().unwrap().to_owned();
    inbox.wait_for(2).await;
    let ostersund = app.as_client(crate::helpers::OSTERSUND).await;
    let get = |path: String| {
        let client = ostersund.clone();
        async move {
            let response = client.get(path).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let dead = loop {
        let (status, list) = get(app.url("/deliveries?status=dead")).await;
        assert_eq!(status, 200, "{list}");
        if list["count"] == 2 {
            break list;
        }
        assert!(std::time::Instant::now() < deadline, "{list}");
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(100), inbox.wait_for(3)).await;
    };
    let first = &dead["deliveries"][0];
    assert_eq!(first["subscription"], "ostersund");
    assert!(
        first["last_error"].as_str().unwrap().contains("422"),
        "{first}"
    );
    // Another organisation sees none of it.
    let krokom = app.as_client(crate::helpers::KROKOM).await;
    let theirs: Value = krokom
        .get(app.url("/deliveries?status=dead"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["count"], 0);
    let id = first["id"].as_i64().unwrap();
    let response = krokom
        .post(app.url(&format!("/deliveries/{id}/redeliver")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // Redelivered, it goes again and is delivered this time.
    let response = ostersund
        .post(app.url(&format!("/deliveries/{id}/redeliver")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let again: Value = response.json().await.unwrap();
    assert!(
        again["status"] == "pending" || again["status"] == "delivered",
        "{again}"
    );
    let got = inbox.wait_for(3).await;
    assert_eq!(
        got[2].headers["idempotency-key"],
        got[0].headers["idempotency-key"]
    );
    let (_, history) = get(app.url(&format!("/cases/{case}/deliveries"))).await;
    assert_eq!(history["count"], 2, "{history}");
    // A delivery that is not dead is not redelivered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, one) = get(app.url(&format!("/deliveries/{id}"))).await;
        if one["status"] == "delivered" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{one}");
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), inbox.wait_for(4)).await;
    }
    let response = ostersund
        .post(app.url(&format!("/deliveries/{id}/redeliver")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn a_receiver_down_for_a_long_stretch_gets_everything_afterwards_in_order_and_delays_no_one_else()
 {
    let down = receiver().await;
    down.answer_with(&[503; 10]);
    let up = receiver().await;
    let mut to_down = subscription("ostersund", "2380", &down.url, "canonical");
    to_down.retry.max_delay_seconds = 30;
    let app = gateway(vec![
        to_down,
        subscription("region", "SE2321000214-1000", &up.url, "canonical"),
    ])
    .await;
    for name in [
        "01-inskrivningsmeddelande.xml",
        "04-fast-vardkontakt.xml",
        "05-planering-paborjad.xml",
        "08-utskrivningsklar.xml",
    ] {
        post_cosmic(&app, name).await;
    }
    // The region's system has its deliveries at once, while Östersund's is down.
    let to_region = up.wait_for(1).await.len();
    assert!(to_region >= 1);
    let case = {
        let receipt = post_cosmic(&app, "06-andrad-beraknad-utskrivning.xml").await;
        brygga::domain::case::CaseId::parse(receipt["case_id"].as_str().unwrap()).unwrap()
    };
    let expected = app
        .store
        .outbox_status_for_case(case)
        .await
        .unwrap()
        .iter()
        .filter(|(d, _, _)| d == "ostersund")
        .count();
    assert!(expected >= 4, "{expected}");
    // Hours pass (on the test clock, in steps shorter than a claim's lease); Östersund's system
    // comes back after ten refusals.
    for _ in 0..400 {
        if down.received().len() >= 10 + expected {
            break;
        }
        app.clock.advance(SignedDuration::from_secs(20));
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            down.wait_for(down.received().len() + 1),
        )
        .await;
    }
    let got = down.received();
    assert_eq!(
        got.len(),
        10 + expected,
        "every delivery arrived once it was back"
    );
    // Once back, in the case's order.
    let sequences: Vec<u64> = got[10..]
        .iter()
        .map(|r| r.headers["x-brygga-sequence"].parse().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] <= w[1]), "{sequences:?}");
    let keys: std::collections::BTreeSet<&str> = got[10..]
        .iter()
        .map(|r| r.headers["idempotency-key"].as_str())
        .collect();
    assert_eq!(keys.len(), expected, "each delivery once after the outage");
}

/// Waits until the single delivery row of `case` to `subscription` is settled as pending with
/// an attempt recorded; answers its next attempt time.
async fn next_attempt(app: &TestApp, subscription: &str) -> (jiff::Timestamp, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let rows = app
            .store
            .deliveries(&brygga::store::DeliveryQuery {
                subscriptions: vec![subscription.to_owned()],
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        if let Some(row) = rows
            .iter()
            .find(|r| r.attempts >= 1 && r.last_error.is_some())
        {
            return (row.next_attempt_at, row.last_error.clone().unwrap());
        }
        assert!(std::time::Instant::now() < deadline, "{rows:?}");
        tokio::task::yield_now().await;
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            std::future::pending::<()>(),
        )
        .await;
    }
}

#[tokio::test]
async fn too_many_requests_waits_at_least_its_retry_after_and_errors_are_retried_as_documented() {
    // 429 with Retry-After: 120 — the next attempt is not before two minutes.
    let busy = receiver().await;
    busy.retry_after(120);
    busy.answer_with(&[429]);
    let mut s = subscription("busy", "2380", &busy.url, "canonical");
    s.events = vec!["admission_notice".to_owned()];
    // A receiver that never answers (1 s timeout), and one whose port is closed.
    let silent = receiver().await;
    silent.answer_with(&[0]);
    let mut slow = subscription("silent", "SE2321000214-1000", &silent.url, "canonical");
    slow.timeout = std::time::Duration::from_secs(1);
    let app = gateway(vec![s, slow]).await;
    let start = app.clock.now();
    post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let (at, error) = next_attempt(&app, "busy").await;
    assert!(at >= start + SignedDuration::from_secs(120), "{at} {error}");
    assert!(error.contains("429"), "{error}");
    let (_, error) = next_attempt(&app, "silent").await;
    assert!(error.contains("no answer within 1 s"), "{error}");
    // A port nobody listens on, and plain HTTP spoken to by a TLS client.
    drop(app);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/inbox", l.local_addr().unwrap())
    };
    let tls_to_plain = receiver().await;
    let https = tls_to_plain.url.replace("http://", "https://");
    let app = gateway(vec![
        subscription("closed", "SE2321000214-1000", &closed, "canonical"),
        subscription("tls", "2380", &https, "canonical"),
    ])
    .await;
    post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let (_, error) = next_attempt(&app, "closed").await;
    assert!(error.contains("cannot connect"), "{error}");
    let (_, error) = next_attempt(&app, "tls").await;
    assert!(!error.is_empty(), "{error}");
    assert!(
        tls_to_plain.received().is_empty(),
        "nothing reached the plain receiver as HTTP"
    );
}

#[tokio::test]
async fn a_subscription_with_a_client_certificate_presents_it_and_one_without_is_refused() {
    let with = crate::helpers::tls_receiver().await;
    let without = crate::helpers::tls_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let tls = crate::helpers::repo_root().join("fixtures/tls");
    let file = dir.path().join("subscriptions.toml");
    std::fs::write(
        &file,
        format!(
            "[[subscription]]\nid = \"with-certificate\"\norganisation = \"2380\"\nendpoint = \"{}\"\n\
             format = \"canonical\"\nevents = [\"admission_notice\"]\n\
             client_identity_file = \"{}\"\nca_file = \"{}\"\n\
             [subscription.retry]\ninitial_delay_seconds = 1\nmax_delay_seconds = 1\n\n\
             [[subscription]]\nid = \"without-certificate\"\norganisation = \"2380\"\nendpoint = \"{}\"\n\
             format = \"canonical\"\nevents = [\"admission_notice\"]\nca_file = \"{}\"\n",
            with.url,
            tls.join("ostersund-treserva.identity.pem").display(),
            tls.join("ca.pem").display(),
            without.url,
            tls.join("ca.pem").display(),
        ),
    )
    .unwrap();
    let app = spawn_app_with(move |settings| {
        settings.subscriptions =
            brygga::delivery::load_subscriptions(&file, &settings.directory).unwrap();
    })
    .await;
    let receipt = post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let case = brygga::domain::case::CaseId::parse(receipt["case_id"].as_str().unwrap()).unwrap();

    // Over TLS, verified against the region's CA, with Östersund's certificate.
    let delivered = with.wait_for(2).await;
    let expected = crate::tls::fingerprint("ostersund-treserva");
    for delivery in &delivered {
        assert_eq!(delivery.headers["x-test-client-certificate"], expected);
    }
    // Without a certificate the receiver refuses (401): dead letters, not retried.
    without.wait_for(2).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let outbox = app.store.outbox_status_for_case(case).await.unwrap();
        let dead = outbox
            .iter()
            .filter(|(d, _, s)| d == "without-certificate" && s == "dead")
            .count();
        let delivered = outbox
            .iter()
            .filter(|(d, _, s)| d == "with-certificate" && s == "delivered")
            .count();
        if dead == 2 && delivered == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{outbox:?}");
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(100), without.wait_for(3)).await;
    }
}

#[test]
fn a_client_certificate_needs_https_and_a_readable_identity() {
    let dir = tempfile::tempdir().unwrap();
    let settings = brygga::config::Settings::load(
        &crate::helpers::repo_root().join("deploy/config/brygga.toml"),
    )
    .unwrap();
    let write = |body: &str| {
        let file = dir.path().join("subscriptions.toml");
        std::fs::write(&file, body).unwrap();
        brygga::delivery::load_subscriptions(&file, &settings.directory)
            .unwrap_err()
            .join("\n")
    };
    let plain = write(
        "[[subscription]]\nid = \"s\"\norganisation = \"2380\"\nendpoint = \"http://localhost/in\"\n\
         format = \"canonical\"\nclient_identity_file = \"id.pem\"\n",
    );
    assert!(
        plain.contains("subscription[0] (s)") && plain.contains("need an https endpoint"),
        "{plain}"
    );
    let missing = write(
        "[[subscription]]\nid = \"s\"\norganisation = \"2380\"\nendpoint = \"https://localhost/in\"\n\
         format = \"canonical\"\nclient_identity_file = \"id.pem\"\n",
    );
    assert!(
        missing.contains("client_identity_file") && missing.contains("id.pem"),
        "{missing}"
    );
    std::fs::write(dir.path().join("id.pem"), "not a certificate").unwrap();
    let garbage = write(
        "[[subscription]]\nid = \"s\"\norganisation = \"2380\"\nendpoint = \"https://localhost/in\"\n\
         format = \"canonical\"\nclient_identity_file = \"id.pem\"\n",
    );
    assert!(
        garbage.contains("not a PEM certificate chain with its private key"),
        "{garbage}"
    );
}

#[tokio::test]
async fn a_kvittens_from_the_receiving_unit_marks_its_delivery_acknowledged_and_done() {
    let inbox = receiver().await;
    // The receiver never answers 2xx: both rows stay pending.
    inbox.answer_with(&[503; 64]);
    let app = gateway(vec![subscription(
        "ostersund",
        "2380",
        &inbox.url,
        "canonical",
    )])
    .await;
    let receipt = post_cosmic(&app, "01-inskrivningsmeddelande.xml").await;
    let case = brygga::domain::case::CaseId::parse(receipt["case_id"].as_str().unwrap()).unwrap();
    inbox.wait_for(1).await;
    // Biståndsenheten's kvittens of the admission notice (relayed by the region's Cosmic Link).
    let kvittens = crate::helpers::cosmic_example("02-kvittens.xml");
    assert_eq!(app.post_cosmic_link(kvittens).await.status(), 200);
    let rows = app
        .store
        .deliveries(&brygga::store::DeliveryQuery {
            case_id: Some(case),
            subscriptions: vec!["ostersund".to_owned()],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let by_recipient = |recipient: &str| {
        rows.iter()
            .find(|r| r.recipient == recipient)
            .unwrap_or_else(|| panic!("{rows:?}"))
            .clone()
    };
    let bistand = by_recipient("municipality:2380/SE2120002411-BIST");
    assert_eq!(bistand.status, "delivered");
    assert!(bistand.acknowledged_at.is_some());
    assert!(bistand.finished_at.is_some());
    // Hemsjukvården has not acknowledged: its delivery is still waiting for a 2xx.
    let hemsjukvard = by_recipient("municipality:2380/SE2120002411-HSJV");
    assert_eq!(hemsjukvard.status, "pending");
    assert_eq!(hemsjukvard.acknowledged_at, None);
    // The organisation sees the acknowledgement in the case's delivery history.
    let history: Value = app
        .as_client(crate::helpers::OSTERSUND)
        .await
        .get(app.url(&format!("/cases/{case}/deliveries")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let acknowledged: Vec<&Value> = history["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d.get("acknowledged_at").is_some())
        .collect();
    assert_eq!(acknowledged.len(), 1, "{history}");
    assert_eq!(
        acknowledged[0]["recipient"],
        "municipality:2380/SE2120002411-BIST"
    );
}

/// The deviations the gateway raised in `case` for late deliveries: (addressed to, description).
pub(crate) async fn late_deviations(app: &TestApp, case: &str) -> Vec<(String, String)> {
    let case = brygga::domain::case::CaseId::parse(case).unwrap();
    let stored = app.store.load_case(case).await.unwrap().unwrap();
    stored
        .events
        .iter()
        .filter_map(|e| match &e.event.kind {
            brygga::domain::event::EventKind::DeviationRaised {
                cause: brygga::domain::event::DeviationCause::DeliveryLate,
                addressed_to,
                description,
                ..
            } => Some((addressed_to.to_string(), description.expose().clone())),
            _ => None,
        })
        .collect()
}
