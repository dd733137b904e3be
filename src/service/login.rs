//! Logging users in and keeping them logged in: password checks with throttling, and
//! refresh-token families. Shared by the token endpoint and the simplejwt endpoints.
//! Database work runs in one blocking closure per step; password hashing runs on the
//! dedicated hash pool.

use crate::db::models::refresh_token::{self, Family, NewFamily, Rotation, Step, StoredToken};
use crate::db::models::{login_failure, User};
use crate::oauth::binding::{self, Constraint, Presented};
use crate::oauth::form::FormParams;
use crate::oauth::grant::password::{bad_credentials, user_claims, Login};
use crate::oauth::grant::refresh_token::{decide, narrow, refused, Decision, StoredRefresh};
use crate::oauth::secret::{hash_secret, random_token};
use crate::oauth::throttle::{self, addr_key, user_key};
use crate::oauth::token::{AccessTokenClaims, Confirmation, TokenContext};
use crate::oauth::{ErrorCode, OAuthError, RegisteredClient, Scope};
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

/// Starts a refresh-token family for `user_id` through `client`; returns its first token.
pub async fn start_family(
    state: &AppState,
    client: &RegisteredClient,
    user_id: &str,
    scope: &Scope,
    dpop_jkt: Option<&str>,
) -> Result<String, OAuthError> {
    let token = random_token(32);
    let hash = hash_secret(&token);
    let ttl = client
        .refresh_token_ttl
        .unwrap_or(state.settings.tokens.refresh_token_ttl);
    let (client_id, user_id, scope) = (
        client.client_id.clone(),
        user_id.to_string(),
        scope.to_string(),
    );
    let dpop_jkt = dpop_jkt.map(str::to_string);
    state
        .write("start session", move |conn| {
            let t = now();
            let id = uuid::Uuid::new_v4().to_string();
            let family = NewFamily {
                id: &id,
                client_id: &client_id,
                user_id: &user_id,
                scope: &scope,
                dpop_jkt: dpop_jkt.as_deref(),
                created_at: t,
                expires_at: t.saturating_add(ttl),
            };
            Ok(refresh_token::issue(conn, &family, &hash)?)
        })
        .await?;
    Ok(token)
}

/// Decides a refresh as [`rotate`] will, before the request's single-use ids (its DPoP
/// proof, its client assertion) are used up, so that a refresh [`rotate`] would refuse
/// — an unknown, foreign, revoked or expired token, a disabled user, a wider scope, a
/// proof by the wrong key — uses up nothing: a refused request writes nothing. A
/// rotated token presented again passes, for [`rotate`] to revoke its family, unless
/// the proof is by the wrong key (refused here, revoking nothing, as before). This read
/// only spares the ids: [`rotate`] decides again in its own unit of work.
pub async fn check_before_use<R>(
    state: &AppState,
    client: &RegisteredClient,
    presented: &str,
    proof_jkt: Option<&str>,
    check: impl Fn(&Family) -> Result<R, OAuthError> + Send + 'static,
) -> Result<(), OAuthError> {
    let hash = hash_secret(presented);
    let stored = super::read(&state.pool, "find refresh token", move |conn| {
        Ok(refresh_token::inspect(conn, &hash)?)
    })
    .await?;
    let Some(stored) = stored else {
        return refused_because("unknown token", client);
    };
    let family = stored.family();
    let bound = family.dpop_jkt.clone().map(Constraint::Dpop);
    if let Some(jkt) = proof_jkt {
        let own = Presented::own(REFRESH_TOKEN, bound.clone());
        binding::check(&own, Some(jkt), ErrorCode::InvalidDpopProof)?;
    }
    let grace = client
        .refresh_reuse_grace
        .unwrap_or(state.settings.tokens.refresh_reuse_grace);
    match decide(&refresh_state(&stored), &client.client_id, now(), grace) {
        Decision::Rotate | Decision::ReissueInGrace => {
            let own = [Presented::own(REFRESH_TOKEN, bound)];
            binding::issued(&own, proof_jkt, ErrorCode::InvalidDpopProof)?;
            check(&family).map(|_| ())
        }
        Decision::Reuse => Ok(()),
        Decision::Refuse(why) => refused_because(why, client),
    }
}

/// How binding messages name a refresh token.
const REFRESH_TOKEN: &str = "this refresh token";

