//! The deviations index: one row per deviation with its state, written in the transaction that
//! appends the deviation's events, so that open deviations are listed without reading every
//! case. The events remain the record; this is how they are found.

use jiff::Timestamp;
use sqlx::{Any, Row, Transaction};

use super::error::StoreError;
use super::handle::Store;
use super::sql::{from_millis, millis};
use crate::domain::case::CaseId;
use crate::domain::event::{Event, EventKind};
use crate::domain::party::Party;

/// Which deviations to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviationFilter {
    /// Not answered yet (acknowledged or not).
    #[default]
    Unanswered,
    Answered,
    All,
}

/// A deviation as the index has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviationRow {
    pub case_id: CaseId,
    pub deviation_id: String,
    pub raised_at: Timestamp,
}

fn party_columns(party: &Party) -> (&'static str, String) {
    match party {
        Party::RegionUnit { hsa_id } => ("region", hsa_id.to_string()),
        Party::Municipality { kommunkod, .. } => ("municipality", kommunkod.to_string()),
    }
}

/// Whether `index_events` writes anything for an event of this kind.
pub(super) fn indexes(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::DeviationRaised { .. }
            | EventKind::DeviationAcknowledged { .. }
            | EventKind::DeviationAnswered { .. }
            | EventKind::DeviationReminder { .. }
    )
}

/// Keeps the index in step with `events` of the case (called inside the commit transaction).
pub(super) async fn index_events(
    tx: &mut Transaction<'_, Any>,
    case_id: &str,
    events: &[Event],
) -> Result<(), StoreError> {
    for event in events {
        let at = millis(event.occurred_at);
        let (sql, deviation_id) = match &event.kind {
            EventKind::DeviationRaised {
                deviation_id,
                addressed_to,
                cause,
                ..
            } => {
                let (principal, unit) = party_columns(addressed_to);
                sqlx::query(
                    "INSERT INTO deviations (case_id, deviation_id, principal, unit, cause, raised_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id, deviation_id) DO NOTHING",
                )
                .bind(case_id)
                .bind(deviation_id)
                .bind(principal)
                .bind(unit)
                .bind(cause.as_str())
                .bind(at)
                .execute(&mut **tx)
                .await?;
                continue;
            }
            EventKind::DeviationAcknowledged { deviation_id, .. } => (
                "UPDATE deviations SET acknowledged_at = COALESCE(acknowledged_at, $1) \
                 WHERE case_id = $2 AND deviation_id = $3",
                deviation_id,
            ),
            EventKind::DeviationAnswered { deviation_id, .. } => (
                "UPDATE deviations SET acknowledged_at = COALESCE(acknowledged_at, $1), answered_at = $1 \
                 WHERE case_id = $2 AND deviation_id = $3",
                deviation_id,
            ),
            EventKind::DeviationReminder {
                deviation_id,
                reminder,
                ..
            } => {
                sqlx::query(
                    "UPDATE deviations SET reminders = $1 WHERE case_id = $2 AND deviation_id = $3",
                )
                .bind(i64::from(*reminder))
                .bind(case_id)
                .bind(deviation_id)
                .execute(&mut **tx)
                .await?;
                continue;
            }
            _ => continue,
        };
        sqlx::query(sql)
            .bind(at)
            .bind(case_id)
            .bind(deviation_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Deviations by the filter, oldest first, at most `limit`; `principal` and `unit` narrow
    /// them to the addressed party (`region` + HSA-id, or `municipality` + municipality code).
    pub async fn deviations(
        &self,
        filter: DeviationFilter,
        addressed_to: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<DeviationRow>, StoreError> {
        macro_rules! select {
            ($state:literal) => {
                concat!(
                    "SELECT case_id, deviation_id, raised_at FROM deviations ",
                    "WHERE ($1 = '' OR (principal = $1 AND unit = $2))",
                    $state,
                    " ORDER BY raised_at, case_id, deviation_id LIMIT $3"
                )
            };
        }
        let sql = match filter {
            DeviationFilter::Unanswered => select!(" AND answered_at IS NULL"),
            DeviationFilter::Answered => select!(" AND answered_at IS NOT NULL"),
            DeviationFilter::All => select!(""),
        };
        let (principal, unit) = addressed_to.unwrap_or(("", ""));
        let rows = sqlx::query(sql)
            .bind(principal)
            .bind(unit)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| {
                let case_id: String = row.try_get(0)?;
                Ok(DeviationRow {
                    case_id: CaseId::parse(&case_id)
                        .map_err(|e| StoreError::decode("case id", e))?,
                    deviation_id: row.try_get(1)?,
                    raised_at: from_millis(row.try_get(2)?)?,
                })
            })
            .collect()
    }
}
