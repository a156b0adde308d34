//! Deviations the gateway raises itself, from the evidence it holds: a missed deadline, an
//! invited principal absent from a SIP meeting without notice (or without a function it was
//! invited with), planning that never happened, and (`undelivered`) a step that did not reach
//! a party that must have it. Each names the party that answers for it, the evidence (events
//! and times), and whom it is routed to. Pure: no IO.

use jiff::Timestamp;
use serde::Serialize;

use super::clocks::GATEWAY;
use super::policy::Policy;
use super::stats;
use crate::config::Directory;
use crate::domain::case::{CaseId, CoordinationCase, answers_for, either_answers_for};
use crate::domain::event::{
    Deadline, DeviationCause, Event, EventId, EventKind, EventSource, Evidence, SipAnswer,
};
use crate::domain::party::{Party, Principal};
use crate::domain::sensitive::Sensitive;
use crate::domain::time::stockholm;
use crate::formats::canonical::derived_id;

mod undelivered;
pub use undelivered::{LateDelivery, delivery_late, must_arrive, must_reach, not_delivered};

/// The deviations `event` (just applied to `case`) raises under `policy`.
pub fn raised_by(
    case: &CoordinationCase,
    event: &Event,
    policy: &Policy,
    directory: &Directory,
) -> Vec<Event> {
    match &event.kind {
        EventKind::DeadlineMissed {
            deadline,
            due_at,
            rule,
            party,
            started_by,
        } => {
            // The start of payment responsibility is the agreed consequence, not a failure.
            if matches!(
                deadline,
                Deadline::PaymentResponsibility | Deadline::DeviationAnswer
            ) {
                return Vec::new();
            }
            let Some(addressed_to) = party.clone().or_else(|| responsible(case, *deadline)) else {
                return Vec::new();
            };
            let mut evidence = Vec::new();
            if let Some(start) = started_by.and_then(|id| find(case, id)) {
                evidence.push(Evidence {
                    what: start.kind.name().to_owned(),
                    at: start.occurred_at,
                    event: Some(start.id),
                });
            }
            evidence.push(Evidence {
                what: "deadline".to_owned(),
                at: *due_at,
                event: None,
            });
            evidence.push(Evidence {
                what: "deadline_missed".to_owned(),
                at: event.occurred_at,
                event: Some(event.id),
            });
            let rule = rule.as_deref().unwrap_or("the policy");
            let description = format!(
                "{} ({rule}): due {}, not met.",
                deadline_text(*deadline),
                local(*due_at)
            );
            vec![deviation(
                event,
                &[&event.id.to_string()],
                addressed_to,
                description,
                DeviationCause::DeadlineMissed,
                Some(*deadline),
                evidence,
                contacts(case, directory),
            )]
        }
        EventKind::SipMeetingHeld {
            invitation_id,
            held_at,
            attendees,
            ..
        } => meeting_deviations(
            case,
            event,
            invitation_id,
            *held_at,
            attendees,
            policy,
            directory,
        ),
        EventKind::Discharged { discharged_at }
            if policy.planning.discharge_without_planning && !planned(case, event) =>
        {
            let Some(ward) = responsible(case, Deadline::InformationAtDischarge) else {
                return Vec::new();
            };
            let description = format!(
                "Discharged {} without any discharge planning: no planning started, no \
                 ready-for-discharge notice, no SIP and no information at discharge were recorded.",
                local(*discharged_at)
            );
            let evidence = vec![Evidence {
                what: "discharged".to_owned(),
                at: *discharged_at,
                event: Some(event.id),
            }];
            vec![deviation(
                event,
                &["planning-missing", &event.id.to_string()],
                ward,
                description,
                DeviationCause::PlanningMissing,
                None,
                evidence,
                contacts(case, directory),
            )]
        }
        EventKind::SipPlan {
            plan_id,
            follow_up_on: None,
            ..
        } if policy.planning.plan_without_follow_up => {
            let Some(sender) = event.source.sender.clone() else {
                return Vec::new();
            };
            let description = format!(
                "The plan {plan_id} has no follow-up date: a SIP or discharge plan says when it \
                 is followed up."
            );
            let evidence = vec![Evidence {
                what: "sip_plan".to_owned(),
                at: event.occurred_at,
                event: Some(event.id),
            }];
            vec![deviation(
                event,
                &["no-follow-up", &event.id.to_string()],
                sender,
                description,
                DeviationCause::PlanningMissing,
                None,
                evidence,
                contacts(case, directory),
            )]
        }
        _ => Vec::new(),
    }
}

