//! The admin console's sessions and sign-in: server-side sessions keyed by the hash of
//! the cookie (so every replica sees them), their idle and absolute limits, and the
//! password check of an operator, throttled like password logins (the same
//! `login_failures` counters and reservation, under keys of their own).

use crate::db::audit;
use crate::db::models::{login_failure, OperatorRow, SessionRow};
use crate::db::DbConnection;
use crate::oauth::secret::{hash_secret, random_token};
use crate::oauth::throttle::{self, addr_key, operator_key};
use crate::oauth::OAuthError;
use crate::service::{now, read, AppState};

/// How long a console session lasts at most, however busy, seconds (12 h).
pub const ABSOLUTE_LIFETIME: i64 = 12 * 3600;

/// A live console session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Hex SHA-256 of the cookie value: the session's key.
    pub id_hash: String,
    /// The operator's name, as typed.
    pub username: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// A session just started: the cookie value (shown to the browser only) and the session.
#[derive(Debug, Clone)]
pub struct Started {
    /// The cookie's value.
    pub cookie: String,
    /// The session.
    pub session: Session,
}

/// Starts a session for operator `operator_id` (named `username`) at `now`.
pub fn start_session(
    conn: &mut DbConnection,
    operator_id: &str,
    username: &str,
    now: i64,
) -> Result<Started, crate::db::QueryError> {
    let cookie = random_token(32);
    let row = SessionRow {
        id_hash: hash_secret(&cookie),
        operator_id: operator_id.to_string(),
        csrf: random_token(32),
        created_at: now,
        last_seen_at: now,
    };
    SessionRow::insert(conn, &row)?;
    Ok(Started {
        cookie,
        session: Session {
            id_hash: row.id_hash,
            username: username.to_string(),
            csrf: row.csrf,
        },
    })
}

/// Starts a session for the operator named exactly `username` (after the setup link
/// created it).
pub fn start_session_for(
    conn: &mut DbConnection,
    username: &str,
    now: i64,
) -> Result<Option<Started>, crate::db::QueryError> {
    match OperatorRow::find_by_username(conn, username)? {
        Some(op) if !op.disabled => start_session(conn, &op.id, &op.username, now).map(Some),
        _ => Ok(None),
    }
}

/// The live session of `cookie`, if any. A session idle longer than
/// `console_idle_timeout`, older than [`ABSOLUTE_LIFETIME`] or of a disabled operator
/// ends here; a live one has its last use moved to now (at most one write a second).
pub async fn session(state: &AppState, cookie: &str) -> Result<Option<Session>, OAuthError> {
    if cookie.is_empty() || cookie.len() > 128 {
        return Ok(None);
    }
    let id_hash = hash_secret(cookie);
    let key = id_hash.clone();
    let found = read(&state.pool, "find console session", move |conn| {
        Ok(SessionRow::find(conn, &key)?)
    })
    .await?;
    let Some((row, op)) = found else {
        return Ok(None);
    };
    let t = now();
    let idle = state.settings.console.console_idle_timeout;
    let ended = op.disabled
        || t.saturating_sub(row.last_seen_at) > idle
        || t.saturating_sub(row.created_at) > ABSOLUTE_LIFETIME;
    if ended {
        state
            .write("end console session", move |conn| {
                Ok(SessionRow::delete(conn, &id_hash)?)
            })
            .await?;
        return Ok(None);
    }
    if t > row.last_seen_at {
        let key = id_hash.clone();
        state
            .write("touch console session", move |conn| {
                Ok(SessionRow::touch(conn, &key, t)?)
            })
            .await?;
    }
    Ok(Some(Session {
        id_hash,
        username: op.username,
        csrf: row.csrf,
    }))
}

/// Ends a session (sign-out), audited as its operator.
pub async fn sign_out(state: &AppState, session: &Session) -> Result<(), OAuthError> {
    let id_hash = session.id_hash.clone();
    let actor = actor(&session.username);
    let target = session.username.clone();
    state
        .write("end console session", move |conn| {
            SessionRow::delete(conn, &id_hash)?;
            audit::record(
                conn,
                &actor,
                "console.sign_out",
                &target,
                serde_json::json!({}),
                now(),
            )?;
            Ok(())
        })
        .await
}

/// The audit actor of an operator: `console:<username>`, control characters shown as
/// `?` and the name cut at 64 characters (a failed sign-in records what was typed).
pub fn actor(username: &str) -> String {
    let name: String = username
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    format!("console:{name}")
}

