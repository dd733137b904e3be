//! The public keys a client registers for `private_key_jwt` (RFC 7523, OIDC Core §9):
//! a JWK Set given inline or fetched from the client's `jwks_uri`, checked once and
//! kept ready to verify.
//!
//! Each key is tied to the algorithms its type allows (its `alg` member narrows that
//! further): RSA to RS256/PS256, P-256 to ES256, Ed25519 to EdDSA. An assertion's
//! header can never make a key verify with another algorithm, and `none` or HMAC are
//! never accepted.

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use rsa::pkcs1::EncodeRsaPublicKey;
use serde_json::Value;

/// Algorithms accepted for client assertions: asymmetric only.
pub const ASSERTION_ALGS: [&str; 4] = super::jws::ACCEPTED_ALGS;
/// Largest JWK Set accepted, bytes.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Most keys one client may register.
pub const MAX_KEYS: usize = 20;
/// Smallest RSA modulus accepted, bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, bits.
pub const MAX_RSA_BITS: usize = 8192;

/// Members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// One usable key, parsed once for each algorithm it verifies (so verifying does not
/// parse the key again: for RSA that also keeps its Montgomery context).
pub struct ClientKey {
    /// The `kid`, if the key has one.
    pub kid: Option<String>,
    /// The algorithms this key verifies.
    pub algs: Vec<Algorithm>,
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("kid", &self.kid)
            .field("algs", &self.algs)
            .finish()
    }
}

/// A client's verification keys.
#[derive(Debug, Default)]
pub struct ClientKeySet {
    keys: Vec<ClientKey>,
}

/// How strictly to read a JWK Set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Registration: every key must be a usable signature key, at least one.
    Registration,
    /// A fetched `jwks_uri`: encryption keys and unsupported types are skipped (a
    /// client may publish more than tessera uses); a key with private members is
    /// skipped too, never used.
    Fetched,
}

impl ClientKeySet {
    /// Reads a JWK Set (`{"keys": [...]}`).
    pub fn parse(json: &[u8], strictness: Strictness) -> Result<ClientKeySet, String> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(format!("the JWK Set is over {MAX_JWKS_BYTES} bytes"));
        }
        let doc: Value =
            serde_json::from_slice(json).map_err(|_| "the JWK Set is not valid JSON")?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("a JWK Set is an object with a \"keys\" array")?;
        if keys.len() > MAX_KEYS && strictness == Strictness::Registration {
            return Err(format!("at most {MAX_KEYS} keys"));
        }
        let mut set = ClientKeySet::default();
        for (i, raw) in keys.iter().enumerate() {
            match ClientKey::parse(raw) {
                Ok(key) => set.keys.push(key),
                Err(why) if strictness == Strictness::Registration => {
                    return Err(format!("key {i}: {why}"));
                }
                Err(_) => {}
            }
            if set.keys.len() == MAX_KEYS {
                break;
            }
        }
        if set.keys.is_empty() && strictness == Strictness::Registration {
            return Err("the JWK Set holds no key".into());
        }
        Ok(set)
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys that may verify a JWS with this header: the one with the `kid` if the
    /// header names one, otherwise every key; in both cases only keys for `alg`.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a ClientKey> + 'a {
        self.keys
            .iter()
            .filter(move |k| kid.is_none() || k.kid.as_deref() == kid)
            .filter(move |k| k.algs.contains(&alg))
    }
}

