//! Date and date-time layouts made only of `%Y %m %d %H %M %S` and ASCII literals, compiled
//! once when a dialect is loaded and read and written without interpreting the layout each
//! time. A layout with anything else (an offset, a month name) has no pattern: jiff's
//! `strtime` reads and writes it. A pattern accepts only what `strtime` reads the same way
//! (fixed-width fields); any other text is left to `strtime`, so the two never disagree.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::Offset;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// `%:z`: `+HH:MM` or `-HH:MM`.
    Offset,
    Literal(u8),
}

impl Piece {
    fn width(self) -> usize {
        match self {
            Piece::Year => 4,
            Piece::Offset => 6,
            Piece::Literal(_) => 1,
            _ => 2,
        }
    }
}

/// A compiled layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pieces: Vec<Piece>,
    /// The text's length: every piece has a fixed width.
    width: usize,
    /// Whether the layout carries a time of day (all of hour, minute and second).
    time: bool,
}

/// What a pattern read: a date, a time of day and an offset when the layout has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    pub date: Date,
    pub time: Option<DateTime>,
    pub offset: Option<Offset>,
}

impl Pattern {
    /// The pattern of `layout`, if it has one: each of year, month and day exactly once, hour,
    /// minute and second all or none, at most one offset (`%:z`), ASCII literals between.
    pub fn compile(layout: &str) -> Option<Pattern> {
        let mut pieces = Vec::new();
        let mut bytes = layout.bytes();
        while let Some(b) = bytes.next() {
            let piece = match b {
                b'%' => match bytes.next()? {
                    b'Y' => Piece::Year,
                    b'm' => Piece::Month,
                    b'd' => Piece::Day,
                    b'H' => Piece::Hour,
                    b'M' => Piece::Minute,
                    b'S' => Piece::Second,
                    b':' if bytes.next()? == b'z' => Piece::Offset,
                    _ => return None,
                },
                // Literals that cannot be taken for a digit (whitespace, which strtime reads
                // loosely, is left to it).
                b if b.is_ascii_graphic() && !b.is_ascii_digit() => Piece::Literal(b),
                _ => return None,
            };
            pieces.push(piece);
        }
        let count = |p: Piece| pieces.iter().filter(|q| **q == p).count();
        let date = [Piece::Year, Piece::Month, Piece::Day].map(count);
        let time = [Piece::Hour, Piece::Minute, Piece::Second].map(count);
        if date != [1, 1, 1]
            || !(time == [0, 0, 0] || time == [1, 1, 1])
            || count(Piece::Offset) > 1
        {
            return None;
        }
        Some(Pattern {
            width: pieces.iter().map(|p| p.width()).sum(),
            time: time == [1, 1, 1],
            pieces,
        })
    }

    /// Reads `text`; `None` when it is not exactly in the layout with valid values (the caller
    /// then asks `strtime`, for its verdict and its message).
    pub fn read(&self, text: &str) -> Option<Read> {
        let bytes = text.as_bytes();
        if bytes.len() != self.width {
            return None;
        }
        let mut values = [0i32; 6];
        let mut offset = None;
        let mut at = 0;
        for piece in &self.pieces {
            let width = piece.width();
            let part = &bytes[at..at + width];
            at += width;
            let slot = match piece {
                Piece::Literal(b) => {
                    if part[0] != *b {
                        return None;
                    }
                    continue;
                }
                Piece::Year => 0,
                Piece::Month => 1,
                Piece::Day => 2,
                Piece::Hour => 3,
                Piece::Minute => 4,
                Piece::Second => 5,
                Piece::Offset => {
                    offset = Some(read_offset(part)?);
                    continue;
                }
            };
            values[slot] = digits(part)?;
        }
        let [year, month, day, hour, minute, second] = values;
        let date = Date::new(year as i16, month as i8, day as i8).ok()?;
        let time = match self.time {
            true => Some(
                DateTime::new(
                    year as i16,
                    month as i8,
                    day as i8,
                    hour as i8,
                    minute as i8,
                    second as i8,
                    0,
                )
                .ok()?,
            ),
            false => None,
        };
        Some(Read { date, time, offset })
    }

