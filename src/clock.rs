//! The gateway's clock. Production reads the system time; tests and replays use a manual clock
//! they move themselves, so deadlines and dates never depend on when a test runs.

use std::sync::{Arc, Mutex};

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::domain::time::stockholm;

#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that only moves when told to.
    Manual(Arc<Mutex<Timestamp>>),
}

impl Clock {
    /// A manual clock standing at `at`.
    pub fn manual(at: Timestamp) -> Clock {
        Clock::Manual(Arc::new(Mutex::new(at)))
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Manual(at) => *at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }

    /// Today's date in Sweden.
    pub fn today(&self) -> Date {
        self.now().to_zoned_datetime(stockholm()).date()
    }

    /// Moves a manual clock forward (or back); the system clock ignores it.
    pub fn advance(&self, by: SignedDuration) {
        if let Clock::Manual(at) = self {
            let mut at = at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *at = at.saturating_add(by).unwrap_or(*at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = Clock::manual("2026-11-23T22:30:00Z".parse().unwrap());
        assert_eq!(clock.today(), jiff::civil::date(2026, 11, 23));
        clock.advance(SignedDuration::from_hours(1));
        // 23:30 UTC is 00:30 the next day in Stockholm.
        assert_eq!(clock.today(), jiff::civil::date(2026, 11, 24));
        assert_eq!(clock.now(), "2026-11-23T23:30:00Z".parse().unwrap());
    }
}
