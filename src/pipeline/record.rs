//! One way to record a step in a case, whatever brought it: a received message, a step made
//! through the API, a timer that fell due, a delivery that is late. `Steps::record_step` owns
//! the loop they share — read what is stored, make the step, decide its disclosures, commit,
//! and on a version conflict (another step of the case committed first) read again — and a
//! `StepSource` says only what differs between them.

use std::sync::Arc;

use crate::changes::{AuditEntry, CaseCommit};
use crate::clock::Clock;
use crate::config::Directory;
use crate::decide::route::{Routed, route};
use crate::delivery::Live;
use crate::domain::case::{CaseId, CoordinationCase, either_answers_for};
use crate::domain::consent::ConsentDirective;
use crate::domain::party::Party;
use crate::formats::canonical::CaseReference;
use crate::process;
use crate::store::{CommitOutcome, GroupCommitter, Store, StoreError, StoredCase, registry_with};

/// How many times a step is made again after another step of its case committed first.
const ATTEMPTS: usize = 5;

/// What the gateway has stored when a step is made: the case (none before its first step),
/// the person's consent directives kept outside it, and whether the person's identity is
/// protected.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub case: Option<StoredCase>,
    pub consents: Vec<ConsentDirective>,
    pub protected: bool,
}

impl Stored {
    /// The case as stored, rebuilt, and its version; `None` before its first step.
    pub fn case(&self) -> Result<Option<(CoordinationCase, u64)>, StoreError> {
        self.case
            .as_ref()
            .map(|stored| Ok((stored.to_case()?, stored.version)))
            .transpose()
    }

    /// The reference the stored case was opened under, or (for cases stored before
    /// references were kept) one in the gateway's own numbering.
    pub fn reference(&self) -> Option<CaseReference> {
        self.case.as_ref().map(StoredCase::reference_or_own)
    }
}

/// A step made on what is stored, ready to be routed and committed.
#[derive(Debug)]
pub struct Made {
    /// The case with the step (and what it causes) applied.
    pub case: CoordinationCase,
    /// The version it was made on.
    pub version: u64,
    /// The case reference its deliveries carry.
    pub reference: CaseReference,
    pub step: process::Step,
    /// The record of who recorded the step and why.
    pub audit: AuditEntry,
    /// Whom an invitation the gateway routed goes to (empty: whom it names).
    pub routed_to: Vec<Party>,
    /// The step itself marks the person protected (beyond what is stored).
    pub protects: bool,
}

/// What reading, or making, the step came to.
pub enum Attempt<T, D> {
    /// Go on with this.
    Go(T),
    /// Nothing to record: answer with this (a repeat, a timer that no longer applies).
    Answer(D),
}

/// What differs between the sources of steps. `Steps::record_step` calls `read`, then `make`,
/// routes the step, calls `complete`, commits, and answers with `committed` — or, after a
/// version conflict, reads and makes it again, at most `ATTEMPTS` times, then `busy`.
// Implemented only inside the gateway, by concrete sources whose futures' auto traits (`Send`)
// the compiler sees where they are spawned.
#[allow(async_fn_in_trait)]
pub trait StepSource {
    /// What recording the step answers.
    type Done;
    type Error: From<StoreError>;

    /// The case the step belongs to.
    fn case_id(&self) -> CaseId;

    /// What is stored for attempt `attempt` (0 the first): by default the case and then its
    /// person's directives and protection (nothing but an empty `Stored` when there is no
    /// case).
    async fn read(
        &mut self,
        steps: &Steps<'_>,
        attempt: usize,
    ) -> Result<Attempt<Stored, Self::Done>, Self::Error> {
        let _ = attempt;
        Ok(Attempt::Go(steps.read(self.case_id(), None).await?))
    }

    /// Makes the step on what is stored (or answers without one).
    async fn make(
        &mut self,
        steps: &Steps<'_>,
        stored: &Stored,
    ) -> Result<Attempt<Made, Self::Done>, Self::Error>;

    /// Adds what only this source writes, once the step is routed: its receipt, the timer it
    /// fires.
    fn complete(
        &mut self,
        made: &Made,
        routed: &Routed,
        commit: &mut CaseCommit,
    ) -> Result<(), Self::Error> {
        let _ = (made, routed, commit);
        Ok(())
    }

    /// The answer once the commit went through, or found the step received before.
    fn committed(&mut self, made: Made, outcome: CommitOutcome) -> Result<Self::Done, Self::Error>;

    /// The answer when other steps of the case kept committing first.
    fn busy(&mut self) -> Result<Self::Done, Self::Error>;

    /// The error when the store holds what the step records already, under another message.
    fn already_stored(&mut self, detail: String) -> Self::Error {
        StoreError::AlreadyStored(detail).into()
    }
}

/// What recording a step needs: where to read and commit, the organisations, the
/// subscriptions in force, the clock, and whom to wake when deliveries were written.
#[derive(Clone, Copy)]
pub struct Steps<'a> {
    pub store: &'a Store,
    /// The policies a step's own follow-on events (a deviation for what it could not reach)
    /// are made under: the one the step was.
    pub policies: &'a process::Policies,
    pub committer: &'a GroupCommitter,
    pub directory: &'a Arc<Directory>,
    pub subscriptions: &'a Live,
    pub clock: &'a Clock,
    pub outbox_ready: Option<&'a tokio::sync::Notify>,
    /// Told each case this process commits, so that the statistics' facts need not read it
    /// back (`StatsProjection::note`); without it they read it from the store.
    pub statistics: Option<&'a super::projection::StatsProjection>,
}

