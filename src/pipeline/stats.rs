//! Follow-up statistics for a period: the facts (`projection`) of the cases with events in it
//! (and in the month before, for readmissions), counted by `process::stats`, released to the
//! reader's scope.

use jiff::civil::Date;

use super::projection::{Held, StatsProjection};
use crate::process::calendar::start_of;
use crate::process::stats::facts::{CaseFacts, UnitId};
use crate::process::stats::{Stats, compute_facts};

/// Why statistics could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("the period is empty: from {from} is not before to {to}")]
    EmptyPeriod { from: Date, to: Date },
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the pseudonym key cannot be used: {0}")]
    Key(String),
}

/// The statistics of `[from, to)` over every case, from the store (`brygga replay`'s figures).
pub async fn for_period(
    store: &crate::store::Store,
    from: Date,
    to: Date,
) -> Result<Stats, StatsError> {
    let projection = StatsProjection::new();
    let held = projection.current(store).await?;
    let cases = window(&held, from, to, |_| true)?;
    Ok(compute_facts(held.units(), &cases, from, to))
}

/// The facts `counted` keeps of the cases with events in `[from, to)` and in the 31 days before
/// (for readmissions).
fn window(
    held: &Held,
    from: Date,
    to: Date,
    counted: impl Fn(&CaseFacts) -> bool,
) -> Result<Vec<&CaseFacts>, StatsError> {
    if from >= to {
        return Err(StatsError::EmptyPeriod { from, to });
    }
    let lookback = start_of(from)
        .checked_sub(jiff::SignedDuration::from_hours(31 * 24))
        .unwrap_or(start_of(from));
    let end = start_of(to);
    Ok(held
        .cases()
        .filter(|case| case.happened_between(lookback, end) && counted(case))
        .collect())
}

/// Whose statistics a reader sees: the county's (every unit, figures about fewer than
/// `suppress_below` suppressed) or one organisation's own units, over the cases it takes part
/// in.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    County { suppress_below: u64 },
    Organisation(&'a crate::domain::party::Organisation),
}

/// The statistics of `[from, to)` as released to a reader of `scope`: what `/stats`, the
/// console's charts and `brygga stats` all answer.
pub async fn release(
    projection: &StatsProjection,
    store: &crate::store::Store,
    directory: &crate::config::Directory,
    scope: Scope<'_>,
    from: Date,
    to: Date,
) -> Result<crate::process::stats::Release, StatsError> {
    let (mut monthly, _) = releases(projection, store, directory, scope, &[(from, to)]).await?;
    Ok(monthly.remove(0))
}

/// The statistics of each period of `periods` (consecutive, in order) and of all of them
/// together, as released to a reader of `scope`, from the cases' facts caught up once.
pub async fn releases(
    projection: &StatsProjection,
    store: &crate::store::Store,
    directory: &crate::config::Directory,
    scope: Scope<'_>,
    periods: &[(Date, Date)],
) -> Result<
    (
        Vec<crate::process::stats::Release>,
        crate::process::stats::Release,
    ),
    StatsError,
> {
    use crate::process::stats::{Release, belongs_to};
    let (Some((from, _)), Some((_, to))) = (periods.first(), periods.last()) else {
        return Err(StatsError::EmptyPeriod {
            from: Date::default(),
            to: Date::default(),
        });
    };
    let (from, to) = (*from, *to);
    if periods.iter().any(|(a, b)| a >= b) {
        return Err(StatsError::EmptyPeriod { from, to });
    }
    let held = projection.current(store).await?;
    // An organisation counts the cases it takes part in: those naming one of its units (a
    // municipality of the case, or a unit of the region).
    let ours: Vec<bool> = match scope {
        Scope::County { .. } => Vec::new(),
        Scope::Organisation(organisation) => (0..held.units().len() as UnitId)
            .map(|unit| belongs_to(held.units().unit(unit), organisation, directory))
            .collect(),
    };
    let cases = window(&held, from, to, |case| match scope {
        Scope::County { .. } => true,
        Scope::Organisation(_) => case
            .municipalities
            .iter()
            .chain(case.region_units.iter())
            .any(|unit| ours[*unit as usize]),
    })?;
    let released = |stats| match scope {
        Scope::County { suppress_below } => Release::county(stats, suppress_below),
        Scope::Organisation(organisation) => {
            Release::organisation(stats, |unit| belongs_to(unit, organisation, directory))
        }
    };
    let each = periods
        .iter()
        .map(|(a, b)| released(compute_facts(held.units(), &cases, *a, *b)))
        .collect();
    Ok((
        each,
        released(compute_facts(held.units(), &cases, from, to)),
    ))
}

/// The deviations raised in `[from, to)` de-identified for the county forums
/// (`process::stats::forum`), each case and deviation named by a keyed pseudonym: the first 20
/// hex digits of HMAC-SHA256 under `key`.
pub async fn forum_for_period(
    store: &crate::store::Store,
    from: Date,
    to: Date,
    key: &[u8],
) -> Result<Vec<crate::process::stats::forum::ForumRow>, StatsError> {
    use hmac::{KeyInit, Mac};
    if from >= to {
        return Err(StatsError::EmptyPeriod { from, to });
    }
    let cases = store
        .cases_with_events_between_loaded(start_of(from), start_of(to))
        .await?
        .into_iter()
        .map(|stored| stored.to_case())
        .collect::<Result<Vec<_>, _>>()?;
    // Keyed once; each pseudonym continues from a copy. (HMAC takes a key of any length.)
    let keyed = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .map_err(|e| StatsError::Key(e.to_string()))?;
    let pseudonym = |text: &str| -> String {
        let mut mac = keyed.clone();
        mac.update(text.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..10])
    };
    Ok(crate::process::stats::forum::forum_rows(
        &cases, from, to, &pseudonym,
    ))
}
