//! Steps held in a paused subscription as their deadlines near: a pause must not keep a step
//! from its recipient in silence. The worker looks at the rows written to each paused
//! subscription (each row once, by row id) and keeps those whose step has a deadline; when one
//! comes within the deadline warning (or is past it), it raises the same deviation a delivery
//! still failing then raises (`late.rs`), saying that the subscription is paused — once per
//! delivery, the deviation's id derived from the delivery on every instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::worker::{Deliverer, Payload};
use crate::domain::party::Party;
use crate::formats::translate;
use crate::store::OutboxItem;

/// How often the paused subscriptions' rows are looked at.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// How many rows one read takes.
const PAGE: u32 = 500;

/// What the deviation says was the trouble.
const PAUSED: &str = "the subscription is paused";

/// A row held in a paused subscription whose step has a deadline.
#[derive(Debug, Clone)]
struct HeldRow {
    deadline: Timestamp,
    recipient: Party,
    /// The row, without its payload.
    item: OutboxItem,
}

/// Per paused subscription: the last row looked at, and the held rows with deadlines not yet
/// warned of.
#[derive(Debug, Default)]
struct Looked {
    after: i64,
    rows: Vec<HeldRow>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    by_subscription: HashMap<String, Looked>,
}

/// The rows this instance has looked at in paused subscriptions.
#[derive(Debug, Clone, Default)]
pub struct Held(Arc<Mutex<State>>);

impl Held {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Each change leaves the state whole: nothing is half-changed by a panic.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether it is time to look again (and, if so, notes that it is being done).
    fn time_to_look(&self) -> bool {
        let mut state = self.state();
        if state.last.is_some_and(|at| at.elapsed() < LOOK_EVERY) {
            return false;
        }
        state.last = Some(Instant::now());
        true
    }
}

impl Deliverer {
    /// Raises the deviation of each step held in a paused subscription whose deadline is within
    /// the deadline warning or past; looks at most once a second.
    pub(super) async fn watch_paused(&self) {
        if !self.held.time_to_look() {
            return;
        }
        let paused = self.paused.names(&self.store).await;
        // A resumed subscription's rows go as any other; if it is paused again, its rows are
        // looked at again from the first.
        self.held
            .state()
            .by_subscription
            .retain(|name, _| paused.contains(name));
        for subscription in &paused {
            if let Err(error) = self.look_at(subscription).await {
                tracing::error!(%subscription, %error, "the rows of a paused subscription could not be read");
            }
        }
        let now = self.clock.now();
        let warned_from = now.saturating_add(self.deadline_warning).unwrap_or(now);
        let due: Vec<HeldRow> = {
            let mut state = self.held.state();
            let mut due = Vec::new();
            for looked in state.by_subscription.values_mut() {
                let (now_due, later) = std::mem::take(&mut looked.rows)
                    .into_iter()
                    .partition(|row| row.deadline <= warned_from);
                looked.rows = later;
                due.extend::<Vec<HeldRow>>(now_due);
            }
            due
        };
        for row in due {
            self.warn_held(row).await;
        }
    }

    /// Reads the rows written to `subscription` since the last look, keeping those whose
    /// step has a deadline.
    async fn look_at(&self, subscription: &str) -> Result<(), crate::store::StoreError> {
        loop {
            let after = self
                .held
                .state()
                .by_subscription
                .get(subscription)
                .map_or(0, |looked| looked.after);
            let page = self
                .store
                .pending_outbox_after(subscription, after, PAGE)
                .await?;
            let mut kept = Vec::new();
            for mut item in page.iter().cloned() {
                let Ok(payload) = serde_json::from_str::<Payload>(&item.payload) else {
                    // The worker dead-letters an unreadable row when it claims it.
                    continue;
                };
                if let Some(deadline) = translate::step_deadline(&payload.message, &self.mappings) {
                    item.payload = String::new();
                    kept.push(HeldRow {
                        deadline,
                        recipient: payload.disclosure.recipient,
                        item,
                    });
                }
            }
            let mut state = self.held.state();
            let looked = state
                .by_subscription
                .entry(subscription.to_owned())
                .or_default();
            if let Some(last) = page.last() {
                looked.after = last.id;
            }
            looked.rows.extend(kept);
            if page.len() < PAGE as usize {
                return Ok(());
            }
        }
    }

    /// Raises the deviation for `row`, if it is still held and none was raised for it.
    async fn warn_held(&self, row: HeldRow) {
        let item = &row.item;
        if self.late.contains(item.idempotency_key.as_str()) {
            return;
        }
        // Delivered or dead-lettered meanwhile (resumed and paused again): nothing to say.
        match self.store.delivery(item.id).await {
            Ok(Some(stored)) if stored.status == "pending" => {}
            Ok(_) => return,
            Err(error) => {
                tracing::error!(outbox_id = item.id, %error, "a held delivery could not be read; looking again");
                self.keep(row);
                return;
            }
        }
        let late = crate::process::deviations::LateDelivery {
            key: item.idempotency_key.as_str(),
            subscription: &item.destination,
            recipient: row.recipient.clone(),
            attempts: item.attempts,
            last_error: PAUSED,
            deadline: Some(row.deadline),
            dead: false,
            paused: true,
            at: self.clock.now(),
        };
        match self.raise_late(item, &late).await {
            Ok(()) => self.late.insert(item.idempotency_key.as_str()),
            Err(error) => {
                tracing::error!(case_id = %item.case_id, event_id = %item.event_id, %error, "the deviation for a held delivery could not be recorded; trying again");
                self.keep(row);
            }
        }
    }

    /// Puts `row` back, to be warned of at the next look.
    fn keep(&self, row: HeldRow) {
        let mut state = self.held.state();
        if let Some(looked) = state.by_subscription.get_mut(&row.item.destination) {
            looked.rows.push(row);
        }
    }
}