    /// Whether the layout carries a time of day.
    pub fn has_time(&self) -> bool {
        self.time
    }

    /// Whether the layout carries an offset.
    pub fn has_offset(&self) -> bool {
        self.pieces.contains(&Piece::Offset)
    }

    /// Writes `at` (with `offset`, for a layout that has one) in the layout; `false` (nothing
    /// written) for a year outside 0–9999, or an offset the layout needs and does not get or
    /// that is not in whole minutes.
    pub fn write(&self, at: DateTime, offset: Option<Offset>, out: &mut String) -> bool {
        let year = at.year();
        // An offset with seconds (local mean time, before time zones) is strtime's to write.
        let whole_minutes = offset.is_some_and(|o| o.seconds() % 60 == 0);
        if !(0..=9999).contains(&year) || (self.has_offset() && !whole_minutes) {
            return false;
        }
        out.reserve(self.width);
        for piece in &self.pieces {
            let (n, width) = match piece {
                Piece::Literal(b) => {
                    out.push(char::from(*b));
                    continue;
                }
                Piece::Offset => {
                    let seconds = offset.map_or(0, |o| o.seconds());
                    out.push(if seconds < 0 { '-' } else { '+' });
                    let minutes = seconds.unsigned_abs() / 60;
                    push_digits(out, (minutes / 60) as i32, 2);
                    out.push(':');
                    push_digits(out, (minutes % 60) as i32, 2);
                    continue;
                }
                Piece::Year => (i32::from(year), 4),
                Piece::Month => (i32::from(at.month()), 2),
                Piece::Day => (i32::from(at.day()), 2),
                Piece::Hour => (i32::from(at.hour()), 2),
                Piece::Minute => (i32::from(at.minute()), 2),
                Piece::Second => (i32::from(at.second()), 2),
            };
            push_digits(out, n, width);
        }
        true
    }
}

/// `+HH:MM` or `-HH:MM`, as strtime's `%:z` reads it.
fn read_offset(part: &[u8]) -> Option<Offset> {
    let sign = match part[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if part[3] != b':' {
        return None;
    }
    let hours = digits(&part[1..3])?;
    let minutes = digits(&part[4..6])?;
    if minutes >= 60 {
        return None;
    }
    Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()
}

fn push_digits(out: &mut String, n: i32, width: u32) {
    let mut divisor = 10i32.pow(width - 1);
    while divisor > 0 {
        out.push(char::from(b'0' + ((n / divisor) % 10) as u8));
        divisor /= 10;
    }
}

/// The canonical form of an instant as the gateway writes it (`2026-11-20T07:40:00Z`), read
/// without a general parser; `None` for any other form (a fraction, an offset), which the
/// caller reads with jiff.
pub fn canonical_timestamp(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    if b.len() != 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let date = canonical_date(&text[..10])?;
    let [hour, minute, second] = [&b[11..13], &b[14..16], &b[17..19]].map(digits);
    let (hour, minute, second) = (hour?, minute?, second?);
    // Out of range (a leap second `:60` among them): for jiff to judge.
    let time = jiff::civil::Time::new(hour as i8, minute as i8, second as i8, 0).ok()?;
    Offset::UTC.to_timestamp(date.to_datetime(time)).ok()
}

/// The number the ASCII digits `b` write (at most nine); `None` for anything else.
fn digits(b: &[u8]) -> Option<i32> {
    b.iter().try_fold(0i32, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + i32::from(d - b'0'))
    })
}

