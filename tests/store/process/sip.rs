//! SIP meetings, deviations and follow-up: invitations, attendance, plans followed up,
//! reminders, statistics, and deliveries across instances.

use super::agreements::{attendance, municipality_invitation};
use super::*;

pub async fn follow_up_statistics_count_what_happened_per_unit_and_period(db: &TestDb) {
    use brygga::pipeline::stats::for_period;
    use jiff::civil::date;

    let store = db.migrated().await;
    let e = engine(store, "2026-11-21T09:00:00Z", "a");
    // A late admission notice, a plan, a discharge three days into payment responsibility and
    // no information at discharge.
    e.receive(
        "01-inskrivningsmeddelande.xml",
        &[(
            "<Skapad>2026-11-20T08:40:00</Skapad>",
            "<Skapad>2026-11-21T09:30:00</Skapad>",
        )],
    )
    .await;
    e.receive("08-utskrivningsklar.xml", &[]).await;
    e.receive("11-kallelse-sip.xml", &[]).await;
    e.receive("14-svar-kallelse.xml", &[]).await;
    e.receive("18-plan-sip.xml", &[]).await;
    e.set_clock("2026-11-28T08:00:00Z");
    assert_eq!(
        e.scheduler.fire_due().await.unwrap(),
        1,
        "payment responsibility"
    );
    e.receive(
        "20-utskriven.xml",
        &[(
            "<Tidpunkt>2026-11-27T14:30:00</Tidpunkt>",
            "<Tidpunkt>2026-11-30T10:00:00</Tidpunkt>",
        )],
    )
    .await;
    e.set_clock("2026-12-01T08:00:00Z");
    assert_eq!(
        e.scheduler.fire_due().await.unwrap(),
        1,
        "information at discharge"
    );
    // Readmitted five days later: a new samordningsärende.
    e.receive(
        "01-inskrivningsmeddelande.xml",
        &[
            ("SA-2026-004711", "SA-2026-005000"),
            ("CL-2026-0001", "CL-2026-0101"),
            (
                "<Skapad>2026-11-20T08:40:00</Skapad>",
                "<Skapad>2026-12-05T08:40:00</Skapad>",
            ),
            (
                "<Inskriven>2026-11-20T08:05:00</Inskriven>",
                "<Inskriven>2026-12-05T08:05:00</Inskriven>",
            ),
        ],
    )
    .await;

    let json = stats_json(store, "2026-11-01", "2026-12-01").await;
    let row = |unit: &str| row(&json, unit);
    assert_eq!(json["cases"], 1);
    let ward = row("SE2321000214-E1AV");
    assert_eq!(ward["principal"], "region");
    assert_eq!(ward["admission_notices"], 1);
    assert_eq!(ward["admission_notices_on_time"], 0);
    assert_eq!(ward["ready_for_discharge"], 1);
    assert_eq!(ward["discharges"], 1);
    // Tuesday 24 November 09:10 → Monday 30 November 10:00.
    assert_eq!(ward["days_ready_to_discharge"], 6.03);
    // Its place in the distribution.
    assert_eq!(ward["ready_to_discharge_5_to_10_days"], 1);
    assert_eq!(ward["ready_to_discharge_3_to_5_days"], 0);
    assert_eq!(ward["deadlines_missed"], 2);
    assert_eq!(row("SE2321000214-E3HC")["sip_invitations"], 1);
    assert_eq!(row("SE2321000214-E3HC")["plans"], 1);
    assert_eq!(row("SE2321000214-E2VC")["sip_answers_accepted"], 1);
    // From Saturday 00:00 to the discharge on Monday 10:00: 2 days 10 hours.
    let municipality = row("2380");
    assert_eq!(municipality["principal"], "municipality");
    assert_eq!(municipality["payment_responsibility_days"], 2.42);
    assert_eq!(json["total"]["admission_notices"], 1);

    let december = for_period(store, date(2026, 12, 1), date(2027, 1, 1))
        .await
        .unwrap();
    let csv = december.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("from,to,principal,unit,admission_notices,"));
    let ward_line = lines
        .iter()
        .find(|l| l.contains(",region,SE2321000214-E1AV,"))
        .unwrap();
    let columns: Vec<&str> = lines[0].split(',').collect();
    let values: Vec<&str> = ward_line.split(',').collect();
    let value = |name: &str| values[columns.iter().position(|c| *c == name).unwrap()];
    assert_eq!(value("admission_notices"), "1");
    assert_eq!(value("admission_notices_on_time"), "1");
    assert_eq!(value("information_at_discharge_late"), "1");
    assert_eq!(value("readmissions_30_days"), "1");
    assert_eq!(value("readmissions_without_plan"), "0");
    assert!(lines.last().unwrap().contains(",all,all,"));
}

