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

/// A base64url JSON part of a JWS, read as `T`. A part with a NUL character in any
/// of its strings (`\u0000`; JSON allows no raw one) is refused: no JWS that tessera
/// reads carries one legitimately, and its values (client ids, `jti`s, issuers) become
/// database keys, which PostgreSQL's text cannot hold.
pub fn json_part<T: serde::de::DeserializeOwned>(b64: &str) -> Option<T> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    if bytes.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn a_part_holding_a_nul_character_is_refused() {
        let part = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let read = |json: &str| json_part::<serde_json::Value>(&part(json));
        assert!(read(r#"{"iss":"a","jti":"x"}"#).is_some());
        assert!(read(r#"{"iss":"a\u0000b"}"#).is_none());
        assert!(read(r#"{"k\u0000":"v"}"#).is_none());
        assert!(read(r#"{"jti":"x\u0001y"}"#).is_some(), "only NUL");
    }
}
