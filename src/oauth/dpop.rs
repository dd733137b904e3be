//! DPoP proofs (RFC 9449) at the token endpoint: checking a proof and the key
//! thumbprint (`jkt`) the issued token is bound to (what a bound credential demands of
//! the proof is [`super::binding`]'s). Replay of a proof's `jti` is
//! refused by the caller through the database (shared by every replica). Server
//! nonces (§8) are not used: the `iat` window plus the shared replay cache bound how
//! long a captured proof is of any use.
//!
//! The header is parsed once, as raw JSON, so that private members of the `jwk` are
//! seen (a typed JWK would silently drop them) and the key rules are those of client
//! keys: RSA (2048 bits or more), P-256 or Ed25519, public only.

use super::client_keys::{screen, thumbprint, verify_compact, ClientKey};
use super::jws::{self, json_part};
use super::{ErrorCode, OAuthError};
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    ath: Option<String>,
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

/// Proof keys already parsed, by thumbprint and `alg` member: a client signs many
/// proofs with one key, so each key is parsed once (the checks that need no key
/// material run on every proof).
#[derive(Debug, Default)]
pub struct ProofKeys {
    parsed: Mutex<HashMap<String, Arc<ClientKey>>>,
}

/// Keys remembered; beyond this the cache starts over.
const MAX_PROOF_KEYS: usize = 10_000;

impl ProofKeys {
    fn get(&self, jwk: &Value, jkt: &str) -> Result<Arc<ClientKey>, String> {
        let alg_member = jwk.get("alg").map(Value::to_string).unwrap_or_default();
        let id = format!("{jkt}|{alg_member}");
        let lock = || self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = lock().get(&id) {
            return Ok(key.clone());
        }
        let key = Arc::new(ClientKey::parse(jwk)?);
        let mut map = lock();
        if map.len() >= MAX_PROOF_KEYS {
            map.clear();
        }
        map.insert(id, key.clone());
        Ok(key)
    }
}

/// What a proof must match: the request it came with and, at a protected resource,
/// the access token presented beside it.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The request method (`htm`).
    pub method: &'a str,
    /// The request URL without query (`htu`).
    pub url: &'a str,
    /// The access token presented with the proof (its hash must be `ath`), at a
    /// resource; `None` at the token endpoint.
    pub access_token: Option<&'a str>,
}

/// RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token's ASCII bytes.
pub fn access_token_hash(token: &str) -> String {
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Checks `proof` for the request `expected` at `now`; `keys` caches parsed keys.
pub fn check(
    proof: &str,
    expected: Expected<'_>,
    now: i64,
    keys: &ProofKeys,
) -> Result<Proof, OAuthError> {
    let (method, url) = (expected.method, expected.url);
    if proof.len() > 8 * 1024 {
        return Err(invalid("too large"));
    }
    let (h64, c64, _) = jws::parts(proof).ok_or_else(|| invalid("not a JWS"))?;
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
    screen(&jwk).map_err(|why| invalid(&format!("jwk: {why}")))?;
    let jkt = thumbprint(&jwk);
    let key = match &jkt {
        Some(jkt) => keys.get(&jwk, jkt),
        None => ClientKey::parse(&jwk).map(Arc::new),
    }
    .map_err(|why| invalid(&format!("jwk: {why}")))?;
    if !key.algs.contains(&alg) {
        return Err(invalid("alg does not fit the jwk"));
    }
    if !verify_compact(proof, alg, [key.as_ref()]) {
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
    if claims.iat > now.saturating_add(MAX_SKEW) || claims.iat < now.saturating_sub(MAX_AGE) {
        return Err(invalid("iat is outside the accepted window"));
    }
    if let Some(token) = expected.access_token {
        if claims.ath.as_deref() != Some(access_token_hash(token).as_str()) {
            return Err(invalid("ath does not match the access token"));
        }
    }
    let jkt = jkt.ok_or_else(|| invalid("cannot compute the key thumbprint"))?;
    Ok(Proof {
        jkt,
        jti: claims.jti,
        usable_until: claims.iat.saturating_add(MAX_AGE + MAX_SKEW),
    })
}

/// The replay-cache key of a proof: per key, so one client's ids cannot block another's.
pub fn replay_key(proof: &Proof) -> String {
    format!("dpop:{}:{}", proof.jkt, proof.jti)
}

/// The replay-cache entry of a proof: its key and until when it must be remembered.
pub fn replay_entry(proof: &Proof) -> (String, i64) {
    (replay_key(proof), proof.usable_until)
}
