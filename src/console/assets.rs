//! The console's assets, embedded in the binary: one stylesheet, no script.

use super::page;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

/// The stylesheet, `/console/assets/console.css`.
pub const CONSOLE_CSS: &[u8] = include_bytes!("assets/console.css");

/// Registers the asset routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console/assets/console.css").route(web::get().to(css)));
}

async fn css() -> HttpResponse {
    page::builder(StatusCode::OK)
        .content_type("text/css; charset=utf-8")
        .body(CONSOLE_CSS)
}
