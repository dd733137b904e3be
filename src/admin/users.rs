//! User administration shared by the CLI (and later HTTP): one implementation of each
//! operation, synchronous, on a database connection. Passwords arrive already hashed;
//! every change that should end sessions revokes the user's refresh-token families.

use super::{audit, AdminError};
use crate::db::models::refresh_token::{revoke, Families};
use crate::db::models::{NewUser, User};
use crate::db::DbConnection;
use crate::oauth::password::normalize_username;
use diesel::Connection;

fn find(conn: &mut DbConnection, username: &str) -> Result<User, AdminError> {
    let name = normalize_username(username).map_err(|e| AdminError::Invalid(e.into()))?;
    User::find_by_username(conn, &name)?
        .ok_or_else(|| AdminError::NotFound(format!("user {name:?}")))
}

/// Creates a user with an already computed password hash.
pub fn create(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    password_hash: &str,
    now: i64,
) -> Result<User, AdminError> {
    let name = normalize_username(username).map_err(|e| AdminError::Invalid(e.into()))?;
    if User::find_by_username(conn, &name)?.is_some() {
        return Err(AdminError::Invalid(format!("user {name:?} already exists")));
    }
    let id = uuid::Uuid::new_v4().to_string();
    User::insert(
        conn,
        &NewUser {
            id: &id,
            username: &name,
            password_hash,
            disabled: false,
            password_changed_at: now,
            created_at: now,
            updated_at: now,
        },
    )?;
    audit::record(
        conn,
        actor,
        "user.create",
        &name,
        serde_json::json!({ "id": id }),
        now,
    )?;
    show(conn, &name)
}

/// One user.
pub fn show(conn: &mut DbConnection, username: &str) -> Result<User, AdminError> {
    find(conn, username)
}

/// Every user.
pub fn list(conn: &mut DbConnection) -> Result<Vec<User>, AdminError> {
    Ok(User::list(conn)?)
}

/// Sets a new password; the user's refresh-token families end.
pub fn set_password(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    password_hash: &str,
    now: i64,
) -> Result<User, AdminError> {
    let user = find(conn, username)?;
    conn.transaction(|conn| {
        User::set_password_hash(conn, &user.id, password_hash, now)?;
        let ended = revoke(conn, Families::OfUser(&user.id), now)?;
        let details = serde_json::json!({ "sessions_ended": ended });
        audit::record(
            conn,
            actor,
            "user.set_password",
            &user.username,
            details,
            now,
        )
    })?;
    find(conn, username)
}

/// Enables or disables a user; disabling ends their refresh-token families.
pub fn set_disabled(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    disabled: bool,
    now: i64,
) -> Result<User, AdminError> {
    let user = find(conn, username)?;
    conn.transaction(|conn| {
        User::set_disabled(conn, &user.id, disabled, now)?;
        let action = if disabled {
            revoke(conn, Families::OfUser(&user.id), now)?;
            "user.disable"
        } else {
            "user.enable"
        };
        audit::record(
            conn,
            actor,
            action,
            &user.username,
            serde_json::json!({}),
            now,
        )
    })?;
    find(conn, username)
}

/// Deletes a user and their refresh-token families.
pub fn delete(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    now: i64,
) -> Result<User, AdminError> {
    let user = find(conn, username)?;
    conn.transaction(|conn| {
        User::delete(conn, &user.id)?;
        audit::record(
            conn,
            actor,
            "user.delete",
            &user.username,
            serde_json::json!({}),
            now,
        )
    })?;
    Ok(user)
}
