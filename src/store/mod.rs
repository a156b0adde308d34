//! Storage: the only module that touches the database. One `Store` over SQLite (embedded
//! default) or PostgreSQL (several gateway instances), both passing the same test suite.
//!
//! The modules are layered (`LAYERS`, top first): each uses only modules of the layers below
//! its own, never one beside or above it, so a change low down is understood without what
//! sits on it. A test reads the sources and holds them to it.
//!
//! - `connect` opens the store (pools, pragmas, migrations, readiness, footprint);
//! - `group_commit` is the committer task: concurrent commits in one transaction, SQLite's
//!   delivery bookkeeping riding in it, the audit records of reads;
//! - `commit` judges a batch in bulk on what is stored (duplicates, version conflicts), or
//!   change by change under savepoints should that fail; `write` writes the accepted changes
//!   with a few multi-row statements per table;
//! - the tables' own reads and writes: `outbox` and `timers` (claims with leases), `settle`
//!   (settlements), `retention`, `checkpoints`, `protection`, `resources`, `subscriptions`,
//!   `cases`, `consents`, `deviations`;
//! - `audit`, the hash chain every writer locks first;
//! - `records` (what the store answers) and `rows` (multi-row statements and scripts);
//! - `handle` (the `Store` and its pools), `sql` (backends, times, person columns), `error`.
//!
//! What a step hands in (`CaseCommit` and its parts) is `crate::changes`: the pipeline makes
//! it, the store only writes it.

mod audit;
mod cases;
mod checkpoints;
mod commit;
mod connect;
mod consents;
mod deviations;
mod error;
mod group_commit;
mod handle;
mod operations;
mod outbox;
mod protection;
mod records;
mod resources;
mod retention;
mod rows;
mod settle;
mod sql;
mod subscriptions;
mod timers;
mod write;

pub use audit::{AuditChainReport, AuditPoint, AuditProgress, AuditQuery, AuditRecord};
pub use commit::{AuditAppend, Batched, Booked, Bookkeeping};
pub use connect::CLAIM_SESSION;
pub use connect::{Footprint, Readiness};
pub use consents::{StoredConsent, registry_with, subject_key};
pub use deviations::{DeviationFilter, DeviationRow};
pub use error::StoreError;
pub use group_commit::GroupCommitter;
pub use handle::Store;
pub use operations::{DeviationState, Operations, QueueState};
pub use outbox::{DeliveryQuery, DeliveryRow, claim_statement};
pub use records::{CommitOutcome, OutboxItem, Prior, StoredCase, StoredEvent, TimerItem};
pub use resources::{ResourceWrite, ResourceWriteError, StoredResource};
pub use retention::Pruned;
pub use settle::Settlement;
pub use sql::Backend;
pub use subscriptions::StoredSubscription;
pub use timers::CaseTimer;

/// The store's modules by layer, top first: a module uses only modules of later layers.
#[cfg(test)]
const LAYERS: &[&[&str]] = &[
    &["connect"],
    &["group_commit"],
    &["commit"],
    &["write"],
    &[
        "outbox",
        "operations",
        "timers",
        "retention",
        "checkpoints",
        "protection",
        "resources",
        "subscriptions",
        "cases",
    ],
    &["consents", "deviations", "settle"],
    &["audit"],
    &["records", "rows"],
    &["handle"],
    &["sql"],
    &["error"],
];

#[cfg(test)]
mod tests {
    use super::LAYERS;

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|layer| layer.contains(&module))
    }

    /// Every module of `src/store/` is in `LAYERS`, and each `super::NAME` it writes names a
    /// module of a layer below its own.
    #[test]
    fn store_modules_use_only_the_layers_below_their_own() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
        let mut wrong = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("src/store") {
            let path = entry.expect("an entry").path();
            let Some(module) = path.file_stem().and_then(|m| m.to_str()) else {
                continue;
            };
            if module == "mod" {
                continue;
            }
            let Some(own) = layer_of(module) else {
                wrong.push(format!("{module} is in no layer"));
                continue;
            };
            let text = std::fs::read_to_string(&path).expect("a module's source");
            // Its own unit tests (`mod tests`, always last) may use anything.
            let code = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or(&text);
            for (at, _) in code.match_indices("super::") {
                let name: String = code[at + "super::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                match layer_of(&name) {
                    Some(used) if used > own => {}
                    Some(_) => wrong.push(format!("{module} uses {name}, not below it")),
                    None if name == "super" => {}
                    None => wrong.push(format!("{module} uses super::{name}, not a module")),
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
