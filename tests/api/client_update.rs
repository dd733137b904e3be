//! `tessera client update`: an operator changes some attributes of a client and keeps
//! the rest, under the rules and audit of RFC 7592 and apply; the help texts name every
//! grant type.

use crate::helpers::{assert_oauth_error, count_sql, spawn_app, TestApp};
use serde_json::{json, Value};

async fn update(app: &TestApp, id: &str, flags: &[&str]) -> Value {
    let mut args = vec!["client", "update", id];
    args.extend_from_slice(flags);
    let out = app.cli(&args).await;
    assert!(out.success, "{flags:?}: {}", out.stderr);
    out.json()
}

fn updates_audited(app: &TestApp, id: &str) -> i64 {
    count_sql(
        &app.db,
        &format!(
            "SELECT COUNT(*) AS n FROM audit_log WHERE actor = 'cli' \
             AND action = 'client.update' AND target = '{id}'"
        ),
    )
}

#[tokio::test]
async fn client_update_changes_only_the_attributes_given() {
    let app = spawn_app().await;
    let c = app
        .create_client(&[
            "--scope",
            "a b",
            "--audience",
            "https://one",
            "--audience",
            "https://two",
            "--access-token-ttl",
            "60",
            "--refresh-reuse-grace",
            "5",
        ])
        .await;
    let before = c.json.clone();

    // One attribute: the scope; everything else stays, and the token endpoint sees it.
    let after = update(&app, &c.id, &["--scope", "a"]).await;
    assert_eq!(after["scope"], "a");
    for same in [
        "name",
        "grant_types",
        "audiences",
        "access_token_ttl",
        "refresh_reuse_grace",
        "token_endpoint_auth_method",
        "require_dpop",
        "created_at",
    ] {
        assert_eq!(after[same], before[same], "{same} kept");
    }
    let token = app
        .token_basic(&c, "grant_type=client_credentials&resource=https://one")
        .await;
    assert_eq!(token.status, 200, "the secret still works: {}", token.body);
    assert_eq!(token.body["scope"], "a");
    assert_eq!(token.body["expires_in"], 60);

    // A list flag replaces the whole list; another list is left alone.
    let after = update(&app, &c.id, &["--audience", "https://three"]).await;
    assert_eq!(after["audiences"], json!(["https://three"]));
    let after = update(
        &app,
        &c.id,
        &["--resource-uri", "https://api", "--resource-uri", "urn:api"],
    )
    .await;
    assert_eq!(after["resource_uris"], json!(["https://api", "urn:api"]));
    assert_eq!(after["audiences"], json!(["https://three"]));
    let after = update(&app, &c.id, &["--no-audiences"]).await;
    assert_eq!(after["audiences"], json!([]));
    assert_eq!(after["resource_uris"], json!(["https://api", "urn:api"]));
    let after = update(&app, &c.id, &["--no-resource-uris"]).await;
    assert_eq!(after["resource_uris"], json!([]));

    // A lifetime goes back to the server default; the others stay.
    let after = update(
        &app,
        &c.id,
        &[
            "--access-token-ttl",
            "default",
            "--refresh-token-ttl",
            "3600",
        ],
    )
    .await;
    assert!(after.get("access_token_ttl").is_none(), "{after}");
    assert_eq!(after["refresh_token_ttl"], 3600);
    assert_eq!(after["refresh_reuse_grace"], 5);
    let token = app.token_basic(&c, "grant_type=client_credentials").await;
    assert_eq!(token.body["expires_in"], 300, "the server's default");
    let after = update(&app, &c.id, &["--refresh-reuse-grace", "default"]).await;
    assert!(after.get("refresh_reuse_grace").is_none(), "{after}");

    // Grant types, DPoP, name.
    let after = update(
        &app,
        &c.id,
        &["--grant-types", "client_credentials,token-exchange"],
    )
    .await;
    assert_eq!(
        after["grant_types"],
        json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    let after = update(&app, &c.id, &["--require-dpop"]).await;
    assert_eq!(after["require_dpop"], true);
    assert_oauth_error(
        &app.token_basic(&c, "grant_type=client_credentials").await,
        400,
        "invalid_dpop_proof",
    );
    let after = update(&app, &c.id, &["--no-require-dpop", "--name", "renamed"]).await;
    assert_eq!(after["require_dpop"], false);
    assert_eq!(after["name"], "renamed");
    assert_eq!(
        app.cli(&["client", "show", &c.id]).await.json(),
        after,
        "update prints the client as show does"
    );

    // The same auth method is no change; every update is audited.
    update(&app, &c.id, &["--auth-method", "client_secret_basic"]).await;
    assert_eq!(updates_audited(&app, &c.id), 11);
}

#[tokio::test]
async fn client_update_refuses_bad_values_in_one_line_naming_the_flag_and_changes_nothing() {
    let app = spawn_app().await;
    let c = app
        .create_client(&["--scope", "a", "--audience", "https://one"])
        .await;
    let before = app.cli(&["client", "show", &c.id]).await.json();
    let long = format!("urn:{}", "x".repeat(509));
    let many: Vec<String> = (0..51).map(|i| format!("urn:r{i}")).collect();
    let mut too_many = vec![];
    for m in &many {
        too_many.extend(["--audience", m.as_str()]);
    }
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--access-token-ttl", "0"], "--access-token-ttl"),
        (vec!["--access-token-ttl", "soon"], "--access-token-ttl"),
        (vec!["--refresh-token-ttl", "0"], "--refresh-token-ttl"),
        (
            vec!["--refresh-reuse-grace", "301"],
            "--refresh-reuse-grace",
        ),
        (vec!["--audience", "has space"], "--audience"),
        (too_many, "--audience"),
        (vec!["--resource-uri", "tab\there"], "--resource-uri"),
        (vec!["--resource-uri", long.as_str()], "--resource-uri"),
        (vec!["--grant-types", "implicit"], "--grant-types"),
        (vec!["--grant-types", ""], "--grant-types"),
        (vec!["--scope", "bad\"scope"], "--scope"),
        (vec!["--name", ""], "--name"),
        (vec!["--audience", "x", "--no-audiences"], "--no-audiences"),
        (vec!["--require-dpop", "--no-require-dpop"], "require-dpop"),
        (vec!["--auth-method", "private_key_jwt"], "--auth-method"),
        (vec!["--auth-method", "none"], "--auth-method"),
        (vec![], "nothing to change"),
    ];
    for (flags, named) in cases {
        let mut args = vec!["client", "update", c.id.as_str()];
        args.extend_from_slice(&flags);
        let out = app.cli(&args).await;
        let shown: Vec<&str> = flags.iter().take(2).copied().collect();
        assert!(!out.success, "{shown:?} accepted");
        assert!(out.stdout.trim().is_empty(), "{shown:?}: {}", out.stdout);
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "{shown:?}: one line, got {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(named),
            "{shown:?}: names {named}: {}",
            out.stderr
        );
        if shown.first() == Some(&"--auth-method") && !out.stderr.contains("unknown") {
            assert!(
                out.stderr.contains("delete"),
                "says how to change it: {}",
                out.stderr
            );
        }
    }
    let unknown = app
        .cli(&["client", "update", "no-such-client", "--scope", "a"])
        .await;
    assert!(!unknown.success);
    assert_eq!(
        unknown.stderr.trim().lines().count(),
        1,
        "{}",
        unknown.stderr
    );
    assert!(unknown.stderr.contains("not found"), "{}", unknown.stderr);

    assert_eq!(
        app.cli(&["client", "show", &c.id]).await.json(),
        before,
        "nothing changed"
    );
    assert_eq!(updates_audited(&app, &c.id), 0);
}