/// The deviations a held SIP meeting raises: an invited party that neither declined nor came,
/// and one that came without a function it was invited with.
fn meeting_deviations(
    case: &CoordinationCase,
    event: &Event,
    invitation_id: &str,
    held_at: Timestamp,
    attendees: &[crate::domain::event::Attendee],
    policy: &Policy,
    directory: &Directory,
) -> Vec<Event> {
    let came = |party: &Party| {
        attendees
            .iter()
            .any(|a| either_answers_for(&a.party, party))
    };
    let mut evidence = Vec::new();
    if let Some(invitation) = invitation(case, invitation_id) {
        evidence.push(Evidence {
            what: "sip_invitation".to_owned(),
            at: invitation.occurred_at,
            event: Some(invitation.id),
        });
    }
    evidence.push(Evidence {
        what: "sip_meeting_held".to_owned(),
        at: held_at,
        event: Some(event.id),
    });
    let mut raised = Vec::new();
    for party in absent(case, invitation_id) {
        if came(&party) {
            continue;
        }
        let description = format!(
            "{party} was invited to the SIP meeting of {} (invitation {invitation_id}), did not decline, and did not attend.",
            local(held_at)
        );
        raised.push(deviation(
            event,
            &[&event.id.to_string(), &party.to_string()],
            party,
            description,
            DeviationCause::AbsentFromMeeting,
            None,
            evidence.clone(),
            contacts(case, directory),
        ));
    }
    for (party, missing) in absent_functions(case, invitation_id, attendees, policy) {
        let names: Vec<&str> = missing.iter().map(|c| policy.functions.name(c)).collect();
        let description = format!(
            "{party} was invited with {} to the SIP meeting of {} (invitation {invitation_id}); it came, but no {} attended.",
            names.join(", "),
            local(held_at),
            names.join(" or ").to_lowercase()
        );
        let mut evidence = evidence.clone();
        evidence.extend(missing.iter().map(|code| Evidence {
            what: format!("absent_function:{code}"),
            at: held_at,
            event: None,
        }));
        raised.push(deviation(
            event,
            &[&event.id.to_string(), &party.to_string(), "functions"],
            party,
            description,
            DeviationCause::AbsentByFunction,
            None,
            evidence,
            contacts(case, directory),
        ));
    }
    raised
}

/// Whether any planning was recorded in `case` before `event`: planning started, a
/// ready-for-discharge notice, a SIP invitation, meeting or plan, information at discharge.
fn planned(case: &CoordinationCase, event: &Event) -> bool {
    case.events()
        .iter()
        .take_while(|e| e.id != event.id)
        .any(|e| {
            matches!(
                e.kind,
                EventKind::PlanningStarted { .. }
                    | EventKind::ReadyForDischarge { .. }
                    | EventKind::SipInvitation { .. }
                    | EventKind::SipMeetingHeld { .. }
                    | EventKind::SipPlan { .. }
                    | EventKind::InformationAtDischarge { .. }
            )
        })
}

/// The invited parties that came to the meeting (`attendees`) without a function they were
/// invited with, each with the codes of those functions (`Policy::functions`): a physician
/// invited, a curator sent. Functions the code table does not name are not compared.
fn absent_functions(
    case: &CoordinationCase,
    invitation_id: &str,
    attendees: &[crate::domain::event::Attendee],
    policy: &Policy,
) -> Vec<(Party, Vec<String>)> {
    let invited = invited_functions(case, invitation_id);
    let not_declined = absent(case, invitation_id);
    let mut missing: Vec<(Party, Vec<String>)> = Vec::new();
    for function in &invited {
        let party = &function.party;
        if !not_declined.contains(party) {
            continue;
        }
        let theirs: Vec<&crate::domain::event::Attendee> = attendees
            .iter()
            .filter(|a| either_answers_for(&a.party, party))
            .collect();
        let Some(code) = policy.functions.classify(&function.function) else {
            continue;
        };
        if theirs.is_empty()
            || theirs
                .iter()
                .any(|a| policy.functions.classify(&a.function) == Some(code))
        {
            continue;
        }
        match missing.iter_mut().find(|(p, _)| p == party) {
            Some((_, codes)) if !codes.iter().any(|c| c == code) => codes.push(code.to_owned()),
            Some(_) => {}
            None => missing.push((party.clone(), vec![code.to_owned()])),
        }
    }
    missing
}

