//! The database side of the key lifecycle: running the rotation plan under the
//! `SigningKeys` lock (so replicas sharing a database make each transition once),
//! rotating or importing on demand, sealing private keys at rest, and loading what
//! every replica publishes and signs with. Every change to the keys also moves one
//! change marker (`server_meta`), which replicas poll cheaply to reload at once.

use super::keystore::KeySet;
use super::material::{generate, is_rsa, public_jwk};
use super::rotation::{plan, Action, KeyInfo, Timing};
use super::sealing::Kek;
use super::KeyError;
use crate::db::audit;
use crate::db::models::{meta, Client, KeyState, NewSigningKey, SigningKeyRow};
use crate::db::{write_transaction, DbConnection, WriteLock};
use std::sync::Arc;

/// Seconds of clock skew allowed between tessera and resource servers.
pub const CLOCK_SKEW: i64 = 60;

/// What the lifecycle needs from the configuration.
#[derive(Debug, Clone)]
pub struct KeyPolicy {
    /// Algorithm of new keys; a key of another algorithm is rotated out.
    pub alg: String,
    /// RSA modulus size of new keys.
    pub rsa_bits: usize,
    /// Rotation period, seconds.
    pub period: i64,
    /// Pre-publication window, seconds.
    pub prepublish: i64,
    /// Explicit retention of retired keys, seconds; `None`: derived from token lifetimes.
    pub retention: Option<i64>,
    /// The server-wide access-token lifetime.
    pub access_token_ttl: i64,
    /// How often replicas reload keys (a retired key may still sign that long).
    pub refresh_interval: i64,
    /// Key-encryption key for private keys at rest.
    pub kek: Option<Arc<Kek>>,
    /// The previous KEK, accepted to re-seal keys while rotating the KEK.
    pub previous_kek: Option<Arc<Kek>>,
}

impl KeyPolicy {
    /// The timing now: retention covers the longest access-token lifetime any client
    /// has, plus the replicas' reload interval and clock skew.
    pub fn timing(&self, conn: &mut DbConnection) -> Result<Timing, KeyError> {
        let retention = match self.retention {
            Some(r) => r,
            None => {
                let longest = Client::max_access_token_ttl(conn)?.unwrap_or(0);
                longest
                    .max(self.access_token_ttl)
                    .saturating_add(self.refresh_interval)
                    .saturating_add(CLOCK_SKEW)
            }
        };
        Ok(Timing {
            period: self.period,
            prepublish: self.prepublish,
            retention,
            alg: self.alg.clone(),
        })
    }

    /// A row for a PKCS#8 key of the policy's algorithm, sealed when a KEK is set.
    pub fn new_row(
        &self,
        pkcs8: &[u8],
        state: KeyState,
        activates_at: i64,
        now: i64,
    ) -> Result<NewSigningKey, KeyError> {
        let jwk = public_jwk(&self.alg, pkcs8).map_err(KeyError::Generate)?;
        let (private_key, encrypted) = match &self.kek {
            Some(kek) => (kek.seal(&jwk.kid, pkcs8), true),
            None => (pkcs8.to_vec(), false),
        };
        Ok(NewSigningKey {
            kid: jwk.kid.clone(),
            alg: self.alg.clone(),
            state: state.as_str().to_string(),
            private_key,
            encrypted,
            public_jwk: serde_json::to_string(&jwk)
                .map_err(|e| KeyError::Generate(e.to_string()))?,
            created_at: now,
            activates_at,
        })
    }

    /// The PKCS#8 bytes of a stored row.
    pub fn open(&self, row: &SigningKeyRow) -> Result<Vec<u8>, KeyError> {
        if !row.encrypted {
            return Ok(row.private_key.clone());
        }
        let kek = self.kek.as_ref().ok_or_else(|| KeyError::Material {
            kid: row.kid.clone(),
            reason: "the private key is encrypted at rest; set key_encryption_key".into(),
        })?;
        kek.open(&row.kid, &row.private_key)
            .ok_or_else(|| KeyError::Material {
                kid: row.kid.clone(),
                reason: format!(
                    "cannot decrypt the private key with key_encryption_key (fingerprint {}): \
                     it is not the key it was encrypted with",
                    kek.fingerprint
                ),
            })
    }
}

/// What the rotation plan knows of each stored key.
pub fn infos(rows: &[SigningKeyRow]) -> Vec<KeyInfo> {
    rows.iter()
        .map(|r| KeyInfo {
            kid: r.kid.clone(),
            state: r.key_state(),
            alg: r.alg.clone(),
            activates_at: r.activates_at,
            expires_at: r.expires_at,
        })
        .collect()
}

