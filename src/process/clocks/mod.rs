//! The clocks an event starts and stops under a policy: timers to write in the same
//! transaction as the event, timers to cancel, and deadlines that were already missed when the
//! event arrived. Pure: no IO, time comes in with the event.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::policy::{AgreementClock, Policy};
use crate::changes::TimerEntry;
use crate::domain::case::{CoordinationCase, answers_for};
use crate::domain::event::{
    Deadline, Event, EventId, EventKind, EventSource, SipAnswer, attending_functions,
};
use crate::domain::party::Party;
use crate::formats::canonical::derived_id;

/// Timer kinds (one pending timer of a kind per case; agreement clocks add their key).
pub const SIP_INVITATION: &str = "sip_invitation";
pub const PAYMENT_RESPONSIBILITY: &str = "payment_responsibility";
pub const INFORMATION_AT_DISCHARGE: &str = "information_at_discharge";
/// Prefix of a deviation's reminder timer (`deviation_reminder:{deviation_id}`).
pub const DEVIATION_REMINDER: &str = "deviation_reminder";

/// The format name of events the gateway raises itself.
pub const GATEWAY: &str = "gateway";

/// What a timer row carries, to build the event when it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerPayload {
    pub deadline: Deadline,
    /// `{policy}/{clock}`: which rule set the due time.
    pub rule: String,
    /// The event that started the clock.
    pub started_by: EventId,
    /// Whom the deadline is for, when it is one party's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<Party>,
    /// For a deviation's reminder: which deviation, and which reminder (1, 2, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<u32>,
}

/// Keeps, of a step's new timers, those that do not wait for a party or whose party the event
/// that started them reached (`reached`: the disclosure decision released it to them). Nobody
/// is waited for — or, when the clock runs out, blamed — for what was never disclosed to them.
pub fn for_reached(
    timers: Vec<TimerEntry>,
    reached: impl Fn(EventId, &Party) -> bool,
) -> Vec<TimerEntry> {
    timers
        .into_iter()
        .filter(|timer| match TimerPayload::deserialize(&timer.payload) {
            Ok(TimerPayload {
                party: Some(party),
                started_by,
                ..
            }) => reached(started_by, &party),
            _ => true,
        })
        .collect()
}

/// What an event does to a case's clocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClockPlan {
    pub timers: Vec<TimerEntry>,
    pub cancel: Vec<String>,
    /// Deadlines the event itself shows to be missed (e.g. an admission notice sent late).
    pub missed: Vec<Event>,
}

/// What a missed deadline was: which, when due, under which rule, for whom, started by what.
#[derive(Debug, Clone)]
pub struct Missed {
    pub deadline: Deadline,
    pub due_at: Timestamp,
    pub rule: String,
    pub party: Option<Party>,
    pub started_by: Option<EventId>,
}

/// The `deadline_missed` event for a deadline, with an id derived from what it is about, so
/// that firing twice cannot record it twice.
pub fn missed_event(id_parts: &[&str], missed: Missed, noticed_at: Timestamp) -> Event {
    Event {
        id: EventId(derived_id("deadline", id_parts)),
        occurred_at: noticed_at,
        source: EventSource {
            local_codes: Default::default(),
            format: GATEWAY.to_owned(),
            message_id: format!("deadline:{}", id_parts.join(":")),
            sender: None,
        },
        kind: EventKind::DeadlineMissed {
            deadline: missed.deadline,
            due_at: missed.due_at,
            rule: Some(missed.rule),
            party: missed.party,
            started_by: missed.started_by,
        },
    }
}

fn timer(
    case: &CoordinationCase,
    kind: String,
    due_at: Timestamp,
    deadline: Deadline,
    rule: String,
    started_by: &Event,
    party: Option<Party>,
) -> TimerEntry {
    let payload = TimerPayload {
        deadline,
        rule,
        started_by: started_by.id,
        party,
        deviation_id: None,
        reminder: None,
    };
    TimerEntry {
        id: derived_id(
            "timer",
            &[&case.id().to_string(), &kind, &started_by.id.to_string()],
        )
        .to_string(),
        kind,
        due_at,
        payload: serde_json::to_value(payload).unwrap_or(Value::Null),
    }
}

