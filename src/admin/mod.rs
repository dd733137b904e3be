//! Administration shared by the CLI and the HTTP admin API: one implementation of
//! each operation, synchronous, on a database connection.

pub mod bootstrap;
pub mod clients;
pub mod users;

/// Errors of an administrative operation.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input is invalid; nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// The named object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl From<diesel::result::Error> for AdminError {
    fn from(e: diesel::result::Error) -> Self {
        AdminError::Db(e.into())
    }
}
