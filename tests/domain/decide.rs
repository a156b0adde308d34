//! The disclosure decision, one rule at a time: what goes without consent and with what
//! removed, what needs SIP consent, disclosure consent or a legal basis, and how withdrawal,
//! objection, periods, scopes and protected identity change the answer.

use brygga::decide::{Basis, CaseFacts, Decision, Denial, Notice, Redaction, Request, decide};
use brygga::domain::consent::{
    ConsentActor, ConsentDirective, InformationCategory, Provision, Recipient,
};
use brygga::domain::event::{
    Address, ConsentScope, Event, EventId, EventKind, EventSource, InvitedFunction, MeetingPlace,
    Person, PersonName, PlanType,
};
use brygga::domain::identifiers::{HsaId, Kommunkod, PersonId, Personnummer};
use brygga::domain::party::{Organisation, Party, Principal};
use brygga::domain::sensitive::Sensitive;
use jiff::Timestamp;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn kommun(code: &str) -> Kommunkod {
    Kommunkod::parse(code).unwrap()
}

fn hsa(id: &str) -> HsaId {
    HsaId::parse(id).unwrap()
}

fn ostersund() -> Recipient {
    Recipient {
        party: Party::Municipality {
            kommunkod: kommun("2380"),
            unit: None,
        },
        organisation: Some(Organisation::Municipality {
            kommunkod: kommun("2380"),
        }),
    }
}

fn krokom() -> Recipient {
    Recipient {
        party: Party::Municipality {
            kommunkod: kommun("2309"),
            unit: None,
        },
        organisation: Some(Organisation::Municipality {
            kommunkod: kommun("2309"),
        }),
    }
}

fn psychiatry() -> Recipient {
    Recipient {
        party: Party::RegionUnit {
            hsa_id: hsa("SE2321000214-E3PS"),
        },
        organisation: Some(Organisation::Region {
            hsa_id: hsa("SE2321000214-1000"),
        }),
    }
}

fn person(protected: bool) -> Person {
    Person {
        id: PersonId::Personnummer(Personnummer::parse("19811218-9876").unwrap()),
        name: PersonName {
            given: Sensitive::new("Astrid".into()),
            family: Sensitive::new("Lindqvist".into()),
        },
        registered_address: (!protected).then(|| Address {
            street: Sensitive::new("Storgatan 1".into()),
            postal_code: Sensitive::new("831 30".into()),
            city: Sensitive::new("Östersund".into()),
            municipality: Some(kommun("2380")),
        }),
        protected_identity: protected,
    }
}

fn event(kind: EventKind) -> Event {
    Event {
        id: EventId::new(),
        occurred_at: at("2026-11-20T08:00:00Z"),
        source: EventSource {
            local_codes: Default::default(),
            format: "api".into(),
            message_id: "m1".into(),
            sender: None,
        },
        kind,
    }
}

fn admission(protected: bool, psychiatric: bool) -> Event {
    let mut person = person(protected);
    if protected {
        // A sender that included the address anyway: the decision still removes it.
        person.registered_address = self::person(false).registered_address;
    }
    event(EventKind::AdmissionNotice {
        person,
        ward: hsa("SE2321000214-E1AV"),
        admitted_at: at("2026-11-20T08:00:00Z"),
        assessed_at: None,
        estimated_discharge: Some("2026-11-30".parse().unwrap()),
        psychiatric,
        recipients: vec![ostersund().party],
    })
}

fn invitation() -> Event {
    event(EventKind::SipInvitation {
        invitation_id: "k1".into(),
        plan_type: PlanType::Sip,
        from: psychiatry().party,
        meeting_at: at("2026-11-25T09:00:00Z"),
        place: MeetingPlace::Link {
            url: "https://meet.example/sip".into(),
        },
        invited: vec![InvitedFunction {
            party: ostersund().party,
            function: "biståndshandläggare".into(),
        }],
        consent_reference: None,
        placement_id: None,
    })
}

