//! Writing the steps that follow a person beyond discharge planning: the social services'
//! steps (a report of concern for a child and its feedback, a placement, its cost split) and
//! the deviations with the missed deadlines they rest on. A party the contract can leave out
//! because it is the sender (a reporter, who raised a deviation) is left out.

use super::*;

/// A report of concern for a child and its feedback, a placement, and its cost split. Whether
/// `kind` is one of them.
pub(super) fn social_step(
    w: &mut Writer,
    kind: &EventKind,
    codes: &CodeTables,
    sender: Option<&Party>,
) -> Result<bool, EncodeError> {
    match kind {
        EventKind::ChildConcernReport {
            reporter,
            to_municipality,
            legal_basis,
            report,
        } => {
            w.open("Orosanmalan", &[]);
            if sender != Some(reporter) {
                w.leaf("Anmalare", &party_attributes(reporter), "");
            }
            w.leaf("Kommun", &[("kommunkod", to_municipality.to_string())], "");
            w.text("Lagrum", legal_basis);
            w.text("Anmalan", report.expose());
            w.close("Orosanmalan");
        }
        EventKind::ChildConcernFeedback {
            reporter, outcome, ..
        } => {
            w.open("AterkopplingOrosanmalan", &[]);
            w.leaf("Anmalare", &party_attributes(reporter), "");
            w.text(
                "Utfall",
                &code(
                    &codes.child_concern_outcome,
                    "child_concern_outcome",
                    *outcome,
                )?,
            );
            w.close("AterkopplingOrosanmalan");
        }
        EventKind::Placement {
            placement_id,
            placement_type,
            emergency,
            motive,
            ..
        } => {
            w.open("Placering", &[("id", placement_id.clone())]);
            w.text("Placeringsform", placement_type);
            if *emergency {
                w.text("Akut", "true");
            }
            if let Some(motive) = motive {
                w.text("Motiv", motive.expose());
            }
            w.close("Placering");
        }
        EventKind::CostSplitAgreed {
            placement_id,
            commitment_reference,
            amount_sek,
        } => {
            let attributes = [("placering", placement_id.clone())];
            if commitment_reference.is_none() && amount_sek.is_none() {
                w.leaf("KostnadsfordelningOverenskommen", &attributes, "");
            } else {
                w.open("KostnadsfordelningOverenskommen", &attributes);
                if let Some(reference) = commitment_reference {
                    w.text("Ansvarsforbindelse", reference);
                }
                if let Some(amount) = amount_sek {
                    w.text("Belopp", &amount.to_string());
                }
                w.close("KostnadsfordelningOverenskommen");
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A deviation raised, acknowledged, answered or reminded of, and a missed deadline. Whether
/// `kind` is one of them.
pub(super) fn deviation_step(
    w: &mut Writer,
    kind: &EventKind,
    codes: &CodeTables,
    sender: Option<&Party>,
) -> Result<bool, EncodeError> {
    match kind {
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
            let mut attributes = vec![
                ("id", deviation_id.clone()),
                (
                    "orsak",
                    code(&codes.deviation_cause, "deviation_cause", *cause)?,
                ),
            ];
            if let Some(deadline) = deadline {
                attributes.push(("tidsfrist", code(&codes.deadline, "deadline", *deadline)?));
            }
            if let Some(event) = concerns {
                attributes.push(("avser", event.to_string()));
            }
            w.open("Avvikelse", &attributes);
            if let Some(reporter) = raised_by
                && sender != Some(reporter)
            {
                w.leaf("RapporteradAv", &party_attributes(reporter), "");
            }
            w.leaf("Adresserad", &party_attributes(addressed_to), "");
            w.text("Beskrivning", description.expose());
            for item in evidence {
                let attributes: Vec<(&str, String)> = item
                    .event
                    .iter()
                    .map(|id| ("handelse", id.to_string()))
                    .collect();
                w.open("Underlag", &attributes);
                w.text("Vad", &item.what);
                w.text("Tid", &local(item.at));
                w.close("Underlag");
            }
            for contact in notify {
                w.leaf("Avvikelsekontakt", &party_attributes(contact), "");
            }
            w.close("Avvikelse");
        }
        EventKind::DeviationAcknowledged { deviation_id, .. } => {
            w.leaf(
                "AvvikelseKvitterad",
                &[("avvikelse", deviation_id.clone())],
                "",
            );
        }
        EventKind::DeviationAnswered {
            deviation_id,
            answer,
            ..
        } => {
            w.open("AvvikelseBesvarad", &[("avvikelse", deviation_id.clone())]);
            w.text("Svar", answer.expose());
            w.close("AvvikelseBesvarad");
        }
        EventKind::DeviationReminder {
            deviation_id,
            reminder,
            addressed_to,
            escalation,
        } => {
            w.open(
                "AvvikelsePaminnelse",
                &[
                    ("avvikelse", deviation_id.clone()),
                    ("nummer", reminder.to_string()),
                ],
            );
            w.leaf("Adresserad", &party_attributes(addressed_to), "");
            if let Some(escalation) = escalation {
                w.open("Eskalering", &[("niva", escalation.level.clone())]);
                w.text("Namn", &escalation.name);
                for party in &escalation.to {
                    w.leaf("Till", &party_attributes(party), "");
                }
                w.close("Eskalering");
            }
            w.close("AvvikelsePaminnelse");
        }
        EventKind::DeadlineMissed {
            deadline,
            due_at,
            rule,
            party,
            started_by,
        } => {
            let mut attributes = vec![("tidsfrist", code(&codes.deadline, "deadline", *deadline)?)];
            if let Some(event) = started_by {
                attributes.push(("startadAv", event.to_string()));
            }
            w.open("TidsfristPasserad", &attributes);
            w.text("Forfallen", &local(*due_at));
            if let Some(rule) = rule {
                w.text("Regel", rule);
            }
            if let Some(party) = party {
                w.leaf("Part", &party_attributes(party), "");
            }
            w.close("TidsfristPasserad");
        }
        _ => return Ok(false),
    }
    Ok(true)
}
