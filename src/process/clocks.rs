//! The clocks an event starts and stops under a policy: timers to write in the same
//! transaction as the event, timers to cancel, and deadlines that were already missed when the
//! event arrived. Pure: no IO, time comes in with the event.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::policy::{AgreementClock, Policy};
use crate::domain::case::CoordinationCase;
use crate::domain::event::{Deadline, Event, EventId, EventKind, EventSource};
use crate::formats::canonical::derived_id;
use crate::store::TimerEntry;

/// Timer kinds (one pending timer of a kind per case; agreement clocks add their key).
pub const SIP_INVITATION: &str = "sip_invitation";
pub const PAYMENT_RESPONSIBILITY: &str = "payment_responsibility";
pub const INFORMATION_AT_DISCHARGE: &str = "information_at_discharge";

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
}

/// What an event does to a case's clocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClockPlan {
    pub timers: Vec<TimerEntry>,
    pub cancel: Vec<String>,
    /// Deadlines the event itself shows to be missed (e.g. an admission notice sent late).
    pub missed: Vec<Event>,
}

/// The `deadline_missed` event for a deadline, with an id derived from what it is about, so
/// that firing twice cannot record it twice.
pub fn missed_event(
    id_parts: &[&str],
    deadline: Deadline,
    due_at: Timestamp,
    rule: &str,
    noticed_at: Timestamp,
) -> Event {
    Event {
        id: EventId(derived_id("deadline", id_parts)),
        occurred_at: noticed_at,
        source: EventSource {
            format: GATEWAY.to_owned(),
            message_id: format!("deadline:{}", id_parts.join(":")),
            sender: None,
        },
        kind: EventKind::DeadlineMissed {
            deadline,
            due_at,
            rule: Some(rule.to_owned()),
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
) -> TimerEntry {
    let payload = TimerPayload {
        deadline,
        rule,
        started_by: started_by.id,
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
                    Deadline::AdmissionNotice,
                    due,
                    &rule("admission_notice"),
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
                ));
            }
            plan.timers.push(timer(
                case,
                PAYMENT_RESPONSIBILITY.to_owned(),
                policy.payment_responsibility_from(*decided_at, psychiatric(case)),
                Deadline::PaymentResponsibility,
                rule(PAYMENT_RESPONSIBILITY),
                event,
            ));
        }
        EventKind::ReadyForDischargeRevoked { .. } => {
            plan.cancel.push(SIP_INVITATION.to_owned());
            plan.cancel.push(PAYMENT_RESPONSIBILITY.to_owned());
        }
        EventKind::SipInvitation { .. } => plan.cancel.push(SIP_INVITATION.to_owned()),
        EventKind::Discharged { discharged_at } => {
            plan.cancel.push(PAYMENT_RESPONSIBILITY.to_owned());
            if !has(case, "information_at_discharge") {
                plan.timers.push(timer(
                    case,
                    INFORMATION_AT_DISCHARGE.to_owned(),
                    policy.information_at_discharge_due(*discharged_at),
                    Deadline::InformationAtDischarge,
                    rule(INFORMATION_AT_DISCHARGE),
                    event,
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

    let kind_json = serde_json::to_value(&event.kind).unwrap_or(Value::Null);
    for (clock, key) in started_clocks(policy, event) {
        plan.timers.push(timer(
            case,
            agreement_kind(policy, clock, key.as_ref()),
            policy.clock_due(clock, event.occurred_at),
            Deadline::Agreement,
            rule(&clock.id),
            event,
        ));
    }
    for clock in &policy.clocks {
        if clock.stops_on.contains(&event.kind.name()) {
            let key = clock.key.as_deref().and_then(|k| field(&kind_json, k));
            plan.cancel
                .push(agreement_kind(policy, clock, key.as_ref()));
        }
    }
    plan
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
