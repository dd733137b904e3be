//! JWK Sets: a client's `jwks` (registration, strict) and `jwks_uri` documents
//! (fetched, lenient), key by key, with their RFC 7638 thumbprints, and a trusted
//! issuer's key bundle (inline `jwks`, also a SPIFFE trust bundle) as `issuer add` and
//! `apply` validate it and the federation service reads it back.
//!
//! Input: the JWK Set's JSON. Asserts: what registration accepts, a fetch accepts with
//! the same keys; 1 to 20 keys; a key that parses has a thumbprint, the same however
//! its members are ordered or written and whatever other members it has; an issuer
//! row's stored bundle reads back with the same keys; errors are one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tessera::admin::issuers::{validated, IssuerSpec};
use tessera::oauth::client_keys::{
    screen, thumbprint, ClientKey, ClientKeySet, Strictness, MAX_KEYS,
};
use tessera_fuzz::{assert_one_line, NOW};

fn judge_key(raw: &Value) {
    if ClientKey::parse(raw).is_err() {
        return;
    }
    assert!(screen(raw).is_ok(), "a parsed key fails the screen");
    let tp = thumbprint(raw).expect("a parsed key has a thumbprint");
    assert_eq!(
        tp.len(),
        43,
        "a SHA-256 thumbprint is 43 base64url characters"
    );
    let written: Value = serde_json::from_str(&raw.to_string()).expect("JSON again");
    assert_eq!(thumbprint(&written).as_deref(), Some(tp.as_str()));
    if let Some(o) = raw.as_object() {
        let mut reordered: Map<String, Value> = Map::new();
        reordered.insert("kid".into(), Value::String("another".into()));
        reordered.insert("x5u".into(), Value::String("https://other".into()));
        for (k, v) in o.iter().rev() {
            reordered.insert(k.clone(), v.clone());
        }
        assert_eq!(
            thumbprint(&Value::Object(reordered)).as_deref(),
            Some(tp.as_str())
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let registered = ClientKeySet::parse(data, Strictness::Registration);
    let fetched = ClientKeySet::parse(data, Strictness::Fetched);
    match &registered {
        Ok(set) => {
            assert!((1..=MAX_KEYS).contains(&set.len()));
            let f = fetched.as_ref().expect("a registrable set is fetchable");
            assert_eq!(f.len(), set.len());
        }
        Err(e) => assert_one_line("JWK Set", e),
    }
    if let Ok(f) = &fetched {
        assert!(f.len() <= MAX_KEYS);
    }
    if let Ok(doc) = serde_json::from_slice::<Value>(data) {
        if let Some(keys) = doc.get("keys").and_then(Value::as_array) {
            keys.iter().take(2 * MAX_KEYS).for_each(judge_key);
        }
        judge_key(&doc);
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let specs = [
        IssuerSpec {
            name: "ci".into(),
            issuer: Some("https://issuer.example".into()),
            jwks: Some(text.into()),
            ..IssuerSpec::default()
        },
        IssuerSpec {
            name: "mesh".into(),
            spiffe_trust_domain: Some("prod.example.org".into()),
            jwks: Some(text.into()),
            ..IssuerSpec::default()
        },
    ];
    for spec in specs {
        match validated(&spec, "fuzz", NOW) {
            Ok(row) => {
                let stored = row.jwks.expect("an inline bundle is stored");
                let set = ClientKeySet::parse(stored.as_bytes(), Strictness::Fetched)
                    .expect("a stored bundle reads back");
                let len = registered.as_ref().map(ClientKeySet::len);
                assert_eq!(
                    Ok(set.len()),
                    len.map_err(|_| ()),
                    "stored bundle lost keys"
                );
            }
            Err(e) => assert_one_line("issuer", &e.to_string()),
        }
    }
});
