//! The hard cases of the county agreements: an invitation withheld from everyone, a party
//! that sends another function than invited, a deviation that climbs the escalation ladder.

use super::*;

pub async fn an_invitation_withheld_from_everyone_starts_no_clock_and_tells_its_sender(
    db: &TestDb,
) {
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.receive("04-fast-vardkontakt.xml", &[]).await;
    // No consent to SIP recorded, none named: the invitation goes to nobody.
    let receipt = e
        .pipeline
        .receive_cosmic_link(&municipality_invitation(), Acting::Operator)
        .await
        .unwrap();
    assert!(
        receipt
            .warnings
            .iter()
            .any(|w| w.contains("consent to SIP")),
        "{:?}",
        receipt.warnings
    );
    // The receipt says whom it was withheld from (as the sender named them) and why.
    let withheld: Vec<String> = receipt
        .withheld
        .iter()
        .map(|w| w.recipient.to_string())
        .collect();
    assert!(
        withheld.contains(&"region unit SE2321000214-1000".to_owned()),
        "{withheld:?}"
    );
    assert!(
        receipt
            .withheld
            .iter()
            .all(|w| w.reason.contains("consent to SIP"))
    );
    // Nobody it was withheld from is waited for: the only attendance clock is the sender's own
    // (Biståndsenheten invited itself, and has its invitation).
    assert_eq!(
        attendance(pending(store).await),
        ["sip_attendance:K-2026-0311:municipality 2380 unit SE2120002411-BIST"]
    );
    // The sender is told by a deviation addressed to it, told to nobody else (the parties it
    // was withheld from may not learn of the invitation).
    let not_delivered: Vec<_> = deviations(store)
        .await
        .into_iter()
        .filter(|d| d.cause == brygga::domain::event::DeviationCause::NotDelivered)
        .collect();
    assert_eq!(not_delivered.len(), 1, "{not_delivered:?}");
    assert_eq!(
        not_delivered[0].addressed_to.to_string(),
        "municipality 2380 unit SE2120002411-BIST"
    );
    assert_eq!(not_delivered[0].notify, []);
    // The deviation is the step's one follow-on, in the receipt.
    assert_eq!(receipt.follow_on.len(), 1, "{:?}", receipt.follow_on);
    // Past the meeting: the region and home health care are not recorded as failing to
    // confirm, nor blamed; only the sender's own unit is.
    e.set_clock("2026-12-04T08:00:00Z");
    e.scheduler.fire_due().await.unwrap();
    let case = store.load_case(case_id()).await.unwrap().unwrap();
    let unconfirmed: Vec<String> = case
        .events
        .iter()
        .filter_map(|e| match &e.event.kind {
            brygga::domain::event::EventKind::DeadlineMissed {
                deadline: Deadline::SipAttendance,
                party,
                ..
            } => party.as_ref().map(ToString::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(unconfirmed, ["municipality 2380 unit SE2120002411-BIST"]);
    let blamed: Vec<String> = deviations(store)
        .await
        .into_iter()
        .filter(|d| d.cause != brygga::domain::event::DeviationCause::NotDelivered)
        .map(|d| d.addressed_to.to_string())
        .collect();
    assert!(
        blamed
            .iter()
            .all(|party| party == "municipality 2380 unit SE2120002411-BIST"),
        "{blamed:?}"
    );
    let json = stats_json(store, "2026-11-01", "2027-01-01").await;
    // Nothing counted against the region; the municipality's withheld step is counted for it.
    let rows = json["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .filter(|r| r["principal"] == "region")
            .all(|r| r["sip_attendance_unconfirmed"] == 0 && r["deviations_raised"] == 0),
        "{json}"
    );
    assert_eq!(row(&json, "2380")["steps_not_delivered"], 1);
}

/// The pending SIP attendance clocks among `pending`.
pub(super) fn attendance(pending: Vec<(String, String)>) -> Vec<String> {
    pending
        .into_iter()
        .filter(|(kind, _)| kind.starts_with("sip_attendance:"))
        .map(|(kind, _)| kind)
        .collect()
}

/// Östersund's social services inviting "the region" (not a unit) to a SIP meeting a week
/// ahead, naming no consent.
pub(super) fn municipality_invitation() -> Vec<u8> {
    example(
        "11-kallelse-sip.xml",
        &[
            (
                r#"<Avsandare hsaId="SE2321000214-E3HC">Odensala hälsocentral</Avsandare>"#,
                r#"<Avsandare kommunkod="2380" hsaId="SE2120002411-BIST">Socialförvaltningen, biståndsenheten</Avsandare>"#,
            ),
            (
                r#"<Kallad hsaId="SE2321000214-E2VC" funktion="Psykiatrisk öppenvård, kurator"/>"#,
                r#"<Kallad hsaId="SE2321000214-1000" funktion="Regionens företrädare"/>"#,
            ),
            (
                "    <SamtyckeReferens>SAMT-2026-0088</SamtyckeReferens>\n",
                "",
            ),
            // A week ahead, so that each invited party has a confirmation clock.
            (
                "<Tid>2026-11-26T13:00:00</Tid>",
                "<Tid>2026-12-03T13:00:00</Tid>",
            ),
        ],
    )
}

pub async fn an_unanswered_deviation_climbs_the_agreements_escalation_ladder(db: &TestDb) {
    use brygga::domain::event::EventKind;
    let store = db.migrated().await;
    let e = engine(store, "2026-11-21T09:00:00Z", "a");
    // Sent a day late: a deviation to the ward, under the Jämtland agreement.
    e.receive(
        "01-inskrivningsmeddelande.xml",
        &[(
            "<Skapad>2026-11-20T08:40:00</Skapad>",
            "<Skapad>2026-11-21T09:30:00</Skapad>",
        )],
    )
    .await;
    // Never answered: every reminder falls due, a week apart.
    e.set_clock("2027-03-01T08:00:00Z");
    while e.scheduler.fire_due().await.unwrap() > 0 {}
    let case = store.load_case(case_id()).await.unwrap().unwrap();
    let ladder: Vec<(u32, Option<String>, Vec<String>)> = case
        .events
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::DeviationReminder {
                reminder,
                escalation,
                ..
            } => Some((
                *reminder,
                escalation.as_ref().map(|x| x.level.clone()),
                escalation
                    .iter()
                    .flat_map(|x| x.to.iter().map(ToString::to_string))
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    let none = || (None, Vec::<String>::new());
    let expected = [
        (1, none()),
        (
            2,
            (
                Some("manager".to_owned()),
                vec!["region unit SE2321000214-VCHF".to_owned()],
            ),
        ),
        (3, none()),
        (
            4,
            (
                Some("superior_manager".to_owned()),
                vec!["region unit SE2321000214-HSDR".to_owned()],
            ),
        ),
        (5, none()),
        (6, (Some("county_forum".to_owned()), Vec::new())),
    ]
    .map(|(n, (level, to))| (n, level, to));
    // The ward's managers, not the municipality's: the ladder follows the addressed party.
    assert_eq!(ladder, expected);
    // The escalation goes to the manager like any deviation: disclosed, audited.
    let disclosed: Vec<String> = store
        .audit_for_case(case_id())
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "disclose deviation_reminder")
        .map(|r| r.details["recipient"].to_string())
        .collect();
    assert!(
        disclosed.iter().any(|r| r.contains("SE2321000214-VCHF")),
        "{disclosed:?}"
    );
    let json = stats_json(store, "2026-11-01", "2027-04-01").await;
    assert_eq!(row(&json, "SE2321000214-E1AV")["deviations_escalated"], 3);
}

pub async fn a_party_that_sends_another_function_than_invited_is_absent_by_function(db: &TestDb) {
    use brygga::domain::event::DeviationCause;
    let store = db.migrated().await;
    let e = engine(store, "2026-11-20T08:00:00Z", "a");
    e.receive("01-inskrivningsmeddelande.xml", &[]).await;
    e.consents().await;
    // Psychiatry is invited with a physician.
    e.receive(
        "11-kallelse-sip.xml",
        &[(
            r#"funktion="Psykiatrisk öppenvård, kurator""#,
            r#"funktion="Överläkare, psykiatrisk öppenvård""#,
        )],
    )
    .await;
    // Psychiatry answers that a curator attends: told at once that a physician was asked for.
    let answer = e
        .pipeline
        .receive_cosmic_link(&example("14-svar-kallelse.xml", &[]), Acting::Operator)
        .await
        .unwrap();
    assert!(
        answer
            .warnings
            .iter()
            .any(|w| w.contains("invited with the function Läkare") && w.contains("Kurator")),
        "{:?}",
        answer.warnings
    );
    e.set_clock("2026-11-26T13:30:00Z");
    // A curator comes; the municipality comes as invited.
    e.canonical(
        "meeting-held",
        serde_json::json!({
            "kind": "sip_meeting_held",
            "invitation_id": "K-2026-0311",
            "held_at": "2026-11-26T12:00:00Z",
            "attendees": [
                {"party": {"type": "region_unit", "hsa_id": "SE2321000214-E2VC"}, "function": "Kurator"},
                {"party": {"type": "municipality", "kommunkod": "2380"}, "function": "Biståndshandläggare"}
            ],
            "person_participated": true
        }),
    )
    .await
    .unwrap();
    let mut by_function: Vec<(String, Vec<String>)> = deviations(store)
        .await
        .into_iter()
        .filter(|d| d.cause == DeviationCause::AbsentByFunction)
        .map(|d| {
            (
                d.addressed_to.to_string(),
                d.evidence
                    .iter()
                    .filter(|x| x.what.starts_with("absent_function:"))
                    .map(|x| x.what.clone())
                    .collect(),
            )
        })
        .collect();
    by_function.sort();
    // Psychiatry came without its physician; the municipality, answering as a whole with a
    // case officer, came without the home health care's nurse. Social services came as invited.
    assert_eq!(
        by_function,
        [
            (
                "municipality 2380 unit SE2120002411-HSJV".to_owned(),
                vec!["absent_function:nurse".to_owned()]
            ),
            (
                "region unit SE2321000214-E2VC".to_owned(),
                vec!["absent_function:physician".to_owned()]
            ),
        ]
    );
    // Psychiatry attended (it is not absent from the meeting), but without its physician.
    let json = stats_json(store, "2026-11-01", "2026-12-01").await;
    let psychiatry = row(&json, "SE2321000214-E2VC");
    assert_eq!(psychiatry["sip_meetings_attended"], 1);
    assert_eq!(psychiatry["sip_meetings_absent"], 0);
    assert_eq!(psychiatry["sip_functions_absent"], 1);
}
