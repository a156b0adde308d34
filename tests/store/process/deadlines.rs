//! Deadlines: the on-time path, every missed deadline, holidays and the DST nights, timers across
//! restarts and instances.

use super::*;

pub async fn the_on_time_path_raises_no_deviation(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.consents().await;
    e.receive("08-utskrivningsklar.xml", &[]).await;
    // Jämtland: three working days after Tuesday 24 November → Friday 27, end of day; payment
    // responsibility from Saturday 00:00.
    assert_eq!(
        pending(store).await,
        [
            (
                "payment_responsibility".into(),
                "2026-11-27T23:00:00Z".into()
            ),
            ("sip_invitation".into(), "2026-11-27T23:00:00Z".into()),
        ]
    );
    e.receive("11-kallelse-sip.xml", &[]).await;
    e.receive("19-information-vid-utskrivning.xml", &[]).await;
    e.receive("20-utskriven.xml", &[]).await;
    assert_eq!(pending(store).await, []);
    e.set_clock("2027-01-31T00:00:00Z");
    assert_eq!(e.scheduler.fire_due().await.unwrap(), 0);
    assert_eq!(missed(store).await, []);
}

pub async fn every_missed_deadline_is_recorded_with_its_due_time_and_rule(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-21T09:00:00Z", "a");
    // Sent the day after the admission: more than 24 hours.
    e.receive(
        "01-inskrivningsmeddelande.xml",
        &[(
            "<Skapad>2026-11-20T08:40:00</Skapad>",
            "<Skapad>2026-11-21T09:30:00</Skapad>",
        )],
    )
    .await;
    e.receive("08-utskrivningsklar.xml", &[]).await;
    // No invitation; the person is still in hospital on Saturday morning.
    e.set_clock("2026-11-27T22:59:59Z");
    assert_eq!(
        e.scheduler.fire_due().await.unwrap(),
        0,
        "nothing is due yet"
    );
    e.set_clock("2026-11-28T08:00:00Z");
    assert_eq!(e.scheduler.fire_due().await.unwrap(), 2);
    // Discharged without information at discharge.
    e.receive("20-utskriven.xml", &[]).await;
    assert_eq!(e.scheduler.fire_due().await.unwrap(), 1);
    assert_eq!(
        missed(store).await,
        [
            (
                Deadline::AdmissionNotice,
                "2026-11-21T07:05:00Z".into(),
                "jamtland/admission_notice".into()
            ),
            (
                Deadline::InformationAtDischarge,
                "2026-11-27T23:00:00Z".into(),
                "jamtland/information_at_discharge".into()
            ),
            (
                Deadline::PaymentResponsibility,
                "2026-11-27T23:00:00Z".into(),
                "jamtland/payment_responsibility".into()
            ),
            (
                Deadline::SipInvitation,
                "2026-11-27T23:00:00Z".into(),
                "jamtland/sip_invitation".into()
            ),
        ]
    );
    // Firing again finds nothing: each timer fired once.
    assert_eq!(e.scheduler.fire_due().await.unwrap(), 0);
    // Each missed deadline but the start of payment responsibility raised a deviation, addressed
    // to the ward, routed to both principals' deviation contacts; each waits for its answer.
    let deviations = deviations(store).await;
    assert_eq!(
        deviations
            .iter()
            .map(|d| (d.deadline.unwrap(), d.addressed_to.to_string()))
            .collect::<Vec<_>>(),
        [
            (
                Deadline::AdmissionNotice,
                "region unit SE2321000214-E1AV".into()
            ),
            (
                Deadline::SipInvitation,
                "region unit SE2321000214-E1AV".into()
            ),
            (
                Deadline::InformationAtDischarge,
                "region unit SE2321000214-E1AV".into()
            ),
        ]
    );
    for d in &deviations {
        assert_eq!(d.notify, contacts(), "{}", d.deviation_id);
        assert_eq!(d.status, DeviationStatus::Open);
    }
    // Answer within 14 calendar days, moved to the next working day: the late admission
    // notice's on Monday 7 December, the others' on Monday 14 December.
    assert_eq!(
        pending(store)
            .await
            .into_iter()
            .map(|(kind, due)| (kind.split(':').next().unwrap().to_owned(), due))
            .collect::<Vec<_>>(),
        [
            ("deviation_reminder".into(), "2026-12-07T23:00:00Z".into()),
            ("deviation_reminder".into(), "2026-12-14T23:00:00Z".into()),
            ("deviation_reminder".into(), "2026-12-14T23:00:00Z".into()),
        ]
    );
}

