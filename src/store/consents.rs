//! The consent registry: each person's directives, from case events (written in the commit that
//! appends them) and from FHIR `Consent` resources or the API (written with their audit record).

use jiff::Timestamp;
use serde_json::Value;
use sqlx::{Any, Row, Transaction};

use super::audit::{AuditHead, chain_entries};
use super::error::StoreError;
use super::handle::Store;
use super::sql::millis;
use super::sql::person_token;
use crate::changes::AuditEntry;
use crate::domain::case::CaseId;
use crate::domain::consent::{ConsentDirective, ConsentSubject};
use crate::domain::event::{Event, EventKind};
use crate::domain::identifiers::PersonId;

/// The subject a stored key names: a person's `system|value` token, or else the reference kept
/// as it was received.
fn subject_from_key(key: &str) -> ConsentSubject {
    // Stored values have all twelve digits: there is no century to infer, and no birth date
    // may be refused as lying in the future.
    const ANY_DAY: jiff::civil::Date = jiff::civil::date(9999, 12, 31);
    key.split_once('|')
        .and_then(|(system, value)| PersonId::from_system(system, value, ANY_DAY))
        .map(ConsentSubject::Person)
        .unwrap_or_else(|| ConsentSubject::Reference(key.to_owned()))
}

/// The key a subject is stored under.
pub fn subject_key(subject: &ConsentSubject) -> String {
    match subject {
        ConsentSubject::Person(person) => person_token(person),
        ConsentSubject::Reference(reference) => reference.clone(),
    }
}

/// One registry entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConsent {
    /// The person, or the unresolved reference.
    pub subject: ConsentSubject,
    /// The id of its FHIR Consent.
    pub resource_id: String,
    pub directive: ConsentDirective,
    /// The FHIR resource as received, if it came as one.
    pub resource: Option<Value>,
}

/// The FHIR id of a directive recorded in a case: derived, so the same directive always has it.
fn case_resource_id(source: &str, consent_id: &str) -> String {
    crate::formats::canonical::derived_id("consent-entry", &[source, consent_id]).to_string()
}

fn directive_json(directive: &ConsentDirective) -> Result<String, StoreError> {
    serde_json::to_string(directive).map_err(|e| StoreError::decode("consent directive", e))
}

/// Whether `index_events` writes anything for an event of this kind.
pub(super) fn indexes(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ConsentRecorded { .. } | EventKind::ConsentWithdrawn { .. }
    )
}

