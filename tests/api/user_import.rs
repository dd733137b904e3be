//! `tessera user import --django`: records of `manage.py dumpdata auth.user` become
//! users that log in with their Django passwords once, then with argon2id; bad files
//! are one line and write nothing. (tests/api/django.rs does the same with a real
//! Django project.)

use crate::helpers::{
    count_sql, run_cli, run_cli_env, spawn_app, spawn_app_on, spawn_simplejwt_app, Answer,
    CliOutput, TestApp,
};
use serde_json::{json, Value};

/// Hashes made by Django 5.2's hashers for the password "correct horse" (low costs).
const PBKDF2_SHA256: &str =
    "pbkdf2_sha256$1000$s4ltS4ltS4lt$MOC6kSgAqd5PM42Euf5a66Qa5IxL2qZ0WULZ8snT7Oc=";
const PBKDF2_SHA1: &str = "pbkdf2_sha1$1000$s4ltS4ltS4lt$Ibqk77RN7DlW9AwX0LRGGlTyGCc=";
const ARGON2: &str =
    "argon2$argon2id$v=19$m=1024,t=1,p=2$czRsdFM0bHRTNGx0$WYNheDf/0B+eBm+BR8RXIC5u23mcSymDncxkRE08trs";
const BCRYPT_SHA256: &str =
    "bcrypt_sha256$$2b$04$LMLc9Zay0gaFS3fzRr8wpe7ZfFEWlL1iFc3cLsBG76O7UTml5oj9S";
const PASSWORD: &str = "correct horse";

/// One dumpdata record.
fn user(pk: u64, username: &str, password: &str, active: bool) -> Value {
    json!({
        "model": "auth.user",
        "pk": pk,
        "fields": {
            "password": password,
            "last_login": null,
            "is_superuser": false,
            "username": username,
            "first_name": "",
            "last_name": "",
            "email": format!("{username}@example.com"),
            "is_staff": false,
            "is_active": active,
            "date_joined": "2025-01-01T00:00:00Z",
            "groups": [],
            "user_permissions": []
        }
    })
}

/// Runs `user import --django` on `content` with `extra` flags.
async fn import_bytes(app: &TestApp, content: &[u8], extra: &[&str]) -> CliOutput {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("users.json");
    std::fs::write(&path, content).expect("write dump");
    let path = path.display().to_string();
    let mut args = vec!["user", "import", "--django", path.as_str()];
    args.extend_from_slice(extra);
    run_cli(&app.db, &args, None).await
}

async fn import(app: &TestApp, records: &Value, extra: &[&str]) -> CliOutput {
    import_bytes(app, records.to_string().as_bytes(), extra).await
}

async fn show(app: &TestApp, username: &str) -> Value {
    let out = app.cli(&["user", "show", username]).await;
    assert!(out.success, "{}", out.stderr);
    out.json()
}

async fn login(app: &TestApp, username: &str, password: &str) -> Answer {
    app.post_json(
        "/api/token/",
        &json!({"username": username, "password": password}),
        None,
    )
    .await
}

fn summary(out: &CliOutput) -> Value {
    assert!(out.success, "import failed: {}", out.stderr);
    out.json()
}

#[tokio::test]
async fn each_django_hash_logs_in_once_then_is_argon2id() {
    let (app, _) = spawn_simplejwt_app(&[], |_| {}).await;
    let records = json!([
        user(1, "Alice", PBKDF2_SHA256, true),
        user(2, "bob", PBKDF2_SHA1, true),
        user(3, "carol", ARGON2, true),
        user(4, "dave", BCRYPT_SHA256, true),
    ]);
    let out = import(&app, &records, &[]).await;
    assert_eq!(
        summary(&out),
        json!({"imported": 4, "updated": 0, "skipped": 0, "unsupported": [], "dry_run": false})
    );
    let schemes = [
        ("alice", "django_pbkdf2_sha256", "1"),
        ("bob", "django_pbkdf2_sha1", "2"),
        ("carol", "django_argon2", "3"),
        ("dave", "django_bcrypt_sha256", "4"),
    ];
    for (name, scheme, pk) in schemes {
        let shown = show(&app, name).await;
        assert_eq!(shown["password_scheme"], scheme, "{name}");
        assert_eq!(shown["external_id"], pk, "{name}");
        assert!(shown.get("password_hash").is_none(), "never shown");

        let wrong = login(&app, name, "correct horsE").await;
        assert_eq!(wrong.status, 401, "{name}: a wrong password fails");
        assert_eq!(
            show(&app, name).await["password_scheme"],
            scheme,
            "unchanged"
        );

        let ok = login(&app, name, PASSWORD).await;
        assert_eq!(ok.status, 200, "{name}: {}", ok.body);
        let claims = app
            .verify(ok.body["access"].as_str().expect("access"))
            .await
            .1;
        assert_eq!(claims["user_id"], json!(pk.parse::<u64>().expect("pk")));
        assert_eq!(
            show(&app, name).await["password_scheme"],
            "argon2id",
            "{name}"
        );
        let stored = count_sql(
            &app.db,
            &format!(
                "SELECT COUNT(*) AS n FROM users WHERE username = '{name}' \
                 AND password_hash LIKE '$argon2id$v=19$m=19456,t=2,p=1$%'"
            ),
        );
        assert_eq!(stored, 1, "{name}: stored with the configured cost");
        let again = login(&app, name, PASSWORD).await;
        assert_eq!(again.status, 200, "{name}: the argon2id hash verifies");
        let refreshed = app
            .post_json(
                "/api/token/refresh/",
                &json!({"refresh": ok.body["refresh"]}),
                None,
            )
            .await;
        assert_eq!(refreshed.status, 200, "the upgrade ends no session");
    }
}

