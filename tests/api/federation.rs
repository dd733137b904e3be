//! Workloads without secrets: trusted outside issuers (Kubernetes, GitHub Actions,
//! SPIFFE) whose tokens authenticate federated clients, every acceptance rule and
//! every refusal, issuers that misbehave, and the CLI's bad input.

use crate::helpers::{
    answer, assert_oauth_error, form, github_claims, kubernetes_claims, oauth2_http, published,
    run_cli_env, spawn_app_with, spiffe_bundle, svid_claims, verify_with_jwks, Answer, CliOutput,
    Serve, TestApp, TestIssuer,
};
use crate::jose::{TestKey, ISSUER};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const JWT_SPIFFE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";

/// A server at `ISSUER` that may fetch plain-http issuer keys (the test issuers').
pub async fn federation_app() -> TestApp {
    spawn_app_with(|c| {
        c.server.issuer = Some(ISSUER.into());
        c.clients.jwks_uri_allow_http = Some(true);
        c.clients.jwks_uri_timeout = Some(1);
    })
    .await
}

/// The claims of `token`, verified against the server's JWKS.
pub async fn verified(app: &TestApp, token: &str) -> Value {
    let jwks = serde_json::from_value(app.jwks().await).expect("JWKS");
    verify_with_jwks(&jwks, ISSUER, token).1
}

/// Runs the CLI with the server's `jwks_uri_allow_http` (the test issuers are http).
pub async fn cli(app: &TestApp, args: &[&str]) -> CliOutput {
    run_cli_env(
        &app.db,
        args,
        None,
        &[("TESSERA_JWKS_URI_ALLOW_HTTP", "true")],
    )
    .await
}

/// Runs the CLI; asserts success; returns its JSON.
pub async fn cli_ok(app: &TestApp, args: &[&str]) -> Value {
    let out = cli(app, args).await;
    assert!(out.success, "{args:?}: {}", out.stderr);
    out.json()
}

/// Registers `issuer` under `name` with its `/jwks` as key source (and `extra` flags).
pub async fn add_issuer(app: &TestApp, name: &str, issuer: &TestIssuer, extra: &[&str]) {
    let jwks_uri = format!("{}/jwks", issuer.url);
    let mut args = vec![
        "issuer",
        "add",
        "--name",
        name,
        "--issuer",
        &issuer.url,
        "--jwks-uri",
        &jwks_uri,
    ];
    args.extend_from_slice(extra);
    cli_ok(app, &args).await;
}

/// Registers `issuer` under `name` with `key`'s JWK Set inline (`--jwks FILE`).
pub async fn add_inline_issuer(app: &TestApp, name: &str, issuer: &str, key: &TestKey) {
    let dir = tempfile::tempdir().expect("dir");
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, TestKey::jwks(&[key]).to_string()).expect("write");
    let jwks = jwks.display().to_string();
    cli_ok(
        app,
        &[
            "issuer", "add", "--name", name, "--issuer", issuer, "--jwks", &jwks,
        ],
    )
    .await;
}

/// A federated client bound to `issuer` and `subject` (and `extra` flags); its id.
pub async fn federated_client(
    app: &TestApp,
    issuer: &str,
    subject: &str,
    extra: &[&str],
) -> String {
    let mut args = vec![
        "client",
        "create",
        "--name",
        "workload",
        "--scope",
        "orders:read",
        "--auth-method",
        "federated",
        "--issuer",
        issuer,
        "--subject",
        subject,
    ];
    args.extend_from_slice(extra);
    let out = app.cli(&args).await;
    assert!(out.success, "{}", out.stderr);
    let json = out.json();
    assert!(
        json.get("client_secret").is_none(),
        "no secret for a federated client"
    );
    json["client_id"].as_str().expect("id").to_string()
}

/// `client_credentials` with `token` as the client assertion.
pub async fn with_platform_token(
    app: &TestApp,
    token: &str,
    assertion_type: &str,
    client_id: Option<&str>,
) -> Answer {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", assertion_type),
        ("client_assertion", token),
    ];
    if let Some(id) = client_id {
        pairs.push(("client_id", id));
    }
    let res = app
        .http
        .post(format!("{}/oauth/token", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .expect("sent");
    answer(res).await
}

#[tokio::test]
async fn a_kubernetes_pod_gets_a_token_with_its_projected_service_account_token() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::RS256);
    let cluster = TestIssuer::start(published(&[&key], 300)).await;
    // No key source: the keys come from the issuer's OIDC discovery document.
    let added = cli_ok(
        &app,
        &[
            "issuer",
            "add",
            "--name",
            "k8s-prod",
            "--issuer",
            &cluster.url,
        ],
    )
    .await;
    assert_eq!(added["key_source"], "discovery");
    let id = federated_client(&app, "k8s-prod", "system:serviceaccount:shop:orders", &[]).await;

    let token = cluster.mint(
        &key,
        &kubernetes_claims(&cluster.url, ISSUER, "shop", "orders"),
    );
    let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let claims = verified(&app, a.access_token()).await;
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(
        claims["ext"],
        json!({"iss": cluster.url, "sub": "system:serviceaccount:shop:orders"})
    );
    // Platform tokens are reused by design: the same one works again.
    let again = with_platform_token(&app, &token, JWT_BEARER, Some(&id)).await;
    assert_eq!(again.status, 200, "{}", again.body);

    // The oauth2 crate as the client, sending the token as its assertion.
    use oauth2::basic::BasicClient;
    use oauth2::{AuthType, ClientId, TokenResponse, TokenUrl};
    let oauth = BasicClient::new(ClientId::new(id.clone()))
        .set_token_uri(TokenUrl::new(format!("{}/oauth/token", app.address)).expect("url"))
        .set_auth_type(AuthType::RequestBody);
    let got = oauth
        .exchange_client_credentials()
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param("client_assertion", token.clone())
        .request_async(&oauth2_http())
        .await
        .expect("token via oauth2");
    assert_eq!(
        verified(&app, got.access_token().secret()).await["sub"],
        id.as_str()
    );

    // The same credential works at introspection and revocation.
    let introspected = app
        .http
        .post(format!("{}/oauth/revoke", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("token", a.access_token()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &token),
        ]))
        .send()
        .await
        .expect("sent");
    assert_eq!(introspected.status(), 200);

    // Metadata says so.
    let meta = app.metadata().await;
    assert!(meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .expect("methods")
        .contains(&json!("federated")));
}

