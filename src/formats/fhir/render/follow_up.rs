//! The steps that follow a person beyond discharge planning as Task content: the held SIP
//! meeting, the social services' steps (a report of concern for a child and the feedback on
//! it, a placement, its cost split) and the deviations with the missed deadlines they rest
//! on.
//!
//! Every one of them is a Task, as every other step is: a deviation and a reminder are work
//! for their addressed party to do by a deadline (`owner`, `status` requested, answered by a
//! deviation-answered Task), which is what Task is for; `DetectedIssue` is about clinical
//! issues of a patient's care and has no owner nor workflow, and `CommunicationRequest` asks
//! for a message, not for an answer owed under an agreement. See `mappings/fhir/README.md`.

use super::*;

/// On an `attendee` input: the function the attendee came in, and their name.
pub(in crate::formats::fhir) const EXT_ATTENDEE_FUNCTION: &str =
    "urn:brygga:fhir:StructureDefinition:attendee-function";
pub(in crate::formats::fhir) const EXT_ATTENDEE_NAME: &str =
    "urn:brygga:fhir:StructureDefinition:attendee-name";
/// On a `participant-answer` input (its value is the answer): why the participant declines,
/// and the time they propose instead.
pub(in crate::formats::fhir) const EXT_ANSWER_REASON: &str =
    "urn:brygga:fhir:StructureDefinition:answer-reason";
pub(in crate::formats::fhir) const EXT_PROPOSED_AT: &str =
    "urn:brygga:fhir:StructureDefinition:proposed-at";

/// One participant's answer to an invitation: a `participant-answer` input whose value is the
/// answer, with the participant's function and name, and the reason and proposed time.
pub(super) fn participant_answer<'a>(
    step: &mut TaskStep<'a>,
    participant: &'a crate::domain::event::ParticipantAnswer,
) {
    let (code, reason, proposed_at) = match &participant.answer {
        SipAnswer::Accepted => ("accepted", None, None),
        SipAnswer::Declined { reason } => ("declined", Some(reason), None),
        SipAnswer::ProposedOtherTime {
            proposed_at,
            reason,
        } => ("proposed-other-time", reason.as_ref(), Some(proposed_at)),
    };
    let mut input = step.inputs.input(
        "participant-answer",
        Typed::Coding(Coding {
            system: ANSWER,
            code,
            display: None,
        }),
    );
    input.extension.push(Extension {
        url: EXT_ATTENDEE_FUNCTION,
        value: Typed::String(&participant.function),
    });
    if let Some(name) = &participant.name {
        input.extension.push(Extension {
            url: EXT_ATTENDEE_NAME,
            value: Typed::String(name.expose()),
        });
    }
    if let Some(reason) = reason {
        input.extension.push(Extension {
            url: EXT_ANSWER_REASON,
            value: Typed::String(reason.expose()),
        });
    }
    if let Some(at) = proposed_at {
        input.extension.push(Extension {
            url: EXT_PROPOSED_AT,
            value: Typed::DateTime(time(at)),
        });
    }
    step.inputs.list.push(input);
}

/// On an `evidence` input (its value is when): what happened, and the event that shows it.
pub(in crate::formats::fhir) const EXT_EVIDENCE_WHAT: &str =
    "urn:brygga:fhir:StructureDefinition:evidence-what";
pub(in crate::formats::fhir) const EXT_EVIDENCE_EVENT: &str =
    "urn:brygga:fhir:StructureDefinition:evidence-event";

/// The steps of this group, as Task code, inputs, owners and status; `None` for another step.
pub(super) fn follow_up_step<'a>(
    step: &mut TaskStep<'a>,
    message: &'a CanonicalMessage,
) -> Option<&'static str> {
    social_step(step, message).or_else(|| deviation_step(step, message))
}

fn time(t: &jiff::Timestamp) -> String {
    t.to_string()
}

