//! `private_key_jwt` client assertions (RFC 7523 §2.2 and §3, OIDC Core §9): a JWT the
//! client signs with its private key instead of sending a shared secret.
//!
//! Checked here: the algorithm (asymmetric only, and one the key allows), the
//! signature against the client's registered keys, `iss` = `sub` = client id, `aud`
//! naming this server, `exp` in the future and at most `client_assertion_max_lifetime`
//! ahead (an hour by default: authlib's `PrivateKeyJWT` makes assertions that live that
//! long), `iat` and
//! `nbf` not in the future, a `jti`. Single use of the `jti` is enforced by the caller
//! through the database, so a replay on another replica fails too.

use super::client_keys::{verify_compact, ClientKeySet};
use super::{jws, OAuthError};
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::Value;

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How far ahead an assertion's `exp` may be by default, seconds.
pub const DEFAULT_MAX_LIFETIME: i64 = 3_600;
/// The range `client_assertion_max_lifetime` may be set in, seconds.
pub const MAX_LIFETIME_RANGE: std::ops::RangeInclusive<i64> = 60..=86_400;
/// Clock skew tolerated for `iat`, `nbf` and `exp`, seconds.
pub const MAX_SKEW: i64 = 5;
/// Largest assertion accepted, bytes.
pub const MAX_BYTES: usize = 8 * 1024;

/// A verified assertion: what the replay cache needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The assertion's id, single-use.
    pub jti: String,
    /// Its `exp`: the id is remembered until then.
    pub expires_at: i64,
}

/// Why an assertion was not accepted.
#[derive(Debug)]
pub enum Rejection {
    /// No registered key fits the header's `kid` and `alg` (a `jwks_uri` client may
    /// have rotated its keys: worth one refetch).
    NoKey,
    /// Anything else, with the error to answer.
    Invalid(OAuthError),
}

/// Why an assertion's signature was not accepted: one text whether no registered key
/// fits its `kid` and `alg`, a key fits and the signature fails, or there is no such
/// client, so the answer never tells a stranger which client ids exist or what keys
/// they have.
pub const NO_KEY_VERIFIES: &str = "no registered key of the client verifies it";

fn invalid(why: &str) -> OAuthError {
    OAuthError::invalid_client(format!("invalid client assertion: {why}"))
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: Value,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
}

#[derive(Deserialize)]
struct AssertionHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// The header checks that need no key: size, `typ`, an accepted algorithm.
pub fn algorithm(assertion: &str) -> Result<(Algorithm, Option<String>), OAuthError> {
    if assertion.len() > MAX_BYTES {
        return Err(invalid("too large"));
    }
    let header: AssertionHeader = jws::parts(assertion)
        .and_then(|(h, _, _)| jws::json_part(h))
        .ok_or_else(|| invalid("not a JWS"))?;
    // Another kind of JWT (an access token, a DPoP proof) is not an assertion.
    if let Some(typ) = header.typ.as_deref() {
        if !typ.eq_ignore_ascii_case("JWT") && typ != "client-authentication+jwt" {
            return Err(invalid("typ must be JWT or client-authentication+jwt"));
        }
    }
    let alg = header
        .alg
        .parse::<Algorithm>()
        .ok()
        .filter(|a| jws::accepted(*a))
        .ok_or_else(|| invalid("alg must be one of RS256, PS256, ES256, EdDSA"))?;
    Ok((alg, header.kid))
}

/// The client a JWT assertion claims to be, read before any key is known (it only says
/// whose keys to try): `Some` for a client's own assertion (`iss` = `sub` = its id),
/// `None` for a token whose `iss` is someone else (a federated client's platform
/// token). Read once, on the `private_key_jwt` path too.
pub fn claimed_client(assertion: &str) -> Result<Option<String>, OAuthError> {
    let payload: Value = jws::parts(assertion)
        .and_then(|(_, p, _)| jws::json_part(p))
        .ok_or_else(|| invalid("not a JWS with a JSON payload"))?;
    let field = |name| payload.get(name).and_then(Value::as_str);
    Ok(match (field("iss"), field("sub")) {
        (Some(iss), Some(sub)) if iss == sub && !iss.is_empty() => Some(iss.to_string()),
        _ => None,
    })
}