#[tokio::test]
async fn a_github_actions_job_is_bound_by_repository_prefix_and_ref() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::RS256);
    let github = TestIssuer::start(published(&[&key], 300)).await;
    add_issuer(&app, "github", &github, &[]).await;
    let id = federated_client(
        &app,
        "github",
        "repo:acme/deployer:*",
        &[
            "--claim",
            "ref=refs/heads/main",
            "--claim",
            "repository=acme/deployer",
        ],
    )
    .await;
    let shown = cli_ok(&app, &["client", "show", &id]).await;
    assert_eq!(
        shown["federated_claims"],
        json!({"ref": "refs/heads/main", "repository": "acme/deployer"})
    );

    let main = github.mint(
        &key,
        &github_claims(&github.url, ISSUER, "acme/deployer", "refs/heads/main"),
    );
    let a = with_platform_token(&app, &main, JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(verified(&app, a.access_token()).await["sub"], id.as_str());

    for (repo, git_ref) in [
        ("acme/deployer", "refs/heads/dev"),
        ("acme/other", "refs/heads/main"),
    ] {
        let token = github.mint(&key, &github_claims(&github.url, ISSUER, repo, git_ref));
        let no = with_platform_token(&app, &token, JWT_BEARER, None).await;
        assert_oauth_error(&no, 401, "invalid_client");
    }
}

/// A SPIRE server for the trust domain `prod.example`, added as the issuer `spire`:
/// its signing key, the running bundle endpoint and what `issuer add` printed.
async fn add_spire(app: &TestApp) -> (TestKey, TestIssuer, Value) {
    let key = TestKey::generate(Algorithm::ES256);
    let spire = TestIssuer::start(spiffe_bundle(&[&key])).await;
    let bundle = format!("{}/jwks", spire.url);
    let added = cli_ok(
        app,
        &[
            "issuer",
            "add",
            "--name",
            "spire",
            "--spiffe-trust-domain",
            "prod.example",
            "--jwks-uri",
            &bundle,
        ],
    )
    .await;
    (key, spire, added)
}

#[tokio::test]
async fn a_spiffe_workload_authenticates_with_its_jwt_svid() {
    let app = federation_app().await;
    let (key, spire, added) = add_spire(&app).await;
    assert_eq!(added["issuer"], "spiffe://prod.example");
    let spiffe_id = "spiffe://prod.example/ns/shop/sa/orders";
    let id = federated_client(&app, "spire", spiffe_id, &[]).await;

    let svid = spire.mint(&key, &svid_claims(spiffe_id, ISSUER));
    let a = with_platform_token(&app, &svid, JWT_SPIFFE, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let claims = verified(&app, a.access_token()).await;
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(
        claims["ext"],
        json!({"iss": "spiffe://prod.example", "sub": spiffe_id})
    );

    // Another trust domain's SVID is nobody's.
    let other = spire.mint(
        &key,
        &svid_claims("spiffe://dev.example/ns/shop/sa/orders", ISSUER),
    );
    assert_oauth_error(
        &with_platform_token(&app, &other, JWT_SPIFFE, None).await,
        401,
        "invalid_client",
    );
}

#[tokio::test]
async fn every_refusal_is_invalid_client_and_writes_nothing() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::RS256);
    let stranger = TestKey::generate(Algorithm::RS256);
    let cluster = TestIssuer::start(published(&[&key], 300)).await;
    add_issuer(&app, "k8s", &cluster, &["--max-token-age", "7200"]).await;
    federated_client(&app, "k8s", "system:serviceaccount:shop:orders", &[]).await;
    let disabled = federated_client(&app, "k8s", "system:serviceaccount:shop:old", &[]).await;
    cli_ok(&app, &["client", "disable", &disabled]).await;
    // Two clients for one subject: only with client_id.
    let twin_a = federated_client(&app, "k8s", "system:serviceaccount:shop:twin", &[]).await;
    federated_client(
        &app,
        "k8s",
        "system:serviceaccount:shop:*",
        &["--claim", "team=shop"],
    )
    .await;

    let now = chrono::Utc::now().timestamp();
    let good = kubernetes_claims(&cluster.url, ISSUER, "shop", "orders");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        change(&mut c);
        cluster.mint(&key, &c)
    };
    assert_eq!(
        with_platform_token(&app, &with(&|_| {}), JWT_BEARER, None)
            .await
            .status,
        200
    );
    let twin = with(&|c| {
        c["sub"] = json!("system:serviceaccount:shop:twin");
        c["team"] = json!("shop");
    });
    assert_eq!(
        with_platform_token(&app, &twin, JWT_BEARER, Some(&twin_a))
            .await
            .status,
        200,
        "client_id picks one of several matches"
    );

    let bomb = {
        let claims = good.to_string();
        let nested = format!("{}{}", "[".repeat(2_000), "]".repeat(2_000));
        let claims = format!("{},\"x\":{nested}}}", &claims[..claims.len() - 1]);
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid}).to_string();
        key.sign_text(&header, &claims)
    };
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        (
            "aud is another server",
            with(&|c| c["aud"] = json!(["https://elsewhere"])),
            None,
        ),
        (
            "aud with 1,000 entries",
            with(&|c| c["aud"] = json!(vec!["a"; 1000])),
            None,
        ),
        ("expired", with(&|c| c["exp"] = json!(now - 1)), None),
        (
            "no exp",
            with(&|c| {
                c.as_object_mut().expect("o").remove("exp");
            }),
            None,
        ),
        (
            "older than max-token-age",
            with(&|c| c["iat"] = json!(now - 7000)),
            None,
        ),
        (
            "iat in the future",
            with(&|c| c["iat"] = json!(now + 600)),
            None,
        ),
        (
            "issued at the start of time (exp - iat overflows)",
            with(&|c| c["iat"] = json!(i64::MIN)),
            None,
        ),
        (
            "nbf in the future",
            with(&|c| c["nbf"] = json!(now + 600)),
            None,
        ),
        (
            "an unknown issuer",
            with(&|c| c["iss"] = json!("https://unknown.example")),
            None,
        ),
        (
            "another subject",
            with(&|c| c["sub"] = json!("system:serviceaccount:shop:web")),
            None,
        ),
        (
            "a disabled client",
            with(&|c| c["sub"] = json!("system:serviceaccount:shop:old")),
            None,
        ),
        ("two matching clients", twin.clone(), None),
        ("the wrong client_id", with(&|_| {}), Some(twin_a.as_str())),
        (
            "signed by another key",
            stranger.sign_with(&good, |h| h.kid = Some(key.kid.clone())),
            None,
        ),
        (
            "a DPoP proof's typ",
            key.sign_with(&good, |h| h.typ = Some("dpop+jwt".into())),
            None,
        ),
        (
            "alg none",
            {
                use base64::Engine;
                let b64 = |v: &Value| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
                };
                format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&good))
            },
            None,
        ),
        ("a JSON bomb in the claims", bomb.clone(), None),
        (
            "over 8 KiB",
            with(&|c| c["pad"] = json!("x".repeat(9000))),
            None,
        ),
    ];
    let tokens_before = app.count_rows("used_jtis");
    for (why, token, client_id) in &cases {
        let a = with_platform_token(&app, token, JWT_BEARER, *client_id).await;
        assert_oauth_error(&a, 401, "invalid_client");
        assert!(a.body.get("access_token").is_none(), "{why}");
        let said = a.body["error_description"].as_str().unwrap_or_default();
        assert!(
            !said.contains("sub") || why == &"an unknown issuer",
            "{why}: no reason in the answer: {said}"
        );
    }
    assert_eq!(
        app.count_rows("used_jtis"),
        tokens_before,
        "nothing written"
    );
}