pub async fn invited_parties_that_confirm_no_participant_in_time_are_recorded(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.consents().await;
    e.receive("08-utskrivningsklar.xml", &[]).await;
    // The meeting on Monday 30 November 13:00: each invited party confirms by Saturday 13:00.
    e.receive(
        "11-kallelse-sip.xml",
        &[(
            "<Tid>2026-11-26T13:00:00</Tid>",
            "<Tid>2026-11-30T13:00:00</Tid>",
        )],
    )
    .await;
    let attendance: Vec<(String, String)> = pending(store)
        .await
        .into_iter()
        .filter(|(kind, _)| kind.starts_with("sip_attendance:"))
        .collect();
    assert_eq!(attendance.len(), 3, "{attendance:?}");
    assert!(
        attendance
            .iter()
            .all(|(_, due)| due == "2026-11-28T12:00:00Z")
    );
    // Psychiatric outpatient care confirms its curator.
    e.receive("14-svar-kallelse.xml", &[]).await;
    e.set_clock("2026-11-28T12:00:00Z");
    e.scheduler.fire_due().await.unwrap();
    let case = store.load_case(case_id()).await.unwrap().unwrap();
    let mut unconfirmed: Vec<String> = case
        .events
        .iter()
        .filter_map(|stored| match &stored.event.kind {
            EventKind::DeadlineMissed {
                deadline: Deadline::SipAttendance,
                party: Some(party),
                ..
            } => Some(party.to_string()),
            _ => None,
        })
        .collect();
    unconfirmed.sort();
    assert_eq!(
        unconfirmed,
        [
            "municipality 2380 unit SE2120002411-BIST",
            "municipality 2380 unit SE2120002411-HSJV"
        ]
    );
}

pub async fn a_plan_not_followed_up_by_its_date_is_recorded_and_a_new_meeting_stops_the_clock(
    db: &TestDb,
) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.consents().await;
    e.receive("11-kallelse-sip.xml", &[]).await;
    e.receive("18-plan-sip.xml", &[]).await;
    let follow_up = |pending: Vec<(String, String)>| {
        pending
            .into_iter()
            .filter(|(kind, _)| kind.starts_with("plan_follow_up:"))
            .collect::<Vec<_>>()
    };
    // Follow-up on 10 December: due by the end of that day.
    assert_eq!(
        follow_up(pending(store).await),
        [(
            "plan_follow_up:P-2026-0311".to_owned(),
            "2026-12-10T23:00:00Z".to_owned()
        )]
    );
    e.set_clock("2026-12-11T08:00:00Z");
    e.scheduler.fire_due().await.unwrap();
    assert!(
        missed(store)
            .await
            .iter()
            .any(|(deadline, due, _)| *deadline == Deadline::PlanFollowUp
                && due == "2026-12-10T23:00:00Z")
    );

    // Another case: the follow-up meeting held stops the clock (its invitation alone does not).
    let other = TestDb::sqlite().await;
    let store = other.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.consents().await;
    e.receive("11-kallelse-sip.xml", &[]).await;
    e.receive("18-plan-sip.xml", &[]).await;
    e.receive(
        "11-kallelse-sip.xml",
        &[
            ("CL-2026-0007", "CL-2026-0077"),
            ("K-2026-0311", "K-2026-0412"),
            (
                "<Tid>2026-11-26T13:00:00</Tid>",
                "<Tid>2026-12-09T13:00:00</Tid>",
            ),
        ],
    )
    .await;
    assert_eq!(follow_up(pending(store).await).len(), 1);
    e.set_clock("2026-12-09T14:00:00Z");
    e.canonical(
        "meeting-held-1",
        serde_json::json!({
            "kind": "sip_meeting_held",
            "invitation_id": "K-2026-0412",
            "held_at": "2026-12-09T12:00:00Z",
            "attendees": [
                {"party": {"type": "region_unit", "hsa_id": "SE2321000214-E3HC"}, "function": "Fast vårdkontakt"},
                {"party": {"type": "municipality", "kommunkod": "2380"}, "function": "Biståndshandläggare"},
                {"party": {"type": "municipality", "kommunkod": "2380", "unit": "SE2120002411-HSJV"}, "function": "Sjuksköterska"},
                {"party": {"type": "region_unit", "hsa_id": "SE2321000214-E2VC"}, "function": "Kurator"}
            ],
            "person_participated": true
        }),
    )
    .await
    .unwrap();
    assert_eq!(follow_up(pending(store).await), []);
    // Everyone invited came (the municipality for both its units): no deviation.
    assert_eq!(deviations(store).await, []);
}

