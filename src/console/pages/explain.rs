//! `/console/explain`: paste a platform token and see every federation check the
//! token endpoint would make, each with its result, and the client it would
//! authenticate. It runs the token path's own checks (`Federation::explain`): no token
//! is issued, nothing is written, a `jti` is not used up.

use crate::console::form::Posted;
use crate::console::page::{self, Nav};
use crate::service::federation::Explanation;
use crate::service::now;
use crate::service::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

/// Longest token explained, in bytes (a platform token is a few KB at most).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Registers the explain routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/console/explain")
            .route(web::get().to(form))
            .route(web::post().to(explain)),
    );
}

/// The posted token.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExplainForm {
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "console/explain.html")]
struct ExplainPage<'a> {
    nav: Nav<'a>,
    max_kb: usize,
    error: Option<String>,
    explanation: Option<Explanation>,
}

fn render(
    op: &crate::console::session::Operator,
    status: StatusCode,
    error: Option<String>,
    explanation: Option<Explanation>,
) -> HttpResponse {
    page::render(
        status,
        &ExplainPage {
            nav: Nav {
                op,
                current: "explain",
            },
            max_kb: MAX_TOKEN_BYTES / 1024,
            error,
            explanation,
        },
    )
}

async fn form(op: crate::console::session::Operator) -> HttpResponse {
    render(&op, StatusCode::OK, None, None)
}

async fn explain(
    state: web::Data<AppState>,
    Posted(op, form): Posted<ExplainForm>,
) -> HttpResponse {
    // The pasted text is never shown back: it is a credential while it is valid.
    let token = form.token.trim();
    if token.is_empty() {
        let why = "paste a platform token (a JWT) to explain".to_string();
        return render(&op, StatusCode::BAD_REQUEST, Some(why), None);
    }
    if token.len() > MAX_TOKEN_BYTES {
        let why = format!(
            "the token is larger than {} KB; no platform token is that large, nothing was checked",
            MAX_TOKEN_BYTES / 1024
        );
        return render(&op, StatusCode::PAYLOAD_TOO_LARGE, Some(why), None);
    }
    let explanation = state.federation.explain(token, now()).await;
    render(&op, StatusCode::OK, None, Some(explanation))
}