impl ClientKey {
    /// Reads one public JWK: supported type and curve, no private members, `use` (if
    /// any) `sig`, `alg` (if any) fitting the type.
    pub fn parse(raw: &Value) -> Result<ClientKey, String> {
        let obj = screen(raw)?;
        let text = |name: &str| obj.get(name).and_then(Value::as_str);
        let kid = text("kid").map(str::to_string);
        let b64 = |name: &str| -> Result<Vec<u8>, String> {
            let v = text(name).ok_or_else(|| format!("missing member {name:?}"))?;
            URL_SAFE_NO_PAD
                .decode(v)
                .map_err(|_| format!("{name:?} is not base64url"))
        };
        let (typed_algs, public) = match (text("kty"), text("crv")) {
            (Some("RSA"), _) => {
                let n = b64("n")?;
                let mut n = n.as_slice();
                while let [0, rest @ ..] = n {
                    n = rest;
                }
                if n.len().saturating_mul(8) < MIN_RSA_BITS {
                    return Err(format!("RSA keys must have at least {MIN_RSA_BITS} bits"));
                }
                let public = rsa::RsaPublicKey::new_with_max_size(
                    rsa::BigUint::from_bytes_be(n),
                    rsa::BigUint::from_bytes_be(&b64("e")?),
                    MAX_RSA_BITS,
                )
                .ok()
                .and_then(|k| k.to_pkcs1_der().ok())
                .ok_or("not a valid RSA public key")?;
                (
                    vec![Algorithm::RS256, Algorithm::PS256],
                    public.as_bytes().to_vec(),
                )
            }
            (Some("EC"), Some("P-256")) => {
                let (x, y) = (b64("x")?, b64("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err("P-256 coordinates are 32 bytes".into());
                }
                (vec![Algorithm::ES256], [&[4u8][..], &x, &y].concat())
            }
            (Some("OKP"), Some("Ed25519")) => (vec![Algorithm::EdDSA], b64("x")?),
            (Some("EC" | "OKP"), crv) => {
                return Err(format!(
                    "unsupported curve {:?} (supported: P-256, Ed25519)",
                    crv.unwrap_or("")
                ))
            }
            (kty, _) => {
                return Err(format!(
                    "unsupported kty {:?} (supported: RSA, EC, OKP)",
                    kty.unwrap_or("")
                ))
            }
        };
        let algs = match obj.get("alg") {
            None => typed_algs,
            Some(alg) => {
                let alg = alg
                    .as_str()
                    .filter(|a| ASSERTION_ALGS.contains(a))
                    .and_then(|a| a.parse::<Algorithm>().ok())
                    .ok_or_else(|| {
                        format!("\"alg\" must be one of {}", ASSERTION_ALGS.join(", "))
                    })?;
                if !typed_algs.contains(&alg) {
                    return Err(format!("\"alg\" {alg:?} does not fit the key type"));
                }
                vec![alg]
            }
        };
        let parsed = algs
            .iter()
            .map(|alg| {
                ParsedPublicKey::new(verification_algorithm(*alg), &public)
                    .map(|key| (*alg, key))
                    .map_err(|_| "not a valid public key".to_string())
            })
            .collect::<Result<_, _>>()?;
        Ok(ClientKey { kid, algs, parsed })
    }

    /// Whether `signature` (raw bytes, as in a JWS) is this key's over `message` with `alg`.
    pub fn verifies(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.parsed
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, key)| key.verify_sig(message, signature).is_ok())
    }
}

/// The checks on a JWK's members that need no key material: a JSON object, no private
/// members, `use` (if any) `sig`, `kid` (if any) a short string.
pub fn screen(raw: &Value) -> Result<&serde_json::Map<String, Value>, String> {
    let obj = raw.as_object().ok_or("not a JSON object")?;
    if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
        return Err(format!(
            "holds the private member {m:?}: register public keys only"
        ));
    }
    // SPIFFE trust bundles mark JWT-SVID keys `use: "jwt-svid"` (and give no `alg`).
    if obj
        .get("use")
        .is_some_and(|u| !matches!(u.as_str(), Some("sig" | "jwt-svid")))
    {
        return Err("\"use\" must be \"sig\" (or \"jwt-svid\" in a SPIFFE bundle)".into());
    }
    match obj.get("kid") {
        None => Ok(obj),
        Some(Value::String(k)) if !k.is_empty() && k.len() <= 256 => Ok(obj),
        Some(_) => Err("\"kid\" must be a string of 1 to 256 characters".into()),
    }
}

/// aws-lc's verification algorithm for a JWS `alg` (signatures as JWS encodes them).
fn verification_algorithm(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::EdDSA => &signature::ED25519,
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    }
}