fn follow_up_kind(plan_id: &str) -> String {
    format!("plan_follow_up:{plan_id}")
}

/// The ids of the plans in the case's history.
fn plan_ids(case: &CoordinationCase) -> impl Iterator<Item = &str> {
    case.events().iter().filter_map(|e| match &e.kind {
        EventKind::SipPlan { plan_id, .. } => Some(plan_id.as_str()),
        _ => None,
    })
}

/// The reminder timer's kind for a deviation.
pub fn reminder_kind(deviation_id: &str) -> String {
    format!("{DEVIATION_REMINDER}:{deviation_id}")
}

/// The timer for the `reminder`-th reminder of a deviation, if the policy has one.
fn reminder_timer(
    case: &CoordinationCase,
    policy: &Policy,
    deviation_id: &str,
    addressed_to: &Party,
    started_by: &Event,
    raised_at: Timestamp,
    reminder: u32,
) -> Option<TimerEntry> {
    let due = policy.deviation_reminder_due(raised_at, reminder)?;
    let kind = reminder_kind(deviation_id);
    let payload = TimerPayload {
        deadline: Deadline::DeviationAnswer,
        rule: format!("{}/deviation_answer", policy.id),
        started_by: started_by.id,
        party: Some(addressed_to.clone()),
        deviation_id: Some(deviation_id.to_owned()),
        reminder: Some(reminder),
    };
    Some(TimerEntry {
        id: derived_id(
            "timer",
            &[&case.id().to_string(), &kind, &reminder.to_string()],
        )
        .to_string(),
        kind,
        due_at: due,
        payload: serde_json::to_value(payload).unwrap_or(Value::Null),
    })
}

pub fn attendance_kind(invitation_id: &str, party: &Party) -> String {
    format!("sip_attendance:{invitation_id}:{party}")
}

/// The parties invited by `invitation_id` in the case's history.
fn invited_parties<'c>(case: &'c CoordinationCase, invitation_id: &str) -> Vec<&'c Party> {
    case.events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SipInvitation {
                invitation_id: id,
                invited,
                ..
            } if id == invitation_id => Some(invited.iter().map(|f| &f.party)),
            _ => None,
        })
        .flatten()
        .collect()
}

fn psychiatric(case: &CoordinationCase) -> bool {
    case.events().iter().any(|e| {
        matches!(
            e.kind,
            EventKind::AdmissionNotice {
                psychiatric: true,
                ..
            }
        )
    })
}

fn has(case: &CoordinationCase, name: &str) -> bool {
    case.events().iter().any(|e| e.kind.name() == name)
}

/// The value of `field` in the event's JSON form, as text for keys.
fn field(kind: &Value, field: &str) -> Option<Value> {
    kind.get(field).cloned()
}

