//! What an outside security review found, each as a user (or an attacker) would see it:
//! DPoP bindings on every path, memory and CPU that bad input cannot grow, the admin
//! API's DPoP rules, `/metrics` without client ids, `jwks_uri`s that cannot reach the
//! server's own network, a private SQLite file, and HEAD wherever GET is.

use crate::helpers::{
    answer, assert_oauth_error, count_sql, form, serve_process, spawn_app_with,
    spawn_simplejwt_app, Answer, TestApp, TestClient, TestDb,
};
use crate::jose::{DpopKey, ISSUER};
use serde_json::{json, Value};

/// A server at `ISSUER` whose simplejwt endpoints act as a password/refresh client
/// (`require_dpop` as given), with one user; returns the server and the client.
async fn simplejwt_app(require_dpop: bool) -> (TestApp, TestClient) {
    let extra: &[&str] = if require_dpop {
        &["--require-dpop"]
    } else {
        &[]
    };
    let (app, client) = spawn_simplejwt_app(extra, |c| c.server.issuer = Some(ISSUER.into())).await;
    app.create_user("django", "django's password").await;
    (app, client)
}

/// A JSON POST with an optional DPoP proof.
async fn post_json(app: &TestApp, path: &str, body: Value, proof: Option<&str>) -> Answer {
    app.post_json(path, &body, proof).await
}

/// `POST /api/token/refresh/` with `refresh` and an optional proof.
async fn simplejwt_refresh(app: &TestApp, refresh: &str, proof: Option<&str>) -> Answer {
    post_json(
        app,
        "/api/token/refresh/",
        json!({ "refresh": refresh }),
        proof,
    )
    .await
}

fn cnf_jkt(access_token: &str) -> Option<String> {
    let claims = crate::helpers::unverified_claims(access_token);
    claims["cnf"]["jkt"].as_str().map(str::to_string)
}

