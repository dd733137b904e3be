//! Logging users in: the password check, throttled per username and per client
//! address, and the user it proves. Shared by the password grant and simplejwt's login;
//! what keeps a user logged in afterwards is [`super::sessions`]. Database work runs in
//! one unit of work per step; password hashing runs on the dedicated hash pool.

use crate::db::models::{login_failure, User};
use crate::oauth::grant::password::{bad_credentials, Login};
use crate::oauth::throttle::{self, addr_key, user_key};
use crate::oauth::OAuthError;
use crate::service::{now, AppState};

/// Checks a login's username and password, throttled per username and per client
/// address. Returns the user. Unknown user, wrong password and disabled user get the
/// same answer after the same work.
///
/// The attempt is counted on both keys before the password is checked, in the unit
/// of work that finds the user: the database hands out the counts, so of N
/// simultaneous attempts (on any replica) at most the limit are checked and the rest
/// are refused before any hashing, a correct password included. A failed check keeps
/// its count; a success gives the address's back and clears the username's, and a
/// check that never ran (the hash pool was full) gives both back.
pub async fn authenticate(
    state: &AppState,
    login: &Login<'_>,
    client_addr: &str,
) -> Result<LoggedIn, OAuthError> {
    let name_for_key = login.username.clone().unwrap_or_else(|| {
        login
            .raw_username
            .chars()
            .take(160)
            .collect::<String>()
            .to_lowercase()
    });
    let keys = [user_key(&name_for_key), addr_key(client_addr)];
    let limits = [
        state.settings.logins.user_limit(),
        state.settings.logins.addr_limit(),
    ];
    // One window for both keys (`login_lockout`).
    let window = state.settings.logins.user_limit().window;

    let username = login.username.clone();
    let reserve_keys = keys.clone();
    // The span keeps its documented name, "find user"; the unit also counts the attempt.
    let (user, reserved) = state
        .write("find user", move |conn| {
            let t = now();
            let refs = reserve_keys.each_ref().map(String::as_str);
            let reserved = login_failure::reserve(conn, &refs, t, window, |counters| {
                for (c, limit) in counters.iter().zip(limits) {
                    throttle::admit(c.failures, c.window_start, limit, t).map_err(throttled)?;
                }
                Ok::<(), OAuthError>(())
            })?;
            let user = match &username {
                Some(u) => User::find_by_username(conn, u)?,
                None => None,
            };
            Ok((user, reserved))
        })
        .await?;
    let windows: Vec<i64> = reserved.iter().map(|c| c.window_start).collect();
    let addr_window = windows.get(1).copied();

    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let checked = match state
        .hash_pool
        .verify(login.password.to_string(), stored)
        .await
    {
        Ok(checked) => checked,
        Err(busy) => {
            log::warn!("{busy}");
            // Nothing was checked: the attempt counts against no one.
            let release = state.write("record login", move |conn| {
                for (key, start) in keys.iter().zip(windows) {
                    login_failure::release(conn, key, start)?;
                }
                Ok(())
            });
            if let Err(e) = release.await {
                log::warn!("login reservation not given back: {}", e.description);
            }
            return Err(OAuthError::unavailable());
        }
    };
    let user = user.filter(|u| checked.matched && !u.disabled);
    let Some(user) = user else {
        // The attempt stays counted: it was the reservation.
        state.metrics.login_failures.inc();
        return Err(bad_credentials());
    };

    // The login proved the password: a weaker stored hash (imported, or of a lower
    // cost than configured) is replaced, unless the password changed meanwhile.
    let upgrade = checked
        .upgrade
        .map(|new| (user.id.clone(), user.password_hash.clone(), new));
    state
        .write("record login", move |conn| {
            let [user_key, addr_key] = &keys;
            login_failure::clear(conn, user_key)?;
            if let Some(start) = addr_window {
                login_failure::release(conn, addr_key, start)?;
            }
            if let Some((id, old, new)) = &upgrade {
                User::upgrade_password_hash(conn, id, old, new)?;
            }
            Ok(())
        })
        .await?;
    Ok(LoggedIn {
        id: user.id,
        external_id: user.external_id,
    })
}

/// The answer to an attempt over a limit: the same for a username and an address, with
/// the seconds until the window ends.
fn throttled(retry_after: i64) -> OAuthError {
    let mut e = OAuthError::invalid_grant("too many failed login attempts; try again later");
    e.retry_after = Some(retry_after.max(1) as u64);
    e
}

/// The user a login proved.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The stable tessera id (`sub`).
    pub id: String,
    /// The id in the system the user came from, if any.
    pub external_id: Option<String>,
}