fn agreement_kind(policy: &Policy, clock: &AgreementClock, key: Option<&Value>) -> String {
    let key = match key {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    format!("agreement:{}/{}:{key}", policy.id, clock.id)
}

/// The clocks `event` starts and stops in `case` (the case before the event) under `policy`.
/// `sent_at` is when the sender created the message.
pub fn plan(
    case: &CoordinationCase,
    event: &Event,
    sent_at: Timestamp,
    policy: &Policy,
) -> ClockPlan {
    let mut plan = ClockPlan::default();
    let rule = |name: &str| format!("{}/{name}", policy.id);
    discharge_clocks(&mut plan, case, event, sent_at, policy);
    dual_diagnosis_clock(&mut plan, case, event, policy);
    sip_clocks(&mut plan, case, event, sent_at, policy);
    deviation_clocks(&mut plan, case, event, policy);

    let kind_json = serde_json::to_value(&event.kind).unwrap_or(Value::Null);
    for (clock, key) in started_clocks(policy, event) {
        // The party the clock names answers for it; by default, the one whose event started it.
        let party = match &clock.answered_by {
            Some(name) => field(&kind_json, name).and_then(|v| serde_json::from_value(v).ok()),
            None => event.source.sender.clone(),
        };
        plan.timers.push(timer(
            case,
            agreement_kind(policy, clock, key.as_ref()),
            policy.clock_due(clock, event.occurred_at),
            Deadline::Agreement,
            rule(&clock.id),
            event,
            party,
        ));
    }
    for clock in &policy.clocks {
        if clock.stops_on.contains(&event.kind.name()) {
            plan.cancel
                .extend(stopped_agreement_clocks(case, policy, clock, &kind_json));
        }
    }
    plan
}

/// The timers of agreement clock `clock` that an event stopping it (`stop`, its JSON form)
/// cancels: the one of its key when it carries one, or its invitation does (the cost split
/// of placement P-17 stops P-17's clock; so does the meeting of a SIP invited for P-17), else
/// every key the case's events started (a SIP meeting held after two placements, its
/// invitation naming neither, meets the SIP clock of both: a person has one SIP).
fn stopped_agreement_clocks(
    case: &CoordinationCase,
    policy: &Policy,
    clock: &AgreementClock,
    stop: &Value,
) -> Vec<String> {
    let key = clock
        .key
        .as_deref()
        .and_then(|k| field(stop, k).or_else(|| invitation_field(case, stop, k)));
    if key.is_some() || clock.key.is_none() {
        return vec![agreement_kind(policy, clock, key.as_ref())];
    }
    let mut kinds: Vec<String> = case
        .events()
        .iter()
        .flat_map(|e| started_clocks(policy, e))
        .filter(|(started, _)| started.id == clock.id)
        .map(|(started, key)| agreement_kind(policy, started, key.as_ref()))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// Field `name` of the SIP invitation the event `stop` answers or follows (its
/// `invitation_id`), as the case holds it.
fn invitation_field(case: &CoordinationCase, stop: &Value, name: &str) -> Option<Value> {
    let id = stop.get("invitation_id")?.as_str()?;
    let invitation = case.events().iter().find(|e| {
        matches!(&e.kind, EventKind::SipInvitation { invitation_id, .. } if invitation_id == id)
    })?;
    field(&serde_json::to_value(&invitation.kind).ok()?, name)
}

/// The clocks of a discharge: the admission notice's, the SIP invitation's and the payment
/// responsibility's from readiness, information at discharge, an LVM hold at discharge, and
/// everything a cancelled case stops.
fn discharge_clocks(
    plan: &mut ClockPlan,
    case: &CoordinationCase,
    event: &Event,
    sent_at: Timestamp,
    policy: &Policy,
) {
    let rule = |name: &str| format!("{}/{name}", policy.id);
    match &event.kind {
        EventKind::AdmissionNotice {
            admitted_at,
            assessed_at,
            ..
        } => {
            let due = policy.admission_notice_due(assessed_at.unwrap_or(*admitted_at));
            if sent_at > due {
                plan.missed.push(missed_event(
                    &[&event.id.to_string(), "admission_notice"],
                    Missed {
                        deadline: Deadline::AdmissionNotice,
                        due_at: due,
                        rule: rule("admission_notice"),
                        party: None,
                        started_by: Some(event.id),
                    },
                    sent_at,
                ));
            }
        }
        EventKind::ReadyForDischarge { decided_at, .. } => {
            if case.state().invitations.is_empty() {
                plan.timers.push(timer(
                    case,
                    SIP_INVITATION.to_owned(),
                    policy.sip_invitation_due(*decided_at),
                    Deadline::SipInvitation,
                    rule(SIP_INVITATION),
                    event,
                    None,
                ));
            }
            plan.timers.push(timer(
                case,
                PAYMENT_RESPONSIBILITY.to_owned(),
                policy.payment_responsibility_from(*decided_at, psychiatric(case)),
                Deadline::PaymentResponsibility,
                rule(PAYMENT_RESPONSIBILITY),
                event,
                None,
            ));
        }
        EventKind::ReadyForDischargeRevoked { .. } => {
            plan.cancel.push(SIP_INVITATION.to_owned());
            plan.cancel.push(PAYMENT_RESPONSIBILITY.to_owned());
        }
        EventKind::Discharged { discharged_at } => {
            // Discharged while an LVM decision held the person in hospital: at once.
            for decision_id in &case.state().lvm_holds {
                let decision = case.events().iter().find(|e| {
                    matches!(&e.kind, EventKind::LvmDecision { decision_id: d, .. } if d == decision_id)
                });
                plan.missed.push(missed_event(
                    &[&event.id.to_string(), "lvm_hold", decision_id],
                    Missed {
                        deadline: Deadline::LvmHold,
                        due_at: *discharged_at,
                        rule: rule("lvm_hold"),
                        party: None,
                        started_by: decision.map(|d| d.id),
                    },
                    *discharged_at,
                ));
            }
            plan.cancel.push(PAYMENT_RESPONSIBILITY.to_owned());
            if !has(case, "information_at_discharge") {
                plan.timers.push(timer(
                    case,
                    INFORMATION_AT_DISCHARGE.to_owned(),
                    policy.information_at_discharge_due(*discharged_at),
                    Deadline::InformationAtDischarge,
                    rule(INFORMATION_AT_DISCHARGE),
                    event,
                    None,
                ));
            }
        }
        EventKind::InformationAtDischarge { .. } => {
            plan.cancel.push(INFORMATION_AT_DISCHARGE.to_owned())
        }
        EventKind::CaseCancelled { .. } => {
            plan.cancel.extend(
                [
                    SIP_INVITATION,
                    PAYMENT_RESPONSIBILITY,
                    INFORMATION_AT_DISCHARGE,
                ]
                .map(str::to_owned),
            );
            plan.cancel.extend(plan_ids(case).map(follow_up_kind));
            for earlier in case.events() {
                if let EventKind::SipInvitation {
                    invitation_id,
                    invited,
                    ..
                } = &earlier.kind
                {
                    plan.cancel.extend(
                        invited
                            .iter()
                            .map(|f| attendance_kind(invitation_id, &f.party)),
                    );
                }
            }
            // And every agreement clock the case started.
            for earlier in case.events() {
                plan.cancel.extend(
                    started_clocks(policy, earlier)
                        .into_iter()
                        .map(|(clock, key)| agreement_kind(policy, clock, key.as_ref())),
                );
            }
        }

        _ => {}
    }
}

/// Timer kind of the SIP assumed needed in a psychiatric case with substance abuse.
const DUAL_DIAGNOSIS: &str = "sip_dual_diagnosis";

/// The SIP the agreements assume is needed where psychiatric inpatient care meets substance
/// abuse (`[planning]`): the first LVM step (a 6 § report, a decision, a request for a 9 §
/// certificate) in a case of psychiatric inpatient care without a SIP invitation starts its
/// clock, and an invitation stops it. (An admission opens its case, so the LVM step always
/// comes second.) The region unit that sent the step answers for it, else the psychiatric
/// ward.
fn dual_diagnosis_clock(
    plan: &mut ClockPlan,
    case: &CoordinationCase,
    event: &Event,
    policy: &Policy,
) {
    if matches!(event.kind, EventKind::SipInvitation { .. }) {
        plan.cancel.push(DUAL_DIAGNOSIS.to_owned());
        return;
    }
    if !substance_abuse(&event.kind)
        || !psychiatric(case)
        || case.events().iter().any(|e| substance_abuse(&e.kind))
        || has(case, "sip_invitation")
    {
        return;
    }
    let Some(due) = policy.dual_diagnosis_sip_due(event.occurred_at) else {
        return;
    };
    let party = match &event.source.sender {
        Some(unit @ Party::RegionUnit { .. }) => Some(unit.clone()),
        _ => psychiatric_ward(case),
    };
    plan.timers.push(timer(
        case,
        DUAL_DIAGNOSIS.to_owned(),
        due,
        Deadline::Agreement,
        format!("{}/sip-dual-diagnosis", policy.id),
        event,
        party,
    ));
}

/// Whether a step shows substance abuse: the steps of LVM (the care of substance abusers).
fn substance_abuse(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::LvmReport { .. }
            | EventKind::LvmDecision { .. }
            | EventKind::LvmCertificateRequested { .. }
    )
}

/// The ward of the case's psychiatric admission.
fn psychiatric_ward(case: &CoordinationCase) -> Option<Party> {
    case.events().iter().find_map(|e| match &e.kind {
        EventKind::AdmissionNotice {
            psychiatric: true,
            ward,
            ..
        } => Some(Party::RegionUnit {
            hsa_id: ward.clone(),
        }),
        _ => None,
    })
}

/// The clocks of a SIP: attendance confirmations, a plan's follow-up, and what a held meeting ends.
fn sip_clocks(
    plan: &mut ClockPlan,
    case: &CoordinationCase,
    event: &Event,
    sent_at: Timestamp,
    policy: &Policy,
) {
    let rule = |name: &str| format!("{}/{name}", policy.id);
    match &event.kind {
        EventKind::SipInvitation {
            invitation_id,
            meeting_at,
            invited,
            ..
        } => {
            plan.cancel.push(SIP_INVITATION.to_owned());
            // Each invited party confirms who attends; an invitation sent too close to the
            // meeting for that has no such clock.
            let due = policy.sip_confirmation_due(*meeting_at);
            if due > sent_at {
                let mut parties: Vec<&Party> = invited.iter().map(|f| &f.party).collect();
                parties.sort();
                parties.dedup();
                for party in parties {
                    plan.timers.push(timer(
                        case,
                        attendance_kind(invitation_id, party),
                        due,
                        Deadline::SipAttendance,
                        rule("sip_attendance"),
                        event,
                        Some(party.clone()),
                    ));
                }
            }
        }
        EventKind::SipResponse {
            invitation_id,
            responder,
            answer: SipAnswer::Accepted,
            attending_function,
            participants,
        } if !attending_functions(attending_function, participants).is_empty() => {
            // A confirmed participant stops the reminder for the responder (a municipality
            // answering without a unit answers for all its invited units).
            for party in invited_parties(case, invitation_id) {
                if answers_for(responder, party) {
                    plan.cancel.push(attendance_kind(invitation_id, party));
                }
            }
        }
        EventKind::SipPlan {
            plan_id,
            follow_up_on,
            ..
        } => {
            // A revised plan replaces the earlier follow-up date.
            plan.cancel.push(follow_up_kind(plan_id));
            if let Some(day) = follow_up_on {
                plan.timers.push(timer(
                    case,
                    follow_up_kind(plan_id),
                    super::calendar::end_of(*day),
                    Deadline::PlanFollowUp,
                    rule("plan_follow_up"),
                    event,
                    None,
                ));
            }
        }
        EventKind::SipMeetingHeld { invitation_id, .. } => {
            // A held meeting follows the case's plans up, and ends the wait for confirmations.
            plan.cancel.extend(plan_ids(case).map(follow_up_kind));
            plan.cancel.extend(
                invited_parties(case, invitation_id)
                    .into_iter()
                    .map(|party| attendance_kind(invitation_id, party)),
            );
        }
        _ => {}
    }
}

/// A deviation's reminders, until the addressed party answers.
fn deviation_clocks(plan: &mut ClockPlan, case: &CoordinationCase, event: &Event, policy: &Policy) {
    match &event.kind {
        EventKind::DeviationRaised {
            deviation_id,
            addressed_to,
            ..
        } => {
            if let Some(timer) = reminder_timer(
                case,
                policy,
                deviation_id,
                addressed_to,
                event,
                event.occurred_at,
                1,
            ) {
                plan.timers.push(timer);
            }
        }
        EventKind::DeviationReminder {
            deviation_id,
            reminder,
            addressed_to,
            ..
        } => {
            let raised_at = case
                .state()
                .deviations
                .get(deviation_id)
                .map_or(event.occurred_at, |d| d.raised_at);
            if let Some(timer) = reminder_timer(
                case,
                policy,
                deviation_id,
                addressed_to,
                event,
                raised_at,
                reminder.saturating_add(1),
            ) {
                plan.timers.push(timer);
            }
        }
        EventKind::DeviationAnswered { deviation_id, .. } => {
            plan.cancel.push(reminder_kind(deviation_id));
        }
        _ => {}
    }
}

/// The agreement clocks `event` starts, with the key value that ties them to their stop.
fn started_clocks<'p>(
    policy: &'p Policy,
    event: &Event,
) -> Vec<(&'p AgreementClock, Option<Value>)> {
    let mut started = Vec::new();
    let mut kind_json = None;
    for clock in &policy.clocks {
        if clock.starts_on != event.kind.name() {
            continue;
        }
        let json = kind_json
            .get_or_insert_with(|| serde_json::to_value(&event.kind).unwrap_or(Value::Null));
        let matches = clock
            .conditions
            .iter()
            .all(|(name, wanted)| json.get(name) == Some(wanted));
        if matches {
            let key = clock.key.as_deref().and_then(|k| field(json, k));
            started.push((clock, key));
        }
    }
    started
}

