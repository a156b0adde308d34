//! Reading the Tasks of the steps that follow a person beyond discharge planning: the held
//! SIP meeting, the social services' steps (a report of concern for a child and its feedback,
//! a placement, its cost split) and the deviations with the missed deadlines they rest on.
//! The mapping is `render::follow_up`'s, read back.

use super::task::TaskParts;
use super::*;
use crate::domain::event::{
    Attendee, ChildConcernOutcome, Deadline, DeviationCause, Escalation, EventId, Evidence,
    ParticipantAnswer,
};
use crate::formats::fhir::render::{
    EVENT_ID, EXT_ANSWER_REASON, EXT_ATTENDEE_FUNCTION, EXT_ATTENDEE_NAME, EXT_EVIDENCE_EVENT,
    EXT_EVIDENCE_WHAT, EXT_PROPOSED_AT,
};

/// The steps brygga writes itself, whose Tasks have no requester.
pub(super) const GATEWAY_STEP_CODES: &[&str] =
    &["deviation-raised", "deviation-reminder", "deadline-missed"];

/// A code of one of `values` (each with its name), or an error naming them.
pub(super) fn code_of<T: Copy>(
    node: Node<'_>,
    values: &[T],
    name: impl Fn(&T) -> &'static str,
) -> Result<T> {
    let code = node.str()?;
    values
        .iter()
        .find(|v| name(v) == code)
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = values.iter().map(&name).collect();
            node.invalid(format!(
                "unknown code {code:?}; expected one of {}",
                known.join(", ")
            ))
        })
}

/// An event id in an Identifier of system `urn:brygga:event-id`.
fn event_id_of(identifier: Node<'_>) -> Result<EventId> {
    let system = identifier.required_str("system", "the identifier's system")?;
    if system != EVENT_ID {
        return Err(identifier.invalid(format!(
            "an event is identified in system {EVENT_ID}, not {system:?}"
        )));
    }
    let value = identifier.required("value", "the event id")?;
    let text = value.str()?;
    uuid::Uuid::parse_str(text)
        .map(EventId)
        .map_err(|_| value.invalid(format!("{text:?} is not an event id (a UUID)")))
}

fn required_string(t: &TaskParts<'_>, code: &str) -> Result<String> {
    Ok(t.inputs
        .required(t.task, code, "valueString")?
        .str()?
        .to_owned())
}

fn flag(t: &TaskParts<'_>, code: &str) -> Result<bool> {
    Ok(t.inputs
        .get(code, "valueBoolean")?
        .map(|n| n.bool())
        .transpose()?
        .unwrap_or(false))
}