/// What this server accepts of an assertion: which `aud` values, how long a lifetime.
#[derive(Debug, Clone, Copy)]
pub struct AssertionPolicy<'a> {
    /// This server's issuer identifier: always accepted.
    pub issuer: &'a str,
    /// Endpoint URLs also accepted in legacy mode (`assertion_audience = "legacy"`);
    /// empty in strict mode, where `aud` must be the issuer alone (RFC 7523bis: a
    /// string, or an array of exactly that one value).
    pub legacy_endpoints: &'a [&'a str],
    /// How far ahead `exp` may be, seconds (`client_assertion_max_lifetime`). The `jti`
    /// is kept until `exp`, so this also bounds how long replay-cache entries live.
    pub max_lifetime: i64,
}

impl AssertionPolicy<'_> {
    fn accepts(&self, aud: &Value) -> bool {
        let named = |a: &str| a == self.issuer || self.legacy_endpoints.contains(&a);
        match aud {
            Value::String(a) => named(a),
            Value::Array(list) if self.legacy_endpoints.is_empty() => {
                matches!(list.as_slice(), [Value::String(a)] if a == self.issuer)
            }
            Value::Array(list) => list.iter().filter_map(Value::as_str).any(named),
            _ => false,
        }
    }
}

/// Verifies `assertion` as `client_id`'s, with its `keys`, for a server whose `aud`
/// rules are `policy`, at `now`.
pub fn verify(
    assertion: &str,
    client_id: &str,
    keys: &ClientKeySet,
    policy: AssertionPolicy<'_>,
    now: i64,
) -> Result<Assertion, Rejection> {
    let (alg, kid) = algorithm(assertion).map_err(Rejection::Invalid)?;
    let mut candidates = keys.candidates(kid.as_deref(), alg).peekable();
    if candidates.peek().is_none() {
        return Err(Rejection::NoKey);
    }
    if !verify_compact(assertion, alg, candidates) {
        return Err(Rejection::Invalid(invalid(NO_KEY_VERIFIES)));
    }
    let claims: AssertionClaims = jws::parts(assertion)
        .and_then(|(_, p, _)| jws::json_part(p))
        .ok_or_else(|| Rejection::Invalid(invalid("malformed or missing claims")))?;
    check_claims(&claims, client_id, policy, now).map_err(Rejection::Invalid)?;
    Ok(Assertion {
        jti: claims.jti,
        expires_at: claims.exp,
    })
}

fn check_claims(
    c: &AssertionClaims,
    client_id: &str,
    policy: AssertionPolicy<'_>,
    now: i64,
) -> Result<(), OAuthError> {
    if c.iss != client_id || c.sub != client_id {
        return Err(invalid("iss and sub must both be the client id"));
    }
    if !policy.accepts(&c.aud) {
        return Err(invalid(if policy.legacy_endpoints.is_empty() {
            "aud must be the issuer identifier of this server (alone)"
        } else {
            "aud must name the issuer of this server or one of its endpoints"
        }));
    }
    if c.exp <= now.saturating_sub(MAX_SKEW) {
        return Err(invalid("expired"));
    }
    if c.exp > now.saturating_add(policy.max_lifetime.saturating_add(MAX_SKEW)) {
        return Err(OAuthError::invalid_client(format!(
            "invalid client assertion: exp is more than {} seconds ahead \
             (client_assertion_max_lifetime)",
            policy.max_lifetime
        )));
    }
    let ahead = now.saturating_add(MAX_SKEW);
    if c.iat.is_some_and(|iat| iat > ahead) || c.nbf.is_some_and(|n| n > ahead) {
        return Err(invalid("issued in the future (iat or nbf)"));
    }
    if c.jti.is_empty() || c.jti.len() > 256 {
        return Err(invalid("jti must be 1 to 256 characters"));
    }
    Ok(())
}

