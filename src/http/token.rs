//! `POST /oauth/token`: authenticate the client, run the grant, sign, answer.

use super::body::read_form;
use super::client_auth::authenticate_request;
use crate::oauth::error::ErrorBody;
use crate::oauth::token::TokenResponse;
use crate::oauth::{ErrorCode, GrantType, OAuthError};
use crate::service::client_auth::Authenticated;
use crate::service::issue::{self, Issued, TokenRequest};
use crate::service::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

/// The token endpoint's form parameters (`application/x-www-form-urlencoded`).
/// `grant_type` is read with `GrantType::parse`, from `GrantType::ALL`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "documents the form for the OpenAPI document; parsed by FormParams"
)]
pub struct TokenForm {
    /// One of the grants of `GrantType::ALL`, as discovery's `grant_types_supported`
    /// lists them: `client_credentials`, `password`, `refresh_token`,
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (a test checks this list).
    #[schema(example = "client_credentials")]
    grant_type: String,
    /// Space-separated scope; default everything the client (or the login) may have.
    scope: Option<String>,
    /// RFC 8707 resource indicator (repeatable): one of the client's audiences.
    resource: Option<String>,
    /// Alternative to `resource`: one of the client's audiences.
    audience: Option<String>,
    /// `password` grant: the user's login name.
    username: Option<String>,
    /// `password` grant: the user's password.
    password: Option<String>,
    /// `refresh_token` grant: the refresh token.
    refresh_token: Option<String>,
    /// Token exchange (RFC 8693): the token exchanged.
    subject_token: Option<String>,
    /// Token exchange: its type (an access token or a JWT).
    subject_token_type: Option<String>,
    /// Token exchange: the acting party's token, for delegation.
    actor_token: Option<String>,
    /// Token exchange: its type.
    actor_token_type: Option<String>,
    /// Token exchange: the type of token asked for.
    requested_token_type: Option<String>,
    /// Client authentication, unless HTTP Basic is used.
    #[serde(flatten)]
    client_auth: super::client_auth::ClientAuthForm,
}

/// The token endpoint.
#[utoipa::path(
    post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 6749 §5.1 token response", body = TokenResponse),
        (status = 400, description = "RFC 6749 §5.2 error", body = ErrorBody),
        (status = 401, description = "invalid_client (with WWW-Authenticate when Basic was used)", body = ErrorBody),
        (status = 413, description = "body over 64 KiB", body = ErrorBody),
        (status = 503, description = "temporarily_unavailable, with Retry-After", body = ErrorBody),
    ),
    security(("client_secret_basic" = []), ())
)]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let answer = issue_token(&req, payload, &state).await;
    let outcome = match &answer {
        Ok(_) => crate::service::usage::ISSUED,
        Err(e) => e.code.as_str(),
    };
    state.usage.outcome(outcome, crate::service::now());
    answer
}

/// The token endpoint's work, whose outcome [`token`] counts.
async fn issue_token(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, OAuthError> {
    let params = read_form(req, payload).await?;
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
    crate::telemetry::span::annotate("tessera.grant_type", grant.as_str());
    let Authenticated {
        client,
        pending_jti,
        outside,
    } = authenticate_request(req, &params, state).await?;
    let certificate = super::client_cert::presented(req)?;
    let proof = super::dpop::issuing_proof(req, state, &client)?;
    let addr = || client_addr(req, state.settings.server.trust_forwarded_for);
    let issued = issue::grant(
        state,
        TokenRequest {
            client: &client,
            grant,
            params: &params,
            proof,
            pending_jti,
            outside: outside.as_ref(),
            client_addr: &addr,
            certificate: certificate.as_ref(),
        },
    )
    .await?;
    Ok(respond(issued))
}

/// The client's address for throttling: the peer, or the last `X-Forwarded-For` entry
/// (the one the trusted proxy appended) when configured to trust it.
pub fn client_addr(req: &HttpRequest, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty());
        if let Some(addr) = forwarded {
            return addr.chars().take(64).collect();
        }
    }
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The RFC 6749 §5.1 response.
fn respond(issued: Issued) -> HttpResponse {
    let Issued {
        claims,
        access_token,
        refresh_token,
        issued_token_type,
    } = issued;
    let body = TokenResponse {
        access_token,
        token_type: if claims.cnf.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
        .to_string(),
        expires_in: claims.exp.saturating_sub(claims.iat),
        scope: claims.scope,
        refresh_token,
        issued_token_type,
    };
    super::no_store(StatusCode::OK).json(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_grant_types_are_every_grant_type() {
        let schema = serde_json::to_value(<TokenForm as utoipa::PartialSchema>::schema())
            .expect("schema as JSON");
        // The form's own members beside the flattened client authentication.
        let described = schema["allOf"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|part| part["properties"]["grant_type"]["description"].as_str())
            .expect("grant_type is described")
            .to_string();
        for grant in GrantType::ALL {
            assert!(
                described.contains(&format!("`{}`", grant.as_str())),
                "{described}"
            );
        }
    }
}