#[tokio::test]
async fn issuer_keys_rotate_and_a_misbehaving_issuer_does_not_hold_up_others() {
    let app = federation_app().await;
    let old = TestKey::generate(Algorithm::RS256);
    let new = TestKey::generate(Algorithm::RS256);
    let cluster = TestIssuer::start(published(&[&old], 3600)).await;
    add_issuer(&app, "k8s", &cluster, &[]).await;
    federated_client(&app, "k8s", "system:serviceaccount:shop:orders", &[]).await;
    let claims = kubernetes_claims(&cluster.url, ISSUER, "shop", "orders");
    assert_eq!(
        with_platform_token(&app, &cluster.mint(&old, &claims), JWT_BEARER, None)
            .await
            .status,
        200
    );

    // The cluster rotates: a token with the new kid makes one early refetch.
    cluster.set(published(&[&old, &new], 3600));
    tokio::time::sleep(std::time::Duration::from_millis(10_100)).await;
    let a = with_platform_token(&app, &cluster.mint(&new, &claims), JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // A second issuer whose key endpoint hangs, loops or floods: its clients are
    // refused within the time limit, and a secret client gets tokens meanwhile.
    let secret_client = app.create_client(&[]).await;
    for mode in [
        Serve::Hang,
        Serve::RedirectLoop,
        Serve::Huge,
        Serve::NotFound,
    ] {
        let bad = TestIssuer::start(mode).await;
        let name = format!("bad-{}", bad.url.rsplit(':').next().unwrap_or("x"));
        add_issuer(&app, &name, &bad, &[]).await;
        federated_client(&app, &name, "system:serviceaccount:shop:orders", &[]).await;
        let key = TestKey::generate(Algorithm::ES256);
        let token = bad.mint(&key, &kubernetes_claims(&bad.url, ISSUER, "shop", "orders"));
        let started = std::time::Instant::now();
        let (refused, machine) = tokio::join!(
            with_platform_token(&app, &token, JWT_BEARER, None),
            app.client_credentials_token(&secret_client),
        );
        assert_oauth_error(&refused, 401, "invalid_client");
        assert!(!machine.is_empty());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "bounded by the time limit"
        );
    }
}

#[tokio::test]
async fn issuer_and_federated_client_commands_refuse_bad_input_with_one_line() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::RS256);
    add_inline_issuer(&app, "inline", "https://inline.example", &key).await;
    let issuers_before = app.count_rows("trusted_issuers");
    let clients_before = app.count_rows("clients");
    let issuer = |rest: &[&'static str]| [&["issuer", "add", "--name"][..], rest].concat();
    let client = |rest: &[&'static str]| [&["client", "create", "--name", "w"][..], rest].concat();
    let federated =
        |rest: &[&'static str]| client(&[&["--auth-method", "federated"][..], rest].concat());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (issuer(&["x", "--issuer", "not a url"]), "--issuer"),
        (issuer(&["x", "--issuer", "ftp://a.example"]), "https"),
        (
            issuer(&["inline", "--issuer", "https://other.example"]),
            "already exists",
        ),
        (
            issuer(&["y", "--issuer", "https://inline.example"]),
            "already registered",
        ),
        (
            issuer(&["bad name!", "--issuer", "https://z.example"]),
            "--name",
        ),
        (
            issuer(&["s", "--spiffe-trust-domain", "prod.example"]),
            "--jwks-uri",
        ),
        (
            issuer(&["t", "--issuer", "https://t.example", "--max-token-age", "0"]),
            "--max-token-age",
        ),
        (
            federated(&["--issuer", "nope", "--subject", "s"]),
            "no trusted issuer",
        ),
        (
            federated(&["--issuer", "inline", "--subject", ""]),
            "--subject",
        ),
        (
            federated(&["--issuer", "inline", "--subject", "*"]),
            "--subject",
        ),
        (federated(&[]), "--issuer"),
        (
            client(&["--issuer", "inline", "--subject", "s"]),
            "federated",
        ),
        (
            federated(&["--issuer", "inline", "--subject", "s", "--claim", "novalue"]),
            "KEY=VALUE",
        ),
    ];
    for (args, expect) in cases {
        let out = cli(&app, &args).await;
        assert!(!out.success, "{args:?} accepted");
        let line = out.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{args:?}: {line}");
        assert!(line.contains(expect), "{args:?}: {line}");
    }
    assert_eq!(app.count_rows("trusted_issuers"), issuers_before);
    assert_eq!(app.count_rows("clients"), clients_before);

    // An issuer with clients bound to it cannot be deleted.
    let id = federated_client(&app, "inline", "svc", &[]).await;
    let out = cli(&app, &["issuer", "delete", "inline"]).await;
    assert!(
        !out.success && out.stderr.contains("bound"),
        "{}",
        out.stderr
    );
    cli_ok(&app, &["client", "delete", &id]).await;
    cli_ok(&app, &["issuer", "delete", "inline"]).await;
    assert_eq!(cli_ok(&app, &["issuer", "list"]).await, json!([]));
}

#[tokio::test]
async fn federated_clients_register_through_rfc_7591_too() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::ES256);
    add_inline_issuer(&app, "ci", "https://ci.example", &key).await;
    let admin = app.admin_token().await;
    let res = app
        .http
        .post(format!("{}/oauth/register", app.address))
        .bearer_auth(&admin)
        .json(
            &json!({"client_name": "deployer", "token_endpoint_auth_method": "federated",
                      "federated_issuer": "ci", "federated_subject": "pipeline:deploy",
                      "federated_claims": {"env": "prod"}}),
        )
        .send()
        .await
        .expect("sent");
    let created = answer(res).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body.get("client_secret").is_none());
    assert_eq!(created.body["federated_claims"], json!({"env": "prod"}));
    let id = created.body["client_id"].as_str().expect("id").to_string();

    let now = chrono::Utc::now().timestamp();
    let token = key.sign_with(
        &json!({"iss": "https://ci.example", "sub": "pipeline:deploy", "env": "prod",
                "aud": ISSUER, "iat": now, "exp": now + 300}),
        |_| {},
    );
    let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(verified(&app, a.access_token()).await["sub"], id.as_str());

    let res = app
        .http
        .post(format!("{}/oauth/register", app.address))
        .bearer_auth(&admin)
        .json(
            &json!({"client_name": "x", "token_endpoint_auth_method": "federated",
                      "federated_issuer": "nope", "federated_subject": "s"}),
        )
        .send()
        .await
        .expect("sent");
    assert_oauth_error(&answer(res).await, 400, "invalid_client_metadata");
}

