//! Encryption at rest of private signing keys: AES-256-GCM (aws-lc-rs) under the
//! key-encryption key (KEK), with the key's `kid` as associated data, so a sealed key
//! copied onto another row does not open. Sealed form: `0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

const VERSION: u8 = 1;

/// A key-encryption key, parsed.
pub struct Kek {
    key: LessSafeKey,
    /// First bytes of SHA-256(KEK), hex: names the KEK in messages without revealing it.
    pub fingerprint: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Kek {
    /// Parses 32 bytes given as 64 hex digits or base64 (standard or URL-safe).
    pub fn parse(text: &SecretString) -> Result<Kek, String> {
        let t = text.expose_secret().trim();
        let bytes = if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(t).map_err(|e| e.to_string())?
        } else {
            STANDARD
                .decode(t)
                .or_else(|_| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
                .map_err(|_| "expected 32 bytes as 64 hex digits or base64".to_string())?
        };
        if bytes.len() != 32 {
            return Err(format!("expected 32 bytes, got {}", bytes.len()));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|e| e.to_string())?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        Ok(Kek {
            key: LessSafeKey::new(unbound),
            fingerprint: hex::encode(digest.as_ref().first_chunk::<4>().unwrap_or(&[0; 4])),
        })
    }

    /// Seals `plain` (a PKCS#8 key) for the row `kid`.
    #[expect(
        clippy::expect_used,
        reason = "the system RNG failing leaves nothing safe to do; sealing a buffer \
                  this small cannot fail"
    )]
    pub fn seal(&self, kid: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("system random number generator failed");
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(kid).as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM sealing of a small buffer cannot fail");
        let mut out = Vec::with_capacity((1 + NONCE_LEN).saturating_add(buf.len()));
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out
    }

    /// Opens what `seal` produced for `kid`; `None` if this KEK did not seal it (or the
    /// bytes were altered, or belong to another kid).
    pub fn open(&self, kid: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let [VERSION, rest @ ..] = sealed else {
            return None;
        };
        if rest.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(kid).as_bytes()), &mut buf)
            .ok()?;
        Some(plain.to_vec())
    }
}

fn aad(kid: &str) -> String {
    format!("tessera signing key {kid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> Kek {
        Kek::parse(&SecretString::from(hex::encode([byte; 32]))).expect("kek")
    }

    #[test]
    fn sealed_keys_open_only_with_the_same_kek_and_kid() {
        let k = kek(1);
        let sealed = k.seal("kid-a", b"secret pkcs8");
        assert_ne!(&sealed[13..25], b"secret pkcs8");
        assert_eq!(
            k.open("kid-a", &sealed).as_deref(),
            Some(&b"secret pkcs8"[..])
        );
        assert_eq!(k.open("kid-b", &sealed), None, "kid is bound as AAD");
        assert_eq!(kek(2).open("kid-a", &sealed), None, "wrong KEK");
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(k.open("kid-a", &tampered), None);
        for cut in [0, 1, 12, 13, 28, sealed.len() - 1] {
            assert_eq!(k.open("kid-a", &sealed[..cut]), None, "{cut} bytes");
        }
        let mut other_version = sealed.clone();
        other_version[0] = 2;
        assert_eq!(k.open("kid-a", &other_version), None);
    }

    #[test]
    fn keks_parse_from_hex_or_base64_of_32_bytes() {
        assert!(Kek::parse(&SecretString::from(STANDARD.encode([7u8; 32]))).is_ok());
        assert!(Kek::parse(&SecretString::from("00".repeat(16))).is_err());
        assert!(Kek::parse(&SecretString::from("not a key")).is_err());
    }
}
