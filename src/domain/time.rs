//! Time zone of the process: every legal deadline is reckoned in `Europe/Stockholm`.

use std::sync::LazyLock;

use jiff::tz::TimeZone;

static STOCKHOLM: LazyLock<TimeZone> = LazyLock::new(|| {
    // The time zone database is bundled into the binary, so this lookup cannot fail at run time;
    // a build without it would fall back to UTC+1 without DST, which tests would catch.
    TimeZone::get("Europe/Stockholm").unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(1)))
});

/// The `Europe/Stockholm` time zone.
pub fn stockholm() -> TimeZone {
    STOCKHOLM.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

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
