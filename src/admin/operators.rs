//! Console operators: the people who sign in to the admin console, accounts of their
//! own (never users of the password grant). One implementation of each operation,
//! shared by `tessera operator …` and the console; every change is audited, and a
//! change that takes an operator's access away ends its console sessions.

use super::AdminError;
use crate::db::audit;
use crate::db::models::{OperatorRow, SessionRow};
use crate::db::DbConnection;
use serde::Serialize;

/// The longest operator name, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// An operator as administration shows it (never its password hash).
#[derive(Debug, Clone, Serialize)]
pub struct OperatorView {
    /// The name as typed.
    pub username: String,
    /// Whether it may sign in.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl From<&OperatorRow> for OperatorView {
    fn from(r: &OperatorRow) -> Self {
        OperatorView {
            username: r.username.clone(),
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Checks an operator name: kept as typed (case and Unicode preserved), 1 to 64
/// characters, no control characters and no white space at either end.
pub fn check_username(name: &str) -> Result<(), AdminError> {
    let bad = |m: &str| Err(AdminError::field("username", m));
    if name.is_empty() {
        return bad("username is empty");
    }
    if name.chars().count() > MAX_USERNAME_CHARS {
        return bad("username is longer than 64 characters");
    }
    if name.chars().any(char::is_control) {
        return bad("username contains control characters");
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return bad("username starts or ends with white space");
    }
    Ok(())
}

/// The operator named `username`.
fn find(conn: &mut DbConnection, username: &str) -> Result<OperatorRow, AdminError> {
    OperatorRow::find_by_username(conn, username)?
        .ok_or_else(|| AdminError::NotFound(format!("operator {username:?}")))
}

/// Creates an operator with an already computed (argon2id) password hash. Inside an
/// enclosing transaction it is a savepoint of it.
pub fn add(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    password_hash: &str,
    now: i64,
) -> Result<OperatorView, AdminError> {
    check_username(username)?;
    audit::transaction(conn, |conn| {
        if OperatorRow::find_by_username(conn, username)?.is_some() {
            return Err(AdminError::field(
                "username",
                format!("operator {username:?} already exists"),
            ));
        }
        let row = OperatorRow {
            id: uuid::Uuid::new_v4().to_string(),
            username: username.to_string(),
            password_hash: password_hash.to_string(),
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        OperatorRow::insert(conn, &row)?;
        audit::record(
            conn,
            actor,
            "operator.create",
            username,
            serde_json::json!({}),
            now,
        )?;
        Ok(OperatorView::from(&row))
    })
}

/// Every operator, by name.
pub fn list(conn: &mut DbConnection) -> Result<Vec<OperatorView>, AdminError> {
    Ok(OperatorRow::list(conn)?
        .iter()
        .map(OperatorView::from)
        .collect())
}

/// Sets a new password hash; every session of the operator ends but `keep` (the hash
/// of the session that changed it, from the console).
pub fn set_password(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    password_hash: &str,
    keep: Option<&str>,
    now: i64,
) -> Result<OperatorView, AdminError> {
    audit::transaction(conn, |conn| {
        let op = find(conn, username)?;
        OperatorRow::set_password_hash(conn, &op.id, password_hash, now)?;
        let ended = SessionRow::delete_of_operator(conn, &op.id, keep)?;
        let details = serde_json::json!({ "sessions_ended": ended });
        audit::record(conn, actor, "operator.set_password", username, details, now)?;
        Ok::<(), AdminError>(())
    })?;
    find(conn, username).map(|r| OperatorView::from(&r))
}

/// Disables (ending every session of the operator) or enables an operator.
pub fn set_disabled(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    disabled: bool,
    now: i64,
) -> Result<OperatorView, AdminError> {
    audit::transaction(conn, |conn| {
        let op = find(conn, username)?;
        OperatorRow::set_disabled(conn, &op.id, disabled, now)?;
        let (action, details) = if disabled {
            let ended = SessionRow::delete_of_operator(conn, &op.id, None)?;
            (
                "operator.disable",
                serde_json::json!({ "sessions_ended": ended }),
            )
        } else {
            ("operator.enable", serde_json::json!({}))
        };
        audit::record(conn, actor, action, username, details, now)?;
        Ok::<(), AdminError>(())
    })?;
    find(conn, username).map(|r| OperatorView::from(&r))
}

/// Removes an operator and its sessions.
pub fn remove(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    now: i64,
) -> Result<OperatorView, AdminError> {
    audit::transaction(conn, |conn| {
        let op = find(conn, username)?;
        OperatorRow::delete(conn, &op.id)?;
        audit::record(
            conn,
            actor,
            "operator.delete",
            username,
            serde_json::json!({}),
            now,
        )?;
        Ok(OperatorView::from(&op))
    })
}
