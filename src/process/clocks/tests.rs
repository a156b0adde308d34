//! The clocks' tests: what events start and stop under the shipped policies.

use super::*;
use crate::domain::case::CaseId;
use crate::domain::identifiers::{Kommunkod, PersonId, Personnummer};
use crate::process::Policies;

fn policies() -> Policies {
    Policies::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/policies"))
        .unwrap()
}

fn event(kind: EventKind, at: &str) -> Event {
    Event {
        id: EventId::new(),
        occurred_at: at.parse().unwrap(),
        source: EventSource {
            local_codes: Default::default(),
            format: "test".into(),
            message_id: "m".into(),
            sender: None,
        },
        kind,
    }
}

fn case() -> CoordinationCase {
    CoordinationCase::new(
        CaseId::new(),
        PersonId::Personnummer(Personnummer::parse("19811218-9876").unwrap()),
    )
}

fn placement(kind: &str, emergency: bool) -> EventKind {
    EventKind::Placement {
        placement_id: "P-17".into(),
        placement_type: kind.into(),
        emergency,
        by: Party::Municipality {
            kommunkod: Kommunkod::parse("2380").unwrap(),
            unit: None,
        },
        motive: None,
    }
}

#[test]
fn a_clock_that_waits_for_a_party_is_kept_only_where_its_event_reached_that_party() {
    let policies = policies();
    let case = case();
    let region = Party::RegionUnit {
        hsa_id: crate::domain::identifiers::HsaId::parse("SE2321000214-E2VC").unwrap(),
    };
    let municipality = Party::Municipality {
        kommunkod: Kommunkod::parse("2380").unwrap(),
        unit: None,
    };
    let invitation = event(
        EventKind::SipInvitation {
            invitation_id: "K-1".into(),
            plan_type: crate::domain::event::PlanType::Sip,
            from: region.clone(),
            meeting_at: "2026-12-10T12:00:00Z".parse().unwrap(),
            place: crate::domain::event::MeetingPlace::Link {
                url: "https://example.org/m".into(),
            },
            invited: vec![
                crate::domain::event::InvitedFunction {
                    party: region.clone(),
                    function: "kurator".into(),
                },
                crate::domain::event::InvitedFunction {
                    party: municipality.clone(),
                    function: "biståndshandläggare".into(),
                },
            ],
            consent_reference: None,
            placement_id: None,
        },
        "2026-12-01T08:00:00Z",
    );
    let plan = plan(
        &case,
        &invitation,
        invitation.occurred_at,
        &policies.default,
    );
    let attendance = |timers: &[TimerEntry]| {
        let mut kinds: Vec<String> = timers
            .iter()
            .filter(|t| t.kind.starts_with("sip_attendance:"))
            .map(|t| t.kind.clone())
            .collect();
        kinds.sort();
        kinds
    };
    assert_eq!(attendance(&plan.timers).len(), 2);
    // Released to the municipality only: the region is not waited for.
    let kept = for_reached(plan.timers.clone(), |id, party| {
        id == invitation.id && *party == municipality
    });
    assert_eq!(attendance(&kept), [attendance_kind("K-1", &municipality)]);
    // Reaching nobody, it waits for nobody; clocks of no party are kept whatever.
    let none = for_reached(plan.timers.clone(), |_, _| false);
    assert_eq!(attendance(&none), Vec::<String>::new());
    assert_eq!(
        none.len(),
        plan.timers.len() - 2,
        "only the clocks of a party are dropped"
    );
}

