//! What one request does, and in which units of work: client lookup and its cache,
//! `jwks_uri` fetching, client authentication, issuing (grant → claims → signature),
//! logins, refresh sessions (refresh-token families), the password-hash pool,
//! revocation, the access check of presented tokens, and the background jobs. It calls `oauth/` for the rules
//! and `db/` for the rows; `http/` calls it and renders what it returns.
//!
//! Storage errors become protocol errors here: a database that is away is
//! `temporarily_unavailable` (503), anything else a logged `server_error`.

pub mod access;
pub mod cache;
pub mod client_auth;
pub mod client_jwks;
pub mod clients;
pub mod console;
pub mod federation;
pub mod hash_pool;
pub mod issue;
pub mod jobs;
pub mod login;
pub mod revocation;
pub mod sessions;
pub mod state;
pub mod usage;

pub use state::AppState;

use crate::db::{pool, DbConnection, DbError, DbPool};
use crate::oauth::{ErrorCode, OAuthError};

/// Current time, Unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl From<DbError> for OAuthError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            log::warn!("database unavailable: {e}");
            OAuthError::unavailable()
        } else {
            log::error!("database error: {e}");
            OAuthError::server_error()
        }
    }
}

impl From<crate::db::QueryError> for OAuthError {
    /// A query failure seen by a request: 503 when the database is away, else 500.
    fn from(e: crate::db::QueryError) -> Self {
        DbError::from(e).into()
    }
}

/// Runs `f` on the blocking pool; a failure to run it at all counts as unavailable, a
/// panic inside it (a bug) is this request's `server_error` alone.
pub async fn blocking<T, F>(f: F) -> Result<T, OAuthError>
where
    F: FnOnce() -> Result<T, OAuthError> + Send + 'static,
    T: Send + 'static,
{
    actix_web::web::block(move || {
        crate::worker::contain("blocking pool", f)
            .unwrap_or_else(|_| Err(OAuthError::server_error()))
    })
    .await
    .map_err(|e| {
        log::error!("blocking task failed: {e}");
        OAuthError::unavailable()
    })?
}

/// Runs a unit of work that only reads, on a pooled connection off the async workers,
/// in a span named `summary`.
pub async fn read<T, F>(pool: &DbPool, summary: &'static str, f: F) -> Result<T, OAuthError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, OAuthError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    crate::telemetry::span::db(summary)
        .run_result(
            blocking(move || {
                let mut conn = pool::get(&pool)?;
                f(&mut conn)
            }),
            database_fault,
        )
        .await
}

/// Whether the database answers (one round trip on a pooled connection), for readiness.
pub async fn ping(state: &AppState) -> Result<(), OAuthError> {
    read(&state.pool, "ping", |conn| Ok(pool::ping(conn)?)).await
}

/// A unit of work's failure that is the database's fault (unavailable, or a server
/// error), not the request's: its span is marked failed.
fn database_fault(e: &OAuthError) -> Option<&'static str> {
    matches!(
        e.code,
        ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError
    )
    .then(|| e.code.as_str())
}
