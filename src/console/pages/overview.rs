//! The overview, `/console/`: how many clients and users there are, and the signing
//! key in use.

use crate::admin::console::overview;
use crate::console::page::{render, Nav};
use crate::console::session::{unavailable, Operator};
use crate::service::{now, read, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

/// Registers `/console/` (and `/console`, which goes there).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console/").route(web::get().to(page)))
        .service(
            web::resource("/console")
                .route(web::get().to(|| async { crate::console::page::see_other("/console/") })),
        );
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage<'a> {
    nav: Nav<'a>,
    clients: i64,
    users: i64,
    key_kid: Option<String>,
    key_since: String,
    key_age: String,
}

async fn page(state: web::Data<AppState>, op: Operator) -> HttpResponse {
    let counts = read(&state.pool, "console overview", |conn| Ok(overview(conn)?)).await;
    let counts = match counts {
        Ok(c) => c,
        Err(e) => return unavailable(&e),
    };
    let t = now();
    let (key_kid, since) = match counts.active_key {
        Some((kid, since)) => (Some(kid), since),
        None => (None, t),
    };
    render(
        StatusCode::OK,
        &OverviewPage {
            nav: Nav {
                op: &op,
                current: "overview",
            },
            clients: counts.clients,
            users: counts.users,
            key_kid,
            key_since: utc(since),
            key_age: age(t.saturating_sub(since)),
        },
    )
}

/// `2026-12-05 15:20 UTC`.
fn utc(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// `3 days ago`, `5 hours ago`, `just now`.
fn age(secs: i64) -> String {
    let (n, unit) = match secs {
        s if s < 60 => return "just now".into(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}