#[tokio::test]
async fn another_tessera_is_a_trusted_issuer_by_discovery() {
    let upstream = crate::helpers::spawn_app().await;
    let workload = upstream.create_client(&["--audience", ISSUER]).await;
    let token = upstream.client_credentials_token(&workload).await;

    let app = federation_app().await;
    let added = cli_ok(
        &app,
        &[
            "issuer",
            "add",
            "--name",
            "upstream",
            "--issuer",
            &upstream.address,
        ],
    )
    .await;
    assert_eq!(added["key_source"], "discovery");
    let id = federated_client(&app, "upstream", &workload.id, &[]).await;
    let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "an upstream at+jwt access token: {}", a.body);
    let claims = verified(&app, a.access_token()).await;
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(
        claims["ext"],
        json!({"iss": upstream.address, "sub": workload.id})
    );
}

/// `POST /oauth/register` with the admin token and `body`.
async fn register(app: &TestApp, admin: &str, body: &Value) -> Answer {
    let res = app
        .http
        .post(format!("{}/oauth/register", app.address))
        .bearer_auth(admin)
        .json(body)
        .send()
        .await
        .expect("sent");
    answer(res).await
}

/// RFC 7591 metadata of a federated client of `issuer` bound to `subject`.
fn federated_metadata(issuer: &str, subject: &str) -> Value {
    json!({"client_name": "workload", "token_endpoint_auth_method": "federated",
           "federated_issuer": issuer, "federated_subject": subject})
}

/// A token of the inline issuer `https://ci.example` for `sub`, signed by `key`.
fn ci_token(key: &TestKey, sub: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    key.sign_with(
        &json!({"iss": "https://ci.example", "sub": sub, "aud": ISSUER,
                "iat": now, "exp": now + 300}),
        |_| {},
    )
}

