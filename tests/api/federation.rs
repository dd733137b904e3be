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
        c.issuer = Some(ISSUER.into());
        c.jwks_uri_allow_http = Some(true);
        c.jwks_uri_timeout = Some(1);
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

#[tokio::test]
async fn a_spiffe_workload_authenticates_with_its_jwt_svid() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::ES256);
    let spire = TestIssuer::start(spiffe_bundle(&[&key])).await;
    let bundle = format!("{}/jwks", spire.url);
    let added = cli_ok(
        &app,
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
