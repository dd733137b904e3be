//! The middleware that opens each request's span (only installed when tracing is on):
//! named `METHOD route`, a child of the caller's W3C `traceparent` when there is one,
//! with the route, status and, for refusals, the OAuth error code. The query string,
//! the body and credential-bearing headers are never recorded.

use crate::oauth::OAuthError;
use crate::service::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error};
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The request's headers, as the W3C propagator reads them.
struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The method as OpenTelemetry names it, for the methods HTTP defines; any other
/// (a client may send anything) is `_OTHER` and the span is named `HTTP`, so junk
/// methods cannot make unbounded span names.
fn known_method(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => return None,
    })
}

/// Longest `user_agent.original` recorded, characters.
const MAX_USER_AGENT: usize = 256;
/// Longest `url.path` recorded, characters. Every attribute of a span from outside is
/// bounded: spans wait in the export queue (2,048 of them while the collector is slow
/// or down), so an unbounded path would let long-URL requests grow memory by the
/// queue's length times the URL's.
const MAX_PATH: usize = 256;

/// `text` cut to at most `max` characters (never inside a character).
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text.get(..end).unwrap_or_default().to_string(),
        None => text.to_string(),
    }
}

/// Opens the request's span, runs the request inside it, records the outcome.
pub async fn trace(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    let Some(traces) = &state.traces else {
        return next.call(req).await;
    };
    let parent = TraceContextPropagator::new()
        .extract_with_context(&Context::new(), &Headers(req.headers()));
    let method = known_method(req.method());
    let route = req.match_pattern();
    let name = match (method, &route) {
        (Some(m), Some(r)) => format!("{m} {r}"),
        (Some(m), None) => m.to_string(),
        (None, _) => "HTTP".to_string(),
    };
    let mut attributes = vec![
        KeyValue::new("http.request.method", method.unwrap_or("_OTHER")),
        KeyValue::new("url.path", bounded(req.path(), MAX_PATH)),
        // tessera serves plain HTTP; TLS ends at the proxy in front.
        KeyValue::new("url.scheme", "http"),
    ];
    if let Some(r) = route {
        attributes.push(KeyValue::new("http.route", r));
    }
    if let Some(peer) = req.peer_addr() {
        attributes.push(KeyValue::new("client.address", peer.ip().to_string()));
    }
    if let Some(ua) = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        attributes.push(KeyValue::new(
            "user_agent.original",
            bounded(ua, MAX_USER_AGENT),
        ));
    }
    let span = traces.request(&parent, name, attributes);
    let res = span.run(next.call(req)).await?;
    let status = res.status();
    span.set("http.response.status_code", i64::from(status.as_u16()));
    if let Some(e) = res
        .response()
        .error()
        .and_then(|e| e.as_error::<OAuthError>())
    {
        span.set("tessera.oauth.error", e.code.as_str());
    }
    if status.is_server_error() {
        span.fail(status.as_str().to_string());
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_is_cut_between_characters() {
        assert_eq!(bounded("abc", 5), "abc");
        assert_eq!(bounded("abcdef", 3), "abc");
        assert_eq!(bounded("ééééé", 3), "ééé");
        assert_eq!(bounded("", 0), "");
    }
}