#[tokio::test]
async fn non_ascii_subjects_are_text_and_every_write_keeps_working_after_them() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::ES256);
    add_inline_issuer(&app, "ci", "https://ci.example", &key).await;
    let admin = app.admin_token().await;
    let user_client = app.create_app_client(&[]).await;
    app.create_user("alice", "correct horse battery staple")
        .await;

    // Each of these once took the server's writer down (a byte index inside "é").
    for subject in ["é*", "café", "*é", "ö", "repo:acme*é"] {
        let a = register(&app, &admin, &federated_metadata("ci", subject)).await;
        assert!(
            a.status == 201 || a.error() == "invalid_client_metadata",
            "{subject}: {} {}",
            a.status,
            a.body
        );
    }
    for refused in ["é*", "*é", "repo:acme*é", "ü*"] {
        let a = register(&app, &admin, &federated_metadata("ci", refused)).await;
        assert_oauth_error(&a, 400, "invalid_client_metadata");
    }
    let cafe = register(&app, &admin, &federated_metadata("ci", "café")).await;
    assert_eq!(cafe.status, 201, "{}", cafe.body);
    let prefix = register(&app, &admin, &federated_metadata("ci", "dépôt:prod/*")).await;
    assert_eq!(prefix.status, 201, "{}", prefix.body);

    // Subjects are compared as Unicode text: "café" is not "cafe" nor "cafe\u{301}".
    let cafe_ids: Vec<String> = app
        .cli(&["client", "list"])
        .await
        .json()
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["federated_subject"] == "café")
        .map(|c| c["client_id"].as_str().expect("id").to_string())
        .collect();
    let a = with_platform_token(
        &app,
        &ci_token(&key, "café"),
        JWT_BEARER,
        Some(&cafe_ids[0]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(verified(&app, a.access_token()).await["ext"]["sub"], "café");
    for other in ["cafe", "cafe\u{301}", "caf", "café "] {
        let a = with_platform_token(&app, &ci_token(&key, other), JWT_BEARER, None).await;
        assert_oauth_error(&a, 401, "invalid_client");
    }
    let a = with_platform_token(&app, &ci_token(&key, "dépôt:prod/api"), JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = with_platform_token(&app, &ci_token(&key, "dépôt:prodé/api"), JWT_BEARER, None).await;
    assert_oauth_error(&a, 401, "invalid_client");

    // The server still writes: a login, a refresh, a registration, a revocation.
    let login = app
        .login(&user_client, "alice", "correct horse battery staple")
        .await;
    assert_eq!(login.status, 200, "login: {}", login.body);
    let refreshed = app.refresh(&user_client, login.refresh_token(), &[]).await;
    assert_eq!(refreshed.status, 200, "refresh: {}", refreshed.body);
    let again = register(&app, &admin, &json!({"client_name": "after"})).await;
    assert_eq!(again.status, 201, "registration: {}", again.body);
    let revoked = app
        .post_form_as(
            "/oauth/revoke",
            &user_client,
            form(&[("token", refreshed.refresh_token())]),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "revocation: {}", revoked.body);
    let health = app.get("/readyz").await;
    assert_eq!(health.status(), 200);
}

/// `client create` arguments for a client bound to the issuer `ci` by `subject`.
fn create_bound_to_ci<'a>(subject: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "client",
        "create",
        "--name",
        "w",
        "--auth-method",
        "federated",
        "--issuer",
        "ci",
        "--subject",
        subject,
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test]
async fn a_subject_prefix_ends_at_a_colon_or_a_slash() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::ES256);
    add_inline_issuer(&app, "ci", "https://ci.example", &key).await;
    let admin = app.admin_token().await;
    let clients_before = app.count_rows("clients");

    // The CLI and RFC 7591 refuse a prefix that stops inside a name.
    for subject in ["repo:acme*", "acme*", "repo:acme/dep*"] {
        let out = cli(&app, &create_bound_to_ci(subject, &[])).await;
        assert!(!out.success, "{subject} accepted");
        let line = out.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{subject}: {line}");
        assert!(line.contains("--subject"), "{subject}: {line}");
        assert!(out.stdout.trim().is_empty());
        let a = register(&app, &admin, &federated_metadata("ci", subject)).await;
        assert_oauth_error(&a, 400, "invalid_client_metadata");
    }
    assert_eq!(app.count_rows("clients"), clients_before);

    // repo:acme/* is a prefix at a separator: acme's repositories, not acme-evil's.
    let id = federated_client(&app, "ci", "repo:acme/*", &[]).await;
    let a = with_platform_token(
        &app,
        &ci_token(&key, "repo:acme/deployer"),
        JWT_BEARER,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(verified(&app, a.access_token()).await["sub"], id.as_str());
    for other in ["repo:acme-evil/deployer", "repo:acme", "repo:acmé/x"] {
        let a = with_platform_token(&app, &ci_token(&key, other), JWT_BEARER, None).await;
        assert_oauth_error(&a, 401, "invalid_client");
    }
    // A subject ending at a colon works the same.
    federated_client(&app, "ci", "system:serviceaccount:shop:*", &[]).await;
    let a = with_platform_token(
        &app,
        &ci_token(&key, "system:serviceaccount:shop:orders"),
        JWT_BEARER,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn a_disabled_twin_never_blocks_the_enabled_client() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::ES256);
    add_inline_issuer(&app, "ci", "https://ci.example", &key).await;
    let old = federated_client(&app, "ci", "pipeline:deploy", &[]).await;
    cli_ok(&app, &["client", "disable", &old]).await;
    let new = federated_client(&app, "ci", "pipeline:deploy", &[]).await;

    let token = ci_token(&key, "pipeline:deploy");
    let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
    assert_eq!(
        a.status, 200,
        "the disabled twin does not count: {}",
        a.body
    );
    assert_eq!(verified(&app, a.access_token()).await["sub"], new.as_str());
    let a = with_platform_token(&app, &token, JWT_BEARER, Some(&new)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Naming the disabled one is refused.
    let a = with_platform_token(&app, &token, JWT_BEARER, Some(&old)).await;
    assert_oauth_error(&a, 401, "invalid_client");
    // Both disabled: nobody.
    cli_ok(&app, &["client", "disable", &new]).await;
    let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
    assert_oauth_error(&a, 401, "invalid_client");
    // The old one enabled again is the only match.
    cli_ok(&app, &["client", "enable", &old]).await;
    let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(verified(&app, a.access_token()).await["sub"], old.as_str());
}

#[tokio::test]
async fn a_spiffe_subject_never_carries_an_unchecked_iss() {
    let app = federation_app().await;
    let (key, spire, _) = add_spire(&app).await;
    let spiffe_id = "spiffe://prod.example/ns/shop/sa/orders";
    federated_client(&app, "spire", spiffe_id, &[]).await;
    let with_iss = |iss: &str| {
        let mut claims = svid_claims(spiffe_id, ISSUER);
        claims["iss"] = json!(iss);
        spire.mint(&key, &claims)
    };

    // An iss that is no trusted issuer's, by either assertion type: refused.
    for assertion_type in [JWT_BEARER, JWT_SPIFFE] {
        for iss in ["https://evil.example", "spiffe://dev.example", ""] {
            let a = with_platform_token(&app, &with_iss(iss), assertion_type, None).await;
            assert_oauth_error(&a, 401, "invalid_client");
        }
    }
    // The SPIFFE issuer's own identifier, or no iss at all: accepted, and ext.iss is
    // the verified issuer's identifier.
    for token in [
        with_iss("spiffe://prod.example"),
        spire.mint(&key, &svid_claims(spiffe_id, ISSUER)),
    ] {
        for assertion_type in [JWT_BEARER, JWT_SPIFFE] {
            let a = with_platform_token(&app, &token, assertion_type, None).await;
            assert_eq!(a.status, 200, "{assertion_type}: {}", a.body);
            assert_eq!(
                verified(&app, a.access_token()).await["ext"],
                json!({"iss": "spiffe://prod.example", "sub": spiffe_id})
            );
        }
    }
    // A token of the SPIFFE issuer for another trust domain's id is nobody's.
    let mut foreign = svid_claims("spiffe://dev.example/ns/shop/sa/orders", ISSUER);
    foreign["iss"] = json!("spiffe://prod.example");
    federated_client(&app, "spire", "spiffe://dev.example/ns/shop/sa/orders", &[]).await;
    let a = with_platform_token(&app, &spire.mint(&key, &foreign), JWT_BEARER, None).await;
    assert_oauth_error(&a, 401, "invalid_client");
}

#[tokio::test]
async fn a_federated_client_has_no_secret_to_rotate_and_no_secret_method_takes_a_binding() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::ES256);
    add_inline_issuer(&app, "ci", "https://ci.example", &key).await;
    let id = federated_client(&app, "ci", "pipeline:deploy", &[]).await;
    let audit_before = app.count_rows("audit_log");

    let out = cli(&app, &["client", "rotate-secret", &id]).await;
    assert!(
        !out.success,
        "rotate-secret on a federated client printed {}",
        out.stdout
    );
    assert!(out.stdout.trim().is_empty(), "{}", out.stdout);
    let line = out.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.contains("federated"), "{line}");
    assert_eq!(app.count_rows("audit_log"), audit_before, "nothing written");
    assert!(
        cli_ok(&app, &["client", "show", &id]).await["token_endpoint_auth_method"] == "federated"
    );

    let admin = app.admin_token().await;
    let clients_before = app.count_rows("clients");
    for method in [
        None,
        Some("client_secret_basic"),
        Some("client_secret_post"),
    ] {
        let mut body = federated_metadata("ci", "pipeline:other");
        match method {
            Some(m) => body["token_endpoint_auth_method"] = json!(m),
            None => {
                body.as_object_mut()
                    .expect("object")
                    .remove("token_endpoint_auth_method");
            }
        }
        let a = register(&app, &admin, &body).await;
        assert_oauth_error(&a, 400, "invalid_client_metadata");
        assert!(
            a.body.get("client_secret").is_none(),
            "{method:?}: {}",
            a.body
        );
    }
    assert_eq!(app.count_rows("clients"), clients_before);

    // RFC 7592: a secret client cannot take a binding either.
    let created = register(&app, &admin, &json!({"client_name": "secret one"})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret_id = created.body["client_id"].as_str().expect("id");
    let mut body = federated_metadata("ci", "pipeline:other");
    body.as_object_mut()
        .expect("object")
        .remove("token_endpoint_auth_method");
    body["client_id"] = json!(secret_id);
    let res = app
        .http
        .put(format!("{}/oauth/register/{secret_id}", app.address))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_oauth_error(&answer(res).await, 400, "invalid_client_metadata");
}