/// The legal or agreed deadline a step's FHIR Task carries in `restriction.period.end`: by when
/// what the step asks for is due. With the case (before the event), steps whose deadline runs
/// from an earlier event get theirs too; from the message alone, only those it dates itself.
pub fn step_deadline(
    policy: &Policy,
    event: &Event,
    case: Option<&CoordinationCase>,
) -> Option<Timestamp> {
    match &event.kind {
        EventKind::AdmissionNotice {
            admitted_at,
            assessed_at,
            ..
        } => Some(policy.admission_notice_due(assessed_at.unwrap_or(*admitted_at))),
        EventKind::ReadyForDischarge { decided_at, .. } => {
            Some(policy.payment_responsibility_from(*decided_at, case.is_some_and(psychiatric)))
        }
        EventKind::SipInvitation { .. } => case
            .and_then(|c| c.state().ready_for_discharge_at)
            .map(|ready| policy.sip_invitation_due(ready)),
        EventKind::InformationAtDischarge { .. } => case
            .and_then(|c| c.state().discharged_at)
            .map(|at| policy.information_at_discharge_due(at)),
        EventKind::SipPlan { follow_up_on, .. } => follow_up_on.map(super::calendar::end_of),
        _ => started_clocks(policy, event)
            .first()
            .map(|(clock, _)| policy.clock_due(clock, event.occurred_at)),
    }
}

/// The first municipality an event names, to choose the agreement for a message read alone.
pub fn municipality_of(event: &Event) -> Option<crate::domain::identifiers::Kommunkod> {
    let of = |p: &Party| match p {
        Party::Municipality { kommunkod, .. } => Some(*kommunkod),
        Party::RegionUnit { .. } => None,
    };
    let from_sender = event.source.sender.as_ref().and_then(of);
    let named = match &event.kind {
        EventKind::AdmissionNotice { recipients, .. } => recipients.iter().find_map(of),
        EventKind::SipInvitation { invited, .. } => invited.iter().find_map(|f| of(&f.party)),
        EventKind::SipResponse { responder, .. } => of(responder),
        EventKind::PlanningStarted { by } | EventKind::Placement { by, .. } => of(by),
        EventKind::LvmReport {
            to_municipality, ..
        }
        | EventKind::ChildConcernReport {
            to_municipality, ..
        } => Some(*to_municipality),
        EventKind::SipPlan { activities, .. } => activities
            .iter()
            .find_map(|a| a.performer.as_ref().and_then(of)),
        _ => None,
    };
    named.or(from_sender)
}

#[cfg(test)]
mod tests;
