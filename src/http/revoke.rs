//! `POST /oauth/revoke` (RFC 7009). A client revokes its own tokens: a refresh token
//! ends its whole family; an access token's `jti` goes on the denylist until the token
//! expires (consulted by introspection and the admin API). Unknown tokens, and tokens
//! of other clients, get 200 and change nothing — the answer reveals nothing.

use super::body::read_form;
use super::client_auth::authenticated_client;
use crate::admin::audit;
use crate::db::models::{refresh_token, revoked_token};
use crate::oauth::error::ErrorBody;
use crate::oauth::secret::hash_secret;
use crate::oauth::OAuthError;
use crate::state::{now, AppState};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// The revocation endpoint.
#[utoipa::path(
    post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = super::introspect::TokenParam, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "revoked, or nothing to revoke"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
    ),
    security(("client_secret_basic" = []), ())
)]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = read_form(&req, payload).await?;
    let caller = authenticated_client(&req, &params, &state).await?;
    let token = params.require("token")?.to_string();
    let t = now();
    // Our access tokens are recognised by signature (expired ones need no revoking).
    let access = state
        .keys
        .snapshot()
        .verifier
        .verify(&token, &state.issuer, t);
    let client_id = caller.client_id.clone();
    let actor = format!("client:{client_id}");
    let revoked = state
        .writer
        .run(move |conn| {
            if let Some(claims) = access {
                if claims.client_id != client_id {
                    return Ok(None);
                }
                revoked_token::revoke(conn, &claims.jti, &client_id, claims.exp, t)?;
                let details = serde_json::json!({ "kind": "access_token", "exp": claims.exp });
                audit::record(conn, &actor, "token.revoke", &claims.jti, details, t)?;
                return Ok(Some("access_token"));
            }
            if token.len() > 512 {
                return Ok(None);
            }
            let found = refresh_token::inspect(conn, &hash_secret(&token), t)?;
            match found {
                Some(r) if r.client_id == client_id => {
                    refresh_token::revoke(conn, refresh_token::Families::One(&r.family.id), t)?;
                    let details = serde_json::json!({ "kind": "refresh_token" });
                    audit::record(conn, &actor, "token.revoke", &r.family.id, details, t)?;
                    Ok(Some("refresh_token"))
                }
                _ => Ok(None),
            }
        })
        .await?;
    if let Some(kind) = revoked {
        state.metrics.revocations.with_label_values(&[kind]).inc();
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}
