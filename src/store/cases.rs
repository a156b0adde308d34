//! Reading cases back: a case with its events, the cases of a person, stored receipts.

use jiff::Timestamp;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::error::StoreError;
use super::handle::Store;
use super::records::{Prior, StoredCase, StoredEvent};
use super::sql::{from_millis, millis, person_columns, person_from_columns};
use crate::domain::case::{CaseId, Phase};
use crate::domain::event::Event;
use crate::domain::identifiers::PersonId;

/// The case ids in the first column of `rows`.
fn case_ids(rows: &[sqlx::any::AnyRow]) -> Result<Vec<CaseId>, StoreError> {
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            CaseId::parse(&id).map_err(|e| StoreError::decode("case id", e))
        })
        .collect()
}

fn phase_from_column(phase: String) -> Result<Phase, StoreError> {
    serde_json::from_value(Value::String(phase)).map_err(|e| StoreError::decode("case phase", e))
}

/// The columns of cases loaded whole in one statement (`loaded_cases` reads them): a row per
/// event, the case's columns on each.
macro_rules! loaded_columns {
    () => {
        "SELECT c.id, c.person_system, c.person_value, c.phase, c.reference_issuer, \
         c.reference_value, c.version, e.seq, e.recorded_at, e.body \
         FROM cases c JOIN events e ON e.case_id = c.id"
    };
}

/// The cases in `rows` of `loaded_columns`, ordered by case and event: each run of one case id
/// is a case, its first row its columns.
fn loaded_cases(rows: &[AnyRow]) -> Result<Vec<StoredCase>, StoreError> {
    let mut cases = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let id: String = rows[start].try_get(0)?;
        let mut end = start + 1;
        while end < rows.len() && rows[end].try_get::<String, _>(0)? == id {
            end += 1;
        }
        let events = events_of(&rows[start..end], 7)?;
        let case_id = CaseId::parse(&id).map_err(|e| StoreError::decode("case id", e))?;
        cases.push(case_from_row(case_id, &rows[start], 1, events)?);
        start = end;
    }
    Ok(cases)
}

