//! Public keys as JWKs (RFC 7517) and their RFC 7638 thumbprints.

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// A public RSA signing key as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// `RSA`.
    pub kty: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// The JWS algorithm the key signs with.
    pub alg: String,
    /// The key id (its thumbprint).
    pub kid: String,
    /// Modulus, base64url.
    pub n: String,
    /// Public exponent, base64url.
    pub e: String,
}

impl PublicJwk {
    /// The JWK of an RSA public key given as big-endian modulus and exponent.
    pub fn rsa(alg: &str, n_be: &[u8], e_be: &[u8]) -> PublicJwk {
        let n = URL_SAFE_NO_PAD.encode(strip_leading_zeros(n_be));
        let e = URL_SAFE_NO_PAD.encode(strip_leading_zeros(e_be));
        let kid = rsa_thumbprint(&n, &e);
        PublicJwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: alg.into(),
            kid,
            n,
            e,
        }
    }
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let i = b
        .iter()
        .position(|x| *x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    &b[i..]
}

/// RFC 7638 §3.1: SHA-256 over the required members in lexicographic order, base64url.
pub fn rsa_thumbprint(n_b64: &str, e_b64: &str) -> String {
    let canonical = format!(r#"{{"e":"{e_b64}","kty":"RSA","n":"{n_b64}"}}"#);
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7638 §3.1's worked example.
    const N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        assert_eq!(
            rsa_thumbprint(N, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn leading_zero_octets_are_not_encoded() {
        let jwk = PublicJwk::rsa("RS256", &[0, 0, 1, 2], &[0, 1, 0, 1]);
        assert_eq!(jwk.n, URL_SAFE_NO_PAD.encode([1, 2]));
        assert_eq!(jwk.e, "AQAB");
    }
}
