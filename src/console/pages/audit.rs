//! `/console/audit`: the audit log, newest first, filtered by actor, action and client
//! (in SQL, through `admin::audit::search`), a page at a time.

use super::outcome;
use crate::admin::audit::{self, AuditPage, AuditQuery};
use crate::console::page::{self, Nav};
use crate::console::session::Operator;
use crate::console::when::{when, When};
use crate::service::state::AppState;
use crate::service::{now, read};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

/// Events per page.
const PER_PAGE: u32 = 50;

/// Longest filter text, in characters.
const MAX_FILTER_CHARS: usize = 200;

/// Registers the audit route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console/audit").route(web::get().to(show)));
}

/// The filters and the paging cursor.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filters {
    actor: Option<String>,
    action: Option<String>,
    client: Option<String>,
    before: Option<String>,
}

/// One event ready to show.
struct Row {
    at: When,
    actor: String,
    action: String,
    target: String,
    details: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditView<'a> {
    nav: Nav<'a>,
    actor: String,
    action: String,
    client: String,
    rows: Vec<Row>,
    older: Option<String>,
    newest: Option<String>,
    error: Option<String>,
}

/// The page's URL for these filters, from `before` (an event id) down.
fn url(actor: &str, action: &str, client: &str, before: Option<i64>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [("actor", actor), ("action", action), ("client", client)] {
        if !v.is_empty() {
            query.append_pair(k, v);
        }
    }
    if let Some(b) = before {
        query.append_pair("before", &b.to_string());
    }
    let query = query.finish();
    if query.is_empty() {
        "/console/audit".to_string()
    } else {
        format!("/console/audit?{query}")
    }
}

async fn show(
    state: web::Data<AppState>,
    op: Operator,
    filters: web::Query<Filters>,
) -> HttpResponse {
    let actor = outcome::text(filters.actor.as_deref()).unwrap_or_default();
    let action = outcome::text(filters.action.as_deref()).unwrap_or_default();
    let client = outcome::text(filters.client.as_deref()).unwrap_or_default();
    let before = filters
        .before
        .as_deref()
        .and_then(|b| b.trim().parse::<i64>().ok());
    let too_long = [&actor, &action, &client]
        .iter()
        .any(|f| f.chars().count() > MAX_FILTER_CHARS);
    let (found, error) = if too_long {
        (
            AuditPage {
                entries: Vec::new(),
                next_before: None,
            },
            Some(format!("a filter is at most {MAX_FILTER_CHARS} characters")),
        )
    } else {
        let query = AuditQuery {
            actor: (!actor.is_empty()).then(|| actor.clone()),
            action: (!action.is_empty()).then(|| action.clone()),
            client: (!client.is_empty()).then(|| client.clone()),
            before,
            limit: PER_PAGE,
        };
        let found = read(&state.pool, "search audit log", move |conn| {
            Ok(audit::search(conn, &query))
        })
        .await;
        match outcome::settle(found) {
            Ok(Ok(found)) => (found, None),
            Ok(Err(refusal)) => (
                AuditPage {
                    entries: Vec::new(),
                    next_before: None,
                },
                Some(refusal.message),
            ),
            Err(page) => return page,
        }
    };
    let t = now();
    let older = found
        .next_before
        .map(|b| url(&actor, &action, &client, Some(b)));
    let newest = before.map(|_| url(&actor, &action, &client, None));
    let rows = found
        .entries
        .into_iter()
        .map(|e| Row {
            at: when(Some(e.at), t),
            actor: e.actor,
            action: e.action,
            target: e.target,
            details: e.details,
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page::render(
        status,
        &AuditView {
            nav: Nav {
                op: &op,
                current: "audit",
            },
            actor,
            action,
            client,
            rows,
            older,
            newest,
            error,
        },
    )
}
