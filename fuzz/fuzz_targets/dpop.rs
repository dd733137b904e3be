//! DPoP proofs (RFC 9449) as the token endpoint and a resource check them.
//!
//! Input: a proof as text, checked as sent; and `header-json \0 claims` made into a
//! proof signed with a fixed Ed25519 key (the header's members written over a good
//! header, the claims taken as they are unless they are a JSON object, written over
//! good claims), so the fuzzer reaches the checks behind the signature. Asserts: an
//! accepted proof is a `dpop+jwt` of an accepted `alg` with a public key, its
//! thumbprint is the `jkt`, and its `jti`, `htm`, `htu`, `iat` and `ath` are what the
//! request expects; the key cache never changes a verdict; errors are one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use tessera::oauth::client_keys::thumbprint;
use tessera::oauth::dpop::{access_token_hash, check, Expected, ProofKeys, MAX_AGE, MAX_SKEW};
use tessera::oauth::OAuthError;
use tessera_fuzz::{assert_one_line, fields, merged, public_jwk, sign, NOW};

const URL: &str = "https://tessera.example/oauth/token";
const TOKEN: &str = "an-access-token";

/// Part `i` of a compact JWS as JSON (`Null` when it is none), read the way the
/// server reads it.
fn part(token: &str, i: usize) -> Value {
    token
        .split('.')
        .nth(i)
        .and_then(tessera::oauth::jws::json_part)
        .unwrap_or(Value::Null)
}

fn verdict(r: &Result<tessera::oauth::dpop::Proof, OAuthError>) -> String {
    match r {
        Ok(p) => format!("{p:?}"),
        Err(e) => e.description.clone(),
    }
}

fn judge(proof: &str, keys: &ProofKeys) {
    for access_token in [None, Some(TOKEN)] {
        let expected = Expected {
            method: "POST",
            url: URL,
            access_token,
        };
        let first = check(proof, expected, NOW, keys);
        // A second check finds the key in the cache: the same verdict.
        let second = check(proof, expected, NOW, keys);
        assert_eq!(
            verdict(&first),
            verdict(&second),
            "the key cache changed a verdict"
        );
        let p = match first {
            Ok(p) => p,
            Err(e) => {
                assert_one_line("DPoP", &e.description);
                continue;
            }
        };
        let (header, claims) = (part(proof, 0), part(proof, 1));
        assert_eq!(header["typ"], "dpop+jwt");
        assert!(
            ["RS256", "PS256", "ES256", "EdDSA"].contains(&header["alg"].as_str().unwrap_or(""))
        );
        let jwk = &header["jwk"];
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(jwk.get(private).is_none(), "a private key was accepted");
        }
        assert_eq!(thumbprint(jwk).as_deref(), Some(p.jkt.as_str()));
        assert_eq!(claims["jti"].as_str(), Some(p.jti.as_str()));
        assert!((1..=256).contains(&p.jti.len()));
        assert!(claims["htm"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case("POST")));
        let htu = claims["htu"].as_str().expect("htu");
        assert_eq!(htu.split(['?', '#']).next(), Some(URL));
        let iat = claims["iat"].as_i64().expect("iat");
        assert!(iat >= NOW - MAX_AGE && iat <= NOW + MAX_SKEW);
        assert_eq!(p.usable_until, iat + MAX_AGE + MAX_SKEW);
        if access_token.is_some() {
            assert_eq!(
                claims["ath"].as_str(),
                Some(access_token_hash(TOKEN).as_str())
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let keys = ProofKeys::default();
    if let Ok(text) = std::str::from_utf8(data) {
        judge(text, &keys);
    }
    let f = fields(data, 2);
    let mut jwk = public_jwk();
    if let Some(o) = jwk.as_object_mut() {
        o.remove("kid");
    }
    let header = merged(json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk}), f[0]);
    let good_claims = json!({
        "jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": URL, "iat": NOW,
        "ath": access_token_hash(TOKEN),
    });
    let claims = match serde_json::from_slice::<Value>(f[1]) {
        Ok(Value::Object(_)) => merged(good_claims, f[1]),
        _ if f[1].is_empty() => good_claims.to_string().into_bytes(),
        _ => f[1].to_vec(),
    };
    judge(&sign(&header, &claims), &keys);
});
