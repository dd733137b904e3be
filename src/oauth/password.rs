//! User passwords: argon2id hashes in PHC format, usernames normalised for lookup.
//! Hashes imported from elsewhere (Django's) verify too, and any hash weaker than the
//! configured argon2id is replaced after the login that proved the password. A stored
//! hash costlier than its ceiling ([`super::hash_ceiling`]) is never verified.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::django_hash::DjangoHash;
use super::hash_ceiling::{argon2_memory_kib, Argon2Ceiling};

/// The longest password accepted, in bytes (hashing megabytes would be a DoS lever).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The longest username accepted, in characters.
pub const MAX_USERNAME_CHARS: usize = 150;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashParams {
    /// OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        HashParams {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashParams {
    fn hasher(self) -> Result<Argon2<'static>, String> {
        // argon2's `Params::new` multiplies the lanes by 8 before checking them, which
        // overflows (a panic in debug builds): a count beyond its maximum stops here.
        if self.parallelism > Params::MAX_P_COST {
            return Err(format!(
                "invalid argon2 parameters: at most {} lanes",
                Params::MAX_P_COST
            ));
        }
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| format!("invalid argon2 parameters: {e}"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Checks the parameters can hash.
    pub fn validate(self) -> Result<(), String> {
        self.hasher().map(|_| ())
    }

    /// The most one of tessera's own stored hashes may cost while these parameters
    /// make new ones: no more memory than they use.
    pub fn ceiling(self) -> Argon2Ceiling {
        Argon2Ceiling::own(self.memory_kib, self.iterations, self.parallelism)
    }
}

/// A username in its stored form: trimmed, lower case; 1 to 150 characters, no white
/// space or control characters.
pub fn normalize_username(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() {
        return Err("username is empty");
    }
    if name.chars().count() > MAX_USERNAME_CHARS {
        return Err("username is longer than 150 characters");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("username contains white space or control characters");
    }
    Ok(name)
}

/// Checks a new password: at least `min_chars` characters (Unicode scalar values, not
/// bytes; `password_min_length`), at most 1024 bytes, no control characters. The
/// message never quotes the password.
pub fn check_new_password(pw: &str, min_chars: usize) -> Result<(), String> {
    if pw.is_empty() {
        return Err("password is empty".into());
    }
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err("password is longer than 1024 bytes".into());
    }
    if pw.chars().any(char::is_control) {
        return Err("password contains control characters".into());
    }
    if pw.chars().count() < min_chars {
        return Err(format!(
            "password must be at least {min_chars} characters long (password_min_length)"
        ));
    }
    Ok(())
}

/// Hashes `password` with a fresh salt.
pub fn hash_password(password: &str, params: HashParams) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    params
        .hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// Whether `password` matches the PHC string `stored` (its own parameters apply), in
