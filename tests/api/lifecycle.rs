//! Start-up behaviour: zero-config serve, the bootstrap admin shown once, restarts.

use crate::helpers::{free_port, serve_process, spawn_app_on, verify_with_discovery, TestDb};

#[tokio::test]
async fn zero_config_serve_creates_its_database_key_and_admin_once() {
    let cwd = tempfile::tempdir().expect("dir");
    let http = reqwest::Client::new();
    // Only the address is set: the restart below must keep the issuer.
    let bind = [("TESSERA_BIND", format!("127.0.0.1:{}", free_port()))];
    let first = serve_process(cwd.path(), &bind).await;
    assert!(
        cwd.path().join("data/tessera.db").exists(),
        "default SQLite file created"
    );
    let text = first.stderr_lines.join("\n");
    let id = text
        .split("client_id:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("admin id printed")
        .to_string();
    let secret = text
        .split("client_secret:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("secret printed")
        .to_string();
    let log_lines_with_secret = first
        .stderr_lines
        .iter()
        .filter(|l| l.contains(&secret) && l.contains("INFO"))
        .count();
    assert_eq!(
        log_lines_with_secret, 0,
        "the secret is printed, not logged"
    );

    let res = http
        .post(format!("{}/oauth/token", first.address))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("json");
    let token = body["access_token"].as_str().expect("token").to_string();
    let (header, claims) = verify_with_discovery(&http, &first.address, &token).await;
    assert_eq!(claims["scope"], "tessera:admin");
    drop(first);

    let mut second = serve_process(cwd.path(), &bind).await;
    let text = second.stderr_lines.join("\n");
    assert!(
        !text.contains("client_secret"),
        "the bootstrap secret is shown once only: {text}"
    );
    let (header2, _) = verify_with_discovery(&http, &second.address, &token).await;
    assert_eq!(header.kid, header2.kid, "same signing key after a restart");
    let _ = second.child.kill().await;
}

#[tokio::test]
async fn a_restart_keeps_the_key_the_clients_and_old_tokens() {
    // A restarted server keeps its address, and so its issuer.
    let port = free_port();
    let same_bind = move |c: &mut tessera::config::ConfigArgs| {
        c.server.bind = Some(format!("127.0.0.1:{port}"))
    };
    let app = crate::helpers::spawn_app_with(same_bind).await;
    let client = app.create_client(&["--scope", "s"]).await;
    let token = app.client_credentials_token(&client).await;
    let (before, _) = app.verify(&token).await;
    let db: TestDb = app.stop().await;

    let app = spawn_app_on(db, same_bind).await;
    assert!(
        app.admin.id.is_empty(),
        "no second bootstrap admin on restart"
    );
    let (after, _) = app.verify(&token).await;
    assert_eq!(before.kid, after.kid);
    let fresh = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(app.verify(fresh.access_token()).await.0.kid, before.kid);
}

#[tokio::test]
async fn two_servers_starting_on_one_empty_database_create_one_key_and_one_admin() {
    let db = TestDb::new();
    let url = db.url();
    let (a, b) = tokio::join!(
        crate::helpers::run_cli(&db, &["migrate"], None),
        crate::helpers::run_cli(&db, &["migrate"], None)
    );
    assert!(a.success && b.success, "{} {}", a.stderr, b.stderr);
    let cwd = tempfile::tempdir().expect("dir");
    let env = [("TESSERA_DATABASE_URL", url)];
    let (p1, p2) = tokio::join!(
        serve_process(cwd.path(), &env),
        serve_process(cwd.path(), &env)
    );
    let http = reqwest::Client::new();
    let j1 = http
        .get(format!("{}/.well-known/jwks.json", p1.address))
        .send()
        .await
        .expect("jwks")
        .bytes()
        .await
        .expect("body");
    let j2 = http
        .get(format!("{}/.well-known/jwks.json", p2.address))
        .send()
        .await
        .expect("jwks")
        .bytes()
        .await
        .expect("body");
    assert_eq!(j1, j2, "byte-identical JWKS");
    let keys: serde_json::Value = serde_json::from_slice(&j1).expect("json");
    assert_eq!(
        keys["keys"].as_array().map(Vec::len),
        Some(1),
        "exactly one key"
    );
    let admins = [&p1, &p2]
        .iter()
        .filter(|p| p.stderr_lines.iter().any(|l| l.contains("client_secret:")))
        .count();
    assert_eq!(admins, 1, "exactly one process created the bootstrap admin");
    let list = crate::helpers::run_cli(&db, &["client", "list"], None)
        .await
        .json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}