fn ward_party() -> Party {
    Party::RegionUnit {
        hsa_id: HsaId::parse("SE2321000214-E1AV").unwrap(),
    }
}

pub async fn a_deviation_is_reminded_until_the_addressed_party_answers_it(db: &TestDb) {
    use brygga::domain::case::TransitionError;
    use brygga::domain::event::EventKind;
    use brygga::domain::sensitive::Sensitive;
    use brygga::pipeline::ReceiveError;
    use brygga::store::DeviationFilter;

    let store = db.migrated().await;
    let e = engine(store, "2026-11-21T09:00:00Z", "a");
    // Sent a day late: a deviation to the ward at once.
    e.receive(
        "01-inskrivningsmeddelande.xml",
        &[(
            "<Skapad>2026-11-20T08:40:00</Skapad>",
            "<Skapad>2026-11-21T09:30:00</Skapad>",
        )],
    )
    .await;
    let [deviation] = deviations(store).await.try_into().unwrap();
    assert_eq!(deviation.addressed_to, ward_party());
    assert_eq!(
        deviation.cause,
        brygga::domain::event::DeviationCause::DeadlineMissed
    );
    assert_eq!(
        deviation
            .evidence
            .iter()
            .map(|x| (x.what.as_str(), x.at.to_string()))
            .collect::<Vec<_>>(),
        [
            ("admission_notice", "2026-11-20T07:05:00Z".into()),
            ("deadline", "2026-11-21T07:05:00Z".into()),
            ("deadline_missed", "2026-11-21T08:30:00Z".into()),
        ]
    );
    let id = deviation.deviation_id.clone();
    let unanswered = |filter| async move {
        store
            .deviations(filter, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.deviation_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        unanswered(DeviationFilter::Unanswered).await,
        std::slice::from_ref(&id)
    );

    // Unanswered after 14 days (Saturday 5 December → Monday 7): the first reminder, and the
    // next one a week later.
    e.set_clock("2026-12-07T22:59:00Z");
    assert_eq!(e.scheduler.fire_due().await.unwrap(), 0);
    e.set_clock("2026-12-08T08:00:00Z");
    assert_eq!(e.scheduler.fire_due().await.unwrap(), 1);
    assert_eq!(deviations(store).await[0].reminders, 1);
    assert_eq!(
        pending(store).await,
        [(
            format!("deviation_reminder:{id}"),
            "2026-12-14T23:00:00Z".into()
        )]
    );

    // Only the addressed party acknowledges and answers.
    let municipality = Party::Municipality {
        kommunkod: Kommunkod::parse("2380").unwrap(),
        unit: None,
    };
    let wrong = e
        .pipeline
        .append(
            case_id(),
            &municipality,
            "ack-wrong",
            EventKind::DeviationAcknowledged {
                deviation_id: id.clone(),
                by: municipality.clone(),
            },
            Acting::Operator,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            wrong,
            ReceiveError::Transition(TransitionError::NotAddressedTo { .. })
        ),
        "{wrong}"
    );
    e.set_clock("2026-12-09T08:00:00Z");
    e.pipeline
        .append(
            case_id(),
            &ward_party(),
            "ack",
            EventKind::DeviationAcknowledged {
                deviation_id: id.clone(),
                by: ward_party(),
            },
            Acting::Operator,
        )
        .await
        .unwrap();
    assert_eq!(
        deviations(store).await[0].status,
        DeviationStatus::Acknowledged
    );
    e.set_clock("2026-12-10T08:00:00Z");
    e.pipeline
        .append(
            case_id(),
            &ward_party(),
            "answer",
            EventKind::DeviationAnswered {
                deviation_id: id.clone(),
                answered_by: ward_party(),
                answer: Sensitive::new("Rutinen för helgbemanning är ändrad.".into()),
            },
            Acting::Operator,
        )
        .await
        .unwrap();
    let answered = &deviations(store).await[0];
    assert_eq!(answered.status, DeviationStatus::Answered);
    assert_eq!(answered.answer_days, Some(18.98));
    // The answer stops the reminders.
    assert_eq!(pending(store).await, []);
    e.set_clock("2027-02-01T00:00:00Z");
    assert_eq!(e.scheduler.fire_due().await.unwrap(), 0);
    assert_eq!(
        unanswered(DeviationFilter::Unanswered).await,
        Vec::<String>::new()
    );
    assert_eq!(unanswered(DeviationFilter::Answered).await, [id]);
    // Follow-up: raised in November; reminded and answered in December.
    let ward = "SE2321000214-E1AV";
    let november = row(&stats_json(store, "2026-11-01", "2026-12-01").await, ward);
    assert_eq!(november["deviations_raised"], 1);
    assert_eq!(november["deviations_answered"], 0);
    let december = row(&stats_json(store, "2026-12-01", "2027-01-01").await, ward);
    assert_eq!(december["deviation_reminders"], 1);
    assert_eq!(december["deviations_answered"], 1);
    assert_eq!(december["days_to_deviation_answer"], 18.98);
}

