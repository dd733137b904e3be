//! Who is signed in: the session cookie, its server-side session (see
//! `service::console`) and the [`Operator`] every console page takes.

use super::page;
use crate::service::console::{self, Session};
use crate::service::AppState;
use actix_web::dev::Payload;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;

/// The signed-in operator of a live session (idle timeout `console_idle_timeout`,
/// absolute 12 h, operator not disabled). As an extractor, without one a `GET` is
/// answered `303 See Other` to `/console/signin?next=<path>` and anything else 403.
#[derive(Debug, Clone)]
pub struct Operator {
    /// The operator's name, as typed.
    pub username: String,
    /// The session's CSRF token: the hidden `csrf` field of every form.
    pub csrf: String,
    /// The session's key (hash of the cookie).
    pub(crate) session: String,
}

impl Operator {
    /// The audit actor of every action of this operator: `console:<username>`.
    pub fn actor(&self) -> String {
        console::actor(&self.username)
    }

    /// The session behind this operator, for ending it.
    pub(crate) fn session(&self) -> Session {
        Session {
            id_hash: self.session.clone(),
            username: self.username.clone(),
            csrf: self.csrf.clone(),
        }
    }

    /// The operator of `req`'s session, or the response that refuses the request.
    pub(crate) async fn of(req: &HttpRequest) -> Result<Operator, HttpResponse> {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return Err(page::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the console is not set up",
            ));
        };
        let cookie = cookie_value(req, &cookie_name(state));
        let found = match cookie {
            Some(value) => console::session(state, &value)
                .await
                .map_err(|e| unavailable(&e))?,
            None => None,
        };
        match found {
            Some(s) => Ok(Operator {
                username: s.username,
                csrf: s.csrf,
                session: s.id_hash,
            }),
            None if req.method() == Method::GET || req.method() == Method::HEAD => {
                let next = req
                    .uri()
                    .path_and_query()
                    .map_or("/console/", |p| p.as_str());
                Err(page::see_other(&format!(
                    "/console/signin?next={}",
                    percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
                )))
            }
            None => Err(page::error_page(
                StatusCode::FORBIDDEN,
                "you are not signed in to the console (or your session has ended): \
                 sign in again",
            )),
        }
    }
}

impl FromRequest for Operator {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Operator, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Operator::of(&req).await.map_err(refusal) })
    }
}

/// A prepared response as an extractor's error.
pub(crate) fn refusal(res: HttpResponse) -> actix_web::Error {
    actix_web::error::InternalError::from_response("console request refused", res).into()
}

/// The page of a database that could not answer.
pub(crate) fn unavailable(e: &crate::oauth::OAuthError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    page::error_page(
        status,
        "the console cannot reach its database right now; try again in a moment",
    )
}

/// The session cookie's name: `__Host-tessera_console` when the issuer is https
/// (with `Secure`), else `tessera_console`.
pub fn cookie_name(state: &AppState) -> String {
    if secure(state) {
        "__Host-tessera_console".into()
    } else {
        "tessera_console".into()
    }
}

fn secure(state: &AppState) -> bool {
    state.issuer.starts_with("https://")
}

/// The `Set-Cookie` value that carries a new session's cookie.
pub fn set_cookie(state: &AppState, value: &str) -> String {
    let secure = if secure(state) { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict{secure}",
        cookie_name(state)
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> String {
    let secure = if secure(state) { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        cookie_name(state)
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}