fn information_at_discharge(legal_basis: Option<&str>) -> Event {
    event(EventKind::InformationAtDischarge {
        summary: Sensitive::new("Behöver hjälp med läkemedel.".into()),
        care_contact: None,
        planned_sip_at: None,
        legal_basis: legal_basis.map(str::to_owned),
    })
}

fn consent(id: &str, scope: ConsentScope) -> ConsentDirective {
    ConsentDirective {
        id: id.into(),
        scope,
        provision: Provision::Permit,
        principals: vec![],
        recipients: vec![],
        categories: vec![],
        valid_from: None,
        valid_until: None,
        recorded_at: at("2026-11-20T09:00:00Z"),
        withdrawn_at: None,
        source: "test".into(),
        recorded_by: None,
        recorded_by_party: None,
    }
}

const NOW: &str = "2026-11-21T12:00:00Z";

fn ask(event: &Event, recipient: &Recipient, consents: &[ConsentDirective]) -> Decision {
    ask_at(event, recipient, consents, NOW, false)
}

fn ask_at(
    event: &Event,
    recipient: &Recipient,
    consents: &[ConsentDirective],
    now: &str,
    protected_identity: bool,
) -> Decision {
    decide(&Request {
        event,
        recipient,
        consents,
        legal_basis: None,
        sender: None,
        facts: CaseFacts { protected_identity },
        at: at(now),
    })
}

