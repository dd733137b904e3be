//! The JWS algorithms tessera accepts from clients (assertions, DPoP proofs):
//! asymmetric only, so a public key can never be used as an HMAC secret, and never
//! `none`.

use jsonwebtoken::Algorithm;

/// The accepted algorithms, as metadata lists them.
pub const ACCEPTED_ALGS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// Whether `alg` is one of [`ACCEPTED_ALGS`].
pub fn accepted(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 | Algorithm::EdDSA
    )
}
