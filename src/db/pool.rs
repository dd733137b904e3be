//! The r2d2 pool: which backend a URL names, and how a fresh connection is prepared.

use super::{DbConnection, DbError};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::Connection;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A pool of connections to one database.
pub type DbPool = Pool<Manager>;
/// A connection taken from the pool.
pub type PooledConn = PooledConnection<Manager>;

/// A parsed `database_url`: a SQLite file or a PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// A SQLite database file (created with its parent directory if missing).
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

/// Refuses a `postgres://` URL whose user name or password holds `@`, `/`, `?` or `#`
/// unencoded: libpq would split it there (taking part of the password for the host,
/// and quoting it in its error), so it must be percent-encoded. `rest` is the URL after
/// `://`. Nothing of it is quoted.
fn check_userinfo(rest: &str) -> Result<(), String> {
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end).unwrap_or(rest);
    // Several '@' before the host: an '@' inside the user name or password.
    let several_at = authority.matches('@').count() > 1;
    // No '@' before the first '/', '?' or '#' but one after it, while what comes before
    // reads `user:password` rather than `host:port`: the password was cut short.
    let cut_short = !authority.contains('@')
        && rest.get(authority_end..).is_some_and(|t| t.contains('@'))
        && authority
            .split_once(':')
            .is_some_and(|(_, port)| !port.bytes().all(|b| b.is_ascii_digit()));
    if several_at || cut_short {
        return Err(
            "has a user name or password holding @, /, ? or # unencoded: \
             percent-encode them (%40, %2F, %3F, %23)"
                .into(),
        );
    }
    Ok(())
}

impl DbUrl {
    /// Reads `postgres://…`, `postgresql://…`, `sqlite://PATH`, `sqlite:PATH` or a plain path.
    pub fn parse(url: &str) -> Result<DbUrl, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("is empty: give a SQLite path or a postgres:// URL".into());
        }
        if let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        {
            check_userinfo(rest)?;
            return Ok(DbUrl::Postgres(url.to_string()));
        }
        // libpq's `key=value` form would be taken for a file name and echoed, password
        // and all; it is refused without quoting it.
        if url.contains('=') && url.contains(char::is_whitespace) {
            return Err("is a key=value connection string: give a postgres:// URL \
                 (with the password percent-encoded)"
                .into());
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path.contains("://") {
            return Err(format!(
                "{:?} is neither a SQLite path nor a postgres:// URL",
                crate::telemetry::redact::url(url)
            ));
        }
        Ok(DbUrl::Sqlite(PathBuf::from(path)))
    }

    /// The URL with any password replaced, fit for logs and error messages
    /// (`telemetry::redact::url`: the userinfo's password and libpq's secret
    /// parameters such as `password`, `sslpassword`, `sslkey`).
    pub fn redacted(&self) -> String {
        match self {
            DbUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DbUrl::Postgres(u) => crate::telemetry::redact::url(u),
        }
    }

    /// Whether this names the embedded SQLite backend.
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DbUrl::Sqlite(_))
    }
}

/// Pool settings taken from the configuration.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Maximum connections in the pool.
    pub max_size: u32,
    /// How long a caller waits for a connection before the database counts as unavailable.
    pub connect_timeout: Duration,
    /// PostgreSQL `statement_timeout` per connection; SQLite's `busy_timeout`.
    pub statement_timeout: Duration,
    /// Whether a missing SQLite file is created (`serve`, `migrate`) or refused.
    pub create_sqlite: bool,
    /// Whether failed connection attempts are logged as they happen (a server, which
    /// keeps running through an outage); a command reports the failure once, as its
    /// error, instead.
    pub log_failures: bool,
}

/// Opens connections for the pool: the right backend for the URL, with its settings.
#[derive(Debug, Clone)]
pub struct Manager {
    url: DbUrl,
    statement_timeout: Duration,
    connect_timeout: Duration,
}

/// Adds libpq's `connect_timeout` (and TCP keepalives, so a silently dead server is
/// noticed) unless the URL sets them: establishing a connection to an unreachable
/// server must fail within the configured time, not hang.
fn with_connect_timeout(url: &str, timeout: Duration) -> String {
    let mut out = url.to_string();
    let mut add = |key: &str, value: String| {
        if !url.contains(&format!("{key}=")) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{key}={value}"));
        }
    };
    add("connect_timeout", timeout.as_secs().max(1).to_string());
    add("keepalives_idle", "10".into());
    add("keepalives_interval", "5".into());
    add("keepalives_count", "2".into());
    out
}