pub async fn deadlines_over_christmas_move_to_the_next_working_day(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-12-21T08:00:00Z", "a");
    let dates = [
        (
            "<Skapad>2026-11-20T08:40:00</Skapad>",
            "<Skapad>2026-12-18T08:40:00</Skapad>",
        ),
        (
            "<Inskriven>2026-11-20T08:05:00</Inskriven>",
            "<Inskriven>2026-12-18T08:05:00</Inskriven>",
        ),
    ];
    e.receive("01-inskrivningsmeddelande.xml", &dates).await;
    e.receive(
        "08-utskrivningsklar.xml",
        &[
            (
                "<Skapad>2026-11-24T09:20:00</Skapad>",
                "<Skapad>2026-12-21T09:20:00</Skapad>",
            ),
            (
                "<Beslutad>2026-11-24T09:10:00</Beslutad>",
                "<Beslutad>2026-12-21T09:10:00</Beslutad>",
            ),
        ],
    )
    .await;
    // Jämtland counts working days and treats Christmas Eve as a holiday: Tuesday 22,
    // Wednesday 23, then Monday 28 (24–27 are Christmas Eve, Christmas Day, Boxing Day and a
    // Sunday).
    assert_eq!(
        pending(store).await,
        [
            (
                "payment_responsibility".into(),
                "2026-12-28T23:00:00Z".into()
            ),
            ("sip_invitation".into(), "2026-12-28T23:00:00Z".into()),
        ]
    );
}

pub async fn the_admission_notice_clock_counts_elapsed_hours_over_the_dst_nights(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-03-29T08:00:00Z", "a");
    // Spring: 08:05 Saturday to 08:30 Sunday local is 23 h 25 min: on time.
    e.receive(
        "01-inskrivningsmeddelande.xml",
        &[
            (
                "<Skapad>2026-11-20T08:40:00</Skapad>",
                "<Skapad>2026-03-29T08:30:00</Skapad>",
            ),
            (
                "<Inskriven>2026-11-20T08:05:00</Inskriven>",
                "<Inskriven>2026-03-28T08:05:00</Inskriven>",
            ),
        ],
    )
    .await;
    assert_eq!(missed(store).await, []);

    // Autumn: 08:05 Saturday to 07:30 Sunday local is 24 h 25 min: late. Due 24 elapsed
    // hours after the admission, 07:05 local winter time.
    let autumn = TestDb::sqlite().await;
    let store = autumn.migrated().await;
    let e = engine(store, "2026-10-25T08:00:00Z", "a");
    e.receive(
        "01-inskrivningsmeddelande.xml",
        &[
            (
                "<Skapad>2026-11-20T08:40:00</Skapad>",
                "<Skapad>2026-10-25T07:30:00</Skapad>",
            ),
            (
                "<Inskriven>2026-11-20T08:05:00</Inskriven>",
                "<Inskriven>2026-10-24T08:05:00</Inskriven>",
            ),
        ],
    )
    .await;
    assert_eq!(
        missed(store).await,
        [(
            Deadline::AdmissionNotice,
            "2026-10-25T06:05:00Z".into(),
            "jamtland/admission_notice".into()
        )]
    );
}

pub async fn a_revoked_ready_for_discharge_stops_its_clocks(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.receive("08-utskrivningsklar.xml", &[]).await;
    assert_eq!(pending(store).await.len(), 2);
    e.receive("10-utskrivningsklar-aterkallad.xml", &[]).await;
    assert_eq!(pending(store).await, []);
    e.set_clock("2026-12-31T00:00:00Z");
    assert_eq!(e.scheduler.fire_due().await.unwrap(), 0);
    assert_eq!(missed(store).await, []);
}

pub async fn timers_due_while_the_gateway_was_down_fire_at_start(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "before");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.receive("08-utskrivningsklar.xml", &[]).await;
    drop(e);
    db.store.close().await;

    // Another process, a week later.
    let restarted = db.second_instance().await;
    let e = engine(&restarted, "2026-12-04T08:00:00Z", "after");
    assert_eq!(e.scheduler.fire_due().await.unwrap(), 2);
    assert_eq!(missed(&restarted).await.len(), 2);
}

