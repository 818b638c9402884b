//! Times as Keyport shows and reads them, alike on the server and in the
//! browser (so that a hydrated page says what the server wrote): Unix
//! seconds, shown in UTC to the minute; dates as a date input sends them.

use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// Unix time in seconds.
pub type Timestamp = i64;

fn utc(ts: Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(ts).ok()
}

/// `2026-11-23 14:05 UTC`.
pub fn format_time(ts: Timestamp) -> String {
    utc(ts)
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// `2026-11-23`.
pub fn format_day(ts: Timestamp) -> String {
    utc(ts)
        .and_then(|t| t.format(format_description!("[year]-[month]-[day]")).ok())
        .unwrap_or_default()
}

/// A time, or "Never".
pub fn format_optional_time(ts: Option<Timestamp>) -> String {
    ts.map(format_time).unwrap_or_else(|| "Never".into())
}

/// RFC 3339 (`2026-11-23T14:05:09Z`), for machines: the audit export.
pub fn rfc3339(ts: Timestamp) -> String {
    utc(ts)
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Midnight UTC of a `YYYY-MM-DD` date, as a date input sends it.
pub fn parse_day(date: &str) -> Option<Timestamp> {
    let date = Date::parse(date, format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_as_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(1_795_392_300), "2026-11-23 00:05 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_day(1_795_392_300), "2026-11-23");
        assert_eq!(format_optional_time(None), "Never");
        assert_eq!(rfc3339(1_795_392_309), "2026-11-23T00:05:09Z");
    }

    #[test]
    fn dates_parse_to_midnight_utc() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_day("2026-11-23"), Some(1_795_392_000));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            "20261123",
            "",
            "2026-11-23-1",
            "yyyy-mm-dd",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
