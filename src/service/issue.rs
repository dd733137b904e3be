//! Issuing: the context claims are built in (issuer, clock, default lifetime) and the
//! signature with the current key, shared by every endpoint that hands out tokens.

use crate::oauth::token::{encode_jwt, AccessTokenClaims, TokenContext};
use crate::oauth::OAuthError;
use crate::service::{now, AppState};

/// The context a grant builds claims in, now.
pub fn context(state: &AppState) -> TokenContext<'_> {
    TokenContext {
        issuer: &state.issuer,
        now: now(),
        default_access_ttl: state.settings.access_token_ttl,
    }
}

/// Signs `claims` with the current key.
pub fn sign(state: &AppState, claims: &AccessTokenClaims) -> Result<String, OAuthError> {
    let keys = state.keys.snapshot();
    let signer = keys.signer.as_ref().ok_or_else(|| {
        log::error!("no signing key is loaded");
        OAuthError::unavailable()
    })?;
    encode_jwt(signer.as_ref(), claims).map_err(|e| {
        log::error!("{e}");
        OAuthError::server_error()
    })
}
