//! Signing-key administration shared by the CLI (and any future API): listing keys,
//! adding one (generated or imported) under the rotation rules, and their public keys
//! for export. Every change goes through the audit log.

use super::{audit, AdminError};
use crate::db::models::SigningKeyRow;
use crate::db::DbConnection;
use crate::keys::jwk::PublicJwk;
use crate::keys::lifecycle::{add_key, KeyPolicy};
use crate::keys::material::generate;
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

/// Generates a key of the policy's algorithm and adds it (pre-published, or signing at
/// once with `immediate`).
pub fn rotate(
    conn: &mut DbConnection,
    actor: &str,
    policy: &KeyPolicy,
    immediate: bool,
    now: i64,
) -> Result<AddedKey, AdminError> {
    let pkcs8 = generate(&policy.alg, policy.rsa_bits)?;
    add(conn, actor, "key.rotate", policy, &pkcs8, immediate, now)
}

/// Adds an operator's private key (PKCS#8 DER) under the same rules.
pub fn import(
    conn: &mut DbConnection,
    actor: &str,
    policy: &KeyPolicy,
    pkcs8: &[u8],
    immediate: bool,
    now: i64,
) -> Result<AddedKey, AdminError> {
    add(conn, actor, "key.import", policy, pkcs8, immediate, now)
}

fn add(
    conn: &mut DbConnection,
    actor: &str,
    action: &str,
    policy: &KeyPolicy,
    pkcs8: &[u8],
    immediate: bool,
    now: i64,
) -> Result<AddedKey, AdminError> {
    let row = add_key(conn, policy, pkcs8, immediate, now)?;
    let details = serde_json::json!({ "immediate": immediate });
    audit::record(conn, actor, action, &row.kid, details, now)?;
    Ok(AddedKey {
        kid: row.kid,
        state: row.state,
        activates_at: row.activates_at,
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
