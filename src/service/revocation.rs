//! Revocation (RFC 7009) as one unit of work: a client's own refresh token ends its
//! family, its own access token's `jti` is denylisted until it expires; anything else
//! changes nothing. Each revocation is audited and counted. Logging out (ending one's
//! own live session) is [`super::sessions::logout`].

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