fn denial(decision: Decision) -> Denial {
    match decision {
        Decision::Deny(denial) => denial,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn the_admission_notice_goes_without_consent_with_the_statutory_minimum() {
    let notice = admission(false, true);
    let decision = ask(&notice, &ostersund(), &[]);
    let Decision::PermitWithRedactions(disclosure) = &decision else {
        panic!("expected a redacted permit, got {decision:?}");
    };
    assert!(matches!(disclosure.basis(), Basis::Statutory { .. }));
    assert_eq!(disclosure.redactions(), &[Redaction::PsychiatricCare]);
    let released = disclosure.release(&notice).unwrap();
    let EventKind::AdmissionNotice {
        person,
        estimated_discharge,
        psychiatric,
        ..
    } = &released.event().kind
    else {
        unreachable!()
    };
    // Name, personnummer, registered address and estimated discharge stay; psychiatry goes.
    assert_eq!(person.name.given.expose(), "Astrid");
    assert!(person.registered_address.is_some());
    assert!(estimated_discharge.is_some());
    assert!(!psychiatric);
    assert_eq!(released.disclosure().recipient(), &ostersund().party);
}

#[test]
fn with_disclosure_consent_the_admission_notice_goes_in_full() {
    let notice = admission(false, true);
    let decision = ask(
        &notice,
        &ostersund(),
        &[consent("d1", ConsentScope::Disclosure)],
    );
    let Decision::Permit(disclosure) = decision else {
        panic!("expected a full permit, got {decision:?}");
    };
    let released = disclosure.release(&notice).unwrap();
    assert!(matches!(
        released.event().kind,
        EventKind::AdmissionNotice {
            psychiatric: true,
            ..
        }
    ));
}

#[test]
fn a_sip_invitation_without_sip_consent_is_denied() {
    assert_eq!(
        denial(ask(&invitation(), &ostersund(), &[])),
        Denial::NoSipConsent
    );
    // Consent to disclosure is not consent to SIP.
    assert_eq!(
        denial(ask(
            &invitation(),
            &ostersund(),
            &[consent("d1", ConsentScope::Disclosure)]
        )),
        Denial::NoSipConsent
    );
}

#[test]
fn a_sip_invitation_with_sip_consent_is_permitted_on_that_consent() {
    let decision = ask(
        &invitation(),
        &ostersund(),
        &[consent("s1", ConsentScope::Sip)],
    );
    let Decision::Permit(disclosure) = decision else {
        panic!("expected a permit, got {decision:?}");
    };
    assert_eq!(
        disclosure.basis(),
        &Basis::Consent {
            consent_id: "s1".into(),
            recorded_by: None,
        }
    );
}

#[test]
fn a_sip_plan_needs_sip_consent_too() {
    let plan = event(EventKind::SipPlan {
        plan_id: "p1".into(),
        plan_type: PlanType::Sip,
        activities: vec![],
        overall_responsibility: Principal::Municipality,
        next_of_kin_participated: false,
        follow_up_on: None,
    });
    assert_eq!(denial(ask(&plan, &psychiatry(), &[])), Denial::NoSipConsent);
    assert!(
        ask(&plan, &psychiatry(), &[consent("s1", ConsentScope::Sip)])
            .disclosure()
            .is_some()
    );
}

#[test]
fn sip_consent_limited_to_some_recipients_covers_only_them() {
    let mut limited = consent("s1", ConsentScope::Sip);
    limited.recipients = vec![ConsentActor::Party(ostersund().party)];
    assert!(
        ask(&invitation(), &ostersund(), &[limited.clone()])
            .disclosure()
            .is_some()
    );
    assert_eq!(
        denial(ask(&invitation(), &krokom(), &[limited])),
        Denial::NoSipConsent
    );
}

#[test]
fn consent_naming_a_whole_region_covers_its_units_and_a_principal_covers_all_of_it() {
    let mut region = consent("s1", ConsentScope::Sip);
    region.recipients = vec![ConsentActor::Party(Party::RegionUnit {
        hsa_id: hsa("SE2321000214-1000"),
    })];
    assert!(
        ask(&invitation(), &psychiatry(), &[region])
            .disclosure()
            .is_some()
    );
    let mut municipalities = consent("s2", ConsentScope::Sip);
    municipalities.principals = vec![Principal::Municipality];
    assert!(
        ask(&invitation(), &krokom(), &[municipalities.clone()])
            .disclosure()
            .is_some()
    );
    assert!(
        ask(&invitation(), &psychiatry(), &[municipalities])
            .disclosure()
            .is_none()
    );
}

#[test]
fn information_at_discharge_needs_consent_or_a_recorded_legal_basis() {
    assert_eq!(
        denial(ask(&information_at_discharge(None), &ostersund(), &[])),
        Denial::NoConsent {
            category: InformationCategory::Health
        }
    );
    let with_consent = ask(
        &information_at_discharge(None),
        &ostersund(),
        &[consent("d1", ConsentScope::Disclosure)],
    );
    assert_eq!(
        with_consent.disclosure().unwrap().basis(),
        &Basis::Consent {
            consent_id: "d1".into(),
            recorded_by: None,
        }
    );
    let with_basis = ask(
        &information_at_discharge(Some("the person cannot consent; 25 kap. OSL")),
        &ostersund(),
        &[],
    );
    assert_eq!(
        with_basis.disclosure().unwrap().basis(),
        &Basis::LegalBasis {
            legal_basis: "the person cannot consent; 25 kap. OSL".into()
        }
    );
}

#[test]
fn disclosure_consent_limited_to_other_categories_does_not_cover_health_information() {
    let mut planning_only = consent("d1", ConsentScope::Disclosure);
    planning_only.categories = vec![InformationCategory::DischargePlanning];
    assert_eq!(
        denial(ask(
            &information_at_discharge(None),
            &ostersund(),
            &[planning_only]
        )),
        Denial::NoConsent {
            category: InformationCategory::Health
        }
    );
}

#[test]
fn an_lvm_report_goes_without_consent_to_its_municipality_only_with_its_legal_basis() {
    let report = event(EventKind::LvmReport {
        physician: hsa("SE2321000214-E1AV"),
        to_municipality: kommun("2380"),
        legal_basis: "6 § LVM".into(),
        report: Sensitive::new("…".into()),
        substances: Vec::new(),
        grounds: Vec::new(),
        voluntary_care_declined: None,
        immediate_custody_advised: None,
    });
    let decision = ask(&report, &ostersund(), &[]);
    assert_eq!(
        decision.disclosure().unwrap().basis(),
        &Basis::LegalBasis {
            legal_basis: "6 § LVM".into()
        }
    );
    assert_eq!(
        denial(ask(&report, &krokom(), &[])),
        Denial::NotTheAddressee
    );
    assert_eq!(
        denial(ask(&report, &psychiatry(), &[])),
        Denial::NotTheAddressee
    );
}

#[test]
fn a_report_of_concern_for_a_child_goes_without_consent_with_its_legal_basis() {
    let report = event(EventKind::ChildConcernReport {
        reporter: psychiatry().party,
        to_municipality: kommun("2380"),
        legal_basis: "socialtjänstlagen: anmälningsskyldighet".into(),
        report: Sensitive::new("…".into()),
    });
    // Even an objection to disclosure does not stop a duty that breaks secrecy.
    let mut objection = consent("o1", ConsentScope::Disclosure);
    objection.provision = Provision::Deny;
    let decision = ask(&report, &ostersund(), &[objection]);
    assert_eq!(
        decision.disclosure().unwrap().basis(),
        &Basis::LegalBasis {
            legal_basis: "socialtjänstlagen: anmälningsskyldighet".into()
        }
    );
    assert_eq!(
        denial(ask(&report, &krokom(), &[])),
        Denial::NotTheAddressee
    );
}

#[test]
fn a_person_with_protected_identity_never_has_an_address_disclosed_and_is_flagged() {
    let notice = admission(true, false);
    // Not even with consent.
    let decision = ask(
        &notice,
        &ostersund(),
        &[consent("d1", ConsentScope::Disclosure)],
    );
    let Decision::PermitWithRedactions(disclosure) = &decision else {
        panic!("expected a redacted permit, got {decision:?}");
    };
    assert_eq!(disclosure.redactions(), &[Redaction::RegisteredAddress]);
    assert_eq!(disclosure.notices(), &[Notice::ProtectedIdentity]);
    let released = disclosure.release(&notice).unwrap();
    let EventKind::AdmissionNotice { person, .. } = &released.event().kind else {
        unreachable!()
    };
    assert!(person.registered_address.is_none());
    assert!(person.protected_identity);
    // Every later event of the case is flagged too.
    let later = ask_at(
        &invitation(),
        &ostersund(),
        &[consent("s1", ConsentScope::Sip)],
        NOW,
        true,
    );
    assert_eq!(
        later.disclosure().unwrap().notices(),
        &[Notice::ProtectedIdentity]
    );
}

#[test]
fn a_withdrawn_consent_denies_from_the_moment_of_withdrawal() {
    let mut withdrawn = consent("s1", ConsentScope::Sip);
    withdrawn.withdrawn_at = Some(at("2026-11-21T10:00:00Z"));
    let before = ask_at(
        &invitation(),
        &ostersund(),
        &[withdrawn.clone()],
        "2026-11-21T09:59:59Z",
        false,
    );
    assert!(before.disclosure().is_some());
    let at_withdrawal = ask_at(
        &invitation(),
        &ostersund(),
        &[withdrawn.clone()],
        "2026-11-21T10:00:00Z",
        false,
    );
    assert_eq!(
        denial(at_withdrawal),
        Denial::ConsentWithdrawn {
            consent_id: "s1".into(),
            withdrawn_at: at("2026-11-21T10:00:00Z")
        }
    );
}

#[test]
fn a_consent_counts_only_within_its_period() {
    let mut period = consent("d1", ConsentScope::Disclosure);
    period.valid_from = Some(at("2026-11-21T00:00:00Z"));
    period.valid_until = Some(at("2026-11-22T00:00:00Z"));
    let event = information_at_discharge(None);
    let during = ask_at(&event, &ostersund(), &[period.clone()], NOW, false);
    assert!(during.disclosure().is_some());
    let before = ask_at(
        &event,
        &ostersund(),
        &[period.clone()],
        "2026-11-20T23:00:00Z",
        false,
    );
    assert!(before.disclosure().is_none());
    let after = ask_at(
        &event,
        &ostersund(),
        &[period],
        "2026-11-22T00:00:00Z",
        false,
    );
    assert!(after.disclosure().is_none());
}

#[test]
fn an_objection_to_one_recipient_defeats_consent_for_that_recipient_only() {
    let mut objection = consent("o1", ConsentScope::Disclosure);
    objection.provision = Provision::Deny;
    objection.recipients = vec![ConsentActor::Party(krokom().party)];
    let consents = [consent("d1", ConsentScope::Disclosure), objection];
    let event = information_at_discharge(None);
    assert_eq!(
        denial(ask(&event, &krokom(), &consents)),
        Denial::Objection {
            consent_id: "o1".into()
        }
    );
    assert!(ask(&event, &ostersund(), &consents).disclosure().is_some());
}

#[test]
fn a_directive_naming_an_unresolved_reference_matches_no_recipient() {
    let mut unresolved = consent("d1", ConsentScope::Disclosure);
    unresolved.recipients = vec![ConsentActor::Unresolved {
        reference: "Organization/f001".into(),
    }];
    assert!(
        ask(&information_at_discharge(None), &ostersund(), &[unresolved])
            .disclosure()
            .is_none()
    );
}

#[test]
fn next_of_kin_objection_is_flagged_with_sip_information() {
    let mut objection = consent("n1", ConsentScope::NextOfKin);
    objection.provision = Provision::Deny;
    let decision = ask(
        &invitation(),
        &ostersund(),
        &[consent("s1", ConsentScope::Sip), objection],
    );
    assert_eq!(
        decision.disclosure().unwrap().notices(),
        &[Notice::NextOfKinObjection]
    );
}

#[test]
fn services_decided_need_disclosure_consent_for_social_services_information() {
    let decided = event(EventKind::ServicesDecided {
        decision_id: "b1".into(),
        by: ostersund().party,
        decided_on: Some("2026-11-21".parse().unwrap()),
        services: vec![],
    });
    assert_eq!(
        denial(ask(&decided, &psychiatry(), &[])),
        Denial::NoConsent {
            category: InformationCategory::SocialServices
        }
    );
    assert!(
        ask(
            &decided,
            &psychiatry(),
            &[consent("d1", ConsentScope::Disclosure)]
        )
        .disclosure()
        .is_some()
    );
}

#[test]
fn process_steps_go_on_the_duty_to_inform_and_a_cancellation_reason_only_with_consent() {
    let ready = event(EventKind::ReadyForDischarge {
        decided_at: at("2026-11-21T08:00:00Z"),
        physician: None,
    });
    assert!(matches!(
        ask(&ready, &ostersund(), &[]),
        Decision::Permit(_)
    ));
    let cancelled = event(EventKind::CaseCancelled {
        reason: Sensitive::new("avliden".into()),
    });
    let Decision::PermitWithRedactions(disclosure) = ask(&cancelled, &ostersund(), &[]) else {
        panic!("expected a redacted permit");
    };
    let released = disclosure.release(&cancelled).unwrap();
    let EventKind::CaseCancelled { reason } = &released.event().kind else {
        unreachable!()
    };
    assert_eq!(reason.expose(), brygga::decide::WITHHELD);
}

#[test]
fn a_disclosure_releases_only_the_event_it_was_decided_for() {
    let notice = admission(false, false);
    let decision = ask(&notice, &ostersund(), &[]);
    let other = admission(false, false);
    assert!(decision.disclosure().unwrap().release(&other).is_none());
}

#[test]
fn information_that_stays_within_the_sending_organisation_needs_no_disclosure_consent() {
    let region = Organisation::Region {
        hsa_id: hsa("SE2321000214-1000"),
    };
    let within = |event: &Event| {
        decide(&Request {
            event,
            recipient: &psychiatry(),
            consents: &[],
            legal_basis: None,
            sender: Some(&region),
            facts: CaseFacts {
                protected_identity: false,
            },
            at: at(NOW),
        })
    };
    let decision = within(&information_at_discharge(None));
    assert!(matches!(
        decision.disclosure().unwrap().basis(),
        Basis::SameOrganisation { .. }
    ));
    // To the other principal it still needs consent; and SIP needs consent even within.
    assert!(
        ask(&information_at_discharge(None), &ostersund(), &[])
            .disclosure()
            .is_none()
    );
    assert_eq!(denial(within(&invitation())), Denial::NoSipConsent);
}
