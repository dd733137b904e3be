//! djangorestframework-simplejwt compatible endpoints, for Django frontends that should
//! only need a new base URL: `POST /api/token/` (`{username, password}` → `{refresh,
//! access}`), `POST /api/token/refresh/` (`{refresh}` → `{refresh, access}`, rotating
//! like `ROTATE_REFRESH_TOKENS`), `POST /api/token/verify/` (`{token}` → `{}` for an
//! active access token) and `POST /api/token/blacklist/` (`{refresh}` → `{}`, the
//! session ends). JSON or form bodies; simplejwt's error shapes. They act as the
//! configured first-party client (`simplejwt_client`) and share the password grant's
//! throttling and the refresh grant's rotation and reuse detection.

use super::body::{has_content_type, read_body};
use super::token::client_addr;
use super::{no_store, LoggedClientId};
use crate::oauth::form::FormParams;
use crate::oauth::password::MAX_PASSWORD_BYTES;
use crate::oauth::{ErrorCode, GrantType, OAuthError, RegisteredClient};
use crate::service::access::{self, AccessToken};
use crate::service::issue::{self, TokenRequest};
use crate::service::sessions::{self, Logout};
use crate::service::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The body of `POST /api/token/` (JSON or form).
#[derive(Debug, utoipa::ToSchema)]
#[expect(dead_code, reason = "documents the body for the OpenAPI document")]
pub struct LoginBody {
    username: String,
    password: String,
}

/// The body of `POST /api/token/refresh/` (JSON or form).
#[derive(Debug, utoipa::ToSchema)]
#[expect(dead_code, reason = "documents the body for the OpenAPI document")]
pub struct RefreshBody {
    refresh: String,
}

/// The body of `POST /api/token/verify/` (JSON or form).
#[derive(Debug, utoipa::ToSchema)]
#[expect(dead_code, reason = "documents the body for the OpenAPI document")]
pub struct VerifyBody {
    token: String,
}

/// `POST /api/token/` (only when `simplejwt_client` is set).
#[utoipa::path(post, path = "/api/token/", tag = "simplejwt",
    request_body(content = LoginBody, content_type = "application/json"),
    responses(
        (status = 200, description = "`{refresh, access}`", body = Object),
        (status = 400, description = "DRF field errors", body = Object),
        (status = 401, description = "`{detail}`: no active account with these credentials", body = Object),
        (status = 429, description = "throttled, with Retry-After", body = Object),
    ))]
pub async fn obtain_pair(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ([username, password], client) = match fields_for(
        &req,
        payload,
        &state,
        &["username", "password"],
        GrantType::Password,
    )
    .await
    {
        Ok(found) => found,
        Err(res) => return res,
    };
    if password.len() > MAX_PASSWORD_BYTES {
        return field_error("password", "Ensure this field has no more than 1024 bytes.");
    }
    // The password grant itself, with the same throttling, DPoP rules and claims as
    // /oauth/token: only the shapes of the answers differ.
    let params = FormParams::from_pairs([("username", &*username), ("password", &*password)]);
    match issue_pair(&req, &state, &client, GrantType::Password, &params).await {
        Ok(res) => res,
        Err(e) if e.code == ErrorCode::InvalidGrant && e.retry_after.is_none() => detail(
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "No active account found with the given credentials" }),
        ),
        Err(e) => other_error(e),
    }
}

/// `POST /api/token/refresh/` (only when `simplejwt_client` is set).
#[utoipa::path(post, path = "/api/token/refresh/", tag = "simplejwt",
    request_body(content = RefreshBody, content_type = "application/json"),
    responses(
        (status = 200, description = "`{refresh, access}` (rotated)", body = Object),
        (status = 401, description = "`{detail, code: token_not_valid}`", body = Object),
    ))]
pub async fn refresh(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ([refresh], client) =
        match fields_for(&req, payload, &state, &["refresh"], GrantType::RefreshToken).await {
            Ok(found) => found,
            Err(res) => return res,
        };
    let params = FormParams::from_pairs([("refresh_token", &*refresh)]);
    match issue_pair(&req, &state, &client, GrantType::RefreshToken, &params).await {
        Ok(res) => res,
        // A refused, reused or wrongly bound refresh token: simplejwt's one answer.
        Err(e)
            if matches!(
                e.code,
                ErrorCode::InvalidGrant | ErrorCode::InvalidDpopProof
            ) =>
        {
            token_not_valid()
        }
        Err(e) => other_error(e),
    }
}

