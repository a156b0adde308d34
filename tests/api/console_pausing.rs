//! Pausing a subscription from the console: its deliveries wait in the queue (on every
//! instance's worker) and go, in order, once it is resumed; each change audited under the
//! operator; only operators may, only with the session's token, only a known subscription.

use std::time::Duration;

use reqwest::StatusCode;

use crate::console::{console_app_with, csrf, page, post_form, sign_in};

/// A console gateway with Östersund's subscription to admission notices, delivering to
/// `inbox`.
async fn with_ostersund(
    inbox: &crate::helpers::Receiver,
) -> (crate::helpers::TestApp, tempfile::TempDir) {
    let url = inbox.url.clone();
    console_app_with(move |settings| {
        let mut ostersund =
            crate::helpers::subscription("ostersund-treserva", "2380", &url, "canonical");
        ostersund.events = vec!["admission_notice".to_owned()];
        settings.subscriptions.0.push(ostersund);
    })
    .await
}

#[tokio::test]
async fn a_paused_subscription_holds_its_deliveries_until_it_is_resumed() {
    let inbox = crate::helpers::receiver().await;
    let (app, _dir) = with_ostersund(&inbox).await;
    let anna = sign_in(&app, "anna").await;
    let (status, deliveries) = page(&app, "/console/deliveries", Some(&anna)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        deliveries.contains("action=\"/console/subscriptions/ostersund-treserva/pause\""),
        "{deliveries}"
    );
    let token = csrf(&deliveries);

    // Paused: the admission notice's deliveries stay in the queue.
    let (status, location) = post_form(
        &app,
        &anna,
        "/console/subscriptions/ostersund-treserva/pause",
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.ends_with("/console/deliveries?paused=ostersund-treserva"));
    let case = app.admitted_case().await;
    assert!(
        inbox.no_more_than(0, Duration::from_secs(2)).await,
        "a paused subscription delivered"
    );
    let id = brygga::domain::case::CaseId::parse(&case).unwrap();
    let queued = app.store.outbox_status_for_case(id).await.unwrap();
    assert!(
        queued
            .iter()
            .any(|(d, _, s)| d == "ostersund-treserva" && s == "pending"),
        "{queued:?}"
    );
    let (_, overview) = page(&app, "/console", Some(&anna)).await;
    assert!(overview.contains(">pausad</td>"), "{overview}");
    let (_, deliveries) = page(&app, "/console/deliveries", Some(&anna)).await;
    assert!(
        deliveries.contains("action=\"/console/subscriptions/ostersund-treserva/resume\""),
        "{deliveries}"
    );

    // Resumed: they go.
    let (status, _) = post_form(
        &app,
        &anna,
        "/console/subscriptions/ostersund-treserva/resume",
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let expected = queued
        .iter()
        .filter(|(d, _, _)| d == "ostersund-treserva")
        .count();
    assert_eq!(inbox.wait_for(expected).await.len(), expected);

    // The case's deliveries, found by its id; another case has none.
    let (_, theirs) = page(
        &app,
        &format!("/console/deliveries?case={case}"),
        Some(&anna),
    )
    .await;
    assert_eq!(
        theirs.matches(&format!("<td>{case}</td>")).count(),
        expected,
        "{theirs}"
    );
    let other = "00000000-0000-4000-8000-000000000000";
    let (_, none) = page(
        &app,
        &format!("/console/deliveries?case={other}"),
        Some(&anna),
    )
    .await;
    assert!(none.contains("Inga leveranser matchar."), "{none}");
    // Both changes are in the audit log under the operator.
    let records = app
        .store
        .audit_records(&brygga::store::AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    for action in ["pause subscription", "resume subscription"] {
        let found: Vec<_> = records.iter().filter(|r| r.action == action).collect();
        assert_eq!(found.len(), 1, "{action}");
        assert_eq!(found[0].actor, "console:anna");
        assert_eq!(found[0].details["subscription"], "ostersund-treserva");
    }

    // Not without the session's token, not for an unknown subscription, not for others.
    let (status, _) = post_form(
        &app,
        &anna,
        "/console/subscriptions/ostersund-treserva/pause",
        &[("csrf", "forged")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post_form(
        &app,
        &anna,
        "/console/subscriptions/nobody/pause",
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let karin = sign_in(&app, "karin").await;
    let (_, hers) = page(&app, "/console", Some(&karin)).await;
    let (status, _) = post_form(
        &app,
        &karin,
        "/console/subscriptions/ostersund-treserva/pause",
        &[("csrf", &csrf(&hers))],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        app.store.paused_subscriptions().await.unwrap().is_empty(),
        "still resumed"
    );
}

#[tokio::test]
async fn a_step_held_by_a_pause_raises_its_deviation_as_its_deadline_nears() {
    let inbox = crate::helpers::receiver().await;
    let (app, _dir) = with_ostersund(&inbox).await;
    let anna = sign_in(&app, "anna").await;
    let (_, deliveries) = page(&app, "/console/deliveries", Some(&anna)).await;
    let (status, _) = post_form(
        &app,
        &anna,
        "/console/subscriptions/ostersund-treserva/pause",
        &[("csrf", &csrf(&deliveries))],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Admitted now (the test clock's 13:00 in Stockholm): the notice is due in 24 hours.
    let case = crate::delivery_late::admitted_now(&app).await;
    // A day from the deadline: held, and nothing said (the worker looks every second).
    assert!(inbox.no_more_than(0, Duration::from_secs(2)).await);
    assert_eq!(crate::delivery::late_deviations(&app, &case).await, []);

    // Within the warning (two hours) of the deadline: a deviation for each held delivery (one
    // for each of Östersund's units), once, saying why.
    let id = brygga::domain::case::CaseId::parse(&case).unwrap();
    let held = app
        .store
        .outbox_status_for_case(id)
        .await
        .unwrap()
        .iter()
        .filter(|(d, _, s)| d == "ostersund-treserva" && s == "pending")
        .count();
    assert_eq!(held, 2);
    app.clock
        .advance(jiff::SignedDuration::from_hours(22) + jiff::SignedDuration::from_mins(30));
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let raised = loop {
        let raised = crate::delivery::late_deviations(&app, &case).await;
        if raised.len() >= held || std::time::Instant::now() > until {
            break raised;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), inbox.wait_for(1)).await;
    };
    assert_eq!(raised.len(), held, "{raised:?}");
    for (addressed_to, description) in &raised {
        assert!(addressed_to.contains("2380"), "{addressed_to}");
        assert!(
            description.contains("an operator paused subscription ostersund-treserva"),
            "{description}"
        );
        assert!(description.contains("2026-11-24 13:00"), "{description}");
    }
    assert_eq!(inbox.received().len(), 0, "still held");

    // Resumed (signed in again: the session ended in the day gone by): delivered, and no
    // second deviation.
    let anna = sign_in(&app, "anna").await;
    let (_, deliveries) = page(&app, "/console/deliveries", Some(&anna)).await;
    let (status, location) = post_form(
        &app,
        &anna,
        "/console/subscriptions/ostersund-treserva/resume",
        &[("csrf", &csrf(&deliveries))],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.contains("/console/deliveries"), "{location}");
    inbox.wait_for(held).await;
    assert_eq!(
        crate::delivery::late_deviations(&app, &case).await.len(),
        held
    );
}
