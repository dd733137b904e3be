//! Dynamic client registration (RFC 7591) and management (RFC 7592), for
//! administrators: `POST /oauth/register`, `GET`/`PUT`/`DELETE /oauth/register/{id}`.
//!
//! Authorised by `Authorization: Bearer <access token>` issued by this server with the
//! scope `tessera:admin` (the bootstrap admin client gets one with client_credentials),
//! not by per-client registration access tokens. Same operations as the CLI, through
//! the same `admin::clients` code. The reserved scope `tessera:admin` can only be
//! granted through the CLI (someone with database access).

use super::body::read_body;
use super::dpop::resource_proof;
use super::LoggedClientId;
use crate::admin::clients::{self, ClientFields, ClientView, Policy};
use crate::admin::AdminError;
use crate::oauth::dpop;
use crate::oauth::error::{Challenge, ErrorBody};
use crate::oauth::scope::ADMIN_SCOPE;
use crate::oauth::{ErrorCode, OAuthError};
use crate::service::access::{check, AccessToken, MAX_PRESENTED_TOKEN};
use crate::service::client_auth::claim_jtis;
use crate::service::{now, AppState};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

/// RFC 7591 client metadata as tessera understands it. Unknown members are ignored,
/// as RFC 7591 §2 requires.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ClientMetadata {
    /// Required on PUT: the client being replaced.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Human-readable name.
    pub client_name: String,
    /// Names from `GrantType::ALL`; default `["client_credentials"]`.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// Space-separated scope.
    #[serde(default)]
    pub scope: Option<String>,
    /// One of `AuthMethod::ALL` (discovery's `token_endpoint_auth_methods_supported`);
    /// default `client_secret_basic`. Cannot change on PUT; omitted there, it stays as
    /// it is.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// `private_key_jwt`: the client's public keys as a JWK Set (RFC 7591 §2).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// `private_key_jwt`: where the client publishes its JWK Set (https).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Resource servers the client may get tokens for (tessera extension).
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
    /// The client's own API as tokens name it in `aud`: a token for one of these is
    /// meant for this client at token exchange (tessera extension).
    #[serde(default)]
    pub resource_uris: Option<Vec<String>>,
    /// Per-client access-token lifetime, seconds (tessera extension).
    #[serde(default)]
    pub access_token_ttl: Option<i64>,
    /// Per-client refresh-token family lifetime, seconds (tessera extension).
    #[serde(default)]
    pub refresh_token_ttl: Option<i64>,
    /// Per-client refresh reuse grace, seconds (tessera extension).
    #[serde(default)]
    pub refresh_reuse_grace: Option<i64>,
    /// Not used: tessera has no authorization endpoint. Must be absent or empty.
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// RFC 9449 §5.2: tokens only with a DPoP proof.
    #[serde(default)]
    pub dpop_bound_access_tokens: Option<bool>,
    /// Response types: none are supported; must be absent or empty.
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    /// `federated`: the trusted issuer (by name) whose tokens authenticate the client.
    #[serde(default)]
    pub federated_issuer: Option<String>,
    /// `federated`: the token's `sub` (exact, or a prefix ending in `*`).
    #[serde(default)]
    pub federated_subject: Option<String>,
    /// `federated`: claims the token must carry, with string values.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub federated_claims: Option<serde_json::Map<String, Value>>,
}

/// The RFC 7591 member that carries a client attribute (its neutral name, as
/// [`AdminError::InvalidField`] gives it).
fn member(field: &'static str) -> &'static str {
    match field {
        "name" => "client_name",
        "auth_method" => "token_endpoint_auth_method",
        "require_dpop" => "dpop_bound_access_tokens",
        "issuer" => "federated_issuer",
        "subject" => "federated_subject",
        "claims" => "federated_claims",
        "secret" => "client_secret",
        same => same,
    }
}

/// An administration error as RFC 7591 §3.2.2 has it: invalid metadata is
/// `invalid_client_metadata`, its description naming the member.
fn metadata_error(e: AdminError) -> OAuthError {
    match e {
        AdminError::InvalidField { field, message } => OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            format!("{}: {message}", member(field)),
        ),
        other => other.into(),
    }
}