pub async fn two_instances_fire_each_timer_once(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.receive("08-utskrivningsklar.xml", &[]).await;
    let other = db.second_instance().await;
    let a = engine(store, "2026-12-01T08:00:00Z", "instance-a");
    let b = engine(&other, "2026-12-01T08:00:00Z", "instance-b");
    let (fired_a, fired_b) = tokio::join!(a.scheduler.fire_due(), b.scheduler.fire_due());
    assert_eq!(fired_a.unwrap() + fired_b.unwrap(), 2);
    assert_eq!(missed(store).await.len(), 2);
}

pub async fn a_timer_claimed_twice_is_recorded_once(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.receive("08-utskrivningsklar.xml", &[]).await;
    // One claim, handed to two instances, as when a lease runs out while the first instance
    // is still firing.
    let now = at("2026-12-01T08:00:00Z");
    let claimed = store
        .claim_due_timers("a", now, SignedDuration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let a = engine(store, "2026-12-01T08:00:00Z", "a");
    let other = db.second_instance().await;
    let b = engine(&other, "2026-12-01T08:00:00Z", "b");
    let first = a.scheduler.fire(claimed[0].clone(), now).await.unwrap();
    let again = b.scheduler.fire(claimed[0].clone(), now).await.unwrap();
    assert_eq!((first, again), (Fired::Recorded, Fired::Settled));
    assert_eq!(missed(store).await.len(), 1);
}

pub async fn a_discharge_during_an_lvm_hold_is_recorded_at_once(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("21-inskrivningsmeddelande-psykiatri.xml", &[])
        .await;
    e.receive("23-lvm-beslut.xml", &[]).await;
    e.receive("25-utskriven-till-lvm-hem.xml", &[]).await;
    let breaches: Vec<_> = missed_in(store, story_case("SA-2026-004802"))
        .await
        .into_iter()
        .filter(|(deadline, _, _)| *deadline == Deadline::LvmHold)
        .collect();
    assert_eq!(
        breaches,
        [(
            Deadline::LvmHold,
            "2026-11-26T12:35:00Z".to_owned(),
            "jamtland/lvm_hold".to_owned()
        )]
    );

    // With the transport arranged first, the discharge is as it should be.
    let other = TestDb::sqlite().await;
    let store = other.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("21-inskrivningsmeddelande-psykiatri.xml", &[])
        .await;
    e.receive("23-lvm-beslut.xml", &[]).await;
    e.receive("24-transport-ordnad.xml", &[]).await;
    e.receive("25-utskriven-till-lvm-hem.xml", &[]).await;
    assert!(
        missed_in(store, story_case("SA-2026-004802"))
            .await
            .iter()
            .all(|(deadline, _, _)| *deadline != Deadline::LvmHold)
    );
    // A transport for a decision the case does not have is refused.
    let refused = e
        .pipeline
        .receive_cosmic_link(
            &example(
                "24-transport-ordnad.xml",
                &[
                    ("OSD-LVM-2026-0043", "OSD-LVM-2026-0099"),
                    (
                        "beslut=\"LVM-2380-2026-017\"",
                        "beslut=\"LVM-2380-2026-999\"",
                    ),
                ],
            ),
            Acting::Operator,
        )
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("LVM-2380-2026-999"),
        "{refused}"
    );
}

pub async fn planning_that_never_happened_is_a_deviation_to_whoever_answers_for_it(db: &TestDb) {
    use brygga::domain::event::DeviationCause;
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.consents().await;
    // A plan without a follow-up date: to its sender.
    e.receive(
        "18-plan-sip.xml",
        &[("    <Uppfoljning>2026-12-10</Uppfoljning>\n", "")],
    )
    .await;
    let missing = |deviations: Vec<DeviationView>| -> Vec<String> {
        deviations
            .into_iter()
            .filter(|d| d.cause == DeviationCause::PlanningMissing)
            .map(|d| d.addressed_to.to_string())
            .collect()
    };
    assert_eq!(
        missing(deviations(store).await),
        ["region unit SE2321000214-E3HC"]
    );
    // Planning was recorded (the plan): the discharge raises nothing more.
    e.receive("20-utskriven.xml", &[]).await;
    assert_eq!(missing(deviations(store).await).len(), 1);

    // Another case: admitted, then discharged with nothing planned at all: to the ward.
    let other = TestDb::sqlite().await;
    let store = other.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.receive("20-utskriven.xml", &[]).await;
    assert_eq!(
        missing(deviations(store).await),
        ["region unit SE2321000214-E1AV"]
    );
    let json = stats_json(store, "2026-11-01", "2026-12-01").await;
    assert_eq!(row(&json, "SE2321000214-E1AV")["planning_missing"], 1);
}