pub async fn a_party_absent_from_the_meeting_without_notice_raises_a_deviation(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.consents().await;
    // Invites the municipality's social services and home health care, and psychiatry; only
    // psychiatry answers (accepts).
    e.receive("11-kallelse-sip.xml", &[]).await;
    e.receive("14-svar-kallelse.xml", &[]).await;
    e.set_clock("2026-11-26T13:30:00Z");
    let receipt = e
        .canonical(
            "meeting-held",
            serde_json::json!({
                "kind": "sip_meeting_held",
                "invitation_id": "K-2026-0311",
                "held_at": "2026-11-26T12:00:00Z",
                "attendees": [
                    {"party": {"type": "municipality", "kommunkod": "2380", "unit": "SE2120002411-BIST"}, "function": "Biståndshandläggare"}
                ],
                "person_participated": true
            }),
        )
        .await
        .unwrap();
    // Home health care (no answer) and psychiatry (accepted) did not come.
    assert_eq!(receipt.follow_on.len(), 2);
    let mut absent: Vec<_> = deviations(store)
        .await
        .into_iter()
        .filter(|d| d.cause == brygga::domain::event::DeviationCause::AbsentFromMeeting)
        .map(|d| d.addressed_to.to_string())
        .collect();
    absent.sort();
    assert_eq!(
        absent,
        [
            "municipality 2380 unit SE2120002411-HSJV",
            "region unit SE2321000214-E2VC",
        ]
    );
    // The meeting is recorded once.
    let again = e
        .canonical(
            "meeting-held-again",
            serde_json::json!({
                "kind": "sip_meeting_held",
                "invitation_id": "K-2026-0311",
                "held_at": "2026-11-26T12:00:00Z",
                "attendees": []
            }),
        )
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("already recorded as held"),
        "{again}"
    );
    // Follow-up: the meeting for the inviter, who attended and who did not.
    let json = stats_json(store, "2026-11-01", "2026-12-01").await;
    let row = |unit: &str| row(&json, unit);
    assert_eq!(row("SE2321000214-E3HC")["sip_meetings_held"], 1);
    assert_eq!(
        row("SE2321000214-E3HC")["sip_meetings_person_participated"],
        1
    );
    assert_eq!(row("2380")["sip_meetings_attended"], 1);
    assert_eq!(row("2380")["sip_meetings_absent"], 1);
    assert_eq!(row("SE2321000214-E2VC")["sip_meetings_absent"], 1);
    assert_eq!(row("SE2321000214-E2VC")["sip_meetings_attended"], 0);
    assert_eq!(json["total"]["deviations_raised"], 2);
}