/// Verifies a compact JWS with the first of `keys` that accepts it; the signing input
/// and signature are taken from `jws` as sent.
pub fn verify_compact<'k>(
    jws: &str,
    alg: Algorithm,
    keys: impl IntoIterator<Item = &'k ClientKey>,
) -> bool {
    let Some((message, sig)) = jws.rsplit_once('.') else {
        return false;
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    keys.into_iter()
        .any(|k| k.verifies(alg, message.as_bytes(), &sig))
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK already accepted by
/// [`ClientKey::parse`] (so its members are base64url and need no escaping).
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let m = |name: &str| jwk.get(name).and_then(Value::as_str);
    let canonical = match m("kty")? {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, m("e")?, m("n")?),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            m("crv")?,
            m("x")?,
            m("y")?
        ),
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, m("crv")?, m("x")?),
        _ => return None,
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    Some(URL_SAFE_NO_PAD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa_n(bytes: usize) -> String {
        let mut n = vec![0xC3u8; bytes];
        n[bytes - 1] |= 1;
        URL_SAFE_NO_PAD.encode(n)
    }

    fn parse(v: Value) -> Result<ClientKeySet, String> {
        ClientKeySet::parse(v.to_string().as_bytes(), Strictness::Registration)
    }

    #[test]
    fn key_types_decide_the_algorithms() {
        let set = parse(json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": rsa_n(256), "e": "AQAB"},
            {"kty": "RSA", "kid": "p", "alg": "PS256", "n": rsa_n(256), "e": "AQAB"},
        ]}))
        .expect("valid");
        assert_eq!(set.len(), 2);
        assert_eq!(set.candidates(Some("r"), Algorithm::PS256).count(), 1);
        assert_eq!(set.candidates(Some("p"), Algorithm::RS256).count(), 0);
        assert_eq!(set.candidates(None, Algorithm::RS256).count(), 1);
        assert_eq!(set.candidates(None, Algorithm::HS256).count(), 0);
        assert_eq!(set.candidates(Some("x"), Algorithm::RS256).count(), 0);
    }

    #[test]
    fn registration_refuses_what_cannot_be_a_public_signature_key() {
        let n = rsa_n(256);
        for (bad, why) in [
            (json!({"keys": []}), "no key"),
            (json!([]), "\"keys\" array"),
            (
                json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
                "private member",
            ),
            (
                json!({"keys": [{"kty": "RSA", "n": n, "e": "AQAB", "d": "AQAB"}]}),
                "private member",
            ),
            (
                json!({"keys": [{"kty": "RSA", "n": rsa_n(128), "e": "AQAB"}]}),
                "2048",
            ),
            (
                json!({"keys": [{"kty": "RSA", "n": n, "e": "AQAB", "alg": "HS256"}]}),
                "must be one of",
            ),
            (
                json!({"keys": [{"kty": "RSA", "n": n, "e": "AQAB", "alg": "ES256"}]}),
                "does not fit",
            ),
            (
                json!({"keys": [{"kty": "RSA", "n": n, "e": "AQAB", "use": "enc"}]}),
                "\"sig\"",
            ),
            (
                json!({"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}]}),
                "curve",
            ),
            (
                json!({"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}),
                "base64url",
            ),
        ] {
            let e = parse(bad.clone()).expect_err(&bad.to_string());
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn fetched_sets_skip_keys_tessera_does_not_use() {
        let doc = json!({"keys": [
            {"kty": "RSA", "use": "enc", "n": rsa_n(256), "e": "AQAB"},
            {"kty": "RSA", "kid": "s", "n": rsa_n(256), "e": "AQAB"},
            {"kty": "RSA", "kid": "leaked", "n": rsa_n(256), "e": "AQAB", "d": "AQAB"},
        ]});
        let set =
            ClientKeySet::parse(doc.to_string().as_bytes(), Strictness::Fetched).expect("lenient");
        assert_eq!(set.len(), 1);
        assert_eq!(set.candidates(Some("leaked"), Algorithm::RS256).count(), 0);
    }
}
