//! `/console/keys`: the signing keys as a timeline (pre-published, active, retiring,
//! the next rotation) with a table of the same, and "rotate now": a key made and added
//! by `admin::keys::rotate_with` under the lifecycle's rules, then served at once by
//! this replica (the others reload within a second, at their change-marker poll, as
//! after `tessera key rotate`).

use super::outcome::{self, Refusal};
use crate::admin::keys::{self, AddOptions, KeyView};
use crate::admin::AdminError;
use crate::console::form::Posted;
use crate::console::page::{self, Nav};
use crate::console::session::Operator;
use crate::console::svg::{self, KeyBar, Svg};
use crate::console::when::{when, When};
use crate::keys::KeyError;
use crate::service::state::AppState;
use crate::service::{blocking, jobs, now, read};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

/// Registers the keys routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console/keys").route(web::get().to(show)))
        .service(web::resource("/console/keys/rotate").route(web::post().to(rotate)));
}

/// The rotate form: two checkboxes, absent when unticked.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RotateForm {
    immediate: Option<String>,
    replace_pending: Option<String>,
}

/// A key with its dates ready to show.
struct Row {
    key: KeyView,
    /// What the state means, in words.
    meaning: &'static str,
    created: When,
    activates: When,
    retired: When,
    expires: When,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage<'a> {
    nav: Nav<'a>,
    chart: Svg,
    rows: Vec<Row>,
    next_rotation: When,
    error: Option<String>,
}

/// What a stored state means to an operator.
fn meaning(state: &str) -> &'static str {
    match state {
        "next" => "pre-published: in the JWKS, signing from its activation",
        "active" => "signing",
        "retired" => "retiring: in the JWKS until it expires, no longer signing",
        _ => "",
    }
}

async fn render(
    state: &AppState,
    op: &Operator,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let t = now();
    let policy = match state.settings.key_policy() {
        Ok(p) => p,
        Err(e) => {
            log::error!("signing keys page: {e}");
            return outcome::failed(&crate::oauth::OAuthError::server_error());
        }
    };
    let found = read(&state.pool, "list signing keys", move |conn| {
        Ok(keys::list(conn).and_then(|list| Ok((list, keys::timeline(conn, &policy, t)?))))
    })
    .await;
    let (list, timeline) = match outcome::settle(found) {
        Ok(Ok(found)) => found,
        Ok(Err(refusal)) => {
            return page::error_page(StatusCode::INTERNAL_SERVER_ERROR, &refusal.message)
        }
        Err(page) => return page,
    };
    let bars: Vec<KeyBar> = timeline.keys;
    let rows = list
        .into_iter()
        .map(|key| Row {
            meaning: meaning(&key.state),
            created: when(Some(key.created_at), t),
            activates: when(Some(key.activates_at), t),
            retired: when(key.retired_at, t),
            expires: when(key.expires_at, t),
            key,
        })
        .collect();
    page::render(
        status,
        &KeysPage {
            nav: Nav {
                op,
                current: "keys",
            },
            chart: svg::key_timeline(&bars, t),
            rows,
            next_rotation: when(timeline.next_rotation, t),
            error,
        },
    )
}

async fn show(state: web::Data<AppState>, op: Operator) -> HttpResponse {
    render(&state, &op, StatusCode::OK, None).await
}

/// A refused rotation in the CLI's words: which key is pending and what proceeds.
#[expect(
    clippy::result_large_err,
    reason = "the error is the page answered at once, made once per request"
)]
fn pending(e: AdminError) -> Result<Refusal, HttpResponse> {
    match e {
        AdminError::Keys(KeyError::Pending { kid, activates_at }) => {
            let at = chrono::DateTime::from_timestamp(activates_at, 0).map_or_else(
                || "later".to_string(),
                |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
            );
            Ok(Refusal::general(format!(
                "signing key {kid} is pending (published, signing from {}); adding another \
                 would replace it: wait until it signs, or tick \"Replace the pending key\" \
                 (\"Sign with it at once\": sign with the new key now)",
                at
            )))
        }
        other => outcome::refusal(other),
    }
}

async fn rotate(state: web::Data<AppState>, Posted(op, form): Posted<RotateForm>) -> HttpResponse {
    let policy = match state.settings.key_policy() {
        Ok(p) => p,
        Err(e) => {
            log::error!("key rotation from the console: {e}");
            return outcome::failed(&crate::oauth::OAuthError::server_error());
        }
    };
    let options = AddOptions {
        immediate: form.immediate.is_some(),
        replace_pending: form.replace_pending.is_some(),
    };
    // Made apart from the write: generating an RSA key takes a while, and the SQLite
    // writer's turn is shared by every request.
    let made = policy.clone();
    let pkcs8 = match blocking(move || {
        keys::new_key(&made).map_err(|e| {
            log::error!("key generation failed: {e}");
            crate::oauth::OAuthError::server_error()
        })
    })
    .await
    {
        Ok(k) => k,
        Err(e) => return outcome::failed(&e),
    };
    let actor = op.actor();
    let write_policy = policy.clone();
    let added = state
        .write("rotate signing key", move |conn| {
            Ok(keys::rotate_with(
                conn,
                &actor,
                &write_policy,
                &pkcs8,
                options,
                now(),
            ))
        })
        .await;
    let refused = match added {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => match pending(e) {
            Ok(refusal) => Some(refusal),
            Err(page) => return page,
        },
        Err(e) => return outcome::failed(&e),
    };
    if let Some(refusal) = refused {
        return render(&state, &op, StatusCode::CONFLICT, Some(refusal.message)).await;
    }
    // This replica serves the new key set at once; the others within their poll.
    let store = state.keys.clone();
    let reloaded = read(&state.pool, "reload signing keys", move |conn| {
        jobs::reload_keys(conn, &policy, &store).map_err(|e| {
            log::warn!("reloading the keys after a rotation: {e:#}");
            crate::oauth::OAuthError::server_error()
        })
    })
    .await;
    if reloaded.is_err() {
        log::warn!("the console's rotation is served at the next key poll");
    }
    page::see_other("/console/keys")
}
