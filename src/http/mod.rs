//! actix-web handlers: parse the request, call `oauth/`, render the response. No SQL.

pub mod body;
pub mod discovery;
pub mod error;
pub mod health;
pub mod jwks;
pub mod simplejwt;
pub mod token;

use actix_web::{web, HttpResponse, Resource};

/// A resource whose other methods get 405 with `Allow`.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path.to_string()).default_service(web::to(move || method_not_allowed(allow)))
}

/// Registers the simplejwt-compatible routes (only when a first-party client is set).
pub fn simplejwt_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/token/", "POST").route(web::post().to(simplejwt::obtain_pair)))
        .service(resource("/api/token/refresh/", "POST").route(web::post().to(simplejwt::refresh)));
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    const GET: &str = "GET, HEAD";
    cfg.service(resource("/oauth/token", "POST").route(web::post().to(token::token)))
        .service(
            resource("/.well-known/oauth-authorization-server", GET)
                .route(web::get().to(discovery::metadata)),
        )
        .service(
            resource("/.well-known/openid-configuration", GET)
                .route(web::get().to(discovery::metadata)),
        )
        .service(resource("/.well-known/jwks.json", GET).route(web::get().to(jwks::jwks)))
        .service(resource("/healthz", GET).route(web::get().to(health::healthz)))
        .service(resource("/readyz", GET).route(web::get().to(health::readyz)));
}

async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", allow))
        .json(serde_json::json!({
            "error": "invalid_request",
            "error_description": format!("method not allowed; use {allow}"),
        }))
}

/// The authenticated client id, carried to the request log line.
#[derive(Debug, Clone)]
pub struct LoggedClientId(pub String);
