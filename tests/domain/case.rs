//! The coordination-case state machine: valid paths, and typed errors for invalid ones.

use brygga::domain::case::{CaseId, CoordinationCase, Phase, TransitionError};
use brygga::domain::event::{
    Attendee, ConsentScope, DeviationCause, Event, EventId, EventKind, EventSource,
    InvitedFunction, MeetingPlace, Person, PersonName, PlanType, SipAnswer,
};
use brygga::domain::identifiers::{HsaId, Kommunkod, PersonId, Personnummer};
use brygga::domain::party::Party;
use brygga::domain::sensitive::Sensitive;
use jiff::Timestamp;

fn person_id() -> PersonId {
    PersonId::Personnummer(Personnummer::parse("19811218-9876").unwrap())
}

fn ward() -> HsaId {
    HsaId::parse("SE2321000214-E1AV").unwrap()
}

fn ostersund() -> Party {
    Party::Municipality {
        kommunkod: Kommunkod::parse("2380").unwrap(),
        unit: None,
    }
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn event(occurred_at: &str, kind: EventKind) -> Event {
    Event {
        id: EventId::new(),
        occurred_at: at(occurred_at),
        source: EventSource {
            local_codes: Default::default(),
            format: "api".into(),
            message_id: EventId::new().to_string(),
            sender: None,
        },
        kind,
    }
}

fn admission(admitted_at: &str) -> Event {
    event(
        admitted_at,
        EventKind::AdmissionNotice {
            person: Person {
                id: person_id(),
                name: PersonName {
                    given: Sensitive::new("Astrid".into()),
                    family: Sensitive::new("Lindqvist".into()),
                },
                registered_address: None,
                protected_identity: false,
            },
            ward: ward(),
            admitted_at: at(admitted_at),
            assessed_at: None,
            estimated_discharge: Some("2026-11-30".parse().unwrap()),
            psychiatric: false,
            recipients: vec![ostersund()],
        },
    )
}

fn admitted_case() -> CoordinationCase {
    let mut case = CoordinationCase::new(CaseId::new(), person_id());
    case.apply(admission("2026-11-20T08:00:00Z")).unwrap();
    case
}

fn invitation(id: &str) -> Event {
    event(
        "2026-11-21T10:00:00Z",
        EventKind::SipInvitation {
            invitation_id: id.into(),
            plan_type: PlanType::Sip,
            from: Party::RegionUnit {
                hsa_id: HsaId::parse("SE2321000214-E2VC").unwrap(),
            },
            meeting_at: at("2026-11-24T13:00:00Z"),
            place: MeetingPlace::Link {
                url: "https://meet.example.se/sip/1".into(),
            },
            invited: vec![InvitedFunction {
                party: ostersund(),
                function: "biståndshandläggare".into(),
            }],
            consent_reference: Some("SAMT-1".into()),
            placement_id: None,
        },
    )
}

#[test]
fn a_discharge_case_walks_from_admission_to_discharge() {
    let mut case = admitted_case();
    assert_eq!(case.phase(), Phase::Inpatient);
    assert!(case.involves(&ostersund()));
    assert!(case.involves(&Party::RegionUnit { hsa_id: ward() }));

    case.apply(event(
        "2026-11-20T09:00:00Z",
        EventKind::PlanningStarted { by: ostersund() },
    ))
    .unwrap();
    case.apply(event(
        "2026-11-21T08:00:00Z",
        EventKind::ReadyForDischarge {
            decided_at: at("2026-11-21T08:00:00Z"),
            physician: None,
        },
    ))
    .unwrap();
    assert_eq!(case.phase(), Phase::ReadyForDischarge);
    assert_eq!(
        case.state().ready_for_discharge_at,
        Some(at("2026-11-21T08:00:00Z"))
    );
    case.apply(invitation("kallelse-1")).unwrap();
    let seq = case
        .apply(event(
            "2026-11-22T15:00:00Z",
            EventKind::Discharged {
                discharged_at: at("2026-11-22T15:00:00Z"),
            },
        ))
        .unwrap();
    assert_eq!(seq, 5);
    assert_eq!(case.phase(), Phase::Discharged);
    assert_eq!(case.version(), 5);
}

#[test]
fn a_second_admission_notice_is_rejected_with_the_phase() {
    let mut case = admitted_case();
    let err = case.apply(admission("2026-11-20T09:00:00Z")).unwrap_err();
    assert_eq!(
        err,
        TransitionError::InvalidInPhase {
            event: "admission_notice",
            phase: Phase::Inpatient
        }
    );
    assert_eq!(
        err.to_string(),
        "admission_notice is not valid while the case is inpatient"
    );
    assert_eq!(case.version(), 1, "a rejected event is not appended");
}

#[test]
fn the_same_event_applied_twice_is_a_duplicate() {
    let mut case = admitted_case();
    let started = event(
        "2026-11-20T09:00:00Z",
        EventKind::PlanningStarted { by: ostersund() },
    );
    case.apply(started.clone()).unwrap();
    assert_eq!(
        case.apply(started.clone()).unwrap_err(),
        TransitionError::DuplicateEvent {
            event_id: started.id
        }
    );
}

#[test]
fn revoking_ready_for_discharge_returns_to_inpatient_and_needs_a_decision_first() {
    let mut case = admitted_case();
    let revoke = || {
        event(
            "2026-11-21T09:00:00Z",
            EventKind::ReadyForDischargeRevoked { reason: None },
        )
    };
    assert_eq!(
        case.apply(revoke()).unwrap_err(),
        TransitionError::InvalidInPhase {
            event: "ready_for_discharge_revoked",
            phase: Phase::Inpatient
        }
    );
    case.apply(event(
        "2026-11-21T08:00:00Z",
        EventKind::ReadyForDischarge {
            decided_at: at("2026-11-21T08:00:00Z"),
            physician: None,
        },
    ))
    .unwrap();
    case.apply(revoke()).unwrap();
    assert_eq!(case.phase(), Phase::Inpatient);
    assert_eq!(case.state().ready_for_discharge_at, None);
}

#[test]
fn a_discharge_dated_before_the_admission_is_rejected() {
    let mut case = admitted_case();
    let err = case
        .apply(event(
            "2026-11-19T08:00:00Z",
            EventKind::Discharged {
                discharged_at: at("2026-11-19T08:00:00Z"),
            },
        ))
        .unwrap_err();
    assert_eq!(
        err,
        TransitionError::BeforeAdmission {
            event: "discharged"
        }
    );
}

#[test]
fn events_after_discharge_that_belong_to_the_stay_are_rejected() {
    let mut case = admitted_case();
    case.apply(event(
        "2026-11-22T15:00:00Z",
        EventKind::Discharged {
            discharged_at: at("2026-11-22T15:00:00Z"),
        },
    ))
    .unwrap();
    let ready = event(
        "2026-11-23T08:00:00Z",
        EventKind::ReadyForDischarge {
            decided_at: at("2026-11-23T08:00:00Z"),
            physician: None,
        },
    );
    assert_eq!(
        case.apply(ready).unwrap_err(),
        TransitionError::InvalidInPhase {
            event: "ready_for_discharge",
            phase: Phase::Discharged
        }
    );
}

#[test]
fn an_admission_notice_for_another_person_is_rejected() {
    let other = PersonId::Personnummer(Personnummer::parse("121212-1212").unwrap());
    let mut case = CoordinationCase::new(CaseId::new(), other);
    assert_eq!(
        case.apply(admission("2026-11-20T08:00:00Z")).unwrap_err(),
        TransitionError::PersonMismatch
    );
}

#[test]
fn a_sip_invitation_opens_a_case_outside_discharge_and_responses_need_it() {
    let mut case = CoordinationCase::new(CaseId::new(), person_id());
    let response = |id: &str| {
        event(
            "2026-11-22T10:00:00Z",
            EventKind::SipResponse {
                invitation_id: id.into(),
                responder: ostersund(),
                answer: SipAnswer::Accepted,
                attending_function: Some("biståndshandläggare".into()),
                participants: Vec::new(),
            },
        )
    };
    case.apply(invitation("kallelse-7")).unwrap();
    assert_eq!(case.phase(), Phase::Outpatient);
    assert_eq!(
        case.apply(invitation("kallelse-7")).unwrap_err(),
        TransitionError::DuplicateInvitation {
            invitation_id: "kallelse-7".into()
        }
    );
    assert_eq!(
        case.apply(response("kallelse-8")).unwrap_err(),
        TransitionError::UnknownInvitation {
            invitation_id: "kallelse-8".into()
        }
    );
    case.apply(response("kallelse-7")).unwrap();
}

#[test]
fn a_withdrawn_consent_is_dated_and_cannot_be_withdrawn_again() {
    let mut case = admitted_case();
    case.apply(event(
        "2026-11-20T10:00:00Z",
        EventKind::ConsentRecorded {
            consent_id: "c1".into(),
            scope: ConsentScope::Sip,
            provision: Default::default(),
            principals: vec![],
            recipients: vec![ostersund()],
            categories: vec![],
            valid_from: None,
            valid_until: None,
        },
    ))
    .unwrap();
    let withdraw = || {
        event(
            "2026-11-21T10:00:00Z",
            EventKind::ConsentWithdrawn {
                consent_id: "c1".into(),
            },
        )
    };
    case.apply(withdraw()).unwrap();
    assert_eq!(
        case.state().consents["c1"].withdrawn_at,
        Some(at("2026-11-21T10:00:00Z"))
    );
    assert_eq!(
        case.apply(withdraw()).unwrap_err(),
        TransitionError::ConsentAlreadyWithdrawn {
            consent_id: "c1".into()
        }
    );
    assert_eq!(
        case.apply(event(
            "2026-11-21T10:00:00Z",
            EventKind::ConsentWithdrawn {
                consent_id: "c9".into()
            }
        ))
        .unwrap_err(),
        TransitionError::UnknownConsent {
            consent_id: "c9".into()
        }
    );
}

#[test]
fn a_deviation_is_answered_once_and_a_cancelled_case_still_takes_deviations() {
    let mut case = admitted_case();
    case.apply(event(
        "2026-11-21T10:00:00Z",
        EventKind::CaseCancelled {
            reason: Sensitive::new("registrerad i fel".into()),
        },
    ))
    .unwrap();
    assert_eq!(
        case.apply(event(
            "2026-11-21T11:00:00Z",
            EventKind::PlanningStarted { by: ostersund() }
        ))
        .unwrap_err(),
        TransitionError::InvalidInPhase {
            event: "planning_started",
            phase: Phase::Cancelled
        }
    );
    case.apply(event(
        "2026-11-21T12:00:00Z",
        EventKind::DeviationRaised {
            deviation_id: "avv-1".into(),
            raised_by: Some(ostersund()),
            addressed_to: Party::RegionUnit { hsa_id: ward() },
            description: Sensitive::new("Inskrivningsmeddelande kom inte".into()),
            cause: DeviationCause::Reported,
            deadline: None,
            concerns: None,
            evidence: Vec::new(),
            notify: Vec::new(),
        },
    ))
    .unwrap();
    let answer = || {
        event(
            "2026-11-22T12:00:00Z",
            EventKind::DeviationAnswered {
                deviation_id: "avv-1".into(),
                answered_by: Party::RegionUnit { hsa_id: ward() },
                answer: Sensitive::new("Rutinen ses över".into()),
            },
        )
    };
    // Only the addressed party acknowledges and answers.
    let by_municipality = event(
        "2026-11-21T13:00:00Z",
        EventKind::DeviationAcknowledged {
            deviation_id: "avv-1".into(),
            by: ostersund(),
        },
    );
    assert!(matches!(
        case.apply(by_municipality).unwrap_err(),
        TransitionError::NotAddressedTo { .. }
    ));
    case.apply(event(
        "2026-11-21T14:00:00Z",
        EventKind::DeviationAcknowledged {
            deviation_id: "avv-1".into(),
            by: Party::RegionUnit { hsa_id: ward() },
        },
    ))
    .unwrap();
    case.apply(answer()).unwrap();
    assert_eq!(
        case.apply(answer()).unwrap_err(),
        TransitionError::DeviationAlreadyAnswered {
            deviation_id: "avv-1".into()
        }
    );
    let state = &case.state().deviations["avv-1"];
    assert_eq!(state.acknowledged_at, Some(at("2026-11-21T14:00:00Z")));
    assert_eq!(state.answered_at, Some(at("2026-11-22T12:00:00Z")));
    // No reminder for an answered deviation.
    assert_eq!(
        case.apply(event(
            "2026-11-23T12:00:00Z",
            EventKind::DeviationReminder {
                deviation_id: "avv-1".into(),
                reminder: 1,
                addressed_to: Party::RegionUnit { hsa_id: ward() },
                escalation: None,
            },
        ))
        .unwrap_err(),
        TransitionError::DeviationAlreadyAnswered {
            deviation_id: "avv-1".into()
        }
    );
}

#[test]
fn a_meeting_is_held_once_for_a_known_invitation() {
    let mut case = admitted_case();
    let held = |invitation: &str| {
        event(
            "2026-11-24T14:00:00Z",
            EventKind::SipMeetingHeld {
                invitation_id: invitation.into(),
                held_at: at("2026-11-24T13:00:00Z"),
                attendees: vec![Attendee {
                    party: ostersund(),
                    function: "biståndshandläggare".into(),
                    name: None,
                }],
                person_participated: true,
                next_of_kin_participated: false,
            },
        )
    };
    assert_eq!(
        case.apply(held("kallelse-1")).unwrap_err(),
        TransitionError::UnknownInvitation {
            invitation_id: "kallelse-1".into()
        }
    );
    case.apply(invitation("kallelse-1")).unwrap();
    case.apply(held("kallelse-1")).unwrap();
    assert!(case.state().meetings_held.contains("kallelse-1"));
    assert_eq!(
        case.apply(held("kallelse-1")).unwrap_err(),
        TransitionError::MeetingAlreadyHeld {
            invitation_id: "kallelse-1".into()
        }
    );
}

#[test]
fn replaying_stored_events_rebuilds_the_same_case() {
    let mut case = admitted_case();
    case.apply(invitation("kallelse-1")).unwrap();
    let json = serde_json::to_string(case.events()).unwrap();
    let events: Vec<Event> = serde_json::from_str(&json).unwrap();
    let rebuilt = CoordinationCase::replay(case.id(), person_id(), events).unwrap();
    assert_eq!(rebuilt, case);
}

#[test]
fn events_serialise_with_a_kind_tag_and_debug_output_hides_personal_data() {
    let admission = admission("2026-11-20T08:00:00Z");
    let json = serde_json::to_value(&admission).unwrap();
    assert_eq!(json["kind"], "admission_notice");
    assert_eq!(json["person"]["id"]["value"], "198112189876");
    let debug = format!("{admission:?}");
    for secret in ["Astrid", "Lindqvist", "9876", "811218"] {
        assert!(
            !debug.contains(secret),
            "debug output shows {secret}: {debug}"
        );
    }
}

fn services_decided(decision_id: &str) -> Event {
    event(
        "2026-11-22T10:00:00Z",
        EventKind::ServicesDecided {
            decision_id: decision_id.into(),
            by: ostersund(),
            decided_on: Some("2026-11-22".parse().unwrap()),
            services: vec![brygga::domain::event::DecidedService {
                service_type: brygga::domain::event::ServiceType::Htj,
                description: None,
                extent: Some("14 timmar per vecka".into()),
                starts_on: None,
            }],
        },
    )
}

#[test]
fn services_are_decided_once_per_decision_in_a_case_in_process() {
    let mut case = CoordinationCase::new(CaseId::new(), person_id());
    assert_eq!(
        case.apply(services_decided("B-1")).unwrap_err(),
        TransitionError::InvalidInPhase {
            event: "services_decided",
            phase: Phase::New
        }
    );
    let mut case = admitted_case();
    case.apply(services_decided("B-1")).unwrap();
    assert_eq!(
        case.apply(services_decided("B-1")).unwrap_err(),
        TransitionError::DuplicateServiceDecision {
            decision_id: "B-1".into()
        }
    );
    case.apply(services_decided("B-2")).unwrap();
}

#[test]
fn the_municipality_is_ready_to_receive_only_while_the_person_is_in_hospital() {
    let ready = || {
        event(
            "2026-11-23T08:00:00Z",
            EventKind::ReadyToReceive {
                by: ostersund(),
                from: Some(at("2026-11-24T10:00:00Z")),
            },
        )
    };
    let mut case = admitted_case();
    case.apply(ready()).unwrap();
    case.apply(event(
        "2026-11-24T12:00:00Z",
        EventKind::Discharged {
            discharged_at: at("2026-11-24T12:00:00Z"),
        },
    ))
    .unwrap();
    assert_eq!(
        case.apply(ready()).unwrap_err(),
        TransitionError::InvalidInPhase {
            event: "ready_to_receive",
            phase: Phase::Discharged
        }
    );
}

#[test]
fn an_acknowledgement_names_a_message_of_the_case() {
    let mut case = admitted_case();
    let admission_message = case.events()[0].source.message_id.clone();
    let acknowledge = |message_id: &str| {
        event(
            "2026-11-20T09:00:00Z",
            EventKind::MessageAcknowledged {
                message_id: message_id.into(),
                by: ostersund(),
            },
        )
    };
    assert_eq!(
        case.apply(acknowledge("CL-0000")).unwrap_err(),
        TransitionError::UnknownMessage {
            message_id: "CL-0000".into()
        }
    );
    case.apply(acknowledge(&admission_message)).unwrap();
    assert!(case.involves(&ostersund()));
}

#[test]
fn a_certificate_under_9_lvm_answers_its_request_once_from_the_unit_asked() {
    let centre = Party::RegionUnit {
        hsa_id: HsaId::parse("SE2321000214-E3HC").unwrap(),
    };
    let other_region = Party::RegionUnit {
        hsa_id: HsaId::parse("SE2321000400-E3HC").unwrap(),
    };
    let issued = |by: &Party, to: &Party| {
        event(
            "2026-12-17T14:30:00Z",
            EventKind::LvmCertificateIssued {
                request_id: "R-7".into(),
                by: by.clone(),
                to: to.clone(),
                physician: None,
                examined_at: None,
            },
        )
    };
    let mut case = CoordinationCase::new(CaseId::new(), person_id());
    // No request yet: nothing to answer.
    assert!(matches!(
        case.apply(issued(&centre, &ostersund())),
        Err(TransitionError::UnknownCertificateRequest { .. })
    ));
    // A region unit does not ask for the examination; the municipality does.
    let request = |by: &Party| {
        event(
            "2026-12-14T09:00:00Z",
            EventKind::LvmCertificateRequested {
                request_id: "R-7".into(),
                by: by.clone(),
                to: centre.clone(),
                reason: None,
            },
        )
    };
    assert!(matches!(
        case.apply(request(&centre)),
        Err(TransitionError::InvalidInPhase { .. })
    ));
    case.apply(request(&ostersund())).unwrap();
    assert_eq!(case.phase(), Phase::Outpatient);
    assert!(matches!(
        case.apply(request(&ostersund())),
        Err(TransitionError::DuplicateCertificateRequest { .. })
    ));
    // Another care provider's unit, or a certificate to another municipality, is no answer.
    assert!(case.apply(issued(&other_region, &ostersund())).is_err());
    let krokom = Party::Municipality {
        kommunkod: Kommunkod::parse("2309").unwrap(),
        unit: None,
    };
    assert!(case.apply(issued(&centre, &krokom)).is_err());
    case.apply(issued(&centre, &ostersund())).unwrap();
    assert!(matches!(
        case.apply(issued(&centre, &ostersund())),
        Err(TransitionError::UnknownCertificateRequest { .. })
    ));
}

#[test]
fn a_response_per_participant_answers_as_a_whole_by_its_participants() {
    use brygga::domain::event::{ParticipantAnswer, overall_answer};
    let p = |function: &str, answer: SipAnswer| ParticipantAnswer {
        function: function.to_owned(),
        name: None,
        answer,
    };
    let declined = |why: &str| SipAnswer::Declined {
        reason: Sensitive::new(why.to_owned()),
    };
    let later = |when: &str| SipAnswer::ProposedOtherTime {
        proposed_at: at(when),
        reason: None,
    };
    assert_eq!(overall_answer(&[]), None);
    // Anyone who comes makes the response an acceptance.
    assert_eq!(
        overall_answer(&[
            p("kurator", declined("sjuk")),
            p("biståndshandläggare", SipAnswer::Accepted)
        ]),
        Some(SipAnswer::Accepted)
    );
    // Nobody comes, someone proposes: the earliest time proposed.
    assert_eq!(
        overall_answer(&[
            p("kurator", later("2026-12-10T09:00:00Z")),
            p("sjuksköterska", declined("semester")),
            p("biståndshandläggare", later("2026-12-09T13:00:00Z")),
        ]),
        Some(later("2026-12-09T13:00:00Z"))
    );
    // Everyone declines: every reason, by function.
    assert_eq!(
        overall_answer(&[
            p("kurator", declined("sjuk")),
            p("sjuksköterska", declined("semester"))
        ]),
        Some(declined("kurator: sjuk; sjuksköterska: semester"))
    );
}
