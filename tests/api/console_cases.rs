//! The console's cases over HTTP: a person's cases found by personnummer (in a POST), a case's
//! timeline only for a stated purpose that its audit record carries, a step withheld from a
//! party shown with its reason, clocks met, missed and running, and another organisation's
//! case refused as unknown.

use reqwest::StatusCode;

use crate::console::{console_app, csrf, page, post_page, sign_in};
use crate::helpers::TestApp;

const PERSONNUMMER: &str = "198112189876";

/// The ward's admission notice, ready for discharge and SIP invitation, without the person's
/// consent to SIP: the invitation is withheld from Östersund.
async fn withheld_invitation(app: &TestApp) -> String {
    let case = app.admitted_case().await;
    app.post_cosmic_example("08-utskrivningsklar.xml").await;
    let receipt = app.post_cosmic_example("11-kallelse-sip.xml").await;
    assert!(
        receipt["withheld"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["recipient"]["kommunkod"] == "2380")),
        "{receipt}"
    );
    case
}

/// The audit records of the case whose action is `action`.
async fn audited(app: &TestApp, case: &str, action: &str) -> Vec<brygga::store::AuditRecord> {
    app.store
        .audit_for_case(brygga::domain::case::CaseId::parse(case).unwrap())
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == action)
        .collect()
}

