//! `tessera user import-django`: Django's `manage.py dumpdata auth.user` JSON, imported
//! into a fresh SQLite database with every migration.
//!
//! Input: the JSON. Asserts: a dry run writes nothing; a refused file writes nothing
//! (every table's row count) and its error is one line; every stored hash is either
//! marked unusable or verifiable within its cost ceiling (the 4 TiB argon2 hash of an
//! outside review never becomes a login's work); a second import of the same file
//! creates no user.
#![no_main]

use diesel::{QueryableByName, RunQueryDsl};
use libfuzzer_sys::fuzz_target;
use tessera::admin::user_import::{import_django, ImportOptions, ModelLabel};
use tessera::db::DbConnection;
use tessera::oauth::hash_ceiling::Argon2Ceiling;
use tessera::oauth::password::{HashParams, StoredHash};
use tessera_fuzz::{assert_one_line, fresh_db, row_counts, NOW};

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = diesel::sql_types::Text)]
    password_hash: String,
}

fn stored_hashes(conn: &mut DbConnection) -> Vec<String> {
    let DbConnection::Sqlite(c) = conn else {
        unreachable!("SQLite")
    };
    diesel::sql_query("SELECT password_hash FROM users")
        .load::<Stored>(c)
        .expect("users")
        .into_iter()
        .map(|s| s.password_hash)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    if data.len() > 64 * 1024 {
        return;
    }
    let options = |dry_run| ImportOptions {
        update: false,
        dry_run,
        hashing: HashParams::default(),
        model: ModelLabel::auth_user(),
    };
    let mut conn = fresh_db();
    let empty = row_counts(&mut conn);
    let dry = import_django(&mut conn, "fuzz", data, options(true), NOW);
    assert_eq!(row_counts(&mut conn), empty, "a dry run wrote");
    let summary = match import_django(&mut conn, "fuzz", data, options(false), NOW) {
        Ok(s) => s,
        Err(e) => {
            assert!(
                dry.is_err(),
                "the dry run accepted what the import refused: {e}"
            );
            assert_eq!(row_counts(&mut conn), empty, "a refused import wrote: {e}");
            return assert_one_line("import", &e.to_string());
        }
    };
    let dry = dry.expect("the dry run refused what the import accepted");
    assert_eq!(
        (dry.imported, dry.skipped),
        (summary.imported, summary.skipped)
    );
    let ceiling = HashParams::default().ceiling();
    for hash in stored_hashes(&mut conn) {
        let stored = StoredHash::parse(&hash, HashParams::default());
        assert!(
            stored.is_usable() || hash.starts_with('!'),
            "a stored hash is neither usable nor marked unusable: {hash:?}"
        );
        let limit = ceiling.memory_kib.max(Argon2Ceiling::IMPORTED.memory_kib);
        assert!(stored.memory_kib() <= limit, "{hash:?} is over the ceiling");
    }
    let again = import_django(&mut conn, "fuzz", data, options(false), NOW + 1)
        .expect("a file imported imports again");
    assert_eq!(again.imported, 0, "a second import created users");
    assert_eq!(again.skipped, summary.imported + summary.skipped);
});
