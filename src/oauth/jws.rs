//! The JWS algorithms tessera accepts from clients (assertions, DPoP proofs):
//! asymmetric only, so a public key can never be used as an HMAC secret, and never
//! `none`.

use jsonwebtoken::Algorithm;

/// The accepted algorithms, as metadata lists them.
pub const ACCEPTED_ALGS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// Whether `alg` is one of [`ACCEPTED_ALGS`].
pub fn accepted(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 | Algorithm::EdDSA
    )
}

/// The three parts of a compact JWS (header, payload, signature), if it has exactly three.
pub fn parts(jws: &str) -> Option<(&str, &str, &str)> {
    let mut it = jws.split('.');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(h), Some(p), Some(s), None) => Some((h, p, s)),
        _ => None,
    }
}

/// A base64url JSON part of a JWS, read as `T`.
pub fn json_part<T: serde::de::DeserializeOwned>(b64: &str) -> Option<T> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    serde_json::from_slice(&bytes).ok()
}