/// Writes the directives that `events` of the case record or withdraw (inside the commit).
pub(super) async fn index_events(
    tx: &mut Transaction<'_, Any>,
    case_id: &str,
    person: &PersonId,
    events: &[Event],
) -> Result<(), StoreError> {
    let subject = person_token(person);
    let source = format!("case {case_id}");
    for event in events {
        match &event.kind {
            EventKind::ConsentRecorded { .. } => {
                for directive in ConsentDirective::from_events(std::slice::from_ref(event), &source)
                {
                    sqlx::query(
                        "INSERT INTO consents (person, source, consent_id, resource_id, directive, recorded_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (person, source, consent_id) DO NOTHING",
                    )
                    .bind(&subject)
                    .bind(&source)
                    .bind(&directive.id)
                    .bind(case_resource_id(&source, &directive.id))
                    .bind(directive_json(&directive)?)
                    .bind(millis(directive.recorded_at))
                    .execute(&mut **tx)
                    .await?;
                }
            }
            EventKind::ConsentWithdrawn { consent_id } => {
                withdraw_in(tx, &subject, &source, consent_id, event.occurred_at).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Marks a directive withdrawn at `at` (the first withdrawal counts). Answers whether one was.
async fn withdraw_in(
    tx: &mut Transaction<'_, Any>,
    subject: &str,
    source: &str,
    consent_id: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "SELECT directive FROM consents WHERE person = $1 AND source = $2 AND consent_id = $3",
    )
    .bind(subject)
    .bind(source)
    .bind(consent_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let text: String = row.try_get(0)?;
    let mut directive: ConsentDirective =
        serde_json::from_str(&text).map_err(|e| StoreError::decode("consent directive", e))?;
    if directive.withdrawn_at.is_some() {
        return Ok(false);
    }
    directive.withdrawn_at = Some(at);
    sqlx::query(
        "UPDATE consents SET directive = $1, withdrawn_at = $2 \
         WHERE person = $3 AND source = $4 AND consent_id = $5",
    )
    .bind(directive_json(&directive)?)
    .bind(millis(at))
    .bind(subject)
    .bind(source)
    .bind(consent_id)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// A stored directive's column.
pub(super) fn parse_directive(text: &str) -> Result<ConsentDirective, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::decode("consent directive", e))
}

fn stored_consent(row: &sqlx::any::AnyRow) -> Result<StoredConsent, StoreError> {
    let directive: String = row.try_get(1)?;
    let resource: Option<String> = row.try_get(2)?;
    let key: String = row.try_get(0)?;
    Ok(StoredConsent {
        subject: subject_from_key(&key),
        resource_id: row.try_get(3)?,
        directive: parse_directive(&directive)?,
        resource: resource
            .map(|r| {
                serde_json::from_str(&r).map_err(|e| StoreError::decode("consent resource", e))
            })
            .transpose()?,
    })
}

impl Store {
    /// Records a directive that came outside a case (a FHIR `Consent`, the API), with its
    /// audit records, in one transaction. Answers `false` (and writes nothing) if the subject
    /// already has a directive with this source and id.
    pub async fn record_consent(
        &self,
        subject: &ConsentSubject,
        directive: &ConsentDirective,
        resource: Option<&Value>,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut head = AuditHead::lock(&mut tx).await?;
        let resource = resource
            .map(|r| {
                serde_json::to_string(r).map_err(|e| StoreError::decode("consent resource", e))
            })
            .transpose()?;
        let inserted = sqlx::query(
            "INSERT INTO consents (person, source, consent_id, resource_id, directive, resource, recorded_at, withdrawn_at) \
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7) ON CONFLICT (person, source, consent_id) DO NOTHING",
        )
        .bind(subject_key(subject))
        .bind(&directive.source)
        .bind(&directive.id)
        .bind(directive_json(directive)?)
        .bind(resource)
        .bind(millis(directive.recorded_at))
        .bind(directive.withdrawn_at.map(millis))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        chain_entries(&mut tx, &mut head, None, audit, directive.recorded_at).await?;
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Withdraws a directive recorded outside a case, with its audit records. Answers whether
    /// there was one in force to withdraw.
    pub async fn withdraw_consent(
        &self,
        subject: &ConsentSubject,
        source: &str,
        consent_id: &str,
        at: Timestamp,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut head = AuditHead::lock(&mut tx).await?;
        if !withdraw_in(&mut tx, &subject_key(subject), source, consent_id, at).await? {
            return Ok(false);
        }
        chain_entries(&mut tx, &mut head, None, audit, at).await?;
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every directive of the person's registry, in the order recorded.
    pub async fn consents_for(
        &self,
        person: &PersonId,
    ) -> Result<Vec<ConsentDirective>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        consents_for_on(&mut conn, person).await
    }

    /// The registry the decision reads for a case about to be committed: the person's stored
    /// directives, with those of `case` taken from its events (which include the ones being
    /// committed now).
    pub async fn registry_for(
        &self,
        case: &crate::domain::case::CoordinationCase,
    ) -> Result<Vec<ConsentDirective>, StoreError> {
        Ok(registry_with(case, self.consents_for(case.person()).await?))
    }

    /// Every registry entry about `subject` (case-recorded ones included), in the order recorded.
    pub async fn consents_about(
        &self,
        subject: &ConsentSubject,
    ) -> Result<Vec<StoredConsent>, StoreError> {
        let rows = sqlx::query(
            "SELECT person, directive, resource, resource_id FROM consents WHERE person = $1 ORDER BY recorded_at, consent_id",
        )
        .bind(subject_key(subject))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(stored_consent).collect()
    }

    /// The directive whose FHIR Consent has id `resource_id`, whoever it is about.
    pub async fn consent(&self, resource_id: &str) -> Result<Option<StoredConsent>, StoreError> {
        let row = sqlx::query(
            "SELECT person, directive, resource, resource_id FROM consents WHERE resource_id = $1",
        )
        .bind(resource_id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(stored_consent).transpose()
    }

    /// The directives recorded in a case's events (as the registry holds them).
    pub async fn case_consents(&self, case_id: CaseId) -> Result<Vec<StoredConsent>, StoreError> {
        let rows = sqlx::query(
            "SELECT person, directive, resource, resource_id FROM consents WHERE source = $1 ORDER BY recorded_at, consent_id",
        )
        .bind(format!("case {case_id}"))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(stored_consent).collect()
    }
}

/// The person's stored directives, read on `conn`.
pub(super) async fn consents_for_on(
    conn: &mut sqlx::AnyConnection,
    person: &PersonId,
) -> Result<Vec<ConsentDirective>, StoreError> {
    let rows = sqlx::query(
        "SELECT person, directive, resource, resource_id FROM consents WHERE person = $1 ORDER BY recorded_at, consent_id",
    )
    .bind(person_token(person))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| stored_consent(row).map(|c| c.directive))
        .collect()
}

/// The registry the decision reads for `case`: the person's `stored` directives, with those
/// of `case` itself taken from its events (which include the ones being committed now).
pub fn registry_with(
    case: &crate::domain::case::CoordinationCase,
    stored: Vec<ConsentDirective>,
) -> Vec<ConsentDirective> {
    let own = format!("case {}", case.id());
    let mut directives: Vec<ConsentDirective> =
        stored.into_iter().filter(|d| d.source != own).collect();
    directives.extend(ConsentDirective::from_events(case.events(), &own));
    directives
}
