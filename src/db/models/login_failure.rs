//! The `login_failures` table: password login attempts counted per key in fixed
//! windows, shared by every replica through the database. An attempt is counted before
//! its password is checked (a reservation), so simultaneous attempts cannot outrun the
//! limit; a successful login gives its reservation back.

use crate::db::schema::login_failures;
use crate::db::DbConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// A counter: attempts counted since `window_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Counter {
    /// Attempts counted in the window (failures, and checks still under way).
    #[diesel(sql_type = BigInt)]
    pub failures: i64,
    /// Unix seconds the window opened.
    #[diesel(sql_type = BigInt)]
    pub window_start: i64,
}

/// Counts one attempt for each of `keys` at `now` (a window older than `window` seconds
/// restarts), all or none: `admit` is handed the counters with this attempt counted,
/// one per key in order, and decides; when it refuses, nothing stays counted. Each
/// count is one atomic upsert that returns the new value, in one transaction, so of
/// any number of simultaneous attempts, on any replica, each sees a different count.
pub fn reserve<E>(
    conn: &mut DbConnection,
    keys: &[&str],
    now: i64,
    window: i64,
    admit: impl FnOnce(&[Counter]) -> Result<(), E>,
) -> Result<Vec<Counter>, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(|conn| {
        let counters = keys
            .iter()
            .map(|key| count(conn, key, now, window))
            .collect::<QueryResult<Vec<Counter>>>()?;
        admit(&counters)?;
        Ok(counters)
    })
}

/// One attempt counted for `key`; the counter as it is now.
fn count(conn: &mut DbConnection, key: &str, now: i64, window: i64) -> QueryResult<Counter> {
    const UPSERT: &str = "INSERT INTO login_failures (throttle_key, failures, window_start) \
        VALUES (#1, 1, #2) ON CONFLICT (throttle_key) DO UPDATE SET \
        failures = CASE WHEN login_failures.window_start <= #3 THEN 1 \
                        ELSE login_failures.failures + 1 END, \
        window_start = CASE WHEN login_failures.window_start <= #3 THEN #2 \
                            ELSE login_failures.window_start END \
        RETURNING failures, window_start";
    let expired_before = now.saturating_sub(window);
    match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(
            UPSERT
                .replace("#1", "?1")
                .replace("#2", "?2")
                .replace("#3", "?3"),
        )
        .bind::<Text, _>(key)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(expired_before)
        .get_result(c),
        DbConnection::Pg(c) => diesel::sql_query(
            UPSERT
                .replace("#1", "$1")
                .replace("#2", "$2")
                .replace("#3", "$3"),
        )
        .bind::<Text, _>(key)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(expired_before)
        .get_result(c),
    }
}

/// Gives back one attempt [`reserve`] counted for `key` in the window that opened at
/// `window_start` (a login that succeeded, or whose password was never checked). A
/// window that has restarted since is left alone.
#[expect(
    clippy::arithmetic_side_effects,
    reason = "failures - 1 is SQL, run by the database on a count the filter keeps above 0"
)]
pub fn release(conn: &mut DbConnection, key: &str, window_start: i64) -> QueryResult<usize> {
    let counter = login_failures::table
        .find(key)
        .filter(login_failures::window_start.eq(window_start))
        .filter(login_failures::failures.gt(0));
    diesel::update(counter)
        .set(login_failures::failures.eq(login_failures::failures - 1))
        .execute(conn)
}

/// Forgets the counter of `key` (after a successful login).
pub fn clear(conn: &mut DbConnection, key: &str) -> QueryResult<usize> {
    diesel::delete(login_failures::table.find(key)).execute(conn)
}

/// Deletes counters whose window closed before `now - window`.
pub fn purge(conn: &mut DbConnection, now: i64, window: i64) -> QueryResult<usize> {
    conn.transaction(|conn| {
        diesel::delete(
            login_failures::table
                .filter(login_failures::window_start.le(now.saturating_sub(window))),
        )
        .execute(conn)
    })
}
