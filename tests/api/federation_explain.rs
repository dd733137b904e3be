//! `tessera issuer explain`: every federation check the token endpoint applies to a
//! platform token, each with its outcome, and the client it would match; nothing is
//! issued, written or used up.

use crate::federation::{
    add_inline_issuer, add_issuer, cli_ok, federated_client, federation_app, with_platform_token,
    JWT_BEARER,
};
use crate::helpers::{kubernetes_claims, published, run_cli_env, CliOutput, TestApp, TestIssuer};
use crate::jose::{TestKey, ISSUER};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Runs `issuer explain -` with `input` on stdin, as an operator of the server would.
async fn explain(app: &TestApp, input: &str) -> CliOutput {
    run_cli_env(
        &app.db,
        &["issuer", "explain", "-"],
        Some(input),
        &[
            ("TESSERA_ISSUER", ISSUER),
            ("TESSERA_JWKS_URI_ALLOW_HTTP", "true"),
        ],
    )
    .await
}

/// The line of check `name`, asserting there is exactly one.
fn line<'a>(out: &'a CliOutput, name: &str) -> &'a str {
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(name))
        .collect();
    assert_eq!(lines.len(), 1, "one line for {name:?} in:\n{}", out.stdout);
    lines[0]
}

/// Asserts the token would be refused and check `name` says why (`why` in its line).
fn refused_by(out: &CliOutput, name: &str, why: &str) {
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let l = line(out, name);
    assert!(l.starts_with("FAIL"), "{name} fails:\n{}", out.stdout);
    assert!(l.contains(why), "{name} says {why:?}:\n{}", out.stdout);
    assert!(
        !out.stdout.contains("client: "),
        "no client:\n{}",
        out.stdout
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}

/// A cluster issuer `k8s` serving `key` at its jwks_uri, and the client bound to
/// `shop:orders`.
async fn cluster(app: &TestApp, key: &TestKey) -> (TestIssuer, String) {
    let cluster = TestIssuer::start(published(&[key], 300)).await;
    add_issuer(app, "k8s", &cluster, &[]).await;
    let id = federated_client(app, "k8s", "system:serviceaccount:shop:orders", &[]).await;
    (cluster, id)
}

#[tokio::test]
async fn a_good_token_is_explained_check_by_check_with_its_client_and_is_not_used_up() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::RS256);
    let (cluster, id) = cluster(&app, &key).await;
    let token = cluster.mint(
        &key,
        &kubernetes_claims(&cluster.url, ISSUER, "shop", "orders"),
    );
    let audit_before = app.cli(&["audit", "--limit", "1000"]).await.json();

    // Pasted with a trailing newline, as from a terminal or a file.
    let out = explain(&app, &format!("{token}\n")).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    for name in [
        "token",
        "issuer",
        "header",
        "key",
        "signature",
        "iss",
        "aud",
        "exp",
        "max",
        "iat/nbf",
        "binding",
        "client",
    ] {
        assert!(
            line(&out, name).starts_with("ok"),
            "{name}:\n{}",
            out.stdout
        );
    }
    assert!(line(&out, "issuer").contains("k8s"));
    assert!(line(&out, "key").contains(&key.kid));
    assert!(
        out.stdout.contains(&format!("client: {id}")),
        "{}",
        out.stdout
    );
    // Dates, not Unix seconds; the claims may show, the signature never.
    assert!(line(&out, "exp").contains(" UTC"), "{}", out.stdout);
    let signature = token.rsplit('.').next().expect("signature");
    assert!(!out.stdout.contains(signature) && !out.stderr.contains(signature));

    // From a file too, the same answer.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("token");
    std::fs::write(&file, &token).expect("write");
    let file = file.display().to_string();
    let from_file = run_cli_env(
        &app.db,
        &["issuer", "explain", &file],
        None,
        &[
            ("TESSERA_ISSUER", ISSUER),
            ("TESSERA_JWKS_URI_ALLOW_HTTP", "true"),
        ],
    )
    .await;
    assert_eq!(from_file.stdout, out.stdout);

    // Explaining wrote nothing and used nothing up: the token still gets a token.
    assert_eq!(
        app.cli(&["audit", "--limit", "1000"]).await.json(),
        audit_before
    );
    let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn each_refusal_shows_the_check_that_failed() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::RS256);
    let (cluster, _id) = cluster(&app, &key).await;
    let claims = kubernetes_claims(&cluster.url, ISSUER, "shop", "orders");
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let now = chrono::Utc::now().timestamp();

    let out = explain(
        &app,
        &cluster.mint(&key, &with("aud", json!(["https://elsewhere"]))),
    )
    .await;
    refused_by(&out, "aud", "aud does not contain");
    // The checks that do not depend on the failed one still ran.
    assert!(line(&out, "signature").starts_with("ok"), "{}", out.stdout);
    assert!(line(&out, "binding").starts_with("ok"), "{}", out.stdout);

    let expired = with("exp", json!(now - 10));
    let out = explain(&app, &cluster.mint(&key, &with_iat(expired, now - 100))).await;
    refused_by(&out, "exp", "expired");

    let stranger = with("iss", json!("https://unknown.example"));
    let out = explain(&app, &cluster.mint(&key, &stranger)).await;
    refused_by(&out, "issuer", "no trusted issuer");
    assert!(
        line(&out, "signature").contains("not checked"),
        "{}",
        out.stdout
    );
    assert!(line(&out, "aud").starts_with("ok"), "{}", out.stdout);

    // Signed by another key under the issuer's kid.
    let forger = TestKey::generate(Algorithm::RS256);
    let forged = forger.sign_with(&claims, |h| {
        h.kid = Some(key.kid.clone());
        h.typ = Some("JWT".into());
    });
    let out = explain(&app, &forged).await;
    refused_by(&out, "signature", "does not verify");
    assert!(line(&out, "key").starts_with("ok"), "{}", out.stdout);

    let unbound = kubernetes_claims(&cluster.url, ISSUER, "shop", "billing");
    let out = explain(&app, &cluster.mint(&key, &unbound)).await;
    refused_by(&out, "binding", "no client of issuer k8s is bound");
    refused_by(&out, "client", "no enabled client");

    // A disabled client is named as bound, and refused as not enabled.
    let old = federated_client(&app, "k8s", "system:serviceaccount:shop:old", &[]).await;
    cli_ok(&app, &["client", "disable", &old]).await;
    let out = explain(
        &app,
        &cluster.mint(
            &key,
            &kubernetes_claims(&cluster.url, ISSUER, "shop", "old"),
        ),
    )
    .await;
    refused_by(&out, "client", "no enabled client");
    assert!(
        line(&out, "binding").contains(&format!("{old} (disabled)")),
        "{}",
        out.stdout
    );

    // Not a JWT at all.
    let out = explain(&app, "hello").await;
    refused_by(&out, "token", "not a compact JWS");
}

