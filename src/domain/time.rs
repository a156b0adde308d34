//! Time zone of the process: every legal deadline is reckoned in `Europe/Stockholm`.

use std::sync::LazyLock;

use jiff::tz::{AmbiguousOffset, TimeZone};

static STOCKHOLM: LazyLock<TimeZone> = LazyLock::new(|| {
    // The time zone database is bundled into the binary, so this lookup cannot fail at run time;
    // a build without it would fall back to UTC+1 without DST, which tests would catch.
    TimeZone::get("Europe/Stockholm").unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(1)))
});

/// The `Europe/Stockholm` time zone.
pub fn stockholm() -> TimeZone {
    STOCKHOLM.clone()
}

/// The local (Stockholm) date of an instant.
pub fn local_date(at: jiff::Timestamp) -> jiff::civil::Date {
    at.to_zoned_datetime(stockholm()).date()
}

/// The instant a local date begins (00:00 in Stockholm; DST changes happen at 02:00/03:00, so
/// midnight always exists).
pub fn start_of(d: jiff::civil::Date) -> jiff::Timestamp {
    d.to_datetime(jiff::civil::Time::midnight())
        .to_zoned_datetime(stockholm())
        .map(|z| z.timestamp())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The instant a local date ends: the start of the next day.
pub fn end_of(d: jiff::civil::Date) -> jiff::Timestamp {
    start_of(d.tomorrow().unwrap_or(d))
}

/// A Swedish wall-clock time read as an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub at: jiff::Timestamp,
    /// The wall clock shows this time twice (the autumn night the clocks go back from 03:00 to
    /// 02:00): `at` is the first, in summer time. Worth a warning to the sender.
    pub twice: bool,
}

/// What a sender can do about a time the clocks skip or show twice: give its offset, where
/// the format carries one, or nothing the format can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offsets {
    /// The format may carry an offset (`2026-03-29T03:30:00+02:00`).
    Allowed,
    /// The layout has none (a municipal dialect's `%Y%m%d %H:%M`).
    NotInLayout,
}

/// Reads a wall-clock time in `Europe/Stockholm`. A time that never shows (the spring night
/// the clocks move from 02:00 to 03:00) is refused: which instant the sender meant cannot be
/// known. A time that shows twice is taken as its first occurrence, and says so (`twice`).
pub fn swedish_local(local: jiff::civil::DateTime) -> Result<LocalTime, String> {
    swedish_local_in(local, Offsets::Allowed)
}

/// As [`swedish_local`], for a format that may or may not carry an offset: the error says
/// what the sender can do in it.
pub fn swedish_local_in(
    local: jiff::civil::DateTime,
    offsets: Offsets,
) -> Result<LocalTime, String> {
    let ambiguous = STOCKHOLM.to_ambiguous_timestamp(local);
    let (twice, offset) = match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => (false, offset),
        AmbiguousOffset::Gap { before, after } => {
            let hint = match offsets {
                Offsets::Allowed => "give the time with its offset",
                Offsets::NotInLayout => {
                    "no clock in Sweden showed it, so the sending system has to correct it"
                }
            };
            return Err(format!(
                "{local} does not exist in Swedish time: the clocks move forward an hour that \
                 night (from {before} to {after}); {hint}"
            ));
        }
        AmbiguousOffset::Fold { before, .. } => (true, before),
    };
    offset
        .to_timestamp(local)
        .map(|at| LocalTime { at, twice })
        .map_err(|e| format!("{local} is not a time in Europe/Stockholm: {e}"))
}

/// The warning for a wall-clock time the clocks show twice, read as its first occurrence.
pub fn twice_warning(where_: &str, local: jiff::civil::DateTime, offsets: Offsets) -> String {
    let hint = match offsets {
        Offsets::Allowed => " — give the time with its offset to mean the second",
        Offsets::NotInLayout => " — the layout carries no offset to tell the second",
    };
    format!(
        "{where_}: {local} shows twice in Swedish time (the night the clocks go back); read as \
         the first, in summer time (+02:00){hint}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_the_clocks_skip_is_refused_and_one_they_show_twice_is_the_first() {
        let local = |s: &str| s.parse::<jiff::civil::DateTime>().unwrap();
        // 29 March 2026: 02:00 becomes 03:00.
        let error = swedish_local(local("2026-03-29T02:30:00")).unwrap_err();
        assert!(error.contains("does not exist in Swedish time"), "{error}");
        assert!(error.contains("from +01 to +02"), "{error}");
        assert!(error.contains("give the time with its offset"), "{error}");
        // A layout without an offset: no advice the sender cannot follow.
        let error =
            swedish_local_in(local("2026-03-29T02:30:00"), Offsets::NotInLayout).unwrap_err();
        assert!(error.contains("does not exist in Swedish time"), "{error}");
        assert!(!error.contains("offset"), "{error}");
        let warning = twice_warning("Tid", local("2026-10-25T02:30:00"), Offsets::NotInLayout);
        assert!(!warning.contains("give the time"), "{warning}");
        // 25 October 2026: 03:00 becomes 02:00 again; 02:30 is first 00:30Z, then 01:30Z.
        let twice = swedish_local(local("2026-10-25T02:30:00")).unwrap();
        assert!(twice.twice);
        assert_eq!(twice.at.to_string(), "2026-10-25T00:30:00Z");
        // Either side of the nights: one instant, no warning.
        for (text, utc) in [
            ("2026-03-29T01:59:59", "2026-03-29T00:59:59Z"),
            ("2026-03-29T03:00:00", "2026-03-29T01:00:00Z"),
            ("2026-10-25T03:00:00", "2026-10-25T02:00:00Z"),
            ("2026-10-25T01:59:59", "2026-10-24T23:59:59Z"),
        ] {
            let read = swedish_local(local(text)).unwrap();
            assert!(!read.twice, "{text}");
            assert_eq!(read.at.to_string(), utc, "{text}");
        }
    }

    #[test]
    fn stockholm_observes_summer_time() {
        let winter: jiff::Timestamp = "2026-01-15T12:00:00Z".parse().unwrap();
        let summer: jiff::Timestamp = "2026-07-15T12:00:00Z".parse().unwrap();
        assert_eq!(
            winter.to_zoned_datetime(stockholm()).offset(),
            jiff::tz::offset(1)
        );
        assert_eq!(
            summer.to_zoned_datetime(stockholm()).offset(),
            jiff::tz::offset(2)
        );
    }
}
