//! Client authentication as requests carry it: the `Authorization` header and the
//! form, handed to `service::client_auth`; the client id handed to the request log.

use super::LoggedClientId;
use crate::oauth::error::Challenge;
use crate::oauth::form::FormParams;
use crate::oauth::{OAuthError, RegisteredClient};
use crate::service::client_auth::{authenticate_client, claim_jtis, Authenticated};
use crate::service::AppState;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest};
use std::sync::Arc;

/// The client-authentication fields every endpoint that authenticates clients takes,
/// for the OpenAPI document (one method per request).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "documents the form for the OpenAPI document; parsed by FormParams"
)]
pub struct ClientAuthForm {
    /// `client_secret_post`: the client id (otherwise HTTP Basic or the assertion).
    client_id: Option<String>,
    /// `client_secret_post`: the client secret.
    client_secret: Option<String>,
    /// `private_key_jwt`: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    client_assertion_type: Option<String>,
    /// `private_key_jwt`: the JWT signed with the client's key (RFC 7523 §2.2).
    client_assertion: Option<String>,
}

/// The client that authenticated this request; its assertion `jti` is not used up yet
/// (see [`authenticate_client`]).
pub async fn authenticate_request(
    req: &HttpRequest,
    params: &FormParams,
    state: &AppState,
) -> Result<Authenticated, OAuthError> {
    let authorization = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            OAuthError::invalid_client("malformed Authorization header")
                .with_challenge(Challenge::Basic)
        })?),
    };
    let auth = authenticate_client(state, authorization, req.path(), params).await?;
    req.extensions_mut()
        .insert(LoggedClientId(auth.client.client_id.clone()));
    Ok(auth)
}

/// The client that authenticated this request, its assertion `jti` (if any) used up:
/// for endpoints that write nothing else (introspection, revocation).
pub async fn authenticated_client(
    req: &HttpRequest,
    params: &FormParams,
    state: &AppState,
) -> Result<Arc<RegisteredClient>, OAuthError> {
    let auth = authenticate_request(req, params, state).await?;
    claim_jtis(state, auth.pending_jti.into_iter().collect()).await?;
    Ok(auth.client)
}
