//! Federated clients' subject and claim bindings: `check_subject` (what an operator may
//! bind), `prefix`, `Binding::matches` (which platform token is whose),
//! `parse_claims`/`check_claims` (stored and given claims), `claim` and
//! `trust_domain`. The project once panicked here on a subject ending in `é`.
//!
//! Input: `bound-subject \0 token-subject \0 claims-json`. Asserts: no Unicode text
//! panics; an accepted subject obeys the rules (length, no control characters, a `*`
//! only as a prefix ending at `:` or `/`); a binding matches exactly the subjects its
//! prefix or its text names; claims read back the same when written out; a token
//! carrying exactly the bound claims matches; a trust domain is the host of a
//! `spiffe://` id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tessera::oauth::federation::{
    check_claims, check_subject, claim, prefix, trust_domain, Binding, MAX_BOUND_CLAIMS,
};
use tessera_fuzz::{assert_one_line, text_fields};

fuzz_target!(|data: &[u8]| {
    let f = text_fields(data, 3);
    let (subject, sub, claims_json) = (&f[0], &f[1], &f[2]);

    if let Some(p) = prefix(subject) {
        assert_eq!(format!("{p}*"), *subject);
        assert!(p.ends_with(':') || p.ends_with('/'));
    }
    match check_subject(subject) {
        Ok(()) => {
            assert!(!subject.is_empty() && subject != "*");
            assert!(subject.chars().count() <= 512);
            assert!(!subject.chars().any(char::is_control));
            let stars = subject.matches('*').count();
            assert!(stars == 0 || (stars == 1 && prefix(subject).is_some()));
        }
        Err(e) => assert_one_line("subject", &e),
    }

    let exact = Binding {
        issuer: "ci".into(),
        subject: subject.clone(),
        claims: Vec::new(),
    };
    let none = Map::new();
    let expected = match prefix(subject) {
        Some(p) => sub.starts_with(p),
        None => sub == subject,
    };
    assert_eq!(
        exact.matches(sub, &none),
        expected,
        "{subject:?} vs {sub:?}"
    );
    assert!(
        exact.matches(subject, &none),
        "a binding does not match its own subject"
    );

    if let Some(td) = trust_domain(sub) {
        assert!(!td.is_empty() && !td.contains('/'));
        assert!(sub.starts_with(&format!("spiffe://{td}")));
    }

    let claims = Binding::parse_claims(Some(claims_json));
    match check_claims(&claims) {
        Ok(()) => {
            assert!(claims.len() <= MAX_BOUND_CLAIMS);
            for (k, v) in &claims {
                assert!((1..=64).contains(&k.chars().count()) && !v.is_empty());
            }
        }
        Err(e) => assert_one_line("claims", &e),
    }
    let written: Map<String, Value> = claims
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let again = Binding::parse_claims(Some(&Value::Object(written.clone()).to_string()));
    assert_eq!(again, claims, "claims read back differently");

    // A token that carries the bound claims (and the bound subject) is the client's.
    let bound = Binding {
        issuer: "ci".into(),
        subject: subject.clone(),
        claims: claims.clone(),
    };
    if prefix(subject).is_none() {
        assert!(bound.matches(subject, &written));
    }
    if let Ok(Value::Object(token)) = serde_json::from_str::<Value>(claims_json) {
        for key in [sub.as_str(), subject.as_str()] {
            if let Some(v) = claim(&token, key) {
                assert!(
                    token.get(key).is_none() || token.get(key).and_then(Value::as_str) == Some(v)
                );
            }
        }
        if bound.matches(sub, &token) {
            for (k, v) in &claims {
                assert_eq!(claim(&token, k), Some(v.as_str()));
            }
        }
    }
});
