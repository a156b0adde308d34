//! The steps that follow a person beyond discharge planning, read into their events: the
//! social services' steps (a report of concern for a child and its feedback, a placement, the
//! split of its cost) and the deviations (reported or raised by brygga, acknowledged,
//! answered, reminded) with the missed deadlines they rest on.

use super::*;
use crate::domain::event::{DeviationCause, Escalation, Evidence};

/// A party in element `name` of `step`, or the sender when the element is absent (the
/// contract names a party only where it differs from the sender).
fn party_or_sender(step: &Node<'_>, name: &str, sender: Option<&Party>) -> Result<Party> {
    match step.child(name) {
        Some(node) => node.party(),
        None => sender.cloned().ok_or_else(|| CosmicLinkError::Missing {
            path: step.path(),
            position: step.el.position,
            what: format!("required element <{name}>"),
        }),
    }
}

/// A report of concern for a child and social services' feedback on it, a placement, and the
/// principals' agreement on its cost.
pub(super) fn social_step(h: &StepHead<'_>) -> Result<Option<(Timestamp, EventKind)>> {
    let step = h.step;
    let sent_at = h.sent_at;
    let codes = h.codes;
    let Some(sender) = h.sender else {
        return Ok(None);
    };
    let municipality_only = |what: &str| {
        if matches!(sender, Party::Municipality { .. }) {
            Ok(())
        } else {
            Err(h.sender_node.invalid(format!(
                "{what} is sent by the municipality, with its kommunkod"
            )))
        }
    };
    Ok(Some(match step.el.name {
        "Orosanmalan" => {
            let municipality = step.required("Kommun")?;
            (
                sent_at,
                EventKind::ChildConcernReport {
                    reporter: party_or_sender(&step, "Anmalare", Some(sender))?,
                    to_municipality: municipality
                        .kommunkod(municipality.required_attribute("kommunkod")?)?,
                    legal_basis: step.required_text("Lagrum")?.to_owned(),
                    report: Sensitive::new(step.required_text("Anmalan")?.to_owned()),
                },
            )
        }
        "AterkopplingOrosanmalan" => {
            municipality_only("feedback on a report of concern for a child")?;
            (
                sent_at,
                EventKind::ChildConcernFeedback {
                    by: sender.clone(),
                    reporter: step.required("Anmalare")?.party()?,
                    outcome: step
                        .required("Utfall")?
                        .code(&codes.child_concern_outcome)?,
                },
            )
        }
        "Placering" => (
            sent_at,
            EventKind::Placement {
                placement_id: step.required_attribute("id")?.to_owned(),
                placement_type: step.required_text("Placeringsform")?.to_owned(),
                emergency: match step.child("Akut") {
                    Some(node) => node.boolean()?,
                    None => false,
                },
                by: sender.clone(),
                motive: step.optional_sensitive("Motiv")?,
            },
        ),
        "KostnadsfordelningOverenskommen" => {
            let amount_sek = match step.child("Belopp") {
                Some(node) => {
                    let text = node.text()?;
                    Some(text.parse::<u64>().map_err(|_| {
                        node.invalid(format!("{text:?} is not an amount in whole kronor"))
                    })?)
                }
                None => None,
            };
            (
                sent_at,
                EventKind::CostSplitAgreed {
                    placement_id: step.required_attribute("placering")?.to_owned(),
                    commitment_reference: step
                        .optional_text("Ansvarsforbindelse")?
                        .map(str::to_owned),
                    amount_sek,
                },
            )
        }
        _ => return Ok(None),
    }))
}

/// A deviation raised (by a principal, or by brygga with its evidence), acknowledged,
/// answered or reminded of, and a missed deadline.
pub(super) fn deviation_step(h: &StepHead<'_>) -> Result<Option<(Timestamp, EventKind)>> {
    let step = h.step;
    let sent_at = h.sent_at;
    let codes = h.codes;
    let sender = h.sender;
    let unit = || {
        sender.cloned().ok_or_else(|| {
            h.sender_node
                .invalid("this step is sent by a unit with an hsaId or kommunkod")
        })
    };
    Ok(Some(match step.el.name {
        "Avvikelse" => (
            sent_at,
            EventKind::DeviationRaised {
                deviation_id: step.required_attribute("id")?.to_owned(),
                raised_by: match step.child("RapporteradAv") {
                    Some(node) => Some(node.party()?),
                    None => sender.cloned(),
                },
                addressed_to: step.required("Adresserad")?.party()?,
                description: Sensitive::new(step.required_text("Beskrivning")?.to_owned()),
                cause: step
                    .optional_code_attribute("orsak", &codes.deviation_cause)?
                    .unwrap_or(DeviationCause::Reported),
                deadline: step.optional_code_attribute("tidsfrist", &codes.deadline)?,
                concerns: step.event_id_attribute("avser")?,
                evidence: step
                    .children("Underlag")
                    .iter()
                    .map(|n| {
                        Ok(Evidence {
                            what: n.required_text("Vad")?.to_owned(),
                            at: n.required("Tid")?.timestamp()?,
                            event: n.event_id_attribute("handelse")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
                notify: step
                    .children("Avvikelsekontakt")
                    .iter()
                    .map(Node::party)
                    .collect::<Result<Vec<_>>>()?,
            },
        ),
        "AvvikelseKvitterad" => (
            sent_at,
            EventKind::DeviationAcknowledged {
                deviation_id: step.required_attribute("avvikelse")?.to_owned(),
                by: unit()?,
            },
        ),
        "AvvikelseBesvarad" => (
            sent_at,
            EventKind::DeviationAnswered {
                deviation_id: step.required_attribute("avvikelse")?.to_owned(),
                answered_by: unit()?,
                answer: Sensitive::new(step.required_text("Svar")?.to_owned()),
            },
        ),
        "AvvikelsePaminnelse" => {
            let number = step.required_attribute("nummer")?;
            let reminder = number
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    step.invalid(format!("attribute nummer: {number:?} is not 1, 2, 3, …"))
                })?;
            let escalation = match step.child("Eskalering") {
                Some(node) => Some(Escalation {
                    level: node.required_attribute("niva")?.to_owned(),
                    name: node.required_text("Namn")?.to_owned(),
                    to: node
                        .children("Till")
                        .iter()
                        .map(Node::party)
                        .collect::<Result<Vec<_>>>()?,
                }),
                None => None,
            };
            (
                sent_at,
                EventKind::DeviationReminder {
                    deviation_id: step.required_attribute("avvikelse")?.to_owned(),
                    reminder,
                    addressed_to: step.required("Adresserad")?.party()?,
                    escalation,
                },
            )
        }
        "TidsfristPasserad" => (
            sent_at,
            EventKind::DeadlineMissed {
                deadline: step.code_attribute("tidsfrist", &codes.deadline)?,
                due_at: step.required("Forfallen")?.timestamp()?,
                rule: step.optional_text("Regel")?.map(str::to_owned),
                party: step.child("Part").map(|n| n.party()).transpose()?,
                started_by: step.event_id_attribute("startadAv")?,
            },
        ),
        _ => return Ok(None),
    }))
}
