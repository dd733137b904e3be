//! A token exchange's `subject_token` (and a Bearer token at the admin API or
//! introspection): one of this server's access tokens, read by `keys::verify`.
//!
//! Input: a token as text; and `header-json \0 claims` made into a token signed with a
//! published key (members written over a good header and good claims when they are a
//! JSON object), so the fuzzer reaches the claim checks. Asserts: an accepted token is
//! an `at+jwt` signed with the published key's algorithm and `kid`, from this issuer,
//! not expired, and its confirmation (DPoP or certificate binding) reads as a
//! constraint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::sync::OnceLock;
use tessera::keys::jwk::PublicJwk;
use tessera::keys::verify::Verifier;
use tessera::oauth::binding::Constraint;
use tessera_fuzz::{fields, merged, public_jwk, sign, NOW};

const ISSUER: &str = "https://tessera.example";

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let jwk: PublicJwk = serde_json::from_value(public_jwk()).expect("a public JWK");
        Verifier::new(&[jwk])
    })
}

/// Part `i` of a compact JWS as JSON (`Null` when it is none), read the way the
/// server reads it.
fn part(token: &str, i: usize) -> Value {
    token
        .split('.')
        .nth(i)
        .and_then(tessera::oauth::jws::json_part)
        .unwrap_or(Value::Null)
}

fn judge(token: &str) {
    let Some(claims) = verifier().verify(token, ISSUER, NOW) else {
        return;
    };
    let header = part(token, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], "fuzz");
    assert_eq!(claims.iss, ISSUER);
    assert!(claims.exp > NOW, "an expired token was accepted");
    let _ = Constraint::of_claim(claims.cnf.as_ref());
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        judge(text);
    }
    let f = fields(data, 2);
    let header = merged(
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "fuzz"}),
        f[0],
    );
    let good = json!({
        "iss": ISSUER, "sub": "user-1", "aud": "https://api.example", "exp": NOW + 300,
        "iat": NOW, "jti": "j-1", "client_id": "c-1", "scope": "read",
    });
    let claims = match serde_json::from_slice::<Value>(f[1]) {
        Ok(Value::Object(_)) => merged(good, f[1]),
        _ if f[1].is_empty() => good.to_string().into_bytes(),
        _ => f[1].to_vec(),
    };
    judge(&sign(&header, &claims));
});
