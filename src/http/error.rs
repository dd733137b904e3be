//! Rendering protocol errors: RFC 6749 §5.2 JSON, `no-store`, the right challenge.

use crate::oauth::dpop::PROOF_ALGS;
use crate::oauth::error::Challenge;
use crate::oauth::OAuthError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = super::no_store(self.status_code());
        match self.challenge {
            Challenge::None => {}
            Challenge::Basic => {
                res.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="tessera""#));
            }
            Challenge::Bearer | Challenge::Dpop => {
                let desc: String = self
                    .description
                    .chars()
                    .filter(|c| *c != '"' && *c != '\\')
                    .collect();
                let (scheme, algs) = match self.challenge {
                    Challenge::Dpop => ("DPoP", format!(r#", algs="{}""#, PROOF_ALGS.join(" "))),
                    _ => ("Bearer", String::new()),
                };
                let value = format!(
                    r#"{scheme} realm="tessera", error="{}", error_description="{}"{algs}"#,
                    self.code.as_str(),
                    desc
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    res.insert_header((header::WWW_AUTHENTICATE, v));
                }
            }
        }
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(self.body())
    }
}
