//! Signing keys: generating them, holding the active one parsed in memory, rendering
//! the JWKS, and the database-side lifecycle that every replica agrees on.

pub mod jwk;
pub mod keystore;
pub mod lifecycle;
pub mod material;
pub mod rotation;
pub mod sealing;
pub mod verify;

pub use keystore::{KeySet, KeyStore};
pub use material::Signer;

/// Errors about keys: unusable stored material, or the database under it.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Stored key material could not be parsed or decrypted.
    #[error("signing key {kid}: {reason}")]
    Material {
        /// The key concerned.
        kid: String,
        /// Why it is unusable.
        reason: String,
    },
    /// Key generation failed.
    #[error("key generation failed: {0}")]
    Generate(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<diesel::result::Error> for KeyError {
    fn from(e: diesel::result::Error) -> Self {
        KeyError::Db(e.into())
    }
}
