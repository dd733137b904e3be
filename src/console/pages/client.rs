//! `/console/clients/{id}`: one client with every credential it has (secrets, keys or
//! `jwks_uri` with what this replica last fetched there, federated binding), its last
//! seven days of tokens, and the operator's actions on it, each a `POST` through the
//! one client model (`admin::clients`), audited as the operator.

use super::client_form::{kept, policy, EditForm, FieldErrors};
use crate::admin::clients::{self, ClientDetail, MAX_KEEP_OLD_SECS};
use crate::admin::AdminError;
use crate::console::form::Posted;
use crate::console::page::{error_page, render, see_other, Nav};
use crate::console::session::Operator;
use crate::console::svg::{daily_bars, Svg};
use crate::console::when::when;
use crate::oauth::{AuthMethod, OAuthError};
use crate::service::{now, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

/// Days the issuance chart shows.
pub const CHART_DAYS: u32 = 7;

/// Registers the client page and its actions.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console/clients/{id}").route(web::get().to(show)))
        .service(web::resource("/console/clients/{id}/edit").route(web::post().to(edit)))
        .service(web::resource("/console/clients/{id}/rotate").route(web::post().to(rotate)))
        .service(web::resource("/console/clients/{id}/disable").route(web::post().to(disable)))
        .service(web::resource("/console/clients/{id}/enable").route(web::post().to(enable)))
        .service(
            web::resource("/console/clients/{id}/revoke-sessions")
                .route(web::post().to(revoke_sessions)),
        )
        .service(web::resource("/console/clients/{id}/delete").route(web::post().to(delete)));
}

/// The path of a client's page.
pub fn href(id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("/console/clients/{encoded}")
}

/// One key of an inline JWK Set, as shown.
struct KeyRow {
    kid: String,
    kty: String,
    alg: String,
    usage: String,
}

/// A federated client's binding: the trusted issuer, the subject, the claims.
struct Binding {
    issuer: String,
    subject: String,
    claims: Vec<(String, String)>,
}

/// One day of the chart's table.
struct DayRow {
    day: String,
    tokens: u64,
}

/// The secret rows: which, set when, works until when.
struct SecretRow {
    which: &'static str,
    set: String,
    until: String,
}

#[derive(Template)]
#[template(path = "console/client.html")]
struct ClientPage<'a> {
    nav: Nav<'a>,
    id: String,
    href: String,
    name: String,
    auth_method: String,
    disabled: bool,
    managed: bool,
    scope: String,
    grant_types: String,
    audiences: Vec<String>,
    resource_uris: Vec<String>,
    lifetimes: Vec<(&'static str, String)>,
    require_dpop: bool,
    created: String,
    updated: String,
    last_used: String,
    uses_secret: bool,
    secrets: Vec<SecretRow>,
    jwks_keys: Option<Vec<KeyRow>>,
    jwks_uri: Option<String>,
    jwks_status: Vec<FetchLine>,
    federated: Option<Binding>,
    chart: Svg,
    days: Vec<DayRow>,
    week_total: u64,
    edit: EditForm,
    errors: FieldErrors,
    keep_old_choices: Vec<(i64, &'static str)>,
}

impl ClientPage<'_> {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

#[derive(Template)]
#[template(path = "console/client_secret.html")]
struct SecretPage<'a> {
    nav: Nav<'a>,
    id: String,
    href: String,
    name: String,
    secret: String,
    created: bool,
    previous_until: String,
}

/// What the page shows of a client, read in one unit.
struct Shown {
    detail: ClientDetail,
    days: Vec<(String, u64)>,
}

/// Reads the client `id` and its days; `Ok(None)` when there is no such client.
async fn read_client(state: &AppState, id: &str, now: i64) -> Result<Option<Shown>, OAuthError> {
    let key = id.to_string();
    crate::service::read(&state.pool, "console client", move |conn| {
        let detail = match kept(clients::detail(conn, &key))? {
            Ok(d) => d,
            Err(_) => return Ok(None),
        };
        let days = clients::daily_usage(conn, &key, CHART_DAYS, now).map_err(OAuthError::from)?;
        Ok(Some(Shown { detail, days }))
    })
    .await
}

fn failed(e: &OAuthError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error_page(status, &e.description)
}