/// What RFC 7591 may do: fetch the `jwks_uri`s the settings allow, never grant
/// `tessera:admin` (that takes the CLI, someone with database access).
fn policy(state: &AppState) -> Policy {
    Policy {
        jwks_uri_policy: state.settings.jwks_uri_policy(),
        may_grant_admin: false,
    }
}

impl ClientMetadata {
    /// The client attributes the members carry. `redirect_uris` and `response_types`
    /// are RFC 7591 members but no attribute of a tessera client (it has no
    /// authorization endpoint): refused here when not empty, as the RFC's own error
    /// (`invalid_redirect_uri`) says.
    fn into_fields(self) -> Result<ClientFields, OAuthError> {
        let meta = |m: &str| OAuthError::new(ErrorCode::InvalidClientMetadata, m);
        if self.redirect_uris.as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(OAuthError::new(
                ErrorCode::InvalidRedirectUri,
                "redirect_uris are not used: tessera has no authorization endpoint",
            ));
        }
        if self.response_types.as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(meta(
                "response_types are not supported (no authorization endpoint)",
            ));
        }
        let mut claims = Vec::new();
        for (k, v) in self.federated_claims.unwrap_or_default() {
            match v {
                Value::String(v) => claims.push((k, v)),
                _ => return Err(meta("federated_claims values must be strings")),
            }
        }
        Ok(ClientFields {
            name: self.client_name,
            client_id: self.client_id,
            scope: self.scope.unwrap_or_default(),
            grant_types: self.grant_types,
            audiences: self.audiences.unwrap_or_default(),
            resource_uris: self.resource_uris.unwrap_or_default(),
            auth_method: self.token_endpoint_auth_method,
            jwks: self.jwks.map(|j| j.to_string()),
            jwks_uri: self.jwks_uri,
            issuer: self.federated_issuer,
            subject: self.federated_subject,
            claims,
            access_token_ttl: self.access_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl,
            refresh_reuse_grace: self.refresh_reuse_grace,
            require_dpop: self.dpop_bound_access_tokens.unwrap_or(false),
            secret: None,
        })
    }
}

/// The admin client behind the access token, as the audit log names it. A token bound
/// to a DPoP key (RFC 9449 §7) is accepted only as `Authorization: DPoP <token>` with
/// a proof by that key for this request; presented as Bearer it is `invalid_token`.
async fn admin(req: &HttpRequest, state: &AppState) -> Result<String, OAuthError> {
    let refuse = |code, m: &str, challenge| {
        let e = OAuthError::new(code, m).with_challenge(challenge);
        if code == ErrorCode::InvalidRequest || code == ErrorCode::InvalidDpopProof {
            e.with_status(401)
        } else {
            e
        }
    };
    let (scheme, token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            let scheme = if scheme.eq_ignore_ascii_case("bearer") {
                Challenge::Bearer
            } else if scheme.eq_ignore_ascii_case("dpop") {
                Challenge::Dpop
            } else {
                return None;
            };
            Some((scheme, rest.trim().to_string()))
        })
        .ok_or_else(|| {
            refuse(
                ErrorCode::InvalidRequest,
                "a Bearer (or DPoP) access token is required",
                Challenge::Bearer,
            )
        })?;
    if token.len() > MAX_PRESENTED_TOKEN {
        return Err(refuse(
            ErrorCode::InvalidToken,
            "the access token is invalid, expired or revoked",
            scheme,
        ));
    }
    let AccessToken::Active(claims) = check(state, &token).await? else {
        return Err(refuse(
            ErrorCode::InvalidToken,
            "the access token is invalid, expired or revoked",
            scheme,
        ));
    };
    let insufficient = || {
        refuse(
            ErrorCode::InsufficientScope,
            "the access token lacks the scope tessera:admin",
            scheme,
        )
    };
    let authorised = claims.scope.split(' ').any(|s| s == ADMIN_SCOPE);
    match (&claims.cnf, scheme) {
        (Some(cnf), Challenge::Dpop) => {
            let proof = resource_proof(req, state, &token, cnf)
                .map_err(|e| refuse(e.code, &e.description, Challenge::Dpop))?;
            // The proof is used up only by a call the token is authorised for: a
            // refused request writes nothing.
            if !authorised {
                return Err(insufficient());
            }
            claim_jtis(state, vec![dpop::replay_entry(&proof)])
                .await
                .map_err(|e| match e.code {
                    ErrorCode::InvalidDpopProof => refuse(e.code, &e.description, Challenge::Dpop),
                    _ => e,
                })?;
        }
        (Some(_), _) => return Err(refuse(
            ErrorCode::InvalidToken,
            "this access token is DPoP-bound: present it as Authorization: DPoP with a DPoP proof",
            Challenge::Dpop,
        )),
        (None, Challenge::Dpop) => {
            return Err(refuse(
                ErrorCode::InvalidToken,
                "this access token is not DPoP-bound: present it as Bearer",
                Challenge::Bearer,
            ))
        }
        (None, _) => {}
    }
    if !authorised {
        return Err(insufficient());
    }
    req.extensions_mut()
        .insert(LoggedClientId(claims.client_id.clone()));
    Ok(format!("client:{}", claims.client_id))
}

