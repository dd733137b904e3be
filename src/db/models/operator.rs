//! The console's tables: `operators` (who may sign in to the console),
//! `console_sessions` (their sessions, shared by every replica) and
//! `console_setup_codes` (the one-time links that create the first operator).

use crate::db::schema::{console_sessions, console_setup_codes, operators};
use crate::db::DbConnection;
use diesel::prelude::*;
use serde::Serialize;

/// An operator row as stored.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = operators)]
pub struct OperatorRow {
    /// Stable identifier.
    pub id: String,
    /// The name as typed (case preserved, Unicode allowed).
    pub username: String,
    /// argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// A disabled operator cannot sign in, and its sessions end.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A console session row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = console_sessions)]
pub struct SessionRow {
    /// Hex SHA-256 of the cookie value.
    pub id_hash: String,
    /// The operator signed in.
    pub operator_id: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last request seen.
    pub last_seen_at: i64,
}

impl OperatorRow {
    /// The operator named exactly `username`, if any.
    pub fn find_by_username(
        conn: &mut DbConnection,
        username: &str,
    ) -> QueryResult<Option<OperatorRow>> {
        operators::table
            .filter(operators::username.eq(username))
            .select(OperatorRow::as_select())
            .first(conn)
            .optional()
    }

    /// Every operator, by username.
    pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<OperatorRow>> {
        operators::table
            .order(operators::username.asc())
            .select(OperatorRow::as_select())
            .load(conn)
    }

    /// How many operators there are.
    pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
        operators::table.count().get_result(conn)
    }

    /// Inserts an operator.
    pub fn insert(conn: &mut DbConnection, row: &OperatorRow) -> QueryResult<()> {
        diesel::insert_into(operators::table)
            .values((
                operators::id.eq(&row.id),
                operators::username.eq(&row.username),
                operators::password_hash.eq(&row.password_hash),
                operators::disabled.eq(row.disabled),
                operators::created_at.eq(row.created_at),
                operators::updated_at.eq(row.updated_at),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Sets a new password hash.
    pub fn set_password_hash(
        conn: &mut DbConnection,
        id: &str,
        hash: &str,
        now: i64,
    ) -> QueryResult<bool> {
        let n = diesel::update(operators::table.find(id))
            .set((
                operators::password_hash.eq(hash),
                operators::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Enables or disables.
    pub fn set_disabled(
        conn: &mut DbConnection,
        id: &str,
        disabled: bool,
        now: i64,
    ) -> QueryResult<bool> {
        let n = diesel::update(operators::table.find(id))
            .set((
                operators::disabled.eq(disabled),
                operators::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Deletes an operator and its sessions.
    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
        SessionRow::delete_of_operator(conn, id, None)?;
        Ok(diesel::delete(operators::table.find(id)).execute(conn)? == 1)
    }
}

impl SessionRow {
    /// Inserts a session.
    pub fn insert(conn: &mut DbConnection, row: &SessionRow) -> QueryResult<()> {
        diesel::insert_into(console_sessions::table)
            .values((
                console_sessions::id_hash.eq(&row.id_hash),
                console_sessions::operator_id.eq(&row.operator_id),
                console_sessions::csrf.eq(&row.csrf),
                console_sessions::created_at.eq(row.created_at),
                console_sessions::last_seen_at.eq(row.last_seen_at),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// The session whose cookie hashes to `id_hash`, with its operator.
    pub fn find(
        conn: &mut DbConnection,
        id_hash: &str,
    ) -> QueryResult<Option<(SessionRow, OperatorRow)>> {
        console_sessions::table
            .inner_join(operators::table)
            .filter(console_sessions::id_hash.eq(id_hash))
            .select((SessionRow::as_select(), OperatorRow::as_select()))
            .first(conn)
            .optional()
    }

    /// Moves the session's last use to `now` (never backwards).
    pub fn touch(conn: &mut DbConnection, id_hash: &str, now: i64) -> QueryResult<bool> {
        let n = diesel::update(
            console_sessions::table
                .find(id_hash)
                .filter(console_sessions::last_seen_at.lt(now)),
        )
        .set(console_sessions::last_seen_at.eq(now))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Ends one session.
    pub fn delete(conn: &mut DbConnection, id_hash: &str) -> QueryResult<bool> {
        Ok(diesel::delete(console_sessions::table.find(id_hash)).execute(conn)? == 1)
    }

    /// Ends every session of an operator but `keep`; returns how many ended.
    pub fn delete_of_operator(
        conn: &mut DbConnection,
        operator_id: &str,
        keep: Option<&str>,
    ) -> QueryResult<usize> {
        let of = console_sessions::table.filter(console_sessions::operator_id.eq(operator_id));
        match keep {
            Some(keep) => {
                diesel::delete(of.filter(console_sessions::id_hash.ne(keep))).execute(conn)
            }
            None => diesel::delete(of).execute(conn),
        }
    }

    /// Deletes sessions idle since before `idle_before` or started before
    /// `started_before`.
    pub fn purge(
        conn: &mut DbConnection,
        idle_before: i64,
        started_before: i64,
    ) -> QueryResult<usize> {
        diesel::delete(
            console_sessions::table.filter(
                console_sessions::last_seen_at
                    .lt(idle_before)
                    .or(console_sessions::created_at.lt(started_before)),
            ),
        )
        .execute(conn)
    }
}

/// Stores a setup code's hash, valid until `expires_at`.
pub fn insert_setup_code(
    conn: &mut DbConnection,
    code_hash: &str,
    now: i64,
    expires_at: i64,
) -> QueryResult<()> {
    diesel::insert_into(console_setup_codes::table)
        .values((
            console_setup_codes::code_hash.eq(code_hash),
            console_setup_codes::created_at.eq(now),
            console_setup_codes::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Whether the code hashing to `code_hash` is unused and unexpired at `now`.
pub fn setup_code_usable(conn: &mut DbConnection, code_hash: &str, now: i64) -> QueryResult<bool> {
    let n: i64 = console_setup_codes::table
        .filter(console_setup_codes::code_hash.eq(code_hash))
        .filter(console_setup_codes::used_at.is_null())
        .filter(console_setup_codes::expires_at.gt(now))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Uses the code hashing to `code_hash` at `now`: true for the one use that wins (a
/// conditional update, so it holds across replicas), false when it is unknown, used or
/// expired.
pub fn use_setup_code(conn: &mut DbConnection, code_hash: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        console_setup_codes::table
            .filter(console_setup_codes::code_hash.eq(code_hash))
            .filter(console_setup_codes::used_at.is_null())
            .filter(console_setup_codes::expires_at.gt(now)),
    )
    .set(console_setup_codes::used_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes setup codes that expired before `now`.
pub fn purge_setup_codes(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    diesel::delete(console_setup_codes::table.filter(console_setup_codes::expires_at.le(now)))
        .execute(conn)
}
