//! Clients and issuers as code: `tessera apply FILE` plans, idempotence, dry runs,
//! pruning only what apply made, bad files that write nothing, and replicas applying
//! the same file at start.

use crate::helpers::{
    count_sql, run_cli_env, serve_process, spawn_app, CliOutput, TestApp, TestDb,
};
use serde_json::{json, Value};
use std::path::Path;

const SECRET: &str = "a-provided-secret-of-at-least-32-characters";

fn file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

async fn apply(app: &TestApp, path: &str, extra: &[&str]) -> CliOutput {
    let mut args = vec!["apply", path];
    args.extend_from_slice(extra);
    run_cli_env(&app.db, &args, None, &[("BILLING_SECRET", SECRET)]).await
}

fn actions(out: &CliOutput) -> Vec<(String, String, String)> {
    assert!(out.success, "apply failed: {}", out.stderr);
    out.json()["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().expect("field").to_string();
            (s("kind"), s("id"), s("action"))
        })
        .collect()
}

fn plan(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

const FILE: &str = r#"
[[issuer]]
name = "k8s-prod"
issuer = "https://kubernetes.default.svc"
jwks_uri = "https://kubernetes.default.svc/openid/v1/jwks"

[[client]]
client_id = "orders-service"
name = "orders"
scope = "orders:read orders:write"
audiences = ["https://orders.example"]
auth_method = "federated"
issuer = "k8s-prod"
subject = "system:serviceaccount:shop:orders"

[[client]]
client_id = "billing"
scope = "orders:read"
secret_env = "BILLING_SECRET"

[[client]]
client_id = "reports"
scope = "orders:read"
"#;

#[tokio::test]
async fn apply_creates_then_changes_nothing_then_updates_and_prunes() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let path = file(dir.path(), "clients.toml", FILE);
    let hand_made = app.create_client(&["--client-id", "by-hand"]).await;
    assert_eq!(hand_made.id, "by-hand");

    let dry = apply(&app, &path, &["--dry-run"]).await;
    assert_eq!(
        actions(&dry),
        plan(&[
            ("issuer", "k8s-prod", "create"),
            ("client", "orders-service", "create"),
            ("client", "billing", "create"),
            ("client", "reports", "create"),
        ])
    );
    assert_eq!(
        dry.json()["secrets"],
        json!({}),
        "a dry run generates no secret"
    );
    assert_eq!(
        app.count_rows("trusted_issuers"),
        0,
        "a dry run writes nothing"
    );
    let clients_before = app.count_rows("clients");

    let first = apply(&app, &path, &[]).await;
    assert_eq!(actions(&first).len(), 4);
    let secrets = first.json()["secrets"].clone();
    assert_eq!(secrets.as_object().expect("map").len(), 1, "{secrets}");
    let reports_secret = secrets["reports"]
        .as_str()
        .expect("generated once")
        .to_string();
    assert_eq!(app.count_rows("clients"), clients_before + 3);

    // The provided and the generated secret both work; the file's client ids are kept.
    for (id, secret) in [("billing", SECRET), ("reports", reports_secret.as_str())] {
        let res = app
            .http
            .post(format!("{}/oauth/token", app.address))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200, "{id}");
    }

    let again = apply(&app, &path, &[]).await;
    assert!(
        actions(&again).iter().all(|(_, _, a)| a == "unchanged"),
        "{:?}",
        actions(&again)
    );
    assert_eq!(again.json()["secrets"], json!({}), "no secret twice");

    // An edit: one client changes, one goes; --prune deletes only what apply made.
    let edited = FILE
        .replace(
            "scope = \"orders:read orders:write\"",
            "scope = \"orders:read\"",
        )
        .replace(
            "[[client]]\nclient_id = \"reports\"\nscope = \"orders:read\"\n",
            "",
        );
    let path2 = file(dir.path(), "edited.toml", &edited);
    let out = apply(&app, &path2, &["--prune"]).await;
    assert_eq!(
        actions(&out),
        plan(&[
            ("issuer", "k8s-prod", "unchanged"),
            ("client", "orders-service", "update"),
            ("client", "billing", "unchanged"),
            ("client", "reports", "delete"),
        ])
    );
    let shown = app.cli(&["client", "show", "orders-service"]).await.json();
    assert_eq!(shown["scope"], "orders:read");
    assert!(
        app.cli(&["client", "show", "by-hand"]).await.success,
        "hand-made stays"
    );
    assert!(
        app.cli(&["client", "show", &app.admin.id]).await.success,
        "bootstrap admin stays"
    );

    let audit = app.cli(&["audit", "--limit", "50"]).await.json();
    assert!(audit
        .as_array()
        .expect("entries")
        .iter()
        .any(|e| e["actor"] == "apply" && e["action"] == "client.update"));
}