#[test]
fn an_emergency_hvb_placement_starts_the_agreements_cost_split_clock_and_agreeing_stops_it() {
    let policies = policies();
    let jamtland = policies.for_case("SE2321000214-1000", Kommunkod::parse("2380").ok());
    let case = case();
    // Placed Thursday 2026-12-17: ten working days (18, 21, 22, 23, 28, 29, 30 December,
    // 4, 5, 7 January), skipping Christmas Eve and New Year's Eve (eves the agreement
    // treats as holidays), Christmas, Boxing Day, New Year's Day, Epiphany and weekends →
    // Thursday 2027-01-07, end of day.
    let placed = event(placement("HVB", true), "2026-12-17T10:00:00Z");
    let plan = plan(&case, &placed, placed.occurred_at, jamtland);
    let kinds: Vec<&str> = plan.timers.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "agreement:jamtland/hvb-cost-split:P-17",
            "agreement:jamtland/sip-after-hvb-placement:P-17"
        ]
    );
    assert_eq!(plan.timers[0].due_at.to_string(), "2027-01-07T23:00:00Z");
    let payload: TimerPayload = serde_json::from_value(plan.timers[0].payload.clone()).unwrap();
    assert_eq!(payload.rule, "jamtland/hvb-cost-split");
    assert_eq!(
        step_deadline(jamtland, &placed, None),
        Some(plan.timers[0].due_at)
    );
    // A SIP within a week of the placement: Thursday 24 December is Christmas Eve, so the
    // deadline moves past Christmas and the weekend to Monday 28 December.
    assert_eq!(plan.timers[1].due_at.to_string(), "2026-12-28T23:00:00Z");
    let held = event(
        EventKind::SipMeetingHeld {
            invitation_id: "K-9".into(),
            held_at: "2026-12-21T10:00:00Z".parse().unwrap(),
            attendees: Vec::new(),
            person_participated: true,
            next_of_kin_participated: false,
        },
        "2026-12-21T10:00:00Z",
    );
    // The meeting names no placement: it meets the SIP clock of every placement of the case.
    let mut placed_case = case.clone();
    placed_case.apply(placed.clone()).unwrap();
    let stop = super::plan(&placed_case, &held, held.occurred_at, jamtland);
    assert!(
        stop.cancel
            .contains(&"agreement:jamtland/sip-after-hvb-placement:P-17".to_owned()),
        "{:?}",
        stop.cancel
    );

    let agreed = event(
        EventKind::CostSplitAgreed {
            placement_id: "P-17".into(),
            commitment_reference: None,
            amount_sek: None,
        },
        "2026-12-22T10:00:00Z",
    );
    let stop = super::plan(&case, &agreed, agreed.occurred_at, jamtland);
    assert_eq!(stop.cancel, ["agreement:jamtland/hvb-cost-split:P-17"]);

    // Not an emergency: only the SIP clock. Not an HVB: no clock. And the national default
    // has none.
    let planned = event(placement("HVB", false), "2026-12-17T10:00:00Z");
    let kinds: Vec<String> = super::plan(&case, &planned, planned.occurred_at, jamtland)
        .timers
        .into_iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(kinds, ["agreement:jamtland/sip-after-hvb-placement:P-17"]);
    let other = event(placement("familjehem", true), "2026-12-17T10:00:00Z");
    assert!(
        super::plan(&case, &other, other.occurred_at, jamtland)
            .timers
            .is_empty()
    );
    assert!(
        super::plan(&case, &placed, placed.occurred_at, &policies.default)
            .timers
            .is_empty()
    );
}

#[test]
fn a_meeting_of_a_sip_invited_for_a_placement_meets_that_placements_clock_only() {
    let policies = policies();
    let jamtland = policies.for_case("SE2321000214-1000", Kommunkod::parse("2380").ok());
    let mut case = case();
    let placed = |id: &str| {
        let mut kind = placement("HVB", false);
        if let EventKind::Placement { placement_id, .. } = &mut kind {
            *placement_id = id.into();
        }
        event(kind, "2026-12-01T10:00:00Z")
    };
    case.apply(placed("P-1")).unwrap();
    case.apply(placed("P-2")).unwrap();
    let invitation = |id: &str, placement: Option<&str>| {
        event(
            EventKind::SipInvitation {
                invitation_id: id.into(),
                plan_type: crate::domain::event::PlanType::Sip,
                from: Party::Municipality {
                    kommunkod: Kommunkod::parse("2380").unwrap(),
                    unit: None,
                },
                meeting_at: "2026-12-04T09:00:00Z".parse().unwrap(),
                place: crate::domain::event::MeetingPlace::Link {
                    url: "https://meet.example/sip".into(),
                },
                invited: Vec::new(),
                consent_reference: None,
                placement_id: placement.map(str::to_owned),
            },
            "2026-12-02T10:00:00Z",
        )
    };
    case.apply(invitation("K-P2", Some("P-2"))).unwrap();
    case.apply(invitation("K-ANY", None)).unwrap();
    let held = |invitation: &str| {
        event(
            EventKind::SipMeetingHeld {
                invitation_id: invitation.into(),
                held_at: "2026-12-04T10:00:00Z".parse().unwrap(),
                attendees: Vec::new(),
                person_participated: true,
                next_of_kin_participated: false,
            },
            "2026-12-04T10:00:00Z",
        )
    };
    let clock = |p: &str| format!("agreement:jamtland/sip-after-hvb-placement:{p}");
    let linked = super::plan(&case, &held("K-P2"), held("K-P2").occurred_at, jamtland);
    assert_eq!(linked.cancel, [clock("P-2")], "P-1's SIP is still due");
    let unlinked = super::plan(&case, &held("K-ANY"), held("K-ANY").occurred_at, jamtland);
    assert_eq!(unlinked.cancel, [clock("P-1"), clock("P-2")]);
}
