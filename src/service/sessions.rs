//! Refresh sessions: the refresh-token family a login starts, its rotation on each
//! refresh (a rotated-out token presented again revokes the family: reuse detection,
//! RFC 9700 §4.14.2), and logout, which ends the family. Whether a presented token
//! still stands is one rule, [`decide`], asked by the check before use, by rotation
//! and by logout alike. Shared by the token endpoint and the simplejwt endpoints.

use crate::db::audit;
use crate::db::models::refresh_token::{self, Family, NewFamily, Rotation, Step, StoredToken};
use crate::oauth::binding::{self, Constraint, Presented};
use crate::oauth::form::FormParams;
use crate::oauth::grant::refresh_token::{
    self as grant, decide, refused, Decision, Refused, StoredRefresh,
};
use crate::oauth::secret::{hash_secret, random_token};
use crate::oauth::token::{AccessTokenClaims, Confirmation, TokenContext};
use crate::oauth::{ErrorCode, OAuthError, RegisteredClient, Scope};
use crate::service::access::MAX_PRESENTED_TOKEN;
use crate::service::{now, AppState};

/// Starts a refresh-token family for `user_id` through `client`; returns its first token.
pub async fn start(
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
    State(Refused),
}

fn refused_because<T>(
    why: impl std::fmt::Display,
    client: &RegisteredClient,
) -> Result<T, OAuthError> {
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

/// What a refresh issues, decided from the family before anything is written
/// ([`grant::claims`]: the scope may only narrow, the audience must be the client's).
pub fn claims_on_refresh(
    client: RegisteredClient,
    params: FormParams,
    state: &AppState,
) -> impl Fn(&Family) -> Result<AccessTokenClaims, OAuthError> + Send + 'static {
    let issuer = state.issuer.clone();
    let default_access_ttl = state.settings.tokens.access_token_ttl;
    move |family| {
        let granted = Scope::parse(&family.scope).unwrap_or_default();
        let ctx = TokenContext {
            issuer: &issuer,
            now: now(),
            default_access_ttl,
        };
        grant::claims(
            &client,
            &params,
            &granted,
            &family.user_id,
            &ctx,
            random_token(16),
        )
    }
}

/// What logging out with a refresh token (simplejwt's blacklist) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logout {
    /// The token's family ended now.
    Ended,
    /// The family had already ended (revoked: logged out, reuse, password change).
    AlreadyEnded,
    /// Not a live refresh token of this client: unknown, another client's, expired.
    NotValid,
}

/// Ends the family of `client_id`'s refresh token `token`: the session is over on
/// every device-held copy of it. The token must stand as a refresh would find it
/// ([`decide`], without grace), except that a token already rotated out still names
/// its session, so it ends it too (presenting it again would anyway, as reuse).
pub async fn logout(state: &AppState, client_id: &str, token: &str) -> Result<Logout, OAuthError> {
    if token.len() > MAX_PRESENTED_TOKEN {
        return Ok(Logout::NotValid);
    }
    let hash = hash_secret(token);
    let client_id = client_id.to_string();
    let outcome = state
        .write("end session", move |conn| {
            let t = now();
            let Some(stored) = refresh_token::inspect(conn, &hash)? else {
                return Ok(Logout::NotValid);
            };
            match decide(&refresh_state(&stored), &client_id, t, 0) {
                Decision::Rotate | Decision::ReissueInGrace | Decision::Reuse => {}
                Decision::Refuse(Refused::Revoked) => return Ok(Logout::AlreadyEnded),
                Decision::Refuse(_) => return Ok(Logout::NotValid),
            }
            let family = refresh_token::Families::One(&stored.family_id);
            refresh_token::revoke(conn, family, t)?;
            let details = serde_json::json!({ "kind": "refresh_token", "via": "simplejwt" });
            let actor = format!("client:{client_id}");
            audit::record(conn, &actor, "token.revoke", &stored.family_id, details, t)?;
            Ok(Logout::Ended)
        })
        .await?;
    if outcome == Logout::Ended {
        state
            .metrics
            .revocations
            .with_label_values(&["refresh_token"])
            .inc();
    }
    Ok(outcome)
}
