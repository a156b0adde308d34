//! Subscriptions created through the API (FHIR `Subscription` resources): stored with their
//! organisation, status and version, changed with their audit records in one transaction, and
//! each subscription's event count (the numbers of its notifications).

use jiff::Timestamp;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{AuditHead, chain_entries};
use super::error::StoreError;
use super::handle::Store;
use super::sql::{from_millis, millis};
use crate::changes::AuditEntry;

/// A stored API subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSubscription {
    /// The resource id (`/fhir/Subscription/{id}`).
    pub id: String,
    /// The owner: the organisation (its code) of the client that created it.
    pub organisation: String,
    pub client_id: String,
    /// `requested`, `active`, `error` or `off`.
    pub status: String,
    /// The resource as last written, with its id.
    pub resource: Value,
    /// Why the status is `error`.
    pub error: Option<String>,
    /// 1 when created, one more with each change (`meta.versionId`).
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn stored(row: &AnyRow) -> Result<StoredSubscription, StoreError> {
    let resource: String = row.try_get(4)?;
    let version: i64 = row.try_get(6)?;
    Ok(StoredSubscription {
        id: row.try_get(0)?,
        organisation: row.try_get(1)?,
        client_id: row.try_get(2)?,
        status: row.try_get(3)?,
        resource: serde_json::from_str(&resource)
            .map_err(|e| StoreError::decode("subscription resource", e))?,
        error: row.try_get(5)?,
        version: version as u64,
        created_at: from_millis(row.try_get(7)?)?,
        updated_at: from_millis(row.try_get(8)?)?,
    })
}

macro_rules! select_subscriptions {
    ($rest:literal) => {
        concat!(
            "SELECT id, organisation, client_id, status, resource, error, version, created_at, \
             updated_at FROM fhir_subscriptions ",
            $rest
        )
    };
}

fn json(resource: &Value) -> Result<String, StoreError> {
    serde_json::to_string(resource).map_err(|e| StoreError::decode("subscription resource", e))
}

impl Store {
    /// Stores a new subscription with its audit records.
    pub async fn create_subscription(
        &self,
        subscription: &StoredSubscription,
        audit: &[AuditEntry],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut head = AuditHead::lock(&mut tx).await?;
        sqlx::query(
            "INSERT INTO fhir_subscriptions (id, organisation, client_id, status, resource, error, \
             version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&subscription.id)
        .bind(&subscription.organisation)
        .bind(&subscription.client_id)
        .bind(&subscription.status)
        .bind(json(&subscription.resource)?)
        .bind(subscription.error.as_deref())
        .bind(subscription.version as i64)
        .bind(millis(subscription.created_at))
        .bind(millis(subscription.updated_at))
        .execute(&mut *tx)
        .await?;
        chain_entries(&mut tx, &mut head, None, audit, subscription.updated_at).await?;
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a subscription's status, resource and error if it is still at
    /// `subscription.version - 1`; answers false (and changes nothing) otherwise.
    pub async fn update_subscription(
        &self,
        subscription: &StoredSubscription,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut head = AuditHead::lock(&mut tx).await?;
        let changed = sqlx::query(
            "UPDATE fhir_subscriptions SET status = $1, resource = $2, error = $3, version = $4, \
             updated_at = $5 WHERE id = $6 AND version = $7",
        )
        .bind(&subscription.status)
        .bind(json(&subscription.resource)?)
        .bind(subscription.error.as_deref())
        .bind(subscription.version as i64)
        .bind(millis(subscription.updated_at))
        .bind(&subscription.id)
        .bind(subscription.version as i64 - 1)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        chain_entries(&mut tx, &mut head, None, audit, subscription.updated_at).await?;
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a subscription; its deliveries still waiting go to the dead letters (with the
    /// reason), where they stay visible. Answers whether there was one.
    pub async fn delete_subscription(
        &self,
        id: &str,
        destination: &str,
        at: Timestamp,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut head = AuditHead::lock(&mut tx).await?;
        let deleted = sqlx::query("DELETE FROM fhir_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE outbox SET status = 'dead', last_error = $1, finished_at = $2, \
             claimed_by = NULL, claimed_until = NULL WHERE destination = $3 AND status = 'pending'",
        )
        .bind("the subscription was deleted before this was delivered")
        .bind(millis(at))
        .bind(destination)
        .execute(&mut *tx)
        .await?;
        chain_entries(&mut tx, &mut head, None, audit, at).await?;
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Pauses (`paused`) or resumes delivery to `subscription`, with its audit records in the
    /// same transaction; whether that changed anything (pausing a paused one does not).
    pub async fn set_paused(
        &self,
        subscription: &str,
        paused: bool,
        by: &str,
        at: Timestamp,
        audit: &[AuditEntry],
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let mut head = AuditHead::lock(&mut tx).await?;
        let changed = if paused {
            sqlx::query(
                "INSERT INTO paused_subscriptions (subscription, paused_by, paused_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (subscription) DO NOTHING",
            )
            .bind(subscription)
            .bind(by)
            .bind(millis(at))
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query("DELETE FROM paused_subscriptions WHERE subscription = $1")
                .bind(subscription)
                .execute(&mut *tx)
                .await?
        }
        .rows_affected()
            > 0;
        if !changed {
            return Ok(false);
        }
        chain_entries(&mut tx, &mut head, None, audit, at).await?;
        head.store(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The paused subscriptions: `(subscription, paused by, paused at)`, by name.
    pub async fn paused_subscriptions(
        &self,
    ) -> Result<Vec<(String, String, Timestamp)>, StoreError> {
        let rows = sqlx::query(
            "SELECT subscription, paused_by, paused_at FROM paused_subscriptions ORDER BY subscription",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0)?,
                    row.try_get(1)?,
                    from_millis(row.try_get(2)?)?,
                ))
            })
            .collect()
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<StoredSubscription>, StoreError> {
        sqlx::query(select_subscriptions!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(stored)
            .transpose()
    }

    /// Every API subscription, oldest first.
    pub async fn all_subscriptions(&self) -> Result<Vec<StoredSubscription>, StoreError> {
        sqlx::query(select_subscriptions!("ORDER BY created_at, id"))
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(stored)
            .collect()
    }

    /// How many events have been sent to `subscription` (the number of its latest).
    pub async fn subscription_events(&self, subscription: &str) -> Result<u64, StoreError> {
        let count: Option<i64> =
            sqlx::query_scalar("SELECT events FROM subscription_events WHERE subscription = $1")
                .bind(subscription)
                .fetch_optional(&self.reader)
                .await?;
        Ok(count.unwrap_or(0) as u64)
    }
}
