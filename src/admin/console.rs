//! What the admin console needs of the database beyond single operations: the
//! one-time setup links that create the first operator, and the overview's counts.

use super::operators::{self, OperatorView};
use super::AdminError;
use crate::db::models::{operator, Client, OperatorRow, SigningKeyRow, User};
use crate::db::{write_transaction, DbConnection, WriteLock};
use crate::oauth::secret::{hash_secret, random_token};

/// How long a setup link is valid, seconds.
pub const SETUP_CODE_TTL: i64 = 3600;

/// The message of a setup link that cannot be used.
pub const SETUP_CODE_REFUSED: &str =
    "this setup link is wrong, used or expired: start `tessera serve` again on the empty \
     database for a new one, or add an operator with `tessera operator add`";

/// The message of a setup link used when an operator exists.
pub const SETUP_DONE: &str =
    "the console has an operator already: sign in, or add one with `tessera operator add`";

/// A new one-time setup code (valid [`SETUP_CODE_TTL`] seconds, stored hashed) when
/// there is no operator yet; `None` otherwise.
pub fn new_setup_code(conn: &mut DbConnection, now: i64) -> Result<Option<String>, AdminError> {
    if OperatorRow::count(conn)? > 0 {
        return Ok(None);
    }
    let code = random_token(32);
    let expires = now.saturating_add(SETUP_CODE_TTL);
    operator::insert_setup_code(conn, &hash_secret(&code), now, expires)?;
    Ok(Some(code))
}

/// Why the setup page refuses, or `None` when `code` may create the first operator.
pub fn setup_refusal(
    conn: &mut DbConnection,
    code: &str,
    now: i64,
) -> Result<Option<&'static str>, AdminError> {
    if OperatorRow::count(conn)? > 0 {
        return Ok(Some(SETUP_DONE));
    }
    if !operator::setup_code_usable(conn, &hash_secret(code), now)? {
        return Ok(Some(SETUP_CODE_REFUSED));
    }
    Ok(None)
}

/// Uses `code` to create the first operator, all or nothing: refused (nothing
/// written, the code still usable) when an operator exists, and when the code is
/// wrong, used or expired; of simultaneous uses on any replica one wins. Audited as
/// the new operator (`console:<username>`).
pub fn set_up_first_operator(
    conn: &mut DbConnection,
    code: &str,
    username: &str,
    password_hash: &str,
    now: i64,
) -> Result<OperatorView, AdminError> {
    operators::check_username(username)?;
    let code_hash = hash_secret(code);
    let actor = format!("console:{username}");
    crate::db::audit::committed(conn, |conn| {
        write_transaction(conn, WriteLock::ConsoleSetup, |conn| {
            if OperatorRow::count(conn)? > 0 {
                return Ok(Err(AdminError::Invalid(SETUP_DONE.into())));
            }
            if !operator::use_setup_code(conn, &code_hash, now)? {
                return Ok(Err(AdminError::Invalid(SETUP_CODE_REFUSED.into())));
            }
            // The name was checked and there is no operator: only the database can
            // fail here, and any failure undoes the code's use with the rest.
            match operators::add(conn, &actor, username, password_hash, now) {
                Ok(view) => Ok(Ok(view)),
                Err(AdminError::Db(e)) => Err(e),
                Err(other) => {
                    log::warn!("first operator not created: {other}");
                    Err(crate::db::QueryError::RollbackTransaction.into())
                }
            }
        })
    })?
}

/// The overview's numbers.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Registered clients.
    pub clients: i64,
    /// Users of the password grant.
    pub users: i64,
    /// The signing key in use: its kid and since when it signs (Unix seconds).
    pub active_key: Option<(String, i64)>,
}

/// Counts clients and users, and finds the active signing key.
pub fn overview(conn: &mut DbConnection) -> Result<Overview, AdminError> {
    let active_key = SigningKeyRow::list(conn)?
        .into_iter()
        .filter(|k| k.state == "active")
        .max_by_key(|k| k.activates_at)
        .map(|k| (k.kid, k.activates_at));
    Ok(Overview {
        clients: Client::count(conn)?,
        users: User::count(conn)?,
        active_key,
    })
}
