//! What a stored password hash may cost to verify. A stored hash names its own cost
//! (rounds, memory, passes), and whoever wrote the row chose it: an imported file, an
//! older version, an operator's hand. Verifying whatever it asks for lets one login
//! take the CPU for minutes or, with argon2's memory, abort the process. So every
//! format has a ceiling, a little above what its own software makes by default, and
//! a hash beyond it is never verified: it is `unsupported` at import, and a login
//! against it costs what a login of an unknown user costs, and fails.
//!
//! The ceilings: PBKDF2 2,000,000 rounds (Django 6 makes 1,200,000; ~0.5 s), bcrypt
//! cost 14 (Django makes 12; ~1 s), argon2 256 MiB, 16 passes, 16 lanes (Django makes
//! 100 MiB, 2, 8) and memory times passes at most 1 GiB (256 MiB for 4 passes, 64 MiB
//! for 16: about a second), so no stored hash costs a login more than about a second
//! of CPU. tessera's own argon2id hashes may not ask for more memory than the
//! configured argon2id uses: the memory a deployment is sized for.

use argon2::password_hash::PasswordHash;
use argon2::Params;

/// PBKDF2 rounds accepted.
pub const MAX_PBKDF2_ITERATIONS: u32 = 2_000_000;
/// bcrypt cost accepted (each step doubles the work).
pub const MAX_BCRYPT_COST: u32 = 14;
/// argon2 memory accepted for an imported (Django) hash, KiB.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// argon2 passes accepted.
pub const MAX_ARGON2_PASSES: u32 = 16;
/// argon2 lanes accepted.
pub const MAX_ARGON2_LANES: u32 = 16;
/// argon2 memory times passes accepted, KiB (the work: 1 GiB is about a second).
pub const MAX_ARGON2_WORK: u64 = 4 * MAX_ARGON2_MEMORY_KIB as u64;

/// The most an argon2 hash may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Ceiling {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Passes.
    pub passes: u32,
    /// Lanes.
    pub lanes: u32,
    /// Memory times passes, KiB.
    pub work: u64,
}

impl Argon2Ceiling {
    /// The ceiling of an imported (Django) argon2 hash.
    pub const IMPORTED: Argon2Ceiling = Argon2Ceiling {
        memory_kib: MAX_ARGON2_MEMORY_KIB,
        passes: MAX_ARGON2_PASSES,
        lanes: MAX_ARGON2_LANES,
        work: MAX_ARGON2_WORK,
    };

    /// The ceiling of tessera's own hashes when new ones use `memory_kib`, `passes` and
    /// `lanes`: no more memory than that, and passes, lanes and work within the
    /// imported ceilings (or what is configured, when that is more).
    pub fn own(memory_kib: u32, passes: u32, lanes: u32) -> Argon2Ceiling {
        Argon2Ceiling {
            memory_kib,
            passes: passes.max(MAX_ARGON2_PASSES),
            lanes: lanes.max(MAX_ARGON2_LANES),
            work: u64::from(memory_kib)
                .saturating_mul(u64::from(passes))
                .max(MAX_ARGON2_WORK),
        }
    }

