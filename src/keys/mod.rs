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
    /// A key is pending (published, not signing yet) and adding one would replace it;
    /// the caller did not ask for that.
    #[error(
        "signing key {kid} is pending (published, signing from {activates_at}); \
         adding another key would replace it"
    )]
    Pending {
        /// The pending key.
        kid: String,
        /// When it starts signing, Unix seconds.
        activates_at: i64,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<crate::db::QueryError> for KeyError {
    fn from(e: crate::db::QueryError) -> Self {
        KeyError::Db(e.into())
    }
}
