//! The deviations of a period de-identified, for the county forums that follow individual
//! disputes up: no person, no case reference, no free text — a stable pseudonym per case and
//! per deviation, the cause, the unit addressed, when it was raised and answered (dates only),
//! and how far up the escalation ladder it went. Pure: the pseudonyms come from the caller's
//! keyed function.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::{Unit, party_unit};
use crate::domain::case::CoordinationCase;
use crate::domain::event::{Deadline, DeviationCause, EventKind};
use crate::process::calendar::{local_date, start_of};

/// One deviation, de-identified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForumRow {
    /// The case's pseudonym: the same for every deviation of the case, and in every export
    /// made with the same key.
    pub case: String,
    /// The deviation's pseudonym.
    pub deviation: String,
    pub raised_on: Date,
    pub cause: DeviationCause,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
    /// The principal and unit (a ward's HSA-id, a municipality's code) it is addressed to.
    #[serde(flatten)]
    pub addressed_to: Unit,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_on: Option<Date>,
    /// Days from raised to answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_to_answer: Option<f64>,
    pub reminders: u32,
    /// The highest level of the escalation ladder it reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalated_to: Option<String>,
}

/// The deviations raised in `[from, to)` (local dates) in `cases`, oldest first, each named by
/// `pseudonym` (of a case id or a deviation's case id and deviation id).
pub fn forum_rows(
    cases: &[CoordinationCase],
    from: Date,
    to: Date,
    pseudonym: &dyn Fn(&str) -> String,
) -> Vec<ForumRow> {
    let (start, end) = (start_of(from), start_of(to));
    let mut rows = Vec::new();
    for case in cases {
        let case_key = pseudonym(&case.id().to_string());
        for event in case.events() {
            let EventKind::DeviationRaised {
                deviation_id,
                addressed_to,
                cause,
                deadline,
                ..
            } = &event.kind
            else {
                continue;
            };
            if event.occurred_at < start || event.occurred_at >= end {
                continue;
            }
            let state = case.state().deviations.get(deviation_id);
            let answered_at: Option<Timestamp> = state.and_then(|s| s.answered_at);
            let escalated_to = case
                .events()
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::DeviationReminder {
                        deviation_id: id,
                        escalation: Some(escalation),
                        ..
                    } if id == deviation_id => Some(escalation.level.clone()),
                    _ => None,
                })
                .next_back();
            rows.push(ForumRow {
                case: case_key.clone(),
                deviation: pseudonym(&format!("{}/{deviation_id}", case.id())),
                raised_on: local_date(event.occurred_at),
                cause: *cause,
                deadline: *deadline,
                addressed_to: party_unit(addressed_to),
                answered_on: answered_at.map(local_date),
                days_to_answer: answered_at.map(|at| {
                    let seconds = at.duration_since(event.occurred_at).as_secs_f64();
                    super::round2(seconds.max(0.0) / 86_400.0)
                }),
                reminders: state.map_or(0, |s| s.reminders),
                escalated_to,
            });
        }
    }
    rows.sort_by(|a, b| (a.raised_on, &a.case).cmp(&(b.raised_on, &b.case)));
    rows
}

/// The rows as CSV, a header first.
pub fn forum_csv(rows: &[ForumRow]) -> String {
    let mut out = String::from(
        "case,deviation,raised_on,cause,deadline,principal,unit,answered_on,days_to_answer,reminders,escalated_to\n",
    );
    for row in rows {
        let deadline = row
            .deadline
            .and_then(|d| serde_json::to_value(d).ok())
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let principal = match row.addressed_to.principal {
            crate::domain::party::Principal::Region => "region",
            crate::domain::party::Principal::Municipality => "municipality",
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            row.case,
            row.deviation,
            row.raised_on,
            row.cause.as_str(),
            deadline,
            principal,
            row.addressed_to.unit,
            row.answered_on.map(|d| d.to_string()).unwrap_or_default(),
            row.days_to_answer
                .map(|d| d.to_string())
                .unwrap_or_default(),
            row.reminders,
            row.escalated_to.as_deref().unwrap_or_default(),
        ));
    }
    out
}
