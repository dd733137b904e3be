//! Private key material: generating RSA keys and holding one parsed, ready to sign.
//!
//! The key pair is parsed once into aws-lc-rs (constant-time, and about twice the
//! throughput of re-parsing per token as `jsonwebtoken::encode` does).

use super::jwk::PublicJwk;
use super::KeyError;
use crate::oauth::token::{JwtSigner, SignError};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;

/// The algorithm tessera signs access tokens with by default.
pub const RS256: &str = "RS256";

/// Generates an RSA private key of `bits` bits; returns its PKCS#8 DER.
pub fn generate_rsa(bits: usize) -> Result<Vec<u8>, KeyError> {
    let mut rng = rand::rngs::OsRng;
    let key =
        rsa::RsaPrivateKey::new(&mut rng, bits).map_err(|e| KeyError::Generate(e.to_string()))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok(der.as_bytes().to_vec())
}

/// The public JWK of a PKCS#8 RSA private key.
pub fn rsa_public_jwk(alg: &str, pkcs8: &[u8]) -> Result<PublicJwk, String> {
    let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8).map_err(|e| e.to_string())?;
    Ok(PublicJwk::rsa(
        alg,
        &key.n().to_bytes_be(),
        &key.e().to_bytes_be(),
    ))
}

/// An active signing key, parsed, with its JOSE header precomputed.
pub struct Signer {
    kid: String,
    header_b64: String,
    key_pair: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Parses a PKCS#8 RSA key for signing as `kid`.
    pub fn from_pkcs8(kid: &str, alg: &str, pkcs8: &[u8]) -> Result<Signer, KeyError> {
        let material = |reason: String| KeyError::Material {
            kid: kid.to_string(),
            reason,
        };
        if alg != RS256 {
            return Err(material(format!("unsupported algorithm {alg}")));
        }
        let key_pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| material(e.to_string()))?;
        let header = serde_json::json!({ "alg": alg, "typ": "at+jwt", "kid": kid });
        Ok(Signer {
            kid: kid.to_string(),
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            key_pair,
            rng: SystemRandom::new(),
        })
    }

    /// The key id tokens carry in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

impl JwtSigner for Signer {
    fn header_b64(&self) -> &str {
        &self.header_b64
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut sig = vec![0u8; self.key_pair.public_modulus_len()];
        self.key_pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, signing_input, &mut sig)
            .map_err(|_| SignError(format!("RSA signature with {} failed", self.kid)))?;
        Ok(sig)
    }
}
