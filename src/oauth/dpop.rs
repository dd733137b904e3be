//! DPoP proofs (RFC 9449) at the token endpoint: checking a proof and the key
//! thumbprint (`jkt`) the issued token is bound to. Replay of a proof's `jti` is
//! refused by the caller through the database (shared by every replica). Server
//! nonces (§8) are not used: the `iat` window plus the shared replay cache bound how
//! long a captured proof is of any use.
//!
//! The header is parsed once, as raw JSON, so that private members of the `jwk` are
//! seen (a typed JWK would silently drop them) and the key rules are those of client
//! keys: RSA (2048 bits or more), P-256 or Ed25519, public only.

use super::client_keys::{thumbprint, ClientKey};
use super::{ErrorCode, OAuthError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// Algorithms accepted for proofs: asymmetric only (`none` and HMAC never).
pub const PROOF_ALGS: [&str; 4] = super::jws::ACCEPTED_ALGS;
/// How old a proof may be, seconds.
pub const MAX_AGE: i64 = 60;
/// How far in the future a proof's `iat` may be (clock skew), seconds.
pub const MAX_SKEW: i64 = 5;

/// A checked proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof's key: the `cnf.jkt` of the token.
    pub jkt: String,
    /// The proof's id, single-use.
    pub jti: String,
    /// Until when the proof would be accepted (for the replay cache).
    pub usable_until: i64,
}

#[derive(Deserialize)]
struct ProofHeader {
    typ: Option<String>,
    alg: String,
    jwk: Option<Value>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
}

fn invalid(why: &str) -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidDpopProof,
        format!("invalid DPoP proof: {why}"),
    )
}

/// `htu` compared without query and fragment (RFC 9449 §4.3).
fn strip_query(u: &str) -> &str {
    u.split(['?', '#']).next().unwrap_or(u)
}

fn json_part<T: DeserializeOwned>(b64: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Checks `proof` for a `method` request to `url` at `now`.
pub fn check(proof: &str, method: &str, url: &str, now: i64) -> Result<Proof, OAuthError> {
    if proof.len() > 8 * 1024 {
        return Err(invalid("too large"));
    }
    let mut parts = proof.split('.');
    let (Some(h64), Some(c64), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a JWS"));
    };
    let header: ProofHeader = json_part(h64).ok_or_else(|| invalid("not a JWS"))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(invalid("typ must be dpop+jwt"));
    }
    let alg = header
        .alg
        .parse::<Algorithm>()
        .ok()
        .filter(|a| super::jws::accepted(*a))
        .ok_or_else(|| invalid("alg must be one of RS256, PS256, ES256, EdDSA"))?;
    let jwk = header.jwk.ok_or_else(|| invalid("no jwk in the header"))?;
    let key = ClientKey::parse(&jwk).map_err(|why| invalid(&format!("jwk: {why}")))?;
    if !key.algs.contains(&alg) {
        return Err(invalid("alg does not fit the jwk"));
    }
    let message_len = h64.len() + 1 + c64.len();
    let verified = jsonwebtoken::crypto::verify(
        sig,
        &proof.as_bytes()[..message_len],
        key.decoding_key(),
        alg,
    );
    if !matches!(verified, Ok(true)) {
        return Err(invalid("bad signature"));
    }
    let claims: ProofClaims = json_part(c64).ok_or_else(|| invalid("malformed claims"))?;
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(invalid("jti must be 1 to 256 characters"));
    }
    if !claims.htm.eq_ignore_ascii_case(method) {
        return Err(invalid("htm does not match the request method"));
    }
    if strip_query(&claims.htu) != strip_query(url) {
        return Err(invalid("htu does not match the request URL"));
    }
    if claims.iat > now + MAX_SKEW || claims.iat < now - MAX_AGE {
        return Err(invalid("iat is outside the accepted window"));
    }
    let jkt = thumbprint(&jwk).ok_or_else(|| invalid("cannot compute the key thumbprint"))?;
    Ok(Proof {
        jkt,
        jti: claims.jti,
        usable_until: claims.iat + MAX_AGE + MAX_SKEW,
    })
}

/// The replay-cache key of a proof: per key, so one client's ids cannot block another's.
pub fn replay_key(proof: &Proof) -> String {
    format!("dpop:{}:{}", proof.jkt, proof.jti)
}