impl Store {
    /// The case with its events in order, or `None`.
    pub async fn load_case(&self, case_id: CaseId) -> Result<Option<StoredCase>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        load_case_on(&mut conn, case_id).await
    }

    /// What receiving a message reads before it decides, on one reader connection: the
    /// receipt of an earlier copy (and then nothing else), the case, and the person's stored
    /// consent directives.
    pub async fn prior(
        &self,
        source: &str,
        message_id: &str,
        case_id: CaseId,
        person: &PersonId,
    ) -> Result<Prior, StoreError> {
        // One query for all of it: under load each round trip to a connection can wait for a
        // core. Its rows are shaped alike (a tag, five texts, two numbers).
        let query = || {
            sqlx::query(
                "SELECT 0, receipt, CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), \
             CAST(NULL AS TEXT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT) \
             FROM received_messages WHERE source = $1 AND message_id = $2 \
             UNION ALL SELECT 1, person_system, person_value, phase, reference_issuer, \
             reference_value, version, NULL FROM cases WHERE id = $3 \
             UNION ALL SELECT 2, body, NULL, NULL, NULL, NULL, seq, recorded_at \
             FROM events WHERE case_id = $3 \
             UNION ALL SELECT 3, directive, consent_id, NULL, NULL, NULL, recorded_at, NULL \
             FROM consents WHERE person = $4 \
             UNION ALL SELECT 4, NULL, NULL, NULL, NULL, NULL, since, NULL \
             FROM protected_persons WHERE person = $4 AND lifted_at IS NULL",
            )
            .bind(source)
            .bind(message_id)
            .bind(case_id.to_string())
            .bind(super::sql::person_token(person))
        };
        // The receiving pool lends its connections without a ping: one the server ended (a
        // restart, a failover) fails its read, is closed, and the read is made again, until a
        // connection the server still knows answers or a new one is made.
        let mut attempts = 0;
        let rows = loop {
            let mut conn = self.receiver.acquire().await?;
            match query().fetch_all(&mut *conn).await {
                Ok(rows) => break rows,
                Err(error) if broke(&error) && attempts <= self.receiver.size() => {
                    attempts += 1;
                    tracing::warn!(%error, "a reader connection broke; reading again on another");
                    let _ = conn.close().await;
                }
                Err(error) => return Err(error.into()),
            }
        };
        prior_from(case_id, &rows)
    }

    /// The case event `event_id` belongs to, if it is stored.
    pub async fn case_of_event(
        &self,
        event_id: crate::domain::event::EventId,
    ) -> Result<Option<CaseId>, StoreError> {
        let rows = sqlx::query("SELECT case_id FROM events WHERE id = $1")
            .bind(event_id.to_string())
            .fetch_all(&self.reader)
            .await?;
        Ok(case_ids(&rows)?.into_iter().next())
    }

    /// The ids of the cases about `person`, oldest first.
    pub async fn cases_for_person(&self, person: &PersonId) -> Result<Vec<CaseId>, StoreError> {
        let (system, value) = person_columns(person)?;
        let rows = sqlx::query(
            "SELECT id FROM cases WHERE person_system = $1 AND person_value = $2 ORDER BY created_at, id",
        )
        .bind(system)
        .bind(value)
        .fetch_all(&self.reader)
        .await?;
        case_ids(&rows)
    }

    /// Every case with an event in `[from, to)`, loaded whole (in case id order), in one
    /// statement: what follow-up statistics read, without a round trip per case.
    pub async fn cases_with_events_between_loaded(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredCase>, StoreError> {
        let rows = sqlx::query(concat!(
            loaded_columns!(),
            " WHERE c.id IN (SELECT DISTINCT case_id FROM events WHERE occurred_at >= $1 \
             AND occurred_at < $2) ORDER BY c.id, e.seq"
        ))
        .bind(millis(from))
        .bind(millis(to))
        .fetch_all(&self.reader)
        .await?;
        loaded_cases(&rows)
    }

    /// The highest change number of any case (migration 0019; 0 when there is none): cases
    /// changed later will have higher ones.
    pub async fn case_change_top(&self) -> Result<u64, StoreError> {
        let top: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(change_seq), 0) FROM cases")
            .fetch_one(&self.reader)
            .await?;
        Ok(top.max(0) as u64)
    }

    /// At most `limit` cases whose id is above `after_id`, loaded whole, in case id order: a
    /// page of every case, for a reader that keeps the cases' facts.
    pub async fn cases_page(
        &self,
        after_id: Option<CaseId>,
        limit: u32,
    ) -> Result<Vec<StoredCase>, StoreError> {
        let rows = sqlx::query(concat!(
            loaded_columns!(),
            " WHERE c.id IN (SELECT id FROM cases WHERE id > $1 ORDER BY id LIMIT $2) \
             ORDER BY c.id, e.seq"
        ))
        .bind(after_id.map(|id| id.to_string()).unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        loaded_cases(&rows)
    }

    /// The id and version of every case whose change number is above `after` (of every case
    /// when `after` is `None`), through the index of change numbers: what a reader keeping the
    /// cases' facts compares its own with, to read only the cases it does not have as they are.
    pub async fn case_versions(
        &self,
        after: Option<u64>,
    ) -> Result<Vec<(CaseId, u64)>, StoreError> {
        let rows = sqlx::query("SELECT id, version FROM cases WHERE change_seq > $1")
            .bind(after.map_or(-1, |n| n as i64))
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get(0)?;
                let version: i64 = row.try_get(1)?;
                let id = CaseId::parse(&id).map_err(|e| StoreError::decode("case id", e))?;
                Ok((id, version.max(0) as u64))
            })
            .collect()
    }

    /// The cases of `ids` that are stored, loaded whole, in case id order.
    pub async fn cases_loaded(&self, ids: &[CaseId]) -> Result<Vec<StoredCase>, StoreError> {
        let mut cases = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "{} WHERE c.id IN ({}) ORDER BY c.id, e.seq",
                loaded_columns!(),
                marks.join(", ")
            );
            // Only numbered placeholders are formatted in; the ids are bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            cases.extend(loaded_cases(&query.fetch_all(&self.reader).await?)?);
        }
        Ok(cases)
    }

    /// The ids of the cases changed at or after `since`, at most `limit` of them (most recently
    /// changed first), and whether there were more.
    pub async fn cases_changed_since(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<(Vec<CaseId>, bool), StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM cases WHERE updated_at >= $1 ORDER BY updated_at DESC, id LIMIT $2",
        )
        .bind(millis(since))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.reader)
        .await?;
        let mut ids = case_ids(&rows)?;
        let more = ids.len() > limit as usize;
        ids.truncate(limit as usize);
        Ok((ids, more))
    }

    /// The receipt given for a received message, if it was received.
    pub async fn receipt(
        &self,
        source: &str,
        message_id: &str,
    ) -> Result<Option<Value>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        receipt_on(&mut conn, source, message_id).await
    }

    /// What the gateway has done so far, as counts that only grow while it works (events,
    /// delivery attempts, deliveries settled, timers settled): a replay waits until they stop
    /// moving.
    pub async fn activity(&self) -> Result<[i64; 4], StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM events), \
             (SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM outbox), \
             (SELECT COUNT(*) FROM outbox WHERE status <> 'pending'), \
             (SELECT COUNT(*) FROM timers WHERE status <> 'pending')",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok([
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        ])
    }

    /// The earliest time after `now` at which a pending timer falls due or a pending delivery
    /// is tried again.
    pub async fn next_work_after(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT MIN(due_at) FROM timers WHERE status = 'pending' AND due_at > $1), \
             (SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending' AND next_attempt_at > $2)",
        )
        .bind(millis(now))
        .bind(millis(now))
        .fetch_one(&self.reader)
        .await?;
        let timer: Option<i64> = row.try_get(0)?;
        let delivery: Option<i64> = row.try_get(1)?;
        [timer, delivery]
            .into_iter()
            .flatten()
            .min()
            .map(from_millis)
            .transpose()
    }

    /// How much work is due at `now` and not done: pending timers due, and pending deliveries
    /// due that are not waiting behind an earlier delivery of their case to the same
    /// subscription (those go when it has).
    pub async fn due_work(&self, now: Timestamp) -> Result<i64, StoreError> {
        self.due_work_except(now, &[]).await
    }

    /// `due_work`, leaving out the deliveries of `held_back` (subscriptions whose circuit is
    /// open: their rows wait for a probe, not for the worker).
    pub async fn due_work_except(
        &self,
        now: Timestamp,
        held_back: &[String],
    ) -> Result<i64, StoreError> {
        let held = match self.backend() {
            super::sql::Backend::Sqlite => {
                "AND o.destination NOT IN (SELECT value FROM json_each($3))"
            }
            super::sql::Backend::Postgres => {
                "AND o.destination NOT IN (SELECT jsonb_array_elements_text(CAST($3 AS jsonb)))"
            }
        };
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM timers WHERE status = 'pending' AND due_at <= $1) \
             + (SELECT COUNT(*) FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= $2 {held} \
                AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.case_id = o.case_id \
                  AND e.destination = o.destination AND e.status = 'pending' \
                  AND (e.event_seq, e.id) < (o.event_seq, o.id)))"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(millis(now))
            .bind(millis(now))
            .bind(serde_json::to_string(held_back).unwrap_or_else(|_| "[]".to_owned()))
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Every case, oldest first.
    pub async fn all_case_ids(&self) -> Result<Vec<CaseId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM cases ORDER BY created_at, id")
            .fetch_all(&self.reader)
            .await?;
        case_ids(&rows)
    }

    /// Row counts per table, for operators and tests.
    pub async fn table_counts(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let mut counts = Vec::new();
        for table in [
            "cases",
            "events",
            "received_messages",
            "outbox",
            "timers",
            "consents",
            "used_assertions",
            "audit_log",
            "deviations",
            "fhir_subscriptions",
            "retention_pruning",
        ] {
            let n: i64 = // The table names are the constants above.
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&self.reader)
                .await?
                .try_get(0)?;
            counts.push((table, n as u64));
        }
        Ok(counts)
    }
}