#[tokio::test]
async fn unusable_unknown_and_inactive_users_cannot_log_in() {
    let (app, _) = spawn_simplejwt_app(&[], |_| {}).await;
    let records = json!([
        user(7, "erin", "!RDVGl8KICwHOK5OsQTDDkMskCZ2V0VNvl9E9eNL8", true),
        user(8, "frank", PBKDF2_SHA256, false),
        user(
            9,
            "grace",
            "md5$s4lt$0b2fdd1b3a6fc39bb3b9e4a2f36e7d1d",
            true
        ),
        user(10, "heidi", "", true),
    ]);
    let out = summary(&import(&app, &records, &[]).await);
    assert_eq!(out["imported"], 4);
    assert_eq!(out["unsupported"], json!(["grace", "heidi"]));
    for name in ["erin", "grace", "heidi"] {
        assert_eq!(show(&app, name).await["password_scheme"], "unusable");
    }
    assert_eq!(show(&app, "frank").await["disabled"], true);
    for (name, pw) in [
        ("erin", "x"),
        ("frank", PASSWORD),
        ("grace", "x"),
        ("heidi", "x"),
    ] {
        let no = login(&app, name, pw).await;
        assert_eq!(no.status, 401, "{name}");
        assert_eq!(
            no.body,
            json!({"detail": "No active account found with the given credentials"})
        );
    }
    // set-password gives an unusable user a password.
    let set = run_cli(
        &app.db,
        &["user", "set-password", "erin"],
        Some("new password\n"),
    )
    .await;
    assert!(set.success, "{}", set.stderr);
    assert_eq!(login(&app, "erin", "new password").await.status, 200);
}

#[tokio::test]
async fn dry_run_writes_nothing_and_a_second_import_skips_or_updates() {
    let app = spawn_app().await;
    let records = json!([
        user(1, "alice", PBKDF2_SHA256, true),
        user(2, "bob", PBKDF2_SHA1, true)
    ]);
    let dry = summary(&import(&app, &records, &["--dry-run"]).await);
    assert_eq!(
        (&dry["imported"], &dry["dry_run"]),
        (&json!(2), &json!(true))
    );
    assert_eq!(app.count_rows("users"), 0);
    let audit_before = app.count_rows("audit_log");

    summary(&import(&app, &records, &[]).await);
    assert_eq!(app.count_rows("users"), 2);
    assert!(
        app.count_rows("audit_log") > audit_before,
        "the import is audited"
    );

    let again = summary(&import(&app, &records, &[]).await);
    assert_eq!(
        (&again["imported"], &again["skipped"]),
        (&json!(0), &json!(2))
    );

    let changed = json!([
        user(1, "alice", ARGON2, false),
        user(2, "bob", PBKDF2_SHA1, true)
    ]);
    let updated = summary(&import(&app, &changed, &["--update"]).await);
    assert_eq!(
        (&updated["updated"], &updated["skipped"]),
        (&json!(2), &json!(0))
    );
    let alice = show(&app, "alice").await;
    assert_eq!(alice["password_scheme"], "django_argon2");
    assert_eq!(alice["disabled"], true);
}

#[tokio::test]
async fn identity_clashes_are_refused_not_merged() {
    let app = spawn_app().await;
    let out = run_cli(
        &app.db,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--external-id",
            "99",
        ],
        Some("pw one\n"),
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    let dup = run_cli(
        &app.db,
        &[
            "user",
            "create",
            "--username",
            "other",
            "--external-id",
            "99",
        ],
        Some("pw one\n"),
    )
    .await;
    assert!(!dup.success);
    assert!(
        dup.stderr.contains("external id \"99\" already belongs"),
        "{}",
        dup.stderr
    );

    // alice is pk 99 in tessera, the file says pk 1.
    let out = import(
        &app,
        &json!([user(1, "alice", PBKDF2_SHA256, true)]),
        &["--update"],
    )
    .await;
    assert!(!out.success);
    assert!(out.stderr.contains("external id \"99\""), "{}", out.stderr);
    // pk 99 belongs to alice, the file gives it to bob.
    let out = import(&app, &json!([user(99, "bob", PBKDF2_SHA256, true)]), &[]).await;
    assert!(!out.success);
    assert!(out.stderr.contains("pk 99"), "{}", out.stderr);
    assert_eq!(app.count_rows("users"), 1);
}

