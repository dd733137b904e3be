//! The in-memory key set each replica signs and publishes from, rebuilt from the
//! database rows so that every replica holding the same rows serves the same bytes.

use super::jwk::PublicJwk;
use super::material::Signer;
use super::KeyError;
use crate::db::models::{KeyState, SigningKeyRow};
use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::sync::{Arc, RwLock};

/// One consistent snapshot: the signing key and the published JWKS.
#[derive(Debug)]
pub struct KeySet {
    /// The key that signs new tokens (`None` until one is loadable).
    pub signer: Option<Arc<Signer>>,
    /// The JWKS document, serialised once.
    pub jwks_body: bytes::Bytes,
    /// Strong ETag of `jwks_body`.
    pub etag: String,
    /// The published keys, for listing.
    pub published: Vec<PublicJwk>,
    /// Creation time (Unix seconds) of the signing key, for metrics.
    pub signer_created_at: Option<i64>,
    /// The published keys, ready to verify this server's own tokens.
    pub verifier: super::verify::Verifier,
}

impl KeySet {
    /// An empty set: nothing published, nothing signing.
    pub fn empty() -> KeySet {
        KeySet::render(Vec::new(), None, None)
    }

    fn render(
        published: Vec<PublicJwk>,
        signer: Option<Arc<Signer>>,
        created: Option<i64>,
    ) -> KeySet {
        let doc = serde_json::json!({ "keys": published });
        let jwks_body = bytes::Bytes::from(doc.to_string());
        let digest = digest::digest(&digest::SHA256, &jwks_body);
        let half = digest.as_ref().first_chunk::<16>().unwrap_or(&[0; 16]);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(half));
        KeySet {
            signer,
            jwks_body,
            etag,
            verifier: super::verify::Verifier::new(&published),
            published,
            signer_created_at: created,
        }
    }

    /// Builds the set from the stored rows at `now`: every row is published (retired
    /// rows are deleted once their publication ends); the newest `active` row whose
    /// activation time has come signs. `decrypt` turns stored bytes into PKCS#8, and
    /// `previous` lets an unchanged signer be reused without parsing again.
    pub fn from_rows(
        rows: &[SigningKeyRow],
        now: i64,
        decrypt: &dyn Fn(&SigningKeyRow) -> Result<Vec<u8>, KeyError>,
        previous: Option<&KeySet>,
    ) -> Result<KeySet, KeyError> {
        let mut published = Vec::with_capacity(rows.len());
        for row in rows {
            if row.expires_at.is_some_and(|e| e <= now) {
                continue;
            }
            let jwk: PublicJwk =
                serde_json::from_str(&row.public_jwk).map_err(|e| KeyError::Material {
                    kid: row.kid.clone(),
                    reason: format!("stored JWK: {e}"),
                })?;
            published.push(jwk);
        }
        let active = rows
            .iter()
            .filter(|r| r.key_state() == KeyState::Active && r.activates_at <= now)
            .max_by_key(|r| (r.activates_at, r.created_at));
        let signer = match active {
            None => None,
            Some(row) => match previous
                .and_then(|p| p.signer.clone())
                .filter(|s| s.kid() == row.kid)
            {
                Some(same) => Some(same),
                None => Some(Arc::new(Signer::from_pkcs8(
                    &row.kid,
                    &row.alg,
                    &decrypt(row)?,
                )?)),
            },
        };
        Ok(KeySet::render(
            published,
            signer,
            active.map(|r| r.created_at),
        ))
    }
}

/// Holds the current key set; readers take a cheap `Arc` snapshot.
#[derive(Debug)]
pub struct KeyStore {
    current: RwLock<Arc<KeySet>>,
}

impl KeyStore {
    /// A store holding `set`.
    pub fn new(set: KeySet) -> KeyStore {
        KeyStore {
            current: RwLock::new(Arc::new(set)),
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the snapshot.
    pub fn replace(&self, set: KeySet) {
        let set = Arc::new(set);
        match self.current.write() {
            Ok(mut g) => *g = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }
}