#[tokio::test]
async fn a_dpop_bound_family_refreshes_at_the_simplejwt_endpoint_only_with_a_proof_by_its_key() {
    let (app, client) = simplejwt_app(false).await;
    let key = DpopKey::new();
    // Log in at /oauth/token with a proof: the family is bound to the key.
    let login = app
        .http
        .post(format!("{}/oauth/token", app.address))
        .basic_auth(&client.id, Some(&client.secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("DPoP", key.proof())
        .body(form(&[
            ("grant_type", "password"),
            ("username", "django"),
            ("password", "django's password"),
        ]))
        .send()
        .await
        .expect("sent");
    let login = answer(login).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let refresh = login.refresh_token().to_string();

    // No proof: simplejwt's refusal, and the token stays usable.
    let refresh_url = format!("{ISSUER}/api/token/refresh/");
    let bare = simplejwt_refresh(&app, &refresh, None).await;
    assert_eq!(bare.status, 401, "{}", bare.body);
    assert_eq!(bare.body["code"], "token_not_valid");
    // A proof by another key: refused the same way.
    let other = DpopKey::new().proof_for("POST", &refresh_url, None);
    let wrong = simplejwt_refresh(&app, &refresh, Some(&other)).await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(wrong.body["code"], "token_not_valid");
    // A proof by the family's key: rotated, and the new access token is bound too.
    let proof = key.proof_for("POST", &refresh_url, None);
    let ok = simplejwt_refresh(&app, &refresh, Some(&proof)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let access = ok.body["access"].as_str().expect("access");
    assert_eq!(cnf_jkt(access), Some(key.jkt()));
    // The successor is bound as well: no proof, no refresh at /oauth/token either.
    let successor = ok.body["refresh"].as_str().expect("refresh").to_string();
    let unbound = app.refresh(&client, &successor, &[]).await;
    assert_oauth_error(&unbound, 400, "invalid_dpop_proof");
}

#[tokio::test]
async fn simplejwt_logins_follow_require_dpop_and_bind_to_the_proofs_key() {
    let (app, _) = simplejwt_app(true).await;
    let creds = json!({"username": "django", "password": "django's password"});
    let bare = post_json(&app, "/api/token/", creds.clone(), None).await;
    assert_eq!(bare.status, 400, "{}", bare.body);
    assert!(bare.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("DPoP")));
    assert_eq!(app.count_rows("refresh_families"), 0, "nothing started");

    let key = DpopKey::new();
    let login_url = format!("{ISSUER}/api/token/");
    let proof = key.proof_for("POST", &login_url, None);
    let pair = post_json(&app, "/api/token/", creds.clone(), Some(&proof)).await;
    assert_eq!(pair.status, 200, "{}", pair.body);
    assert_eq!(
        cnf_jkt(pair.body["access"].as_str().expect("access")),
        Some(key.jkt())
    );
    // The same proof again is a replay.
    let replay = post_json(&app, "/api/token/", creds, Some(&proof)).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    // The family is bound: a refresh without a proof is refused.
    let refresh = pair.body["refresh"].as_str().expect("refresh");
    let bare = simplejwt_refresh(&app, refresh, None).await;
    assert_eq!(bare.body["code"], "token_not_valid", "{}", bare.body);
}

/// Resident memory of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("proc status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

#[tokio::test]
async fn made_up_client_ids_of_any_length_do_not_grow_memory() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve_process(
        dir.path(),
        &[
            ("TESSERA_DATABASE_URL", db.url()),
            ("TESSERA_LOG", "warn,tessera=info".into()),
            ("TESSERA_WORKERS", "1".into()),
        ],
    )
    .await;
    let pid = server.child.id().expect("pid");
    let http = reqwest::Client::new();
    let url = format!("{}/oauth/token", server.address);
    let send = |id: String| {
        let (http, url) = (&http, &url);
        async move {
            let res = http
                .post(url)
                .basic_auth(id, Some("x"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials")
                .send()
                .await
                .expect("sent");
            answer(res).await
        }
    };
    // Warm up the allocator and the pool with requests of the same shape.
    for i in 0..50 {
        let a = send(format!("{i}-{}", "x".repeat(60 * 1024))).await;
        assert_oauth_error(&a, 401, "invalid_client");
    }
    let before = rss_kib(pid);
    for i in 0..1_000 {
        let a = send(format!("{i}-{}", "x".repeat(60 * 1024))).await;
        assert_eq!(a.status, 401, "{}", a.body);
    }
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(grown < 10 * 1024, "RSS grew by {grown} KiB");
    // The id is refused for its length, before any lookup.
    let a = send("y".repeat(257)).await;
    assert!(a.body["error_description"]
        .as_str()
        .is_some_and(|d| d.contains("longer than 256")));
}

#[tokio::test]
async fn a_body_with_too_many_parameters_is_invalid_request() {
    let app = spawn_app_with(|_| {}).await;
    // 10,000 distinct names in under 64 KiB, as the attack sent them.
    let many: String = (0..10_000)
        .map(|i| format!("{i:x}"))
        .collect::<Vec<_>>()
        .join("&");
    let body = format!("grant_type=client_credentials&{many}");
    let a = app.token_basic(&app.admin, &body).await;
    assert_oauth_error(&a, 400, "invalid_request");
    assert!(a.body["error_description"]
        .as_str()
        .is_some_and(|d| d.contains("more than 1000 parameters")));
    // A thousand is still a request (unknown parameters are ignored).
    let some: String = (0..990)
        .map(|i| format!("p{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    let a = app
        .token_basic(&app.admin, &format!("grant_type=client_credentials&{some}"))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

/// `POST /oauth/register` with a raw `Authorization` value and an optional proof.
async fn register_with(app: &TestApp, authorization: &str, proof: Option<&str>) -> Answer {
    let mut req = app
        .http
        .post(format!("{}/oauth/register", app.address))
        .header("Authorization", authorization)
        .json(&json!({"client_name": "made with a bound token"}));
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    answer(req.send().await.expect("sent")).await
}

#[tokio::test]
async fn a_dpop_bound_admin_token_needs_the_dpop_scheme_and_a_proof_for_the_call() {
    let app = spawn_app_with(|c| c.server.issuer = Some(ISSUER.into())).await;
    let key = DpopKey::new();
    let issued = app
        .http
        .post(format!("{}/oauth/token", app.address))
        .basic_auth(&app.admin.id, Some(&app.admin.secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("DPoP", key.proof())
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("sent");
    let issued = answer(issued).await;
    assert_eq!(issued.body["token_type"], "DPoP", "{}", issued.body);
    let token = issued.access_token().to_string();
    let before = app.count_rows("clients");
    let url = format!("{ISSUER}/oauth/register");

    // As a Bearer token, with or without a proof: invalid_token.
    let bearer = format!("Bearer {token}");
    for proof in [None, Some(key.proof_for("POST", &url, Some(&token)))] {
        let a = register_with(&app, &bearer, proof.as_deref()).await;
        assert_oauth_error(&a, 401, "invalid_token");
        assert!(a
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("DPoP")));
    }
    let dpop = format!("DPoP {token}");
    // No proof; a proof without ath, for another URL, or by another key.
    let refused = [
        None,
        Some(key.proof_for("POST", &url, None)),
        Some(key.proof_for("POST", &format!("{ISSUER}/oauth/token"), Some(&token))),
        Some(key.proof_for("GET", &url, Some(&token))),
        Some(DpopKey::new().proof_for("POST", &url, Some(&token))),
    ];
    for proof in refused {
        let a = register_with(&app, &dpop, proof.as_deref()).await;
        assert_eq!(a.status, 401, "{}", a.body);
        assert!(
            ["invalid_dpop_proof", "invalid_token"].contains(&a.error()),
            "{}",
            a.body
        );
    }
    assert_eq!(app.count_rows("clients"), before, "nothing created");

    // The right proof: created; the same proof again is a replay.
    let proof = key.proof_for("POST", &url, Some(&token));
    let a = register_with(&app, &dpop, Some(&proof)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let replay = register_with(&app, &dpop, Some(&proof)).await;
    assert_oauth_error(&replay, 401, "invalid_dpop_proof");
    assert_eq!(app.count_rows("clients"), before + 1);

    // An unbound token under the DPoP scheme is refused too.
    let plain = app.admin_token().await;
    let a = register_with(
        &app,
        &format!("DPoP {plain}"),
        Some(&key.proof_for("POST", &url, Some(&plain))),
    )
    .await;
    assert_oauth_error(&a, 401, "invalid_token");
}

#[tokio::test]
async fn metrics_name_no_client_unless_configured() {
    let app = spawn_app_with(|_| {}).await;
    let svc = app.create_client(&["--scope", "orders:read"]).await;
    let a = app.token_basic(&svc, "grant_type=client_credentials").await;
    assert_eq!(a.status, 200);
    let text = app.get("/metrics").await.text().await.expect("metrics");
    assert!(!text.contains(&svc.id), "client id published:\n{text}");
    assert!(!text.contains("client_id="), "{text}");
    assert!(
        text.lines()
            .any(|l| l == "tessera_tokens_issued_total{grant_type=\"client_credentials\"} 1"),
        "{text}"
    );
}

/// A plain TCP listener that counts connections (and answers nothing useful).
async fn counting_listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, seen)
}

#[tokio::test]
async fn client_jwks_uris_cannot_reach_loopback_or_private_addresses() {
    let app = spawn_app_with(|c| {
        c.server.issuer = Some(ISSUER.into());
        c.clients.jwks_uri_allow_http = Some(true);
        c.clients.jwks_uri_timeout = Some(2);
    })
    .await;
    let admin = app.admin_token().await;
    let before = app.count_rows("clients");
    for uri in [
        "https://127.0.0.1:8443/jwks",
        "https://10.1.2.3/jwks",
        "https://169.254.169.254/latest",
        "https://[::1]/jwks",
        "https://0.0.0.0/jwks",
        "http://localhost:9/jwks",
    ] {
        let res = app
            .http
            .post(format!("{}/oauth/register", app.address))
            .bearer_auth(&admin)
            .json(
                &json!({"client_name": "k", "token_endpoint_auth_method": "private_key_jwt",
                          "jwks_uri": uri}),
            )
            .send()
            .await
            .expect("sent");
        let a = answer(res).await;
        assert_oauth_error(&a, 400, "invalid_client_metadata");
        let out = app
            .cli(&[
                "client",
                "create",
                "--name",
                "k",
                "--auth-method",
                "private_key_jwt",
                "--jwks-uri",
                uri,
            ])
            .await;
        assert!(!out.success, "{uri}: {}", out.stdout);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
    assert_eq!(app.count_rows("clients"), before, "nothing created");

    // Registered where private targets are allowed, the URL is still refused at fetch
    // time by a server that does not allow them: no connection is made at all. The
    // machine's own host name (resolving to loopback here, not spelled "localhost")
    // shows the check on resolved addresses; "localhost" where it does not resolve so.
    let (port, connections) = counting_listener().await;
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let resolves_to_loopback = !host.is_empty()
        && tokio::net::lookup_host((host.as_str(), 0))
            .await
            .is_ok_and(|mut a| a.all(|a| a.ip().is_loopback()));
    let host = if resolves_to_loopback {
        host
    } else {
        eprintln!("the host name does not resolve to loopback: using localhost");
        "localhost".to_string()
    };
    let uri = format!("http://{host}:{port}/jwks");
    let out = run_cli_with(
        &app.db,
        &[
            "client",
            "create",
            "--name",
            "k",
            "--auth-method",
            "private_key_jwt",
            "--jwks-uri",
            &uri,
        ],
        &[
            ("TESSERA_JWKS_URI_ALLOW_HTTP", "true"),
            ("TESSERA_JWKS_URI_ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    let client_id = out.json()["client_id"].as_str().expect("id").to_string();
    let key = crate::jose::TestKey::generate(jsonwebtoken::Algorithm::ES256);
    let assertion = key.assertion(&client_id, ISSUER);
    let a = crate::private_key_jwt::with_assertion(&app, &assertion, &[]).await;
    assert_oauth_error(&a, 401, "invalid_client");
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the server connected to a loopback jwks_uri"
    );
    assert_eq!(count_sql(&app.db, "SELECT COUNT(*) AS n FROM used_jtis"), 0);
}

/// Runs the CLI on `db` with extra environment variables.
async fn run_cli_with(
    db: &TestDb,
    args: &[&str],
    envs: &[(&str, &str)],
) -> crate::helpers::CliOutput {
    let mut cmd = crate::helpers::tessera_command();
    cmd.args(args)
        .env("TESSERA_DATABASE_URL", db.url())
        .env("TESSERA_LOG", "warn")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("tessera runs");
    crate::helpers::CliOutput {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn a_new_sqlite_database_and_its_directory_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = data.join("tessera.db");
    let path = file.display().to_string();
    let app = spawn_app_with(|c| c.database.database_url = Some(path)).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "directory");
    assert_eq!(mode(&file), 0o600, "database file");
    let wal = data.join("tessera.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600, "write-ahead log");
    }
}

#[tokio::test]
async fn head_answers_wherever_get_does() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.admin_token().await;
    let client = app.create_client(&[]).await;
    let mut checked = 0;
    for (path, allow) in tessera::http::registered_routes() {
        if !allow.contains("GET") {
            continue;
        }
        assert!(allow.contains("HEAD"), "{path}: Allow {allow}");
        let path = path.replace("{client_id}", &client.id);
        let url = format!("{}{path}", app.address);
        let get = app
            .http
            .get(&url)
            .bearer_auth(&admin)
            .send()
            .await
            .expect("GET");
        let head = app
            .http
            .head(&url)
            .bearer_auth(&admin)
            .send()
            .await
            .expect("HEAD");
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {path}"
        );
        assert!(
            head.bytes().await.expect("body").is_empty(),
            "HEAD {path} has no body"
        );
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} GET routes");
}

/// Whether `text` shows any of the secrets.
fn leaks(text: &str, secrets: &[&str]) -> Option<String> {
    secrets
        .iter()
        .find(|s| text.contains(*s))
        .map(|s| format!("{s:?} printed in: {text}"))
}

#[tokio::test]
async fn no_password_in_a_database_url_is_ever_printed() {
    let dir = tempfile::tempdir().expect("dir");
    let port = crate::helpers::free_port();
    let secrets = ["s3cret-pw", "hunter2", "sslk3y"];
    let url = format!(
        "postgres://app:s3cret-pw@127.0.0.1:{port}/tessera?sslpassword=hunter2&sslkey=/k/sslk3y&application_name=x"
    );
    // (arguments, log filter, most lines): the CLI at its default level prints its
    // one error line; a server logging at info may add one warning before it.
    let runs: [(&[&str], Option<&str>, usize); 3] = [
        (&["client", "list"], None, 1),
        (&["migrate"], None, 1),
        (&["serve", "--bind", "127.0.0.1:0"], Some("info"), 2),
    ];
    for (args, filter, most) in runs {
        let mut cmd = crate::helpers::tessera_command();
        cmd.current_dir(dir.path())
            .args(args)
            .env("TESSERA_DATABASE_URL", &url)
            .env("TESSERA_DB_CONNECT_TIMEOUT", "1")
            .env_remove("TESSERA_LOG")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null());
        if let Some(f) = filter {
            cmd.env("TESSERA_LOG", f);
        }
        let out = cmd.output().await.expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        if let Some(leak) = leaks(&stderr, &secrets) {
            panic!("{args:?}: {leak}");
        }
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let errors: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with("tessera: error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}: one error line: {stderr}");
        assert!(
            lines.len() <= most,
            "{args:?}: the failure is one line, not libpq's paragraphs: {stderr}"
        );
        let line = errors[0];
        assert!(
            line.contains(&format!("127.0.0.1:{port}")),
            "names the server: {line}"
        );
        assert!(line.contains("app:***@"), "{line}");
    }

    // Passwords a URL parser would split (libpq quoted the rest as a host name), a
    // libpq key=value string, and an OTLP endpoint whose password holds '#'.
    let hostile = [
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app:p@XQ1@127.0.0.1:{port}/db"),
        ),
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app:pa#XQ2@127.0.0.1:{port}/db"),
        ),
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app:pa?XQ3@127.0.0.1:{port}/db"),
        ),
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app:pa/XQ4@127.0.0.1:{port}/db"),
        ),
        (
            "TESSERA_DATABASE_URL",
            format!("host=127.0.0.1 port={port} password=XQ5"),
        ),
        (
            "TESSERA_OTLP_ENDPOINT",
            format!("http://u:pa#XQ6@127.0.0.1:{port}"),
        ),
        // One '@' in the password before a '#'; an '@' in a secret parameter; a '%'
        // libpq would refuse by quoting the token around it.
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app:Ab@XQ7#XQ8@127.0.0.1:{port}/db"),
        ),
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app@127.0.0.1:{port}/db?password=XQ9@XQ10"),
        ),
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app:Xy7%LqXQ11@127.0.0.1:{port}/db"),
        ),
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app:pw%00XQ12@127.0.0.1:{port}/db"),
        ),
        // Taken for SQLite file names before, created and echoed.
        ("TESSERA_DATABASE_URL", "password=XQ13".to_string()),
        (
            "TESSERA_DATABASE_URL",
            format!("postgres:app:XQ14@127.0.0.1:{port}/db"),
        ),
    ];
    for (variable, value) in hostile {
        let mut cmd = crate::helpers::tessera_command();
        cmd.current_dir(dir.path())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env(variable, &value)
            .env("TESSERA_DB_CONNECT_TIMEOUT", "1")
            .env_remove("TESSERA_LOG")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null());
        let out = cmd.output().await.expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{value}");
        assert!(stderr.contains(variable), "names {variable}: {stderr}");
        assert!(!stderr.contains("XQ"), "{value}: printed in {stderr}");
        assert!(
            std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
            "{value}: no file was created for it"
        );
    }

    // URLs libpq reads and then quotes, cut where a quote or space ends a URL for a
    // reader: the password is masked wherever and however the message shows it. And
    // an OTLP endpoint too long for the exporter, which quoted it whole.
    let quoted = [
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app:pa XQ15@127.0.0.1:{port}/db"),
        ),
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app:pa\"XQ16@127.0.0.1:{port}/db"),
        ),
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app:pa'XQ17@127.0.0.1:{port}/db"),
        ),
        (
            "TESSERA_DATABASE_URL",
            format!("postgres://app:pa)XQ18@127.0.0.1:{port}/db?x=%zz"),
        ),
        (
            "TESSERA_OTLP_ENDPOINT",
            format!("http://u:XQ19@127.0.0.1:{port}/{}", "p".repeat(70_000)),
        ),
    ];
    for (variable, value) in quoted {
        let mut cmd = crate::helpers::tessera_command();
        cmd.current_dir(dir.path())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env(variable, &value)
            .env("TESSERA_DB_CONNECT_TIMEOUT", "1")
            .env("TESSERA_LOG", "info")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null());
        let out = cmd.output().await.expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{variable}: serve started");
        assert!(!stderr.contains("XQ"), "{variable}: printed in {stderr}");
    }
}