/// Registers `issuer` under `name` without a key source (OIDC discovery).
async fn add_discovered_issuer(app: &TestApp, name: &str, issuer: &TestIssuer) {
    cli_ok(
        app,
        &["issuer", "add", "--name", name, "--issuer", &issuer.url],
    )
    .await;
}

#[tokio::test]
async fn a_discovered_jwks_uri_and_redirects_never_reach_a_private_address_the_issuer_chose() {
    use crate::helpers::{Discovery, JwksServer};
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::RS256);
    // Keys on a loopback host no operator named.
    let elsewhere = JwksServer::start_at("127.0.0.3", published(&[&key], 300)).await;
    // Keys on 127.0.0.1 under a name that resolves there ("vm" in /etc/hosts, or
    // "localhost"): refused when connecting, not by reading the URL.
    let by_name = JwksServer::start(published(&[&key], 300)).await;
    let port = by_name.url.rsplit(':').next().expect("port");
    let host = ["vm", "runsc"]
        .into_iter()
        .find(|h| {
            std::net::ToSocketAddrs::to_socket_addrs(&(*h, 80))
                .is_ok_and(|mut a| a.all(|a| a.ip().is_loopback()))
        })
        .unwrap_or("localhost");
    let named_url = format!("http://{host}:{port}");

    let mut refused = vec![];
    // 1. Discovery names a jwks_uri on another private host.
    let chose_ip = TestIssuer::start_with(
        published(&[&key], 300),
        Discovery::JwksUri(elsewhere.url.clone()),
    )
    .await;
    refused.push(chose_ip);
    // 2. Discovery names a jwks_uri by a name resolving to loopback.
    let chose_name = TestIssuer::start_with(
        published(&[&key], 300),
        Discovery::JwksUri(
            by_name
                .url
                .replace("http://127.0.0.1", &format!("http://{host}")),
        ),
    )
    .await;
    refused.push(chose_name);
    // 3. The issuer's own /jwks redirects to the other private host.
    let redirects = TestIssuer::start(Serve::Redirect(elsewhere.url.clone())).await;
    refused.push(redirects);
    // 4. Its discovery document redirects to a name resolving to loopback.
    let doc_redirects = TestIssuer::start_with(
        published(&[&key], 300),
        Discovery::Serve(Serve::Redirect(format!(
            "{named_url}/.well-known/openid-configuration"
        ))),
    )
    .await;
    refused.push(doc_redirects);
    // 5. Discovery names another port of the issuer's own host (another origin).
    let other_port = TestIssuer::start_with(
        published(&[&key], 300),
        Discovery::JwksUri(by_name.url.clone()),
    )
    .await;
    refused.push(other_port);
    for (i, issuer) in refused.iter().enumerate() {
        let name = format!("chooser-{i}");
        add_discovered_issuer(&app, &name, issuer).await;
        federated_client(&app, &name, "system:serviceaccount:shop:orders", &[]).await;
        let token = issuer.mint(
            &key,
            &kubernetes_claims(&issuer.url, ISSUER, "shop", "orders"),
        );
        let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
        assert_oauth_error(&a, 401, "invalid_client");
    }
    // 6. The operator's own --jwks-uri redirects there.
    let hop = JwksServer::start(Serve::Redirect(elsewhere.url.clone())).await;
    let op = TestIssuer::start(published(&[&key], 300)).await;
    cli_ok(
        &app,
        &[
            "issuer",
            "add",
            "--name",
            "hop",
            "--issuer",
            &op.url,
            "--jwks-uri",
            &hop.url,
        ],
    )
    .await;
    federated_client(&app, "hop", "system:serviceaccount:shop:hop", &[]).await;
    let token = op.mint(&key, &kubernetes_claims(&op.url, ISSUER, "shop", "hop"));
    let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
    assert_oauth_error(&a, 401, "invalid_client");
    assert_eq!(hop.hits(), 1, "the operator's URL itself is fetched");
    assert_eq!(elsewhere.hits(), 0, "no fetch reached 127.0.0.3");
    assert_eq!(by_name.hits(), 0, "no fetch reached {host}");

    // What the operator names may be private: --jwks-uri on 127.0.0.3 works.
    let direct = TestIssuer::start(published(&[&key], 300)).await;
    cli_ok(
        &app,
        &[
            "issuer",
            "add",
            "--name",
            "direct",
            "--issuer",
            &direct.url,
            "--jwks-uri",
            &elsewhere.url,
        ],
    )
    .await;
    federated_client(&app, "direct", "system:serviceaccount:shop:direct", &[]).await;
    let token = direct.mint(
        &key,
        &kubernetes_claims(&direct.url, ISSUER, "shop", "direct"),
    );
    let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(elsewhere.hits(), 1);

    // With jwks_uri_allow_private the discovered URL is fetched like a client's.
    let open = spawn_app_with(|c| {
        c.server.issuer = Some(ISSUER.into());
        c.clients.jwks_uri_allow_http = Some(true);
        c.clients.jwks_uri_allow_private = Some(true);
        c.clients.jwks_uri_timeout = Some(1);
    })
    .await;
    let chooser = &refused[0];
    add_discovered_issuer(&open, "chooser", chooser).await;
    federated_client(&open, "chooser", "system:serviceaccount:shop:orders", &[]).await;
    let token = chooser.mint(
        &key,
        &kubernetes_claims(&chooser.url, ISSUER, "shop", "orders"),
    );
    let a = with_platform_token(&open, &token, JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn a_failing_discovery_is_retried_at_most_every_10_seconds_and_fails_fast_meanwhile() {
    use crate::helpers::Discovery;
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::RS256);
    let issuer =
        TestIssuer::start_with(published(&[&key], 300), Discovery::Serve(Serve::NotFound)).await;
    add_discovered_issuer(&app, "flaky", &issuer).await;
    federated_client(&app, "flaky", "system:serviceaccount:shop:orders", &[]).await;
    let token = issuer.mint(
        &key,
        &kubernetes_claims(&issuer.url, ISSUER, "shop", "orders"),
    );

    let first = std::time::Instant::now();
    for _ in 0..30 {
        let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
        assert_oauth_error(&a, 401, "invalid_client");
    }
    assert_eq!(issuer.discovery_hits(), 1, "30 tokens, one discovery");

    // The issuer recovers; within 10 s of the failure nothing is fetched.
    issuer.set_discovery(Discovery::Standard);
    let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
    assert_oauth_error(&a, 401, "invalid_client");
    assert_eq!(issuer.discovery_hits(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(10_100).saturating_sub(first.elapsed()))
        .await;
    let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "retried after 10 s: {}", a.body);
    assert_eq!(issuer.discovery_hits(), 2);
}

