//! `GET /metrics` and the middleware that counts every request.

use crate::service::{now, AppState};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse};
use std::time::Instant;

/// Counts a request by route pattern (never the raw path: bounded label values) and
/// status, and observes its latency.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let endpoint = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let status = res.status();
        state
            .metrics
            .requests
            .with_label_values(&[endpoint.as_str(), status.as_str()])
            .inc();
        state
            .metrics
            .latency
            .with_label_values(&[&endpoint])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}

/// The Prometheus scrape endpoint.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let m = &state.metrics;
    let keys = state.keys.snapshot();
    m.signing_key_age.set(
        keys.signer_created_at
            .map_or(0, |c| now().saturating_sub(c)),
    );
    let pool = state.pool.state();
    m.db_pool
        .with_label_values(&["idle"])
        .set(i64::from(pool.idle_connections));
    m.db_pool.with_label_values(&["in_use"]).set(i64::from(
        pool.connections.saturating_sub(pool.idle_connections),
    ));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(m.render())
}
