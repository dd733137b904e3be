//! Revocation (RFC 7009) as one unit of work: a client's own refresh token ends its
//! family, its own access token's `jti` is denylisted until it expires; anything else
//! changes nothing. Each revocation is audited and counted.

use crate::db::audit;
use crate::db::models::{refresh_token, revoked_token};
use crate::oauth::secret::hash_secret;
use crate::oauth::OAuthError;
use crate::service::access::MAX_PRESENTED_TOKEN;
use crate::service::{now, AppState};

/// Revokes `token` if it is one of `client_id`'s; says nothing either way.
pub async fn revoke(state: &AppState, client_id: &str, token: String) -> Result<(), OAuthError> {
    let t = now();
    // Our access tokens are recognised by signature (expired ones need no revoking).
    let access = state
        .keys
        .snapshot()
        .verifier
        .verify(&token, &state.issuer, t);
    let client_id = client_id.to_string();
    let actor = format!("client:{client_id}");
    let revoked = state
        .write("revoke token", move |conn| {
            if let Some(claims) = access {
                if claims.client_id != client_id {
                    return Ok(None);
                }
                revoked_token::revoke(conn, &claims.jti, &client_id, claims.exp, t)?;
                let details = serde_json::json!({ "kind": "access_token", "exp": claims.exp });
                audit::record(conn, &actor, "token.revoke", &claims.jti, details, t)?;
                return Ok(Some("access_token"));
            }
            if token.len() > MAX_PRESENTED_TOKEN {
                return Ok(None);
            }
            let found = refresh_token::inspect(conn, &hash_secret(&token))?;
            match found {
                Some(r) if r.client_id == client_id => {
                    refresh_token::revoke(conn, refresh_token::Families::One(&r.family_id), t)?;
                    let details = serde_json::json!({ "kind": "refresh_token" });
                    audit::record(conn, &actor, "token.revoke", &r.family_id, details, t)?;
                    Ok(Some("refresh_token"))
                }
                _ => Ok(None),
            }
        })
        .await?;
    if let Some(kind) = revoked {
        state.metrics.revocations.with_label_values(&[kind]).inc();
    }
    Ok(())
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
/// every device-held copy of it. A token already rotated out still names its session,
/// so it ends it too (presenting it again would anyway, as reuse).
pub async fn logout(state: &AppState, client_id: &str, token: &str) -> Result<Logout, OAuthError> {
    if token.len() > MAX_PRESENTED_TOKEN {
        return Ok(Logout::NotValid);
    }
    let hash = hash_secret(token);
    let client_id = client_id.to_string();
    let outcome = state
        .write("end session", move |conn| {
            let t = now();
            let found = refresh_token::inspect(conn, &hash)?;
            let Some(r) = found.filter(|r| r.client_id == client_id) else {
                return Ok(Logout::NotValid);
            };
            if r.revoked_at.is_some() {
                return Ok(Logout::AlreadyEnded);
            }
            if r.expires_at <= t {
                return Ok(Logout::NotValid);
            }
            refresh_token::revoke(conn, refresh_token::Families::One(&r.family_id), t)?;
            let details = serde_json::json!({ "kind": "refresh_token", "via": "simplejwt" });
            let actor = format!("client:{client_id}");
            audit::record(conn, &actor, "token.revoke", &r.family_id, details, t)?;
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
