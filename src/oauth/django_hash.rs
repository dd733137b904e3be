//! Django's password hash formats, as `manage.py dumpdata auth.user` exports them, so
//! imported users log in with the passwords they had: `pbkdf2_sha256`, `pbkdf2_sha1`,
//! `argon2` (Django's `argon2` prefix before an argon2 PHC string) and `bcrypt_sha256`
//! (bcrypt of the hex SHA-256 of the password). Each is verified in constant time with
//! its own cost; a successful login replaces it by tessera's argon2id hash.
//!
//! Costs come from the imported hash, so each format has a ceiling
//! ([`super::hash_ceiling`]): a hash beyond it is not verified at all and is imported
//! as unusable, like an unknown format.

use super::hash_ceiling::{
    argon2_memory_kib, Argon2Ceiling, MAX_BCRYPT_COST, MAX_PBKDF2_ITERATIONS,
};
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A Django password hash tessera can verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DjangoHash<'a> {
    /// `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` (or `pbkdf2_sha1$…`).
    Pbkdf2 {
        /// SHA-256 (`pbkdf2_sha256`) or SHA-1 (`pbkdf2_sha1`).
        sha1: bool,
        /// PBKDF2 rounds.
        iterations: u32,
        /// The salt, as the text Django stores.
        salt: &'a str,
        /// The derived key.
        hash: Vec<u8>,
    },
    /// `argon2$argon2id$v=19$m=…,t=…,p=…$salt$hash`: the PHC string after the prefix.
    Argon2 {
        /// The PHC string.
        phc: &'a str,
    },
    /// `bcrypt_sha256$$2b$12$…`: the bcrypt hash after the prefix.
    BcryptSha256 {
        /// The bcrypt hash (`$2b$…`).
        bcrypt: &'a str,
    },
}

/// The algorithm name a Django hash starts with (`pbkdf2_sha256`, `md5`, …), if it
/// looks like one at all.
pub fn algorithm(encoded: &str) -> Option<&str> {
    let (name, _) = encoded.split_once('$')?;
    let plausible = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plausible.then_some(name)
}

impl<'a> DjangoHash<'a> {
    /// Parses a Django hash of a supported format within the cost ceilings; `None` for
    /// anything else (unknown algorithm, malformed, costlier than the ceilings).
    pub fn parse(encoded: &'a str) -> Option<DjangoHash<'a>> {
        match algorithm(encoded)? {
            name @ ("pbkdf2_sha256" | "pbkdf2_sha1") => {
                let mut parts = encoded.splitn(4, '$').skip(1);
                let iterations: u32 = parts.next()?.parse().ok()?;
                let salt = parts.next()?;
                let hash = STANDARD.decode(parts.next()?).ok()?;
                let sha1 = name == "pbkdf2_sha1";
                let len = if sha1 { 20 } else { 32 };
                let ok = (1..=MAX_PBKDF2_ITERATIONS).contains(&iterations)
                    && !salt.is_empty()
                    && hash.len() == len;
                ok.then_some(DjangoHash::Pbkdf2 {
                    sha1,
                    iterations,
                    salt,
                    hash,
                })
            }
            "argon2" => {
                let phc = encoded.strip_prefix("argon2")?;
                let parsed = PasswordHash::new(phc).ok()?;
                Argon2Ceiling::IMPORTED
                    .admits(&parsed)
                    .then_some(DjangoHash::Argon2 { phc })
            }
            "bcrypt_sha256" => {
                let bcrypt = encoded.strip_prefix("bcrypt_sha256$")?;
                let parts: bcrypt::HashParts = bcrypt.parse().ok()?;
                (parts.get_cost() <= MAX_BCRYPT_COST).then_some(DjangoHash::BcryptSha256 { bcrypt })
            }
            _ => None,
        }
    }

    /// Django's name for the format.
    pub fn algorithm(&self) -> &'static str {
        match self {
            DjangoHash::Pbkdf2 { sha1: true, .. } => "pbkdf2_sha1",
            DjangoHash::Pbkdf2 { sha1: false, .. } => "pbkdf2_sha256",
            DjangoHash::Argon2 { .. } => "argon2",
            DjangoHash::BcryptSha256 { .. } => "bcrypt_sha256",
        }
    }

    /// The memory verifying it takes, KiB: argon2's memory cost; PBKDF2 and bcrypt
    /// take next to none.
    pub fn memory_kib(&self) -> u32 {
        match self {
            DjangoHash::Argon2 { phc } => {
                PasswordHash::new(phc).map_or(0, |p| argon2_memory_kib(&p))
            }
            DjangoHash::Pbkdf2 { .. } | DjangoHash::BcryptSha256 { .. } => 0,
        }
    }