#[tokio::test]
async fn bad_files_are_one_line_and_write_nothing() {
    let app = spawn_app().await;
    let good = user(1, "alice", PBKDF2_SHA256, true);
    let mut missing = user(2, "bob", PBKDF2_SHA256, true);
    missing["fields"]
        .as_object_mut()
        .expect("fields")
        .remove("password");
    let mut wrong_type = user(2, "bob", PBKDF2_SHA256, true);
    wrong_type["fields"]["is_active"] = json!("yes");
    let mut string_pk = user(2, "bob", PBKDF2_SHA256, true);
    string_pk["pk"] = json!("2");
    let group = json!({"model": "auth.group", "pk": 1, "fields": {"name": "staff"}});
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "another model",
            json!([good, group]).to_string().into(),
            "auth.group",
        ),
        (
            "a missing field",
            json!([good, missing]).to_string().into(),
            "fields.password is missing",
        ),
        (
            "a wrong type",
            json!([good, wrong_type]).to_string().into(),
            "is_active",
        ),
        (
            "a string pk",
            json!([good, string_pk]).to_string().into(),
            "pk",
        ),
        (
            "usernames that clash once normalised",
            json!([good, user(2, "ALICE", PBKDF2_SHA1, true)])
                .to_string()
                .into(),
            "both have the username \"alice\"",
        ),
        (
            "a duplicate pk",
            json!([good, user(1, "bob", PBKDF2_SHA1, true)])
                .to_string()
                .into(),
            "same pk 1",
        ),
        (
            "a username tessera cannot hold",
            json!([good, user(2, "two words", PBKDF2_SHA1, true)])
                .to_string()
                .into(),
            "white space",
        ),
        (
            "not a list",
            json!({"model": "auth.user"}).to_string().into(),
            "JSON list",
        ),
        (
            "not JSON",
            b"<html>dumpdata</html>".to_vec(),
            "not a JSON file",
        ),
        (
            "a 10 MB username",
            json!([good, user(2, &"x".repeat(10 << 20), PBKDF2_SHA1, true)])
                .to_string()
                .into(),
            "longer than 150",
        ),
        ("10 MB of junk", vec![b'['; 10 << 20], "not a JSON file"),
    ];
    for (what, content, expect) in cases {
        let out = import_bytes(&app, &content, &[]).await;
        assert!(!out.success, "{what}: accepted");
        assert_eq!(out.code, Some(1), "{what}");
        assert!(out.stdout.is_empty(), "{what}: {}", out.stdout);
        let line = out.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{what}: one line, got {line:?}");
        assert!(line.len() < 400, "{what}: the line stays short");
        assert!(line.contains(expect), "{what}: {line}");
        assert_eq!(app.count_rows("users"), 0, "{what}: nothing written");
    }
}

#[tokio::test]
async fn argon2id_hashes_below_the_configured_cost_are_upgraded_at_login() {
    let weak = |c: &mut tessera::config::ConfigArgs| {
        c.argon2_memory_kib = Some(1024);
        c.argon2_iterations = Some(1);
    };
    let (app, client) = spawn_simplejwt_app(&[], weak).await;
    let out = run_cli_env(
        &app.db,
        &["user", "create", "--username", "ivan"],
        Some("ivan's password\n"),
        &[
            ("TESSERA_ARGON2_MEMORY_KIB", "1024"),
            ("TESSERA_ARGON2_ITERATIONS", "1"),
        ],
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    let low = "SELECT COUNT(*) AS n FROM users WHERE password_hash LIKE '$argon2id$v=19$m=1024,t=1,p=1$%'";
    assert_eq!(count_sql(&app.db, low), 1);

    // The same cost configured: nothing to upgrade.
    assert_eq!(login(&app, "ivan", "ivan's password").await.status, 200);
    assert_eq!(count_sql(&app.db, low), 1);

    // A server configured for more: the next login stores the higher cost.
    let db = app.stop().await;
    let app = spawn_app_on(db, |c| {
        c.simplejwt_client = Some(client.id.clone());
        c.argon2_memory_kib = Some(2048);
        c.argon2_iterations = Some(2);
    })
    .await;
    assert_eq!(login(&app, "ivan", "ivan's password").await.status, 200);
    assert_eq!(count_sql(&app.db, low), 0);
    let high = "SELECT COUNT(*) AS n FROM users WHERE password_hash LIKE '$argon2id$v=19$m=2048,t=2,p=1$%'";
    assert_eq!(count_sql(&app.db, high), 1);
    assert_eq!(login(&app, "ivan", "ivan's password").await.status, 200);
}

#[tokio::test]
async fn django_hash_logins_are_throttled_like_any_other() {
    let (app, _) = spawn_simplejwt_app(&[], |_| {}).await;
    summary(&import(&app, &json!([user(1, "alice", PBKDF2_SHA256, true)]), &[]).await);
    for _ in 0..5 {
        assert_eq!(login(&app, "alice", "wrong").await.status, 401);
    }
    let locked = login(&app, "alice", PASSWORD).await;
    assert_eq!(
        locked.status, 429,
        "locked, the right password included: {}",
        locked.body
    );
    assert!(locked.header("retry-after").is_some());
    assert_eq!(
        show(&app, "alice").await["password_scheme"],
        "django_pbkdf2_sha256",
        "no hash work, no upgrade while locked"
    );
}