/// Runs the rotation plan once: creates, promotes, retires and deletes keys as due.
/// Safe to run from every replica at any time; returns what it did, for the log.
pub fn step(
    conn: &mut DbConnection,
    policy: &KeyPolicy,
    now: i64,
) -> Result<Vec<String>, KeyError> {
    let timing = policy.timing(conn)?;
    let first = plan(&infos(&SigningKeyRow::list(conn)?), now, &timing);
    if first.is_empty() {
        return Ok(Vec::new());
    }
    // Generate outside the lock (it takes a moment); use it only if still needed.
    let fresh = if first.iter().any(|a| matches!(a, Action::Create { .. })) {
        Some(generate(&policy.alg, policy.rsa_bits)?)
    } else {
        None
    };
    // A key change is audited: its row in the transaction, its line after the commit.
    audit::committed(conn, |conn| {
        write_transaction(conn, WriteLock::SigningKeys, |conn| {
            let actions = plan(&infos(&SigningKeyRow::list(conn)?), now, &timing);
            let mut done = Vec::new();
            for action in actions {
                match action {
                    Action::Create {
                        state,
                        activates_at,
                    } => {
                        let Some(pkcs8) = &fresh else { continue };
                        let row = policy
                            .new_row(pkcs8, state, activates_at, now)
                            .map_err(|e| crate::db::DbError::Migration(e.to_string()))?;
                        SigningKeyRow::insert(conn, &row)?;
                        let event =
                            format!("created ({}, signs from {activates_at})", state.as_str());
                        done.push((row.kid.clone(), event));
                    }
                    Action::Promote { kid } => {
                        SigningKeyRow::set_state(conn, &kid, KeyState::Active, None, None)?;
                        done.push((kid, "now active".to_string()));
                    }
                    Action::Retire { kid, expires_at } => {
                        SigningKeyRow::set_state(
                            conn,
                            &kid,
                            KeyState::Retired,
                            Some(now),
                            Some(expires_at),
                        )?;
                        done.push((kid, format!("retired, published until {expires_at}")));
                    }
                    Action::Delete { kid } => {
                        SigningKeyRow::delete(conn, &kid)?;
                        done.push((kid, "removed from the JWKS".to_string()));
                    }
                }
            }
            if !done.is_empty() {
                mark_changed(conn)?;
            }
            let mut lines = Vec::new();
            for (kid, event) in done {
                let details = serde_json::json!({ "event": event });
                audit::record(conn, "server", "key.lifecycle", &kid, details, now)?;
                lines.push(format!("signing key {kid}: {event}"));
            }
            Ok(lines)
        })
    })
    .map_err(KeyError::from)
}

/// Moves the change marker: every replica reloads its keys at its next poll.
fn mark_changed(conn: &mut DbConnection) -> Result<(), crate::db::QueryError> {
    let value = uuid::Uuid::new_v4().to_string();
    meta::set(conn, meta::SIGNING_KEYS_CHANGED, &value)
}

/// The signing keys' change marker: it differs from the last one read exactly when
/// the keys changed since (`None` until they first do). One primary-key read.
pub fn change_marker(conn: &mut DbConnection) -> Result<Option<String>, KeyError> {
    Ok(meta::get(conn, meta::SIGNING_KEYS_CHANGED)?)
}

/// How a key is added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddOptions {
    /// Sign with it at once: the active key retires, and so does a pending one (it
    /// would otherwise take over when its time comes).
    pub immediate: bool,
    /// Retire a pending key in its favour. Without it (and without `immediate`), a
    /// pending key makes the addition fail with [`KeyError::Pending`]: a key the
    /// operator published is never dropped unasked.
    pub replace_pending: bool,
}

/// A key just stored, and the pending keys it replaced (retired, still published).
#[derive(Debug, Clone)]
pub struct AddedKeyRow {
    /// The new key's row.
    pub row: NewSigningKey,
    /// Kids of the pending keys retired in its favour.
    pub replaced: Vec<String>,
}