/// `POST /api/token/verify/` (only when `simplejwt_client` is set): whether `token` is
/// an access token of this server that is active now (signature, issuer, expiry,
/// revocation, its client), as introspection would say.
#[utoipa::path(post, path = "/api/token/verify/", tag = "simplejwt",
    request_body(content = VerifyBody, content_type = "application/json"),
    responses(
        (status = 200, description = "`{}`: an active access token", body = Object),
        (status = 400, description = "DRF field errors", body = Object),
        (status = 401, description = "`{detail, code: token_not_valid}`", body = Object),
    ))]
pub async fn verify(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let [token] = match read_fields(&req, payload, &["token"]).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    if token.len() > access::MAX_PRESENTED_TOKEN {
        return token_not_valid();
    }
    match access::check(&state, &token).await {
        Ok(AccessToken::Active(_)) => no_store(StatusCode::OK).json(json!({})),
        Ok(AccessToken::NotOurs | AccessToken::Inactive) => token_not_valid(),
        Err(e) => other_error(e),
    }
}

/// `POST /api/token/blacklist/` (only when `simplejwt_client` is set): logging out.
/// The refresh token's family ends, so neither it nor any token rotated from it
/// refreshes again; access tokens already issued run out on their own.
#[utoipa::path(post, path = "/api/token/blacklist/", tag = "simplejwt",
    request_body(content = RefreshBody, content_type = "application/json"),
    responses(
        (status = 200, description = "`{}`: the session ended", body = Object),
        (status = 400, description = "DRF field errors", body = Object),
        (status = 401, description = "`{detail, code: token_not_valid}`: unknown, expired or already blacklisted", body = Object),
    ))]
pub async fn blacklist(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ([refresh], client) =
        match fields_for(&req, payload, &state, &["refresh"], GrantType::RefreshToken).await {
            Ok(found) => found,
            Err(res) => return res,
        };
    match sessions::logout(&state, &client.client_id, &refresh).await {
        Ok(Logout::Ended) => no_store(StatusCode::OK).json(json!({})),
        Ok(Logout::AlreadyEnded) => detail(
            StatusCode::UNAUTHORIZED,
            json!({ "detail": "Token is blacklisted", "code": "token_not_valid" }),
        ),
        Ok(Logout::NotValid) => token_not_valid(),
        Err(e) => other_error(e),
    }
}

/// Runs `grant` for the first-party client through the token endpoint's own code and
/// answers `{refresh, access}`.
async fn issue_pair(
    req: &HttpRequest,
    state: &AppState,
    client: &RegisteredClient,
    grant: GrantType,
    params: &FormParams,
) -> Result<HttpResponse, OAuthError> {
    let answer = issue_pair_counted(req, state, client, grant, params).await;
    let outcome = match &answer {
        Ok(_) => crate::service::usage::ISSUED,
        Err(e) => e.code.as_str(),
    };
    state.usage.outcome(outcome, crate::service::now());
    answer
}

/// [`issue_pair`]'s work, whose outcome it counts.
async fn issue_pair_counted(
    req: &HttpRequest,
    state: &AppState,
    client: &RegisteredClient,
    grant: GrantType,
    params: &FormParams,
) -> Result<HttpResponse, OAuthError> {
    let certificate = super::client_cert::presented(req)?;
    let proof = super::dpop::issuing_proof(req, state, client)?;
    let addr = || client_addr(req, state.settings.server.trust_forwarded_for);
    let issued = issue::grant(
        state,
        TokenRequest {
            client,
            grant,
            params,
            proof,
            pending_jti: None,
            outside: None,
            client_addr: &addr,
            certificate: certificate.as_ref(),
        },
    )
    .await?;
    let refresh = issued.refresh_token.ok_or_else(|| {
        log::error!(
            "simplejwt_client {} lacks the refresh_token grant",
            client.client_id
        );
        OAuthError::unavailable()
    })?;
    Ok(pair(issued.access_token, refresh))
}

/// The request's `names` fields and the first-party client, which must allow `grant`;
/// or the answer to give instead.
async fn fields_for<const N: usize>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    names: &[&str; N],
    grant: GrantType,
) -> Result<([String; N], Arc<RegisteredClient>), HttpResponse> {
    let fields = read_fields(req, payload, names).await?;
    let client = first_party_client(state, req, grant).await?;
    Ok((fields, client))
}

