//! Public keys as JWKs (RFC 7517) and their RFC 7638 thumbprints.

use crate::oauth::client_keys::thumbprint;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// A public signing key as published in the JWKS: RSA (`n`, `e`), EC P-256 (`crv`,
/// `x`, `y`) or OKP Ed25519 (`crv`, `x`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// The JWS algorithm the key signs with.
    pub alg: String,
    /// The key id (its RFC 7638 thumbprint).
    pub kid: String,
    /// RSA modulus, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
    /// Curve: `P-256` or `Ed25519`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    /// EC x coordinate or the Ed25519 public key, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
}

impl PublicJwk {
    fn new(kty: &str, alg: &str) -> PublicJwk {
        PublicJwk {
            kty: kty.into(),
            use_: "sig".into(),
            alg: alg.into(),
            kid: String::new(),
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
        }
    }

    /// Sets the key id to the key's RFC 7638 thumbprint (the one implementation, shared
    /// with client and DPoP keys).
    fn with_thumbprint_kid(mut self) -> PublicJwk {
        let value = serde_json::to_value(&self).unwrap_or_default();
        self.kid = thumbprint(&value).unwrap_or_default();
        self
    }

    /// The key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), the form `openssl` and
    /// most resource-server libraries read.
    pub fn to_pem(&self) -> Result<String, String> {
        // The fixed SubjectPublicKeyInfo DER prefixes of a P-256 point and an Ed25519 key.
        const P256_SPKI: &[u8] = &[
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        const ED25519_SPKI: &[u8] = &[
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        let part = |v: &Option<String>, name: &str| {
            v.as_deref()
                .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
                .ok_or_else(|| format!("key {}: no valid {name}", self.kid))
        };
        let der = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => {
                use rsa::pkcs8::EncodePublicKey;
                let n = rsa::BigUint::from_bytes_be(&part(&self.n, "n")?);
                let e = rsa::BigUint::from_bytes_be(&part(&self.e, "e")?);
                let key = rsa::RsaPublicKey::new(n, e).map_err(|e| e.to_string())?;
                key.to_public_key_der()
                    .map_err(|e| e.to_string())?
                    .into_vec()
            }
            ("EC", Some("P-256")) => {
                let (x, y) = (part(&self.x, "x")?, part(&self.y, "y")?);
                [P256_SPKI, &[4], &x, &y].concat()
            }
            ("OKP", Some("Ed25519")) => [ED25519_SPKI, &part(&self.x, "x")?].concat(),
            (kty, crv) => return Err(format!("key {}: unsupported {kty} {crv:?}", self.kid)),
        };
        rsa::pkcs8::Document::try_from(der)
            .and_then(|doc| doc.to_pem("PUBLIC KEY", rsa::pkcs8::LineEnding::LF))
            .map_err(|e| format!("key {}: {e}", self.kid))
    }

    /// The JWK of an RSA public key given as big-endian modulus and exponent.
    pub fn rsa(alg: &str, n_be: &[u8], e_be: &[u8]) -> PublicJwk {
        let n = URL_SAFE_NO_PAD.encode(strip_leading_zeros(n_be));
        let e = URL_SAFE_NO_PAD.encode(strip_leading_zeros(e_be));
        let mut jwk = PublicJwk::new("RSA", alg);
        jwk.n = Some(n);
        jwk.e = Some(e);
        jwk.with_thumbprint_kid()
    }

    /// The JWK of a P-256 public key given as an uncompressed point (`04 ‖ x ‖ y`).
    pub fn p256(point: &[u8]) -> Option<PublicJwk> {
        let [4, xy @ ..] = point else {
            return None;
        };
        let (x, y) = xy.split_at_checked(32).filter(|(_, y)| y.len() == 32)?;
        let x = URL_SAFE_NO_PAD.encode(x);
        let y = URL_SAFE_NO_PAD.encode(y);
        let mut jwk = PublicJwk::new("EC", "ES256");
        jwk.crv = Some("P-256".into());
        jwk.x = Some(x);
        jwk.y = Some(y);
        Some(jwk.with_thumbprint_kid())
    }

    /// The JWK of an Ed25519 public key.
    pub fn ed25519(public: &[u8]) -> PublicJwk {
        let x = URL_SAFE_NO_PAD.encode(public);
        let mut jwk = PublicJwk::new("OKP", "EdDSA");
        jwk.crv = Some("Ed25519".into());
        jwk.x = Some(x);
        jwk.with_thumbprint_kid()
    }
}

/// `b` without its leading zero bytes, but at least one byte (zero is `AA`).
fn strip_leading_zeros(mut b: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = b {
        if rest.is_empty() {
            break;
        }
        b = rest;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7638 §3.1's worked example.
    const N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        let n = URL_SAFE_NO_PAD.decode(N).expect("b64");
        assert_eq!(
            PublicJwk::rsa("RS256", &n, &[1, 0, 1]).kid,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn leading_zero_octets_are_not_encoded() {
        let jwk = PublicJwk::rsa("RS256", &[0, 0, 1, 2], &[0, 1, 0, 1]);
        assert_eq!(jwk.n, Some(URL_SAFE_NO_PAD.encode([1, 2])));
        assert_eq!(jwk.e.as_deref(), Some("AQAB"));
    }
}
