//! Deviations the gateway raises itself, from the evidence it holds: a missed deadline, or an
//! invited principal absent from a SIP meeting without notice. Each names the party that
//! answers for it, the evidence (events and times), and the deviation contacts of both
//! principals it is routed to. Pure: no IO.

use jiff::Timestamp;
use serde::Serialize;

use super::clocks::GATEWAY;
use super::policy::Policy;
use super::stats;
use crate::config::Directory;
use crate::domain::case::{CaseId, CoordinationCase, answers_for};
use crate::domain::event::{
    Deadline, DeviationCause, Event, EventId, EventKind, EventSource, Evidence, SipAnswer,
};
use crate::domain::party::{Party, Principal};
use crate::domain::sensitive::Sensitive;
use crate::domain::time::stockholm;
use crate::formats::canonical::derived_id;

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
        } => {
            let came = |party: &Party| {
                attendees
                    .iter()
                    .any(|a| answers_for(&a.party, party) || answers_for(party, &a.party))
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
                at: *held_at,
                event: Some(event.id),
            });
            let mut raised = Vec::new();
            for party in absent(case, invitation_id) {
                if came(&party) {
                    continue;
                }
                let description = format!(
                    "{party} was invited to the SIP meeting of {} (invitation {invitation_id}), did not decline, and did not attend.",
                    local(*held_at)
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
                    local(*held_at),
                    names.join(" or ").to_lowercase()
                );
                let mut evidence = evidence.clone();
                evidence.extend(missing.iter().map(|code| Evidence {
                    what: format!("absent_function:{code}"),
                    at: *held_at,
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

/// A delivery that is still failing as its step's deadline nears, or that went to the dead
/// letters.
#[derive(Debug, Clone)]
pub struct LateDelivery<'a> {
    /// The delivery's idempotency key (one deviation per delivery).
    pub key: &'a str,
    pub subscription: &'a str,
    pub recipient: Party,
    pub attempts: u64,
    pub last_error: &'a str,
    /// The step's deadline; none for a step without one (a dead letter raises the deviation
    /// whatever the deadline).
    pub deadline: Option<Timestamp>,
    /// Dead-lettered: no further attempt will be made.
    pub dead: bool,
    pub at: Timestamp,
}

/// The deviation a late delivery of `event` (an event of `case`) raises: addressed to the
/// recipient whose system does not take it, routed to both principals' deviation contacts.
pub fn delivery_late(
    case: &CoordinationCase,
    event: &Event,
    late: &LateDelivery<'_>,
    directory: &Directory,
) -> Event {
    let state = if late.dead {
        "went to the dead letters"
    } else {
        "is still failing"
    };
    let due = match late.deadline {
        Some(deadline) => format!(" Its deadline is {}.", local(deadline)),
        None => String::new(),
    };
    let description = format!(
        "The {} to {} has not been delivered: it {state} after {} attempts through subscription {} (last: {}).{due}",
        event.kind.name(),
        late.recipient,
        late.attempts,
        late.subscription,
        late.last_error,
    );
    let mut evidence = vec![Evidence {
        what: event.kind.name().to_owned(),
        at: event.occurred_at,
        event: Some(event.id),
    }];
    if let Some(deadline) = late.deadline {
        evidence.push(Evidence {
            what: "deadline".to_owned(),
            at: deadline,
            event: None,
        });
    }
    evidence.push(Evidence {
        what: if late.dead {
            "dead_letter"
        } else {
            "delivery_failing"
        }
        .to_owned(),
        at: late.at,
        event: None,
    });
    // Both principals' deviation contacts, and the step's sender: it must know its step did
    // not arrive.
    let mut notify = contacts(case, directory);
    if let Some(sender) = &event.source.sender
        && *sender != late.recipient
        && !notify.contains(sender)
    {
        notify.push(sender.clone());
    }
    let mut raised = deviation(
        event,
        &["delivery", late.key],
        late.recipient.clone(),
        description,
        DeviationCause::DeliveryLate,
        None,
        evidence,
        notify,
    );
    raised.occurred_at = late.at;
    raised
}

/// Whether a step of this kind must reach its recipients by law or agreement (`must_reach`).
/// A dead letter of such a step raises a deviation even when the step has no deadline; one of
/// any other kind without a deadline (a deviation, an answer) does not, so a deviation the
/// recipient's format cannot carry does not raise another.
pub fn must_arrive(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::AdmissionNotice { .. }
            | EventKind::SipInvitation { .. }
            | EventKind::SipPlan { .. }
            | EventKind::InformationAtDischarge { .. }
            | EventKind::LvmReport { .. }
            | EventKind::ChildConcernReport { .. }
    )
}

/// The parties a step must reach by law or agreement: the recipients of an admission notice,
/// whom a SIP invitation invites (and a plan goes to), the municipalities that must have the
/// information at discharge, the municipality a 6 § LVM report or a report of concern for a
/// child is made to. A step withheld from one of them is a deviation to its sender
/// (`not_delivered`); other steps (a deviation, an answer) the recipient can do without.
pub fn must_reach(case: &CoordinationCase, event: &Event) -> Vec<Party> {
    let municipality = |kommunkod| Party::Municipality {
        kommunkod,
        unit: None,
    };
    let mut parties = match &event.kind {
        EventKind::AdmissionNotice { recipients, .. } => recipients.clone(),
        EventKind::SipInvitation { invited, .. } => {
            invited.iter().map(|f| f.party.clone()).collect()
        }
        EventKind::SipPlan { .. } | EventKind::InformationAtDischarge { .. } => case
            .municipalities()
            .iter()
            .map(|&k| municipality(k))
            .collect(),
        EventKind::LvmReport {
            to_municipality, ..
        }
        | EventKind::ChildConcernReport {
            to_municipality, ..
        } => vec![municipality(*to_municipality)],
        _ => Vec::new(),
    };
    parties.sort();
    parties.dedup();
    parties
}

/// The deviation for a step withheld from parties it must reach (`missed`: each with the
/// reason the disclosure decision gave): addressed to the step's sender, who can put it right
/// (record the consent, the legal basis) — and routed to nobody else, since the parties it
/// was withheld from may not learn of the step. `None` for a step the gateway made itself.
pub fn not_delivered(event: &Event, missed: &[(Party, String)]) -> Option<Event> {
    let sender = event.source.sender.clone()?;
    if missed.is_empty() {
        return None;
    }
    let parties: Vec<String> = missed
        .iter()
        .map(|(party, reason)| format!("{party} ({reason})"))
        .collect();
    let description = format!(
        "The {} was not disclosed to {}, who must receive it; no clock runs for them until it is. Record what it needs and send it again.",
        event.kind.name(),
        parties.join("; ")
    );
    let evidence = vec![Evidence {
        what: event.kind.name().to_owned(),
        at: event.occurred_at,
        event: Some(event.id),
    }];
    let raised = deviation(
        event,
        &["not-delivered", &event.id.to_string()],
        sender,
        description,
        DeviationCause::NotDelivered,
        None,
        evidence,
        Vec::new(),
    );
    Some(raised)
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
    let invited = invitation(case, invitation_id)
        .map(|e| match &e.kind {
            EventKind::SipInvitation { invited, .. } => invited.clone(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    let not_declined = absent(case, invitation_id);
    let mut missing: Vec<(Party, Vec<String>)> = Vec::new();
    for function in &invited {
        let party = &function.party;
        if !not_declined.contains(party) {
            continue;
        }
        let theirs: Vec<&crate::domain::event::Attendee> = attendees
            .iter()
            .filter(|a| answers_for(&a.party, party) || answers_for(party, &a.party))
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

/// The invited parties of an invitation that had not declined or proposed another time.
fn absent(case: &CoordinationCase, invitation_id: &str) -> Vec<Party> {
    let mut invited: Vec<Party> = invitation(case, invitation_id)
        .map(|e| match &e.kind {
            EventKind::SipInvitation { invited, .. } => {
                invited.iter().map(|f| f.party.clone()).collect()
            }
            _ => Vec::new(),
        })
        .unwrap_or_default();
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
