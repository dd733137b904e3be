//! Client secrets and other server-generated random values.
//!
//! Secrets are 256-bit random values, so a fast SHA-256 is a sufficient one-way hash
//! (a slow password hash protects low-entropy input; here it would only cap the
//! token endpoint's throughput). Comparisons are constant-time.

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

/// `n` random bytes from the system CSPRNG, base64url without padding.
#[expect(
    clippy::expect_used,
    reason = "the system RNG failing leaves nothing safe to do"
)]
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("system random number generator failed");
    URL_SAFE_NO_PAD.encode(buf)
}

/// A new client secret: 256 bits, URL-safe, 43 characters.
pub fn generate_client_secret() -> String {
    random_token(32)
}

/// The stored form of a secret: hex SHA-256.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

/// Whether `presented` hashes to `stored_hex`, compared in constant time.
pub fn verify_secret(presented: &str, stored_hex: &str) -> bool {
    SecretDigest::of(presented).matches(stored_hex)
}

/// A presented secret's SHA-256, computed once to compare with several stored hashes
/// (the current secret and, during a rotation's overlap, the previous one).
pub struct SecretDigest(digest::Digest);

impl SecretDigest {
    /// The digest of `presented`.
    pub fn of(presented: &str) -> SecretDigest {
        SecretDigest(digest::digest(&digest::SHA256, presented.as_bytes()))
    }

    /// Whether it is `stored_hex` (a stored secret hash), compared in constant time.
    pub fn matches(&self, stored_hex: &str) -> bool {
        match hex::decode(stored_hex) {
            Ok(stored) => self.0.as_ref().ct_eq(&stored).into(),
            Err(_) => false,
        }
    }
}

/// A hash to compare against when there is no client, so that an unknown client id
/// costs the same as a wrong secret.
pub const DUMMY_SECRET_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bit_and_url_safe() {
        let s = generate_client_secret();
        assert_eq!(s.len(), 43);
        assert!(s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(s, generate_client_secret());
    }

    #[test]
    fn verification_matches_only_the_secret() {
        let s = generate_client_secret();
        let h = hash_secret(&s);
        assert!(verify_secret(&s, &h));
        assert!(!verify_secret("other", &h));
        assert!(!verify_secret(&s, "not hex"));
        assert!(!verify_secret(&s, DUMMY_SECRET_HASH));
    }
}