fn missing(id: &str) -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        &format!("There is no client {id:?}."),
    )
}

/// The keys of an inline JWK Set, for reading (not judged here: the validator did).
fn key_rows(jwks: &serde_json::Value) -> Vec<KeyRow> {
    let text = |k: &serde_json::Value, name: &str| {
        k.get(name)
            .and_then(|v| v.as_str())
            .unwrap_or("—")
            .to_string()
    };
    jwks.get("keys")
        .and_then(|k| k.as_array())
        .map(|keys| {
            keys.iter()
                .map(|k| KeyRow {
                    kid: text(k, "kid"),
                    kty: text(k, "kty"),
                    alg: text(k, "alg"),
                    usage: text(k, "use"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One line of what this replica knows of a `jwks_uri`: what, when (HTML of
/// [`when`]), detail (plain text, escaped by the template).
struct FetchLine {
    what: &'static str,
    at: String,
    detail: String,
}

/// What this replica knows of a `jwks_uri`.
fn jwks_status(state: &AppState, uri: &str, now: i64) -> Vec<FetchLine> {
    let status = state.client_jwks.status(uri);
    let ago = |age: std::time::Duration| {
        let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        when(Some(now.saturating_sub(secs)), now).to_string()
    };
    let mut out = Vec::new();
    if let Some((keys, age)) = status.fetched {
        out.push(FetchLine {
            what: "Last good fetch",
            at: ago(age),
            detail: format!("{keys} key{}", if keys == 1 { "" } else { "s" }),
        });
    }
    if let Some((why, age)) = status.failed {
        out.push(FetchLine {
            what: "Last failed fetch",
            at: ago(age),
            detail: why,
        });
    }
    out
}

/// The overlaps an operator may choose when rotating (seconds, label), within
/// [`MAX_KEEP_OLD_SECS`].
fn keep_old_choices() -> Vec<(i64, &'static str)> {
    [
        (0, "none: the old secret stops now"),
        (300, "5 minutes"),
        (3_600, "1 hour"),
        (86_400, "1 day"),
        (MAX_KEEP_OLD_SECS, "1 week"),
    ]
    .into_iter()
    .filter(|(s, _)| *s <= MAX_KEEP_OLD_SECS)
    .collect()
}

fn page<'a>(
    op: &'a Operator,
    state: &AppState,
    shown: Shown,
    edit: Option<EditForm>,
    errors: FieldErrors,
    now: i64,
) -> ClientPage<'a> {
    let Shown { detail, days } = shown;
    let v = detail.view;
    let method = AuthMethod::parse(&v.token_endpoint_auth_method);
    let uses_secret = method.is_some_and(AuthMethod::uses_secret);
    let mut secrets = Vec::new();
    if detail.has_secret {
        secrets.push(SecretRow {
            which: "current",
            set: when(detail.secret_set_at, now).to_string(),
            until: "until rotated".into(),
        });
    }
    if detail.previous_secret_works {
        secrets.push(SecretRow {
            which: "previous (overlap)",
            set: "—".into(),
            until: when(v.previous_secret_expires_at, now).to_string(),
        });
    }
    let lifetime = |s: Option<i64>| match s {
        Some(s) => format!("{s} s"),
        None => "server default".into(),
    };
    let week_total = days.iter().map(|(_, n)| *n).fold(0u64, u64::saturating_add);
    ClientPage {
        nav: Nav {
            op,
            current: "clients",
        },
        href: href(&v.client_id),
        id: v.client_id.clone(),
        name: v.name.clone(),
        auth_method: v.token_endpoint_auth_method.clone(),
        disabled: v.disabled,
        managed: detail.managed_by.as_deref() == Some(clients::APPLY),
        scope: v.scope.clone(),
        grant_types: v.grant_types.join(" "),
        audiences: v.audiences.clone(),
        resource_uris: v.resource_uris.clone(),
        lifetimes: vec![
            ("Access token", lifetime(v.access_token_ttl)),
            ("Refresh token family", lifetime(v.refresh_token_ttl)),
            ("Refresh reuse grace", lifetime(v.refresh_reuse_grace)),
        ],
        require_dpop: v.require_dpop,
        created: when(Some(v.created_at), now).to_string(),
        updated: when(Some(v.updated_at), now).to_string(),
        last_used: when(v.last_used_at, now).to_string(),
        uses_secret,
        secrets,
        jwks_keys: v
            .jwks
            .as_ref()
            .filter(|_| v.jwks_uri.is_none())
            .map(key_rows),
        jwks_status: v
            .jwks_uri
            .as_deref()
            .map(|u| jwks_status(state, u, now))
            .unwrap_or_default(),
        jwks_uri: v.jwks_uri.clone(),
        federated: match (&v.federated_issuer, &v.federated_subject) {
            (Some(i), Some(s)) => {
                let claims = v
                    .federated_claims
                    .as_ref()
                    .and_then(|c| c.as_object())
                    .map(|m| {
                        m.iter()
                            .map(|(k, val)| {
                                (k.clone(), val.as_str().unwrap_or_default().to_string())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Some(Binding {
                    issuer: i.clone(),
                    subject: s.clone(),
                    claims,
                })
            }
            _ => None,
        },
        chart: daily_bars(&days),
        days: days
            .into_iter()
            .map(|(day, tokens)| DayRow { day, tokens })
            .collect(),
        week_total,
        edit: edit.unwrap_or_else(|| EditForm::of(&v)),
        errors,
        keep_old_choices: keep_old_choices(),
    }
}

/// The page again with a refusal next to its field (400), the edit form as typed.
async fn refused(
    op: &Operator,
    state: &AppState,
    id: &str,
    edit: Option<EditForm>,
    errors: FieldErrors,
) -> HttpResponse {
    let now = now();
    match read_client(state, id, now).await {
        Ok(Some(shown)) => render(
            StatusCode::BAD_REQUEST,
            &page(op, state, shown, edit, errors, now),
        ),
        Ok(None) => missing(id),
        Err(e) => failed(&e),
    }
}

/// `GET /console/clients/{id}`.
async fn show(op: Operator, state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let id = path.into_inner();
    let now = now();
    match read_client(&state, &id, now).await {
        Ok(Some(shown)) => render(
            StatusCode::OK,
            &page(&op, &state, shown, None, FieldErrors::default(), now),
        ),
        Ok(None) => missing(&id),
        Err(e) => failed(&e),
    }
}

/// `POST /console/clients/{id}/edit`: scopes, audiences, lifetimes through
/// `admin::clients::patch` (the one validator).
async fn edit(
    Posted(op, form): Posted<EditForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let id = path.into_inner();
    let patch = match form.patch() {
        Ok(p) => p,
        Err(errors) => return refused(&op, &state, &id, Some(form), errors).await,
    };
    let (actor, key, policy) = (op.actor(), id.clone(), policy(&state));
    let out = state
        .write("console edit client", move |conn| {
            kept(clients::patch(conn, &actor, &key, &patch, policy, now()))
        })
        .await;
    state.clients.invalidate(&id);
    match out {
        Ok(Ok(_)) => see_other(&href(&id)),
        Ok(Err(AdminError::NotFound(_))) => missing(&id),
        Ok(Err(e)) => refused(&op, &state, &id, Some(form), FieldErrors::of(&e)).await,
        Err(e) => failed(&e),
    }
}

/// The rotate form.
#[derive(Debug, Deserialize)]
struct RotateForm {
    /// Seconds the old secret keeps working.
    #[serde(default)]
    keep_old: String,
}

/// `POST /console/clients/{id}/rotate`: a new secret, shown once on the answer
/// (never in a URL, never stored in clear); the old one works for the overlap chosen.
async fn rotate(
    Posted(op, form): Posted<RotateForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let id = path.into_inner();
    let Ok(keep_old) = form.keep_old.trim().parse::<i64>() else {
        let mut errors = FieldErrors::default();
        errors.push("keep_old", "expected a whole number of seconds");
        return refused(&op, &state, &id, None, errors).await;
    };
    let (actor, key) = (op.actor(), id.clone());
    let out = state
        .write("console rotate secret", move |conn| {
            kept(clients::rotate_secret(conn, &actor, &key, keep_old, now()))
        })
        .await;
    state.clients.invalidate(&id);
    match out {
        Ok(Ok(created)) => {
            let Some(secret) = created.client_secret else {
                return see_other(&href(&id));
            };
            let c = created.client;
            render(
                StatusCode::OK,
                &SecretPage {
                    nav: Nav {
                        op: &op,
                        current: "clients",
                    },
                    href: href(&c.client_id),
                    id: c.client_id.clone(),
                    name: c.name.clone(),
                    secret,
                    created: false,
                    previous_until: match c.previous_secret_expires_at {
                        Some(t) => when(Some(t), now()).to_string(),
                        None => String::new(),
                    },
                },
            )
        }
        Ok(Err(AdminError::NotFound(_))) => missing(&id),
        Ok(Err(e)) => refused(&op, &state, &id, None, FieldErrors::of(&e)).await,
        Err(e) => failed(&e),
    }
}

/// A form of no fields but its csrf.
#[derive(Debug, Deserialize)]
struct Button {}

async fn set_disabled(op: &Operator, state: &AppState, id: String, disabled: bool) -> HttpResponse {
    let (actor, key) = (op.actor(), id.clone());
    let out = state
        .write("console disable client", move |conn| {
            kept(clients::set_disabled(conn, &actor, &key, disabled, now()))
        })
        .await;
    state.clients.invalidate(&id);
    match out {
        Ok(Ok(_)) => see_other(&href(&id)),
        Ok(Err(AdminError::NotFound(_))) => missing(&id),
        Ok(Err(e)) => refused(op, state, &id, None, FieldErrors::of(&e)).await,
        Err(e) => failed(&e),
    }
}

/// `POST /console/clients/{id}/disable`: it can no longer authenticate; its refresh
/// tokens end with it.
async fn disable(
    Posted(op, Button {}): Posted<Button>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    set_disabled(&op, &state, path.into_inner(), true).await
}

/// `POST /console/clients/{id}/enable`.
async fn enable(
    Posted(op, Button {}): Posted<Button>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    set_disabled(&op, &state, path.into_inner(), false).await
}

/// `POST /console/clients/{id}/revoke-sessions`: ends every refresh-token family the
/// client holds (audited as `client.revoke_sessions`).
async fn revoke_sessions(
    Posted(op, Button {}): Posted<Button>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let id = path.into_inner();
    let (actor, key) = (op.actor(), id.clone());
    let out = state
        .write("console revoke client sessions", move |conn| {
            kept(clients::revoke_sessions(conn, &actor, &key, now()))
        })
        .await;
    state.clients.invalidate(&id);
    match out {
        Ok(Ok(_)) => see_other(&href(&id)),
        Ok(Err(AdminError::NotFound(_))) => missing(&id),
        Ok(Err(e)) => refused(&op, &state, &id, None, FieldErrors::of(&e)).await,
        Err(e) => failed(&e),
    }
}

/// The delete form: the client's id or name, typed again.
#[derive(Debug, Deserialize)]
struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /console/clients/{id}/delete`: only when `confirm` is the client's id or
/// name exactly; otherwise nothing is deleted and the page says why.
async fn delete(
    Posted(op, form): Posted<DeleteForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let id = path.into_inner();
    let typed = form.confirm.trim().to_string();
    let (actor, key) = (op.actor(), id.clone());
    let out = state
        .write("console delete client", move |conn| {
            let detail = match kept(clients::detail(conn, &key))? {
                Ok(d) => d,
                Err(e) => return Ok(Err(e)),
            };
            if typed.is_empty() || (typed != detail.view.client_id && typed != detail.view.name) {
                return Ok(Err(AdminError::field(
                    "confirm",
                    "type the client's id or name exactly to delete it",
                )));
            }
            kept(clients::delete(conn, &actor, &key, now()))
        })
        .await;
    state.clients.invalidate(&id);
    match out {
        Ok(Ok(())) => see_other("/console/clients"),
        Ok(Err(AdminError::NotFound(_))) => missing(&id),
        Ok(Err(e)) => refused(&op, &state, &id, None, FieldErrors::of(&e)).await,
        Err(e) => failed(&e),
    }
}

/// Renders the secret page after a client was created (used by the clients list's
/// create handler).
pub fn created_page(op: &Operator, id: &str, name: &str, secret: String) -> HttpResponse {
    render(
        StatusCode::OK,
        &SecretPage {
            nav: Nav {
                op,
                current: "clients",
            },
            href: href(id),
            id: id.to_string(),
            name: name.to_string(),
            secret,
            created: true,
            previous_until: String::new(),
        },
    )
}
