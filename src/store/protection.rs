//! Protected identity as a property of the person (`protected_persons`): marked by any message
//! that says so, lifted only explicitly, each change audited in the same transaction.

use jiff::Timestamp;

use super::audit::{AuditHead, chain_entries};
use super::error::StoreError;
use super::handle::Store;
use super::sql::millis;
use super::sql::person_token;
use crate::changes::AuditEntry;
use crate::domain::identifiers::PersonId;

impl Store {
    /// Whether `person` is protected now (marked, and not lifted since).
    pub async fn person_protected(&self, person: &PersonId) -> Result<bool, StoreError> {
        let protected: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM protected_persons WHERE person = $1 AND lifted_at IS NULL",
        )
        .bind(person_token(person))
        .fetch_optional(&self.reader)
        .await?;
        Ok(protected.is_some())
    }

    /// Marks `person` protected from `at` (again, if it was lifted), with `audit`; answers
    /// whether this changed anything.
    pub async fn protect_person(
        &self,
        person: &PersonId,
        marked_by: &str,
        at: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let changed = sqlx::query(
            "INSERT INTO protected_persons (person, since, marked_by) VALUES ($1, $2, $3) \
             ON CONFLICT (person) DO UPDATE SET since = $2, marked_by = $3, lifted_at = NULL, \
             lifted_by = NULL WHERE protected_persons.lifted_at IS NOT NULL",
        )
        .bind(person_token(person))
        .bind(millis(at))
        .bind(marked_by)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if changed {
            let mut head = AuditHead::lock(&mut tx).await?;
            chain_entries(&mut tx, &mut head, None, std::slice::from_ref(audit), at).await?;
            head.store(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Lifts `person`'s protection (by `lifted_by`, at `at`), with `audit`; answers whether
    /// the person was protected.
    pub async fn lift_protection(
        &self,
        person: &PersonId,
        lifted_by: &str,
        at: Timestamp,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let lifted = sqlx::query(
            "UPDATE protected_persons SET lifted_at = $2, lifted_by = $3 \
             WHERE person = $1 AND lifted_at IS NULL",
        )
        .bind(person_token(person))
        .bind(millis(at))
        .bind(lifted_by)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if lifted {
            let mut head = AuditHead::lock(&mut tx).await?;
            chain_entries(&mut tx, &mut head, None, std::slice::from_ref(audit), at).await?;
            head.store(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(lifted)
    }
}