impl Manager {
    fn establish(&self) -> Result<DbConnection, diesel::ConnectionError> {
        let ms = self.statement_timeout.as_millis();
        match &self.url {
            DbUrl::Sqlite(path) => {
                let mut c = diesel::SqliteConnection::establish(&path.to_string_lossy())?;
                c.batch_execute(&format!(
                    "PRAGMA busy_timeout = {ms}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA mmap_size = 268435456; PRAGMA wal_autocheckpoint = 0;"
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(c))
            }
            DbUrl::Postgres(url) => {
                let mut c = diesel::PgConnection::establish(&with_connect_timeout(
                    url,
                    self.connect_timeout,
                ))?;
                c.batch_execute(&format!(
                    "SET statement_timeout = {ms}; SET TIME ZONE 'UTC';"
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Pg(c))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        self.establish()
            .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        // A connection whose last query found the server gone is not reused: the pool
        // opens a fresh one, so service resumes by itself once the database is back.
        super::take_connection_lost() || std::thread::panicking() || conn.is_broken()
    }
}

/// Builds the pool. A missing SQLite file is created when `opts.create_sqlite` (new
/// directories 0700, the file 0600: it holds the signing keys) and refused otherwise.
/// The pool is built lazily (no connection is required up front) so a server can
/// start, report not-ready and recover while its database is briefly away.
pub fn build_pool(url: &DbUrl, opts: &PoolOptions) -> Result<DbPool, DbError> {
    if let DbUrl::Sqlite(path) = url {
        if !path.exists() {
            if !opts.create_sqlite {
                return Err(DbError::Missing(format!(
                    "no database at {} (check --database-url; `tessera migrate` or `tessera serve` creates one)",
                    path.display()
                )));
            }
            create_sqlite_file(path)?;
        }
    }
    let errors: Box<dyn diesel::r2d2::HandleError<diesel::r2d2::Error>> = if opts.log_failures {
        Box::new(PoolErrorLogger::default())
    } else {
        Box::new(diesel::r2d2::NopErrorHandler)
    };
    let manager = Manager {
        url: url.clone(),
        statement_timeout: opts.statement_timeout,
        connect_timeout: opts.connect_timeout,
    };
    Ok(Pool::builder()
        .max_size(opts.max_size)
        .min_idle(Some(1))
        .connection_timeout(opts.connect_timeout)
        // No round trip per checkout: a connection that fails with "server gone" is
        // discarded on return instead (see `has_broken`).
        .test_on_check_out(false)
        .error_handler(errors)
        .build_unchecked(manager))
}

/// Creates an empty SQLite file readable by its owner only, and any missing parent
/// directories readable by their owner only. SQLite gives its `-wal` and `-shm` files
/// the database file's mode.
fn create_sqlite_file(path: &std::path::Path) -> Result<(), DbError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let cannot = |what: &std::path::Path, e: std::io::Error| {
        DbError::Unavailable(format!("cannot create {}: {e}", what.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| cannot(dir, e))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        // Another process created it meanwhile: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(cannot(path, e)),
    }
}

/// Failed connection attempts are logged at most this often (the pool retries every
/// few hundred milliseconds while the database is away).
const FAILURE_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Logs failed connection attempts: one line each (libpq's hints left out, any URL in
/// the message redacted), at most one per `FAILURE_LOG_INTERVAL` with the count of the
/// others.
#[derive(Debug, Default)]
struct PoolErrorLogger {
    state: Mutex<(Option<std::time::Instant>, u64)>,
}

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for PoolErrorLogger {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, quiet) = &mut *state;
        if last.is_some_and(|t| t.elapsed() < FAILURE_LOG_INTERVAL) {
            *quiet += 1;
            return;
        }
        let more = match std::mem::take(quiet) {
            0 => String::new(),
            n => format!(" ({n} more failed attempt(s) not logged)"),
        };
        *last = Some(std::time::Instant::now());
        log::warn!(
            "database connection failed: {}{more}",
            super::one_line(&error.to_string())
        );
    }
}

/// This process's SQLite writers take turns here, *before* taking a connection.
/// SQLite has one writer at a time. Pooled connections racing for its lock fall into
/// its busy handler (which sleeps 1, 2, 5 … 100 ms between tries, leaving the lock
/// idle), and each write on a different connection makes the next one start with a
/// stale page cache. Queued here, writers get the connection the previous writer just
/// returned (the pool hands out the most recently returned one), warm. Other processes
/// on the same file still meet the busy handler. A process serves one database.
static SQLITE_WRITER: Mutex<()> = Mutex::new(());

/// A connection for a unit of work that writes; on SQLite it holds this process's
/// writer turn until dropped.
pub struct WriteConn {
    conn: PooledConn,
    _turn: Option<MutexGuard<'static, ()>>,
}

impl std::ops::Deref for WriteConn {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// Takes a connection for writing (see `SQLITE_WRITER`). On PostgreSQL the turn is
/// released as soon as the connection is out: there the database orders writers.
pub fn get_for_write(pool: &DbPool) -> Result<WriteConn, DbError> {
    let turn = SQLITE_WRITER.lock().unwrap_or_else(PoisonError::into_inner);
    let conn = get(pool)?;
    let turn = matches!(*conn, DbConnection::Sqlite(_)).then_some(turn);
    Ok(WriteConn { conn, _turn: turn })
}

/// Takes a connection from the pool.
pub fn get(pool: &DbPool) -> Result<PooledConn, DbError> {
    pool.get().map_err(DbError::from)
}

/// Copies SQLite's write-ahead log back into the database file without blocking
/// writers or readers. `serve` runs it in the background every second instead of
/// SQLite's automatic checkpoint, which would run — and fsync — inside whichever request
/// happened to commit the thousandth page, holding the write lock meanwhile.
/// A no-op on PostgreSQL.
pub fn checkpoint(pool: &DbPool) -> Result<(), DbError> {
    let mut conn = get(pool)?;
    if let DbConnection::Sqlite(c) = &mut *conn {
        c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")?;
    }
    Ok(())
}

/// Runs a trivial query on `conn`: is the database answering?
pub fn ping(conn: &mut DbConnection) -> Result<(), DbError> {
    conn.batch_execute("SELECT 1").map_err(DbError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_backend() {
        assert_eq!(
            DbUrl::parse("./data/t.db"),
            Ok(DbUrl::Sqlite("./data/t.db".into()))
        );
        assert_eq!(
            DbUrl::parse("sqlite:///tmp/x.db"),
            Ok(DbUrl::Sqlite("/tmp/x.db".into()))
        );
        assert_eq!(
            DbUrl::parse("sqlite:x.db"),
            Ok(DbUrl::Sqlite("x.db".into()))
        );
        assert!(matches!(
            DbUrl::parse("postgres://u@h/db"),
            Ok(DbUrl::Postgres(_))
        ));
        assert!(DbUrl::parse("mysql://h/db").is_err());
        for bad in [
            "postgres://postgres:p@XQ1@127.0.0.1:1/db",
            "postgres://postgres:pa#XQ4@127.0.0.1:1/db",
            "postgres://postgres:pa?XQ3@127.0.0.1:1/db",
            "postgres://postgres:pa/XQ2@127.0.0.1:1/db",
            "host=127.0.0.1 password=XQ5",
        ] {
            let e = DbUrl::parse(bad).expect_err(bad);
            assert!(!e.contains("XQ"), "{e}");
        }
        for good in [
            "postgres://postgres:p%40ss1@127.0.0.1:1/db",
            "postgres://h:5432/db?application_name=a@b",
            "postgres:///db?host=/var/run/postgresql",
            "postgres://u@h/db",
        ] {
            assert!(DbUrl::parse(good).is_ok(), "{good}");
        }
        assert!(DbUrl::parse("").is_err());
    }

    #[test]
    fn redaction_hides_the_password_only() {
        let u = DbUrl::parse("postgres://app:s3cret@db:5432/tessera").expect("valid");
        assert_eq!(u.redacted(), "postgres://app:***@db:5432/tessera");
        assert!(!format!("{u:?}").contains("s3cret"));
        let u =
            DbUrl::parse("postgres://app@db/t?sslpassword=s3cret&sslmode=require").expect("valid");
        assert_eq!(
            u.redacted(),
            "postgres://app@db/t?sslpassword=***&sslmode=require"
        );
    }
}