/// Why a sign-in failed.
#[derive(Debug)]
pub enum SignInError {
    /// Wrong name or password, or a disabled operator: one answer for all.
    Refused,
    /// Too many failures for this name or address; seconds until the window ends.
    Throttled(i64),
    /// The database or the hashing threads could not do it now.
    Unavailable(OAuthError),
}

impl From<OAuthError> for SignInError {
    fn from(e: OAuthError) -> Self {
        SignInError::Unavailable(e)
    }
}

/// Checks an operator's name and password and starts a session. Counted against the
/// name and the client address before the password is checked (the reservation of
/// `service::login`): of simultaneous attempts at most the limit are checked. An
/// unknown name costs a dummy hash, as a wrong password does, and gets the same
/// answer. Success and failure are audited as `console:<username>`, never the password.
pub async fn sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    client_addr: &str,
) -> Result<Started, SignInError> {
    let keys = [operator_key(username), addr_key(client_addr)];
    let limits = [
        state.settings.logins.user_limit(),
        state.settings.logins.addr_limit(),
    ];
    let window = state.settings.logins.user_limit().window;
    let name = username.to_string();
    let reserve_keys = keys.clone();
    let reserved = state
        .write("find operator", move |conn| {
            let t = now();
            let refs = reserve_keys.each_ref().map(String::as_str);
            let reserved = login_failure::reserve(conn, &refs, t, window, |counters| {
                for (c, limit) in counters.iter().zip(limits) {
                    throttle::admit(c.failures, c.window_start, limit, t).map_err(Throttled)?;
                }
                Ok::<(), Refusal>(())
            });
            match reserved {
                Ok(counters) => Ok(Ok((counters, OperatorRow::find_by_username(conn, &name)?))),
                Err(Refusal::Throttled(Throttled(s))) => Ok(Err(s)),
                Err(Refusal::Db(e)) => Err(e.into()),
            }
        })
        .await?;
    let (counters, operator) = match reserved {
        Ok(found) => found,
        Err(retry) => return Err(SignInError::Throttled(retry)),
    };
    let windows: Vec<i64> = counters.iter().map(|c| c.window_start).collect();
    let stored = operator.as_ref().map(|o| o.password_hash.clone());
    let checked = match state.hash_pool.verify(password.to_string(), stored).await {
        Ok(checked) => checked,
        Err(busy) => {
            log::warn!("{busy}");
            let release = state.write("record console sign-in", move |conn| {
                for (key, start) in keys.iter().zip(windows) {
                    login_failure::release(conn, key, start)?;
                }
                Ok(())
            });
            if let Err(e) = release.await {
                log::warn!(
                    "console sign-in reservation not given back: {}",
                    e.description
                );
            }
            return Err(SignInError::Unavailable(OAuthError::unavailable()));
        }
    };
    let actor = actor(username);
    let target: String = username.chars().take(64).collect();
    let Some(op) = operator.filter(|o| checked.matched && !o.disabled) else {
        state.metrics.login_failures.inc();
        state
            .write("record console sign-in", move |conn| {
                audit::record(
                    conn,
                    &actor,
                    "console.sign_in_failed",
                    &target,
                    serde_json::json!({}),
                    now(),
                )?;
                Ok(())
            })
            .await?;
        return Err(SignInError::Refused);
    };
    let addr_window = windows.get(1).copied();
    let started = state
        .write("record console sign-in", move |conn| {
            let [user_key, addr_key] = &keys;
            login_failure::clear(conn, user_key)?;
            if let Some(start) = addr_window {
                login_failure::release(conn, addr_key, start)?;
            }
            let t = now();
            let started = start_session(conn, &op.id, &op.username, t)?;
            audit::record(
                conn,
                &actor,
                "console.sign_in",
                &op.username,
                serde_json::json!({}),
                t,
            )?;
            Ok(started)
        })
        .await?;
    Ok(started)
}

/// An attempt over a limit: seconds until its window ends.
struct Throttled(i64);

/// What the reservation's transaction ends with.
enum Refusal {
    Throttled(Throttled),
    Db(crate::db::QueryError),
}

impl From<Throttled> for Refusal {
    fn from(t: Throttled) -> Self {
        Refusal::Throttled(t)
    }
}

impl From<crate::db::QueryError> for Refusal {
    fn from(e: crate::db::QueryError) -> Self {
        Refusal::Db(e)
    }
}
