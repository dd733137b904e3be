//! `/console/users`: the password-grant users, searched and paged in SQL; disable or
//! enable one, end their sessions (their refresh-token families), set their password
//! (the CLI's rules: `check_new_password`, argon2id with the configured cost). Hashes
//! are never shown: the kind of hash (`password_scheme`) is.

use super::outcome::{self, FormErrors, Refusal};
use crate::admin::users::{self, UserQuery, UserRow, MAX_SEARCH_CHARS};
use crate::console::form::Posted;
use crate::console::page::{self, Nav};
use crate::console::session::Operator;
use crate::console::when::{when, When};
use crate::oauth::password::check_new_password;
use crate::service::state::AppState;
use crate::service::{now, read};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

/// Users per page.
const PER_PAGE: u32 = 50;

/// Registers the users routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console/users").route(web::get().to(list)))
        .service(web::resource("/console/users/disabled").route(web::post().to(set_disabled)))
        .service(web::resource("/console/users/sessions").route(web::post().to(end_sessions)))
        .service(
            web::resource("/console/users/password")
                .route(web::get().to(password_form))
                .route(web::post().to(set_password)),
        );
}

/// The list's query: search text and page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<String>,
}

/// The set-password page's query: whose password.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PasswordQuery {
    username: Option<String>,
}

/// One user, named.
#[derive(Debug, Clone, Deserialize)]
pub struct UserForm {
    username: String,
}

/// Disable (`disabled=true`) or enable (`disabled=false`) a user.
#[derive(Debug, Clone, Deserialize)]
pub struct DisableForm {
    username: String,
    disabled: String,
}

/// A new password, typed twice.
#[derive(Debug, Clone, Deserialize)]
pub struct PasswordForm {
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
}

/// A listed user with dates ready to show.
struct Row {
    user: UserRow,
    created: When,
    password_changed: When,
    last_login: When,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage<'a> {
    nav: Nav<'a>,
    q: String,
    rows: Vec<Row>,
    total: u64,
    page: u32,
    pages: u64,
    prev: Option<String>,
    next: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/user_password.html")]
struct PasswordPage<'a> {
    nav: Nav<'a>,
    username: String,
    min_length: usize,
    errors: FormErrors,
    general: Vec<String>,
}

/// The list URL for a search and page.
fn list_url(q: &str, page: u32) -> String {
    let mut url = String::from("/console/users");
    let mut sep = '?';
    if !q.is_empty() {
        url.push(sep);
        url.push_str("q=");
        url.extend(url::form_urlencoded::byte_serialize(q.as_bytes()));
        sep = '&';
    }
    if page > 0 {
        url.push(sep);
        url.push_str(&format!("page={page}"));
    }
    url
}

async fn list(
    state: web::Data<AppState>,
    op: Operator,
    query: web::Query<ListQuery>,
) -> HttpResponse {
    let q = outcome::text(query.q.as_deref()).unwrap_or_default();
    let page_no = outcome::page_number(query.page.as_deref());
    let hashing = state.settings.passwords.hash_params();
    let t = now();
    let search = UserQuery {
        search: (!q.is_empty()).then(|| q.clone()),
        page: page_no,
        per_page: PER_PAGE,
    };
    let found = read(&state.pool, "list users", move |conn| {
        Ok(users::page(conn, &search, hashing, t))
    })
    .await;
    let (found, error) = match outcome::settle(found) {
        Ok(Ok(found)) => (found, None),
        Ok(Err(refusal)) => (
            users::UserPage {
                rows: Vec::new(),
                total: 0,
            },
            Some(format!("search {}", refusal.message)),
        ),
        Err(page) => return page,
    };
    let pages = found.total.div_ceil(u64::from(PER_PAGE)).max(1);
    let prev = (page_no > 0).then(|| list_url(&q, page_no.saturating_sub(1)));
    let next = (u64::from(page_no).saturating_add(1) < pages)
        .then(|| list_url(&q, page_no.saturating_add(1)));
    let rows = found
        .rows
        .into_iter()
        .map(|user| Row {
            created: when(Some(user.view.user.created_at), t),
            password_changed: when(Some(user.view.user.password_changed_at), t),
            last_login: when(user.last_login_at, t),
            user,
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page::render(
        status,
        &UsersPage {
            nav: Nav {
                op: &op,
                current: "users",
            },
            q,
            rows,
            total: found.total,
            page: page_no,
            pages,
            prev,
            next,
            error,
        },
    )
}

/// Back to the list, showing the user acted on.
fn back_to(username: &str) -> HttpResponse {
    page::see_other(&list_url(username, 0))
}

/// An operation on one user refused (an unknown user, say): a page saying why.
fn refused_page(refusal: &Refusal) -> HttpResponse {
    page::error_page(StatusCode::NOT_FOUND, &refusal.message)
}

async fn set_disabled(
    state: web::Data<AppState>,
    Posted(op, form): Posted<DisableForm>,
) -> HttpResponse {
    let disabled = match form.disabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return page::error_page(
                StatusCode::BAD_REQUEST,
                "disabled must be true or false; nothing changed",
            )
        }
    };
    let hashing = state.settings.passwords.hash_params();
    let (actor, username) = (op.actor(), form.username.clone());
    let done = state
        .write("disable user", move |conn| {
            Ok(users::set_disabled(
                conn,
                &actor,
                &username,
                disabled,
                hashing,
                now(),
            ))
        })
        .await;
    match outcome::settle(done) {
        Ok(Ok(view)) => back_to(&view.user.username),
        Ok(Err(refusal)) => refused_page(&refusal),
        Err(page) => page,
    }
}

