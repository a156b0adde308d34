//! The Swedish calendar for deadlines: public holidays (Lag (1989:253) om allmänna
//! helgdagar), working days, and local days in `Europe/Stockholm`.

use jiff::civil::{Date, Weekday, date};

/// Easter Sunday of `year` (Gregorian; the anonymous algorithm of Meeus, Jones and Butcher).
pub fn easter_sunday(year: i16) -> Date {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    // month is 3 or 4 and day 1..=31 by construction.
    date(year, month as i8, day as i8)
}

/// The first `weekday` on or after `from`.
fn first_on_or_after(from: Date, weekday: Weekday) -> Date {
    let ahead =
        (weekday.to_monday_zero_offset() - from.weekday().to_monday_zero_offset()).rem_euclid(7);
    from.checked_add(jiff::Span::new().days(i64::from(ahead)))
        .unwrap_or(from)
}

/// `d` moved `days` days (kept at `d` past the calendar's end).
pub fn plus_days(d: Date, days: i64) -> Date {
    d.checked_add(jiff::Span::new().days(days)).unwrap_or(d)
}

/// The public holidays (allmänna helgdagar) of `year` with their Swedish names, in date order.
/// Sundays are holidays too (see [`Calendar::is_working_day`]); the Sunday holidays (Easter
/// Day, Whitsun) are listed for completeness.
pub fn public_holidays(year: i16) -> Vec<(Date, &'static str)> {
    let easter = easter_sunday(year);
    let mut days = vec![
        (date(year, 1, 1), "Nyårsdagen"),
        (date(year, 1, 6), "Trettondedag jul"),
        (plus_days(easter, -2), "Långfredagen"),
        (easter, "Påskdagen"),
        (plus_days(easter, 1), "Annandag påsk"),
        (date(year, 5, 1), "Första maj"),
        (plus_days(easter, 39), "Kristi himmelsfärdsdag"),
        (plus_days(easter, 49), "Pingstdagen"),
        (date(year, 6, 6), "Sveriges nationaldag"),
        (
            first_on_or_after(date(year, 6, 20), Weekday::Saturday),
            "Midsommardagen",
        ),
        (
            first_on_or_after(date(year, 10, 31), Weekday::Saturday),
            "Alla helgons dag",
        ),
        (date(year, 12, 25), "Juldagen"),
        (date(year, 12, 26), "Annandag jul"),
    ];
    days.sort();
    days
}

/// The eves that are free days in practice (and in many agreements): Midsummer Eve, Christmas
/// Eve and New Year's Eve.
pub fn eves(year: i16) -> [(Date, &'static str); 3] {
    [
        (
            first_on_or_after(date(year, 6, 19), Weekday::Friday),
            "Midsommarafton",
        ),
        (date(year, 12, 24), "Julafton"),
        (date(year, 12, 31), "Nyårsafton"),
    ]
}

/// Whether `d` is a public holiday (without building the year's list: deadline arithmetic
/// asks this for every day it counts).
pub fn is_public_holiday(d: Date) -> bool {
    let (month, day) = (d.month(), d.day());
    let fixed = matches!(
        (month, day),
        (1, 1) | (1, 6) | (5, 1) | (6, 6) | (12, 25) | (12, 26)
    );
    if fixed {
        return true;
    }
    let saturday = d.weekday() == Weekday::Saturday;
    // Midsummer Day: the Saturday 20–26 June; All Saints' Day: the Saturday 31 October–6 November.
    if saturday
        && ((month == 6 && (20..=26).contains(&day))
            || (month == 10 && day == 31)
            || (month == 11 && day <= 6))
    {
        return true;
    }
    if !(3..=6).contains(&month) {
        return false;
    }
    let from_easter = (d - easter_sunday(d.year())).get_days();
    matches!(from_easter, -2 | 0 | 1 | 39 | 49)
}

/// Which days count as working days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Calendar {
    /// Midsummer Eve, Christmas Eve and New Year's Eve are not working days.
    pub eves_are_holidays: bool,
}

impl Calendar {
    /// Monday to Friday, not a public holiday (nor an eve, when so configured).
    pub fn is_working_day(&self, d: Date) -> bool {
        if matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            return false;
        }
        if is_public_holiday(d) {
            return false;
        }
        !(self.eves_are_holidays && eves(d.year()).iter().any(|(h, _)| *h == d))
    }

    /// `d` if it is a working day, else the next working day.
    pub fn working_day_on_or_after(&self, d: Date) -> Date {
        let mut day = d;
        // At most a long weekend plus holidays: bounded well below 14.
        for _ in 0..14 {
            if self.is_working_day(day) {
                return day;
            }
            day = plus_days(day, 1);
        }
        day
    }

    /// The day a deadline falling on `d` moves to by Lag (1930:173) om beräkning av
    /// lagstadgad tid, 2 §: off a Saturday, a Sunday, a public holiday, Midsummer Eve,
    /// Christmas Eve and New Year's Eve, to the next day that is none of them — whether or not
    /// the policy counts eves as working days.
    pub fn deadline_day_on_or_after(d: Date) -> Date {
        Calendar {
            eves_are_holidays: true,
        }
        .working_day_on_or_after(d)
    }

    /// The `n`-th day after `from` (so `n = 0` is `from`), counting every day or, when
    /// `working_only`, working days only.
    pub fn nth_day_after(&self, from: Date, n: u32, working_only: bool) -> Date {
        if !working_only {
            return plus_days(from, i64::from(n));
        }
        let mut day = from;
        let mut counted = 0;
        while counted < n {
            day = plus_days(day, 1);
            if self.is_working_day(day) {
                counted += 1;
            }
        }
        day
    }
}