impl<'a> Reader<'a> {
    /// The step of a Task of this group; `None` for a step of no group.
    pub(super) fn follow_up_step(&self, t: &TaskParts<'a>) -> Result<Option<EventKind>> {
        Ok(Some(match t.step {
            "sip-meeting-held" => self.sip_meeting_held(t)?,
            "child-concern-report" => EventKind::ChildConcernReport {
                reporter: match t.inputs.get("reporter", "valueReference")? {
                    Some(reference) => self.party(reference)?,
                    None => t.sender()?,
                },
                to_municipality: t.owned_municipality("the municipality the report is made to")?,
                legal_basis: required_string(t, "legal-basis")?,
                report: Sensitive::new(required_string(t, "report")?),
            },
            "child-concern-feedback" => {
                let by = t.sender()?;
                if !matches!(by, Party::Municipality { .. }) {
                    return Err(t.requester().invalid(
                        "feedback on a report of concern for a child is sent by the municipality",
                    ));
                }
                EventKind::ChildConcernFeedback {
                    by,
                    reporter: t.owner("the reporter the feedback is for")?,
                    outcome: code_of(
                        t.inputs.required(t.task, "outcome", "valueCode")?,
                        ChildConcernOutcome::ALL,
                        ChildConcernOutcome::as_str,
                    )?,
                }
            }
            "lvm-certificate-requested" => {
                let by = t.sender()?;
                if !matches!(by, Party::Municipality { .. }) {
                    return Err(t
                        .requester()
                        .invalid("a certificate under 9 § LVM is requested by the municipality"));
                }
                EventKind::LvmCertificateRequested {
                    request_id: required_string(t, "request-id")?,
                    by,
                    to: t.owner("the unit asked to examine the person")?,
                    reason: t.inputs.text("reason")?.map(Sensitive::new),
                }
            }
            "lvm-certificate-issued" => EventKind::LvmCertificateIssued {
                request_id: required_string(t, "request-id")?,
                by: t.sender()?,
                to: t.owner("the municipality that asked for the certificate")?,
                physician: t
                    .inputs
                    .get("physician", "valueReference")?
                    .map(|r| self.staff(r))
                    .transpose()?,
                examined_at: t.inputs.timestamp("examined-at")?,
            },
            "placement" => EventKind::Placement {
                placement_id: required_string(t, "placement-id")?,
                placement_type: required_string(t, "placement-type")?,
                emergency: flag(t, "emergency")?,
                by: t.sender()?,
                motive: t.inputs.text("motive")?.map(Sensitive::new),
            },
            "cost-split-agreed" => EventKind::CostSplitAgreed {
                placement_id: required_string(t, "placement-id")?,
                commitment_reference: t.inputs.text("commitment-reference")?,
                amount_sek: t.inputs.get("amount", "valueMoney")?.map(sek).transpose()?,
            },
            "deviation-raised" => self.deviation_raised(t)?,
            "deviation-acknowledged" => EventKind::DeviationAcknowledged {
                deviation_id: required_string(t, "deviation-id")?,
                by: t.sender()?,
            },
            "deviation-answered" => EventKind::DeviationAnswered {
                deviation_id: required_string(t, "deviation-id")?,
                answered_by: t.sender()?,
                answer: Sensitive::new(required_string(t, "deviation-answer")?),
            },
            "deviation-reminder" => self.deviation_reminder(t)?,
            "deadline-missed" => EventKind::DeadlineMissed {
                deadline: code_of(
                    t.inputs.required(t.task, "deadline", "valueCode")?,
                    Deadline::ALL,
                    Deadline::as_str,
                )?,
                due_at: t
                    .inputs
                    .required(t.task, "due-at", "valueDateTime")?
                    .timestamp()?,
                rule: t.inputs.text("rule")?,
                party: t
                    .inputs
                    .get("party", "valueReference")?
                    .map(|r| self.party(r))
                    .transpose()?,
                started_by: t
                    .inputs
                    .get("started-by", "valueIdentifier")?
                    .map(event_id_of)
                    .transpose()?,
            },
            _ => return Ok(None),
        }))
    }

    /// The `participant-answer` inputs of a SIP answer: each participant's answer.
    pub(super) fn participant_answers(&self, t: &TaskParts<'a>) -> Result<Vec<ParticipantAnswer>> {
        let mut answers = Vec::new();
        for (item, coding) in t.inputs.all("participant-answer", "valueCoding")? {
            let text = |url: &str, what: &str| -> Result<Option<String>> {
                extension(item, url)?
                    .map(|e| e.required_str("valueString", what).map(str::to_owned))
                    .transpose()
            };
            let function = text(EXT_ATTENDEE_FUNCTION, "the participant's function")?
                .ok_or_else(|| {
                    item.invalid(format!(
                        "a participant's answer needs the extension {EXT_ATTENDEE_FUNCTION} (valueString)"
                    ))
                })?;
            let name = text(EXT_ATTENDEE_NAME, "the participant's name")?.map(Sensitive::new);
            let reason =
                text(EXT_ANSWER_REASON, "why the participant declines")?.map(Sensitive::new);
            let proposed_at = extension(item, EXT_PROPOSED_AT)?
                .map(|e| {
                    e.get("valueDateTime")
                        .ok_or_else(|| e.invalid("the proposed time needs a valueDateTime"))?
                        .timestamp()
                })
                .transpose()?;
            let answer = match required_code(coding, ANSWER, "the participant's answer")? {
                "accepted" => SipAnswer::Accepted,
                "declined" => SipAnswer::Declined {
                    reason: reason.ok_or_else(|| {
                        item.invalid(format!(
                            "a participant who declines needs the extension {EXT_ANSWER_REASON}: why"
                        ))
                    })?,
                },
                "proposed-other-time" => SipAnswer::ProposedOtherTime {
                    proposed_at: proposed_at.ok_or_else(|| {
                        item.invalid(format!(
                            "a participant who proposes another time needs the extension {EXT_PROPOSED_AT}"
                        ))
                    })?,
                    reason,
                },
                other => {
                    return Err(coding.invalid(format!(
                        "unknown answer {other:?}; expected accepted, declined or proposed-other-time"
                    )));
                }
            };
            answers.push(ParticipantAnswer {
                function,
                name,
                answer,
            });
        }
        Ok(answers)
    }