/// The replay-cache key of an assertion: per client, so one client's ids cannot block
/// another's.
pub fn replay_key(client_id: &str, jti: &str) -> String {
    format!("client:{client_id}:{jti}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client_keys::Strictness;
    use crate::oauth::ErrorCode;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    // An Ed25519 key pair (RFC 8037 §A.1).
    const D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn keys() -> ClientKeySet {
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": X}]});
        ClientKeySet::parse(jwks.to_string().as_bytes(), Strictness::Registration)
            .expect("valid set")
    }

    fn sign(claims: Value, kid: Option<&str>) -> String {
        let d = URL_SAFE_NO_PAD.decode(D).expect("b64");
        // PKCS#8 v1 wrapping of the raw Ed25519 seed.
        let mut der = hex::decode("302e020100300506032b657004220420").expect("hex");
        der.extend_from_slice(&d);
        let mut h = Header::new(Algorithm::EdDSA);
        h.kid = kid.map(str::to_string);
        encode(&h, &claims, &EncodingKey::from_ed_der(&der)).expect("sign")
    }

    fn claims(now: i64) -> Value {
        json!({"iss": "c1", "sub": "c1", "aud": "https://as",
               "exp": now + 60, "iat": now, "jti": "j1"})
    }

    const AUD: AssertionPolicy<'static> = AssertionPolicy {
        issuer: "https://as",
        legacy_endpoints: &[],
        max_lifetime: DEFAULT_MAX_LIFETIME,
    };
    const LEGACY: AssertionPolicy<'static> = AssertionPolicy {
        issuer: "https://as",
        legacy_endpoints: &["https://as/oauth/token"],
        ..AUD
    };

    #[test]
    fn strict_audience_is_the_issuer_alone_and_legacy_adds_endpoints() {
        let now = 1_800_000_000;
        let with_aud = |aud: Value| {
            let mut c = claims(now);
            c["aud"] = aud;
            sign(c, Some("k1"))
        };
        let accepted = |a: &str, rule| verify(a, "c1", &keys(), rule, now).is_ok();
        for aud in [json!("https://as"), json!(["https://as"])] {
            assert!(accepted(&with_aud(aud.clone()), AUD), "{aud}");
            assert!(accepted(&with_aud(aud.clone()), LEGACY), "{aud}");
        }
        for aud in [
            json!("https://as/oauth/token"),
            json!(["https://as", "https://as/oauth/token"]),
            json!(["https://as/oauth/token"]),
        ] {
            assert!(!accepted(&with_aud(aud.clone()), AUD), "strict: {aud}");
            assert!(accepted(&with_aud(aud.clone()), LEGACY), "legacy: {aud}");
        }
        for aud in [json!("https://elsewhere"), json!([]), json!(7)] {
            assert!(!accepted(&with_aud(aud.clone()), LEGACY), "{aud}");
        }
    }

    #[test]
    fn a_good_assertion_verifies() {
        let now = 1_800_000_000;
        let a = verify(&sign(claims(now), Some("k1")), "c1", &keys(), AUD, now).expect("accepted");
        assert_eq!(a.jti, "j1");
        assert_eq!(a.expires_at, now + 60);
        assert_eq!(
            claimed_client(&sign(claims(now), None)).expect("claimed"),
            Some("c1".to_string())
        );
    }

    #[test]
    fn an_assertion_may_live_as_long_as_the_policy_says() {
        let now = 1_800_000_000;
        let living = |secs: i64| {
            let mut c = claims(now);
            c["exp"] = json!(now + secs);
            sign(c, Some("k1"))
        };
        // authlib's PrivateKeyJWT: exp an hour ahead.
        assert!(verify(&living(3600), "c1", &keys(), AUD, now).is_ok());
        let short = AssertionPolicy {
            max_lifetime: 300,
            ..AUD
        };
        assert!(verify(&living(300), "c1", &keys(), short, now).is_ok());
        assert!(verify(&living(600), "c1", &keys(), short, now).is_err());
    }

    #[test]
    fn bad_claims_are_invalid_client() {
        let now = 1_800_000_000;
        let cases = [
            ("aud", json!("https://elsewhere")),
            ("exp", json!(now - 10)),
            ("exp", json!(now + 3700)),
            ("exp", json!(i64::MAX)),
            ("iat", json!(now + 60)),
            ("sub", json!("c2")),
            ("jti", json!("")),
        ];
        for (name, value) in cases {
            let mut c = claims(now);
            c[name] = value.clone();
            match verify(&sign(c, Some("k1")), "c1", &keys(), AUD, now) {
                Err(Rejection::Invalid(e)) => assert_eq!(e.code, ErrorCode::InvalidClient),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_kid_asks_for_fresh_keys() {
        let now = 1_800_000_000;
        let r = verify(&sign(claims(now), Some("k9")), "c1", &keys(), AUD, now);
        assert!(matches!(r, Err(Rejection::NoKey)), "{r:?}");
    }

    #[test]
    fn hmac_and_none_are_refused_before_any_key_is_tried() {
        let hs = encode(
            &Header::new(Algorithm::HS256),
            &claims(0),
            &EncodingKey::from_secret(X.as_bytes()),
        )
        .expect("sign");
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims(0).to_string())
        );
        for a in [hs, none] {
            let e = algorithm(&a).expect_err("refused");
            assert_eq!(e.code, ErrorCode::InvalidClient);
        }
    }
}
