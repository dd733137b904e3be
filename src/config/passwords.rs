//! The `passwords` section: the argon2id cost of new password hashes, how many are
//! computed at once, and the shortest new password.

use super::section::section;
use super::{ConfigError, Origins};
use crate::oauth::password::{HashParams, MAX_PASSWORD_BYTES};

section! {
    /// User passwords: hashing cost and concurrency, the shortest new one.
    Passwords, PasswordsArgs, finish rules;

    /// argon2id memory cost for user passwords, KiB
    argon2_memory_kib: u32 = 19456, "KIB" env "TESSERA_ARGON2_MEMORY_KIB";
    /// argon2id passes
    argon2_iterations: u32 = 2, "N" env "TESSERA_ARGON2_ITERATIONS";
    /// argon2id lanes
    argon2_parallelism: u32 = 1, "N" env "TESSERA_ARGON2_PARALLELISM";
    /// Password hashes computed at once; more logins wait, a full queue gets 503
    password_hash_concurrency: usize = (super::cpus() / 2).max(1),
        "N" env "TESSERA_PASSWORD_HASH_CONCURRENCY", shown "half the CPUs, at least 1",
        check |n| (1..=256).contains(n), "must be 1 to 256";
    /// Shortest new password accepted by `user create` and `user set-password`, in characters
    password_min_length: usize = 8, "CHARS" env "TESSERA_PASSWORD_MIN_LENGTH",
        check |n| (1..=MAX_PASSWORD_BYTES).contains(n), "must be 1 to 1024 characters";
}

impl Passwords {
    /// The argon2id parameters of new password hashes.
    pub fn hash_params(&self) -> HashParams {
        HashParams {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        }
    }
}

/// The three argon2id keys make one set of parameters argon2 must accept.
fn rules(s: Passwords, origins: &Origins) -> Result<Passwords, ConfigError> {
    if let Err(e) = s.hash_params().validate() {
        return Err(origins.error("argon2_memory_kib/argon2_iterations/argon2_parallelism", &e));
    }
    Ok(s)
}
