//! actix-web handlers: parse the request, call `oauth/`, render the response. No SQL.

pub mod body;
pub mod client_auth;
pub mod client_cert;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod metrics;
pub mod openapi;
pub mod register;
pub mod revoke;
pub mod simplejwt;
pub mod token;
pub mod traces;

use actix_web::{guard, web, HttpResponse, Resource};

/// Every (path, methods) this process registered, for checking the OpenAPI document
/// against what is really served.
static REGISTERED: std::sync::Mutex<Vec<(String, &'static str)>> =
    std::sync::Mutex::new(Vec::new());

/// The routes registered so far (each path once).
pub fn registered_routes() -> Vec<(String, &'static str)> {
    let mut v = REGISTERED.lock().map(|r| r.clone()).unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

/// A resource whose other methods get 405 with `Allow`; every route goes through here,
/// so `registered_routes` knows them all.
fn resource(path: &str, allow: &'static str) -> Resource {
    if let Ok(mut r) = REGISTERED.lock() {
        r.push((path.to_string(), allow));
    }
    web::resource(path.to_string()).default_service(web::to(move || method_not_allowed(allow)))
}

/// A route for `GET` that answers `HEAD` too (RFC 9110 §9.3.2): the same status and
/// headers, no body (actix leaves the body out of HEAD responses).
fn get() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Registers the simplejwt-compatible routes (only when a first-party client is set).
pub fn simplejwt_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/token/", "POST").route(web::post().to(simplejwt::obtain_pair)))
        .service(resource("/api/token/refresh/", "POST").route(web::post().to(simplejwt::refresh)))
        .service(resource("/api/token/verify/", "POST").route(web::post().to(simplejwt::verify)))
        .service(
            resource("/api/token/blacklist/", "POST").route(web::post().to(simplejwt::blacklist)),
        );
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    const GET: &str = "GET, HEAD";
    cfg.service(resource("/oauth/token", "POST").route(web::post().to(token::token)))
        .service(
            resource("/oauth/introspect", "POST").route(web::post().to(introspect::introspect)),
        )
        .service(resource("/oauth/revoke", "POST").route(web::post().to(revoke::revoke)))
        .service(resource("/oauth/register", "POST").route(web::post().to(register::register)))
        .service(
            resource("/oauth/register/{client_id}", "GET, HEAD, PUT, DELETE")
                .route(get().to(register::read))
                .route(web::put().to(register::update))
                .route(web::delete().to(register::delete)),
        )
        .service(
            resource("/.well-known/oauth-authorization-server", GET)
                .route(get().to(discovery::metadata)),
        )
        .service(
            resource("/.well-known/openid-configuration", GET)
                .route(get().to(discovery::openid_configuration)),
        )
        .service(resource("/.well-known/jwks.json", GET).route(get().to(jwks::jwks)))
        .service(resource("/healthz", GET).route(get().to(health::healthz)))
        .service(resource("/readyz", GET).route(get().to(health::readyz)))
        .service(resource("/metrics", GET).route(get().to(metrics::metrics)))
        .service(resource("/openapi.json", GET).route(get().to(openapi::openapi_json)));
}

async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", allow))
        .json(serde_json::json!({
            "error": "invalid_request",
            "error_description": format!("method not allowed; use {allow}"),
        }))
}

/// A response builder with `Cache-Control: no-store` and `Pragma: no-cache`: every
/// answer that carries a token, a secret or a token's state (RFC 6749 §5.1).
pub fn no_store(status: actix_web::http::StatusCode) -> actix_web::HttpResponseBuilder {
    let mut res = HttpResponse::build(status);
    res.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .insert_header((actix_web::http::header::PRAGMA, "no-cache"));
    res
}

/// The authenticated client id, carried to the request log line.
#[derive(Debug, Clone)]
pub struct LoggedClientId(pub String);
