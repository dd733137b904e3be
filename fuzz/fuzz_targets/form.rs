//! The token endpoint's `application/x-www-form-urlencoded` body and the client
//! credentials read from it and from the `Authorization` header (Basic).
//!
//! Input: `body \0 authorization-header`. Asserts: a parsed body written out again
//! parses to the same parameters; no value is empty; errors are one line; a presented
//! client id is within the length limit and a secret never shows in `Debug`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::oauth::client::MAX_CLIENT_ID_LEN;
use tessera::oauth::client_auth::{extract, Credential};
use tessera::oauth::form::FormParams;
use tessera::oauth::AuthMethod;
use tessera_fuzz::{assert_one_line, fields};

/// Form-encodes `s`, every byte but the unreserved ones as `%XX`.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let f = fields(data, 2);
    let params = match FormParams::parse(f[0]) {
        Ok(p) => p,
        Err(e) => return assert_one_line("form", &e.description),
    };
    for (name, value) in params.pairs() {
        assert!(!value.is_empty(), "an empty value counts as omitted");
        assert!(
            !name.chars().chain(value.chars()).any(char::is_control),
            "control characters are refused"
        );
    }
    let again = params
        .pairs()
        .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let reread = FormParams::parse(again.as_bytes()).expect("a body written out parses again");
    assert!(
        params.pairs().eq(reread.pairs()),
        "parse → write → parse changed it"
    );

    let header = (!f[1].is_empty())
        .then(|| std::str::from_utf8(f[1]).ok())
        .flatten();
    match extract(header, &params) {
        Err(e) => assert_one_line("client authentication", &e.description),
        Ok(presented) => {
            assert!(presented.client_id.len() <= MAX_CLIENT_ID_LEN);
            if presented.method == AuthMethod::ClientSecretBasic {
                assert!(header.is_some(), "Basic without an Authorization header");
            }
            if let Credential::Secret(secret) = &presented.credential {
                assert_eq!(format!("{:?}", presented.credential), "Secret(..)");
                assert!(secret.readings().count() <= 2);
            }
        }
    }
});