/// A canonical date (`2026-11-27`), read without a general parser.
pub fn canonical_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    Date::new(
        digits(&b[0..4])? as i16,
        digits(&b[5..7])? as i8,
        digits(&b[8..10])? as i8,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use jiff::fmt::strtime;

    use super::*;

    #[test]
    fn layouts_with_other_directives_have_no_pattern() {
        for layout in [
            "%Y-%m-%dT%H:%M:%S%z",
            "%d %B %Y",
            "%Y-%m",
            "%Y-%m-%dT%H:%M",
            "%y%m%d",
        ] {
            assert!(Pattern::compile(layout).is_none(), "{layout}");
        }
        assert!(Pattern::compile("%Y%m%d%H%M%S").unwrap().has_time());
        assert!(!Pattern::compile("%d.%m.%Y").unwrap().has_time());
        assert!(
            Pattern::compile("%Y-%m-%dT%H:%M:%S%:z")
                .unwrap()
                .has_offset()
        );
    }

    #[test]
    fn a_pattern_reads_and_writes_as_strtime_does() {
        let layouts = [
            "%Y-%m-%d",
            "%Y%m%d",
            "%Y-%m-%dT%H:%M:%S",
            "%Y%m%d%H%M%S",
            "%d/%m/%Y_%H.%M.%S",
        ];
        let texts = [
            "2026-11-27",
            "20261127",
            "2026-11-27T14:30:05",
            "20261127143005",
            "27/11/2026_14.30.05",
            "2026-02-30",
            "2026-13-01",
            "2026-11-27T24:00:00",
            "2026-11-27T14:60:00",
            "+026-11-27",
            "2026-1-270",
            "2026-11-2",
            "",
            "２026-11-27",
        ];
        for layout in layouts {
            let pattern = Pattern::compile(layout).unwrap();
            for text in texts {
                let ours = pattern.read(text);
                let theirs = strtime::parse(layout, text);
                // What the pattern reads, strtime reads the same; what it leaves, strtime decides.
                if let Some(read) = ours {
                    let theirs = theirs.unwrap_or_else(|e| panic!("{layout} {text}: {e}"));
                    assert_eq!(Some(read.date), theirs.to_date().ok(), "{layout} {text}");
                    if pattern.has_time() {
                        assert_eq!(read.time, theirs.to_datetime().ok(), "{layout} {text}");
                    }
                }
            }
            for at in [
                "2026-11-27T14:30:05",
                "0999-01-02T03:04:05",
                "2026-06-01T00:00:00",
            ] {
                let at: DateTime = at.parse().unwrap();
                let mut written = String::new();
                assert!(pattern.write(at, None, &mut written));
                assert_eq!(written, strtime::format(layout, at).unwrap(), "{layout}");
                assert_eq!(pattern.read(&written).map(|r| r.date), Some(at.date()));
            }
        }
    }

    #[test]
    fn whatever_a_pattern_reads_strtime_reads_the_same() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        for layout in [
            "%Y-%m-%d",
            "%Y%m%d%H%M%S",
            "%Y-%m-%dT%H:%M:%S",
            "%d.%m.%Y",
            "%Y-%m-%dT%H:%M:%S%:z",
        ] {
            let pattern = Pattern::compile(layout).unwrap();
            let mut read = 0;
            for _ in 0..20_000 {
                // Fields at and beyond their limits (month 13, day 31 of February, hour 24),
                // then now and then one byte changed to a digit, a separator or a letter.
                let fields = [
                    next(10_000),
                    next(14),
                    next(33),
                    next(25),
                    next(61),
                    next(61),
                ];
                let mut text = String::new();
                for piece in &pattern.pieces {
                    match piece {
                        Piece::Literal(b) => text.push(char::from(*b)),
                        Piece::Year => text.push_str(&format!("{:04}", fields[0])),
                        Piece::Month => text.push_str(&format!("{:02}", fields[1])),
                        Piece::Day => text.push_str(&format!("{:02}", fields[2])),
                        Piece::Hour => text.push_str(&format!("{:02}", fields[3])),
                        Piece::Minute => text.push_str(&format!("{:02}", fields[4])),
                        Piece::Second => text.push_str(&format!("{:02}", fields[5])),
                        Piece::Offset => text.push_str(&format!(
                            "{}{:02}:{:02}",
                            if next(2) == 0 { '+' } else { '-' },
                            next(27),
                            next(61)
                        )),
                    }
                }
                if next(4) == 0 {
                    let mut bytes = text.into_bytes();
                    let at = next(bytes.len() as u64) as usize;
                    bytes[at] = b"07-:.Tx "[next(8) as usize];
                    text = String::from_utf8(bytes).unwrap();
                }
                if let Some(ours) = pattern.read(&text) {
                    read += 1;
                    let theirs = strtime::parse(layout, &text)
                        .unwrap_or_else(|e| panic!("{layout} {text:?}: {e}"));
                    assert_eq!(Some(ours.date), theirs.to_date().ok(), "{text:?}");
                    if pattern.has_time() {
                        assert_eq!(ours.time, theirs.to_datetime().ok(), "{text:?}");
                    }
                    assert_eq!(ours.offset, theirs.offset(), "{text:?}");
                }
            }
            assert!(read > 1_000, "{layout}: {read} texts read");
        }
    }

    #[test]
    fn an_offset_is_written_as_strtime_writes_it() {
        let layout = "%Y-%m-%dT%H:%M:%S%:z";
        let pattern = Pattern::compile(layout).unwrap();
        let zone = crate::domain::time::stockholm();
        for at in [
            "2026-11-20T07:40:00Z",
            "2026-07-01T12:30:00Z",
            "2026-03-29T01:00:00Z",
        ] {
            let at: Timestamp = at.parse().unwrap();
            let offset = zone.to_offset(at);
            let mut written = String::new();
            assert!(pattern.write(offset.to_datetime(at), Some(offset), &mut written));
            let zoned = at.to_zoned_datetime(zone.clone());
            assert_eq!(written, strtime::format(layout, &zoned).unwrap());
        }
        // Stockholm's local mean time before 1900 (+01:12:12) is left to strtime.
        let early: Timestamp = "0150-12-04T15:00:00Z".parse().unwrap();
        let offset = zone.to_offset(early);
        let mut written = String::new();
        assert!(!pattern.write(offset.to_datetime(early), Some(offset), &mut written));
        // Without the offset it needs, it writes nothing.
        let mut written = String::new();
        assert!(!pattern.write("2026-11-20T07:40:00".parse().unwrap(), None, &mut written));
        assert!(written.is_empty());
    }

    #[test]
    fn canonical_instants_and_dates_are_read_or_left_to_jiff() {
        assert_eq!(
            canonical_timestamp("2026-11-20T07:40:00Z"),
            "2026-11-20T07:40:00Z".parse().ok()
        );
        assert_eq!(canonical_timestamp("2026-11-20T07:40:00.5Z"), None);
        assert_eq!(canonical_timestamp("2026-11-20T08:40:00+01:00"), None);
        // Read here only in the gateway's own form, and then as jiff reads it; anything else
        // (a leap second, another separator, out of range) is left for jiff to judge.
        for (text, read_here) in [
            ("2024-02-29T23:59:59Z", true),
            ("0001-01-01T00:00:00Z", true),
            ("9999-12-31T23:59:59Z", false),
            ("2026-11-20T07:40:00z", false),
            ("2026-11-20 07:40:00Z", false),
            ("2026-12-31T23:59:60Z", false),
            ("2026-11-20T24:00:00Z", false),
            ("2026-11-20T07:60:00Z", false),
            ("2027-02-29T07:40:00Z", false),
            ("2026-11-20T07:4x:00Z", false),
            ("2026-11-20T+7:40:00Z", false),
            ("2026-11-20T07:40:00ZZ", false),
            ("2026-11-20T07:40Z", false),
        ] {
            let read = canonical_timestamp(text);
            assert_eq!(read.is_some(), read_here, "{text}");
            if read.is_some() {
                assert_eq!(read, text.parse().ok(), "{text}");
            }
        }
        assert_eq!(canonical_date("2026-11-27"), "2026-11-27".parse().ok());
        assert_eq!(canonical_date("2026-02-30"), None);
        assert_eq!(canonical_date("2026-11-2x"), None);
    }
}