/// The held SIP meeting, a report of concern for a child and its feedback, the certificate
/// social services ask for under 9 § LVM, a placement, and its cost split.
fn social_step<'a>(step: &mut TaskStep<'a>, message: &'a CanonicalMessage) -> Option<&'static str> {
    match &message.event.kind {
        EventKind::SipMeetingHeld {
            invitation_id,
            held_at,
            attendees,
            person_participated,
            next_of_kin_participated,
        } => {
            step.inputs
                .add("invitation-id", Typed::String(invitation_id));
            step.inputs.add("held-at", Typed::DateTime(time(held_at)));
            for attendee in attendees {
                let mut input = step.inputs.input(
                    "attendee",
                    Typed::Reference(party_reference(&attendee.party)),
                );
                input.extension.push(Extension {
                    url: EXT_ATTENDEE_FUNCTION,
                    value: Typed::String(&attendee.function),
                });
                if let Some(name) = &attendee.name {
                    input.extension.push(Extension {
                        url: EXT_ATTENDEE_NAME,
                        value: Typed::String(name.expose()),
                    });
                }
                step.inputs.list.push(input);
            }
            step.inputs
                .add("person-participated", Typed::Boolean(*person_participated));
            step.inputs.add(
                "next-of-kin-participated",
                Typed::Boolean(*next_of_kin_participated),
            );
            Some("sip-meeting-held")
        }
        EventKind::ChildConcernReport {
            reporter,
            to_municipality,
            legal_basis,
            report,
        } => {
            step.inputs
                .add("reporter", Typed::Reference(party_reference(reporter)));
            step.inputs.add("legal-basis", Typed::String(legal_basis));
            step.inputs.add("report", Typed::String(report.expose()));
            step.owners = vec![(Some(municipality_reference(*to_municipality)), None)];
            step.status = "requested";
            Some("child-concern-report")
        }
        EventKind::ChildConcernFeedback {
            reporter, outcome, ..
        } => {
            step.inputs.add("outcome", Typed::Code(outcome.as_str()));
            step.owners = vec![(Some(party_reference(reporter)), None)];
            Some("child-concern-feedback")
        }
        EventKind::LvmCertificateRequested {
            request_id,
            to,
            reason,
            ..
        } => {
            step.inputs.add("request-id", Typed::String(request_id));
            if let Some(reason) = reason {
                step.inputs.add("reason", Typed::String(reason.expose()));
            }
            step.owners = vec![(Some(party_reference(to)), None)];
            step.status = "requested";
            Some("lvm-certificate-requested")
        }
        EventKind::LvmCertificateIssued {
            request_id,
            to,
            physician,
            examined_at,
            ..
        } => {
            step.inputs.add("request-id", Typed::String(request_id));
            if let Some(physician) = physician {
                step.inputs
                    .add("physician", Typed::Reference(staff_reference(physician)));
            }
            if let Some(at) = examined_at {
                step.inputs.add("examined-at", Typed::DateTime(time(at)));
            }
            step.owners = vec![(Some(party_reference(to)), None)];
            Some("lvm-certificate-issued")
        }
        EventKind::Placement {
            placement_id,
            placement_type,
            emergency,
            motive,
            ..
        } => {
            step.inputs.add("placement-id", Typed::String(placement_id));
            step.inputs
                .add("placement-type", Typed::String(placement_type));
            step.inputs.add("emergency", Typed::Boolean(*emergency));
            if let Some(motive) = motive {
                step.inputs.add("motive", Typed::String(motive.expose()));
            }
            Some("placement")
        }
        EventKind::CostSplitAgreed {
            placement_id,
            commitment_reference,
            amount_sek,
        } => {
            step.inputs.add("placement-id", Typed::String(placement_id));
            if let Some(reference) = commitment_reference {
                step.inputs
                    .add("commitment-reference", Typed::String(reference));
            }
            if let Some(amount) = amount_sek {
                step.inputs.add("amount", Typed::Sek(*amount));
            }
            Some("cost-split-agreed")
        }
        _ => None,
    }
}