/// the time a hash takes whatever the outcome. A malformed stored hash never matches.
/// Only for hashes tessera just made: a stored one goes through [`StoredHash::parse`],
/// which holds it to the cost ceilings.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A stored password hash, by what a login can do with it.
#[derive(Debug)]
pub enum StoredHash<'a> {
    /// A PHC argon2 hash (tessera's own).
    Argon2(PasswordHash<'a>),
    /// A Django hash, verified then replaced.
    Django(DjangoHash<'a>),
    /// `!…`: no usable password (Django's unusable marker, and what an import stores
    /// for a hash it cannot verify); only `set-password` gives one.
    Unusable,
    /// A format tessera does not verify, a malformed hash, or one costlier than its
    /// ceiling: never verified; only `set-password` gives a usable password.
    Unsupported,
}

impl<'a> StoredHash<'a> {
    /// Classifies a stored hash; `params` are the configured argon2id parameters, which
    /// bound the memory one of tessera's own hashes may ask for.
    pub fn parse(stored: &'a str, params: HashParams) -> StoredHash<'a> {
        if stored.starts_with('!') {
            return StoredHash::Unusable;
        }
        if stored.starts_with('$') {
            if let Ok(phc) = PasswordHash::new(stored) {
                if params.ceiling().admits(&phc) {
                    return StoredHash::Argon2(phc);
                }
            }
        } else if let Some(django) = DjangoHash::parse(stored) {
            return StoredHash::Django(django);
        }
        StoredHash::Unsupported
    }

    /// Whether a login can succeed with this hash.
    pub fn is_usable(&self) -> bool {
        matches!(self, StoredHash::Argon2(_) | StoredHash::Django(_))
    }

    /// What `user show` calls it: `argon2id`, `django_pbkdf2_sha256`, …, `unusable`
    /// or `unsupported`.
    pub fn scheme(&self) -> String {
        match self {
            StoredHash::Argon2(phc) => phc.algorithm.to_string(),
            StoredHash::Django(d) => format!("django_{}", d.algorithm()),
            StoredHash::Unusable => "unusable".into(),
            StoredHash::Unsupported => "unsupported".into(),
        }
    }

    /// Whether `password` matches (in the hash's own time); unusable never matches.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            StoredHash::Argon2(phc) => Argon2::default()
                .verify_password(password.as_bytes(), phc)
                .is_ok(),
            StoredHash::Django(d) => d.verify(password),
            StoredHash::Unusable | StoredHash::Unsupported => false,
        }
    }

    /// The memory verifying it takes, KiB (0 for what is never verified).
    pub fn memory_kib(&self) -> u32 {
        match self {
            StoredHash::Argon2(phc) => argon2_memory_kib(phc),
            StoredHash::Django(d) => d.memory_kib(),
            StoredHash::Unusable | StoredHash::Unsupported => 0,
        }
    }

    /// Whether a login that proved the password should store a new hash: anything but
    /// argon2id v1.3 at (at least) the configured memory, passes and lanes.
    pub fn needs_upgrade(&self, params: HashParams) -> bool {
        match self {
            StoredHash::Argon2(phc) => {
                let get = |name: &str| phc.params.get_decimal(name).unwrap_or(0);
                phc.algorithm.as_str() != "argon2id"
                    || phc.version != Some(Version::V0x13 as u32)
                    || get("m") < params.memory_kib
                    || get("t") < params.iterations
                    || get("p") < params.parallelism
            }
            StoredHash::Django(_) => true,
            StoredHash::Unusable | StoredHash::Unsupported => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: HashParams = HashParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn a_lane_count_beyond_argon2s_maximum_is_refused_without_a_panic() {
        // Found by the config fuzz target (argon2_parallelism = 1111111110).
        let params = HashParams {
            memory_kib: 79,
            iterations: 1,
            parallelism: 1_111_111_110,
        };
        assert!(params.validate().is_err());
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash_password("correct horse", FAST).expect("hash");
        let b = hash_password("correct horse", FAST).expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_ne!(a, b);
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("correct horsE", &a));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn weaker_hashes_are_upgraded_and_unknown_ones_are_unusable() {
        let configured = HashParams {
            memory_kib: 2048,
            ..FAST
        };
        let weak = hash_password("pw", FAST).expect("hash");
        let strong = hash_password("pw", configured).expect("hash");
        assert!(StoredHash::parse(&weak, configured).needs_upgrade(configured));
        assert!(!StoredHash::parse(&strong, configured).needs_upgrade(configured));
        assert!(!StoredHash::parse(&strong, configured).needs_upgrade(FAST));
        assert_eq!(StoredHash::parse(&strong, configured).scheme(), "argon2id");

        let django = "pbkdf2_sha1$1000$s4ltS4ltS4lt$Ibqk77RN7DlW9AwX0LRGGlTyGCc=";
        let parsed = StoredHash::parse(django, FAST);
        assert_eq!(parsed.scheme(), "django_pbkdf2_sha1");
        assert!(parsed.verify("correct horse") && parsed.needs_upgrade(FAST));

        for unusable in ["!x8Kd93", "!"] {
            let parsed = StoredHash::parse(unusable, FAST);
            assert!(!parsed.is_usable() && !parsed.verify(""), "{unusable}");
            assert_eq!(parsed.scheme(), "unusable");
        }
        for unsupported in [
            "md5$a$b",
            "",
            "$argon2id$junk",
            "$scrypt$ln=1,r=8,p=1$c2FsdA$aGFzaA",
        ] {
            let parsed = StoredHash::parse(unsupported, FAST);
            assert!(!parsed.is_usable() && !parsed.verify(""), "{unsupported}");
            assert_eq!(parsed.scheme(), "unsupported");
        }
    }

    #[test]
    fn own_hashes_may_not_ask_for_more_memory_than_configured() {
        let configured = HashParams {
            memory_kib: 2048,
            ..FAST
        };
        let at = hash_password("pw", configured).expect("hash");
        let above = hash_password(
            "pw",
            HashParams {
                memory_kib: 2056,
                ..FAST
            },
        )
        .expect("hash");
        assert!(StoredHash::parse(&at, configured).verify("pw"));
        assert_eq!(StoredHash::parse(&at, configured).memory_kib(), 2048);
        let refused = StoredHash::parse(&above, configured);
        assert_eq!(refused.scheme(), "unsupported");
        assert!(!refused.verify("pw"), "never verified");
        // The hash of the report: 4 TiB.
        let huge = "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        assert!(!StoredHash::parse(huge, HashParams::default()).is_usable());
    }

    #[test]
    fn usernames_normalise_to_lower_case_and_refuse_junk() {
        assert_eq!(normalize_username("  Alice ").as_deref(), Ok("alice"));
        assert!(normalize_username("").is_err());
        assert!(normalize_username("a b").is_err());
        assert!(normalize_username("a\u{0}").is_err());
        assert!(normalize_username(&"x".repeat(151)).is_err());
    }

    #[test]
    fn new_passwords_are_checked() {
        assert!(check_new_password("", 1).is_err());
        assert!(check_new_password(&"x".repeat(1025), 8).is_err());
        assert!(check_new_password("ok password", 8).is_ok());
        assert!(check_new_password("tab\there", 1).is_err());
        let short = check_new_password("seven77", 8).expect_err("short");
        assert!(short.contains("at least 8 characters") && !short.contains("seven77"));
        // Characters, not bytes: seven umlauts are fourteen bytes.
        assert!(check_new_password("äääääää", 8).is_err());
        assert!(check_new_password("ääääääää", 8).is_ok());
    }
}
