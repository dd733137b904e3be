//! Posted forms: every state change is a `POST` of a form from a signed-in session,
//! from the console's own origin, carrying the session's CSRF token.

use super::page;
use super::session::{refusal, Operator};
use crate::service::AppState;
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use subtle::ConstantTimeEq;

/// The largest console form body, bytes.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A form posted by the signed-in operator: the session is live, the request comes
/// from the console's origin (`Origin`, or without it `Referer`; neither is 403) and
/// its hidden `csrf` field is the session's token (compared in constant time). Any
/// failure is a 403 page and nothing runs. `T` is the rest of the form (unknown
/// fields ignored); a form that does not fit it is a 400 page.
#[derive(Debug)]
pub struct Posted<T>(pub Operator, pub T);

/// The field every posted form carries.
#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

impl<T: DeserializeOwned + 'static> FromRequest for Posted<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Posted<T>, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move { posted(&req, payload).await.map_err(refusal) })
    }
}

async fn posted<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: Payload,
) -> Result<Posted<T>, HttpResponse> {
    let op = Operator::of(req).await?;
    let body = checked_form(req, payload).await?;
    let field: CsrfField = serde_urlencoded::from_bytes(&body).map_err(|_| forbidden())?;
    let sent = field.csrf.unwrap_or_default();
    let ok: bool = sent.as_bytes().ct_eq(op.csrf.as_bytes()).into();
    if sent.is_empty() || !ok {
        return Err(forbidden());
    }
    let form = serde_urlencoded::from_bytes::<T>(&body).map_err(|e| {
        page::error_page(
            StatusCode::BAD_REQUEST,
            &format!("the form could not be read: {e}"),
        )
    })?;
    Ok(Posted(op, form))
}

fn forbidden() -> HttpResponse {
    page::error_page(
        StatusCode::FORBIDDEN,
        "this form is out of date or did not come from the console: reload the page and \
         try again",
    )
}

/// A form body from the console's own origin, of the form media type, at most
/// [`MAX_FORM_BYTES`]; otherwise the page that refuses it. For the forms of a
/// signed-out visitor too (sign-in, setup), which have no CSRF token yet.
pub(crate) async fn checked_form(
    req: &HttpRequest,
    payload: Payload,
) -> Result<web::BytesMut, HttpResponse> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(forbidden());
    };
    if !same_origin(req, state) {
        return Err(page::error_page(
            StatusCode::FORBIDDEN,
            "this form was sent from another site: the console accepts its own forms only",
        ));
    }
    if !crate::http::body::has_content_type(req, "application/x-www-form-urlencoded") {
        return Err(page::error_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the console takes application/x-www-form-urlencoded forms",
        ));
    }
    read_body(payload).await
}

/// Reads at most [`MAX_FORM_BYTES`] of the body (413 beyond).
async fn read_body(mut payload: Payload) -> Result<web::BytesMut, HttpResponse> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| page::error_page(StatusCode::BAD_REQUEST, "the form could not be read"))?;
        if body.len().saturating_add(chunk.len()) > MAX_FORM_BYTES {
            return Err(page::error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the form is too large",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether the request comes from the console's own origin: its `Origin` (or, without
/// one, its `Referer`'s origin) is the issuer's, or the origin the request was
/// addressed to (scheme and `Host`). `Origin: null` — what a browser sends from a
/// page under `Referrer-Policy: no-referrer`, the console's own included — counts
/// only with the browser's `Sec-Fetch-Site: same-origin`, which a page cannot set (a
/// cross-site page hiding its origin the same way gets `cross-site`). Another site,
/// or no header at all: no.
pub fn same_origin(req: &HttpRequest, state: &AppState) -> bool {
    let header_str = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if header_str(header::ORIGIN).as_deref() == Some("null") {
        return header_str(header::HeaderName::from_static("sec-fetch-site")).as_deref()
            == Some("same-origin");
    }
    let claimed = match header_str(header::ORIGIN) {
        Some(origin) => origin_of(&origin),
        None => header_str(header::REFERER).and_then(|r| origin_of(&r)),
    };
    let Some(claimed) = claimed else {
        return false;
    };
    let info = req.connection_info();
    let addressed = format!("{}://{}", info.scheme(), info.host());
    let ours = [origin_of(&state.issuer), origin_of(&addressed)];
    ours.iter().flatten().any(|o| *o == claimed)
}

/// The ASCII serialisation of a URL's origin (`https://host:port`, default port left
/// out); `None` for an opaque origin or what does not parse.
fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let origin = parsed.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}