/// Adds a key now, as `key rotate` and `key import` do: `next` with the usual
/// pre-publication window, or with `immediate` active at once (the other active keys
/// retire). A pending `next` key is retired in its favour only when asked (see
/// [`AddOptions`]); retired keys stay published until the retention ends.
pub fn add_key(
    conn: &mut DbConnection,
    policy: &KeyPolicy,
    pkcs8: &[u8],
    options: AddOptions,
    now: i64,
) -> Result<AddedKeyRow, KeyError> {
    if public_jwk(&policy.alg, pkcs8).is_err() {
        let kind = if is_rsa(&policy.alg) {
            "an RSA"
        } else {
            "a matching"
        };
        return Err(KeyError::Generate(format!(
            "signing_alg is {}: {kind} key is needed",
            policy.alg
        )));
    }
    let timing = policy.timing(conn)?;
    let (state, activates_at) = if options.immediate {
        (KeyState::Active, now)
    } else {
        (KeyState::Next, now.saturating_add(timing.prepublish))
    };
    let row = policy.new_row(pkcs8, state, activates_at, now)?;
    let retire = |conn: &mut DbConnection, kid: &str| {
        SigningKeyRow::set_state(
            conn,
            kid,
            KeyState::Retired,
            Some(now),
            Some(now.saturating_add(timing.retention)),
        )
    };
    let replaced = write_transaction(conn, WriteLock::SigningKeys, |conn| {
        let rows = SigningKeyRow::list(conn)?;
        // Keys encrypted at rest stay so: a new key is not stored in plaintext beside
        // them, nor sealed with a KEK that cannot open them.
        if let Some(sealed) = rows.iter().find(|r| r.encrypted) {
            if policy.kek.is_none() {
                return Ok(Err(KeyError::Material {
                    kid: row.kid.clone(),
                    reason: "the stored keys are encrypted at rest: set key_encryption_key \
                             (or key_encryption_key_file) so the new key is encrypted too"
                        .into(),
                }));
            }
            if let Err(e) = policy.open(sealed) {
                return Ok(Err(e));
            }
        }
        if rows.iter().any(|r| r.kid == row.kid) {
            return Ok(Err(KeyError::Material {
                kid: row.kid.clone(),
                reason: "this key is already stored".into(),
            }));
        }
        let pending: Vec<&SigningKeyRow> = rows
            .iter()
            .filter(|r| r.key_state() == KeyState::Next)
            .collect();
        if let Some(p) = pending.first() {
            if !options.immediate && !options.replace_pending {
                return Ok(Err(KeyError::Pending {
                    kid: p.kid.clone(),
                    activates_at: p.activates_at,
                }));
            }
        }
        let mut replaced = Vec::new();
        for r in pending {
            retire(conn, &r.kid)?;
            replaced.push(r.kid.clone());
        }
        if options.immediate {
            for r in rows.iter().filter(|r| r.key_state() == KeyState::Active) {
                retire(conn, &r.kid)?;
            }
        }
        SigningKeyRow::insert(conn, &row)?;
        mark_changed(conn)?;
        Ok(Ok(replaced))
    })??;
    Ok(AddedKeyRow { row, replaced })
}

/// Brings stored private keys in line with the configured KEK: seals plaintext keys
/// when a KEK is set, re-seals keys sealed with `previous_kek`, and fails with a clear
/// message when a key cannot be opened (wrong KEK, or none set). Returns how many rows
/// were (re)sealed.
pub fn reconcile_sealing(conn: &mut DbConnection, policy: &KeyPolicy) -> Result<usize, KeyError> {
    write_transaction(conn, WriteLock::SigningKeys, |conn| {
        let mut changed: usize = 0;
        for row in SigningKeyRow::list(conn)? {
            let plain = match policy.open(&row) {
                Ok(p) => p,
                Err(e) => match policy
                    .previous_kek
                    .as_ref()
                    .and_then(|old| old.open(&row.kid, &row.private_key))
                {
                    Some(p) => p,
                    None => return Ok(Err(e)),
                },
            };
            let sealed_now = row.encrypted
                && policy
                    .kek
                    .as_ref()
                    .is_some_and(|k| k.open(&row.kid, &row.private_key).is_some());
            if let (Some(kek), false) = (&policy.kek, sealed_now) {
                SigningKeyRow::set_private_key(conn, &row.kid, &kek.seal(&row.kid, &plain), true)?;
                changed = changed.saturating_add(1);
            }
        }
        Ok(Ok(changed))
    })?
}

/// Reads the stored keys and builds the key set to serve at `now`.
pub fn load_key_set(
    conn: &mut DbConnection,
    policy: &KeyPolicy,
    now: i64,
    previous: Option<&KeySet>,
) -> Result<KeySet, KeyError> {
    let rows = SigningKeyRow::list(conn)?;
    KeySet::from_rows(&rows, now, &|row| policy.open(row), previous)
}
