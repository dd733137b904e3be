//! Logging users in and keeping them logged in: password checks with throttling, and
//! refresh-token families. Shared by the token endpoint and the simplejwt endpoints.
//! Database work runs in one blocking closure per step; password hashing runs on the
//! dedicated hash pool.

pub mod hash_pool;

use crate::db::models::refresh_token::{self, Family, NewFamily, Rotation};
use crate::db::models::{login_failure, User};
use crate::db::pool;
use crate::http::error::blocking;
use crate::oauth::dpop;
use crate::oauth::form::FormParams;
use crate::oauth::grant::password::user_claims;
use crate::oauth::grant::password::{bad_credentials, Login};
use crate::oauth::grant::refresh_token::{narrow, refused};
use crate::oauth::secret::{hash_secret, random_token};
use crate::oauth::throttle::{self, addr_key, user_key};
use crate::oauth::token::{AccessTokenClaims, TokenContext};
use crate::oauth::{OAuthError, RegisteredClient, Scope};
use crate::state::{now, AppState};

/// Checks a login's username and password, throttled per username and per client
/// address. Returns the user's stable id. Unknown user, wrong password and disabled
/// user get the same answer after the same work; a locked username or address is
/// refused before any password check, so a correct password does not help an attacker.
pub async fn authenticate(
    state: &AppState,
    login: &Login<'_>,
    client_addr: &str,
) -> Result<String, OAuthError> {
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
        state.settings.login_user_limit,
        state.settings.login_addr_limit,
    ];

    let pool = state.pool.clone();
    let username = login.username.clone();
    let lookup_keys = keys.clone();
    let (user, counters) = blocking(move || {
        let mut conn = pool::get(&pool)?;
        let refs: Vec<&str> = lookup_keys.iter().map(String::as_str).collect();
        let counters = login_failure::get(&mut conn, &refs)?;
        let user = match &username {
            Some(u) => User::find_by_username(&mut conn, u)?,
            None => None,
        };
        Ok((user, counters))
    })
    .await?;

    let t = now();
    for (key, limit) in keys.iter().zip(limits) {
        let locked = counters
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, c)| throttle::retry_after(c.failures, c.window_start, limit, t));
        if let Some(secs) = locked {
            let mut e =
                OAuthError::invalid_grant("too many failed login attempts; try again later");
            e.retry_after = Some(secs.max(1) as u64);
            return Err(e);
        }
    }

    let ok = state
        .hash_pool
        .verify(
            login.password.to_string(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await
        .map_err(|e| {
            log::warn!("{e}");
            OAuthError::unavailable()
        })?;
    let user = user.filter(|u| ok && !u.disabled);

    let window = state.settings.login_user_limit.window;
    let succeeded = user.is_some();
    state
        .writer
        .run(move |conn| {
            let t = now();
            if succeeded {
                login_failure::clear(conn, &keys[0])?;
            } else {
                for key in &keys {
                    login_failure::record(conn, key, t, window)?;
                }
            }
            Ok(())
        })
        .await?;
    if !succeeded {
        state.metrics.login_failures.inc();
    }
    user.map(|u| u.id).ok_or_else(bad_credentials)
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
        .unwrap_or(state.settings.refresh_token_ttl);
    let (client_id, user_id, scope) = (
        client.client_id.clone(),
        user_id.to_string(),
        scope.to_string(),
    );
    let dpop_jkt = dpop_jkt.map(str::to_string);
    state
        .writer
        .run(move |conn| {
            let t = now();
            let id = uuid::Uuid::new_v4().to_string();
            let family = NewFamily {
                id: &id,
                client_id: &client_id,
                user_id: &user_id,
                scope: &scope,
                dpop_jkt: dpop_jkt.as_deref(),
                created_at: t,
                expires_at: t + ttl,
            };
            Ok(refresh_token::issue(conn, &family, &hash)?)
        })
        .await?;
    Ok(token)
}

/// A refresh with a DPoP proof: the token's family must be bound to the proof's key
/// (or to none), checked before the proof's `jti` is used up. [`rotate`] checks it
/// again, inside its transaction.
pub async fn check_binding(state: &AppState, presented: &str, jkt: &str) -> Result<(), OAuthError> {
    let pool = state.pool.clone();
    let hash = hash_secret(presented);
    let bound = blocking(move || {
        let mut conn = pool::get(&pool)?;
        Ok(refresh_token::dpop_binding(&mut conn, &hash)?)
    })
    .await?;
    match bound {
        Some(Some(b)) => dpop::check_binding(Some(&b), Some(jkt)),
        _ => Ok(()),
    }
}

/// Rotates the presented refresh token. A family started under DPoP rotates only with
/// a proof by the same key (`proof_jkt`), on every path that refreshes. `check`
/// decides, from the family and before anything is written, what to issue (scope,
/// audience): its error, like a binding refusal, leaves the token as it was. Returns
/// the family, what `check` returned, and the successor token.
pub async fn rotate<R: Send + 'static>(
    state: &AppState,
    client: &RegisteredClient,
    presented: &str,
    proof_jkt: Option<&str>,
    check: impl Fn(&Family) -> Result<R, OAuthError> + Send + 'static,
) -> Result<(Family, R, String), OAuthError> {
    let proof_jkt = proof_jkt.map(str::to_string);
    let check = move |family: &Family| {
        dpop::check_binding(family.dpop_jkt.as_deref(), proof_jkt.as_deref())?;
        check(family)
    };
    let successor = random_token(32);
    let (presented_hash, successor_hash) = (hash_secret(presented), hash_secret(&successor));
    let grace = client
        .refresh_reuse_grace
        .unwrap_or(state.settings.refresh_reuse_grace);
    let client_id = client.client_id.clone();
    let outcome = state
        .writer
        .run(move |conn| {
            Ok(refresh_token::rotate(
                conn,
                &presented_hash,
                &successor_hash,
                &client_id,
                now(),
                grace,
                check,
            )?)
        })
        .await?;
    match outcome {
        Rotation::Rotated(family, r) => Ok((family, r, successor)),
        Rotation::Rejected(e) => Err(e),
        Rotation::ReuseDetected => {
            state.metrics.refresh_reuse.inc();
            log::warn!(
                "refresh token reuse detected: family revoked (client_id={})",
                client.client_id
            );
            Err(refused())
        }
        Rotation::Refused(why) => {
            log::info!(
                "refresh token refused: {why} (client_id={})",
                client.client_id
            );
            Err(refused())
        }
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
    let default_access_ttl = state.settings.access_token_ttl;
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