    /// Whether `password` matches, compared in constant time; the work is the hash's
    /// own cost whatever the outcome.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            DjangoHash::Pbkdf2 {
                sha1,
                iterations,
                salt,
                hash,
            } => {
                let mut derived = vec![0u8; hash.len()];
                let (pw, salt) = (password.as_bytes(), salt.as_bytes());
                if *sha1 {
                    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(pw, salt, *iterations, &mut derived);
                } else {
                    pbkdf2::pbkdf2_hmac::<Sha256>(pw, salt, *iterations, &mut derived);
                }
                derived.ct_eq(hash).into()
            }
            DjangoHash::Argon2 { phc } => PasswordHash::new(phc).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            }),
            DjangoHash::BcryptSha256 { bcrypt } => {
                // Django hashes the hex digest, so long passwords are not cut at 72 bytes.
                let digest = hex::encode(Sha256::digest(password.as_bytes()));
                bcrypt::verify(digest, bcrypt).unwrap_or(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by Django 5.2's own hashers (`PBKDF2PasswordHasher().encode("correct horse",
    // salt, 1000)` and the like), with low costs so the tests are quick.
    const DJANGO_HASHES: [&str; 4] = [
        "pbkdf2_sha256$1000$s4ltS4ltS4lt$MOC6kSgAqd5PM42Euf5a66Qa5IxL2qZ0WULZ8snT7Oc=",
        "pbkdf2_sha1$1000$s4ltS4ltS4lt$Ibqk77RN7DlW9AwX0LRGGlTyGCc=",
        "argon2$argon2id$v=19$m=1024,t=1,p=2$czRsdFM0bHRTNGx0$WYNheDf/0B+eBm+BR8RXIC5u23mcSymDncxkRE08trs",
        "bcrypt_sha256$$2b$04$LMLc9Zay0gaFS3fzRr8wpe7ZfFEWlL1iFc3cLsBG76O7UTml5oj9S",
    ];

    #[test]
    fn djangos_hashes_verify_only_their_password() {
        for encoded in DJANGO_HASHES {
            let parsed = DjangoHash::parse(encoded).expect("parses");
            assert!(parsed.verify("correct horse"), "{encoded}");
            assert!(!parsed.verify("correct horsE"), "{encoded}");
        }
    }

    #[test]
    fn unknown_malformed_and_too_costly_hashes_are_refused() {
        for encoded in [
            "md5$salt$0123456789abcdef0123456789abcdef",
            "pbkdf2_sha256$0$salt$9gdaR3BXvkKzOlnI4Sn9Vj5kmlAFf3Bj0gsMv9uo3qQ=",
            "pbkdf2_sha256$99999999$salt$9gdaR3BXvkKzOlnI4Sn9Vj5kmlAFf3Bj0gsMv9uo3qQ=",
            "pbkdf2_sha256$1000$salt$not base64",
            "pbkdf2_sha256$1000$$9gdaR3BXvkKzOlnI4Sn9Vj5kmlAFf3Bj0gsMv9uo3qQ=",
            "pbkdf2_sha1$1000$salt$9gdaR3BXvkKzOlnI4Sn9Vj5kmlAFf3Bj0gsMv9uo3qQ=",
            "pbkdf2_sha256$2000001$salt$9gdaR3BXvkKzOlnI4Sn9Vj5kmlAFf3Bj0gsMv9uo3qQ=",
            "argon2$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=262152,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=1024,t=17,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=262144,t=16,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=1024,t=1,p=17$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$scrypt$ln=16,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "bcrypt_sha256$$2b$31$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01",
            "bcrypt_sha256$$2b$15$axPqbDKyZFPRLEvySxPqb.6YZyUlicwKJ7Z1SwygWS/JNJ0LyuSM.",
            "!unusable",
            "",
        ] {
            assert!(DjangoHash::parse(encoded).is_none(), "{encoded}");
        }
        assert_eq!(algorithm("md5$x$y"), Some("md5"));
        assert_eq!(algorithm("é$x"), None);
    }

    #[test]
    fn the_costliest_hashes_within_the_ceilings_parse() {
        for encoded in [
            "pbkdf2_sha256$2000000$salt$9gdaR3BXvkKzOlnI4Sn9Vj5kmlAFf3Bj0gsMv9uo3qQ=",
            "argon2$argon2id$v=19$m=262144,t=4,p=16$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "argon2$argon2id$v=19$m=65536,t=16,p=16$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "bcrypt_sha256$$2b$14$axPqbDKyZFPRLEvySxPqb.NvBTVE7FrVcc4AcUKOw34sAmJ0NC84G",
        ] {
            assert!(DjangoHash::parse(encoded).is_some(), "{encoded}");
        }
        assert_eq!(algorithm("no dollar"), None);
    }
}
