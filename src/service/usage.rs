//! Usage without a write per token: every access token issued counts for its client
//! (per UTC day, with the time of the last one) and every token request's outcome
//! counts per minute (`issued` or its error code), in this replica's memory. A
//! background job ([`Usage::flush`], every `usage_flush_interval`) adds the counts to
//! the database in one upsert per table, so replicas' counts sum; a failed flush keeps
//! them for the next one (bounded: [`MAX_PENDING`] entries, days and minutes too old to
//! be shown are dropped). The hot path takes one short lock and, for a client already
//! counted, allocates nothing.

use crate::db::models::usage::{self, UsageCount, DAY, MINUTE};
pub use crate::db::models::usage::{day_of, minute_of};
use crate::db::{DbConnection, DbError};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// The most (client, day) and (minute, outcome) entries kept between flushes; a new
/// one beyond it is dropped (and counted in the log), never memory without bound.
pub const MAX_PENDING: usize = 200_000;
/// Day counts older than this are not kept after a failed flush (the console shows 7).
pub const DAYS_KEPT: i64 = 8 * DAY;
/// Minute counts older than this are not kept (the console shows the last hour).
pub const MINUTES_KEPT: i64 = 2 * 3_600;
/// The outcome of a token request that issued a token.
pub const ISSUED: &str = "issued";

/// One client's count on one day.
#[derive(Debug, Clone, Copy)]
struct DayCount {
    day: i64,
    tokens: u64,
    last: i64,
}

/// What this replica counted since its last successful flush.
#[derive(Debug, Default)]
struct Pending {
    clients: HashMap<String, Vec<DayCount>>,
    outcomes: HashMap<(i64, &'static str), u64>,
    /// Entries held (client days plus outcome minutes), against [`MAX_PENDING`].
    entries: usize,
    /// Counts dropped at the bound since the last flush.
    dropped: u64,
}

impl Pending {
    fn add_token(&mut self, client_id: &str, day: i64, tokens: u64, last: i64) {
        if let Some(days) = self.clients.get_mut(client_id) {
            if let Some(d) = days.iter_mut().find(|d| d.day == day) {
                d.tokens = d.tokens.saturating_add(tokens);
                d.last = d.last.max(last);
                return;
            }
            if self.entries >= MAX_PENDING {
                self.dropped = self.dropped.saturating_add(tokens);
                return;
            }
            days.push(DayCount { day, tokens, last });
        } else {
            if self.entries >= MAX_PENDING {
                self.dropped = self.dropped.saturating_add(tokens);
                return;
            }
            self.clients
                .insert(client_id.to_string(), vec![DayCount { day, tokens, last }]);
        }
        self.entries = self.entries.saturating_add(1);
    }

    fn add_outcome(&mut self, minute: i64, outcome: &'static str, n: u64) {
        if let Some(c) = self.outcomes.get_mut(&(minute, outcome)) {
            *c = c.saturating_add(n);
            return;
        }
        if self.entries >= MAX_PENDING {
            self.dropped = self.dropped.saturating_add(n);
            return;
        }
        self.outcomes.insert((minute, outcome), n);
        self.entries = self.entries.saturating_add(1);
    }

    fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.outcomes.is_empty()
    }
}

/// This replica's counts not yet written.
#[derive(Debug, Default)]
pub struct Usage {
    pending: Mutex<Pending>,
}

/// What one flush wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// (client, day) rows added to.
    pub client_days: usize,
    /// (minute, outcome) rows added to.
    pub outcome_minutes: usize,
}

impl Usage {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one access token issued to `client_id` at `now`.
    pub fn token_issued(&self, client_id: &str, now: i64) {
        self.pending().add_token(client_id, day_of(now), 1, now);
    }

    /// Counts one token request's outcome (`ISSUED` or an error code) at `now`.
    pub fn outcome(&self, outcome: &'static str, now: i64) {
        self.pending().add_outcome(minute_of(now), outcome, 1);
    }

    /// Writes what was counted since the last flush, in one transaction (one upsert
    /// per table, added to what other replicas wrote). On failure the counts are
    /// kept for the next flush, those too old to matter by then dropped.
    pub fn flush(&self, conn: &mut DbConnection, now: i64) -> Result<Flushed, DbError> {
        let taken = std::mem::take(&mut *self.pending());
        if taken.dropped > 0 {
            log::warn!(
                "usage counts: {} dropped while {MAX_PENDING} entries waited to be written",
                taken.dropped
            );
        }
        if taken.is_empty() {
            return Ok(Flushed::default());
        }
        let counts: Vec<UsageCount> = taken
            .clients
            .iter()
            .flat_map(|(id, days)| {
                days.iter().map(|d| UsageCount {
                    client_id: id.clone(),
                    day: d.day,
                    tokens: i64::try_from(d.tokens).unwrap_or(i64::MAX),
                    last_used_at: d.last,
                })
            })
            .collect();
        let outcomes: Vec<(i64, String, i64)> = taken
            .outcomes
            .iter()
            .map(|(&(m, o), &n)| (m, o.to_string(), i64::try_from(n).unwrap_or(i64::MAX)))
            .collect();
        match usage::add(conn, &counts, &outcomes) {
            Ok((client_days, outcome_minutes)) => Ok(Flushed {
                client_days,
                outcome_minutes,
            }),
            Err(e) => {
                self.restore(taken, now);
                Err(e.into())
            }
        }
    }

