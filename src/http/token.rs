//! `POST /oauth/token`: authenticate the client, run the grant, sign, answer.

use super::body::read_form;
use super::LoggedClientId;
use crate::oauth::client_auth::{authenticate, extract};
use crate::oauth::grant::client_credentials;
use crate::oauth::secret::random_token;
use crate::oauth::token::{encode_jwt, AccessTokenClaims, TokenContext, TokenResponse};
use crate::oauth::{ErrorCode, GrantType, OAuthError};
use crate::state::{now, AppState};
use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};

/// The token endpoint.
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = read_form(&req, payload).await?;
    let grant = match params.get("grant_type") {
        None => return Err(OAuthError::invalid_request("missing parameter grant_type")),
        Some(g) => GrantType::parse(g).ok_or_else(|| {
            let shown: String = g.chars().take(60).collect();
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("unsupported grant_type {shown:?}"),
            )
        })?,
    };
    let authorization = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            OAuthError::invalid_client("malformed Authorization header")
                .with_challenge(crate::oauth::error::Challenge::Basic)
        })?),
    };
    let presented = extract(authorization, &params)?;
    let found = state
        .clients
        .lookup(&state.pool, &presented.client_id)
        .await?;
    let client = authenticate(&presented, found.as_deref())?;
    req.extensions_mut()
        .insert(LoggedClientId(client.client_id.clone()));

    let ctx = TokenContext {
        issuer: &state.issuer,
        now: now(),
        default_access_ttl: state.settings.access_token_ttl,
    };
    let claims = match grant {
        GrantType::ClientCredentials => {
            client_credentials::grant(client, &params, &ctx, random_token(16))?
        }
        GrantType::Password | GrantType::RefreshToken => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!(
                    "grant_type {} is not enabled on this server",
                    grant.as_str()
                ),
            ))
        }
    };
    respond(&state, &claims, None)
}

/// Signs `claims` and renders the RFC 6749 §5.1 response.
fn respond(
    state: &AppState,
    claims: &AccessTokenClaims,
    refresh_token: Option<String>,
) -> Result<HttpResponse, OAuthError> {
    let keys = state.keys.snapshot();
    let signer = keys.signer.as_ref().ok_or_else(|| {
        log::error!("no signing key is loaded");
        OAuthError::unavailable()
    })?;
    let access_token = encode_jwt(signer.as_ref(), claims).map_err(|e| {
        log::error!("{e}");
        OAuthError::server_error()
    })?;
    let body = TokenResponse {
        access_token,
        token_type: if claims.cnf.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
        .to_string(),
        expires_in: claims.exp - claims.iat,
        scope: claims.scope.clone(),
        refresh_token,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body))
}
