//! Signing-key administration shared by the CLI (and any future API): listing keys,
//! adding one (generated or imported) under the rotation rules, and their public keys
//! for export. Every change goes through the audit log.

use super::AdminError;
use crate::db::audit;
use crate::db::models::KeyState;
use crate::db::models::SigningKeyRow;
use crate::db::DbConnection;
use crate::keys::jwk::PublicJwk;
pub use crate::keys::lifecycle::AddOptions;
use crate::keys::lifecycle::{add_key, infos, KeyPolicy};
use crate::keys::material::generate;
use crate::keys::rotation::next_rotation;
use serde::Serialize;

/// One key as listed.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    /// Key id.
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// `next`, `active` or `retired`.
    pub state: String,
    /// Whether the private key is stored encrypted.
    pub encrypted: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// When it signs (or signed) first, Unix seconds.
    pub activates_at: i64,
    /// When it stopped signing, Unix seconds.
    pub retired_at: Option<i64>,
    /// When it leaves the JWKS, Unix seconds.
    pub expires_at: Option<i64>,
}

impl From<&SigningKeyRow> for KeyView {
    fn from(r: &SigningKeyRow) -> Self {
        KeyView {
            kid: r.kid.clone(),
            alg: r.alg.clone(),
            state: r.state.clone(),
            encrypted: r.encrypted,
            created_at: r.created_at,
            activates_at: r.activates_at,
            retired_at: r.retired_at,
            expires_at: r.expires_at,
        }
    }
}

/// A key just added.
#[derive(Debug, Clone, Serialize)]
pub struct AddedKey {
    /// Key id.
    pub kid: String,
    /// Its state (`next`, or `active` with `immediate`).
    pub state: String,
    /// When it starts signing, Unix seconds.
    pub activates_at: i64,
    /// The pending keys retired in its favour (published until their retention ends,
    /// never signing).
    pub replaced: Vec<String>,
}

/// A stored key's public half, PEM-encoded.
#[derive(Debug, Clone)]
pub struct PublicKeyPem {
    /// Key id.
    pub kid: String,
    /// Its state.
    pub state: String,
    /// `-----BEGIN PUBLIC KEY-----` …
    pub pem: String,
}

/// Every stored signing key.
pub fn list(conn: &mut DbConnection) -> Result<Vec<KeyView>, AdminError> {
    Ok(SigningKeyRow::list(conn)?
        .iter()
        .map(KeyView::from)
        .collect())
}

/// One key on the timeline: its state now and the span of that state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyBar {
    /// Key id.
    pub kid: String,
    /// `pre-published` (in the JWKS, not signing yet), `active` (signing),
    /// `retiring` (no longer signing, still in the JWKS for the tokens it signed) or
    /// `retired` (out of its publication, removed at the lifecycle's next run).
    pub state: String,
    /// When the state began, Unix seconds.
    pub from: i64,
    /// When it ends, Unix seconds: a pending key's activation, the signing key's
    /// takeover by the next one, a retiring key's end of publication.
    pub until: Option<i64>,
}

/// The signing keys as a timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// Every stored key, the oldest activation first.
    pub keys: Vec<KeyBar>,
    /// When the next key starts signing, as the rotation plan will make it.
    pub next_rotation: Option<i64>,
}

/// The stored keys at `now` on a timeline, with the next rotation as the lifecycle's
/// plan (under `policy`'s timing) has it.
pub fn timeline(
    conn: &mut DbConnection,
    policy: &KeyPolicy,
    now: i64,
) -> Result<Timeline, AdminError> {
    let timing = policy.timing(conn)?;
    let mut rows = SigningKeyRow::list(conn)?;
    rows.sort_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)));
    let next = next_rotation(&infos(&rows), now, &timing);
    let keys = rows
        .iter()
        .map(|r| {
            let (state, from, until) = match r.key_state() {
                KeyState::Next => ("pre-published", r.created_at, Some(r.activates_at)),
                KeyState::Active => ("active", r.activates_at, next),
                KeyState::Retired => {
                    let gone = r.expires_at.is_some_and(|e| e <= now);
                    let state = if gone { "retired" } else { "retiring" };
                    (state, r.retired_at.unwrap_or(r.activates_at), r.expires_at)
                }
            };
            KeyBar {
                kid: r.kid.clone(),
                state: state.to_string(),
                from,
                until,
            }
        })
        .collect();
    Ok(Timeline {
        keys,
        next_rotation: next,
    })
}

/// Generates a key of the policy's algorithm and adds it (pre-published, or signing at
/// once with `immediate`; see [`AddOptions`] for a pending key).
pub fn rotate(
    conn: &mut DbConnection,
    actor: &str,
    policy: &KeyPolicy,
    options: AddOptions,
    now: i64,
) -> Result<AddedKey, AdminError> {
    let pkcs8 = new_key(policy)?;
    rotate_with(conn, actor, policy, &pkcs8, options, now)
}

/// A new private key (PKCS#8 DER) of the policy's algorithm, for [`rotate_with`]:
/// generating one takes a while (an RSA key about a second), so a caller that holds a
/// shared writer turn generates it first, apart from the write.
pub fn new_key(policy: &KeyPolicy) -> Result<Vec<u8>, AdminError> {
    Ok(generate(&policy.alg, policy.rsa_bits)?)
}

/// [`rotate`] with a key made by [`new_key`]: the same rules and audit action.
pub fn rotate_with(
    conn: &mut DbConnection,
    actor: &str,
    policy: &KeyPolicy,
    pkcs8: &[u8],
    options: AddOptions,
    now: i64,
) -> Result<AddedKey, AdminError> {
    add(conn, actor, "key.rotate", policy, pkcs8, options, now)
}

/// Adds an operator's private key (PKCS#8 DER) under the same rules.
pub fn import(
    conn: &mut DbConnection,
    actor: &str,
    policy: &KeyPolicy,
    pkcs8: &[u8],
    options: AddOptions,
    now: i64,
) -> Result<AddedKey, AdminError> {
    add(conn, actor, "key.import", policy, pkcs8, options, now)
}

/// The key and its audit record in one transaction (the line logged once committed).
fn add(
    conn: &mut DbConnection,
    actor: &str,
    action: &str,
    policy: &KeyPolicy,
    pkcs8: &[u8],
    options: AddOptions,
    now: i64,
) -> Result<AddedKey, AdminError> {
    audit::transaction(conn, |conn| {
        let added = add_key(conn, policy, pkcs8, options, now)?;
        let details = serde_json::json!({
            "immediate": options.immediate,
            "replaced": added.replaced,
        });
        audit::record(conn, actor, action, &added.row.kid, details, now)?;
        Ok(AddedKey {
            kid: added.row.kid,
            state: added.row.state,
            activates_at: added.row.activates_at,
            replaced: added.replaced,
        })
    })
}

/// The public key of every stored key, whatever its algorithm, from its published JWK
/// (no key-encryption key needed).
pub fn public_keys(conn: &mut DbConnection) -> Result<Vec<PublicKeyPem>, AdminError> {
    SigningKeyRow::list(conn)?
        .into_iter()
        .map(|row| {
            let pem = serde_json::from_str::<PublicJwk>(&row.public_jwk)
                .map_err(|e| e.to_string())
                .and_then(|jwk| jwk.to_pem())
                .map_err(|e| AdminError::Invalid(format!("stored key {}: {e}", row.kid)))?;
            Ok(PublicKeyPem {
                kid: row.kid,
                state: row.state,
                pem,
            })
        })
        .collect()
}
