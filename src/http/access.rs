//! Is this one of our access tokens, and is it still good? Shared by introspection and
//! the admin API's Bearer authentication.

use super::error::blocking;
use crate::db::models::revoked_token;
use crate::db::pool;
use crate::oauth::token::AccessTokenClaims;
use crate::oauth::OAuthError;
use crate::state::{now, AppState};

/// The longest token (access or refresh) tessera looks at when one is presented to it;
/// its own are far shorter, so a longer one is refused without any work.
pub const MAX_PRESENTED_TOKEN: usize = 8 * 1024;

/// What an access token presented to us turned out to be.
#[derive(Debug)]
pub enum AccessToken {
    /// Not a valid, unexpired access token signed by our keys for our issuer.
    NotOurs,
    /// Ours, but revoked, or its client is gone or disabled.
    Inactive,
    /// Ours and good.
    Active(AccessTokenClaims),
}

/// Checks signature, issuer and expiry (in memory), then the revocation list and the
/// client (database / client cache).
pub async fn check(state: &AppState, token: &str) -> Result<AccessToken, OAuthError> {
    let keys = state.keys.snapshot();
    let Some(claims) = keys.verifier.verify(token, &state.issuer, now()) else {
        return Ok(AccessToken::NotOurs);
    };
    let pool = state.pool.clone();
    let jti = claims.jti.clone();
    let revoked = blocking(move || {
        let mut conn = pool::get(&pool)?;
        Ok(revoked_token::is_revoked(&mut conn, &jti)?)
    })
    .await?;
    let client = state.clients.lookup(&state.pool, &claims.client_id).await?;
    Ok(if revoked || client.is_none_or(|c| c.disabled) {
        AccessToken::Inactive
    } else {
        AccessToken::Active(claims)
    })
}
