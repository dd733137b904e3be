//! A fresh database per test (SQLite file or a new PostgreSQL database) and direct
//! row counts for storage assertions.

use diesel::{Connection, PgConnection, RunQueryDsl};

/// A fresh database for one test, dropped afterwards.
pub enum TestDb {
    /// A SQLite file in a temporary directory.
    Sqlite { dir: tempfile::TempDir },
    /// A new PostgreSQL database, named at random.
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// SQLite by default; PostgreSQL when `TESSERA_TEST_POSTGRES_URL` is set.
    pub fn new() -> TestDb {
        match std::env::var("TESSERA_TEST_POSTGRES_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin_url)
                    .expect("connect to TESSERA_TEST_POSTGRES_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create test database");
                TestDb::Postgres { admin_url, name }
            }
            _ => TestDb::Sqlite {
                dir: tempfile::tempdir().expect("temp dir"),
            },
        }
    }

    /// The `database_url` for tessera.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => dir.path().join("tessera.db").display().to_string(),
            TestDb::Postgres { admin_url, name } => {
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(admin_url);
                format!("{base}/{name}")
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            if let Ok(mut conn) = PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

/// Runs a `SELECT COUNT(*) AS n …` straight against `db`.
pub fn count_sql(db: &TestDb, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let rows: Vec<Count> = match db {
        TestDb::Sqlite { .. } => {
            let mut c = diesel::SqliteConnection::establish(&db.url()).expect("sqlite");
            diesel::sql_query(sql).load(&mut c).expect("count")
        }
        TestDb::Postgres { .. } => {
            let mut c = PgConnection::establish(&db.url()).expect("postgres");
            diesel::sql_query(sql).load(&mut c).expect("count")
        }
    };
    rows[0].n
}

/// Runs one statement straight against `db` (a row written by hand, or by an older
/// version); returns the rows it changed.
pub fn exec_sql(db: &TestDb, sql: &str) -> usize {
    match db {
        TestDb::Sqlite { .. } => {
            let mut c = diesel::SqliteConnection::establish(&db.url()).expect("sqlite");
            diesel::sql_query(sql).execute(&mut c).expect("statement")
        }
        TestDb::Postgres { .. } => {
            let mut c = PgConnection::establish(&db.url()).expect("postgres");
            diesel::sql_query(sql).execute(&mut c).expect("statement")
        }
    }
}
