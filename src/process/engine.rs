//! One step of the process: an event applied to its case together with everything it causes
//! under the case's policy — deadlines it shows missed, the deviations those raise, the timers
//! to start and stop. The pipeline (for received messages) and the scheduler (for fired
//! timers) both go through here, so a deviation is raised the same way whoever noticed it.
//! Pure: no IO.

use std::collections::VecDeque;

use jiff::Timestamp;

use super::clocks;
use super::deviations;
use super::policy::Policy;
use crate::changes::TimerEntry;
use crate::config::Directory;
use crate::domain::case::{CoordinationCase, TransitionError};
use crate::domain::event::{Event, EventId, EventKind, SipAnswer, attending_functions};
use crate::domain::party::Party;

/// What the step needs besides the case: the case's policy and the organisation directory.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// Chooses the case's policy, seeing the case with the event applied (the event may be
    /// what names the municipality).
    pub policy: &'a (dyn Fn(&CoordinationCase) -> &'a Policy + Sync),
    pub directory: &'a Directory,
}

/// What one step did to the case.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Step {
    /// The sequence number of the event itself.
    pub sequence: u64,
    /// Events the step added after it (missed deadlines, deviations), in order.
    pub follow_on: Vec<EventId>,
    pub timers: Vec<TimerEntry>,
    pub cancel: Vec<String>,
    /// The id of the policy the step was made under.
    pub policy: Option<String>,
}

/// Applies `event` (sent at `sent_at`) to `case` with everything it causes. Fails, changing
/// nothing, when the event itself is not valid now.
pub fn advance(
    case: &mut CoordinationCase,
    event: Event,
    sent_at: Timestamp,
    context: Context<'_>,
) -> Result<Step, TransitionError> {
    let mut step = Step::default();
    let mut queue = VecDeque::from([(event, sent_at)]);
    let mut first = true;
    let mut policy = None;
    while let Some((event, sent_at)) = queue.pop_front() {
        let before = case.clone();
        match case.apply(event.clone()) {
            Ok(sequence) if first => step.sequence = sequence,
            Ok(_) => step.follow_on.push(event.id),
            Err(error) if first => return Err(error),
            Err(error) => {
                // A consequence that no longer fits the case (it was recorded already):
                // nothing to add.
                tracing::debug!(case = %case.id(), %error, "a follow-on event was not added");
                continue;
            }
        }
        first = false;
        let policy = *policy.get_or_insert_with(|| (context.policy)(case));
        if step.policy.is_none() {
            step.policy = Some(policy.id.clone());
        }
        let plan = clocks::plan(&before, &event, sent_at, policy);
        step.timers.extend(plan.timers);
        step.cancel.extend(plan.cancel);
        step.cancel
            .extend(region_confirmations(&before, &event, context.directory));
        for missed in plan.missed {
            let at = missed.occurred_at;
            queue.push_back((missed, at));
        }
        for deviation in deviations::raised_by(case, &event, policy, context.directory) {
            let at = deviation.occurred_at;
            queue.push_back((deviation, at));
        }
    }
    Ok(step)
}

/// A region unit that confirms who attends answers for its region where the invitation
/// invited the region as a whole (a municipality's invitation often cannot name the unit).
fn region_confirmations(
    case: &CoordinationCase,
    event: &Event,
    directory: &Directory,
) -> Vec<String> {
    let EventKind::SipResponse {
        invitation_id,
        responder: Party::RegionUnit { hsa_id: unit },
        answer: SipAnswer::Accepted,
        attending_function,
        participants,
    } = &event.kind
    else {
        return Vec::new();
    };
    if attending_functions(attending_function, participants).is_empty() {
        return Vec::new();
    }
    let Some(region) = directory.region_of(unit) else {
        return Vec::new();
    };
    let invited_region = Party::RegionUnit {
        hsa_id: region.hsa_id.clone(),
    };
    let invited = case.events().iter().any(|e| match &e.kind {
        EventKind::SipInvitation {
            invitation_id: id,
            invited,
            ..
        } => id == invitation_id && invited.iter().any(|f| f.party == invited_region),
        _ => false,
    });
    if invited {
        vec![clocks::attendance_kind(invitation_id, &invited_region)]
    } else {
        Vec::new()
    }
}
