//! Liveness and readiness.

use crate::db::pool;
use crate::service::AppState;
use actix_web::{web, HttpResponse};

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "alive", body = Object)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and a signing key is loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "ready", body = Object),
        (status = 503, description = "database unreachable or no signing key", body = Object),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = crate::service::read(&state.pool, "ping", |conn| Ok(pool::ping(conn)?)).await;
    let signing = state.keys.snapshot().signer.is_some();
    let body = serde_json::json!({
        "database": if db.is_ok() { "ok" } else { "unavailable" },
        "signing_key": if signing { "ok" } else { "missing" },
    });
    if db.is_ok() && signing {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(body)
    }
}
