//! Dates as people read them: UTC and relative to now ("in 3 days", "5 minutes ago",
//! "never"), never raw Unix seconds.

use chrono::DateTime;
use std::fmt;

/// A moment (or none) as the console shows it. Its `Display` is HTML made only of
/// numbers and fixed words, so a template may embed it with `|safe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    ts: Option<i64>,
    now: i64,
}

/// `ts` (Unix seconds; `None`: never) as seen at `now`.
pub fn when(ts: Option<i64>, now: i64) -> When {
    When { ts, now }
}

impl When {
    /// The date in UTC, `2026-12-05 15:20 UTC`, or `never`.
    pub fn utc(&self) -> String {
        match self.ts {
            None => "never".into(),
            Some(ts) => match DateTime::from_timestamp(ts, 0) {
                Some(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
                None => "a date out of range".into(),
            },
        }
    }

    /// Relative to now: `in 3 days`, `5 minutes ago`, `just now` or `never`.
    pub fn relative(&self) -> String {
        match self.ts {
            None => "never".into(),
            Some(ts) => relative(ts.saturating_sub(self.now)),
        }
    }

    /// As plain text: `2026-12-05 15:20 UTC (3 days ago)`, or `never`.
    pub fn plain(&self) -> String {
        match self.ts {
            None => "never".into(),
            Some(_) => format!("{} ({})", self.utc(), self.relative()),
        }
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(ts) = self.ts else {
            return f.write_str("never");
        };
        match DateTime::from_timestamp(ts, 0) {
            Some(t) => write!(
                f,
                "<time datetime=\"{}\">{}</time> ({})",
                t.format("%Y-%m-%dT%H:%M:%SZ"),
                self.utc(),
                self.relative()
            ),
            None => f.write_str(&self.utc()),
        }
    }
}

/// `delta` seconds from now in words: the largest whole unit, rounded down.
fn relative(delta: i64) -> String {
    let span = delta.unsigned_abs();
    if span < 60 {
        return "just now".into();
    }
    // (from how long, unit size, name): two days read better as 48 hours.
    const UNITS: [(u64, u64, &str); 4] = [
        (2 * 365 * 86_400, 365 * 86_400, "year"),
        (2 * 86_400, 86_400, "day"),
        (3_600, 3_600, "hour"),
        (60, 60, "minute"),
    ];
    let (size, unit) = UNITS
        .iter()
        .find(|(from, _, _)| span >= *from)
        .map_or((60, "minute"), |&(_, size, unit)| (size, unit));
    let n = span.checked_div(size).unwrap_or(0);
    let plural = if n == 1 { "" } else { "s" };
    if delta > 0 {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_484_000; // 2026-12-05 15:20:00 UTC

    #[test]
    fn a_date_is_shown_in_utc_and_relative_never_as_unix_seconds() {
        let shown = when(Some(NOW - 3 * 86_400), NOW).to_string();
        assert_eq!(
            shown,
            "<time datetime=\"2026-12-02T15:20:00Z\">2026-12-02 15:20 UTC</time> (3 days ago)"
        );
        assert!(!shown.contains(&(NOW - 3 * 86_400).to_string()));
        assert_eq!(when(None, NOW).to_string(), "never");
        assert_eq!(when(None, NOW).plain(), "never");
        assert_eq!(
            when(Some(NOW + 3 * 86_400), NOW).plain(),
            "2026-12-08 15:20 UTC (in 3 days)"
        );
    }

    #[test]
    fn relative_times_use_the_largest_whole_unit() {
        let rel = |d: i64| when(Some(NOW + d), NOW).relative();
        assert_eq!(rel(0), "just now");
        assert_eq!(rel(-59), "just now");
        assert_eq!(rel(-300), "5 minutes ago");
        assert_eq!(rel(60), "in 1 minute");
        assert_eq!(rel(3_600), "in 1 hour");
        assert_eq!(rel(-30 * 3_600), "30 hours ago");
        assert_eq!(rel(3 * 86_400 + 5), "in 3 days");
        assert_eq!(rel(-800 * 86_400), "2 years ago");
    }

    #[test]
    fn dates_beyond_the_calendar_are_words_not_a_panic() {
        for ts in [i64::MAX, i64::MIN] {
            let w = when(Some(ts), NOW);
            assert_eq!(w.to_string(), "a date out of range");
            assert!(!w.plain().contains(&ts.to_string()));
        }
        assert_eq!(
            when(Some(i64::MIN), i64::MAX).relative(),
            relative(i64::MIN)
        );
    }
}