fn with_iat(mut claims: Value, iat: i64) -> Value {
    claims["iat"] = json!(iat);
    claims["nbf"] = json!(iat);
    claims
}

#[tokio::test]
async fn a_non_ascii_subject_is_explained_as_text() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::ES256);
    add_inline_issuer(&app, "ci", "https://ci.example", &key).await;
    let id = federated_client(&app, "ci", "dépôt:é/*", &[]).await;
    let now = chrono::Utc::now().timestamp();
    let token = |sub: &str| {
        key.sign_with(
            &json!({"iss": "https://ci.example", "sub": sub, "aud": ISSUER,
                    "iat": now, "exp": now + 300}),
            |_| {},
        )
    };
    let out = explain(&app, &token("dépôt:é/api")).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        line(&out, "token").contains("dépôt:é/api"),
        "{}",
        out.stdout
    );
    assert!(line(&out, "key").contains("inline"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("client: {id}")));
    let out = explain(&app, &token("dépôt:éé/api")).await;
    refused_by(&out, "binding", "dépôt:éé/api");
}

#[tokio::test]
async fn huge_or_unreadable_input_is_refused_quickly_in_one_line() {
    let app = federation_app().await;
    // A 100 MB file: only what a token could be is read (stdin likewise stops reading).
    let dir = tempfile::tempdir().expect("dir");
    let huge = dir.path().join("huge");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(100 * 1024 * 1024))
        .expect("huge file");
    let huge = huge.display().to_string();
    let started = Instant::now();
    let out = run_cli_env(
        &app.db,
        &["issuer", "explain", &huge],
        None,
        &[("TESSERA_ISSUER", ISSUER)],
    )
    .await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("over 64 KiB"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));

    // Over a platform token's 8 KiB, within what is read: the token check says so.
    let out = explain(&app, &format!("{}.{}.{}", "e".repeat(9000), "e", "e")).await;
    refused_by(&out, "token", "over 8 KiB");

    let out = run_cli_env(
        &app.db,
        &["issuer", "explain", "/nonexistent/token"],
        None,
        &[],
    )
    .await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("cannot read /nonexistent/token"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}