#[tokio::test]
async fn no_password_in_the_otlp_endpoint_is_printed_at_start_or_on_export_failures() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("dir");
    let port = crate::helpers::free_port();
    let endpoint = format!("http://collector:0tlp-s3cret@127.0.0.1:{port}");
    let server = serve_process(
        dir.path(),
        &[
            ("TESSERA_DATABASE_URL", db.url()),
            ("TESSERA_OTLP_ENDPOINT", endpoint),
            ("TESSERA_OTLP_BATCH_DELAY_MS", "10".into()),
            ("TESSERA_OTLP_TIMEOUT", "1".into()),
            ("TESSERA_LOG", "info".into()),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let mut failure = None;
    for _ in 0..50 {
        http.get(format!("{}/healthz", server.address))
            .send()
            .await
            .expect("healthz");
        failure = server
            .wait_for_line(
                "exporting traces failed",
                std::time::Duration::from_millis(200),
            )
            .await;
        if failure.is_some() {
            break;
        }
    }
    let failure = failure.expect("the export failure is logged");
    let log = server.log().join("\n");
    assert!(log.contains("exporting traces to"), "{log}");
    if let Some(leak) = leaks(&log, &["0tlp-s3cret"]) {
        panic!("{leak}");
    }
    assert!(
        failure.contains(&format!("127.0.0.1:{port}")),
        "names the collector: {failure}"
    );
}

#[tokio::test]
async fn an_issuer_url_with_a_password_is_refused_without_printing_it() {
    let app = spawn_app_with(|_| {}).await;
    // (--issuer, --jwks-uri, the flag the one-line error names, the secret in them)
    let cases = [
        (
            "https://ops:iss-s3cret@issuer.example",
            Some("https://issuer.example/jwks?access_token=tok-s3cret"),
            "--issuer",
            "iss-s3cret",
        ),
        (
            "https://issuer.example",
            Some("https://ops:jwks-s3cret@issuer.example/jwks"),
            "--jwks-uri",
            "jwks-s3cret",
        ),
        (
            "https://issuer.example",
            Some("https://issuer.example/jwks?password=JwksSecret2"),
            "--jwks-uri",
            "JwksSecret2",
        ),
        // Characters a URL parser would split a password at.
        (
            "https://ops:pa#iss-s3cret@issuer.example",
            None,
            "--issuer",
            "iss-s3cret",
        ),
        (
            "https://ops:pa/iss-s3cret@issuer.example",
            None,
            "--issuer",
            "iss-s3cret",
        ),
        // A URL that does not even parse is not echoed whole either.
        (
            "https://ops:iss-s3cret@[bad",
            None,
            "--issuer",
            "iss-s3cret",
        ),
    ];
    for (issuer, jwks_uri, flag, secret) in cases {
        let mut args = vec!["issuer", "add", "--name", "creds", "--issuer", issuer];
        args.extend(jwks_uri.iter().flat_map(|u| ["--jwks-uri", *u]));
        let out = app.cli(&args).await;
        assert!(!out.success, "{issuer} {jwks_uri:?} accepted");
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains(flag), "{flag}: {}", out.stderr);
        if let Some(leak) = leaks(&out.stderr, &[secret]) {
            panic!("{leak}");
        }
    }
    // The same through apply: the error names the file, line and key, not the secret.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("issuers.toml");
    for (line, secret) in [
        ("issuer = \"https://ops:iss-s3cret@issuer.example\"", "iss-s3cret"),
        (
            "issuer = \"https://example.com\"\njwks_uri = \"https://example.com/jwks?password=JwksSecret2\"",
            "JwksSecret2",
        ),
    ] {
        std::fs::write(&file, format!("[[issuer]]\nname = \"creds\"\n{line}\n")).expect("write");
        let out = app.cli(&["--log", "info", "apply", &file.display().to_string()]).await;
        assert!(!out.success, "{line}");
        assert!(out.stderr.contains("issuers.toml:"), "{}", out.stderr);
        if let Some(leak) = leaks(&out.stderr, &[secret]) {
            panic!("{leak}");
        }
    }
    assert_eq!(app.cli(&["issuer", "list"]).await.json(), json!([]));

    // A client's jwks_uri is printed the same ways (fetch failures, the audit log):
    // the same rule, with parameter names encoded or after ';' as well.
    for (jwks_uri, secret) in [
        (
            "https://keys.example/jwks?access_token=ClientSecret1",
            "ClientSecret1",
        ),
        (
            "https://keys.example/jwks?%61ccess_token=ClientSecret2",
            "ClientSecret2",
        ),
        (
            "https://keys.example/jwks?v=1;api_key=ClientSecret3",
            "ClientSecret3",
        ),
        (
            "https://ops:ClientSecret4@keys.example/jwks",
            "ClientSecret4",
        ),
    ] {
        let out = app
            .cli(&[
                "client",
                "create",
                "--name",
                "keys",
                "--auth-method",
                "private_key_jwt",
                "--jwks-uri",
                jwks_uri,
            ])
            .await;
        assert!(!out.success, "{jwks_uri} accepted");
        assert!(out.stderr.contains("--jwks-uri"), "{}", out.stderr);
        if let Some(leak) = leaks(&out.stderr, &[secret]) {
            panic!("{leak}");
        }
    }
    assert_eq!(
        app.cli(&["client", "list"])
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