/// The configured first-party client, which must exist, be enabled and allow `grant`.
async fn first_party_client(
    state: &AppState,
    req: &HttpRequest,
    grant: GrantType,
) -> Result<Arc<RegisteredClient>, HttpResponse> {
    let id = state
        .settings
        .tokens
        .simplejwt_client
        .as_deref()
        .unwrap_or_default();
    let found = state
        .clients
        .lookup(&state.pool, id)
        .await
        .map_err(other_error)?;
    match found {
        Some(c) if !c.disabled && c.allows(grant) => {
            req.extensions_mut()
                .insert(LoggedClientId(c.client_id.clone()));
            Ok(c)
        }
        _ => {
            log::error!(
                "simplejwt_client {id:?} is missing, disabled or lacks the {} grant",
                grant.as_str()
            );
            Err(other_error(OAuthError::unavailable()))
        }
    }
}

/// Reads the named string fields from a JSON object or a form; answers DRF's
/// `{"field": ["This field is required."]}` (400) when one is missing.
async fn read_fields<const N: usize>(
    req: &HttpRequest,
    payload: web::Payload,
    names: &[&str; N],
) -> Result<[String; N], HttpResponse> {
    let body = read_body(req, payload).await.map_err(other_error)?;
    let mut values: Map<String, Value> = Map::new();
    if has_content_type(req, "application/json") {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => values = m,
            Ok(_) => {
                return Err(detail(
                    StatusCode::BAD_REQUEST,
                    json!({ "non_field_errors": ["Invalid data. Expected a dictionary."] }),
                ))
            }
            Err(e) => {
                return Err(detail(
                    StatusCode::BAD_REQUEST,
                    json!({ "detail": format!("JSON parse error - {e}") }),
                ))
            }
        }
    } else if has_content_type(req, "application/x-www-form-urlencoded") {
        let form = FormParams::parse(&body).map_err(other_error)?;
        for name in names {
            if let Some(v) = form.get(name) {
                values.insert((*name).to_string(), Value::String(v.to_string()));
            }
        }
    } else {
        return Err(detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({ "detail": "Unsupported media type in request." }),
        ));
    }
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    let mut errors = Map::new();
    for (name, field) in names.iter().zip(&mut out) {
        match values.get(*name) {
            Some(Value::String(s)) if !s.is_empty() && !s.chars().any(|c| c == '\0') => {
                field.clone_from(s)
            }
            Some(Value::String(s)) if !s.is_empty() => {
                errors.insert((*name).into(), json!(["Null characters are not allowed."]));
            }
            Some(Value::String(_)) => {
                errors.insert((*name).into(), json!(["This field may not be blank."]));
            }
            Some(Value::Null) | None => {
                errors.insert((*name).into(), json!(["This field is required."]));
            }
            Some(_) => {
                errors.insert((*name).into(), json!(["Not a valid string."]));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(detail(StatusCode::BAD_REQUEST, Value::Object(errors)))
    }
}

fn pair(access: String, refresh: String) -> HttpResponse {
    no_store(StatusCode::OK).json(json!({ "refresh": refresh, "access": access }))
}

fn detail(status: StatusCode, body: Value) -> HttpResponse {
    no_store(status).json(body)
}

fn field_error(field: &str, msg: &str) -> HttpResponse {
    let mut m = Map::new();
    m.insert(field.into(), json!([msg]));
    detail(StatusCode::BAD_REQUEST, Value::Object(m))
}

fn token_not_valid() -> HttpResponse {
    detail(
        StatusCode::UNAUTHORIZED,
        json!({ "detail": "Token is invalid or expired", "code": "token_not_valid" }),
    )
}

/// Throttling as DRF answers it (429 with the wait), an oversized body as 413, an
/// outage as 503; anything else as 400 with the description.
fn other_error(e: OAuthError) -> HttpResponse {
    if let Some(secs) = e.retry_after {
        let status = if e.code == ErrorCode::TemporarilyUnavailable {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        let text = if status == StatusCode::TOO_MANY_REQUESTS {
            format!("Request was throttled. Expected available in {secs} seconds.")
        } else {
            "Service temporarily unavailable, try again later.".to_string()
        };
        return no_store(status)
            .insert_header((header::RETRY_AFTER, secs.to_string()))
            .json(json!({ "detail": text }));
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let status = if status.is_server_error() && e.code != ErrorCode::ServerError {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        status
    };
    detail(status, json!({ "detail": e.description }))
}
