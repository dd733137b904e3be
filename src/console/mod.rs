//! The admin console at `/console/`: server-rendered pages (askama templates under
//! `templates/console/`, embedded assets, no inline script) for the people who run
//! tessera. Like `http/` it sits above `service/` and `admin/` and never reaches the
//! database itself: units of work run through `service::read` and `AppState::write`.
//!
//! `session` is who is signed in, `form` what a posted form must carry, `page` how a
//! page is answered (and the headers every console response has), `assets` the
//! stylesheet; `signin` and `setup` the ways in; `pages/` one module per page.

pub mod assets;
pub mod form;
pub mod page;
pub mod pages;
pub mod session;
pub mod setup;
pub mod signin;
pub mod svg;
pub mod when;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

/// Registers every console route under `/console/…` (only when `console` is on).
pub fn routes(cfg: &mut web::ServiceConfig) {
    assets::routes(cfg);
    signin::routes(cfg);
    setup::routes(cfg);
    pages::overview::routes(cfg);
    pages::issuers::routes(cfg);
    pages::explain::routes(cfg);
    pages::users::routes(cfg);
    pages::keys::routes(cfg);
    pages::audit::routes(cfg);
}

/// Middleware: every response under `/console` gets the console's headers, those of
/// actix's own answers (405, 404) included.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let console = req.path() == "/console" || req.path().starts_with("/console/");
    let mut res = next.call(req).await?;
    if console {
        let h = res.headers_mut();
        for (name, value) in page::HEADERS {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                h.insert(n, v);
            }
        }
    }
    Ok(res)
}
