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

/// A server with the client cache at its default lifetime (5 s), as in production.
async fn cached_app(
    tweak: impl FnOnce(&mut tessera::config::ConfigArgs),
) -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(|c| {
        c.clients.client_cache_ttl = Some(5);
        tweak(c);
    })
    .await
}

#[tokio::test]
async fn a_rotated_secret_works_at_once_while_the_server_has_the_client_cached() {
    let app = cached_app(|_| {}).await;
    let mut client = app.create_client(&[]).await;
    let a = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);

    let out = app.cli(&["client", "rotate-secret", &client.id]).await;
    assert!(out.success, "{}", out.stderr);
    client.secret = out.json()["client_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let a = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(
        a.status, 200,
        "rotate-secret, then a token at once: {}",
        a.body
    );

    // An id asked for before it existed is remembered as unknown; made by hand with
    // that id, it works at once too.
    let chosen = crate::helpers::TestClient {
        id: "chosen-by-hand".into(),
        secret: String::new(),
        json: serde_json::Value::Null,
    };
    let a = app
        .token_basic(&chosen, "grant_type=client_credentials")
        .await;
    assert_oauth_error(&a, 401, "invalid_client");
    let made = app.create_client(&["--client-id", "chosen-by-hand"]).await;
    let a = app
        .token_basic(&made, "grant_type=client_credentials")
        .await;
    assert_eq!(
        a.status, 200,
        "client create, then a token at once: {}",
        a.body
    );
}

#[tokio::test]
async fn a_flood_of_wrong_secrets_reads_the_database_at_most_once_a_second() {
    use crate::helpers::{Collect, OtlpReceiver};
    use std::time::{Duration, Instant};
    let receiver = OtlpReceiver::start(Collect::Accept).await;
    let endpoint = receiver.endpoint.clone();
    let app = cached_app(|c| {
        c.telemetry.otlp_endpoint = Some(endpoint);
        c.telemetry.otlp_batch_delay_ms = Some(20);
    })
    .await;
    let client = app.create_client(&[]).await;
    let a = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let wrong = crate::helpers::TestClient {
        secret: "not-the-secret".into(),
        ..client.clone()
    };
    let reads = |spans: &[crate::helpers::ReceivedSpan]| {
        spans.iter().filter(|s| s.name == "find client").count()
    };
    let requests =
        |spans: &[crate::helpers::ReceivedSpan]| spans.iter().filter(|s| s.kind == 2).count();
    let before = receiver
        .wait_for("the first token's spans", |s| requests(s) >= 1)
        .await;
    let (reads_before, requests_before) = (reads(&before), requests(&before));

    let flood_for = Duration::from_millis(2_500);
    let started = Instant::now();
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let worker = || async {
        while started.elapsed() < flood_for {
            let a = app
                .token_basic(&wrong, "grant_type=client_credentials")
                .await;
            assert_oauth_error(&a, 401, "invalid_client");
            sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    };
    futures::future::join_all((0..8).map(|_| worker())).await;
    let took = started.elapsed();
    let sent = sent.load(std::sync::atomic::Ordering::SeqCst);
    let spans = receiver
        .wait_for("every flood request's span", |s| {
            requests(s) >= requests_before + sent
        })
        .await;
    let flood_reads = reads(&spans) - reads_before;
    let bound = took.as_secs() as usize + 1;
    assert!(sent >= 8, "the flood sent {sent} requests");
    assert!(
        flood_reads <= bound,
        "{sent} wrong secrets in {took:?} read the client {flood_reads} times (at most {bound})"
    );
    assert!(
        flood_reads >= 1,
        "a wrong secret for a cached client reads the database first"
    );
    // The right secret still works, at once.
    let quick = Instant::now();
    let a = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        quick.elapsed() < Duration::from_millis(900),
        "the right secret waits for no re-read"
    );
}