pub use crate::domain::time::{end_of, local_date, start_of};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_falls_on_the_published_dates() {
        for (year, month, day) in [
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2038, 4, 25),
        ] {
            assert_eq!(easter_sunday(year), date(year, month, day), "{year}");
        }
    }

    #[test]
    fn the_public_holidays_of_2026_are_those_of_the_almanac() {
        let days: Vec<String> = public_holidays(2026)
            .iter()
            .map(|(d, name)| format!("{d} {name}"))
            .collect();
        assert_eq!(
            days,
            [
                "2026-01-01 Nyårsdagen",
                "2026-01-06 Trettondedag jul",
                "2026-04-03 Långfredagen",
                "2026-04-05 Påskdagen",
                "2026-04-06 Annandag påsk",
                "2026-05-01 Första maj",
                "2026-05-14 Kristi himmelsfärdsdag",
                "2026-05-24 Pingstdagen",
                "2026-06-06 Sveriges nationaldag",
                "2026-06-20 Midsommardagen",
                "2026-10-31 Alla helgons dag",
                "2026-12-25 Juldagen",
                "2026-12-26 Annandag jul",
            ]
        );
    }

    #[test]
    fn moving_holidays_in_other_years() {
        let find = |year: i16, name: &str| {
            public_holidays(year)
                .into_iter()
                .find(|(_, n)| *n == name)
                .unwrap()
                .0
        };
        assert_eq!(find(2025, "Midsommardagen"), date(2025, 6, 21));
        assert_eq!(find(2027, "Midsommardagen"), date(2027, 6, 26));
        assert_eq!(find(2025, "Alla helgons dag"), date(2025, 11, 1));
        assert_eq!(find(2027, "Alla helgons dag"), date(2027, 11, 6));
        assert_eq!(find(2025, "Kristi himmelsfärdsdag"), date(2025, 5, 29));
        assert_eq!(find(2027, "Långfredagen"), date(2027, 3, 26));
        assert_eq!(eves(2026)[0].0, date(2026, 6, 19));
        assert_eq!(eves(2027)[0].0, date(2027, 6, 25));
    }

    #[test]
    fn the_quick_holiday_test_agrees_with_the_list_for_every_day_of_many_years() {
        for year in 2020..=2040 {
            let holidays = public_holidays(year);
            let mut day = date(year, 1, 1);
            while day.year() == year {
                assert_eq!(
                    is_public_holiday(day),
                    holidays.iter().any(|(h, _)| *h == day),
                    "{day}"
                );
                day = plus_days(day, 1);
            }
        }
    }

    #[test]
    fn working_days_skip_weekends_holidays_and_optionally_eves() {
        let plain = Calendar::default();
        let eves = Calendar {
            eves_are_holidays: true,
        };
        // Thursday before Easter 2026 → next working day after it is the Tuesday.
        assert_eq!(
            plain.nth_day_after(date(2026, 4, 2), 1, true),
            date(2026, 4, 7)
        );
        assert!(plain.is_working_day(date(2026, 12, 24)));
        assert!(!eves.is_working_day(date(2026, 12, 24)));
        // Christmas 2026: Thu 24 (eve), Fri 25, Sat, Sun, Mon 28 is the next working day.
        assert_eq!(
            eves.working_day_on_or_after(date(2026, 12, 24)),
            date(2026, 12, 28)
        );
        assert_eq!(
            plain.nth_day_after(date(2026, 11, 27), 3, false),
            date(2026, 11, 30)
        );
        assert_eq!(
            plain.nth_day_after(date(2026, 11, 27), 3, true),
            date(2026, 12, 2)
        );
    }

    #[test]
    fn local_days_are_right_across_the_dst_nights() {
        // Spring forward 2026-03-29: the day is 23 hours long.
        let spring = date(2026, 3, 29);
        assert_eq!(start_of(spring).to_string(), "2026-03-28T23:00:00Z");
        assert_eq!(end_of(spring).to_string(), "2026-03-29T22:00:00Z");
        // Fall back 2026-10-25: the day is 25 hours long.
        let autumn = date(2026, 10, 25);
        assert_eq!(start_of(autumn).to_string(), "2026-10-24T22:00:00Z");
        assert_eq!(end_of(autumn).to_string(), "2026-10-25T23:00:00Z");
        let late: jiff::Timestamp = "2026-10-25T22:30:00Z".parse().unwrap();
        assert_eq!(local_date(late), autumn, "23:30 local winter time");
    }
}