#[tokio::test]
async fn a_coordinator_finds_a_persons_cases_and_opens_a_timeline_for_a_stated_purpose() {
    let (app, _dir) = console_app().await;
    let case = withheld_invitation(&app).await;
    let rut = sign_in(&app, "rut").await;

    // The search form carries the CSRF token; the personnummer goes in the body.
    let (status, form) = page(&app, "/console/cases", Some(&rut)).await;
    assert_eq!(status, StatusCode::OK, "{form}");
    assert!(
        form.contains("method=\"post\" action=\"/console/cases\""),
        "{form}"
    );
    let token = csrf(&form);
    let (status, found) = post_page(
        &app,
        &rut,
        "/console/cases",
        &[
            ("csrf", &token),
            ("person", PERSONNUMMER),
            ("purpose", "planning"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let link = format!("/console/cases/{case}?purpose=planning");
    assert!(found.contains(&format!("href=\"{link}\"")), "{found}");
    let searched = audited(&app, &case, "read cases (console)").await;
    assert_eq!(searched.len(), 1);
    assert_eq!(searched[0].purpose, "samordnad planering inför utskrivning");
    assert_eq!(searched[0].actor, "console:rut");

    // Without a purpose the case is not read: the page asks for one.
    let (status, ask) = page(&app, &format!("/console/cases/{case}"), Some(&rut)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ask.contains("name=\"purpose\""), "{ask}");
    assert!(!ask.contains(PERSONNUMMER), "{ask}");
    assert!(audited(&app, &case, "read timeline").await.is_empty());
    // An unknown purpose is no purpose.
    let (_, ask) = page(
        &app,
        &format!("/console/cases/{case}?purpose=curiosity"),
        Some(&rut),
    )
    .await;
    assert!(ask.contains("name=\"purpose\""), "{ask}");
    assert!(ask.contains("Välj ett av syftena i listan."), "{ask}");
    assert!(audited(&app, &case, "read timeline").await.is_empty());

    let (status, timeline) = page(&app, &link, Some(&rut)).await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    assert!(timeline.contains(PERSONNUMMER), "{timeline}");
    for step in [
        "Inskrivningsmeddelande",
        "Utskrivningsklar",
        "Kallelse till SIP",
    ] {
        assert!(timeline.contains(step), "{step}: {timeline}");
    }
    // The invitation reached nobody in Östersund, and the page says why.
    assert!(
        timeline.contains("inte utlämnad: samtycke till SIP saknas för mottagaren"),
        "{timeline}"
    );
    let read = audited(&app, &case, "read timeline").await;
    assert_eq!(read.len(), 1, "one audited read");
    assert_eq!(read[0].purpose, "samordnad planering inför utskrivning");
    assert_eq!(read[0].actor, "console:rut");
    assert_eq!(read[0].organisation.as_deref(), Some("SE2321000214-1000"));

    // In English the decision's own explanation is given too.
    let (_, english) = page(&app, &format!("{link}&lang=en"), Some(&rut)).await;
    assert!(
        english.contains("withheld: no consent to SIP covers the recipient (SIP information needs"),
        "{english}"
    );

    // A number that is no personnummer: told so, nothing read.
    let (status, refused) = post_page(
        &app,
        &rut,
        "/console/cases",
        &[
            ("csrf", &token),
            ("person", "19811218-9877"),
            ("purpose", "planning"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.contains("role=\"alert\""), "{refused}");
    // The search is a form of the session: without its token it is refused.
    let (status, _) = post_page(
        &app,
        &rut,
        "/console/cases",
        &[
            ("csrf", "forged"),
            ("person", PERSONNUMMER),
            ("purpose", "planning"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(audited(&app, &case, "read cases (console)").await.len(), 1);
}

#[tokio::test]
async fn the_other_principal_sees_only_what_was_released_to_it_and_others_see_nothing() {
    let (app, _dir) = console_app().await;
    let case = withheld_invitation(&app).await;
    let link = format!("/console/cases/{case}?purpose=deviation");

    // Östersund's coordinator: the admission notice, not the invitation withheld from her;
    // that something was withheld is said, not what.
    let karin = sign_in(&app, "karin").await;
    let (status, timeline) = page(&app, &link, Some(&karin)).await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    assert!(timeline.contains("Inskrivningsmeddelande"), "{timeline}");
    assert!(!timeline.contains("Kallelse till SIP<"), "{timeline}");
    assert!(
        timeline.contains("Händelser som inte lämnats ut till din organisation: 1"),
        "{timeline}"
    );
    let read = audited(&app, &case, "read timeline").await;
    assert_eq!(read[0].purpose, "utredning av avvikelse");
    assert_eq!(read[0].organisation.as_deref(), Some("2380"));

    // Krokom takes no part: the case does not exist for it, by search or by link.
    let kalle = sign_in(&app, "kalle").await;
    let (status, refused) = page(&app, &link, Some(&kalle)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!refused.contains(PERSONNUMMER));
    let (_, form) = page(&app, "/console/cases", Some(&kalle)).await;
    let (status, found) = post_page(
        &app,
        &kalle,
        "/console/cases",
        &[
            ("csrf", &csrf(&form)),
            ("person", PERSONNUMMER),
            ("purpose", "planning"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!found.contains(&case), "{found}");
    assert!(found.contains("Inga ärenden"), "{found}");
    assert!(
        audited(&app, &case, "read timeline")
            .await
            .iter()
            .all(|r| r.organisation.as_deref() != Some("2309"))
    );
    // A malformed id is as unknown as another's case.
    let (status, _) = page(
        &app,
        "/console/cases/not-a-case?purpose=planning",
        Some(&kalle),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_timeline_shows_each_clock_met_missed_or_running() {
    let (app, _dir) = console_app().await;
    let case = withheld_invitation(&app).await;
    let rut = sign_in(&app, "rut").await;
    let link = format!("/console/cases/{case}?purpose=follow-up&lang=en");
    let (_, before) = page(&app, &link, Some(&rut)).await;
    let row = |name: &str, outcome: &str| {
        format!(
            "<tr><th scope=\"row\">{name}</th><td>–</td><td class=\"nowrap\">2026-11-28 00:00</td><td{outcome}"
        )
    };
    // The invitation stopped its clock in time; payment responsibility waits for its day.
    assert!(
        before.contains(&row(
            "SIP invitation within three days",
            " class=\"good\">met "
        )),
        "{before}"
    );
    assert!(
        before.contains(&row("Payment responsibility begins", ">running (")),
        "{before}"
    );
    // A week on, the clock has run out and the step recording it is on the timeline.
    app.clock.advance(jiff::SignedDuration::from_hours(24 * 7));
    let id = brygga::domain::case::CaseId::parse(&case).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let pending = app.store.pending_timers(id).await.unwrap();
        if pending.iter().all(|(_, due)| *due > app.clock.now()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the due timers were not recorded: {pending:?}"
        );
        tokio::task::yield_now().await;
    }
    // (The session did not outlive its idle limit.)
    let rut = sign_in(&app, "rut").await;
    let (_, after) = page(&app, &link, Some(&rut)).await;
    assert!(
        after.contains(&row(
            "Payment responsibility begins",
            " class=\"bad\">missed<"
        )),
        "{after}"
    );
    assert!(
        after.contains("Deadline missed <span class=\"when\">2026-11-28 00:00</span>"),
        "{after}"
    );
    // The deviation raised to the ward for the withheld invitation is not yet overdue; two
    // weeks on, unanswered and reminded, it is.
    let (_, overdue) = page(&app, "/console/deviations?status=overdue", Some(&rut)).await;
    assert!(overdue.contains("Inga avvikelser."), "{overdue}");
    app.clock.advance(jiff::SignedDuration::from_hours(24 * 14));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while app
        .store
        .pending_timers(id)
        .await
        .unwrap()
        .iter()
        .any(|(_, due)| *due <= app.clock.now())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the reminders were not recorded"
        );
        tokio::task::yield_now().await;
    }
    let rut = sign_in(&app, "rut").await;
    let (_, overdue) = page(&app, "/console/deviations?status=overdue", Some(&rut)).await;
    assert!(
        overdue.contains(&format!("href=\"/console/cases/{case}/deviations/")),
        "{overdue}"
    );
}
