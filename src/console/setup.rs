//! The one-time setup link: `GET /console/setup?code=…` shows the form that creates
//! the first operator, `POST /console/setup` creates it and signs it in. A wrong, used
//! or expired code, or a database that has an operator already, gets a page saying so
//! and nothing is created.

use super::form::checked_form;
use super::page::{self, render};
use super::session::{set_cookie, unavailable};
use crate::admin::console::{set_up_first_operator, setup_refusal, SETUP_DONE};
use crate::admin::operators::check_username;
use crate::admin::AdminError;
use crate::oauth::password::check_new_password;
use crate::service::console::start_session_for;
use crate::service::{now, read, AppState};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

/// Registers the setup routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/console/setup")
            .route(web::get().to(form))
            .route(web::post().to(set_up)),
    );
}

#[derive(Template)]
#[template(path = "console/setup.html")]
struct SetupPage<'a> {
    error: Option<&'a str>,
    code: &'a str,
    username: &'a str,
    min_length: usize,
}

#[derive(Deserialize)]
struct CodeQuery {
    code: Option<String>,
}

/// The refusal page of a code (410 for a bad code, 403 once an operator exists).
fn refused(message: &str) -> HttpResponse {
    let status = if message == SETUP_DONE {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::GONE
    };
    page::error_page(status, message)
}

/// Why `code` cannot be used now, if it cannot.
async fn refusal(state: &AppState, code: &str) -> Result<Option<&'static str>, HttpResponse> {
    let code = code.to_string();
    read(&state.pool, "check console setup code", move |conn| {
        Ok(setup_refusal(conn, &code, now())?)
    })
    .await
    .map_err(|e| unavailable(&e))
}

async fn form(state: web::Data<AppState>, query: Option<web::Query<CodeQuery>>) -> HttpResponse {
    let code = query.and_then(|q| q.into_inner().code).unwrap_or_default();
    let code: String = code.chars().take(128).collect();
    match refusal(&state, &code).await {
        Err(res) => res,
        Ok(Some(message)) => refused(message),
        Ok(None) => render(
            StatusCode::OK,
            &SetupPage {
                error: None,
                code: &code,
                username: "",
                min_length: state.settings.passwords.password_min_length,
            },
        ),
    }
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn set_up(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let body = match checked_form(&req, payload.into_inner()).await {
        Ok(body) => body,
        Err(res) => return res,
    };
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return page::error_page(StatusCode::INTERNAL_SERVER_ERROR, "no state");
    };
    let Ok(f) = serde_urlencoded::from_bytes::<SetupForm>(&body) else {
        return page::error_page(StatusCode::BAD_REQUEST, "the setup form could not be read");
    };
    let code: String = f.code.chars().take(128).collect();
    match refusal(state, &code).await {
        Err(res) => return res,
        Ok(Some(message)) => return refused(message),
        Ok(None) => {}
    }
    let shown: String = f.username.chars().take(64).collect();
    let min_length = state.settings.passwords.password_min_length;
    let again = |error: &str| {
        render(
            StatusCode::BAD_REQUEST,
            &SetupPage {
                error: Some(error),
                code: &code,
                username: &shown,
                min_length,
            },
        )
    };
    if let Err(e) = check_username(&f.username) {
        return again(&e.to_string());
    }
    if f.password != f.confirm {
        return again("the passwords do not match");
    }
    if let Err(e) = check_new_password(&f.password, min_length) {
        return again(&e);
    }
    let hash = match state.hash_pool.hash(f.password).await {
        Ok(hash) => hash,
        Err(_) => {
            return page::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is busy checking passwords; try again in a moment",
            )
        }
    };
    let username = f.username;
    let used = code.clone();
    let created = state
        .write("set up console", move |conn| {
            let t = now();
            match set_up_first_operator(conn, &used, &username, &hash, t) {
                Ok(_) => Ok(Ok(start_session_for(conn, &username, t)?)),
                Err(AdminError::Db(e)) => Err(e.into()),
                Err(other) => Ok(Err(other.to_string())),
            }
        })
        .await;
    match created {
        Ok(Ok(Some(started))) => page::builder(StatusCode::SEE_OTHER)
            .insert_header((header::LOCATION, "/console/"))
            .insert_header((header::SET_COOKIE, set_cookie(state, &started.cookie)))
            .finish(),
        Ok(Ok(None)) => page::see_other("/console/signin"),
        Ok(Err(message)) => refused_or_again(&message, again),
        Err(e) => unavailable(&e),
    }
}

/// A refusal of the code itself, or the form again with what was wrong in it.
fn refused_or_again(message: &str, again: impl Fn(&str) -> HttpResponse) -> HttpResponse {
    use crate::admin::console::SETUP_CODE_REFUSED;
    if message == SETUP_DONE || message == SETUP_CODE_REFUSED {
        refused(message)
    } else {
        again(message)
    }
}
