//! The JWS/JWT readers that run before any signature is checked: `jws::parts` and
//! `json_part`, a client assertion's header and claimed client, and a platform
//! token's header, claims, time and audience rules and issuer rules.
//!
//! Input: a compact JWS as text, or `header-json \0 claims-json` made into one (so the
//! fuzzer works on the JSON rather than on base64). Asserts: the parts put together are
//! the token; no string read from a part holds NUL; only accepted algorithms pass; a
//! platform token that passes its checks has a good `sub`, `aud` and `exp`; errors
//! are one line.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tessera::oauth::federation::{self, PlatformToken};
use tessera::oauth::{client_assertion, jws};
use tessera_fuzz::{assert_one_line, fields, NOW};

const AUDIENCE: &str = "https://tessera.example";

fn holds_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(holds_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn judge(token: &str) {
    if let Some((h, p, s)) = jws::parts(token) {
        assert_eq!(format!("{h}.{p}.{s}"), token);
        for part in [h, p] {
            if let Some(v) = jws::json_part::<Value>(part) {
                assert!(!holds_nul(&v), "a part with NUL was read");
            }
        }
    } else {
        assert_ne!(token.matches('.').count(), 2);
    }

    match client_assertion::algorithm(token) {
        Ok((alg, _kid)) => {
            assert!(jws::accepted(alg));
            assert!(token.len() <= client_assertion::MAX_BYTES);
        }
        Err(e) => assert_one_line("assertion", &e.description),
    }
    match client_assertion::claimed_client(token) {
        Ok(Some(id)) => assert!(!id.is_empty() && !id.contains('\0')),
        Ok(None) => {}
        Err(e) => assert_one_line("assertion", &e.description),
    }
    if let Ok((alg, _kid)) = federation::header(token) {
        assert!(jws::accepted(alg));
    }

    let Ok(t) = PlatformToken::read(token) else {
        return;
    };
    assert!(token.len() <= federation::MAX_PLATFORM_TOKEN);
    assert!(!t.sub.is_empty() && !t.sub.chars().any(char::is_control));
    assert_eq!(
        t.claims.get("sub").and_then(Value::as_str),
        Some(t.sub.as_str())
    );
    if t.check(AUDIENCE, federation::DEFAULT_MAX_TOKEN_AGE, NOW)
        .is_ok()
    {
        let exp = t.claims.get("exp").and_then(Value::as_i64).expect("exp");
        assert!(exp > NOW);
        let aud_ok = match t.claims.get("aud") {
            Some(Value::String(a)) => a == AUDIENCE,
            Some(Value::Array(l)) => l.iter().any(|a| a.as_str() == Some(AUDIENCE)),
            _ => false,
        };
        assert!(aud_ok, "a token for another audience passed");
    }
    let td = federation::trust_domain(&t.sub);
    if t.check_issuer("https://issuer.example", td).is_ok() {
        if let Some(iss) = &t.iss {
            assert_eq!(iss, "https://issuer.example");
        }
    }
    if let Err(e) = t.check_issuer("https://issuer.example", Some("prod.example.org")) {
        assert_one_line("issuer", &e);
    } else {
        assert_eq!(federation::trust_domain(&t.sub), Some("prod.example.org"));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        judge(text);
    }
    let f = fields(data, 2);
    let made = format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(f[0]),
        URL_SAFE_NO_PAD.encode(f[1])
    );
    judge(&made);
});