    fn sip_meeting_held(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let mut attendees = Vec::new();
        for (item, reference) in t.inputs.all("attendee", "valueReference")? {
            let function = extension(item, EXT_ATTENDEE_FUNCTION)?.ok_or_else(|| {
                item.invalid(format!(
                    "an attendee needs the extension {EXT_ATTENDEE_FUNCTION} (valueString)"
                ))
            })?;
            attendees.push(Attendee {
                party: self.party(reference)?,
                function: function
                    .required_str("valueString", "the attendee's function")?
                    .to_owned(),
                name: extension(item, EXT_ATTENDEE_NAME)?
                    .map(|e| e.required_str("valueString", "the attendee's name"))
                    .transpose()?
                    .map(|n| Sensitive::new(n.to_owned())),
            });
        }
        Ok(EventKind::SipMeetingHeld {
            invitation_id: required_string(t, "invitation-id")?,
            held_at: t
                .inputs
                .required(t.task, "held-at", "valueDateTime")?
                .timestamp()?,
            attendees,
            person_participated: flag(t, "person-participated")?,
            next_of_kin_participated: flag(t, "next-of-kin-participated")?,
        })
    }

    fn deviation_raised(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let inputs = &t.inputs;
        let mut evidence = Vec::new();
        for (item, at) in inputs.all("evidence", "valueDateTime")? {
            let what = extension(item, EXT_EVIDENCE_WHAT)?.ok_or_else(|| {
                item.invalid(format!(
                    "evidence needs the extension {EXT_EVIDENCE_WHAT} (valueString)"
                ))
            })?;
            evidence.push(Evidence {
                what: what
                    .required_str("valueString", "what happened")?
                    .to_owned(),
                at: at.timestamp()?,
                event: extension(item, EXT_EVIDENCE_EVENT)?
                    .map(|e| {
                        e.required("valueIdentifier", "the event")
                            .and_then(event_id_of)
                    })
                    .transpose()?,
            });
        }
        let notify = inputs
            .all("notify", "valueReference")?
            .into_iter()
            .map(|(_, reference)| self.party(reference))
            .collect::<Result<Vec<_>>>()?;
        Ok(EventKind::DeviationRaised {
            deviation_id: required_string(t, "deviation-id")?,
            raised_by: match inputs.get("raised-by", "valueReference")? {
                Some(reference) => Some(self.party(reference)?),
                None => t.sender.clone(),
            },
            addressed_to: t.owner("the party that must answer the deviation")?,
            description: Sensitive::new(required_string(t, "description")?),
            cause: match inputs.get("cause", "valueCode")? {
                Some(node) => code_of(node, DeviationCause::ALL, DeviationCause::as_str)?,
                None => DeviationCause::Reported,
            },
            deadline: inputs
                .get("deadline", "valueCode")?
                .map(|node| code_of(node, Deadline::ALL, Deadline::as_str))
                .transpose()?,
            concerns: inputs
                .get("concerns", "valueIdentifier")?
                .map(event_id_of)
                .transpose()?,
            evidence,
            notify,
        })
    }

    fn deviation_reminder(&self, t: &TaskParts<'a>) -> Result<EventKind> {
        let inputs = &t.inputs;
        let number = inputs.required(t.task, "reminder", "valueInteger")?;
        let reminder = number
            .v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| number.invalid("a reminder is numbered 1, 2, 3, …"))?;
        let escalation = match inputs.text("escalation-level")? {
            Some(level) => Some(Escalation {
                level,
                name: required_string(t, "escalation-name")?,
                to: inputs
                    .all("escalation-to", "valueReference")?
                    .into_iter()
                    .map(|(_, reference)| self.party(reference))
                    .collect::<Result<Vec<_>>>()?,
            }),
            None => None,
        };
        Ok(EventKind::DeviationReminder {
            deviation_id: required_string(t, "deviation-id")?,
            reminder,
            addressed_to: t.owner("the party reminded")?,
            escalation,
        })
    }
}

/// An amount in whole kronor from a `Money` (currency SEK).
fn sek(money: Node<'_>) -> Result<u64> {
    money.touch("currency");
    if let Some(currency) = money.v.get("currency").and_then(Value::as_str)
        && currency != "SEK"
    {
        return Err(money.invalid(format!(
            "the amount is in SEK (whole kronor), not {currency:?}"
        )));
    }
    let value = money.required("value", "the amount")?;
    value
        .v
        .as_u64()
        .ok_or_else(|| value.invalid("the amount is a whole number of kronor, 0 or more"))
}
