//! Stored password hashes: Django's formats (`pbkdf2_sha256`, `pbkdf2_sha1`, `argon2`,
//! `bcrypt_sha256`, and anything else it may export) and argon2 PHC strings, each
//! under its cost ceiling.
//!
//! Input: the stored hash as text. Asserts: whatever is admitted costs no more than its
//! ceiling (PBKDF2 rounds, bcrypt cost, argon2 memory, passes, lanes and their
//! product), for imported hashes and for tessera's own under a configured ceiling; a
//! hash is verified here only when it is cheap (the harness's own cap, far below the
//! ceilings), and then never by a wrong password, and the same way twice.
#![no_main]

use argon2::password_hash::PasswordHash;
use argon2::Params;
use libfuzzer_sys::fuzz_target;
use tessera::oauth::django_hash::{self, DjangoHash};
use tessera::oauth::hash_ceiling::{
    Argon2Ceiling, MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_PASSES, MAX_ARGON2_WORK, MAX_BCRYPT_COST,
    MAX_PBKDF2_ITERATIONS,
};
use tessera::oauth::password::{HashParams, StoredHash};

const WRONG: &str = "not the password \u{1F512}";
/// The harness verifies only hashes cheaper than this (KiB × passes, rounds, cost).
const CHEAP_ARGON2_WORK: u64 = 4 * 1024;
const CHEAP_PBKDF2: u32 = 2_000;
const CHEAP_BCRYPT: u32 = 5;

/// The argon2 parameters of `phc`, if they are valid at all.
fn argon2_params(phc: &PasswordHash<'_>) -> Option<Params> {
    Params::try_from(phc).ok()
}

fn within(p: &Params, c: &Argon2Ceiling) -> bool {
    p.m_cost() <= c.memory_kib
        && p.t_cost() <= c.passes
        && p.p_cost() <= c.lanes
        && u64::from(p.m_cost()) * u64::from(p.t_cost()) <= c.work
}

fn cheap_argon2(phc: &str) -> bool {
    PasswordHash::new(phc)
        .ok()
        .and_then(|p| argon2_params(&p))
        .is_some_and(|p| u64::from(p.m_cost()) * u64::from(p.t_cost()) <= CHEAP_ARGON2_WORK)
}

fn bcrypt_cost(hash: &str) -> Option<u32> {
    hash.parse::<bcrypt::HashParts>().ok().map(|p| p.get_cost())
}

fn judge_django(text: &str) {
    if let Some(name) = django_hash::algorithm(text) {
        assert!(text.strip_prefix(name).is_some_and(|r| r.starts_with('$')));
    }
    let Some(h) = DjangoHash::parse(text) else {
        return;
    };
    let cheap = match &h {
        DjangoHash::Pbkdf2 { iterations, .. } => {
            assert!((1..=MAX_PBKDF2_ITERATIONS).contains(iterations));
            *iterations <= CHEAP_PBKDF2
        }
        DjangoHash::Argon2 { phc } => {
            let parsed = PasswordHash::new(phc).expect("an admitted PHC string parses");
            let p = argon2_params(&parsed).expect("admitted argon2 parameters are valid");
            assert!(
                within(&p, &Argon2Ceiling::IMPORTED),
                "{text}: over the ceiling"
            );
            assert!(h.memory_kib() <= MAX_ARGON2_MEMORY_KIB);
            cheap_argon2(phc)
        }
        DjangoHash::BcryptSha256 { bcrypt } => {
            let cost = bcrypt_cost(bcrypt).expect("an admitted bcrypt hash parses");
            assert!(cost <= MAX_BCRYPT_COST);
            cost <= CHEAP_BCRYPT
        }
    };
    if cheap {
        assert!(!h.verify(WRONG), "a wrong password verified");
    }
}

fn judge_phc(text: &str) {
    let Ok(phc) = PasswordHash::new(text) else {
        return;
    };
    let ceilings = [
        Argon2Ceiling::IMPORTED,
        Argon2Ceiling::own(19_456, 2, 1),
        Argon2Ceiling::own(64, 1, 1),
        Argon2Ceiling::own(1024 * 1024, 64, 64),
    ];
    for c in ceilings {
        if c.admits(&phc) {
            let p = argon2_params(&phc).expect("admitted parameters are valid");
            assert!(within(&p, &c), "{text}: admitted over {c:?}");
            assert!(p.keyid().is_empty() && p.data().is_empty());
        }
    }
    let stored = StoredHash::parse(text, HashParams::default());
    let ceiling = HashParams::default().ceiling();
    if let StoredHash::Argon2(p) = &stored {
        let params = argon2_params(p).expect("valid");
        assert!(within(&params, &ceiling));
        assert!(u64::from(stored.memory_kib()) <= u64::from(ceiling.memory_kib));
        assert!(
            params.t_cost() <= MAX_ARGON2_PASSES.max(ceiling.passes)
                && u64::from(params.m_cost()) * u64::from(params.t_cost())
                    <= MAX_ARGON2_WORK.max(ceiling.work)
        );
        if cheap_argon2(text) {
            assert!(!stored.verify(WRONG));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    judge_django(text);
    judge_phc(text);
    let stored = StoredHash::parse(text, HashParams::default());
    let _ = (stored.scheme(), stored.is_usable());
    let _ = stored.needs_upgrade(HashParams::default());
    if text.starts_with('!') {
        assert!(!stored.is_usable());
    }
    if let StoredHash::Django(h) = &stored {
        assert_eq!(DjangoHash::parse(text).as_ref(), Some(h));
    }
});
