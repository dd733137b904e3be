//! The only place that speaks SQL: connections, the pool, migrations, row types.
//!
//! One `DbConnection` enum covers SQLite and PostgreSQL (Diesel's `MultiConnection`),
//! so every query in `models/` is written once. The few per-backend differences
//! (pragmas, write locks, migrations) live here behind one `match`.

pub mod audit;
pub mod connection;
pub mod lock;
pub mod models;
pub mod pool;
pub mod schema;
pub mod writer;

pub use connection::DbConnection;
pub use lock::{immediate_transaction, write_transaction, WriteLock};
pub use pool::{DbPool, DbUrl};

/// A failed query, as the layers above name it (they never name diesel).
pub use diesel::result::Error as QueryError;

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time, or the database is unreachable.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(diesel::result::Error),
    /// Migrations failed to apply.
    #[error("migrations failed: {0}")]
    Migration(String),
    /// The SQLite file does not exist and this command does not create databases.
    #[error("{0}")]
    Missing(String),
    /// A unit of work panicked (a bug); the worker that ran it went on.
    #[error("a unit of work panicked: {0}")]
    Panicked(String),
}

thread_local! {
    /// Set when a query on this thread failed because the connection or server is gone.
    /// A pooled connection is used and returned on one thread, so the pool's
    /// `has_broken` check on return reads it and discards that connection.
    static CONNECTION_LOST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a query on this thread lost its connection since the last call (and clears it).
pub fn take_connection_lost() -> bool {
    CONNECTION_LOST.with(|c| c.replace(false))
}

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        let err = DbError::Query(e);
        if err.is_unavailable() {
            CONNECTION_LOST.with(|c| c.set(true));
        }
        err
    }
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        DbError::Unavailable(one_line(&e.to_string()))
    }
}

/// A database client's message as one line: libpq's indented hints ("Is the server
/// running on that host…?") left out, its lines joined, any URL in it redacted (libpq
/// quotes a malformed connection URI whole, password included).
pub fn one_line(message: &str) -> String {
    let text = message
        .lines()
        .filter(|l| !l.starts_with(['\t', ' ']) && !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    crate::telemetry::redact::urls_in(&text)
}

impl DbError {
    /// Whether the error means "the database is not there right now" rather than a bug:
    /// callers answer 503 for these.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            DbError::Unavailable(_) => true,
            DbError::Query(Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )) => true,
            DbError::Query(Error::DatabaseError(_, info)) => {
                let m = info.message();
                m.contains("database is locked")
                    || m.contains("canceling statement due to statement timeout")
                    || m.contains("terminating connection")
                    || m.contains("server closed the connection")
                    || m.contains("no connection to the server")
                    || m.contains("could not receive data from server")
                    || m.contains("SSL SYSCALL error")
                    || m.contains("the database system is shutting down")
                    || m.contains("the database system is starting up")
            }
            DbError::Query(Error::BrokenTransactionManager) => true,
            _ => false,
        }
    }
}

/// Whether a transaction is open on `conn` (what it writes is not committed yet). A
/// broken transaction manager counts as open: its writes will not commit.
pub fn in_transaction(conn: &mut DbConnection) -> bool {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let status = match conn {
        DbConnection::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
        DbConnection::Pg(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
    };
    !matches!(status.transaction_depth(), Ok(None))
}

/// Applies every pending migration of the connection's backend. Returns how many ran.
///
/// On PostgreSQL a session advisory lock keeps replicas that start together from
/// migrating at the same time; on SQLite the migration's own write transaction does.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, DbError> {
    use diesel::RunQueryDsl;
    let err = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    match conn {
        // One transaction holding SQLite's write lock from its start, so a second
        // process migrating at the same moment waits, then finds nothing pending.
        DbConnection::Sqlite(c) => c.immediate_transaction(|c| {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.len())
                .map_err(err)
        }),
        DbConnection::Pg(c) => {
            diesel::sql_query(format!(
                "SELECT pg_advisory_lock({})",
                lock::MIGRATION_LOCK_ID
            ))
            .execute(c)?;
            let ran = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len())
                .map_err(err);
            diesel::sql_query(format!(
                "SELECT pg_advisory_unlock({})",
                lock::MIGRATION_LOCK_ID
            ))
            .execute(c)?;
            ran
        }
    }
}

/// A migrated SQLite database in memory, for unit tests of the layers above.
#[cfg(test)]
pub fn memory_connection() -> DbConnection {
    use diesel::Connection;
    let sqlite = diesel::SqliteConnection::establish(":memory:").expect("sqlite in memory");
    let mut conn = DbConnection::Sqlite(sqlite);
    run_migrations(&mut conn).expect("migrations");
    conn
}
