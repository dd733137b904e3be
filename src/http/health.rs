//! Liveness and readiness.

use crate::service::AppState;
use actix_web::{web, HttpResponse};

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "alive", body = Object)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers, a signing key is loaded and the shared worker
/// threads (the SQLite writer, the password-hash pool) are all running.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "ready", body = Object),
        (status = 503, description = "database unreachable, no signing key or a dead worker thread", body = Object),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = crate::service::ping(&state).await;
    let signing = state.keys.snapshot().signer.is_some();
    let workers = [state.writer.liveness(), state.hash_pool.liveness()];
    let dead: Vec<&str> = workers
        .iter()
        .filter(|w| !w.is_alive())
        .map(|w| w.name())
        .collect();
    let body = serde_json::json!({
        "database": if db.is_ok() { "ok" } else { "unavailable" },
        "signing_key": if signing { "ok" } else { "missing" },
        "workers": if dead.is_empty() { "ok".to_string() } else { format!("dead: {}", dead.join(", ")) },
    });
    if db.is_ok() && signing && dead.is_empty() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(body)
    }
}