pub async fn an_hvb_placement_in_a_municipalitys_own_case_runs_the_county_agreements_clocks(
    db: &TestDb,
) {
    let store = db.migrated().await;
    let e = engine(store, "2026-12-17T10:00:00Z", "a");
    // Östersund opens the case itself: no region takes part yet.
    let reference = serde_json::json!({"issuer": "2380", "value": "OSD-2026-0400"});
    let message = serde_json::json!({
        "case": reference,
        "person": {"system": "personnummer", "value": "198112189876"},
        "sent_at": "2026-12-17T10:00:00Z",
        "event": {
            "id": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"placement-1"),
            "occurred_at": "2026-12-17T10:00:00Z",
            "source": {"format": "canonical", "message_id": "placement-1"},
            "kind": "placement",
            "placement_id": "P-1",
            "placement_type": "HVB",
            "emergency": true,
            "by": {"type": "municipality", "kommunkod": "2380"}
        }
    });
    let receipt = e
        .pipeline
        .receive_canonical(&serde_json::to_vec(&message).unwrap(), Acting::Operator)
        .await
        .unwrap();
    let mut kinds: Vec<String> = store
        .pending_timers(receipt.case_id)
        .await
        .unwrap()
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    kinds.sort();
    // The Jämtland agreement covers Östersund whoever opened the case.
    assert_eq!(
        kinds,
        [
            "agreement:jamtland/hvb-cost-split:P-1",
            "agreement:jamtland/sip-after-hvb-placement:P-1"
        ]
    );
    // The placement in the follow-up figures, for the municipality that made it.
    let json = stats_json(store, "2026-12-01", "2027-01-01").await;
    let ostersund = row(&json, "2380");
    assert_eq!(ostersund["placements"], 1);
    assert_eq!(ostersund["placements_emergency"], 1);
    assert_eq!(ostersund["placements_hvb"], 1);
}

pub async fn an_lvm_hold_applies_to_a_person_at_the_hospital_admitted_or_not(db: &TestDb) {
    use brygga::domain::event::EventKind;
    let store = db.migrated().await;
    let e = engine(store, "2026-11-22T10:00:00Z", "a");
    let lvm_case = story_case("SA-2026-004802");
    // At the psychiatric emergency unit, not admitted: the physician's 6 § report, then social
    // services' decision, which holds the person at the hospital until transport.
    e.receive("22-lvm-anmalan.xml", &[]).await;
    e.receive("23-lvm-beslut.xml", &[]).await;
    let case = store
        .load_case(lvm_case)
        .await
        .unwrap()
        .unwrap()
        .to_case()
        .unwrap();
    assert_eq!(case.phase(), brygga::domain::case::Phase::Outpatient);
    assert!(!case.state().lvm_holds.is_empty());
    e.receive("24-transport-ordnad.xml", &[]).await;
    let case = store
        .load_case(lvm_case)
        .await
        .unwrap()
        .unwrap()
        .to_case()
        .unwrap();
    assert!(case.state().lvm_holds.is_empty());
    assert!(
        case.events()
            .iter()
            .any(|e| matches!(e.kind, EventKind::LvmTransportArranged { .. }))
    );

    // How long the hospital held the person for the municipality's decision: 25 November
    // 16:20 to the transport arranged on the 26th at 09:05, 0.70 days.
    let json = stats_json(store, "2026-11-01", "2026-12-01").await;
    let ostersund = row(&json, "2380");
    assert_eq!(ostersund["lvm_holds_ended"], 1, "{ostersund}");
    assert_eq!(ostersund["days_held_for_lvm"], 0.7, "{ostersund}");

    // Admitted, held: a ready-for-discharge notice is recorded with a warning to its sender.
    let other = TestDb::sqlite().await;
    let store = other.migrated().await;
    let e = engine(store, "2026-11-22T10:00:00Z", "a");
    e.receive("21-inskrivningsmeddelande-psykiatri.xml", &[])
        .await;
    e.receive("22-lvm-anmalan.xml", &[]).await;
    e.receive("23-lvm-beslut.xml", &[]).await;
    let ready = example(
        "08-utskrivningsklar.xml",
        &[
            ("SA-2026-004711", "SA-2026-004802"),
            ("19811218-9876", "19850612-4570"),
            ("2026-11-24T09:20:00", "2026-11-25T17:20:00"),
            ("2026-11-24T09:10:00", "2026-11-25T17:10:00"),
        ],
    );
    let receipt = e
        .pipeline
        .receive_cosmic_link(&ready, Acting::Operator)
        .await
        .unwrap();
    assert!(
        receipt
            .warnings
            .iter()
            .any(|w| w.contains("LVM decision") && w.contains("may not leave")),
        "{:?}",
        receipt.warnings
    );
    // How long the hold has lasted: since the decision, in Swedish time.
    assert!(
        receipt
            .warnings
            .iter()
            .any(|w| w.contains("LVM-2380-2026-017, holding since 2026-11-25 16:20")),
        "{:?}",
        receipt.warnings
    );
}

