//! Client-side keys for the tests, signing with a real JOSE library (jsonwebtoken):
//! client assertions (RFC 7523) and DPoP proofs (RFC 9449), for every algorithm.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

/// A key pair a client holds.
pub struct TestKey {
    pub alg: Algorithm,
    pub kid: String,
    /// The public key as a bare JWK (`kty` and key members only).
    pub public: Value,
    /// Bytes of the public key (for the HMAC-confusion attack).
    pub public_bytes: Vec<u8>,
    encoding: EncodingKey,
}

impl TestKey {
    /// A fresh key for `alg` (RS256 and PS256: RSA 2048; ES256: P-256; EdDSA: Ed25519).
    pub fn generate(alg: Algorithm) -> TestKey {
        let rng = SystemRandom::new();
        let (public, public_bytes, encoding) = match alg {
            Algorithm::RS256 | Algorithm::PS256 => {
                let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
                let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
                let der = key.to_pkcs1_der().expect("pkcs1");
                (
                    json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&n), "e": URL_SAFE_NO_PAD.encode(e)}),
                    n,
                    EncodingKey::from_rsa_der(der.as_bytes()),
                )
            }
            Algorithm::ES256 => {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .expect("keygen");
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                        .expect("pair");
                let point = pair.public_key().as_ref().to_vec();
                (
                    json!({"kty": "EC", "crv": "P-256",
                           "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                           "y": URL_SAFE_NO_PAD.encode(&point[33..])}),
                    point,
                    EncodingKey::from_ec_der(pkcs8.as_ref()),
                )
            }
            Algorithm::EdDSA => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("keygen");
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair");
                let x = pair.public_key().as_ref().to_vec();
                (
                    json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(&x)}),
                    x,
                    EncodingKey::from_ed_der(pkcs8.as_ref()),
                )
            }
            other => panic!("no test keys for {other:?}"),
        };
        TestKey {
            alg,
            kid: uuid::Uuid::new_v4().to_string(),
            public,
            public_bytes,
            encoding,
        }
    }

    /// The public JWK as a client registers it (`kid`, `alg`, `use`).
    pub fn jwk(&self) -> Value {
        let mut jwk = self.public.clone();
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(format!("{:?}", self.alg));
        jwk["use"] = json!("sig");
        jwk
    }

    /// A JWK Set of these keys.
    pub fn jwks(keys: &[&TestKey]) -> Value {
        json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
    }

    /// Signs `claims` with a header `alter` may change (`alg` and `kid` preset).
    pub fn sign_with(&self, claims: &Value, alter: impl FnOnce(&mut Header)) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        alter(&mut header);
        encode(&header, claims, &self.encoding).expect("sign")
    }

    /// Signs `claims` under a header given as raw JSON (members a typed header drops).
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        self.sign_text(&header.to_string(), &claims.to_string())
    }

    /// Signs a header and claims given as text (for claims no JSON value can hold,
    /// such as nesting deeper than a parser allows).
    pub fn sign_text(&self, header: &str, claims: &str) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let sig =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, self.alg).expect("sign");
        format!("{message}.{sig}")
    }

    /// A DPoP proof (RFC 9449 §4.2): `typ: dpop+jwt`, the public key in `jwk`, no `kid`;
    /// `alter` may change the header further.
    pub fn dpop_proof_with(&self, claims: &Value, alter: impl FnOnce(&mut Header)) -> String {
        let jwk = serde_json::from_value(self.public.clone()).expect("jwk");
        self.sign_with(claims, |header| {
            header.kid = None;
            header.typ = Some("dpop+jwt".into());
            header.jwk = Some(jwk);
            alter(header);
        })
    }

    /// A client assertion for `client_id` to `aud`, valid for a minute, fresh `jti`.
    pub fn assertion(&self, client_id: &str, aud: &str) -> String {
        self.sign_with(&assertion_claims(client_id, aud), |_| {})
    }
}

/// The claims of a good client assertion (RFC 7523 §3).
pub fn assertion_claims(client_id: &str, aud: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": client_id, "sub": client_id, "aud": aud,
        "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// A JWS with `alg: none` (no signature).
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The issuer the DPoP tests configure.
pub const ISSUER: &str = "http://tessera.test";

/// A client-side DPoP key.
pub struct DpopKey {
    pub key: TestKey,
    pub jwk: Jwk,
}

impl DpopKey {
    pub fn new() -> DpopKey {
        let key = TestKey::generate(Algorithm::ES256);
        let jwk = serde_json::from_value(key.public.clone()).expect("jwk");
        DpopKey { key, jwk }
    }

    pub fn jkt(&self) -> String {
        self.jwk
            .thumbprint(ThumbprintHash::SHA256)
            .expect("thumbprint")
    }

    pub fn proof_with(&self, claims: Value, alter: impl FnOnce(&mut Header)) -> String {
        self.key.dpop_proof_with(&claims, alter)
    }

    /// A proof for `POST {ISSUER}/oauth/token`.
    pub fn proof(&self) -> String {
        self.proof_with(
            json!({
                "jti": uuid::Uuid::new_v4().to_string(), "htm": "POST",
                "htu": format!("{ISSUER}/oauth/token"), "iat": chrono::Utc::now().timestamp(),
            }),
            |_| {},
        )
    }

    /// A fresh proof for `method url`, with `ath` for `access_token` when given.
    pub fn proof_for(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url,
            "iat": chrono::Utc::now().timestamp(),
        });
        if let Some(token) = access_token {
            use sha2::Digest;
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes())));
        }
        self.proof_with(claims, |_| {})
    }
}

/// Writes a new RSA-2048 private key to `path` as PKCS#8 PEM (for `key import`).
pub fn write_rsa_pem(path: &std::path::Path) {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("keygen");
    let pem = private.to_pkcs8_pem(LineEnding::LF).expect("pem");
    std::fs::write(path, pem.as_bytes()).expect("write");
}
