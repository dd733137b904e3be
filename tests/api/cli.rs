//! The client CLI: round trips through the real binary, and refusals that write nothing.

use crate::helpers::{assert_oauth_error, spawn_app};

#[tokio::test]
async fn client_commands_round_trip() {
    let app = spawn_app().await;
    let created = app
        .create_client(&[
            "--scope",
            "b a",
            "--grant-types",
            "client_credentials,refresh_token",
            "--audience",
            "api",
        ])
        .await;
    let j = &created.json;
    assert_eq!(j["scope"], "a b");
    assert_eq!(
        j["grant_types"],
        serde_json::json!(["client_credentials", "refresh_token"])
    );
    assert_eq!(j["audiences"], serde_json::json!(["api"]));
    assert_eq!(j["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created.secret.len(), 43, "256-bit URL-safe secret");

    let shown = app.cli(&["client", "show", &created.id]).await;
    assert!(shown.success, "{}", shown.stderr);
    let shown = shown.json();
    assert_eq!(shown["client_id"], created.id.as_str());
    assert!(
        shown.get("client_secret").is_none(),
        "the secret is shown once only"
    );
    assert!(!serde_json::to_string(&shown)
        .unwrap_or_default()
        .contains(&created.secret));

    let list = app.cli(&["client", "list"]).await.json();
    let ids: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["client_id"].as_str())
        .collect();
    assert!(ids.contains(&created.id.as_str()));
    assert!(
        ids.contains(&app.admin.id.as_str()),
        "the bootstrap admin is listed"
    );

    let disabled = app.cli(&["client", "disable", &created.id]).await;
    assert_eq!(disabled.json()["disabled"], true);
    assert_oauth_error(
        &app.token_basic(&created, "grant_type=client_credentials")
            .await,
        401,
        "invalid_client",
    );
    assert_eq!(
        app.cli(&["client", "enable", &created.id]).await.json()["disabled"],
        false
    );
    assert_eq!(
        app.token_basic(&created, "grant_type=client_credentials")
            .await
            .status,
        200
    );

    let rotated = app.cli(&["client", "rotate-secret", &created.id]).await;
    assert!(rotated.success, "{}", rotated.stderr);
    let new_secret = rotated.json()["client_secret"]
        .as_str()
        .expect("new secret")
        .to_string();
    assert_ne!(new_secret, created.secret);
    assert_oauth_error(
        &app.token_basic(&created, "grant_type=client_credentials")
            .await,
        401,
        "invalid_client",
    );
    let mut renewed = created.clone();
    renewed.secret = new_secret;
    assert_eq!(
        app.token_basic(&renewed, "grant_type=client_credentials")
            .await
            .status,
        200
    );

    let deleted = app.cli(&["client", "delete", &created.id]).await;
    assert!(deleted.success, "{}", deleted.stderr);
    assert_oauth_error(
        &app.token_basic(&renewed, "grant_type=client_credentials")
            .await,
        401,
        "invalid_client",
    );
    let gone = app.cli(&["client", "show", &created.id]).await;
    assert!(!gone.success);
    assert!(gone.stderr.contains("not found"), "{}", gone.stderr);
}

#[tokio::test]
async fn bad_cli_input_is_one_line_and_writes_nothing() {
    let app = spawn_app().await;
    let before = app.cli(&["client", "list"]).await.json();
    let cases: &[&[&str]] = &[
        &[
            "client",
            "create",
            "--name",
            "x",
            "--grant-types",
            "implicit",
        ],
        &["client", "create", "--name", "x", "--scope", "bad\"scope"],
        &["client", "create", "--name", "", "--scope", "a"],
        &["client", "create", "--name", "x", "--audience", "has space"],
        &["client", "create", "--name", "x", "--access-token-ttl", "0"],
        &[
            "client",
            "create",
            "--name",
            "x",
            "--access-token-ttl",
            "abc",
        ],
        &["client", "create", "--name", "x", "--auth-method", "none"],
        &[
            "client",
            "create",
            "--name",
            "x",
            "--refresh-reuse-grace",
            "301",
        ],
        &["client", "disable", "no-such-client"],
        &["client", "rotate-secret", "no-such-client"],
        &["client", "delete", "no-such-client"],
    ];
    for args in cases {
        let out = app.cli(args).await;
        assert!(!out.success, "{args:?} should fail");
        assert_ne!(out.code, Some(0));
        assert!(
            out.stdout.trim().is_empty(),
            "{args:?} printed {}",
            out.stdout
        );
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(!lines.is_empty(), "{args:?}: an error is printed");
        if !args.contains(&"abc") {
            assert_eq!(lines.len(), 1, "{args:?}: one line, got {:?}", out.stderr);
        }
    }
    assert_eq!(
        app.cli(&["client", "list"]).await.json(),
        before,
        "nothing was written"
    );
}

#[tokio::test]
async fn invalid_configuration_fails_fast_with_one_line() {
    let app = spawn_app().await;
    let out = crate::helpers::run_cli(
        &app.db,
        &["--config", "/nonexistent/tessera.toml", "client", "list"],
        None,
    )
    .await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("/nonexistent/tessera.toml"),
        "{}",
        out.stderr
    );

    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("t.toml");
    std::fs::write(&file, "acess_token_ttl = 5\n").expect("write");
    let out = crate::helpers::run_cli(
        &app.db,
        &["--config", file.to_str().expect("path"), "client", "list"],
        None,
    )
    .await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("acess_token_ttl"),
        "names the unknown key: {}",
        out.stderr
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}

