//! `grant_type=refresh_token` (RFC 6749 §6) with rotation and reuse detection
//! (RFC 9700 §4.14.2): what to do with a presented refresh token, decided from its
//! stored state. The storage layer applies the decision inside one transaction.

use crate::oauth::form::FormParams;
use crate::oauth::grant::user_claims;
use crate::oauth::scope::{self, Scope};
use crate::oauth::token::{AccessTokenClaims, TokenContext};
use crate::oauth::{OAuthError, RegisteredClient};

/// The stored state of a presented refresh token and its family.
#[derive(Debug, Clone)]
pub struct StoredRefresh<'a> {
    /// The client the family was issued to.
    pub client_id: &'a str,
    /// When this token was rotated out, if it was.
    pub used_at: Option<i64>,
    /// When the family was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// The family's absolute end.
    pub expires_at: i64,
    /// Whether the family's user is disabled.
    pub user_disabled: bool,
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// First use: mark it used and issue its successor.
    Rotate,
    /// Presented again within the reuse grace: issue a fresh successor in the family.
    ReissueInGrace,
    /// Presented again after rotation: revoke the whole family, refuse.
    Reuse,
    /// Refuse without changing anything (the reason is for the log, not the client).
    Refuse(Refused),
}

/// Why a refresh token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// It was issued to another client.
    OtherClient,
    /// Its family was revoked (logout, reuse, a password change, a disabled user).
    Revoked,
    /// Its family is past its absolute end.
    Expired,
    /// Its user is disabled.
    UserDisabled,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::OtherClient => "issued to another client",
            Refused::Revoked => "family revoked",
            Refused::Expired => "family expired",
            Refused::UserDisabled => "user disabled",
        })
    }
}

/// Decides for `stored`, presented by `client_id` at `now` with reuse grace `grace`.
pub fn decide(stored: &StoredRefresh<'_>, client_id: &str, now: i64, grace: i64) -> Decision {
    if stored.client_id != client_id {
        return Decision::Refuse(Refused::OtherClient);
    }
    if stored.revoked_at.is_some() {
        return Decision::Refuse(Refused::Revoked);
    }
    if stored.expires_at <= now {
        return Decision::Refuse(Refused::Expired);
    }
    if stored.user_disabled {
        return Decision::Refuse(Refused::UserDisabled);
    }
    match stored.used_at {
        None => Decision::Rotate,
        Some(used) if grace > 0 && now.saturating_sub(used) <= grace => Decision::ReissueInGrace,
        Some(_) => Decision::Reuse,
    }
}

/// Whether `stored` would be accepted now for its own client, without any grace: the
/// one "still usable" rule (introspection and revocation ask it too).
pub fn usable(stored: &StoredRefresh<'_>, now: i64) -> bool {
    decide(stored, stored.client_id, now, 0) == Decision::Rotate
}

/// The refresh token of a request (whether the client may refresh is asked before,
/// in `service::issue::grant`).
pub fn presented(params: &FormParams) -> Result<&str, OAuthError> {
    let token = params.require("refresh_token")?;
    if token.len() > crate::oauth::token::MAX_PRESENTED_TOKEN {
        return Err(OAuthError::invalid_grant(
            "refresh token is invalid, expired or revoked",
        ));
    }
    Ok(token)
}

/// The scope of the access token issued on refresh: at most what the family was
/// granted and the client may still have (RFC 6749 §6: it may only narrow).
pub fn narrow(
    requested: Option<&str>,
    granted: &Scope,
    client: &RegisteredClient,
) -> Result<Scope, OAuthError> {
    scope::resolve(requested, &granted.intersection(&client.scope))
}

/// Claims of the access token a refresh issues for the family's user `user_id`: the
/// scope at most what the family was `granted` ([`narrow`]), the rest as any user's
/// ([`user_claims`]).
pub fn claims(
    client: &RegisteredClient,
    params: &FormParams,
    granted: &Scope,
    user_id: &str,
    ctx: &TokenContext<'_>,
    jti: String,
) -> Result<AccessTokenClaims, OAuthError> {
    let scope = narrow(params.get("scope"), granted, client)?;
    user_claims(client, params, user_id, &scope, ctx, jti)
}

/// The one answer for every refused refresh token, so none reveals why.
pub fn refused() -> OAuthError {
    OAuthError::invalid_grant("refresh token is invalid, expired or revoked")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::{ErrorCode, GrantType};

    fn stored(used_at: Option<i64>) -> StoredRefresh<'static> {
        StoredRefresh {
            client_id: "app",
            used_at,
            revoked_at: None,
            expires_at: 2_000,
            user_disabled: false,
        }
    }

    #[test]
    fn first_use_rotates() {
        assert_eq!(decide(&stored(None), "app", 1_000, 0), Decision::Rotate);
    }

    #[test]
    fn second_use_is_reuse_when_strict() {
        assert_eq!(decide(&stored(Some(999)), "app", 1_000, 0), Decision::Reuse);
    }

    #[test]
    fn second_use_within_grace_reissues_and_after_it_is_reuse() {
        assert_eq!(
            decide(&stored(Some(990)), "app", 1_000, 10),
            Decision::ReissueInGrace
        );
        assert_eq!(
            decide(&stored(Some(989)), "app", 1_000, 10),
            Decision::Reuse
        );
    }

    #[test]
    fn a_refresh_is_for_the_familys_user_and_only_narrows_its_scope() {
        let client = RegisteredClient {
            access_token_ttl: Some(60),
            ..RegisteredClient::for_tests("app", "profile orders", vec![GrantType::RefreshToken])
        };
        let ctx = TokenContext {
            issuer: "http://issuer",
            now: 1_700_000_000,
            default_access_ttl: 300,
        };
        let granted = Scope::parse("profile orders").expect("scope");
        let form = |body: &str| FormParams::parse(body.as_bytes()).expect("form");
        let c = claims(&client, &form(""), &granted, "user-1", &ctx, "j".into()).expect("claims");
        assert_eq!((c.sub.as_str(), c.client_id.as_str()), ("user-1", "app"));
        assert_eq!((c.scope.as_str(), c.exp - c.iat), ("orders profile", 60));
        let narrowed = claims(
            &client,
            &form("scope=orders"),
            &granted,
            "u",
            &ctx,
            "j".into(),
        );
        assert_eq!(narrowed.expect("narrower").scope, "orders");
        let only_profile = Scope::parse("profile").expect("scope");
        let wider = claims(
            &client,
            &form("scope=orders"),
            &only_profile,
            "u",
            &ctx,
            "j".into(),
        );
        assert_eq!(wider.expect_err("wider").code, ErrorCode::InvalidScope);
    }

    #[test]
    fn foreign_revoked_expired_and_disabled_are_refused_without_revoking() {
        assert!(matches!(
            decide(&stored(Some(1)), "other", 1_000, 0),
            Decision::Refuse(_)
        ));
        let mut s = stored(None);
        s.revoked_at = Some(5);
        assert!(matches!(decide(&s, "app", 1_000, 0), Decision::Refuse(_)));
        let mut s = stored(None);
        s.expires_at = 1_000;
        assert!(matches!(decide(&s, "app", 1_000, 0), Decision::Refuse(_)));
        let mut s = stored(None);
        s.user_disabled = true;
        assert!(matches!(decide(&s, "app", 1_000, 0), Decision::Refuse(_)));
    }
}