#[tokio::test]
async fn bad_files_name_file_line_and_key_and_write_nothing() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let cases: Vec<(&str, String, &str)> = vec![
        ("syntax", "[[client]\nclient_id = \"a\"\n".into(), ":1:"),
        (
            "unknown key",
            "[[client]]\nclient_id = \"a\"\ncolour = \"red\"\n".into(),
            ":3: unknown field `colour`",
        ),
        (
            "wrong type",
            "[[client]]\nclient_id = \"a\"\nscope = 7\n".into(),
            ":3: scope:",
        ),
        (
            "unknown issuer",
            "[[client]]\nclient_id = \"a\"\nauth_method = \"federated\"\nissuer = \"nope\"\nsubject = \"s\"\n".into(),
            ":4: issuer: no trusted issuer named \"nope\"",
        ),
        (
            "duplicate ids",
            "[[client]]\nclient_id = \"a\"\n\n[[client]]\nclient_id = \"a\"\n".into(),
            ":5: client_id: client \"a\" is named twice",
        ),
        (
            "an invalid value",
            "[[client]]\nclient_id = \"ok\"\n\n[[client]]\nclient_id = \"b\"\naccess_token_ttl = 0\n".into(),
            ":6: access_token_ttl:",
        ),
        (
            "a short secret",
            "[[client]]\nclient_id = \"a\"\nsecret_env = \"SHORT\"\n".into(),
            ":3: secret_env:",
        ),
        ("a bad client id", "[[client]]\nclient_id = \"a b\"\n".into(), ":2: client_id:"),
    ];
    let before = app.count_rows("clients");
    for (what, text, expect) in cases {
        let path = file(dir.path(), "bad.toml", &text);
        let out = run_cli_env(&app.db, &["apply", &path], None, &[("SHORT", "too short")]).await;
        assert!(!out.success, "{what}: applied");
        let line = out.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{what}: {line}");
        assert!(
            line.contains("bad.toml") && line.contains(expect),
            "{what}: {line}"
        );
        assert_eq!(app.count_rows("clients"), before, "{what}: nothing written");
    }
}

#[tokio::test]
async fn replicas_starting_with_the_same_file_end_in_one_state() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("dir");
    let path = file(dir.path(), "clients.toml", FILE);
    let migrate = crate::helpers::run_cli(&db, &["migrate"], None).await;
    assert!(migrate.success, "{}", migrate.stderr);
    let env = [
        ("TESSERA_DATABASE_URL", db.url()),
        ("TESSERA_APPLY", path.clone()),
        ("BILLING_SECRET", SECRET.to_string()),
    ];
    let (a, b) = tokio::join!(
        serve_process(dir.path(), &env),
        serve_process(dir.path(), &env)
    );
    let count = |sql: &str| count_sql(&db, sql);
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM clients WHERE managed_by = 'apply'"),
        3,
        "each client once"
    );
    assert_eq!(count("SELECT COUNT(*) AS n FROM trusted_issuers"), 1);
    let http = reqwest::Client::new();
    for replica in [&a, &b] {
        let res = http
            .post(format!("{}/oauth/token", replica.address))
            .basic_auth("billing", Some(SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        assert!(body["access_token"].is_string());
    }
}

#[tokio::test]
async fn apply_checks_federated_subjects_as_text_and_refuses_a_secret_client_with_a_binding() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let issuer = "[[issuer]]\nname = \"ci\"\nissuer = \"https://ci.example\"\njwks_uri = \"https://ci.example/jwks\"\n\n";
    let client = |extra: &str| format!("{issuer}[[client]]\nclient_id = \"w\"\n{extra}");
    let federated = |subject: &str| {
        client(&format!(
            "auth_method = \"federated\"\nissuer = \"ci\"\nsubject = \"{subject}\"\n"
        ))
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a prefix inside a word",
            federated("repo:acme*"),
            ":10: subject:",
        ),
        ("a non-ASCII prefix", federated("é*"), ":10: subject:"),
        ("a star inside", federated("x*é"), ":10: subject:"),
        (
            "a binding without auth_method",
            client("issuer = \"ci\"\nsubject = \"pipeline:deploy\"\n"),
            ":8: issuer:",
        ),
        (
            "a binding on a secret method",
            client("auth_method = \"client_secret_basic\"\nissuer = \"ci\"\nsubject = \"s\"\n"),
            ":9: issuer:",
        ),
        (
            "a non-ASCII syntax error",
            format!("{issuer}[[client]]\nclient_id = \"w\"\nname = café\n"),
            ":8:",
        ),
    ];
    let before = (app.count_rows("clients"), app.count_rows("trusted_issuers"));
    for (what, text, expect) in cases {
        let path = file(dir.path(), "bad.toml", &text);
        let out = apply(&app, &path, &[]).await;
        assert_eq!(
            out.code,
            Some(1),
            "{what}: exit code (101 is a panic): {}",
            out.stderr
        );
        let line = out.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{what}: {line}");
        assert!(
            line.contains("bad.toml") && line.contains(expect),
            "{what}: {line}"
        );
        assert_eq!(
            (app.count_rows("clients"), app.count_rows("trusted_issuers")),
            before,
            "{what}: nothing written"
        );
    }
    let path = file(dir.path(), "good.toml", &federated("café"));
    let out = apply(&app, &path, &[]).await;
    assert!(out.success, "{}", out.stderr);
    let shown = app.cli(&["client", "show", "w"]).await.json();
    assert_eq!(shown["federated_subject"], "café");
}