impl Steps<'_> {
    /// What is stored for `case_id`: the case, and its person's directives and protection.
    /// `person` is the person when known before the case is read (a new case's).
    pub async fn read(
        &self,
        case_id: CaseId,
        person: Option<&crate::domain::identifiers::PersonId>,
    ) -> Result<Stored, StoreError> {
        let case = self.store.load_case(case_id).await?;
        let Some(person) = person.or(case.as_ref().map(|c| &c.person)) else {
            return Ok(Stored::default());
        };
        Ok(Stored {
            consents: self.store.consents_for(person).await?,
            protected: self.store.person_protected(person).await?,
            case,
        })
    }

    /// Records the step `source` makes: see `StepSource`.
    pub async fn record_step<S: StepSource>(&self, source: &mut S) -> Result<S::Done, S::Error> {
        for attempt in 0..ATTEMPTS {
            let stored = match source.read(self, attempt).await? {
                Attempt::Go(stored) => stored,
                Attempt::Answer(done) => return Ok(done),
            };
            let mut made = match source.make(self, &stored).await? {
                Attempt::Go(made) => made,
                Attempt::Answer(done) => return Ok(done),
            };
            let now = self.clock.now();
            let consents = registry_with(&made.case, stored.consents);
            let protected = stored.protected || made.protects;
            let routed = self.route_step(&mut made, &consents, protected, now)?;
            let mut commit = CaseCommit::from_case(&made.case, made.version, now);
            if made.version == 0 {
                commit.reference = Some(made.reference.clone());
            }
            commit.timers = std::mem::take(&mut made.step.timers);
            commit.cancel_timers = std::mem::take(&mut made.step.cancel);
            commit.audit.push(made.audit.clone());
            source.complete(&made, &routed, &mut commit)?;
            commit.audit.extend(routed.audit);
            commit.outbox = routed.outbox;
            let deliveries = !commit.outbox.is_empty();
            match self.committer.commit(commit).await {
                Ok(outcome) => {
                    if let (CommitOutcome::Committed { .. }, Some(statistics)) =
                        (&outcome, self.statistics)
                    {
                        statistics.note(&made.case);
                    }
                    if deliveries
                        && matches!(outcome, CommitOutcome::Committed { .. })
                        && let Some(ready) = self.outbox_ready
                    {
                        ready.notify_one();
                    }
                    return source.committed(made, outcome);
                }
                // Another step of the case was committed first: read it and make this again.
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(StoreError::AlreadyStored(detail)) => return Err(source.already_stored(detail)),
                Err(error) => return Err(error.into()),
            }
        }
        source.busy()
    }

    /// Decides the disclosures of the step's new events, and what they mean for the step:
    /// a clock that waits for a party starts only if the event that starts it reached that
    /// party, and a step withheld from a party it must reach raises a deviation to its sender
    /// (`process::deviations::not_delivered`), routed and committed with it.
    fn route_step(
        &self,
        made: &mut Made,
        consents: &[ConsentDirective],
        protected: bool,
        now: jiff::Timestamp,
    ) -> Result<Routed, StoreError> {
        let subscriptions = self.subscriptions.current();
        let route_from = |made: &Made, from: usize| {
            route(
                &made.case,
                &made.reference,
                made.case.events().get(from..).unwrap_or_default(),
                consents,
                self.directory,
                &subscriptions,
                &made.routed_to,
                now,
                protected,
            )
        };
        let new_from = made.version as usize;
        let mut routed = route_from(made, new_from)?;
        let directory = self.directory.as_ref();
        // The new events, each with its sender: a clock for the sender itself (an agreement's
        // clock answers to the party that started it) needs no disclosure to it.
        let new_events: Vec<_> = made.case.events()[new_from.min(made.case.events().len())..]
            .iter()
            .map(|event| (event.id, event.source.sender.clone()))
            .collect();
        made.step.timers =
            process::clocks::for_reached(std::mem::take(&mut made.step.timers), |event, party| {
                match new_events.iter().find(|(id, _)| *id == event) {
                    None => true,
                    Some((_, Some(sender))) if either_answers_for(sender, party) => true,
                    Some(_) => routed.reached(event, party, &made.routed_to, directory),
                }
            });
        let raised: Vec<_> = made.case.events()[new_from.min(made.case.events().len())..]
            .iter()
            .filter_map(|event| {
                let missed: Vec<(Party, String)> =
                    process::deviations::must_reach(&made.case, event)
                        .into_iter()
                        .filter(|party| {
                            !routed.reached(event.id, party, &made.routed_to, directory)
                        })
                        .filter_map(|party| {
                            let reason = routed
                                .withheld_because(event.id, &party, &made.routed_to, directory)?
                                .to_owned();
                            Some((party, reason))
                        })
                        .collect();
                process::deviations::not_delivered(event, &missed)
            })
            .collect();
        if raised.is_empty() {
            return Ok(routed);
        }
        let policy = self
            .policies
            .for_rule(made.step.policy.as_deref().unwrap_or_default());
        let choose = |_: &CoordinationCase| policy;
        let context = process::Context {
            policy: &choose,
            directory,
        };
        let before = made.case.events().len();
        for deviation in raised {
            let id = deviation.id;
            match process::advance(&mut made.case, deviation, now, context) {
                Ok(step) => {
                    made.step.follow_on.push(id);
                    made.step.follow_on.extend(step.follow_on);
                    made.step.timers.extend(step.timers);
                    made.step.cancel.extend(step.cancel);
                }
                // Raised before (the same step made again after a conflict): nothing to add.
                Err(error) => {
                    tracing::debug!(%error, "a deviation for a withheld step was not added")
                }
            }
        }
        routed.extend(route_from(made, before)?);
        Ok(routed)
    }
}
