//! `POST /oauth/revoke` (RFC 7009). A client revokes its own tokens: a refresh token
//! ends its whole family; an access token's `jti` goes on the denylist until the token
//! expires (consulted by introspection and the admin API). Unknown tokens, and tokens
//! of other clients, get 200 and change nothing — the answer reveals nothing.

use super::body::read_form;
use super::client_auth::authenticated_client;
use crate::oauth::error::ErrorBody;
use crate::oauth::OAuthError;
use crate::service::{revocation, AppState};
use actix_web::http::StatusCode;
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
    revocation::revoke(&state, &caller.client_id, token).await?;
    Ok(super::no_store(StatusCode::OK).finish())
}
