//! The database side of the key lifecycle: making sure a signing key exists and
//! loading what every replica publishes. Transitions run under the `SigningKeys`
//! write lock, so that replicas sharing a database make each one exactly once.

use super::keystore::KeySet;
use super::material::{generate_rsa, rsa_public_jwk, RS256};
use super::KeyError;
use crate::db::models::{KeyState, NewSigningKey, SigningKeyRow};
use crate::db::{write_transaction, DbConnection, WriteLock};

/// What the lifecycle needs from the configuration.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    /// RSA modulus size.
    pub rsa_bits: usize,
}

fn has_active(rows: &[SigningKeyRow]) -> bool {
    rows.iter().any(|r| r.key_state() == KeyState::Active)
}

/// Creates and activates a first signing key if the database has none active.
/// Returns the kid created, if any.
pub fn ensure_active_key(
    conn: &mut DbConnection,
    policy: &KeyPolicy,
    now: i64,
) -> Result<Option<String>, KeyError> {
    if has_active(&SigningKeyRow::list(conn)?) {
        return Ok(None);
    }
    // Generate outside the lock (it takes a moment), insert only if still needed.
    let pkcs8 = generate_rsa(policy.rsa_bits)?;
    let jwk = rsa_public_jwk(RS256, &pkcs8).map_err(KeyError::Generate)?;
    let new = NewSigningKey {
        kid: jwk.kid.clone(),
        alg: RS256.to_string(),
        state: KeyState::Active.as_str().to_string(),
        private_key: pkcs8,
        encrypted: false,
        public_jwk: serde_json::to_string(&jwk).map_err(|e| KeyError::Generate(e.to_string()))?,
        created_at: now,
        activates_at: now,
    };
    write_transaction(conn, WriteLock::SigningKeys, |conn| {
        if has_active(&SigningKeyRow::list(conn)?) {
            return Ok(None);
        }
        SigningKeyRow::insert(conn, &new)?;
        Ok(Some(new.kid.clone()))
    })
    .map_err(KeyError::from)
}

/// Reads the stored keys and builds the key set to serve at `now`.
pub fn load_key_set(
    conn: &mut DbConnection,
    now: i64,
    previous: Option<&KeySet>,
) -> Result<KeySet, KeyError> {
    let rows = SigningKeyRow::list(conn)?;
    let decrypt = |row: &SigningKeyRow| -> Result<Vec<u8>, KeyError> {
        if row.encrypted {
            return Err(KeyError::Material {
                kid: row.kid.clone(),
                reason: "the private key is encrypted and no key_encryption_key is set".into(),
            });
        }
        Ok(row.private_key.clone())
    };
    KeySet::from_rows(&rows, now, &decrypt, previous)
}
