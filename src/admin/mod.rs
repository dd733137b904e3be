//! Administration shared by the CLI and the HTTP admin API: one implementation of
//! each operation, synchronous, on a database connection.

pub mod apply;
pub mod audit;
pub mod bootstrap;
pub mod clients;
pub mod console;
pub mod issuers;
pub mod keys;
pub mod operators;
pub mod user_import;
pub mod users;

/// Errors of an administrative operation.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input is invalid; nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// One attribute of the input is invalid; nothing was written. `field` is its
    /// neutral name (`scope`, `audiences`, `access_token_ttl`, …), which each front end
    /// renders in its own words (a flag, a TOML key, a JSON member).
    #[error("{message}")]
    InvalidField {
        /// The attribute.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The named object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// Key material could not be made, opened or stored.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
}

impl AdminError {
    /// An invalid `field`.
    pub fn field(field: &'static str, message: impl Into<String>) -> AdminError {
        AdminError::InvalidField {
            field,
            message: message.into(),
        }
    }
}

impl From<crate::db::QueryError> for AdminError {
    fn from(e: crate::db::QueryError) -> Self {
        AdminError::Db(e.into())
    }
}

impl From<AdminError> for crate::oauth::OAuthError {
    /// For the HTTP admin API: invalid metadata is RFC 7591's `invalid_client_metadata`,
    /// an unknown client is `invalid_token` (RFC 7592 §2.1: no existence hints), a
    /// database failure is 503 or 500.
    fn from(e: AdminError) -> Self {
        use crate::oauth::{ErrorCode, OAuthError};
        match e {
            AdminError::Invalid(m) | AdminError::InvalidField { message: m, .. } => {
                OAuthError::new(ErrorCode::InvalidClientMetadata, m)
            }
            AdminError::NotFound(_) => {
                OAuthError::new(ErrorCode::InvalidToken, "no such client").with_status(401)
            }
            AdminError::Db(e) => e.into(),
            AdminError::Keys(e) => {
                log::error!("{e}");
                OAuthError::server_error()
            }
        }
    }
}
