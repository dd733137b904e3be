//! DPoP proofs (RFC 9449) at the token endpoint: checking a proof and the key
//! thumbprint (`jkt`) the issued token is bound to. Replay of a proof's `jti` is
//! refused by the caller through the database (shared by every replica). Server
//! nonces (§8) are not used: the `iat` window plus the shared replay cache bound how
//! long a captured proof is of any use.

use super::{ErrorCode, OAuthError};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde::Deserialize;

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

/// Checks `proof` for a `method` request to `url` at `now`.
pub fn check(proof: &str, method: &str, url: &str, now: i64) -> Result<Proof, OAuthError> {
    if proof.len() > 8 * 1024 {
        return Err(invalid("too large"));
    }
    let header = decode_header(proof).map_err(|_| invalid("not a JWS"))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(invalid("typ must be dpop+jwt"));
    }
    let alg = header.alg;
    if !super::jws::accepted(alg) {
        return Err(invalid("alg must be one of RS256, PS256, ES256, EdDSA"));
    }
    let jwk: Jwk = header.jwk.ok_or_else(|| invalid("no jwk in the header"))?;
    let raw = serde_json::to_value(&jwk).unwrap_or_default();
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| raw.get(m).is_some())
    {
        return Err(invalid("the jwk holds private key members"));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("unusable jwk"))?;
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims = decode::<ProofClaims>(proof, &key, &v)
        .map_err(|_| invalid("bad signature or claims"))?
        .claims;
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
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| invalid("cannot compute the key thumbprint"))?;
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
