//! The SQLite and PostgreSQL migration trees must mean the same schema: same
//! migrations, same tables, same columns (compared on live databases).

use crate::helpers::{run_cli, TestDb};
use diesel::{Connection, RunQueryDsl};
use std::collections::BTreeSet;

fn migration_names(backend: &str) -> BTreeSet<String> {
    std::fs::read_dir(format!(
        "{}/migrations/{backend}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("migrations dir")
    .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
    .collect()
}

#[derive(diesel::QueryableByName, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

async fn sqlite_columns() -> BTreeSet<(String, String)> {
    let db = TestDb::Sqlite {
        dir: tempfile::tempdir().expect("dir"),
    };
    assert!(run_cli(&db, &["migrate"], None).await.success);
    let mut c = diesel::SqliteConnection::establish(&db.url()).expect("sqlite");
    let cols: Vec<Column> = diesel::sql_query(
        "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, \
         pragma_table_info(m.name) p WHERE m.type = 'table' \
         AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'",
    )
    .load(&mut c)
    .expect("columns");
    cols.into_iter()
        .map(|c| (c.table_name, c.column_name))
        .collect()
}

#[tokio::test]
async fn both_backends_have_the_same_migrations_and_sqlite_has_the_tables() {
    assert_eq!(migration_names("sqlite"), migration_names("postgres"));
    let sqlite = sqlite_columns().await;
    for table in [
        "clients",
        "signing_keys",
        "users",
        "refresh_families",
        "refresh_tokens",
    ] {
        assert!(sqlite.iter().any(|(t, _)| t == table), "{table} exists");
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL (TESSERA_TEST_POSTGRES_URL); .ci/run runs it"]
async fn the_postgres_schema_has_the_same_tables_and_columns_as_sqlite() {
    let sqlite = sqlite_columns().await;
    let db = TestDb::new();
    let TestDb::Postgres { .. } = &db else {
        panic!("this test needs PostgreSQL: set TESSERA_TEST_POSTGRES_URL");
    };
    assert!(run_cli(&db, &["migrate"], None).await.success);
    let mut c = diesel::PgConnection::establish(&db.url()).expect("postgres");
    let cols: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name \
         FROM information_schema.columns WHERE table_schema = 'public' \
         AND table_name <> '__diesel_schema_migrations'",
    )
    .load(&mut c)
    .expect("columns");
    let pg: BTreeSet<(String, String)> = cols
        .into_iter()
        .map(|c| (c.table_name, c.column_name))
        .collect();
    assert_eq!(sqlite, pg);
}
