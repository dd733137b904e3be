//! `grant_type=refresh_token` (RFC 6749 §6) with rotation and reuse detection
//! (RFC 9700 §4.14.2): what to do with a presented refresh token, decided from its
//! stored state. The storage layer applies the decision inside one transaction.

use crate::oauth::form::FormParams;
use crate::oauth::scope::{self, Scope};
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
    Refuse(&'static str),
}

/// Decides for `stored`, presented by `client_id` at `now` with reuse grace `grace`.
pub fn decide(stored: &StoredRefresh<'_>, client_id: &str, now: i64, grace: i64) -> Decision {
    if stored.client_id != client_id {
        return Decision::Refuse("issued to another client");
    }
    if stored.revoked_at.is_some() {
        return Decision::Refuse("family revoked");
    }
    if stored.expires_at <= now {
        return Decision::Refuse("family expired");
    }
    if stored.user_disabled {
        return Decision::Refuse("user disabled");
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

/// The one answer for every refused refresh token, so none reveals why.
pub fn refused() -> OAuthError {
    OAuthError::invalid_grant("refresh token is invalid, expired or revoked")
}

#[cfg(test)]
mod tests {
    use super::*;

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
