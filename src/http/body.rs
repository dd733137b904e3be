//! Reading a form body: content type checked, size capped before it is buffered.

use crate::oauth::form::FormParams;
use crate::oauth::OAuthError;
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

/// The largest request body any form endpoint accepts.
pub const MAX_FORM_BODY: usize = 64 * 1024;

fn too_large() -> OAuthError {
    OAuthError::invalid_request(format!("request body larger than {MAX_FORM_BODY} bytes"))
        .with_status(413)
}

/// Whether the request declares the media type `mime`.
pub fn has_content_type(req: &HttpRequest, mime: &str) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(mime))
}

/// Whether the request declares `application/x-www-form-urlencoded`.
fn is_form(req: &HttpRequest) -> bool {
    has_content_type(req, "application/x-www-form-urlencoded")
}

/// Reads and parses a form body, or answers the RFC 6749 error for it.
pub async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<FormParams, OAuthError> {
    if !is_form(req) {
        return Err(OAuthError::invalid_request(
            "the request body must be application/x-www-form-urlencoded",
        ));
    }
    FormParams::parse(&read_body(req, payload).await?)
}

/// Reads a body of at most `MAX_FORM_BODY` bytes (413 beyond), checking the declared
/// length before buffering anything.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::BytesMut, OAuthError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BODY) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(512).min(MAX_FORM_BODY));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| OAuthError::invalid_request("the request body could not be read"))?;
        if body.len().saturating_add(chunk.len()) > MAX_FORM_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