pub async fn a_municipality_invitation_to_the_region_goes_to_the_units_involved_with_the_person(
    db: &TestDb,
) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.receive("04-fast-vardkontakt.xml", &[]).await;
    // Östersund's social services records the person's consent to SIP (in force from the
    // admission's day, as the clock stays there) and invites "the region" without naming a
    // unit.
    e.receive(
        "12-samtycke-sip-kommunen.xml",
        &[("2026-11-25T09:15:00", "2026-11-20T08:50:00")],
    )
    .await;
    let invitation = municipality_invitation();
    let receipt = e
        .pipeline
        .receive_cosmic_link(&invitation, Acting::Operator)
        .await
        .unwrap();
    assert_eq!(receipt.withheld, []);
    // The receipt names whom the municipality invited, the region as a whole: which of the
    // region's units know the person is not the municipality's to learn.
    assert_eq!(
        receipt
            .routed_to
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "region unit SE2321000214-1000",
            "municipality 2380 unit SE2120002411-BIST",
            "municipality 2380 unit SE2120002411-HSJV",
        ]
    );
    // It went to the primary-care unit involved with the person (the ward is not a SIP unit):
    // the audit log's decision for that unit, under the region, shows the fan-out.
    let decided: Vec<(Option<String>, String)> = store
        .audit_for_case(case_id())
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "disclose sip_invitation")
        .map(|r| (r.organisation, r.details["recipient"].to_string()))
        .collect();
    assert!(
        decided.iter().any(|(organisation, recipient)| {
            organisation.as_deref() == Some("SE2321000214-1000")
                && recipient.contains("SE2321000214-E3HC")
        }),
        "{decided:?}"
    );
    assert!(
        attendance(pending(store).await)
            .contains(&"sip_attendance:K-2026-0311:region unit SE2321000214-1000".to_owned())
    );
    // The primary-care unit answers which function attends: that answers for the region.
    let answer = example(
        "14-svar-kallelse.xml",
        &[
            (
                r#"<Avsandare hsaId="SE2321000214-E2VC">Psykiatriska öppenvårdsmottagningen Östersund</Avsandare>"#,
                r#"<Avsandare hsaId="SE2321000214-E3HC">Odensala hälsocentral</Avsandare>"#,
            ),
            ("SvarKallelse", "SvarPaKommunensKallelse"),
        ],
    );
    e.pipeline
        .receive_cosmic_link(&answer, Acting::Operator)
        .await
        .unwrap();
    assert!(
        !attendance(pending(store).await)
            .contains(&"sip_attendance:K-2026-0311:region unit SE2321000214-1000".to_owned())
    );
}

