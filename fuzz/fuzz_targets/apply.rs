//! `tessera apply FILE`: the TOML file of `[[issuer]]` and `[[client]]` tables, applied
//! to a fresh SQLite database with every migration.
//!
//! Input: the file's text. Asserts: a dry run writes nothing; a dry run and a real run
//! agree on refusing; a refused file writes nothing (every table's row count) and its
//! error is one line naming `fuzz.toml`; a file applied once and again changes nothing
//! the second time. Files naming `*_file` keys are skipped (they read other files).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tessera::admin::apply::{apply, ApplyOptions};
use tessera::admin::AdminError;
use tessera_fuzz::{assert_one_line, fresh_db, names_a_file, row_counts, NOW};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if data.len() > 16 * 1024 || names_a_file(text) {
        return;
    }
    let path = Path::new("fuzz.toml");
    let mut conn = fresh_db();
    let empty = row_counts(&mut conn);

    let dry = ApplyOptions {
        dry_run: true,
        allow_http: true,
        ..ApplyOptions::default()
    };
    let dry_result = apply(&mut conn, path, text, dry, NOW);
    assert_eq!(row_counts(&mut conn), empty, "a dry run wrote");

    let real = ApplyOptions {
        dry_run: false,
        ..dry
    };
    let report = match apply(&mut conn, path, text, real, NOW) {
        Ok(report) => report,
        Err(e) => {
            assert!(
                dry_result.is_err(),
                "the dry run accepted what the run refused: {e}"
            );
            assert_eq!(row_counts(&mut conn), empty, "a refused file wrote: {e}");
            assert_one_line("apply", &e.to_string());
            if let AdminError::Invalid(m) = &e {
                assert!(
                    m.starts_with("fuzz.toml"),
                    "the error does not name the file: {m}"
                );
            }
            return;
        }
    };
    assert!(
        dry_result.is_ok(),
        "the dry run refused what the run accepted"
    );
    let once = row_counts(&mut conn);
    let again = apply(&mut conn, path, text, real, NOW + 1).expect("a file applied applies again");
    assert_eq!(
        row_counts(&mut conn),
        once,
        "applying the same file again wrote"
    );
    assert!(
        again.changes.iter().all(|c| c.action == "unchanged"),
        "applying the same file again changed {:?} (first {:?})",
        again.changes,
        report.changes
    );
});