#[tokio::test]
async fn client_create_and_update_help_list_every_grant_type() {
    let app = spawn_app().await;
    // Every grant tessera supports, as operators write them.
    assert_eq!(
        tessera::oauth::GrantType::ALL.len(),
        4,
        "a new grant: list it here"
    );
    for cmd in ["create", "update"] {
        let out = app.cli(&["client", cmd, "--help"]).await;
        assert!(out.success, "{cmd}: {}", out.stderr);
        for grant in [
            "client_credentials",
            "password",
            "refresh_token",
            "token-exchange",
        ] {
            assert!(out.stdout.contains(grant), "{cmd} --help lacks {grant}");
        }
        assert!(out.stdout.contains("--resource-uri"), "{cmd}");
    }
    let out = app.cli(&["client", "update", "--help"]).await;
    for documented in ["--no-audiences", "--no-resource-uris", "default"] {
        assert!(out.stdout.contains(documented), "{documented}");
    }
}

/// Holds a write to `id`'s scope in an open transaction of its own connection until
/// `release` is called, as a second operator's command (or a replica) mid-commit would.
fn hold_scope_change(app: &TestApp, id: &str, scope: &str) -> impl FnOnce() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let sql = format!("UPDATE clients SET scope = '{scope}' WHERE client_id = '{id}'");
    let (held, wait_held) = std::sync::mpsc::channel();
    let (release, wait_release) = std::sync::mpsc::channel::<()>();
    let url = app.db.url();
    let postgres = matches!(app.db, crate::helpers::TestDb::Postgres { .. });
    let holder = std::thread::spawn(move || {
        let run = |begin: &str, c: &mut dyn SimpleConnection| {
            c.batch_execute(&format!("{begin}; {sql}"))
                .expect("held write");
            held.send(()).expect("held");
            wait_release.recv().expect("release");
            c.batch_execute("COMMIT").expect("commit");
        };
        if postgres {
            run(
                "BEGIN",
                &mut diesel::PgConnection::establish(&url).expect("pg"),
            );
        } else {
            let c = &mut diesel::SqliteConnection::establish(&url).expect("sqlite");
            run("BEGIN IMMEDIATE", c);
        }
    });
    wait_held.recv().expect("the write is held");
    move || {
        release.send(()).expect("release");
        holder.join().expect("holder thread");
    }
}

#[tokio::test]
async fn an_update_never_writes_back_what_a_concurrent_change_replaced() {
    let app = spawn_app().await;
    let c = app.create_client(&["--scope", "a"]).await;

    // Another change to the client is mid-commit when the operator's update starts.
    let release = hold_scope_change(&app, &c.id, "a b");
    let (updated, ()) = tokio::join!(
        async {
            app.cli(&["client", "update", &c.id, "--name", "renamed"])
                .await
        },
        async {
            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
            tokio::task::spawn_blocking(release)
                .await
                .expect("released");
        }
    );
    assert!(updated.success, "update: {}", updated.stderr);

    // The update waited for the other change and kept it, instead of writing the scope
    // it had read before that change back over it.
    let shown = app.cli(&["client", "show", &c.id]).await.json();
    assert_eq!(shown["name"], "renamed");
    assert_eq!(
        shown["scope"], "a b",
        "the concurrent scope change was undone"
    );
}
