//! Signing in and out: `GET`/`POST /console/signin`, `POST /console/signout`.

use super::form::{checked_form, Posted};
use super::page::{self, render};
use super::session::{clear_cookie, set_cookie, unavailable};
use crate::service::console::{self, SignInError};
use crate::service::AppState;
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

/// Registers the sign-in and sign-out routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/console/signin")
            .route(web::get().to(form))
            .route(web::post().to(sign_in)),
    )
    .service(web::resource("/console/signout").route(web::post().to(sign_out)));
}

/// The page to go to after signing in: a path under `/console/` and nothing else (no
/// other site, no `//host`, no backslash, no control characters, no `..`); otherwise
/// the overview.
pub fn safe_next(next: Option<&str>) -> String {
    const HOME: &str = "/console/";
    let Some(next) = next else {
        return HOME.into();
    };
    let ok = next.starts_with(HOME)
        && next.len() <= 1024
        && !next.contains('\\')
        && !next.contains("//")
        && !next.contains("..")
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        next.into()
    } else {
        HOME.into()
    }
}

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SignInPage<'a> {
    error: Option<&'a str>,
    next: &'a str,
    username: &'a str,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn form(query: Option<web::Query<NextQuery>>) -> HttpResponse {
    let next = safe_next(query.as_ref().and_then(|q| q.next.as_deref()));
    render(
        StatusCode::OK,
        &SignInPage {
            error: None,
            next: &next,
            username: "",
        },
    )
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn sign_in(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    sign_in_body(req, payload.into_inner()).await
}

async fn sign_in_body(req: HttpRequest, payload: Payload) -> HttpResponse {
    let body = match checked_form(&req, payload).await {
        Ok(body) => body,
        Err(res) => return res,
    };
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return page::error_page(StatusCode::INTERNAL_SERVER_ERROR, "no state");
    };
    let Ok(f) = serde_urlencoded::from_bytes::<SignInForm>(&body) else {
        return page::error_page(
            StatusCode::BAD_REQUEST,
            "the sign-in form could not be read",
        );
    };
    let next = safe_next(f.next.as_deref());
    let shown: String = f.username.chars().take(64).collect();
    let again = |status: StatusCode, error: &str| {
        render(
            status,
            &SignInPage {
                error: Some(error),
                next: &next,
                username: &shown,
            },
        )
    };
    if f.username.is_empty() || f.password.is_empty() {
        return again(
            StatusCode::BAD_REQUEST,
            "enter your operator name and password",
        );
    }
    // Bounded work: a name no operator can have, or an oversized password, is refused
    // as a wrong one would be (after the same counting and hashing).
    let username: String = f.username.chars().take(256).collect();
    let password: String = f.password.chars().take(1024).collect();
    let addr = crate::http::token::client_addr(&req, state.settings.server.trust_forwarded_for);
    match console::sign_in(state, &username, &password, &addr).await {
        Ok(started) => page::builder(StatusCode::SEE_OTHER)
            .insert_header((header::LOCATION, next.as_str()))
            .insert_header((header::SET_COOKIE, set_cookie(state, &started.cookie)))
            .finish(),
        Err(SignInError::Refused) => {
            again(StatusCode::UNAUTHORIZED, "wrong operator name or password")
        }
        Err(SignInError::Throttled(retry)) => {
            let mut res = again(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("too many failed sign-ins: try again in {retry} seconds"),
            );
            if let Ok(v) = header::HeaderValue::from_str(&retry.max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            res
        }
        Err(SignInError::Unavailable(e)) => unavailable(&e),
    }
}

/// The sign-out form: only its CSRF field.
#[derive(Deserialize)]
struct SignOut {}

async fn sign_out(state: web::Data<AppState>, posted: Posted<SignOut>) -> HttpResponse {
    let Posted(op, SignOut {}) = posted;
    if let Err(e) = console::sign_out(&state, &op.session()).await {
        return unavailable(&e);
    }
    page::builder(StatusCode::SEE_OTHER)
        .insert_header((header::LOCATION, "/console/signin"))
        .insert_header((header::SET_COOKIE, clear_cookie(&state)))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_under_the_console_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/console/clients?q=a")),
            "/console/clients?q=a"
        );
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/console/",
            "/console//evil.example",
            "/console/\\evil",
            "/console/../oauth/token",
            "/consolex",
            "/console/\r\nSet-Cookie: a=b",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/console/");
    }
}
