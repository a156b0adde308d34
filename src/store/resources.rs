//! FHIR resources kept as received for the organisation that created them (`fhir_resources`):
//! every version, each write with its audit records in one transaction, a version check for
//! updates, and the current versions of an organisation's resources of one kind. Also the
//! lookup of a case person's by the id of their FHIR Patient (`cases.patient_id`).

use jiff::Timestamp;
use serde_json::Value;
use sqlx::Row;

use super::audit::{AuditHead, chain_entries};
use super::error::StoreError;
use super::handle::Store;
use super::sql::{millis, person_from_columns};
use crate::changes::AuditEntry;
use crate::domain::identifiers::PersonId;
use crate::formats::fhir::patient_id;

/// One version of a kept resource.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub kind: String,
    pub id: String,
    pub version: u64,
    pub organisation: String,
    pub last_updated: Timestamp,
    /// With its `id` and `meta.versionId`/`meta.lastUpdated`.
    pub resource: Value,
}

/// One version of a resource to keep: the next of `kind/id` for `organisation` — without
/// `expected`, version 1 of a new resource; with it, the version after `expected`, refused
/// unless that is the current one — about `subject` (`system|value` of a person, or a
/// reference).
#[derive(Debug, Clone)]
pub struct ResourceWrite {
    pub kind: String,
    pub id: String,
    pub expected: Option<u64>,
    pub organisation: String,
    pub client_id: String,
    pub resource: Value,
    pub subject: Option<String>,
}

/// Why a write was not made.
#[derive(Debug, thiserror::Error)]
pub enum ResourceWriteError {
    #[error("{kind}/{id} is not known")]
    NotFound { kind: String, id: String },
    #[error("{kind}/{id} is at version {current}, not {expected}")]
    VersionConflict {
        kind: String,
        id: String,
        expected: u64,
        current: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ResourceWriteError {
    fn from(error: sqlx::Error) -> Self {
        ResourceWriteError::Store(error.into())
    }
}

fn stamped(mut resource: Value, id: &str, version: u64, at: Timestamp) -> Value {
    resource["id"] = Value::String(id.to_owned());
    if !resource["meta"].is_object() {
        resource["meta"] = serde_json::json!({});
    }
    resource["meta"]["versionId"] = Value::String(version.to_string());
    resource["meta"]["lastUpdated"] = Value::String(at.to_string());
    resource
}

fn row_resource(row: &sqlx::any::AnyRow) -> Result<StoredResource, StoreError> {
    let text: String = row.try_get("resource")?;
    let version: i64 = row.try_get("version")?;
    let at: i64 = row.try_get("last_updated")?;
    Ok(StoredResource {
        kind: row.try_get("kind")?,
        id: row.try_get("id")?,
        version: version as u64,
        organisation: row.try_get("organisation")?,
        last_updated: Timestamp::from_millisecond(at)
            .map_err(|e| StoreError::decode("resource time", e))?,
        resource: serde_json::from_str(&text).map_err(|e| StoreError::decode("resource", e))?,
    })
}

const COLUMNS: &str = "kind, id, version, organisation, last_updated, resource";

impl Store {
    /// Keeps the next version of a resource (`ResourceWrite`), with its audit records.
    /// Answers the version as stored.
    pub async fn write_resource(
        &self,
        write: ResourceWrite,
        audit: &[AuditEntry],
        at: Timestamp,
    ) -> Result<StoredResource, ResourceWriteError> {
        let mut written = self.write_resources(vec![write], audit, at).await?;
        written.pop().ok_or_else(|| {
            ResourceWriteError::Store(StoreError::decode("resource", "nothing was written"))
        })
    }

    /// Keeps every write of `writes` in one transaction, with the audit records: all of them,
    /// or (one refused) none. Answers the versions as stored, in order.
    pub async fn write_resources(
        &self,
        writes: Vec<ResourceWrite>,
        audit: &[AuditEntry],
        at: Timestamp,
    ) -> Result<Vec<StoredResource>, ResourceWriteError> {
        let mut tx = self.writer.begin().await?;
        let mut head = AuditHead::lock(&mut tx)
            .await
            .map_err(ResourceWriteError::Store)?;
        let mut written = Vec::with_capacity(writes.len());
        for write in writes {
            written.push(write_one(&mut tx, write, at).await?);
        }
        chain_entries(&mut tx, &mut head, None, audit, at)
            .await
            .map_err(ResourceWriteError::Store)?;
        head.store(&mut tx)
            .await
            .map_err(ResourceWriteError::Store)?;
        tx.commit().await?;
        Ok(written)
    }

    /// Every version of `kind/id` kept for `organisation`, oldest first (none: it has no such
    /// resource).
    pub async fn resource_versions(
        &self,
        kind: &str,
        id: &str,
        organisation: &str,
    ) -> Result<Vec<StoredResource>, StoreError> {
        // Only constants are formatted in.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM fhir_resources WHERE kind = $1 AND id = $2 AND organisation = $3 ORDER BY version"
        )))
        .bind(kind)
        .bind(id)
        .bind(organisation)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(row_resource)
        .collect()
    }

    /// The current versions of `organisation`'s resources of `kind`, narrowed to those about
    /// `subject` when given.
    pub async fn current_resources(
        &self,
        kind: &str,
        organisation: &str,
        subject: Option<&str>,
    ) -> Result<Vec<StoredResource>, StoreError> {
        let mut sql = format!(
            "SELECT {COLUMNS} FROM fhir_resources WHERE organisation = $1 AND kind = $2 AND is_current = 1"
        );
        if subject.is_some() {
            sql.push_str(" AND subject = $3");
        }
        // Only constants are formatted in; the values are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(organisation)
            .bind(kind);
        if let Some(subject) = subject {
            query = query.bind(subject);
        }
        query
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(row_resource)
            .collect()
    }

    /// The person whose FHIR Patient has id `patient_id`, if a case of theirs is stored.
    pub async fn person_of_patient(
        &self,
        patient_id: &str,
    ) -> Result<Option<PersonId>, StoreError> {
        let row = sqlx::query(
            "SELECT person_system, person_value FROM cases WHERE patient_id = $1 LIMIT 1",
        )
        .bind(patient_id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        person_from_columns(row.try_get(0)?, row.try_get(1)?).map(Some)
    }

    /// Gives the cases stored before `cases.patient_id` existed their person's Patient id.
    pub(super) async fn fill_patient_ids(&self) -> Result<u64, StoreError> {
        let rows = sqlx::query(
            "SELECT id, person_system, person_value FROM cases WHERE patient_id IS NULL",
        )
        .fetch_all(&self.writer)
        .await?;
        let mut filled = 0;
        for row in rows {
            let id: String = row.try_get(0)?;
            let person = person_from_columns(row.try_get(1)?, row.try_get(2)?)?;
            sqlx::query("UPDATE cases SET patient_id = $1 WHERE id = $2")
                .bind(patient_id(&person))
                .bind(id)
                .execute(&self.writer)
                .await?;
            filled += 1;
        }
        Ok(filled)
    }
}