/// An accepted SIP answer (`event`) naming another function than the responder was invited
/// with, by the function code table: the warnings for the responder, before the meeting, that
/// an absence by function will be recorded unless the invited function attends.
pub fn function_mismatch(
    case: &CoordinationCase,
    event: &Event,
    functions: &crate::process::functions::Functions,
) -> Vec<String> {
    let EventKind::SipResponse {
        invitation_id,
        responder,
        answer: SipAnswer::Accepted,
        attending_function,
        participants,
    } = &event.kind
    else {
        return Vec::new();
    };
    let coming: Vec<_> =
        crate::domain::event::attending_functions(attending_function, participants)
            .into_iter()
            .filter_map(|f| functions.classify(f))
            .collect();
    let Some(&first) = coming.first() else {
        return Vec::new();
    };
    let invited = invited_functions(case, invitation_id);
    invited
        .iter()
        .filter(|f| either_answers_for(responder, &f.party))
        .filter_map(|function| {
            let wanted = functions.classify(&function.function)?;
            let also_invited = invited.iter().any(|f| {
                f.party == function.party
                    && functions
                        .classify(&f.function)
                        .is_some_and(|c| coming.contains(&c))
            });
            (!coming.contains(&wanted) && !also_invited).then(|| {
                format!(
                    "{} was invited with the function {}; the answer names {}: unless a {} \
                     attends, the meeting records an absence by function",
                    function.party,
                    functions.name(wanted),
                    functions.name(first),
                    functions.name(wanted).to_lowercase()
                )
            })
        })
        .collect()
}

/// The functions (with their parties) invitation `invitation_id` of `case` invites.
fn invited_functions(
    case: &CoordinationCase,
    invitation_id: &str,
) -> Vec<crate::domain::event::InvitedFunction> {
    invitation(case, invitation_id)
        .map(|e| match &e.kind {
            EventKind::SipInvitation { invited, .. } => invited.clone(),
            _ => Vec::new(),
        })
        .unwrap_or_default()
}

/// The invited parties of an invitation that had not declined or proposed another time.
fn absent(case: &CoordinationCase, invitation_id: &str) -> Vec<Party> {
    let mut invited: Vec<Party> = invited_functions(case, invitation_id)
        .into_iter()
        .map(|f| f.party)
        .collect();
    invited.sort();
    invited.dedup();
    invited.retain(|party| {
        !case.events().iter().any(|e| match &e.kind {
            EventKind::SipResponse {
                invitation_id: id,
                responder,
                answer: SipAnswer::Declined { .. } | SipAnswer::ProposedOtherTime { .. },
                ..
            } => id == invitation_id && answers_for(responder, party),
            _ => false,
        })
    });
    invited
}

fn invitation<'c>(case: &'c CoordinationCase, invitation_id: &str) -> Option<&'c Event> {
    case.events().iter().find(|e| {
        matches!(&e.kind, EventKind::SipInvitation { invitation_id: id, .. } if id == invitation_id)
    })
}

fn find(case: &CoordinationCase, id: EventId) -> Option<&Event> {
    case.events().iter().find(|e| e.id == id)
}

/// Who answers for a deadline that is not one party's: the region's steps are the ward's (the
/// SIP invitation the care contact's, once appointed); a plan's follow-up is the plan's sender's.
fn responsible(case: &CoordinationCase, deadline: Deadline) -> Option<Party> {
    let ward = case.events().iter().find_map(|e| match &e.kind {
        EventKind::AdmissionNotice { ward, .. } => Some(Party::RegionUnit {
            hsa_id: ward.clone(),
        }),
        _ => None,
    });
    let first_sender = || case.events().iter().find_map(|e| e.source.sender.clone());
    match deadline {
        Deadline::SipInvitation => case
            .events()
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::CareContactAppointed { unit, .. } => Some(Party::RegionUnit {
                    hsa_id: unit.clone(),
                }),
                _ => None,
            })
            .or(ward),
        Deadline::PlanFollowUp => case
            .events()
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::SipPlan {
                    overall_responsibility,
                    ..
                } => e
                    .source
                    .sender
                    .clone()
                    .or_else(|| match overall_responsibility {
                        Principal::Region => ward.clone(),
                        Principal::Municipality => {
                            case.municipalities()
                                .first()
                                .map(|&kommunkod| Party::Municipality {
                                    kommunkod,
                                    unit: None,
                                })
                        }
                    }),
                _ => None,
            })
            .or(ward),
        _ => ward.or_else(first_sender),
    }
}

