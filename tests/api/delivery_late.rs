//! Late and lost deliveries told to the principals: a delivery still failing near its step's
//! deadline, and a dead-lettered step that must arrive, each raise a deviation once.

use jiff::SignedDuration;
use serde_json::Value;

use crate::delivery::{advance_until, gateway, late_deviations};
use crate::helpers::{receiver, subscription};

/// Posts the example admission as made at the test clock's 13:00 in Stockholm (its notice
/// due in 24 hours); the case's id.
pub(crate) async fn admitted_now(app: &crate::helpers::TestApp) -> String {
    let admission = String::from_utf8(crate::helpers::cosmic_example(
        "01-inskrivningsmeddelande.xml",
    ))
    .unwrap()
    .replace("2026-11-20T08:05:00", "2026-11-23T13:00:00")
    .replace("2026-11-20T08:40:00", "2026-11-23T13:00:00");
    let response = app.post_cosmic_link(admission.into_bytes()).await;
    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.unwrap();
    receipt["case_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_delivery_still_failing_near_its_deadline_raises_one_deviation_for_both_principals() {
    let inbox = receiver().await;
    inbox.answer_with(&[503; 200]);
    let app = gateway(vec![subscription(
        "ostersund",
        "2380",
        &inbox.url,
        "canonical",
    )])
    .await;
    let case = admitted_now(&app).await;
    // Failing, but a day from the deadline: three attempts (the second settled) and no deviation.
    advance_until(&app, &inbox, 3).await;
    assert_eq!(late_deviations(&app, &case).await, []);
    // Within the warning (two hours) of the deadline: the next failure raises it, once.
    app.clock
        .advance(SignedDuration::from_hours(22) + SignedDuration::from_mins(30));
    let seen = inbox.received().len();
    advance_until(&app, &inbox, seen + 3).await;
    let raised = late_deviations(&app, &case).await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    let (addressed_to, description) = &raised[0];
    assert!(addressed_to.contains("2380"), "{addressed_to}");
    assert!(description.contains("admission_notice"), "{description}");
    assert!(description.contains("503"), "{description}");
    assert!(description.contains("2026-11-24 13:00"), "{description}");
    // The municipality's coordinators see it among its deviations.
    let list: Value = app
        .as_client(crate::helpers::OSTERSUND)
        .await
        .get(app.url("/deviations?principal=municipality&unit=2380"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let causes: Vec<&str> = list["deviations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["cause"].as_str())
        .collect();
    assert!(causes.contains(&"delivery_late"), "{list}");
}

#[tokio::test]
async fn a_dead_lettered_step_without_a_deadline_tells_its_sender_at_once() {
    let inbox = receiver().await;
    inbox.answer_with(&[400]);
    let app = gateway(vec![subscription(
        "refusing",
        "2380",
        &inbox.url,
        "canonical",
    )])
    .await;
    // A report of concern for a child "ska genast anmälas": it has no deadline of its own.
    let mut report: Value = serde_json::from_slice(
        &std::fs::read(
            crate::helpers::repo_root()
                .join("fixtures/cosmic-link/to-canonical/22-lvm-anmalan.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let event = report["event"].as_object_mut().unwrap();
    event.remove("physician");
    event.insert("kind".into(), "child_concern_report".into());
    event.insert(
        "reporter".into(),
        serde_json::json!({"type": "region_unit", "hsa_id": "SE2321000214-E2P1"}),
    );
    event.insert(
        "legal_basis".into(),
        "14 kap. 1 § socialtjänstlagen (2001:453)".into(),
    );
    event.insert(
        "report".into(),
        "Barnet bor med en förälder som vårdas.".into(),
    );
    event.insert("id".into(), "5a4b1f6e-8c2d-5e3f-9a7b-1c2d3e4f5a6b".into());
    let response = app
        .region()
        .await
        .post(app.url("/canonical/v1/messages"))
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let receipt: Value = response.json().await.unwrap();
    let case = receipt["case_id"].as_str().unwrap().to_owned();
    inbox.wait_for(1).await;
    // Refused (400): dead-lettered, and a deviation raised at once, naming the sender.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let raised = loop {
        let raised = late_deviations(&app, &case).await;
        if !raised.is_empty() {
            break raised;
        }
        assert!(std::time::Instant::now() < deadline, "no deviation raised");
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(100), inbox.wait_for(2)).await;
    };
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(raised[0].1.contains("dead letters"), "{raised:?}");
    assert!(!raised[0].1.contains("deadline"), "{raised:?}");
    let stored = app
        .store
        .load_case(brygga::domain::case::CaseId::parse(&case).unwrap())
        .await
        .unwrap()
        .unwrap();
    let notified: Vec<String> = stored
        .events
        .iter()
        .filter_map(|e| match &e.event.kind {
            brygga::domain::event::EventKind::DeviationRaised { notify, .. } => {
                Some(notify.iter().map(ToString::to_string).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        notified.contains(&"region unit SE2321000214-E2P1".to_owned()),
        "{notified:?}"
    );
}
