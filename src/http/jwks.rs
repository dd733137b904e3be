//! `GET /.well-known/jwks.json`: precomputed bytes, strong ETag, conditional GET.

use crate::service::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// How long resource servers may cache the JWKS: below the pre-publication window
/// minus the replicas' key refresh interval, so a new key is in every cached copy
/// before it signs anything; at most five minutes.
pub fn max_age(prepublish: i64, refresh_interval_secs: i64) -> i64 {
    (prepublish.saturating_sub(refresh_interval_secs) / 2).clamp(0, 300)
}

/// The `Cache-Control` value for the JWKS under these settings.
pub fn cache_control(s: &crate::config::Settings) -> String {
    format!(
        "public, max-age={}",
        max_age(
            s.signing.key_prepublish,
            s.signing.key_refresh_interval.as_secs() as i64
        )
    )
}

/// Whether an `If-None-Match` value matches `etag` (a list, or `*`).
fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
}

/// The JWKS endpoint.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery",
    params(("If-None-Match" = Option<String>, Header, description = "an ETag from a previous answer")),
    responses(
        (status = 200, description = "RFC 7517 JWK set, with Cache-Control and a strong ETag", body = Object, content_type = "application/jwk-set+json"),
        (status = 304, description = "unchanged since the given ETag"),
    ))]
pub async fn jwks(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let set = state.keys.snapshot();
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches(v, &set.etag));
    let mut res = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, set.etag.clone()))
        .insert_header((header::CACHE_CONTROL, state.jwks_cache_control.as_str()));
    if not_modified {
        res.finish()
    } else {
        res.content_type("application/jwk-set+json")
            .body(set.jwks_body.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_stays_below_the_prepublication_window() {
        assert_eq!(max_age(3600, 60), 300);
        assert_eq!(max_age(100, 10), 45);
        assert_eq!(max_age(5, 10), 0);
    }

    #[test]
    fn if_none_match_lists_and_weak_forms_match() {
        assert!(matches("\"a\"", "\"a\""));
        assert!(matches("\"x\", \"a\"", "\"a\""));
        assert!(matches("W/\"a\"", "\"a\""));
        assert!(matches("*", "\"a\""));
        assert!(!matches("\"b\"", "\"a\""));
    }
}