    /// Puts counts a failed flush took back, with what was counted meanwhile.
    fn restore(&self, taken: Pending, now: i64) {
        let oldest_day = day_of(now.saturating_sub(DAYS_KEPT));
        let oldest_minute = minute_of(now.saturating_sub(MINUTES_KEPT));
        let mut p = self.pending();
        p.dropped = p.dropped.saturating_add(taken.dropped);
        for (id, days) in taken.clients {
            for d in days.into_iter().filter(|d| d.day >= oldest_day) {
                p.add_token(&id, d.day, d.tokens, d.last);
            }
        }
        for ((m, o), n) in taken.outcomes {
            if m >= oldest_minute {
                p.add_outcome(m, o, n);
            }
        }
    }

    /// This replica's unwritten outcome counts from `from_minute` on.
    fn pending_outcomes(&self, from_minute: i64) -> Vec<(i64, &'static str, u64)> {
        self.pending()
            .outcomes
            .iter()
            .filter(|((m, _), _)| *m >= from_minute)
            .map(|(&(m, o), &n)| (m, o, n))
            .collect()
    }
}

/// The token endpoints' outcomes over the 60 minutes ending with the current one, each
/// as 60 per-minute counts (oldest first), summed over every replica's flushed counts
/// and this replica's unwritten ones: `issued` first (always present), then each error
/// code seen, alphabetically.
pub fn last_hour(
    conn: &mut DbConnection,
    usage: &Usage,
    now: i64,
) -> Result<Vec<(String, Vec<u64>)>, DbError> {
    let start = minute_of(now).saturating_sub(59 * MINUTE);
    let mut series: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    series.insert(ISSUED.to_string(), vec![0; 60]);
    let stored = usage::outcomes_since(conn, start)?;
    let unwritten = usage
        .pending_outcomes(start)
        .into_iter()
        .map(|(m, o, n)| (m, o.to_string(), i64::try_from(n).unwrap_or(i64::MAX)));
    for (minute, outcome, n) in stored.into_iter().chain(unwritten) {
        let slot = minute
            .checked_sub(start)
            .and_then(|d| d.checked_div(MINUTE))
            .and_then(|i| usize::try_from(i).ok());
        let Some(slot) = slot.filter(|i| *i < 60) else {
            continue;
        };
        let counts = series.entry(outcome).or_insert_with(|| vec![0; 60]);
        if let Some(c) = counts.get_mut(slot) {
            *c = c.saturating_add(u64::try_from(n).unwrap_or_default());
        }
    }
    let issued = series.remove(ISSUED).unwrap_or_default();
    Ok(std::iter::once((ISSUED.to_string(), issued))
        .chain(series)
        .collect())
}

/// Clients unused for 30 and 90 days (a never-used client by its age), for the
/// `/metrics` gauges and the overview.
pub fn unused_counts(conn: &mut DbConnection, now: i64) -> Result<(u64, u64), DbError> {
    Ok(usage::unused_counts(conn, now)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_of_one_client_on_one_day_add_up_and_keep_the_last_time() {
        let u = Usage::default();
        let t = 1_764_950_400; // 2025-12-05 16:00 UTC
        u.token_issued("a", t);
        u.token_issued("a", t + 5);
        u.token_issued("a", t + 2);
        let p = u.pending();
        let days = p.clients.get("a").expect("counted");
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].tokens, 3);
        assert_eq!(days[0].last, t + 5);
        assert_eq!(days[0].day, day_of(t));
        assert_eq!(day_of(t) % DAY, 0);
    }

    #[test]
    fn the_pending_counts_are_bounded() {
        let mut p = Pending::default();
        for i in 0..(MAX_PENDING + 10) {
            p.add_token(&format!("c{i}"), 0, 1, 0);
        }
        assert_eq!(p.entries, MAX_PENDING);
        assert_eq!(p.dropped, 10);
        // A client already counted on that day still counts.
        p.add_token("c0", 0, 1, 0);
        assert_eq!(p.clients["c0"][0].tokens, 2);
    }

    #[test]
    fn a_failed_flush_keeps_the_counts_and_the_next_one_writes_them() {
        let mut conn = crate::db::memory_connection();
        let u = Usage::default();
        let t = 1_764_950_400;
        u.token_issued("a", t);
        u.outcome(ISSUED, t);
        usage::execute(&mut conn, "ALTER TABLE client_usage RENAME TO gone", &[]).expect("rename");
        assert!(u.flush(&mut conn, t).is_err());
        u.token_issued("a", t + 1);
        usage::execute(&mut conn, "ALTER TABLE gone RENAME TO client_usage", &[])
            .expect("rename back");
        let f = u.flush(&mut conn, t + 2).expect("flush");
        assert_eq!(f.client_days, 1);
        assert_eq!(
            usage::days(&mut conn, "a", 0).expect("days"),
            [(day_of(t), 2)]
        );
        // The outcome table was not written by the failed flush (one transaction).
        let hour = last_hour(&mut conn, &u, t + 2).expect("hour");
        assert_eq!(hour[0].0, ISSUED);
        assert_eq!(hour[0].1.iter().sum::<u64>(), 1);
    }

    #[test]
    fn flushes_add_to_what_is_stored() {
        let mut conn = crate::db::memory_connection();
        let (one, two) = (Usage::default(), Usage::default());
        let t = 1_764_950_400;
        one.token_issued("a", t);
        two.token_issued("a", t + 9);
        two.token_issued("a", t + 3);
        one.flush(&mut conn, t).expect("flush");
        two.flush(&mut conn, t).expect("flush");
        assert_eq!(
            usage::days(&mut conn, "a", 0).expect("days"),
            [(day_of(t), 3)]
        );
        let last = usage::last_used(&mut conn, &["a".to_string()]).expect("last");
        assert_eq!(last.get("a"), Some(&(t + 9)));
    }
}
