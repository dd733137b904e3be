//! Client authentication for every endpoint that takes it (token, introspection,
//! revocation): credentials from the Basic header or the form, checked against the
//! cached client, the client id handed to the request log.

use super::LoggedClientId;
use crate::oauth::client_auth::{authenticate, extract};
use crate::oauth::error::Challenge;
use crate::oauth::form::FormParams;
use crate::oauth::{OAuthError, RegisteredClient};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest};
use std::sync::Arc;

/// The client that authenticated this request, or the RFC 6749 `invalid_client` error.
pub async fn authenticated_client(
    req: &HttpRequest,
    params: &FormParams,
    state: &AppState,
) -> Result<Arc<RegisteredClient>, OAuthError> {
    let result: Result<Arc<RegisteredClient>, OAuthError> = async {
        let authorization = match req.headers().get(header::AUTHORIZATION) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| {
                OAuthError::invalid_client("malformed Authorization header")
                    .with_challenge(Challenge::Basic)
            })?),
        };
        let presented = extract(authorization, params)?;
        let found = state
            .clients
            .lookup(&state.pool, &presented.client_id)
            .await?;
        authenticate(&presented, found.as_deref())?;
        found.ok_or_else(|| OAuthError::invalid_client("client authentication failed"))
    }
    .await;
    match &result {
        Ok(client) => {
            req.extensions_mut()
                .insert(LoggedClientId(client.client_id.clone()));
        }
        Err(e) if e.code == crate::oauth::ErrorCode::InvalidClient => {
            state.metrics.client_auth_failures.inc();
        }
        Err(_) => {}
    }
    result
}