/// Counts deliveries by idempotency key on loopback and answers 200.
async fn counting_receiver() -> (
    String,
    Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
    Arc<tokio::sync::Notify>,
) {
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let arrived = Arc::new(tokio::sync::Notify::new());
    let (s, a) = (seen.clone(), arrived.clone());
    let router = axum::Router::new().route(
        "/inbox",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let (s, a) = (s.clone(), a.clone());
            async move {
                let key = headers["idempotency-key"].to_str().unwrap().to_owned();
                *s.lock().unwrap().entry(key).or_insert(0) += 1;
                a.notify_waiters();
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/inbox", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, seen, arrived)
}

pub async fn two_instances_deliver_every_row_exactly_once(db: &TestDb) {
    use crate::support::{new_case, ostersund_unit, outbox_entry_for, person};
    db.migrated().await;
    let (url, seen, arrived) = counting_receiver().await;
    let subscriptions = brygga::delivery::Live::new(brygga::delivery::Subscriptions(vec![
        brygga::delivery::Subscription {
            timeout: std::time::Duration::from_secs(5),
            // The rows were written on the fixtures' dates, weeks before the real clock's now.
            retry: brygga::delivery::RetryPolicy {
                max_age_hours: 1_000_000,
                ..Default::default()
            },
            ..brygga::delivery::Subscription::new(
                "s",
                brygga::domain::party::Organisation::parse("2380").unwrap(),
                url.parse().unwrap(),
                brygga::formats::translate::Format::Canonical,
            )
        },
    ]));
    // 200 cases, each with its admission notice to two units: 400 rows.
    // Valid personnummer: a date, a serial and the Luhn check digit.
    let number = |i: usize| {
        let digits = format!(
            "{:02}{:02}{:02}{:03}",
            40 + i / 300,
            1 + (i / 28) % 12,
            1 + i % 28,
            100 + i % 800
        );
        let sum: u32 = digits
            .bytes()
            .enumerate()
            .map(|(k, b)| {
                let d = u32::from(b - b'0') * if k % 2 == 0 { 2 } else { 1 };
                d / 10 + d % 10
            })
            .sum();
        format!(
            "19{}-{}{}",
            &digits[..6],
            &digits[6..],
            (10 - sum % 10) % 10
        )
    };
    let mut rows = 0;
    for p in (0..200).map(|i| person(&number(i))) {
        let (case, mut commit) = new_case(&p);
        let event = &case.events()[0];
        commit
            .outbox
            .push(outbox_entry_for(event, ostersund_unit(1), "s"));
        commit
            .outbox
            .push(outbox_entry_for(event, ostersund_unit(2), "s"));
        db.store.commit(commit).await.unwrap();
        rows += 2;
    }
    let deliverer = |store: Store, worker: &str| brygga::delivery::Deliverer {
        committer: brygga::store::GroupCommitter::start(store.clone(), 64),
        store,
        subscriptions: subscriptions.clone(),
        mappings: mappings(),
        clock: Clock::System,
        worker: worker.to_owned(),
        http: reqwest::Client::new(),
        lease: SignedDuration::from_secs(60),
        batch: 16,
        breakers: Default::default(),
        retention: None,
        case_retention: None,
        audit_retention: None,
        anchoring: None,
        in_flight: Default::default(),
        ready: Default::default(),
        last_sent: Default::default(),
        directory: Arc::new(brygga::config::Directory::default()),
        deadline_warning: SignedDuration::from_hours(2),
        late: Default::default(),
        metrics: Default::default(),
        paused: Default::default(),
        held: Default::default(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let a = tokio::spawn(deliverer(db.store.clone(), "a").run(stopped.clone()));
    let b = tokio::spawn(deliverer(db.second_instance().await, "b").run(stopped));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let arrival = arrived.notified();
        tokio::pin!(arrival);
        arrival.as_mut().enable();
        if seen.lock().unwrap().values().sum::<u32>() as usize >= rows {
            break;
        }
        assert!(
            tokio::time::timeout_at(deadline, arrival).await.is_ok(),
            "{} of {rows} delivered",
            seen.lock().unwrap().len()
        );
    }
    stop.send(true).unwrap();
    a.await.unwrap();
    b.await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), rows, "every row delivered");
    assert!(seen.values().all(|n| *n == 1), "none twice");
}
