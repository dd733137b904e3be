//! Tokens checked the way a resource server does: keys from the discovered JWKS.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde_json::Value;

/// Discovers `jwks_uri` from `base`'s metadata, fetches it, and verifies `token`
/// (the key's algorithm, `typ: at+jwt`, issuer, expiry). Panics on any failure.
pub async fn verify_with_discovery(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> (jsonwebtoken::Header, Value) {
    let meta: Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("metadata JSON");
    let issuer = meta["issuer"].as_str().expect("issuer").to_string();
    let jwks_uri = meta["jwks_uri"].as_str().expect("jwks_uri");
    let jwks: JwkSet = http
        .get(jwks_uri)
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("JWKS JSON");
    verify_with_jwks(&jwks, &issuer, token)
}

/// Verifies `token` against a JWKS as an offline resource server does (the key's
/// algorithm, `typ: at+jwt`, issuer, expiry). Panics on any failure.
pub fn verify_with_jwks(jwks: &JwkSet, issuer: &str, token: &str) -> (jsonwebtoken::Header, Value) {
    let header = decode_header(token).expect("JWT header");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 typ");
    let kid = header.kid.clone().expect("kid in header");
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let key = DecodingKey::from_jwk(jwk).expect("usable JWK");
    // The algorithm comes from the published key, never from the token alone.
    let alg = jwk
        .common
        .key_algorithm
        .map(|a| a.to_string())
        .expect("alg in the JWK");
    assert_eq!(
        format!("{:?}", header.alg),
        alg,
        "header alg matches the key's"
    );
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
    let data = decode::<Value>(token, &key, &validation).expect("token verifies against the JWKS");
    (header, data.claims)
}

/// The `kid`s of a JWKS document.
pub fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

/// The claims of a JWT, read without verifying it (to learn its `exp`, say).
pub fn unverified_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Waits until the clock is past `token`'s own `exp`, so it is expired for certain
/// (no sleep racing a lifetime).
pub async fn wait_until_expired(token: &str) {
    let exp = unverified_claims(token)["exp"].as_i64().expect("exp");
    while chrono::Utc::now().timestamp() <= exp {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
