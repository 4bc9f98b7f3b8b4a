//! Times as pctl reads and writes them: Unix seconds in UTC, shown as RFC 3339. The calendar is
//! jiff's (no hand-written day counting); no time-zone database is needed, everything is UTC.

use jiff::{Timestamp, civil, tz::TimeZone};

/// `t` as a timestamp; times beyond jiff's years -9999..=9999 (only a forged commit has them)
/// are clamped.
fn timestamp(t: i64) -> Timestamp {
    let t = t.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    Timestamp::from_second(t).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `2025-01-31T10:00:00Z`: what the `Pctl-Source-Time` trailer and `pctl metrics` print.
pub fn rfc3339(t: i64) -> String {
    timestamp(t).to_string()
}

/// `2025-01-31`: the UTC date of `t`.
pub fn date(t: i64) -> String {
    TimeZone::UTC.to_datetime(timestamp(t)).date().to_string()
}

/// The start (Monday 00:00 UTC) of the week `t` is in, in Unix seconds.
pub fn week_start(t: i64) -> i64 {
    let day = TimeZone::UTC.to_datetime(timestamp(t)).date();
    let back = i64::from(day.weekday().to_monday_zero_offset());
    let monday = day.checked_sub(jiff::Span::new().days(back)).unwrap_or(day);
    TimeZone::UTC
        .to_timestamp(monday.to_datetime(civil::Time::midnight()))
        .map_or(t, |ts| ts.as_second())
}

/// A time as people and tools write it: RFC 3339 / ISO 8601 with an offset
/// (`2025-01-31T10:00:00Z`, `2025-01-31T12:00:00.5+02:00`), or without one, in UTC
/// (`2025-01-31 10:00:00`, `2025-01-31`: midnight).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Some(ts.as_second());
    }
    let dt: civil::DateTime = s.parse().ok()?;
    TimeZone::UTC.to_timestamp(dt).ok().map(|ts| ts.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for t in [
            0,
            86_399,
            951_782_400,
            1_735_689_600,
            4_102_444_800,
            -86_400,
        ] {
            assert_eq!(parse_time(&rfc3339(t)), Some(t), "{}", rfc3339(t));
        }
        assert_eq!(rfc3339(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_738_317_600), "2025-01-31T10:00:00Z");
        assert_eq!(rfc3339(-86_400), "1969-12-31T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-30T22:00:00Z");
        assert_eq!(parse_time("2025-01-01"), Some(1_735_689_600));
        assert_eq!(parse_time("2025-01-01T02:00:00+02:00"), Some(1_735_689_600));
        assert_eq!(
            parse_time("2024-12-31T23:30:00.123-00:30"),
            Some(1_735_689_600)
        );
        assert_eq!(parse_time("2025-01-01 00:00:00"), Some(1_735_689_600));
        assert_eq!(parse_time(" 2025-01-01t00:00:00z "), Some(1_735_689_600));
        // ISO 8601's basic offset form.
        assert_eq!(parse_time("2025-01-01T02:00:00+0200"), Some(1_735_689_600));
        assert_eq!(parse_time("2024-02-29"), Some(1_709_164_800));
        for bad in [
            "",
            "2025",
            "yesterday",
            "2025-13-01",
            "2023-02-29",
            "2025-01-01T25:00:00Z",
            "2025-01-01Tx",
            "90d",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_and_weeks() {
        assert_eq!(date(1_735_689_600), "2025-01-01");
        assert_eq!(date(-1), "1969-12-31");
        // 2025-01-01 is a Wednesday; its week starts on 2024-12-30.
        assert_eq!(date(week_start(1_735_689_600)), "2024-12-30");
        assert_eq!(week_start(1_735_689_600) % 86_400, 0);
        let sunday_night = parse_time("2025-01-12T23:59:59Z").unwrap();
        assert_eq!(date(week_start(sunday_night)), "2025-01-06");
        let monday = parse_time("2025-01-06T00:00:00Z").unwrap();
        assert_eq!(week_start(monday), monday);
    }
}
