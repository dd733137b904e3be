//! The `database` section: which database, the pool and its timeouts, how often rows
//! that have ended are deleted and how often usage counts are written.

use super::section::{millis, secs, section};
use crate::db::DbUrl;
use std::time::Duration;

section! {
    /// The database and its connections.
    Database, DatabaseArgs;

    /// SQLite path or sqlite:// URL, or postgres:// URL (set by the global `--database-url`)
    database_url: String = "./data/tessera.db" => DbUrl: |url: String| DbUrl::parse(&url),
        "URL", secret true;
    /// Maximum database connections per process
    db_pool_size: u32 = 10, "N" env "TESSERA_DB_POOL_SIZE",
        check |n| (1..=1000).contains(n), "must be 1 to 1000";
    /// Seconds to wait for a database connection before answering 503
    db_connect_timeout: u64 = 2 => Duration: secs, "SECS" env "TESSERA_DB_CONNECT_TIMEOUT",
        check |t| !t.is_zero(), "must be at least 1 second";
    /// Per-statement timeout, milliseconds (SQLite: busy timeout)
    db_statement_timeout_ms: u64 = 5000 => Duration: millis,
        "MS" env "TESSERA_DB_STATEMENT_TIMEOUT_MS";
    /// How often ended refresh-token families and old login counters are deleted, seconds
    purge_interval: u64 = 600 => Duration: secs, "SECS" env "TESSERA_PURGE_INTERVAL",
        check |t| !t.is_zero(), "must be at least 1 second";
    /// How often each replica writes the token counts it kept in memory, seconds
    usage_flush_interval: u64 = 10 => Duration: secs, "SECS" env "TESSERA_USAGE_FLUSH_INTERVAL",
        check |t| (1..=3600).contains(&t.as_secs()), "must be 1 to 3600 seconds";
}