    /// Whether `phc` is an argon2 hash that verifies in full: argon2id, argon2i or
    /// argon2d, version 0x10 or 0x13, valid parameters within this ceiling and without
    /// a `keyid` (no secret key is configured) or `data`, a salt of at least 8 bytes and
    /// a hash value, each parameter named once. Anything else would fail at once inside the verifier, and a login
    /// that fails faster than a real check tells a stranger the username exists.
    pub fn admits(&self, phc: &PasswordHash<'_>) -> bool {
        let known = matches!(phc.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d");
        let version = phc.version.is_none_or(|v| v == 0x10 || v == 0x13);
        // Params checks what argon2 itself requires (m >= 8 p, sizes), from the
        // numbers alone; nothing is allocated.
        let within = params(phc).is_some_and(|p| {
            p.m_cost() <= self.memory_kib
                && p.t_cost() <= self.passes
                && p.p_cost() <= self.lanes
                && u64::from(p.m_cost()).saturating_mul(u64::from(p.t_cost())) <= self.work
                && p.keyid().is_empty()
                && p.data().is_empty()
        });
        // Each parameter once: argon2 would take the last of a repeated one, a reader
        // of the hash (or an older ceiling) the first.
        let params: Vec<&str> = phc.params.iter().map(|(name, _)| name.as_str()).collect();
        let once = params
            .iter()
            .enumerate()
            .all(|(i, name)| !params.iter().take(i).any(|earlier| earlier == name));
        let mut salt = [0u8; 64];
        let salted = phc
            .salt
            .is_some_and(|s| s.decode_b64(&mut salt).is_ok_and(|b| b.len() >= 8));
        known && version && within && once && salted && phc.hash.is_some()
    }
}

/// The memory verifying an argon2 hash takes, KiB (0 when its parameters are invalid:
/// it is never verified then).
pub fn argon2_memory_kib(phc: &PasswordHash<'_>) -> u32 {
    params(phc).map_or(0, |p| p.m_cost())
}

/// The argon2 parameters of `phc`, if valid. A lane count beyond argon2's maximum is
/// refused before `Params` sees it: it multiplies the count by 8 before checking it,
/// which overflows (a panic wherever overflow is checked, as in debug builds).
fn params(phc: &PasswordHash<'_>) -> Option<Params> {
    let too_many_lanes = phc.params.iter().any(|(name, value)| {
        name.as_str() == "p" && value.decimal().map_or(true, |p| p > Params::MAX_P_COST)
    });
    if too_many_lanes {
        return None;
    }
    Params::try_from(phc).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phc(params: &str) -> String {
        format!("$argon2id$v=19${params}$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
    }

    #[test]
    fn a_lane_count_beyond_argon2s_maximum_is_refused_without_a_panic() {
        // Found by the stored_hash fuzz target: argon2's `Params` multiplied the lane
        // count by 8 before checking it, and overflowed (a panic in debug builds).
        let text = phc("m=79,t=1,p=1111111110");
        let parsed = PasswordHash::new(&text).expect("PHC");
        assert!(!Argon2Ceiling::IMPORTED.admits(&parsed));
        assert_eq!(argon2_memory_kib(&parsed), 0);
    }

    #[test]
    fn argon2_within_and_beyond_the_ceiling() {
        let admits = |ceiling: Argon2Ceiling, params: &str| {
            let text = phc(params);
            ceiling.admits(&PasswordHash::new(&text).expect("PHC"))
        };
        let imported = Argon2Ceiling::IMPORTED;
        assert!(admits(imported, "m=262144,t=4,p=16"));
        assert!(admits(imported, "m=65536,t=16,p=16"));
        assert!(!admits(imported, "m=262144,t=5,p=1"), "over a second");
        assert!(!admits(imported, "m=65544,t=16,p=1"), "over a second");
        assert!(!admits(imported, "m=262152,t=1,p=1"));
        assert!(!admits(imported, "m=4294967295,t=1,p=1"));
        assert!(!admits(imported, "m=1024,t=17,p=1"));
        assert!(!admits(imported, "m=1024,t=1,p=17"));
        assert!(!admits(imported, "m=65536,t=1,p=1,m=8"), "m twice");
        assert!(!admits(imported, "m=8,t=1,p=1,m=4194304"), "m twice");
        assert!(
            !admits(imported, "m=8,t=1,p=2"),
            "argon2 needs 8 KiB per lane"
        );

        let own = Argon2Ceiling::own(19_456, 2, 1);
        assert!(admits(own, "m=19456,t=16,p=16"));
        assert!(
            !admits(own, "m=19464,t=2,p=1"),
            "more memory than configured"
        );
        assert!(!admits(own, "m=19456,t=17,p=1"));
        let costly = Argon2Ceiling::own(19_456, 20, 1);
        assert!(
            admits(costly, "m=19456,t=20,p=1"),
            "what is configured verifies"
        );
        let big = Argon2Ceiling::own(524_288, 4, 1);
        assert!(admits(big, "m=524288,t=4,p=1"), "configured");
        assert!(!admits(big, "m=524288,t=5,p=1"));

        // What the verifier would refuse at once is no usable hash either.
        for odd in [
            "$argon2id$v=0$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=20$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=1024,t=1,p=1,keyid=AAAA$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=1024,t=1,p=1,data=AAAA$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            let parsed = PasswordHash::new(odd).expect("PHC");
            assert!(!imported.admits(&parsed), "{odd}");
        }
        // And whatever it admits, the verifier checks in full: a wrong password is
        // refused as a wrong password, not as a malformed hash.
        use argon2::password_hash::PasswordVerifier;
        for admitted in [
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2i$v=16$m=1024,t=1,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2d$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            let parsed = PasswordHash::new(admitted).expect("PHC");
            assert!(imported.admits(&parsed), "{admitted}");
            let verified = argon2::Argon2::default().verify_password(b"wrong", &parsed);
            assert_eq!(
                verified,
                Err(argon2::password_hash::Error::Password),
                "{admitted}"
            );
        }

        let other = "$scrypt$ln=16,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        assert!(!imported.admits(&PasswordHash::new(other).expect("PHC")));
        let no_hash = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ";
        assert!(!imported.admits(&PasswordHash::new(no_hash).expect("PHC")));
    }
}