/// What a refresh rotated: the family, the binding of the access token to issue
/// ([`binding::issued`]: a family started under DPoP yields only tokens bound to its
/// key), what the caller's check decided, and the successor refresh token.
#[derive(Debug)]
pub struct Rotated<R> {
    /// The family.
    pub family: Family,
    /// The access token's `cnf`.
    pub cnf: Option<Confirmation>,
    /// What the caller's `check` returned.
    pub decided: R,
    /// The new refresh token.
    pub successor: String,
}

/// Rotates the presented refresh token. A family started under DPoP rotates only with
/// a proof by the same key (`proof_jkt`), on every path that refreshes. `check`
/// decides, from the family and before anything is written, what to issue (scope,
/// audience): its error, like a binding refusal, leaves the token as it was.
pub async fn rotate<R: Send + 'static>(
    state: &AppState,
    client: &RegisteredClient,
    presented: &str,
    proof_jkt: Option<&str>,
    check: impl Fn(&Family) -> Result<R, OAuthError> + Send + 'static,
) -> Result<Rotated<R>, OAuthError> {
    let proof_jkt = proof_jkt.map(str::to_string);
    let check = move |family: &Family| {
        let bound = family.dpop_jkt.clone().map(Constraint::Dpop);
        let cnf = binding::issued(
            &[Presented::own(REFRESH_TOKEN, bound)],
            proof_jkt.as_deref(),
            ErrorCode::InvalidDpopProof,
        )?;
        Ok((cnf, check(family)?))
    };
    let successor = random_token(32);
    let (presented_hash, successor_hash) = (hash_secret(presented), hash_secret(&successor));
    let grace = client
        .refresh_reuse_grace
        .unwrap_or(state.settings.tokens.refresh_reuse_grace);
    let client_id = client.client_id.clone();
    let outcome = state
        .write("rotate refresh token", move |conn| {
            let t = now();
            Ok(refresh_token::rotate(
                conn,
                &presented_hash,
                &successor_hash,
                t,
                |stored| match decide(&refresh_state(stored), &client_id, t, grace) {
                    Decision::Rotate | Decision::ReissueInGrace => match check(&stored.family()) {
                        Ok(r) => Step::Rotate(r),
                        Err(e) => Step::Refuse(Refusal::Check(e)),
                    },
                    Decision::Reuse => Step::RevokeFamily,
                    Decision::Refuse(why) => Step::Refuse(Refusal::State(why)),
                },
            )?)
        })
        .await?;
    match outcome {
        Rotation::Rotated(family, (cnf, decided)) => Ok(Rotated {
            family,
            cnf,
            decided,
            successor,
        }),
        Rotation::Refused(Refusal::Check(e)) => Err(e),
        Rotation::Revoked => {
            state.metrics.refresh_reuse.inc();
            log::warn!(
                "refresh token reuse detected: family revoked (client_id={})",
                client.client_id
            );
            Err(refused())
        }
        Rotation::Refused(Refusal::State(why)) => refused_because(why, client),
        Rotation::Unknown => refused_because("unknown token", client),
    }
}

/// Why a presented refresh token was not rotated.
enum Refusal {
    /// The caller's check (scope, audience, DPoP binding) refused: its error is the answer.
    Check(OAuthError),
    /// The token's state (another client's, revoked, expired, user disabled): one answer
    /// for all, the reason only in the log.
    State(&'static str),
}

fn refused_because<T>(why: &str, client: &RegisteredClient) -> Result<T, OAuthError> {
    log::info!(
        "refresh token refused: {why} (client_id={})",
        client.client_id
    );
    Err(refused())
}

/// The refresh grant's view of a stored token.
pub fn refresh_state(stored: &StoredToken) -> StoredRefresh<'_> {
    StoredRefresh {
        client_id: &stored.client_id,
        used_at: stored.used_at,
        revoked_at: stored.revoked_at,
        expires_at: stored.expires_at,
        user_disabled: stored.user_disabled,
    }
}

/// What a refresh issues, decided from the family before anything is written: the
/// scope may only narrow, the audience must be the client's.
pub fn claims_on_refresh(
    client: RegisteredClient,
    params: FormParams,
    state: &AppState,
) -> impl Fn(&Family) -> Result<AccessTokenClaims, OAuthError> + Send + 'static {
    let issuer = state.issuer.clone();
    let default_access_ttl = state.settings.tokens.access_token_ttl;
    move |family| {
        let granted = Scope::parse(&family.scope).unwrap_or_default();
        let scope = narrow(params.get("scope"), &granted, &client)?;
        let ctx = TokenContext {
            issuer: &issuer,
            now: now(),
            default_access_ttl,
        };
        user_claims(
            &client,
            &params,
            &family.user_id,
            &scope,
            &ctx,
            random_token(16),
        )
    }
}
