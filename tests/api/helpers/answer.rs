//! Form bodies out, answers in: the token endpoint's shapes and RFC 6749 errors.

use reqwest::header::HeaderMap;
use serde_json::Value;

/// A form body from pairs, percent-encoded.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A token endpoint answer.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<no error field>")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn refresh_token(&self) -> &str {
        self.body["refresh_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no refresh_token: {}", self.body))
    }
    /// The `kid` in the access token's header.
    pub fn kid(&self) -> String {
        jsonwebtoken::decode_header(self.access_token())
            .expect("JWT header")
            .kid
            .expect("kid")
    }
    pub fn access_token(&self) -> &str {
        self.body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token: {}", self.body))
    }
}

pub async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

/// Asserts an RFC 6749 §5.2 error answer.
#[track_caller]
pub fn assert_oauth_error(a: &Answer, status: u16, error: &str) {
    assert_eq!(a.status, status, "status for {error}: body {}", a.body);
    assert_eq!(a.error(), error, "error code: body {}", a.body);
    assert!(
        a.body["error_description"].is_string(),
        "error_description present"
    );
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "JSON error"
    );
    assert_eq!(a.header("cache-control"), Some("no-store"));
}
