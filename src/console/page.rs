//! Rendering console pages: every response carries the console's headers (a CSP
//! without inline script, no framing, no caching, no referrer).

use super::session::Operator;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;

/// The console's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
    script-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The headers of every console response, name and value.
pub const HEADERS: [(&str, &str); 5] = [
    ("content-security-policy", CSP),
    // Under `no-referrer` a browser sends `Origin: null` with every form POST (Fetch,
    // "append a request Origin header"): `form::same_origin` then reads the browser's
    // own `Sec-Fetch-Site`.
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
];

/// A response builder with the console's headers.
pub fn builder(status: StatusCode) -> HttpResponseBuilder {
    let mut res = HttpResponse::build(status);
    for h in HEADERS {
        res.insert_header(h);
    }
    res
}

/// A page: its HTML with the console's headers (a template that fails to render is a
/// logged 500 page).
pub fn render<T: Template>(status: StatusCode, page: &T) -> HttpResponse {
    match page.render() {
        Ok(html) => builder(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => {
            log::error!("console page failed to render: {e}");
            plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be shown",
            )
        }
    }
}

/// `303 See Other` to `location` (after a POST), with the console's headers.
pub fn see_other(location: &str) -> HttpResponse {
    builder(StatusCode::SEE_OTHER)
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A page saying what went wrong, with a link back to the console.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    render(
        status,
        &ErrorPage {
            title: status.canonical_reason().unwrap_or("Error"),
            message,
        },
    )
}

/// The error page as plain text, for when a template failed.
fn plain_error(status: StatusCode, message: &str) -> HttpResponse {
    builder(status)
        .content_type("text/plain; charset=utf-8")
        .body(message.to_string())
}

/// The navigation every signed-in page shows: the operator (name, CSRF token for the
/// sign-out form) and which entry is the current page (`overview`, `clients`,
/// `issuers`, `explain`, `users`, `keys`, `audit`).
#[derive(Debug, Clone, Copy)]
pub struct Nav<'a> {
    /// The signed-in operator.
    pub op: &'a Operator,
    /// The current entry's name.
    pub current: &'static str,
}

/// One entry of the navigation: its name, path and label.
pub const NAV: [(&str, &str, &str); 7] = [
    ("overview", "/console/", "Overview"),
    ("clients", "/console/clients", "Clients"),
    ("issuers", "/console/issuers", "Issuers"),
    ("explain", "/console/explain", "Explain"),
    ("users", "/console/users", "Users"),
    ("keys", "/console/keys", "Keys"),
    ("audit", "/console/audit", "Audit"),
];

impl Nav<'_> {
    /// The navigation's entries: (name, path, label).
    pub fn entries(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        &NAV
    }

    /// Whether `name` is the current entry.
    pub fn is_current(&self, name: &str) -> bool {
        self.current == name
    }
}

/// An error page (signed in or not: it shows no navigation).
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}
