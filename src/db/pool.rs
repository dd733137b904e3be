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

/// Refuses a `postgres://` URL that libpq would read differently from how tessera
/// prints it, so that no error of libpq's quotes part of a password. `rest` is the
/// URL after `://`; nothing of it is quoted.
///
/// - An `@` anywhere but the one ending the user name and password (several, or one
///   after a `/`, `?` or `#`): libpq ends the userinfo at the first `@` and a URL
///   parser at the first `/`, `?` or `#`, each taking part of a password for a host.
/// - A `%` that starts no percent-encoded byte, or encodes NUL: libpq refuses it by
///   quoting the token around it, password and all.
fn check_encoding(rest: &str) -> Result<(), String> {
    let delimiter = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..delimiter).unwrap_or(rest);
    let mut ats = rest.match_indices('@').map(|(i, _)| i);
    let stray_at = match (ats.next(), ats.next()) {
        // One '@' after the authority is a path's or parameter's (`?application_name=
        // a@b`), unless the authority reads `user:password` rather than `host:port`.
        (Some(at), None) => {
            at > delimiter
                && authority
                    .split_once(':')
                    .is_some_and(|(_, port)| !port.bytes().all(|b| b.is_ascii_digit()))
        }
        (Some(_), Some(_)) => true,
        (None, _) => false,
    };
    if stray_at {
        return Err(
            "has an '@' that does not end the user name and password: percent-encode              '@', '/', '?' and '#' in a user name, password or parameter value              (%40, %2F, %3F, %23)"
                .into(),
        );
    }
    let bad_escape = rest.match_indices('%').any(|(i, _)| {
        match rest.get(i..).and_then(|escape| escape.get(1..3)) {
            Some(hex) if hex.bytes().all(|b| b.is_ascii_hexdigit()) => hex == "00",
            _ => true,
        }
    });
    if bad_escape {
        return Err(
            "has a '%' that starts no percent-encoded byte, or encodes NUL: write a              '%' in a password as %25"
                .into(),
        );
    }
    Ok(())
}

/// Whether a plain `database_url` (no `sqlite:` prefix) reads as a libpq keyword
/// setting (`password=…`, `host=db`) rather than a file name: it would be created as
/// a SQLite file of that name, and echoed.
fn looks_like_keyword(path: &str) -> bool {
    path.split_once('=').is_some_and(|(key, _)| {
        !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
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
            check_encoding(rest)?;
            return Ok(DbUrl::Postgres(url.to_string()));
        }
        // libpq's `key=value` form would be taken for a file name and echoed, password
        // and all; it is refused without quoting it.
        if url.contains('=') && url.contains(char::is_whitespace) {
            return Err("is a key=value connection string: give a postgres:// URL \
                 (with the password percent-encoded)"
                .into());
        }
        // `postgres:user:pw@host` (the `//` forgotten) or `password=…` alone would be
        // taken for a file name, created and echoed: refused without quoting them.
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            return Err(
                "is a postgres URL without '//': write postgres://USER:PASSWORD@HOST/DB".into(),
            );
        }
        if looks_like_keyword(url) {
            return Err(
                "is a key=value connection setting: give a postgres:// URL, or \
                 sqlite:PATH for a file name holding '='"
                    .into(),
            );
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
    /// The URL's password and secret parameters, in every form a connection error
    /// might quote them (`telemetry::redact::secrets_of`); masked in every such error.
    secrets: Vec<String>,
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
                let setup = format!(
                    "PRAGMA busy_timeout = {ms}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA mmap_size = 268435456; PRAGMA wal_autocheckpoint = 0;"
                );
                // Switching a new file to WAL needs its exclusive lock. While another
                // connection writes to it (the migrations of a first start), SQLite
                // answers "database is locked" at once instead of waiting under
                // busy_timeout (waiting while holding a read lock could deadlock). The
                // connection waits and tries again within the statement timeout,
                // instead of failing and being logged as a connection failure.
                let started = std::time::Instant::now();
                let mut pause = std::time::Duration::from_millis(2);
                loop {
                    match c.batch_execute(&setup) {
                        Ok(()) => break,
                        Err(e) if is_locked(&e) && started.elapsed() < self.statement_timeout => {
                            std::thread::sleep(pause);
                            pause = pause
                                .saturating_mul(2)
                                .min(std::time::Duration::from_millis(50));
                        }
                        Err(e) => {
                            return Err(diesel::ConnectionError::CouldntSetupConfiguration(e))
                        }
                    }
                }
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

/// Whether SQLite refused a statement because another connection holds its lock.
fn is_locked(e: &diesel::result::Error) -> bool {
    let text = e.to_string();
    text.contains("database is locked") || text.contains("database is busy")
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        self.establish().map_err(|e| {
            use diesel::ConnectionError::{BadConnection, InvalidConnectionUrl};
            let scrubbed = |m: String| crate::telemetry::redact::scrubbed(&m, &self.secrets);
            diesel::r2d2::Error::ConnectionError(match e {
                BadConnection(m) => BadConnection(scrubbed(m)),
                InvalidConnectionUrl(m) => InvalidConnectionUrl(scrubbed(m)),
                other => other,
            })
        })
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
        secrets: match url {
            DbUrl::Postgres(u) => crate::telemetry::redact::secrets_of(u),
            DbUrl::Sqlite(_) => Vec::new(),
        },
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
            *quiet = quiet.saturating_add(1);
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
    fn a_sqlite_connection_opened_while_another_holds_the_lock_waits_instead_of_failing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let manager = Manager {
            url: DbUrl::Sqlite(path.clone()),
            statement_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            secrets: Vec::new(),
        };
        // A fresh file, not yet in WAL mode, being written (as the first start's
        // migrations write it).
        let mut holder =
            diesel::SqliteConnection::establish(&path.to_string_lossy()).expect("open");
        holder
            .batch_execute("CREATE TABLE t (x INTEGER); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .expect("lock");
        let opened = std::thread::spawn(move || manager.establish().map(|_| ()));
        std::thread::sleep(Duration::from_millis(150));
        holder.batch_execute("COMMIT;").expect("unlock");
        assert!(opened.join().expect("thread").is_ok());
    }

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
            // One '@' in the password before a '#', and an '@' in a secret value.
            "postgres://app:Ab@XQ6#XQ7@host/db",
            "postgres://u@h/db?password=XQ8@XQ9",
            // A '%' libpq would refuse by quoting the password around it.
            "postgres://app:Xy7%LqXQ10@h/db",
            "postgres://app:pw%00XQ11@h/db",
            "postgres://app:pw%zzXQ12@h/db",
            "postgres://app:pw%éXQ13@h/db",
            // Taken for file names before: libpq keywords, a URL without '//'.
            "password=XQ14",
            "host=db",
            "postgres:app:XQ15@host/db",
            "postgresql:app:XQ16@host/db",
        ] {
            let e = DbUrl::parse(bad).expect_err(bad);
            assert!(!e.contains("XQ"), "{e}");
        }
        for good in [
            "postgres://postgres:p%40ss1@127.0.0.1:1/db",
            "postgres://h:5432/db?application_name=a@b",
            "postgres:///db?host=/var/run/postgresql",
            "postgres://u@h/db",
            "postgres://app:p%25w%2F%3F%23@h/db?sslmode=disable",
            "sqlite:./odd=name.db",
            "./data/tessera.db",
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