/// The `audit:` log lines of a CLI run made with `--log info`.
fn audit_lines(out: &CliOutput) -> Vec<String> {
    out.stderr
        .lines()
        .filter(|l| l.contains("audit:"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn audit_lines_are_logged_only_for_committed_changes() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let path = file(dir.path(), "clients.toml", FILE);
    let info = ["--log", "info"];
    let rows = || app.count_rows("audit_log");

    // A dry run plans changes and commits none: no line, no row.
    let before = rows();
    let dry = apply(&app, &path, &["--dry-run", "--log", "info"]).await;
    assert_eq!(actions(&dry).len(), 4);
    assert_eq!(audit_lines(&dry), Vec::<String>::new(), "{}", dry.stderr);
    assert_eq!(rows(), before);

    // The real apply: one line per change, as the table has it.
    let applied = apply(&app, &path, &info).await;
    assert_eq!(actions(&applied).len(), 4);
    let logged = audit_lines(&applied);
    assert_eq!(logged.len() as i64, rows() - before, "{logged:#?}");
    assert!(
        logged.iter().any(|l| l.contains("target=billing")),
        "{logged:#?}"
    );

    // The same file again changes nothing: no line, no row (nothing updated and undone).
    let before = rows();
    let again = apply(&app, &path, &info).await;
    assert!(actions(&again).iter().all(|(_, _, a)| a == "unchanged"));
    assert_eq!(
        audit_lines(&again),
        Vec::<String>::new(),
        "{}",
        again.stderr
    );
    assert_eq!(rows(), before);

    // An apply that fails half-way rolls back the half it did, and logs none of it.
    let failing = format!(
        "{}\n[[client]]\nclient_id = \"broken\"\naccess_token_ttl = 0\n",
        FILE.replace(
            "orders:read\"\nsecret_env",
            "orders:read orders:write\"\nsecret_env"
        )
    );
    let bad = file(dir.path(), "bad.toml", &failing);
    let out = apply(&app, &bad, &info).await;
    assert!(!out.success);
    assert_eq!(audit_lines(&out), Vec::<String>::new(), "{}", out.stderr);
    assert_eq!(rows(), before);

    // A dry-run import of users logs nothing either; the real one logs its change.
    let users = dir.path().join("users.json");
    std::fs::write(
        &users,
        json!([{"model": "auth.user", "pk": 1, "fields": {
            "username": "ann", "password": "!", "is_active": true}}])
        .to_string(),
    )
    .expect("write");
    let users = users.display().to_string();
    let import = |extra: &'static [&'static str]| {
        let mut args = vec![
            "user",
            "import",
            "--django",
            users.as_str(),
            "--log",
            "info",
        ];
        args.extend_from_slice(extra);
        let db = &app.db;
        async move { run_cli_env(db, &args, None, &[]).await }
    };
    let dry = import(&["--dry-run"]).await;
    assert!(dry.success, "{}", dry.stderr);
    assert_eq!(audit_lines(&dry), Vec::<String>::new(), "{}", dry.stderr);
    assert_eq!(rows(), before);
    let real = import(&[]).await;
    assert!(real.success, "{}", real.stderr);
    assert_eq!(audit_lines(&real).len(), 1, "{}", real.stderr);
    assert_eq!(rows(), before + 1);
}

#[tokio::test]
async fn a_replica_started_with_an_unchanged_file_logs_and_records_no_change() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("dir");
    let path = file(dir.path(), "clients.toml", FILE);
    let env = [
        ("TESSERA_DATABASE_URL", db.url()),
        ("TESSERA_APPLY", path.clone()),
        ("BILLING_SECRET", SECRET.to_string()),
        ("TESSERA_LOG", "info".to_string()),
    ];
    let first = serve_process(dir.path(), &env).await;
    let created = first.log();
    assert!(
        created
            .iter()
            .any(|l| l.contains("audit:") && l.contains("client.create")),
        "{created:#?}"
    );
    let audit = || count_sql(&db, "SELECT COUNT(*) AS n FROM audit_log");
    let before = audit();
    let second = serve_process(dir.path(), &env).await;
    let log = second.log();
    let noise: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("audit:") || l.contains("apply"))
        .collect();
    assert!(
        noise.is_empty(),
        "an unchanged file changes nothing: {noise:#?}"
    );
    assert_eq!(audit(), before, "no audit rows for unchanged clients");
}
