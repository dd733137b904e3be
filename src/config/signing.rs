//! The `signing` section: the signing algorithm and key size, the rotation plan, how
//! long retired keys stay published, and the key-encryption keys sealing private keys
//! at rest.

use super::section::{secrets, secs, section};
use super::{ConfigError, Origins};
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

section! {
    /// Signing keys: algorithm, rotation, publication and encryption at rest.
    Signing, SigningArgs, finish rules;

    /// Token signing algorithm: RS256, PS256, ES256 or EdDSA
    signing_alg: String = "RS256", "ALG" env "TESSERA_SIGNING_ALG",
        check |a| crate::keys::material::SIGNING_ALGS.contains(&a.as_str()),
        "must be RS256, PS256, ES256 or EdDSA";
    /// RSA key size for new signing keys: 2048 or 3072
    rsa_key_bits: usize = 2048, "BITS" env "TESSERA_RSA_KEY_BITS",
        check |b| [2048, 3072, 4096].contains(b), "must be 2048, 3072 or 4096";
    /// Signing-key rotation period, seconds
    key_rotation_period: i64 = 86400, "SECS" env "TESSERA_KEY_ROTATION_PERIOD",
        check |p| (1..=365 * 86_400).contains(p), "must be 1 second to 365 days";
    /// How long a new key is published before it signs, seconds
    key_prepublish: i64 = 3600, "SECS" env "TESSERA_KEY_PREPUBLISH";
    /// How often each replica reloads the signing keys, seconds
    key_refresh_interval: u64 = 60 => Duration: secs,
        "SECS" env "TESSERA_KEY_REFRESH_INTERVAL";
    /// How long a retired key stays in the JWKS, seconds
    key_retention: i64, "SECS" env "TESSERA_KEY_RETENTION",
        shown "longest access-token lifetime + key_refresh_interval + 60",
        check |r| !r.is_some_and(|r| r < 1), "must be at least 1 second";
    /// 32-byte key (hex or base64) encrypting private keys at rest
    key_encryption_key: String => Option<SecretString>: secrets,
        "KEY" env "TESSERA_KEY_ENCRYPTION_KEY", secret true;
    /// File holding the key-encryption key (instead of key_encryption_key)
    key_encryption_key_file: PathBuf, "FILE" env "TESSERA_KEY_ENCRYPTION_KEY_FILE";
    /// The previous key-encryption key, while rotating it: keys sealed with it are re-sealed
    previous_key_encryption_key: String => Option<SecretString>: secrets,
        "KEY" env "TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY", secret true;
}

/// The rules over several keys: the rotation plan's windows, and one key-encryption key
/// (read from its file when given so), each of which must parse.
fn rules(mut s: Signing, origins: &Origins) -> Result<Signing, ConfigError> {
    if s.key_prepublish < 0 || s.key_prepublish >= s.key_rotation_period {
        return Err(origins.error(
            "key_prepublish",
            "must be at least 0 and shorter than key_rotation_period",
        ));
    }
    let refresh = i64::try_from(s.key_refresh_interval.as_secs()).unwrap_or(i64::MAX);
    if refresh >= s.key_prepublish {
        return Err(origins.error(
            "key_prepublish",
            "must be longer than key_refresh_interval, so every replica publishes a new key before any signs with it",
        ));
    }
    if s.key_refresh_interval.is_zero() {
        return Err(origins.error("key_refresh_interval", "must be at least 1 second"));
    }
    if let Some(path) = &s.key_encryption_key_file {
        if s.key_encryption_key.is_some() {
            return Err(ConfigError(format!(
                "{} and {}: set key_encryption_key or key_encryption_key_file, not both",
                origins.describe("key_encryption_key"),
                origins.describe("key_encryption_key_file")
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            origins.error(
                "key_encryption_key_file",
                &format!("cannot read {}: {e}", path.display()),
            )
        })?;
        s.key_encryption_key = Some(SecretString::from(text.trim().to_string()));
    }
    for (name, kek) in [
        ("key_encryption_key", &s.key_encryption_key),
        (
            "previous_key_encryption_key",
            &s.previous_key_encryption_key,
        ),
    ] {
        if let Some(k) = kek {
            if let Err(e) = crate::keys::sealing::Kek::parse(k) {
                return Err(origins.error(name, &e));
            }
        }
    }
    Ok(s)
}