/// A deviation raised, acknowledged, answered or reminded of, and a missed deadline.
fn deviation_step<'a>(
    step: &mut TaskStep<'a>,
    message: &'a CanonicalMessage,
) -> Option<&'static str> {
    match &message.event.kind {
        EventKind::DeviationRaised {
            deviation_id,
            raised_by,
            addressed_to,
            description,
            cause,
            deadline,
            concerns,
            evidence,
            notify,
        } => {
            step.inputs.add("deviation-id", Typed::String(deviation_id));
            step.inputs.add("cause", Typed::Code(cause.as_str()));
            if let Some(deadline) = deadline {
                step.inputs.add("deadline", Typed::Code(deadline.as_str()));
            }
            if let Some(reporter) = raised_by {
                step.inputs
                    .add("raised-by", Typed::Reference(party_reference(reporter)));
            }
            step.inputs
                .add("description", Typed::String(description.expose()));
            if let Some(event) = concerns {
                step.inputs
                    .add("concerns", Typed::Identifier(event_identifier(event)));
            }
            for item in evidence {
                let mut input = step
                    .inputs
                    .input("evidence", Typed::DateTime(time(&item.at)));
                input.extension.push(Extension {
                    url: EXT_EVIDENCE_WHAT,
                    value: Typed::String(&item.what),
                });
                if let Some(event) = &item.event {
                    input.extension.push(Extension {
                        url: EXT_EVIDENCE_EVENT,
                        value: Typed::Identifier(event_identifier(event)),
                    });
                }
                step.inputs.list.push(input);
            }
            for contact in notify {
                step.inputs
                    .add("notify", Typed::Reference(party_reference(contact)));
            }
            step.owners = vec![(Some(party_reference(addressed_to)), None)];
            step.status = "requested";
            Some("deviation-raised")
        }
        EventKind::DeviationAcknowledged { deviation_id, .. } => {
            step.inputs.add("deviation-id", Typed::String(deviation_id));
            Some("deviation-acknowledged")
        }
        EventKind::DeviationAnswered {
            deviation_id,
            answer,
            ..
        } => {
            step.inputs.add("deviation-id", Typed::String(deviation_id));
            step.inputs
                .add("deviation-answer", Typed::String(answer.expose()));
            Some("deviation-answered")
        }
        EventKind::DeviationReminder {
            deviation_id,
            reminder,
            addressed_to,
            escalation,
        } => {
            step.inputs.add("deviation-id", Typed::String(deviation_id));
            step.inputs
                .add("reminder", Typed::Integer(i64::from(*reminder)));
            if let Some(escalation) = escalation {
                step.inputs
                    .add("escalation-level", Typed::String(&escalation.level));
                step.inputs
                    .add("escalation-name", Typed::String(&escalation.name));
                for party in &escalation.to {
                    step.inputs
                        .add("escalation-to", Typed::Reference(party_reference(party)));
                }
            }
            step.owners = vec![(Some(party_reference(addressed_to)), None)];
            step.status = "requested";
            Some("deviation-reminder")
        }
        EventKind::DeadlineMissed {
            deadline,
            due_at,
            rule,
            party,
            started_by,
        } => {
            step.inputs.add("deadline", Typed::Code(deadline.as_str()));
            step.inputs.add("due-at", Typed::DateTime(time(due_at)));
            if let Some(rule) = rule {
                step.inputs.add("rule", Typed::String(rule));
            }
            if let Some(party) = party {
                step.inputs
                    .add("party", Typed::Reference(party_reference(party)));
            }
            if let Some(event) = started_by {
                step.inputs
                    .add("started-by", Typed::Identifier(event_identifier(event)));
            }
            Some("deadline-missed")
        }
        _ => None,
    }
}

/// An event of the case, by its id (`urn:brygga:event-id`).
fn event_identifier(event: &crate::domain::event::EventId) -> Identifier<'static> {
    Identifier {
        system: Cow::Borrowed(EVENT_ID),
        value: Cow::Owned(event.to_string()),
    }
}
