//! Serialising writers across threads, processes and replicas through the database.
//!
//! A `write_transaction` opens a transaction and first takes a named lock:
//! on PostgreSQL a transaction-scoped advisory lock, on SQLite the database's write
//! lock (taken by a first statement that writes, so the transaction never has to
//! upgrade a read snapshot, which SQLite would refuse with `SQLITE_BUSY`).

use super::{DbConnection, DbError};
use diesel::connection::Connection;
use diesel::RunQueryDsl;

/// Advisory lock id used while migrations run on PostgreSQL.
pub const MIGRATION_LOCK_ID: i64 = 0x7465_7373_0001;

/// The things writers serialise on. Each has its own PostgreSQL advisory lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteLock {
    /// Creating the bootstrap admin client on an empty database.
    Bootstrap,
    /// Creating, promoting and retiring signing keys.
    SigningKeys,
    /// `tessera apply` (also at start, on every replica).
    Apply,
    /// Creating the first console operator through a setup link.
    ConsoleSetup,
}

impl WriteLock {
    fn id(self) -> i64 {
        match self {
            WriteLock::Bootstrap => 0x7465_7373_0002,
            WriteLock::SigningKeys => 0x7465_7373_0003,
            WriteLock::Apply => 0x7465_7373_0004,
            WriteLock::ConsoleSetup => 0x7465_7373_0005,
        }
    }
}

/// Runs `f` in one transaction that holds `lock` from its first statement to commit.
pub fn write_transaction<T, F>(conn: &mut DbConnection, lock: WriteLock, f: F) -> Result<T, DbError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, DbError>,
{
    immediate_transaction(conn, |conn| {
        if let DbConnection::Pg(c) = conn {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({})", lock.id())).execute(c)?;
        }
        f(conn)
    })
}

/// Runs `f` in one transaction that may read, then write. On SQLite the write lock is
/// taken first, so the transaction never has to upgrade a stale read snapshot (which
/// SQLite refuses at once with `SQLITE_BUSY` instead of waiting). On PostgreSQL it is a
/// plain transaction: row locks and conditional updates decide races there. Nested in
/// another transaction, it is a savepoint.
pub fn immediate_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    E: From<diesel::result::Error>,
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
{
    conn.transaction(|conn| {
        if let DbConnection::Sqlite(c) = conn {
            // Any write statement takes SQLite's one write lock, waiting under busy_timeout.
            diesel::sql_query("DELETE FROM server_meta WHERE name = '~lock'").execute(c)?;
        }
        f(conn)
    })
}
