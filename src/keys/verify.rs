//! Verifying access tokens this server issued, with the keys it publishes: for the
//! admin API's Bearer authentication, introspection and revocation.

use super::jwk::PublicJwk;
use crate::oauth::token::AccessTokenClaims;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use std::collections::HashMap;

/// The published keys, ready to verify.
pub struct Verifier {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Verifier {
    /// A verifier for the published keys (unusable JWKs are skipped).
    pub fn new(published: &[PublicJwk]) -> Verifier {
        let keys = published
            .iter()
            .filter_map(|k| {
                let (key, alg) = match (k.alg.as_str(), &k.n, &k.e, &k.x, &k.y) {
                    ("RS256", Some(n), Some(e), _, _) => (
                        DecodingKey::from_rsa_components(n, e).ok()?,
                        Algorithm::RS256,
                    ),
                    ("PS256", Some(n), Some(e), _, _) => (
                        DecodingKey::from_rsa_components(n, e).ok()?,
                        Algorithm::PS256,
                    ),
                    ("ES256", _, _, Some(x), Some(y)) => (
                        DecodingKey::from_ec_components(x, y).ok()?,
                        Algorithm::ES256,
                    ),
                    ("EdDSA", _, _, Some(x), _) => {
                        (DecodingKey::from_ed_components(x).ok()?, Algorithm::EdDSA)
                    }
                    _ => return None,
                };
                Some((k.kid.clone(), (key, alg)))
            })
            .collect();
        Verifier { keys }
    }

    /// The claims of `token` if it is an RFC 9068 access token signed by one of our
    /// published keys, issued by `issuer` and not expired at `now`. Anything else —
    /// malformed, foreign, expired, another `typ` or algorithm — is `None`.
    pub fn verify(&self, token: &str, issuer: &str, now: i64) -> Option<AccessTokenClaims> {
        if token.len() > 8 * 1024 {
            return None;
        }
        let header = decode_header(token).ok()?;
        let (key, alg) = self.keys.get(header.kid.as_deref()?)?;
        // The key decides the algorithm, never the token's header (no confusion).
        if header.alg != *alg || header.typ.as_deref() != Some("at+jwt") {
            return None;
        }
        let mut v = Validation::new(*alg);
        v.set_issuer(&[issuer]);
        v.validate_aud = false;
        v.validate_exp = false; // checked below against the caller's clock, no leeway
        v.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        let claims = decode::<AccessTokenClaims>(token, key, &v).ok()?.claims;
        (claims.exp > now).then_some(claims)
    }
}
