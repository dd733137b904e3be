//! Shared worker threads survive a bug in one job: the SQLite writer (every write of
//! every request goes through it) and the password-hash pool keep serving, and
//! `/readyz` names a worker that is gone.

use crate::helpers::{spawn_app, test_settings};
use diesel::Connection;
use tessera::db::models::used_jti;
use tessera::db::writer::Writer;
use tessera::db::DbError;

#[tokio::test]
async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
    let app = spawn_app().await;
    // A writer over the server's database, started the way the server starts its own.
    let settings = test_settings(&app.db, |_| {});
    let pool = tessera::startup::pool_for(&settings, false).expect("pool");
    let writer = Writer::start(pool, settings.database.database_url.is_sqlite()).expect("writer");

    // Twenty writes queued at once (on SQLite they commit as groups): one of them opens
    // a transaction, writes, and panics inside it.
    let mut writes = Vec::new();
    for i in 0..20 {
        let w = writer.clone();
        writes.push(tokio::spawn(async move {
            w.run(move |conn| -> Result<bool, DbError> {
                if i == 7 {
                    conn.transaction::<(), diesel::result::Error, _>(|c| {
                        used_jti::claim(c, "written-by-the-panicking-unit", i64::MAX)?;
                        panic!("a bug in one unit of work");
                    })?;
                }
                Ok(used_jti::claim(conn, &format!("write-{i}"), i64::MAX)?)
            })
            .await
        }));
    }
    let mut panicked = 0;
    for (i, w) in writes.into_iter().enumerate() {
        match w.await.expect("task") {
            Ok(fresh) => assert!(fresh, "write {i}"),
            Err(DbError::Panicked(message)) => {
                assert_eq!(i, 7);
                assert!(message.contains("a bug in one unit of work"), "{message}");
                panicked += 1;
            }
            Err(e) => panic!("write {i} failed: {e}"),
        }
    }
    assert_eq!(panicked, 1);
    assert!(writer.liveness().is_alive());
    // The others committed; the panicking unit's own write was rolled back.
    assert_eq!(app.count_rows("used_jtis"), 19);

    // The writer goes on: later writes succeed, one at a time and in a group.
    for i in 20..25 {
        let fresh = writer
            .run(move |conn| -> Result<bool, DbError> {
                Ok(used_jti::claim(conn, &format!("write-{i}"), i64::MAX)?)
            })
            .await
            .expect("a later write");
        assert!(fresh);
    }
    assert_eq!(app.count_rows("used_jtis"), 24);
}

#[tokio::test]
async fn readyz_reports_the_shared_workers() {
    let app = spawn_app().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["workers"], "ok", "{body}");
}