#[tokio::test]
async fn a_hanging_discovery_costs_one_time_limit_and_delays_no_other_issuer() {
    use crate::helpers::Discovery;
    use std::time::{Duration, Instant};
    // A 3 s time limit: one wait is 3 s, six in a row would be 18 s, and the other
    // issuer's token, if it waited behind the hanging one, would take 3 s.
    let app = spawn_app_with(|c| {
        c.server.issuer = Some(ISSUER.into());
        c.clients.jwks_uri_allow_http = Some(true);
        c.clients.jwks_uri_timeout = Some(3);
    })
    .await;
    let key = TestKey::generate(Algorithm::RS256);
    let hanging =
        TestIssuer::start_with(published(&[&key], 300), Discovery::Serve(Serve::Hang)).await;
    let healthy = TestIssuer::start(published(&[&key], 300)).await;
    add_discovered_issuer(&app, "hanging", &hanging).await;
    add_discovered_issuer(&app, "healthy", &healthy).await;
    federated_client(&app, "hanging", "system:serviceaccount:shop:orders", &[]).await;
    federated_client(&app, "healthy", "system:serviceaccount:shop:orders", &[]).await;
    let stuck = hanging.mint(
        &key,
        &kubernetes_claims(&hanging.url, ISSUER, "shop", "orders"),
    );
    let fine = healthy.mint(
        &key,
        &kubernetes_claims(&healthy.url, ISSUER, "shop", "orders"),
    );

    let started = Instant::now();
    let timed = |token: String| {
        let app = &app;
        async move {
            let at = Instant::now();
            let a = with_platform_token(app, &token, JWT_BEARER, None).await;
            (a, at.elapsed())
        }
    };
    let stuck_requests = futures::future::join_all((0..6).map(|_| timed(stuck.clone())));
    let other = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        timed(fine.clone()).await
    };
    let (stuck_answers, (fine_answer, fine_took)) = tokio::join!(stuck_requests, other);
    for (a, took) in &stuck_answers {
        assert_oauth_error(a, 401, "invalid_client");
        assert!(
            *took < Duration::from_millis(4_500),
            "one time limit, not six: {took:?}"
        );
    }
    assert_eq!(
        hanging.discovery_hits(),
        1,
        "six requests shared one discovery"
    );
    assert_eq!(fine_answer.status, 200, "{}", fine_answer.body);
    assert!(
        fine_took < Duration::from_millis(2_000),
        "the other issuer waited {fine_took:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(4_500));
    // Meanwhile and after: refused at once, without another fetch.
    let (a, took) = timed(stuck.clone()).await;
    assert_oauth_error(&a, 401, "invalid_client");
    assert!(took < Duration::from_millis(1_500), "{took:?}");
    assert_eq!(hanging.discovery_hits(), 1);
}

/// [`federation_app`] with the client cache at its default lifetime (5 s), as in
/// production: what it remembers must not refuse what was made since.
async fn cached_federation_app() -> TestApp {
    spawn_app_with(|c| {
        c.server.issuer = Some(ISSUER.into());
        c.clients.jwks_uri_allow_http = Some(true);
        c.clients.jwks_uri_timeout = Some(1);
        c.clients.client_cache_ttl = Some(5);
    })
    .await
}

