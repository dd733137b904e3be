//! actix-web handlers: parse the request, call `oauth/`, render the response. No SQL.

pub mod body;
pub mod discovery;
pub mod error;
pub mod health;
pub mod jwks;
pub mod token;

use actix_web::web;

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/token", web::post().to(token::token))
        .route(
            "/.well-known/oauth-authorization-server",
            web::get().to(discovery::metadata),
        )
        .route(
            "/.well-known/openid-configuration",
            web::get().to(discovery::metadata),
        )
        .route("/.well-known/jwks.json", web::get().to(jwks::jwks))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz));
}

/// Name of the response extension carrying the authenticated client id to the log line.
#[derive(Debug, Clone)]
pub struct LoggedClientId(pub String);