async fn read_metadata(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<ClientMetadata, OAuthError> {
    if !super::body::has_content_type(req, "application/json") {
        return Err(OAuthError::invalid_request(
            "the request body must be application/json",
        ));
    }
    let body = read_body(req, payload).await?;
    serde_json::from_slice(&body).map_err(|e| {
        let msg: String = e.to_string().chars().take(200).collect();
        OAuthError::new(ErrorCode::InvalidClientMetadata, msg)
    })
}

/// The RFC 7591 §3.2.1 / RFC 7592 §3 representation of a client.
fn rendered(state: &AppState, view: &ClientView, secret: Option<&str>) -> Value {
    let Value::Object(mut v) = json!({
        "client_id": view.client_id,
        "client_name": view.name,
        "client_id_issued_at": view.created_at,
        "grant_types": view.grant_types,
        "scope": view.scope,
        "token_endpoint_auth_method": view.token_endpoint_auth_method,
        "audiences": view.audiences,
        "resource_uris": view.resource_uris,
        "response_types": [],
        "registration_client_uri": format!("{}/oauth/register/{}", state.issuer, view.client_id),
        "disabled": view.disabled,
        "dpop_bound_access_tokens": view.require_dpop,
        "last_used_at": view.last_used_at,
    }) else {
        unreachable!("json! of braces is an object")
    };
    if let Some(jwks) = &view.jwks {
        v.insert("jwks".into(), jwks.clone());
    }
    if let Some(uri) = &view.jwks_uri {
        v.insert("jwks_uri".into(), json!(uri));
    }
    if let (Some(issuer), Some(subject)) = (&view.federated_issuer, &view.federated_subject) {
        v.insert("federated_issuer".into(), json!(issuer));
        v.insert("federated_subject".into(), json!(subject));
        v.insert(
            "federated_claims".into(),
            view.federated_claims.clone().unwrap_or_else(|| json!({})),
        );
    }
    for (k, val) in [
        ("access_token_ttl", view.access_token_ttl),
        ("refresh_token_ttl", view.refresh_token_ttl),
        ("refresh_reuse_grace", view.refresh_reuse_grace),
    ] {
        if let Some(val) = val {
            v.insert(k.into(), json!(val));
        }
    }
    if let Some(secret) = secret {
        v.insert("client_secret".into(), json!(secret));
        v.insert("client_secret_expires_at".into(), json!(0));
    }
    Value::Object(v)
}

/// `POST /oauth/register`.
#[utoipa::path(
    post, path = "/oauth/register", tag = "admin",
    request_body(content = ClientMetadata, content_type = "application/json"),
    responses(
        (status = 201, description = "RFC 7591 §3.2.1: the client with its secret (shown once)", body = Object),
        (status = 400, description = "invalid_client_metadata, invalid_redirect_uri, invalid_request", body = ErrorBody),
        (status = 401, description = "invalid_token (missing, invalid, expired or revoked), or no such client", body = ErrorBody),
        (status = 403, description = "insufficient_scope: tessera:admin required", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn register(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let actor = admin(&req, &state).await?;
    let policy = policy(&state);
    let fields = read_metadata(&req, payload).await?.into_fields()?;
    let created = state
        .write("create client", move |conn| {
            clients::create(conn, &actor, &fields, policy, now()).map_err(metadata_error)
        })
        .await?;
    let body = rendered(&state, &created.client, created.client_secret.as_deref());
    Ok(super::no_store(StatusCode::CREATED).json(body))
}

/// `GET /oauth/register/{client_id}`.
#[utoipa::path(
    get, path = "/oauth/register/{client_id}", tag = "admin", params(("client_id" = String, Path, description = "the client")),

    responses(
        (status = 200, description = "RFC 7592: the client's metadata", body = Object),
        (status = 400, description = "invalid_client_metadata, invalid_redirect_uri, invalid_request", body = ErrorBody),
        (status = 401, description = "invalid_token (missing, invalid, expired or revoked), or no such client", body = ErrorBody),
        (status = 403, description = "insufficient_scope: tessera:admin required", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn read(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    admin(&req, &state).await?;
    let id = path.into_inner();
    let view = crate::service::read(&state.pool, "show client", move |conn| {
        Ok(clients::show(conn, &id)?)
    })
    .await?;
    Ok(super::no_store(StatusCode::OK).json(rendered(&state, &view, None)))
}

/// `PUT /oauth/register/{client_id}`: replaces the metadata (RFC 7592 §2.2).
#[utoipa::path(
    put, path = "/oauth/register/{client_id}", tag = "admin", params(("client_id" = String, Path, description = "the client")),
    request_body(content = ClientMetadata, content_type = "application/json"),
    responses(
        (status = 200, description = "RFC 7592: the updated metadata", body = Object),
        (status = 400, description = "invalid_client_metadata, invalid_redirect_uri, invalid_request", body = ErrorBody),
        (status = 401, description = "invalid_token (missing, invalid, expired or revoked), or no such client", body = ErrorBody),
        (status = 403, description = "insufficient_scope: tessera:admin required", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let actor = admin(&req, &state).await?;
    let id = path.into_inner();
    let meta = read_metadata(&req, payload).await?;
    if meta.client_id.is_none() {
        // RFC 7592 §2.2: the request carries the client's id.
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "client_id: required, the client's own",
        ));
    }
    let policy = policy(&state);
    let fields = meta.into_fields()?;
    let key = id.clone();
    let view = state
        .write("update client", move |conn| {
            clients::update(conn, &actor, &key, &fields, policy, now()).map_err(metadata_error)
        })
        .await?;
    state.clients.invalidate(&id);
    Ok(super::no_store(StatusCode::OK).json(rendered(&state, &view, None)))
}

/// `DELETE /oauth/register/{client_id}`.
#[utoipa::path(
    delete, path = "/oauth/register/{client_id}", tag = "admin", params(("client_id" = String, Path, description = "the client")),

    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "invalid_client_metadata, invalid_redirect_uri, invalid_request", body = ErrorBody),
        (status = 401, description = "invalid_token (missing, invalid, expired or revoked), or no such client", body = ErrorBody),
        (status = 403, description = "insufficient_scope: tessera:admin required", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let actor = admin(&req, &state).await?;
    let id = path.into_inner();
    let key = id.clone();
    state
        .write("delete client", move |conn| {
            Ok(clients::delete(conn, &actor, &key, now())?)
        })
        .await?;
    state.clients.invalidate(&id);
    Ok(HttpResponse::NoContent().finish())
}