#[tokio::test]
async fn federated_clients_and_issuers_work_at_once_however_they_were_made() {
    let app = cached_federation_app().await;
    let key = TestKey::generate(Algorithm::ES256);
    add_inline_issuer(&app, "ci", "https://ci.example", &key).await;
    federated_client(&app, "ci", "pipeline:first", &[]).await;
    let a = with_platform_token(&app, &ci_token(&key, "pipeline:first"), JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // The server now remembers ci's bindings, and that "pipeline:second" is nobody's.
    let second = ci_token(&key, "pipeline:second");
    let a = with_platform_token(&app, &second, JWT_BEARER, None).await;
    assert_oauth_error(&a, 401, "invalid_client");

    // Through the CLI: works at once.
    let started = std::time::Instant::now();
    let id = federated_client(&app, "ci", "pipeline:second", &[]).await;
    let a = with_platform_token(&app, &second, JWT_BEARER, None).await;
    assert_eq!(
        a.status, 200,
        "client create, then a token at once: {}",
        a.body
    );
    assert_eq!(verified(&app, a.access_token()).await["sub"], id.as_str());
    assert!(started.elapsed() < std::time::Duration::from_secs(3));

    // Through RFC 7591.
    let admin = app.admin_token().await;
    let a = register(&app, &admin, &federated_metadata("ci", "pipeline:third")).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = with_platform_token(&app, &ci_token(&key, "pipeline:third"), JWT_BEARER, None).await;
    assert_eq!(
        a.status, 200,
        "registered, then a token at once: {}",
        a.body
    );

    // Through apply.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("clients.toml");
    std::fs::write(
        &path,
        "[[client]]\nclient_id = \"fourth\"\nauth_method = \"federated\"\nissuer = \"ci\"\nsubject = \"pipeline:fourth\"\n",
    )
    .expect("write");
    cli_ok(&app, &["apply", &path.display().to_string()]).await;
    let a = with_platform_token(&app, &ci_token(&key, "pipeline:fourth"), JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "applied, then a token at once: {}", a.body);

    // A client enabled again works at once too.
    cli_ok(&app, &["client", "disable", "fourth"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(5_100)).await; // removals: the ttl
    let a = with_platform_token(&app, &ci_token(&key, "pipeline:fourth"), JWT_BEARER, None).await;
    assert_oauth_error(&a, 401, "invalid_client");
    cli_ok(&app, &["client", "enable", "fourth"]).await;
    let a = with_platform_token(&app, &ci_token(&key, "pipeline:fourth"), JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "enabled, then a token at once: {}", a.body);

    // A new issuer: its iss was unknown a moment ago.
    let gh_key = TestKey::generate(Algorithm::RS256);
    let github = TestIssuer::start(published(&[&gh_key], 300)).await;
    let job = github.mint(
        &gh_key,
        &github_claims(&github.url, ISSUER, "acme/app", "refs/heads/main"),
    );
    let a = with_platform_token(&app, &job, JWT_BEARER, None).await;
    assert_oauth_error(&a, 401, "invalid_client");
    add_issuer(&app, "github", &github, &[]).await;
    federated_client(&app, "github", "repo:acme/app:*", &[]).await;
    let a = with_platform_token(&app, &job, JWT_BEARER, None).await;
    assert_eq!(
        a.status, 200,
        "issuer add, then a token at once: {}",
        a.body
    );
}

#[tokio::test]
async fn new_inline_issuer_keys_work_at_once() {
    let app = cached_federation_app().await;
    let old = TestKey::generate(Algorithm::ES256);
    let new = TestKey::generate(Algorithm::ES256);
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("issuers.toml");
    let file = |key: &TestKey| {
        format!(
            "[[issuer]]\nname = \"ci\"\nissuer = \"https://ci.example\"\njwks = {}\n\n[[client]]\nclient_id = \"deployer\"\nauth_method = \"federated\"\nissuer = \"ci\"\nsubject = \"pipeline:deploy\"\n",
            toml_inline(&TestKey::jwks(&[key]))
        )
    };
    std::fs::write(&path, file(&old)).expect("write");
    let path = path.display().to_string();
    cli_ok(&app, &["apply", &path]).await;
    let a = with_platform_token(&app, &ci_token(&old, "pipeline:deploy"), JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // The platform rotated its keys; the operator applies the new set.
    std::fs::write(&path, file(&new)).expect("write");
    cli_ok(&app, &["apply", &path]).await;
    let a = with_platform_token(&app, &ci_token(&new, "pipeline:deploy"), JWT_BEARER, None).await;
    assert_eq!(
        a.status, 200,
        "new issuer keys, then a token at once: {}",
        a.body
    );
}

/// A JSON value as a TOML inline value.
fn toml_inline(v: &Value) -> String {
    match v {
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{} = {}", json!(k), toml_inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn a_dotted_claim_binds_by_a_nested_kubernetes_namespace() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::RS256);
    let cluster = TestIssuer::start(published(&[&key], 300)).await;
    add_issuer(&app, "k8s", &cluster, &[]).await;
    // Every service account of namespace shop, by the token's nested claim.
    let id = federated_client(
        &app,
        "k8s",
        "system:serviceaccount:*",
        &["--claim", "kubernetes.io.namespace=shop"],
    )
    .await;
    for sa in ["orders", "web"] {
        let token = cluster.mint(&key, &kubernetes_claims(&cluster.url, ISSUER, "shop", sa));
        let a = with_platform_token(&app, &token, JWT_BEARER, None).await;
        assert_eq!(a.status, 200, "{sa}: {}", a.body);
        assert_eq!(verified(&app, a.access_token()).await["sub"], id.as_str());
    }
    let other = cluster.mint(
        &key,
        &kubernetes_claims(&cluster.url, ISSUER, "billing", "orders"),
    );
    let a = with_platform_token(&app, &other, JWT_BEARER, None).await;
    assert_oauth_error(&a, 401, "invalid_client");
}

#[tokio::test]
async fn control_characters_never_enter_a_binding_or_an_outside_subject() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::ES256);
    add_inline_issuer(&app, "ci", "https://ci.example", &key).await;
    let admin = app.admin_token().await;
    let clients_before = app.count_rows("clients");

    // A bound claim's name or value with a control character is refused everywhere.
    for claim in ["k=\u{1}v", "k\u{1b}=v", "k=v\u{7f}"] {
        let out = cli(
            &app,
            &create_bound_to_ci("repo:acme/*", &["--claim", claim]),
        )
        .await;
        assert!(!out.success, "{claim:?} accepted");
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
    }
    let mut metadata = federated_metadata("ci", "repo:acme/*");
    metadata["federated_claims"] = json!({"ref": "\u{7}\u{1b}[2J"});
    let a = register(&app, &admin, &metadata).await;
    assert_oauth_error(&a, 400, "invalid_client_metadata");
    assert_eq!(app.count_rows("clients"), clients_before);

    // A platform token whose sub holds control characters matches no prefix binding,
    // so nothing of it reaches an access token's ext.sub or a resource server's log.
    federated_client(&app, "ci", "repo:acme/*", &[]).await;
    let hostile = ci_token(&key, "repo:acme/\u{1b}[2J\n");
    let a = with_platform_token(&app, &hostile, JWT_BEARER, None).await;
    assert_oauth_error(&a, 401, "invalid_client");
    let a = with_platform_token(&app, &ci_token(&key, "repo:acme/app"), JWT_BEARER, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
}
