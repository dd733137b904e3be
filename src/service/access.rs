//! Is this one of our access tokens, and is it still good? Shared by introspection and
//! the admin API's token authentication.

use crate::db::models::refresh_token::{self, Family};
use crate::db::models::revoked_token;
use crate::oauth::grant::refresh_token::usable;
use crate::oauth::scope::{ADMIN_SCOPE, INTROSPECT_SCOPE};
use crate::oauth::secret::hash_secret;
use crate::oauth::token::AccessTokenClaims;
pub use crate::oauth::token::MAX_PRESENTED_TOKEN;
use crate::oauth::OAuthError;
use crate::oauth::{ErrorCode, RegisteredClient};
use crate::service::sessions::refresh_state;
use crate::service::{now, AppState};

/// What an access token presented to us turned out to be.
#[derive(Debug)]
pub enum AccessToken {
    /// Not a valid, unexpired access token signed by our keys for our issuer.
    NotOurs,
    /// Ours, but revoked, or its client is gone or disabled.
    Inactive,
    /// Ours and good.
    Active(Box<AccessTokenClaims>),
}

/// Checks signature, issuer and expiry (in memory), then the revocation list and the
/// client (database / client cache).
pub async fn check(state: &AppState, token: &str) -> Result<AccessToken, OAuthError> {
    let keys = state.keys.snapshot();
    let Some(claims) = keys.verifier.verify(token, &state.issuer, now()) else {
        return Ok(AccessToken::NotOurs);
    };
    let jti = claims.jti.clone();
    let revoked = super::read(&state.pool, "check revocation", move |conn| {
        Ok(revoked_token::is_revoked(conn, &jti)?)
    })
    .await?;
    let found = state.clients.find(&state.pool, &claims.client_id).await?;
    let mut client = found.value.clone();
    if client.is_none() && !revoked {
        // A token we signed names a client the cache does not know: made since,
        // elsewhere. Read it again before calling the token inactive.
        if let Some(current) = state
            .clients
            .reread(&state.pool, &claims.client_id, &found)
            .await?
        {
            client = current;
        }
    }
    Ok(if revoked || client.is_none_or(|c| c.disabled) {
        AccessToken::Inactive
    } else {
        AccessToken::Active(Box::new(claims))
    })
}

/// Whether `caller` may introspect tokens: it holds `tessera:introspect` or
/// `tessera:admin` (403 `unauthorized_client` otherwise).
pub fn may_introspect(caller: &RegisteredClient) -> Result<(), OAuthError> {
    if caller.scope.contains(INTROSPECT_SCOPE) || caller.scope.contains(ADMIN_SCOPE) {
        return Ok(());
    }
    Err(OAuthError::new(
        ErrorCode::UnauthorizedClient,
        format!("introspection needs the scope {INTROSPECT_SCOPE}"),
    )
    .with_status(403))
}

/// A presented refresh token's stored state (`None`: no such token).
pub async fn inspect_refresh(
    state: &AppState,
    token: &str,
) -> Result<Option<InspectedRefresh>, OAuthError> {
    if token.len() > MAX_PRESENTED_TOKEN {
        return Ok(None);
    }
    let hash = hash_secret(token);
    super::read(&state.pool, "inspect refresh token", move |conn| {
        Ok(
            refresh_token::inspect(conn, &hash)?.map(|stored| InspectedRefresh {
                usable: usable(&refresh_state(&stored), now()),
                family: stored.family(),
                client_id: stored.client_id,
            }),
        )
    })
    .await
}

/// A stored refresh token, for introspection and revocation.
#[derive(Debug, Clone)]
pub struct InspectedRefresh {
    /// Its family.
    pub family: Family,
    /// The client the family belongs to.
    pub client_id: String,
    /// Whether it would be accepted now (the refresh grant's own rule).
    pub usable: bool,
}