async fn end_sessions(
    state: web::Data<AppState>,
    Posted(op, form): Posted<UserForm>,
) -> HttpResponse {
    let (actor, username) = (op.actor(), form.username.clone());
    let done = state
        .write("end user sessions", move |conn| {
            Ok(users::end_sessions(conn, &actor, &username, now()))
        })
        .await;
    match outcome::settle(done) {
        Ok(Ok(_)) => back_to(&form.username),
        Ok(Err(refusal)) => refused_page(&refusal),
        Err(page) => page,
    }
}

/// The set-password page for `username`.
fn password_page(
    state: &AppState,
    op: &Operator,
    status: StatusCode,
    username: String,
    errors: FormErrors,
) -> HttpResponse {
    let general = errors.general(&["password", "repeat"]);
    page::render(
        status,
        &PasswordPage {
            nav: Nav {
                op,
                current: "users",
            },
            username,
            min_length: state.settings.passwords.password_min_length,
            errors,
            general,
        },
    )
}

async fn password_form(
    state: web::Data<AppState>,
    op: Operator,
    query: web::Query<PasswordQuery>,
) -> HttpResponse {
    let username = query.username.clone().unwrap_or_default();
    if username.chars().count() > MAX_SEARCH_CHARS {
        return page::error_page(StatusCode::BAD_REQUEST, "that username is too long");
    }
    password_page(&state, &op, StatusCode::OK, username, FormErrors::none())
}

async fn set_password(
    state: web::Data<AppState>,
    Posted(op, form): Posted<PasswordForm>,
) -> HttpResponse {
    let PasswordForm {
        username,
        password,
        repeat,
    } = form;
    // The CLI's checks, in its order: a typo in the repetition first, then the rules.
    let checked = if repeat != password {
        Err(Refusal::field("repeat", "the passwords do not match"))
    } else {
        check_new_password(&password, state.settings.passwords.password_min_length)
            .map_err(|m| Refusal::field("password", m))
    };
    if let Err(refusal) = checked {
        let errors = FormErrors::of(refusal);
        return password_page(&state, &op, StatusCode::BAD_REQUEST, username, errors);
    }
    let params = state.settings.passwords.hash_params();
    // The hashing threads: bounded like every other hash, and their one log line
    // names the argon2 error, never the password.
    let hash = match state.hash_pool.hash(password).await {
        Ok(hash) => hash,
        Err(_busy) => {
            return page::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy hashing passwords; try again shortly.",
            )
        }
    };
    let (actor, name) = (op.actor(), username.clone());
    let done = state
        .write("set user password", move |conn| {
            Ok(users::set_password(
                conn,
                &actor,
                &name,
                &hash,
                params,
                now(),
            ))
        })
        .await;
    match outcome::settle(done) {
        Ok(Ok(view)) => back_to(&view.user.username),
        Ok(Err(refusal)) => {
            let errors = FormErrors::of(refusal);
            password_page(&state, &op, StatusCode::BAD_REQUEST, username, errors)
        }
        Err(page) => page,
    }
}
