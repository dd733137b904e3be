//! `POST /oauth/introspect` (RFC 7662). The caller authenticates as a client holding
//! the scope `tessera:introspect` (or `tessera:admin`). Access tokens are checked for
//! signature, issuer, expiry, the revocation list and their client still being
//! enabled; refresh tokens against their stored state. Anything else is
//! `{"active": false}`, never an error that says why.

use super::body::read_form;
use super::client_auth::authenticated_client;
use crate::oauth::error::ErrorBody;
use crate::oauth::OAuthError;
use crate::service::access::{self, check, AccessToken};
use crate::service::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

/// The form of the introspection and revocation endpoints.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "documents the form for the OpenAPI document; parsed by FormParams"
)]
pub struct TokenParam {
    /// The token.
    token: String,
    /// `access_token` or `refresh_token` (a hint; both are tried).
    token_type_hint: Option<String>,
    /// Client authentication, unless HTTP Basic is used.
    #[serde(flatten)]
    client_auth: super::client_auth::ClientAuthForm,
}

/// The introspection endpoint.
#[utoipa::path(
    post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = TokenParam, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 7662 response: `{\"active\": false}` for anything not active", body = Object),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "the client lacks tessera:introspect", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("client_secret_basic" = []), ())
)]
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let params = read_form(&req, payload).await?;
    let caller = authenticated_client(&req, &params, &state).await?;
    access::may_introspect(&caller)?;
    let token = params.require("token")?.to_string();
    let refresh_first = params.get("token_type_hint") == Some("refresh_token");
    let body = if refresh_first {
        match inspect_refresh(&state, &token).await? {
            Some(v) => v,
            None => inspect_access(&state, &token)
                .await?
                .unwrap_or_else(inactive),
        }
    } else {
        match inspect_access(&state, &token).await? {
            Some(v) => Some(v),
            None => inspect_refresh(&state, &token).await?,
        }
        .unwrap_or_else(inactive)
    };
    Ok(super::no_store(StatusCode::OK).json(body))
}

fn inactive() -> Value {
    json!({ "active": false })
}

/// The answer for an access token of ours, or `None` if it is not one.
async fn inspect_access(state: &AppState, token: &str) -> Result<Option<Value>, OAuthError> {
    Ok(match check(state, token).await? {
        AccessToken::NotOurs => None,
        AccessToken::Inactive => Some(inactive()),
        AccessToken::Active(claims) => {
            let mut v = match serde_json::to_value(&claims) {
                Ok(Value::Object(v)) => v,
                _ => Map::new(),
            };
            v.insert("active".into(), json!(true));
            let dpop_bound = claims.cnf.as_ref().is_some_and(|c| c.jkt.is_some());
            let token_type = if dpop_bound { "DPoP" } else { "Bearer" };
            v.insert("token_type".into(), json!(token_type));
            Some(Value::Object(v))
        }
    })
}

/// The answer for a refresh token, or `None` if no such token is stored.
async fn inspect_refresh(state: &AppState, token: &str) -> Result<Option<Value>, OAuthError> {
    let found = access::inspect_refresh(state, token).await?;
    Ok(found.map(|r| {
        if !r.usable {
            return inactive();
        }
        json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": r.client_id,
            "sub": r.family.user_id,
            "scope": r.family.scope,
            "exp": r.family.expires_at,
            "iss": state.issuer,
        })
    }))
}
