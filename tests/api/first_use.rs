//! What a first-time user following the README hit: both secret methods for a secret
//! client, the container's KEK file, the advertised issuer, a first start that cannot
//! bind, the CLI on an encrypted or missing database, a mistyped `simplejwt_client`,
//! and argument errors as one line.

use crate::helpers::{
    free_port, oauth2_client, oauth2_http, run_cli, run_cli_env, spawn_app, spawn_app_on,
    test_settings, TestClient, TestDb,
};
use oauth2::{AuthType, TokenResponse};
use std::process::Stdio;

const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Runs the binary with exactly these arguments and environment additions in `cwd`.
async fn tessera(cwd: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = crate::helpers::tessera_command();
    cmd.current_dir(cwd)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("TESSERA_DATABASE_URL")
        .env("TESSERA_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .expect("tessera exits within 60 s")
        .expect("tessera runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn assert_one_line_error(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("tessera: error: "), "{stderr}");
    assert!(lines[0].contains(needle), "{needle:?} in {stderr}");
}

#[tokio::test]
async fn a_cli_made_client_authenticates_with_client_secret_post_too() {
    let app = spawn_app().await;
    let client = app.create_client(&["--scope", "orders:read"]).await;
    assert_eq!(
        client.json["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    let oauth = oauth2_client(&app, &client, AuthType::RequestBody).await;
    let token = oauth
        .exchange_client_credentials()
        .request_async(&oauth2_http())
        .await
        .expect("token issued over client_secret_post");
    let (_, claims) = app.verify(token.access_token().secret()).await;
    assert_eq!(claims["client_id"], client.id.as_str());
    // A wrong secret in the body is still refused.
    let a = app
        .post_token(
            format!(
                "grant_type=client_credentials&client_id={}&client_secret=wrong",
                client.id
            ),
            None,
            "application/x-www-form-urlencoded",
        )
        .await;
    crate::helpers::assert_oauth_error(&a, 401, "invalid_client");
}

#[tokio::test]
#[ignore = "needs root, to run the binary as uid 10001: .ci/run runs it"]
async fn the_compose_kek_file_as_the_readme_prepares_it_is_readable_by_the_container_user() {
    use std::os::unix::fs::{chown, PermissionsExt};
    assert!(
        rustix::process::geteuid().is_root(),
        "running the binary as uid 10001 needs root"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).expect("keys dir");
    let kek = keys.join("kek.hex");
    // The README's steps, literally (the file owned by the user who made it).
    let steps =
        "openssl rand -hex 32 > keys/kek.hex && chgrp 10001 keys/kek.hex && chmod 640 keys/kek.hex";
    let ok = std::process::Command::new("sh")
        .args(["-c", steps])
        .current_dir(dir.path())
        .status()
        .expect("sh");
    assert!(ok.success());
    assert_eq!(
        std::fs::metadata(&kek).expect("kek").permissions().mode() & 0o777,
        0o640
    );
    // The container's working directory belongs to its user.
    let home = dir.path().join("home");
    std::fs::create_dir(&home).expect("home");
    chown(&home, Some(10001), Some(10001)).expect("chown");
    let run_as_container_user = |file: &std::path::Path| {
        std::process::Command::new("setpriv")
            .args(["--reuid=10001", "--regid=10001", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_tessera"))
            .arg("migrate")
            .current_dir(&home)
            .env_remove("TESSERA_TEST_POSTGRES_URL")
            .env_remove("TESSERA_TEST_DJANGO_PYTHON")
            .env_remove("TESSERA_DATABASE_URL")
            .env("TESSERA_DATABASE_URL", home.join("t.db"))
            .env("TESSERA_KEY_ENCRYPTION_KEY_FILE", file)
            .output()
            .expect("setpriv runs")
    };
    let out = run_as_container_user(&kek);
    assert!(
        out.status.success(),
        "uid 10001 cannot use the KEK file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What the README said before (chmod 600, the host user's) is what failed.
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = run_as_container_user(&kek);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
}

#[tokio::test]
async fn serve_refuses_to_advertise_an_unspecified_address_as_its_issuer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stderr) = tessera(dir.path(), &["serve"], &[("TESSERA_BIND", "0.0.0.0:0")]).await;
    assert!(!ok);
    assert_one_line_error(&stderr, "set issuer");
    assert!(!dir.path().join("data").exists(), "nothing created");
}

#[tokio::test]
async fn a_first_start_that_cannot_bind_creates_nothing_and_the_next_prints_the_admin_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let bind = taken.local_addr().expect("addr").to_string();
    let (ok, stderr) = tessera(dir.path(), &["serve"], &[("TESSERA_BIND", &bind)]).await;
    assert!(!ok);
    assert_one_line_error(&stderr, "cannot listen");
    assert!(!dir.path().join("data").exists(), "no database created");
    drop(taken);
    // The next start, on a free port, creates the admin and shows its secret.
    let server = crate::helpers::serve_process(dir.path(), &[]).await;
    let shown = server.stderr_lines.join("\n");
    assert!(shown.contains("client_secret:"), "{shown}");
}

#[tokio::test]
async fn a_first_start_refused_after_the_database_is_made_still_leaves_the_admin_secret_to_show() {
    // The database is made and migrated, then the start is refused (a mistyped
    // simplejwt_client): the admin client must not exist yet, or its secret, shown
    // only by the start that makes it, would be lost.
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stderr) = tessera(
        dir.path(),
        &["serve", "--bind", "127.0.0.1:0"],
        &[("TESSERA_SIMPLEJWT_CLIENT", "no-such-client")],
    )
    .await;
    assert!(!ok);
    assert_one_line_error(&stderr, "simplejwt_client");
    assert!(!stderr.contains("client_secret"), "{stderr}");
    let server = crate::helpers::serve_process(dir.path(), &[]).await;
    let shown = server.stderr_lines.join("\n");
    assert!(shown.contains("client_secret:"), "{shown}");
}

#[tokio::test]
async fn key_commands_on_an_encrypted_database_need_the_kek() {
    let db = TestDb::new();
    let app = spawn_app_on(db, |c| c.signing.key_encryption_key = Some(KEK.into())).await;
    let before = app.raw_signing_keys();
    assert!(before.iter().all(|(_, _, encrypted)| *encrypted));
    let out = app.cli(&["key", "rotate"]).await;
    assert!(!out.success);
    assert_one_line_error(&out.stderr, "key_encryption_key");
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = dir.path().join("signing.pem");
    crate::jose::write_rsa_pem(&pem);
    let out = app.cli(&["key", "import", &pem.to_string_lossy()]).await;
    assert!(!out.success);
    assert_one_line_error(&out.stderr, "key_encryption_key");
    assert_eq!(app.raw_signing_keys().len(), before.len(), "nothing stored");

    // With the KEK the new key is stored encrypted.
    let mut cmd = crate::helpers::tessera_command();
    let out = cmd
        .args(["key", "rotate"])
        .env("TESSERA_DATABASE_URL", app.db.url())
        .env("TESSERA_KEY_ENCRYPTION_KEY", KEK)
        .env("TESSERA_LOG", "warn")
        .output()
        .await
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = app.raw_signing_keys();
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.iter().all(|(_, _, encrypted)| *encrypted));
}

#[tokio::test]
async fn only_serve_and_migrate_create_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let typo = dir.path().join("dta").join("x.db");
    let url = typo.to_string_lossy().to_string();
    for args in [
        vec!["client", "list"],
        vec!["user", "list"],
        vec!["key", "list"],
        vec!["audit"],
    ] {
        let mut with_url = args.clone();
        with_url.extend(["--database-url", &url]);
        let (ok, stderr) = tessera(dir.path(), &with_url, &[]).await;
        assert!(!ok, "{args:?}");
        assert_one_line_error(&stderr, "no database at");
    }
    assert!(!dir.path().join("dta").exists(), "nothing created");
    let (ok, stderr) = tessera(dir.path(), &["migrate", "--database-url", &url], &[]).await;
    assert!(ok, "{stderr}");
    assert!(typo.exists());
    let (ok, stderr) = tessera(dir.path(), &["client", "list", "--database-url", &url], &[]).await;
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn a_wrong_simplejwt_client_stops_the_start_with_one_line() {
    let setup = spawn_app().await;
    let machine = setup.create_client(&["--scope", "orders:read"]).await;
    let db = setup.stop().await;
    for (id, why) in [
        ("no-such-client".to_string(), "there is no client"),
        (machine.id.clone(), "password grant"),
    ] {
        let settings = test_settings(&db, |c| c.tokens.simplejwt_client = Some(id.clone()));
        let err = match tessera::startup::Application::build(settings).await {
            Ok(_) => panic!("started with simplejwt_client {id}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.contains("simplejwt_client") && err.contains(why),
            "{err}"
        );
    }
}

/// Arguments, environment, and what the one error line must name.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

#[tokio::test]
async fn argument_errors_are_one_line_naming_what_the_user_typed() {
    let db = TestDb::new();
    let migrated = run_cli(&db, &["migrate"], None).await;
    assert!(migrated.success, "{}", migrated.stderr);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db.url();
    let db_env = ("TESSERA_DATABASE_URL", url.as_str());
    let port = free_port().to_string();
    let cases: Vec<Case> = vec![
        (
            vec!["serve"],
            vec![("TESSERA_ACCESS_TOKEN_TTL", "abc"), db_env],
            "TESSERA_ACCESS_TOKEN_TTL",
        ),
        (
            vec!["client", "list"],
            vec![("TESSERA_ACCESS_TOKEN_TTL", "abc"), db_env],
            "TESSERA_ACCESS_TOKEN_TTL",
        ),
        (
            vec!["serve", "--access-token-ttl", "abc", "--bind", &port],
            vec![db_env],
            "--access-token-ttl",
        ),
        (vec!["client", "create"], vec![db_env], "--name"),
        (
            vec![
                "client",
                "create",
                "--name",
                "x",
                "--jwks",
                "a",
                "--jwks-uri",
                "b",
            ],
            vec![db_env],
            "cannot be used with",
        ),
        (vec!["clinet"], vec![db_env], "unrecognized subcommand"),
    ];
    for (args, envs, needle) in cases {
        let (ok, stderr) = tessera(dir.path(), &args, &envs).await;
        assert!(!ok, "{args:?}");
        assert_one_line_error(&stderr, needle);
        assert!(!stderr.contains("Usage:"), "{stderr}");
    }
    // --help still prints the whole help.
    let out = crate::helpers::tessera_command()
        .arg("--help")
        .output()
        .await
        .expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"));
}

#[tokio::test]
async fn an_operator_chosen_secret_with_plus_percent_and_colon_works_with_every_client() {
    // What `openssl rand -base64 33` makes half the time, plus the other characters
    // that read differently once form-decoded.
    const SECRET: &str = "k9+Qz/Vd7%41:w+Yx2Lr8+Tn5Bf0Hs3Jm6Pc1Ae4Ug";
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("clients.toml");
    std::fs::write(
        &path,
        "[[client]]\nclient_id = \"billing\"\nscope = \"orders:read\"\nsecret_env = \"BILLING_SECRET\"\n",
    )
    .expect("write");
    let out = run_cli_env(
        &app.db,
        &["apply", &path.display().to_string()],
        None,
        &[("BILLING_SECRET", SECRET)],
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    let client = TestClient {
        id: "billing".into(),
        secret: SECRET.into(),
        json: serde_json::Value::Null,
    };
    let token_url = format!("{}/oauth/token", app.address);

    // curl -u sends the secret as it is.
    let curl = tokio::process::Command::new("curl")
        .args(["-sS", "-u", &format!("billing:{SECRET}")])
        .args(["-d", "grant_type=client_credentials", &token_url])
        .output()
        .await
        .expect("curl runs");
    let body: serde_json::Value = serde_json::from_slice(&curl.stdout).expect("json");
    assert!(body["access_token"].is_string(), "curl -u: {body}");

    // requests, authlib and reqwest's basic_auth send it as it is too.
    let raw = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(raw.status, 200, "as sent: {}", raw.body);

    // RFC 6749 §2.3.1 form-encodes it first, as the oauth2 crate does.
    let oauth = oauth2_client(&app, &client, AuthType::BasicAuth).await;
    oauth
        .exchange_client_credentials()
        .request_async(&oauth2_http())
        .await
        .expect("form-encoded Basic credentials work");
    // And client_secret_post, form-encoded by definition.
    let oauth = oauth2_client(&app, &client, AuthType::RequestBody).await;
    oauth
        .exchange_client_credentials()
        .request_async(&oauth2_http())
        .await
        .expect("client_secret_post works");

    // Neither reading opens a door: one character off fails both ways.
    let wrong = TestClient {
        secret: SECRET.replacen('+', "-", 1),
        ..client
    };
    let refused = app
        .token_basic(&wrong, "grant_type=client_credentials")
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);
}