#[tokio::test]
async fn federated_subjects_in_any_script_are_checked_in_one_line_without_a_panic() {
    use crate::jose::TestKey;
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let jwks = dir.path().join("jwks.json");
    let key = TestKey::generate(jsonwebtoken::Algorithm::ES256);
    std::fs::write(&jwks, TestKey::jwks(&[&key]).to_string()).expect("write");
    let jwks = jwks.display().to_string();
    let added = app
        .cli(&[
            "issuer",
            "add",
            "--name",
            "ci",
            "--issuer",
            "https://ci.example",
            "--jwks",
            &jwks,
        ])
        .await;
    assert!(added.success, "{}", added.stderr);
    let federated = |subject: &str| {
        [
            "client",
            "create",
            "--name",
            "w",
            "--auth-method",
            "federated",
            "--issuer",
            "ci",
            "--subject",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([subject.to_string()])
        .collect::<Vec<_>>()
    };
    let before = app.count_rows("clients");
    for subject in ["é*", "*é", "café*", "x*é", "repo:acme*", "\u{7}é"] {
        let args = federated(subject);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = app.cli(&args).await;
        assert_eq!(
            out.code,
            Some(1),
            "{subject:?}: exit code (101 is a panic): {}",
            out.stderr
        );
        assert!(out.stdout.trim().is_empty(), "{subject:?}: {}", out.stdout);
        let line = out.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{subject:?}: {line}");
        assert!(line.contains("--subject"), "{subject:?}: {line}");
    }
    assert_eq!(app.count_rows("clients"), before, "nothing written");
    for subject in ["café", "dépôt:prod/*", "ü"] {
        let args = federated(subject);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = app.cli(&args).await;
        assert!(out.success, "{subject:?}: {}", out.stderr);
        assert_eq!(out.json()["federated_subject"], subject);
    }
}

/// Runs the binary in `cwd` with exactly `envs` added (no `TESSERA_LOG`, no `RUST_LOG`
/// unless given): what an operator's shell would run.
async fn operator_runs(
    cwd: &std::path::Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> crate::helpers::CliOutput {
    let mut cmd = crate::helpers::tessera_command();
    cmd.current_dir(cwd)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("TESSERA_LOG")
        .env_remove("TESSERA_DATABASE_URL")
        .envs(envs.iter().copied())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .expect("tessera exits within 60 s")
        .expect("tessera runs");
    crate::helpers::CliOutput {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn nonblank(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// Arguments, environment, what the one error line names, and what it must also say.
type Mistake<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str, &'a str);

#[tokio::test]
async fn a_configuration_mistake_is_one_line_naming_the_variable_the_flag_or_the_file_line_and_key()
{
    let db = crate::helpers::TestDb::new();
    assert!(
        crate::helpers::run_cli(&db, &["migrate"], None)
            .await
            .success
    );
    let url = db.url();
    let dir = tempfile::tempdir().expect("dir");
    let toml = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let bad_alg = toml("alg.toml", "# tessera\nsigning_alg = \"HS256\"\n");
    let bad_type = toml(
        "type.toml",
        "bind = \"127.0.0.1:0\"\n\naccess_token_ttl = \"abc\"\n",
    );
    let typo = toml("typo.toml", "bind = \"127.0.0.1:0\"\nacess_token_ttl = 5\n");
    let bad_log = toml("log.toml", "log = \"verbose\"\n");
    let db_env = ("TESSERA_DATABASE_URL", url.as_str());
    let cases: Vec<Mistake> = vec![
        (
            vec!["client", "list"],
            vec![db_env, ("TESSERA_SIGNING_ALG", "HS256")],
            "TESSERA_SIGNING_ALG=HS256",
            "RS256",
        ),
        (
            vec!["serve", "--signing-alg", "HS256"],
            vec![db_env],
            "--signing-alg",
            "RS256",
        ),
        (
            vec!["--config", &bad_alg, "client", "list"],
            vec![db_env],
            "alg.toml:2: signing_alg",
            "RS256",
        ),
        (
            vec!["--config", &bad_type, "client", "list"],
            vec![db_env],
            "type.toml:3: access_token_ttl",
            "integer",
        ),
        (
            vec!["--config", &typo, "client", "list"],
            vec![db_env],
            "typo.toml:2: acess_token_ttl",
            "access_token_ttl",
        ),
        (
            vec!["client", "list"],
            vec![db_env, ("TESSERA_ACCESS_TOKEN_TTL", "0")],
            "TESSERA_ACCESS_TOKEN_TTL=0",
            "86400",
        ),
        (
            vec!["client", "list"],
            vec![db_env, ("TESSERA_ACESS_TOKEN_TTL", "60")],
            "TESSERA_ACESS_TOKEN_TTL",
            "TESSERA_ACCESS_TOKEN_TTL",
        ),
        (
            vec!["serve"],
            vec![db_env, ("TESSERA_BIDN", "127.0.0.1:0")],
            "TESSERA_BIDN",
            "TESSERA_BIND",
        ),
        (
            vec!["client", "list"],
            vec![db_env, ("TESSERA_LOG", "verbose")],
            "TESSERA_LOG=verbose",
            "debug",
        ),
        (
            vec!["client", "list"],
            vec![db_env, ("RUST_LOG", "verbose")],
            "RUST_LOG=verbose",
            "debug",
        ),
        (
            vec!["client", "list", "--log", "tessera=loud"],
            vec![db_env],
            "--log",
            "debug",
        ),
        (
            vec!["--config", &bad_log, "client", "list"],
            vec![db_env],
            "log.toml:1: log",
            "debug",
        ),
        (
            vec!["serve"],
            vec![
                db_env,
                ("TESSERA_ISSUER", "https://ops:s3cret@auth.example.com"),
            ],
            "TESSERA_ISSUER=https://ops:***@auth.example.com",
            "password",
        ),
    ];
    for (args, envs, names, says) in cases {
        let out = operator_runs(dir.path(), &args, &envs).await;
        assert!(
            !out.success,
            "{args:?} {envs:?} was accepted: {}",
            out.stderr
        );
        let lines = nonblank(&out.stderr);
        assert_eq!(
            lines.len(),
            1,
            "{args:?} {envs:?}: one line, got {lines:#?}"
        );
        let line = lines[0];
        assert!(line.starts_with("tessera: error: "), "{line}");
        assert!(
            line.contains(names),
            "{args:?} {envs:?}: {names:?} in {line}"
        );
        assert!(line.contains(says), "{args:?} {envs:?}: {says:?} in {line}");
        assert!(line.chars().count() < 300, "a line, not a listing: {line}");
        assert!(!line.contains("s3cret"), "{line}");
    }
    // A secret value is named by its variable, never echoed.
    let out = operator_runs(
        dir.path(),
        &["client", "list"],
        &[db_env, ("TESSERA_KEY_ENCRYPTION_KEY", "not-a-kek-s3cret")],
    )
    .await;
    let lines = nonblank(&out.stderr);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("TESSERA_KEY_ENCRYPTION_KEY"),
        "{}",
        lines[0]
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
    // Module filters and module paths stay accepted.
    for filter in [
        "warn",
        "tessera=debug,actix_web=warn",
        "tessera::admin",
        "WARN",
    ] {
        let out = operator_runs(
            dir.path(),
            &["client", "list"],
            &[db_env, ("TESSERA_LOG", filter)],
        )
        .await;
        assert!(out.success, "{filter}: {}", out.stderr);
    }
}

#[tokio::test]
async fn a_token_of_a_client_made_elsewhere_is_active_at_once() {
    use crate::helpers::{form, serve_process, TestClient};
    const ISSUER: &str = "http://tessera.test";
    let app = cached_app(|c| c.server.issuer = Some(ISSUER.into())).await;
    let introspector = app.create_client(&["--scope", "tessera:introspect"]).await;
    // This server remembers that "made-elsewhere" is no client.
    let probe = TestClient {
        id: "made-elsewhere".into(),
        secret: "x".repeat(43),
        json: serde_json::Value::Null,
    };
    let a = app
        .token_basic(&probe, "grant_type=client_credentials")
        .await;
    assert_oauth_error(&a, 401, "invalid_client");
    // The client is made, and another replica issues its token.
    let made = app.create_client(&["--client-id", "made-elsewhere"]).await;
    let cwd = tempfile::tempdir().expect("dir");
    let other = serve_process(
        cwd.path(),
        &[
            ("TESSERA_DATABASE_URL", app.db.url()),
            ("TESSERA_ISSUER", ISSUER.into()),
        ],
    )
    .await;
    let issued = app
        .http
        .post(format!("{}/oauth/token", other.address))
        .basic_auth(&made.id, Some(&made.secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("sent");
    let issued = crate::helpers::answer(issued).await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    // This server is asked about it at once.
    let a = app
        .post_form_as(
            "/oauth/introspect",
            &introspector,
            form(&[("token", issued.access_token())]),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["active"], true, "{}", a.body);
    assert_eq!(a.body["client_id"], "made-elsewhere");
}

#[tokio::test]
async fn unknown_tessera_variables_are_reported_and_kubernetes_service_links_are_not() {
    let db = crate::helpers::TestDb::new();
    assert!(
        crate::helpers::run_cli(&db, &["migrate"], None)
            .await
            .success
    );
    let url = db.url();
    let dir = tempfile::tempdir().expect("dir");
    let db_env = ("TESSERA_DATABASE_URL", url.as_str());
    let out = operator_runs(
        dir.path(),
        &["client", "list"],
        &[db_env, ("TESSERA_FROBNICATE", "1")],
    )
    .await;
    assert!(
        out.success,
        "far from every key: a warning, not an error: {}",
        out.stderr
    );
    let lines = nonblank(&out.stderr);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("TESSERA_FROBNICATE"), "{}", lines[0]);
    assert!(!lines[0].contains("s3cret"));

    // What Kubernetes injects for a Service named tessera (without enableServiceLinks: false).
    let links = [
        ("TESSERA_SERVICE_HOST", "10.96.0.12"),
        ("TESSERA_SERVICE_PORT", "80"),
        ("TESSERA_SERVICE_PORT_HTTP", "80"),
        ("TESSERA_PORT", "tcp://10.96.0.12:80"),
        ("TESSERA_PORT_80_TCP", "tcp://10.96.0.12:80"),
        ("TESSERA_PORT_80_TCP_PROTO", "tcp"),
        ("TESSERA_PORT_80_TCP_PORT", "80"),
        ("TESSERA_PORT_80_TCP_ADDR", "10.96.0.12"),
        ("TESSERA_METRICS_SERVICE_HOST", "10.96.0.13"),
        ("TESSERA_METRICS_PORT", "tcp://10.96.0.13:9090"),
    ];
    let mut envs = vec![db_env];
    envs.extend(links);
    let out = operator_runs(dir.path(), &["client", "list"], &envs).await;
    assert!(out.success, "{}", out.stderr);
    assert!(nonblank(&out.stderr).is_empty(), "{}", out.stderr);
}

#[tokio::test]
async fn a_cli_change_prints_its_one_human_line_and_no_log_line() {
    let db = crate::helpers::TestDb::new();
    assert!(
        crate::helpers::run_cli(&db, &["migrate"], None)
            .await
            .success
    );
    let url = db.url();
    let dir = tempfile::tempdir().expect("dir");
    let db_env = ("TESSERA_DATABASE_URL", url.as_str());
    let out = operator_runs(
        dir.path(),
        &["client", "create", "--name", "quiet"],
        &[db_env],
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    let id = out.json()["client_id"].as_str().expect("id").to_string();
    assert_eq!(
        nonblank(&out.stderr),
        vec![format!("created client {id}; its secret is shown once")],
        "exactly the human line"
    );
    // The log is there for who asks for it, and the audit table has the change anyway.
    let out = operator_runs(
        dir.path(),
        &["client", "disable", &id, "--log", "info"],
        &[db_env],
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    assert!(out.stderr.contains("audit:"), "{}", out.stderr);
    let audit = operator_runs(dir.path(), &["audit"], &[db_env])
        .await
        .json();
    let actions: Vec<&str> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"client.create") && actions.contains(&"client.disable"),
        "{actions:?}"
    );
}