#[tokio::test]
async fn help_works_everywhere() {
    let app = spawn_app().await;
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["client", "--help"],
        &["client", "create", "--help"],
    ] {
        let out = app.cli(args).await;
        assert!(out.success, "{args:?}: {}", out.stderr);
        assert!(out.stdout.contains("Usage"), "{args:?}");
    }
}

#[tokio::test]
async fn user_commands_round_trip_and_never_print_the_hash() {
    let app = crate::helpers::spawn_app().await;
    let created = app.create_user("Zed", "zed's password").await;
    assert_eq!(created["username"], "zed", "stored lower case");
    assert!(created.get("password_hash").is_none());
    let id = created["id"].as_str().expect("id").to_string();

    let list = app.cli(&["user", "list"]).await;
    assert!(list.success);
    assert_eq!(list.json().as_array().expect("array").len(), 1);
    assert!(!list.stdout.contains("$argon2"), "no hash in output");
    assert_eq!(
        list.json()[0]["password_scheme"],
        "argon2id",
        "only its kind"
    );
    let show = app.cli(&["user", "show", "ZED"]).await;
    assert_eq!(show.json()["id"], id.as_str());
    let disabled = app.cli(&["user", "disable", "zed"]).await;
    assert_eq!(disabled.json()["disabled"], true);
    let enabled = app.cli(&["user", "enable", "zed"]).await;
    assert_eq!(enabled.json()["disabled"], false);
    let deleted = app.cli(&["user", "delete", "zed"]).await;
    assert!(deleted.success);
    let gone = app.cli(&["user", "show", "zed"]).await;
    assert!(!gone.success);
    assert_eq!(gone.stderr.trim().lines().count(), 1, "{}", gone.stderr);
}

#[tokio::test]
async fn user_create_refuses_bad_passwords_and_duplicates_writing_nothing() {
    let app = crate::helpers::spawn_app().await;
    let run = |args: &'static [&'static str], stdin: &'static str| {
        crate::helpers::run_cli(&app.db, args, Some(stdin))
    };
    for (stdin, why) in [("\n", "empty"), ("", "empty"), ("one\ntwo\n", "match")] {
        let out = run(&["user", "create", "--username", "yan"], stdin).await;
        assert!(!out.success, "accepted a bad password ({why})");
        assert_eq!(out.code, Some(1));
        assert!(out.stderr.contains(why), "{}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1);
    }
    let bad_name = run(&["user", "create", "--username", "a b"], "long enough\n").await;
    assert!(!bad_name.success);
    assert!(
        bad_name.stderr.contains("white space"),
        "{}",
        bad_name.stderr
    );
    app.create_user("yan", "good password").await;
    let dup = run(&["user", "create", "--username", "YAN"], "other password\n").await;
    assert!(!dup.success, "usernames are unique, case-insensitively");
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);
    let list = app.cli(&["user", "list"]).await;
    assert_eq!(list.json().as_array().expect("array").len(), 1);
    assert!(app.cli(&["user", "--help"]).await.success);
}
