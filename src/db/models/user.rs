//! The `users` table.

use crate::db::schema::{refresh_families, users};
use crate::db::DbConnection;
use diesel::prelude::*;
use serde::Serialize;

/// A user row as stored.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = users)]
pub struct User {
    /// Stable identifier, the `sub` of the user's tokens.
    pub id: String,
    /// Case-normalised login name.
    pub username: String,
    /// The password hash: a PHC string of argon2id, or a format a login still verifies
    /// and then replaces (Django's, after an import); `!…` means no usable password.
    #[serde(skip)]
    pub password_hash: String,
    /// Disabled users cannot log in or refresh.
    pub disabled: bool,
    /// Unix seconds; refresh families older than this are ended.
    pub password_changed_at: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// The user's id in the system they came from (a Django pk), if any.
    pub external_id: Option<String>,
}

/// A user to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// Stable identifier.
    pub id: &'a str,
    /// Case-normalised login name.
    pub username: &'a str,
    /// The password hash (see [`User::password_hash`]).
    pub password_hash: &'a str,
    /// Starts enabled unless told otherwise.
    pub disabled: bool,
    /// Unix seconds.
    pub password_changed_at: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// The user's id in the system they came from, if any.
    pub external_id: Option<&'a str>,
}

/// What an import changes on an existing user.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = users)]
pub struct ImportedChange<'a> {
    /// The imported password hash.
    pub password_hash: &'a str,
    /// Disabled unless the import says active.
    pub disabled: bool,
    /// The id in the system the user came from.
    pub external_id: &'a str,
    /// Unix seconds; moved only when the hash changes, which ends sessions.
    pub password_changed_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl User {
    /// The user with this (normalised) username, if any.
    pub fn find_by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::username.eq(username))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    /// The user with this external id, if any.
    pub fn find_by_external_id(
        conn: &mut DbConnection,
        external_id: &str,
    ) -> QueryResult<Option<User>> {
        users::table
            .filter(users::external_id.eq(external_id))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    /// The user with this id, if any.
    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<User>> {
        users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    /// How many users there are.
    pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
        users::table.count().get_result(conn)
    }

    /// Every user, by username.
    pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<User>> {
        users::table
            .order(users::username.asc())
            .select(User::as_select())
            .load(conn)
    }

    /// One page of users by username, `offset` rows in, at most `limit`: those whose
    /// username or external id contains `needle` (matched literally, `%` and `_`
    /// included; usernames are stored in lower case, so pass it lower-cased), and how
    /// many match in all.
    pub fn page(
        conn: &mut DbConnection,
        needle: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> QueryResult<(Vec<User>, i64)> {
        let pattern = needle.map(like_pattern);
        let filtered = || {
            let mut q = users::table.into_boxed();
            if let Some(p) = &pattern {
                q = q.filter(
                    users::username
                        .like(p.clone())
                        .escape('\\')
                        .or(users::external_id.like(p.clone()).escape('\\')),
                );
            }
            q
        };
        let total = filtered().count().get_result(conn)?;
        let rows = filtered()
            .order(users::username.asc())
            .offset(offset)
            .limit(limit)
            .select(User::as_select())
            .load(conn)?;
        Ok((rows, total))
    }

    /// Inserts a user.
    pub fn insert(conn: &mut DbConnection, new: &NewUser<'_>) -> QueryResult<()> {
        diesel::insert_into(users::table)
            .values(new)
            .execute(conn)
            .map(|_| ())
    }

    /// Sets a new password hash; returns whether the user existed.
    pub fn set_password_hash(
        conn: &mut DbConnection,
        id: &str,
        hash: &str,
        now: i64,
    ) -> QueryResult<bool> {
        let n = diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(hash),
                users::password_changed_at.eq(now),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Replaces the hash `old` by `new` for the same password (a stronger hash after a
    /// login): sessions stay, and a password changed meanwhile is left alone.
    pub fn upgrade_password_hash(
        conn: &mut DbConnection,
        id: &str,
        old: &str,
        new: &str,
    ) -> QueryResult<bool> {
        let n = diesel::update(users::table.find(id).filter(users::password_hash.eq(old)))
            .set(users::password_hash.eq(new))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Applies an import's change to user `id`.
    pub fn apply_import(
        conn: &mut DbConnection,
        id: &str,
        change: &ImportedChange<'_>,
    ) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set(change)
            .execute(conn)
            .map(|_| ())
    }

    /// Enables or disables; returns whether the user existed.
    pub fn set_disabled(
        conn: &mut DbConnection,
        id: &str,
        disabled: bool,
        now: i64,
    ) -> QueryResult<bool> {
        let n = diesel::update(users::table.find(id))
            .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Deletes a user and, by cascade, their refresh-token families.
    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
        diesel::delete(refresh_families::table.filter(refresh_families::user_id.eq(id)))
            .execute(conn)?;
        Ok(diesel::delete(users::table.find(id)).execute(conn)? == 1)
    }
}

/// A `LIKE` pattern matching `needle` anywhere, its `%`, `_` and backslash taken
/// literally (escaped with a backslash).
pub fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len().saturating_add(2));
    p.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}
