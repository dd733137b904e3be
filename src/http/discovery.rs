//! RFC 8414 authorization server metadata (also served as the OpenID discovery document,
//! for resource-server middleware that finds the JWKS that way).

use crate::oauth::client_keys::ASSERTION_ALGS;
use crate::oauth::{AuthMethod, GrantType};
use crate::service::AppState;
use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// Builds the metadata document for `issuer`, once at start-up.
pub fn render(issuer: &str) -> bytes::Bytes {
    let grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
    let methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    let doc = serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "registration_endpoint": format!("{issuer}/oauth/register"),
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "response_types_supported": [],
        "scopes_supported": [
            crate::oauth::scope::ADMIN_SCOPE,
            crate::oauth::scope::INTROSPECT_SCOPE,
        ],
        "service_documentation": format!("{issuer}/openapi.json"),
        "dpop_signing_alg_values_supported": crate::oauth::dpop::PROOF_ALGS,
    });
    bytes::Bytes::from(doc.to_string())
}

/// `GET /.well-known/openid-configuration`: the same document, for OIDC-discovering
/// middleware.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery",
    responses((status = 200, description = "the RFC 8414 metadata document", body = Object)))]
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    metadata(state).await
}

/// `GET /.well-known/oauth-authorization-server`.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery",
    responses((status = 200, description = "RFC 8414 authorization server metadata", body = Object)))]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(state.metadata.clone())
}