pub async fn psychiatric_care_with_substance_abuse_assumes_a_sip_is_needed(db: &TestDb) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-22T10:00:00Z", "a");
    let lvm_case = story_case("SA-2026-004802");
    e.receive("21-inskrivningsmeddelande-psykiatri.xml", &[])
        .await;
    e.receive("22-lvm-anmalan.xml", &[]).await;
    // Reported Sunday 22 November: a SIP invitation due within 14 days, by the end of Sunday
    // 6 December, moved to the end of Monday 7 December.
    let pending_of = |kind: &'static str| async move {
        store
            .pending_timers(lvm_case)
            .await
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, due)| due.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pending_of("sip_dual_diagnosis").await,
        ["2026-12-07T23:00:00Z"]
    );
    e.set_clock("2026-12-08T08:00:00Z");
    e.scheduler.fire_due().await.unwrap();
    let missed = missed_in(store, lvm_case).await;
    assert!(
        missed
            .iter()
            .any(|(deadline, due, rule)| *deadline == Deadline::Agreement
                && due == "2026-12-07T23:00:00Z"
                && rule == "jamtland/sip-dual-diagnosis"),
        "{missed:?}"
    );

    // Not psychiatric care: no such clock.
    let other = TestDb::sqlite().await;
    let store = other.migrated().await;
    let e = engine(store, "2026-11-22T10:00:00Z", "a");
    e.receive("22-lvm-anmalan.xml", &[]).await;
    let dual = || async {
        store
            .pending_timers(lvm_case)
            .await
            .unwrap()
            .into_iter()
            .filter(|(kind, _)| kind == "sip_dual_diagnosis")
            .map(|(_, due)| due.to_string())
            .collect::<Vec<_>>()
    };
    assert!(dual().await.is_empty());

    // Psychiatric inpatient care where social services' LVM decision is the first LVM step:
    // the clock starts from the decision, and the psychiatric ward answers for it.
    let other = TestDb::sqlite().await;
    let store = other.migrated().await;
    let e = engine(store, "2026-11-22T10:00:00Z", "a");
    e.receive("21-inskrivningsmeddelande-psykiatri.xml", &[])
        .await;
    e.receive("23-lvm-beslut.xml", &[]).await;
    let timers = store.pending_timers(lvm_case).await.unwrap();
    let dual: Vec<_> = timers
        .iter()
        .filter(|(kind, _)| kind == "sip_dual_diagnosis")
        .collect();
    assert_eq!(dual.len(), 1, "{timers:?}");
    e.set_clock("2026-12-31T08:00:00Z");
    e.scheduler.fire_due().await.unwrap();
    let raised = store.load_case(lvm_case).await.unwrap().unwrap();
    let addressed: Vec<String> = raised
        .events
        .iter()
        .filter_map(|s| match &s.event.kind {
            EventKind::DeviationRaised {
                addressed_to,
                deadline: Some(Deadline::Agreement),
                ..
            } => Some(addressed_to.to_string()),
            _ => None,
        })
        .collect();
    assert!(
        addressed.iter().any(|a| a.contains("SE2321000214-E2P1")),
        "{addressed:?}"
    );
}
