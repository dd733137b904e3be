//! The `signing_keys` table.

use crate::db::schema::signing_keys;
use crate::db::DbConnection;
use diesel::prelude::*;

/// Lifecycle of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published in the JWKS, not signing yet (pre-publication window).
    Next,
    /// Signing new tokens.
    Active,
    /// Published until every token it signed has expired.
    Retired,
}

impl KeyState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<KeyState> {
        [KeyState::Next, KeyState::Active, KeyState::Retired]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A signing key row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// `next`, `active` or `retired`.
    pub state: String,
    /// PKCS#8 DER, or its sealed form when `encrypted`.
    pub private_key: Vec<u8>,
    /// Whether `private_key` is encrypted with the key-encryption key.
    pub encrypted: bool,
    /// The public JWK, JSON.
    pub public_jwk: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When it starts (or started) signing.
    pub activates_at: i64,
    /// When it stopped signing.
    pub retired_at: Option<i64>,
    /// When it leaves the JWKS.
    pub expires_at: Option<i64>,
}

/// A key to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct NewSigningKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// Initial state.
    pub state: String,
    /// PKCS#8 DER, or its sealed form.
    pub private_key: Vec<u8>,
    /// Whether `private_key` is sealed.
    pub encrypted: bool,
    /// The public JWK, JSON.
    pub public_jwk: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When it starts signing.
    pub activates_at: i64,
}

impl SigningKeyRow {
    /// The key's state; unknown stored values read as retired (never signing).
    pub fn key_state(&self) -> KeyState {
        KeyState::parse(&self.state).unwrap_or(KeyState::Retired)
    }

    /// Every key still published (all rows), oldest first.
    pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<SigningKeyRow>> {
        signing_keys::table
            .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
            .select(SigningKeyRow::as_select())
            .load(conn)
    }

    /// Inserts a key.
    pub fn insert(conn: &mut DbConnection, new: &NewSigningKey) -> QueryResult<()> {
        diesel::insert_into(signing_keys::table)
            .values(new)
            .execute(conn)
            .map(|_| ())
    }

    /// Moves a key to `state`, recording when it retired and when it leaves the JWKS.
    pub fn set_state(
        conn: &mut DbConnection,
        kid: &str,
        state: KeyState,
        retired_at: Option<i64>,
        expires_at: Option<i64>,
    ) -> QueryResult<bool> {
        let n = diesel::update(signing_keys::table.find(kid))
            .set((
                signing_keys::state.eq(state.as_str()),
                signing_keys::retired_at.eq(retired_at),
                signing_keys::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Deletes a key; returns whether it existed.
    pub fn delete(conn: &mut DbConnection, kid: &str) -> QueryResult<bool> {
        Ok(diesel::delete(signing_keys::table.find(kid)).execute(conn)? == 1)
    }

    /// Replaces the stored private key (sealing or re-sealing it).
    pub fn set_private_key(
        conn: &mut DbConnection,
        kid: &str,
        private_key: &[u8],
        encrypted: bool,
    ) -> QueryResult<bool> {
        let n = diesel::update(signing_keys::table.find(kid))
            .set((
                signing_keys::private_key.eq(private_key),
                signing_keys::encrypted.eq(encrypted),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }
}
