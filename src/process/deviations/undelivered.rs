//! Deviations for steps that did not reach a party that must have them: withheld by the
//! disclosure decision (to the sender, at once), or still failing to be delivered near their
//! deadline or dead-lettered (to the recipient, told to both principals and the sender).

use jiff::Timestamp;

use super::{contacts, deviation, local};
use crate::config::Directory;
use crate::domain::case::CoordinationCase;
use crate::domain::event::{DeviationCause, Event, EventKind, Evidence};
use crate::domain::party::Party;

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
    /// Held in a subscription an operator paused: no attempt is made until it is resumed.
    pub paused: bool,
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
    let description = if late.paused {
        format!(
            "The {} to {} has not been delivered: an operator paused subscription {}, which holds it.{due}",
            event.kind.name(),
            late.recipient,
            late.subscription,
        )
    } else {
        format!(
            "The {} to {} has not been delivered: it {state} after {} attempts through subscription {} (last: {}).{due}",
            event.kind.name(),
            late.recipient,
            late.attempts,
            late.subscription,
            late.last_error,
        )
    };
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
        } else if late.paused {
            "delivery_paused"
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
            | EventKind::ChildConcernFeedback { .. }
            | EventKind::LvmCertificateRequested { .. }
            | EventKind::LvmCertificateIssued { .. }
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
        EventKind::ChildConcernFeedback { reporter, .. } => vec![reporter.clone()],
        EventKind::LvmCertificateRequested { to, .. }
        | EventKind::LvmCertificateIssued { to, .. } => vec![to.clone()],
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
