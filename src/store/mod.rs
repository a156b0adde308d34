//! Storage: the only module that touches the database. One `Store` over SQLite (embedded
//! default) or PostgreSQL (several gateway instances), both passing the same test suite.

mod audit;
mod cases;
mod checkpoints;
mod commit;
mod connect;
mod consents;
mod deviations;
mod error;
mod group_commit;
mod outbox;
mod protection;
mod records;
mod resources;
mod retention;
mod rows;
mod subscriptions;
mod timers;

pub use audit::{AuditChainReport, AuditQuery, AuditRecord};
pub use commit::{AuditAppend, Batched, Booked, Bookkeeping};
pub use connect::CLAIM_SESSION;
pub use connect::{Backend, Footprint, Readiness, Store};
pub use consents::{StoredConsent, registry_with, subject_key};
pub use deviations::{DeviationFilter, DeviationRow};
pub use error::StoreError;
pub use group_commit::GroupCommitter;
pub use outbox::{DeliveryQuery, DeliveryRow, Settlement, claim_statement};
pub use records::{
    Acknowledged, AuditEntry, CaseCommit, CommitOutcome, OutboxEntry, OutboxItem, Prior,
    ReceivedMessage, StoredCase, StoredEvent, TimerEntry, TimerItem,
};
pub use resources::{ResourceWrite, ResourceWriteError, StoredResource};
pub use retention::Pruned;
pub use subscriptions::StoredSubscription;