/// The case with its events in order, or `None`, read on `conn`.
async fn load_case_on(
    conn: &mut sqlx::AnyConnection,
    case_id: CaseId,
) -> Result<Option<StoredCase>, StoreError> {
    let id = case_id.to_string();
    let Some(row) = sqlx::query(
        "SELECT person_system, person_value, phase, reference_issuer, reference_value, version FROM cases WHERE id = $1",
    )
    .bind(&id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let rows =
        sqlx::query("SELECT seq, recorded_at, body FROM events WHERE case_id = $1 ORDER BY seq")
            .bind(&id)
            .fetch_all(&mut *conn)
            .await?;
    case_from_row(case_id, &row, 0, events_of(&rows, 0)?).map(Some)
}

/// What `Store::prior` read, from its rows: each a tag, five texts and two numbers.
fn prior_from(case_id: CaseId, rows: &[AnyRow]) -> Result<Prior, StoreError> {
    let mut case = None;
    let mut events = Vec::new();
    let mut consents = Vec::new();
    let mut protected = false;
    for row in rows {
        match row.try_get::<i64, _>(0)? {
            0 => {
                let text: String = row.try_get(1)?;
                let receipt =
                    serde_json::from_str(&text).map_err(|e| StoreError::decode("receipt", e))?;
                return Ok(Prior::Received(receipt));
            }
            1 => case = Some(row),
            2 => events.push((
                row.try_get::<i64, _>(6)?,
                row.try_get::<i64, _>(7)?,
                row.try_get::<String, _>(1)?,
            )),
            3 => consents.push((
                row.try_get::<i64, _>(6)?,
                row.try_get::<String, _>(2)?,
                row.try_get::<String, _>(1)?,
            )),
            4 => protected = true,
            tag => {
                return Err(StoreError::decode(
                    "prior read",
                    format!("row tagged {tag}"),
                ));
            }
        }
    }
    // In the order the single reads give: events by number, directives as recorded.
    consents.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let consents = consents
        .into_iter()
        .map(|(_, _, directive)| super::consents::parse_directive(&directive))
        .collect::<Result<Vec<_>, _>>()?;
    let case = match case {
        None => None,
        Some(row) => {
            events.sort_by_key(|(seq, _, _)| *seq);
            let events = events
                .into_iter()
                .map(|(seq, recorded_at, body)| stored_event_from(seq, recorded_at, &body))
                .collect::<Result<Vec<_>, _>>()?;
            Some(case_from_row(case_id, row, 1, events)?)
        }
    };
    Ok(Prior::New {
        case,
        consents,
        protected,
    })
}

/// The case from its row's columns from `at` on: person system and value, phase, reference
/// issuer and value, version (of `load_case_on`'s statement and of `Store::prior`'s).
fn case_from_row(
    case_id: CaseId,
    row: &AnyRow,
    at: usize,
    events: Vec<StoredEvent>,
) -> Result<StoredCase, StoreError> {
    let person = person_from_columns(row.try_get(at)?, row.try_get(at + 1)?)?;
    let phase = phase_from_column(row.try_get(at + 2)?)?;
    let issuer: Option<String> = row.try_get(at + 3)?;
    let value: Option<String> = row.try_get(at + 4)?;
    let version: i64 = row.try_get(at + 5)?;
    let reference = issuer
        .zip(value)
        .map(|(issuer, value)| crate::formats::canonical::CaseReference { issuer, value });
    Ok(StoredCase {
        id: case_id,
        person,
        reference,
        phase,
        version: version as u64,
        events,
    })
}

async fn receipt_on(
    conn: &mut sqlx::AnyConnection,
    source: &str,
    message_id: &str,
) -> Result<Option<Value>, StoreError> {
    let row =
        sqlx::query("SELECT receipt FROM received_messages WHERE source = $1 AND message_id = $2")
            .bind(source)
            .bind(message_id)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|row| {
        let text: String = row.try_get(0)?;
        serde_json::from_str(&text).map_err(|e| StoreError::decode("receipt", e))
    })
    .transpose()
}

/// The events in `rows`, their sequence number, recording time and body from column `at` on.
fn events_of(rows: &[AnyRow], at: usize) -> Result<Vec<StoredEvent>, StoreError> {
    rows.iter()
        .map(|row| {
            stored_event_from(
                row.try_get(at)?,
                row.try_get(at + 1)?,
                &row.try_get::<String, _>(at + 2)?,
            )
        })
        .collect()
}

fn stored_event_from(seq: i64, recorded_at: i64, body: &str) -> Result<StoredEvent, StoreError> {
    let event: Event = serde_json::from_str(body).map_err(|e| StoreError::decode("event", e))?;
    Ok(StoredEvent {
        seq: seq as u64,
        recorded_at: from_millis(recorded_at)?,
        event,
    })
}

/// Whether `error` says the connection itself failed (not the statement): the read is then
/// worth making again on another connection. Besides a broken socket, PostgreSQL's
/// "connection exception" (`08…`) and "operator intervention" (`57P…`: its server shutting
/// down, restarting or ending the session) errors.
fn broke(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}
