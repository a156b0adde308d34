//! The audit log's signed checkpoints (`crate::anchor`) as stored, and the facts of the chain
//! a checkpoint is judged against.

use sqlx::Row;

use super::error::StoreError;
use super::handle::Store;
use super::sql::millis;
use crate::anchor::{ChainNow, Checkpoint};

impl Store {
    /// The chain's head and where its kept records begin: `((head seq, head hash), (anchor
    /// seq, anchor hash))`, read together.
    pub async fn audit_head_and_anchor(
        &self,
    ) -> Result<((u64, String), (u64, String)), StoreError> {
        let mut tx = self.reader.begin().await?;
        if self.backend() == super::sql::Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let anchor = sqlx::query("SELECT seq, hash FROM audit_anchor WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((
            (head.try_get::<i64, _>(0)? as u64, head.try_get(1)?),
            (anchor.try_get::<i64, _>(0)? as u64, anchor.try_get(1)?),
        ))
    }

    /// What the store holds now, as `checkpoint` asks it.
    pub async fn chain_now(&self, checkpoint: &Checkpoint) -> Result<ChainNow, StoreError> {
        let ((head_seq, _), (anchor_seq, anchor_hash)) = self.audit_head_and_anchor().await?;
        let hash_at_checkpoint: Option<String> =
            sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
                .bind(checkpoint.head_seq as i64)
                .fetch_optional(&self.reader)
                .await?;
        Ok(ChainNow {
            head_seq,
            anchor_seq,
            anchor_hash,
            hash_at_checkpoint,
        })
    }

    /// Keeps a checkpoint (one per head; a second of the same head changes nothing).
    pub async fn record_checkpoint(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let text =
            serde_json::to_string(checkpoint).map_err(|e| StoreError::decode("checkpoint", e))?;
        sqlx::query(
            "INSERT INTO audit_checkpoints (head_seq, made_at, checkpoint) VALUES ($1, $2, $3) \
             ON CONFLICT (head_seq) DO NOTHING",
        )
        .bind(checkpoint.head_seq as i64)
        .bind(millis(checkpoint.made_at))
        .bind(text)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The checkpoints kept, newest first (at most `limit`). Those that do not read are left
    /// out: each is verified by whoever relies on it.
    pub async fn checkpoints(&self, limit: u32) -> Result<Vec<Checkpoint>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT checkpoint FROM audit_checkpoints ORDER BY head_seq DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|text| serde_json::from_str(text).ok())
            .collect())
    }
}