/// One write of `write_resources`, inside its transaction.
async fn write_one(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    write: ResourceWrite,
    at: Timestamp,
) -> Result<StoredResource, ResourceWriteError> {
    let ResourceWrite {
        kind,
        id,
        expected,
        organisation,
        client_id,
        resource,
        subject,
    } = write;
    let current: Option<i64> = sqlx::query(
        "SELECT version FROM fhir_resources WHERE kind = $1 AND id = $2 AND organisation = $3 AND is_current = 1",
    )
    .bind(&kind)
    .bind(&id)
    .bind(&organisation)
    .fetch_optional(&mut **tx)
    .await?
    .map(|row| row.try_get(0))
    .transpose()?;
    let version = match (expected, current.map(|c| c as u64)) {
        (None, None) => 1,
        (Some(expected), Some(current)) if expected == current => expected + 1,
        (Some(_), None) => return Err(ResourceWriteError::NotFound { kind, id }),
        (expected, Some(current)) => {
            return Err(ResourceWriteError::VersionConflict {
                kind,
                id,
                expected: expected.unwrap_or(0),
                current,
            });
        }
    };
    let resource = stamped(resource, &id, version, at);
    let text = serde_json::to_string(&resource).map_err(|e| StoreError::decode("resource", e))?;
    sqlx::query(
        "UPDATE fhir_resources SET is_current = 0 WHERE kind = $1 AND id = $2 AND is_current = 1",
    )
    .bind(&kind)
    .bind(&id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO fhir_resources (kind, id, version, is_current, organisation, client_id, subject, last_updated, resource) \
         VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8)",
    )
    .bind(&kind)
    .bind(&id)
    .bind(version as i64)
    .bind(&organisation)
    .bind(&client_id)
    .bind(subject.as_deref())
    .bind(millis(at))
    .bind(text)
    .execute(&mut **tx)
    .await?;
    Ok(StoredResource {
        kind,
        id,
        version,
        organisation,
        last_updated: at,
        resource,
    })
}