/// The deviation contacts of both principals of `case`: whom a deviation is told to.
fn contacts(case: &CoordinationCase, directory: &Directory) -> Vec<Party> {
    directory.deviation_contacts(case.region_units(), case.municipalities())
}

#[allow(clippy::too_many_arguments)]
fn deviation(
    cause_event: &Event,
    id_parts: &[&str],
    addressed_to: Party,
    description: String,
    cause: DeviationCause,
    deadline: Option<Deadline>,
    evidence: Vec<Evidence>,
    notify: Vec<Party>,
) -> Event {
    let id = derived_id("deviation", id_parts);
    Event {
        id: EventId(derived_id("deviation-event", id_parts)),
        occurred_at: cause_event.occurred_at,
        source: EventSource {
            local_codes: Default::default(),
            format: GATEWAY.to_owned(),
            message_id: format!("deviation:{id}"),
            sender: None,
        },
        kind: EventKind::DeviationRaised {
            deviation_id: id.to_string(),
            raised_by: None,
            notify,
            addressed_to,
            description: Sensitive::new(description),
            cause,
            deadline,
            concerns: Some(cause_event.id),
            evidence,
        },
    }
}

fn deadline_text(deadline: Deadline) -> &'static str {
    match deadline {
        Deadline::AdmissionNotice => "Admission notice",
        Deadline::SipInvitation => "SIP invitation",
        Deadline::InformationAtDischarge => "Information at discharge",
        Deadline::PaymentResponsibility => "Payment responsibility",
        Deadline::DeviationAnswer => "Answer to a deviation",
        Deadline::SipAttendance => "Confirmation of who attends the SIP meeting",
        Deadline::PlanFollowUp => "Follow-up of the plan",
        Deadline::LvmHold => "Discharged while an LVM decision held the person in hospital",
        Deadline::Agreement => "Agreement clock",
    }
}

/// A time as people in Stockholm read it.
fn local(at: Timestamp) -> String {
    at.to_zoned_datetime(stockholm())
        .datetime()
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// Where a deviation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviationStatus {
    /// Raised; the addressed party has not acknowledged it.
    Open,
    /// Acknowledged, not answered yet.
    Acknowledged,
    Answered,
}

/// One deviation with its evidence and its state, as coordinators follow it up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviationView {
    pub case_id: CaseId,
    pub deviation_id: String,
    pub status: DeviationStatus,
    pub cause: DeviationCause,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
    pub raised_at: Timestamp,
    /// Who reported it; absent when the gateway raised it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raised_by: Option<Party>,
    pub addressed_to: Party,
    pub description: Sensitive<String>,
    pub evidence: Vec<Evidence>,
    pub notify: Vec<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Sensitive<String>>,
    /// Days from raising to answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_days: Option<f64>,
    pub reminders: u32,
}

/// The deviation `deviation_id` of `case`, if it has one.
pub fn view(case: &CoordinationCase, deviation_id: &str) -> Option<DeviationView> {
    let state = case.state().deviations.get(deviation_id)?;
    let raised = case.events().iter().find_map(|e| match &e.kind {
        EventKind::DeviationRaised {
            deviation_id: id,
            raised_by,
            description,
            cause,
            deadline,
            evidence,
            notify,
            ..
        } if id == deviation_id => {
            Some((raised_by, description, cause, deadline, evidence, notify))
        }
        _ => None,
    })?;
    let (raised_by, description, cause, deadline, evidence, notify) = raised;
    let answer = case.events().iter().find_map(|e| match &e.kind {
        EventKind::DeviationAnswered {
            deviation_id: id,
            answer,
            ..
        } if id == deviation_id => Some(answer.clone()),
        _ => None,
    });
    let status = match (state.acknowledged_at, state.answered_at) {
        (_, Some(_)) => DeviationStatus::Answered,
        (Some(_), None) => DeviationStatus::Acknowledged,
        (None, None) => DeviationStatus::Open,
    };
    Some(DeviationView {
        case_id: case.id(),
        deviation_id: deviation_id.to_owned(),
        status,
        cause: *cause,
        deadline: *deadline,
        raised_at: state.raised_at,
        raised_by: raised_by.clone(),
        addressed_to: state.addressed_to.clone(),
        description: description.clone(),
        evidence: evidence.clone(),
        notify: notify.clone(),
        acknowledged_at: state.acknowledged_at,
        answered_at: state.answered_at,
        answer,
        answer_days: state
            .answered_at
            .map(|at| stats::round2(stats::days(state.raised_at, at))),
        reminders: state.reminders,
    })
}
