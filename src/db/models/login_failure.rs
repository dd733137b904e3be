//! The `login_failures` table: failed password logins counted per key in fixed windows,
//! shared by every replica through the database.

use crate::db::schema::login_failures;
use crate::db::DbConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// A counter: failures since `window_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Failures counted in the window.
    pub failures: i64,
    /// Unix seconds the window opened.
    pub window_start: i64,
}

/// The counters of `keys` (missing keys have none).
pub fn get(conn: &mut DbConnection, keys: &[&str]) -> QueryResult<Vec<(String, Counter)>> {
    let rows: Vec<(String, i64, i64)> = login_failures::table
        .filter(login_failures::throttle_key.eq_any(keys))
        .select((
            login_failures::throttle_key,
            login_failures::failures,
            login_failures::window_start,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(k, failures, window_start)| {
            (
                k,
                Counter {
                    failures,
                    window_start,
                },
            )
        })
        .collect())
}

/// Counts one failure for `key` at `now`; a window older than `window` seconds restarts.
/// One atomic upsert, so concurrent failures on several replicas all count.
pub fn record(conn: &mut DbConnection, key: &str, now: i64, window: i64) -> QueryResult<()> {
    const UPSERT: &str = "INSERT INTO login_failures (throttle_key, failures, window_start) \
        VALUES (#1, 1, #2) ON CONFLICT (throttle_key) DO UPDATE SET \
        failures = CASE WHEN login_failures.window_start <= #3 THEN 1 \
                        ELSE login_failures.failures + 1 END, \
        window_start = CASE WHEN login_failures.window_start <= #3 THEN #2 \
                            ELSE login_failures.window_start END";
    let expired_before = now - window;
    conn.transaction(|conn| match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(
            UPSERT
                .replace("#1", "?1")
                .replace("#2", "?2")
                .replace("#3", "?3"),
        )
        .bind::<Text, _>(key)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(expired_before)
        .execute(c),
        DbConnection::Pg(c) => diesel::sql_query(
            UPSERT
                .replace("#1", "$1")
                .replace("#2", "$2")
                .replace("#3", "$3"),
        )
        .bind::<Text, _>(key)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(expired_before)
        .execute(c),
    })?;
    Ok(())
}

/// Forgets the counter of `key` (after a successful login).
pub fn clear(conn: &mut DbConnection, key: &str) -> QueryResult<usize> {
    diesel::delete(login_failures::table.find(key)).execute(conn)
}

/// Deletes counters whose window closed before `now - window`.
pub fn purge(conn: &mut DbConnection, now: i64, window: i64) -> QueryResult<usize> {
    conn.transaction(|conn| {
        diesel::delete(login_failures::table.filter(login_failures::window_start.le(now - window)))
            .execute(conn)
    })
}
