//! `private_key_jwt` client authentication (RFC 7523 §2.2): clients registered with
//! inline keys or a `jwks_uri` served by a small test server, assertions signed here
//! with a real JOSE library, for every algorithm; bad assertions and bad `jwks_uri`s.

use crate::helpers::{
    answer, assert_oauth_error, count_sql, form, oauth2_http, published, run_cli, serve_process,
    spawn_app_with, verify_with_jwks, Answer, JwksServer, Serve, TestApp, TestDb,
};
use crate::jose::{assertion_claims, unsigned, TestKey};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The issuer of [`app_with_issuer`]'s server, which assertions name as `aud`.
pub const ISSUER: &str = "http://tessera.test";
/// An endpoint URL as `aud`: accepted only with `assertion_audience = "legacy"`.
const TOKEN_ENDPOINT: &str = "http://tessera.test/oauth/token";
/// RFC 7523's `client_assertion_type`.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A server with a fixed issuer whose clients' `jwks_uri`s may be plain-http loopback.
pub async fn app_with_issuer(tweak: impl FnOnce(&mut tessera::config::ConfigArgs)) -> TestApp {
    spawn_app_with(|c| {
        c.server.issuer = Some(ISSUER.into());
        c.clients.jwks_uri_allow_http = Some(true);
        // The test jwks_uri server listens on loopback.
        c.clients.jwks_uri_allow_private = Some(true);
        c.clients.jwks_uri_timeout = Some(1);
        tweak(c);
    })
    .await
}

/// Registers a private_key_jwt client through the registration endpoint.
pub async fn register(app: &TestApp, keys: Value) -> String {
    let mut body = json!({
        "client_name": "keyed service",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": "orders:read",
    });
    for (k, v) in keys.as_object().expect("object") {
        body[k] = v.clone();
    }
    let token = app.admin_token().await;
    let res = app
        .http
        .post(format!("{}/oauth/register", app.address))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let a = answer(res).await;
    assert_eq!(a.status, 201, "registration: {}", a.body);
    assert!(
        a.body.get("client_secret").is_none(),
        "no secret: {}",
        a.body
    );
    assert_eq!(a.body["token_endpoint_auth_method"], "private_key_jwt");
    a.body["client_id"].as_str().expect("client_id").to_string()
}

/// Writes `key`'s JWK Set to `file` and registers a private_key_jwt client with it
/// through the CLI on `db`; returns what the CLI printed.
async fn create_keyed_client(db: &TestDb, file: &std::path::Path, key: &TestKey) -> Value {
    std::fs::write(file, TestKey::jwks(&[key]).to_string()).expect("write");
    let path = file.to_str().expect("utf-8 path");
    let args = [
        "client",
        "create",
        "--name",
        "svc",
        "--auth-method",
        "private_key_jwt",
        "--jwks",
        path,
    ];
    let out = run_cli(db, &args, None).await;
    assert!(out.success, "{}", out.stderr);
    out.json()
}

/// A token request authenticated by `assertion`, with more form pairs.
/// A client_credentials request authenticated by `assertion` (plus `extra` pairs).
pub async fn with_assertion(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> Answer {
    with_assertion_at(&app.http, &app.address, assertion, extra).await
}

async fn with_assertion_at(
    http: &reqwest::Client,
    base: &str,
    assertion: &str,
    extra: &[(&str, &str)],
) -> Answer {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    pairs.extend_from_slice(extra);
    let res = http
        .post(format!("{base}/oauth/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .expect("sent");
    answer(res).await
}

#[tokio::test]
async fn every_algorithm_authenticates_and_its_tokens_verify_against_the_jwks() {
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let name = format!("{alg:?}");
        let app = app_with_issuer(|c| c.signing.signing_alg = Some(name.clone())).await;
        let key = TestKey::generate(alg);
        let client_id = register(&app, json!({"jwks": TestKey::jwks(&[&key])})).await;

        let a = with_assertion(&app, &key.assertion(&client_id, ISSUER), &[]).await;
        assert_eq!(a.status, 200, "{name}: {}", a.body);
        let jwks = serde_json::from_value(app.jwks().await).expect("JWKS");
        let (header, claims) = verify_with_jwks(&jwks, ISSUER, a.access_token());
        assert_eq!(header.alg, alg, "tokens signed with the configured {name}");
        assert_eq!(claims["client_id"], client_id.as_str());
        assert_eq!(claims["scope"], "orders:read");

        // The same key authenticates at revocation (aud is the issuer there too).
        let a = with_assertion(&app, &key.assertion(&client_id, ISSUER), &[]).await;
        assert_eq!(a.status, 200, "{name}: {}", a.body);
        let res = app
            .http
            .post(format!("{}/oauth/revoke", app.address))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("token", a.access_token()),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &key.assertion(&client_id, ISSUER)),
            ]))
            .send()
            .await
            .expect("sent");
        assert_eq!(answer(res).await.status, 200, "{name}: revocation");
    }
}

#[tokio::test]
async fn the_oauth2_crate_authenticates_with_an_assertion() {
    use oauth2::basic::BasicClient;
    use oauth2::{AuthType, ClientId, TokenResponse, TokenUrl};
    let app = app_with_issuer(|_| {}).await;
    let key = TestKey::generate(Algorithm::ES256);
    let client_id = register(&app, json!({"jwks": TestKey::jwks(&[&key])})).await;
    let client = BasicClient::new(ClientId::new(client_id.clone()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(format!("{}/oauth/token", app.address)).expect("url"));
    let token = client
        .exchange_client_credentials()
        .add_extra_param("client_assertion_type", ASSERTION_TYPE)
        .add_extra_param("client_assertion", key.assertion(&client_id, ISSUER))
        .request_async(&oauth2_http())
        .await
        .expect("token");
    assert!(token.access_token().secret().starts_with("ey"));
}

#[tokio::test]
async fn an_assertion_that_lives_an_hour_as_authlibs_do_is_accepted_and_its_jti_kept() {
    let app = app_with_issuer(|_| {}).await;
    let key = TestKey::generate(Algorithm::RS256);
    let client_id = register(&app, json!({"jwks": TestKey::jwks(&[&key])})).await;
    // authlib's PrivateKeyJWT: iat now, exp an hour ahead, a random jti.
    let now = chrono::Utc::now().timestamp();
    let mut claims = assertion_claims(&client_id, ISSUER);
    claims["iat"] = json!(now);
    claims["exp"] = json!(now + 3600);
    let assertion = key.sign_with(&claims, |_| {});
    assert_eq!(with_assertion(&app, &assertion, &[]).await.status, 200);
    // Its jti is remembered until its exp: a replay within the hour fails.
    let replay = with_assertion(&app, &assertion, &[]).await;
    assert_oauth_error(&replay, 401, "invalid_client");
    let expires: i64 = count_sql(
        &app.db,
        "SELECT MAX(expires_at) AS n FROM used_jtis WHERE jti_key LIKE 'client:%'",
    );
    assert_eq!(expires, now + 3600);

    // The bound is the server's to set.
    let strict = app_with_issuer(|c| c.clients.client_assertion_max_lifetime = Some(300)).await;
    let client_id = register(&strict, json!({"jwks": TestKey::jwks(&[&key])})).await;
    let mut claims = assertion_claims(&client_id, ISSUER);
    claims["exp"] = json!(now + 3600);
    let a = with_assertion(&strict, &key.sign_with(&claims, |_| {}), &[]).await;
    assert_oauth_error(&a, 401, "invalid_client");
    let description = a.body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains("more than 300 seconds ahead"),
        "{description}"
    );
}

#[tokio::test]
async fn bad_assertions_are_invalid_client_and_use_up_nothing() {
    let app = app_with_issuer(|_| {}).await;
    let key = TestKey::generate(Algorithm::RS256);
    let other_key = TestKey::generate(Algorithm::ES256);
    let client_id = register(&app, json!({"jwks": TestKey::jwks(&[&key])})).await;
    let other_id = register(&app, json!({"jwks": TestKey::jwks(&[&other_key])})).await;
    let used = || count_sql(&app.db, "SELECT COUNT(*) AS n FROM used_jtis");

    let good = key.assertion(&client_id, ISSUER);
    assert_eq!(with_assertion(&app, &good, &[]).await.status, 200);
    assert_eq!(used(), 1, "one jti recorded");

    let now = chrono::Utc::now().timestamp();
    let claims = |change: &dyn Fn(&mut Value)| {
        let mut c = assertion_claims(&client_id, ISSUER);
        change(&mut c);
        c
    };
    let hs256_with_public_key = encode(
        &Header::new(Algorithm::HS256),
        &claims(&|_| {}),
        &EncodingKey::from_secret(&key.public_bytes),
    )
    .expect("sign");
    let cases: Vec<(&str, String)> = vec![
        ("replayed jti", good.clone()),
        (
            "wrong aud",
            key.sign_with(
                &claims(&|c| c["aud"] = json!("https://elsewhere/token")),
                |_| {},
            ),
        ),
        (
            "the token endpoint as aud",
            key.sign_with(&claims(&|c| c["aud"] = json!(TOKEN_ENDPOINT)), |_| {}),
        ),
        (
            "the issuer beside an endpoint in aud",
            key.sign_with(
                &claims(&|c| c["aud"] = json!([ISSUER, TOKEN_ENDPOINT])),
                |_| {},
            ),
        ),
        (
            "an access token's typ",
            key.sign_with(&claims(&|_| {}), |h| h.typ = Some("at+jwt".into())),
        ),
        (
            "expired",
            key.sign_with(&claims(&|c| c["exp"] = json!(now - 30)), |_| {}),
        ),
        (
            "exp more than an hour ahead",
            key.sign_with(&claims(&|c| c["exp"] = json!(now + 7200)), |_| {}),
        ),
        (
            "issued in the future",
            key.sign_with(&claims(&|c| c["iat"] = json!(now + 600)), |_| {}),
        ),
        (
            "no jti",
            key.sign_with(
                &claims(&|c| {
                    c.as_object_mut().expect("object").remove("jti");
                }),
                |_| {},
            ),
        ),
        (
            "iss is not sub",
            key.sign_with(&claims(&|c| c["iss"] = json!(other_id)), |_| {}),
        ),
        (
            "unknown kid",
            key.sign_with(&claims(&|_| {}), |h| h.kid = Some("no-such-kid".into())),
        ),
        ("alg none", unsigned(&claims(&|_| {}))),
        ("HS256 keyed with the public key", hs256_with_public_key),
        (
            "another client's key",
            other_key.sign_with(&claims(&|_| {}), |h| h.kid = Some(key.kid.clone())),
        ),
        (
            "another client's key, no kid",
            other_key.sign_with(&claims(&|_| {}), |h| h.kid = None),
        ),
        (
            "PS256 header on an RS256-only key",
            TestKey::generate(Algorithm::PS256)
                .sign_with(&claims(&|_| {}), |h| h.kid = Some(key.kid.clone())),
        ),
        ("not a JWT", "garbage".into()),
    ];
    for (why, assertion) in &cases {
        let a = with_assertion(&app, assertion, &[]).await;
        assert_oauth_error(&a, 401, "invalid_client");
        // Each is refused for its own reason (not, say, all for a malformed request).
        let expected = match *why {
            "replayed jti" => "already used",
            "wrong aud" | "the token endpoint as aud" | "the issuer beside an endpoint in aud" => {
                "aud must be the issuer"
            }
            "an access token's typ" => "typ must be",
            "expired" => "expired",
            "exp more than an hour ahead" => "more than 3600 seconds ahead",
            "issued in the future" => "future",
            "no jti" => "claims",
            "iss is not sub" => "iss and sub",
            "alg none" | "HS256 keyed with the public key" => "alg must be",
            "not a JWT" => "not a JWS",
            _ => "no registered key",
        };
        let description = a.body["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(expected), "{why}: {description}");
    }
    // Type and method mix-ups.
    let fresh = key.assertion(&client_id, ISSUER);
    let a = with_assertion(&app, &fresh, &[("client_id", other_id.as_str())]).await;
    assert_oauth_error(&a, 401, "invalid_client");
    let a = with_assertion(&app, &fresh, &[("client_secret", "x")]).await;
    assert_oauth_error(&a, 400, "invalid_request");
    let res = app
        .http
        .post(format!("{}/oauth/token", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:saml"),
            ("client_assertion", &fresh),
        ]))
        .send()
        .await
        .expect("sent");
    assert_oauth_error(&answer(res).await, 401, "invalid_client");
    // A request refused for another reason does not use the assertion up.
    let a = with_assertion(&app, &fresh, &[("scope", "admin:everything")]).await;
    assert_oauth_error(&a, 400, "invalid_scope");

    assert_eq!(used(), 1, "no bad request recorded a jti");
    assert_eq!(
        with_assertion(&app, &fresh, &[]).await.status,
        200,
        "still serving"
    );
    // A secret client cannot be impersonated with an assertion either.
    let secret_client = app.create_client(&[]).await;
    let a = with_assertion(&app, &key.assertion(&secret_client.id, ISSUER), &[]).await;
    assert_oauth_error(&a, 401, "invalid_client");
}

#[tokio::test]
async fn a_jwks_uri_is_cached_as_it_says_and_key_rotation_is_picked_up_after_that() {
    let app = app_with_issuer(|_| {}).await;
    let old = TestKey::generate(Algorithm::ES256);
    let new = TestKey::generate(Algorithm::EdDSA);
    let server = JwksServer::start(published(&[&old], 2)).await;
    let client_id = register(&app, json!({"jwks_uri": server.url})).await;

    for _ in 0..3 {
        let a = with_assertion(&app, &old.assertion(&client_id, ISSUER), &[]).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_eq!(server.hits(), 1, "fetched once within max-age");

    // The client rotates: only the new key is published.
    server.set(published(&[&new], 2));
    let rotated_at = Instant::now();
    let a = with_assertion(&app, &new.assertion(&client_id, ISSUER), &[]).await;
    assert_oauth_error(&a, 401, "invalid_client");
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(rotated_at.elapsed())).await;
    let a = with_assertion(&app, &new.assertion(&client_id, ISSUER), &[]).await;
    assert_eq!(
        a.status, 200,
        "the new key works once the cache expired: {}",
        a.body
    );
    let a = with_assertion(&app, &old.assertion(&client_id, ISSUER), &[]).await;
    assert_oauth_error(&a, 401, "invalid_client");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_jwks_uri_that_hangs_loops_or_floods_is_invalid_client_and_the_server_keeps_serving() {
    let app = app_with_issuer(|_| {}).await;
    let key = TestKey::generate(Algorithm::ES256);
    let secret_client = app.create_client(&[]).await;
    for (why, mode) in [
        ("hangs", Serve::Hang),
        ("redirects in a loop", Serve::RedirectLoop),
        ("returns 10 MB", Serve::Huge),
        ("answers 404", Serve::NotFound),
    ] {
        let server = JwksServer::start(mode).await;
        let client_id = register(&app, json!({"jwks_uri": server.url})).await;
        let assertion = key.assertion(&client_id, ISSUER);
        let started = Instant::now();
        let (bad, good) = tokio::join!(with_assertion(&app, &assertion, &[]), async {
            // Meanwhile other clients are served.
            tokio::time::sleep(Duration::from_millis(200)).await;
            app.token_basic(&secret_client, "grant_type=client_credentials")
                .await
        });
        assert_oauth_error(&bad, 401, "invalid_client");
        assert!(
            bad.body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("jwks_uri")),
            "{why}: {}",
            bad.body
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{why}: bounded by the timeout"
        );
        assert_eq!(good.status, 200, "{why}: other clients keep getting tokens");
        // A second try within the retry interval does not wait for the URL again.
        let again = Instant::now();
        let a = with_assertion(&app, &key.assertion(&client_id, ISSUER), &[]).await;
        assert_oauth_error(&a, 401, "invalid_client");
        assert!(
            again.elapsed() < Duration::from_millis(500),
            "{why}: failure remembered"
        );
    }
    assert_eq!(
        count_sql(&app.db, "SELECT COUNT(*) AS n FROM used_jtis"),
        0,
        "nothing recorded"
    );
}

#[tokio::test]
async fn registration_and_the_cli_check_keys_and_keep_one_auth_method() {
    let app = app_with_issuer(|c| c.clients.jwks_uri_allow_http = Some(false)).await;
    let key = TestKey::generate(Algorithm::RS256);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("jwks.json");
    let path = file.to_str().expect("utf-8 path");

    let created = create_keyed_client(&app.db, &file, &key).await;
    assert!(
        created.get("client_secret").is_none(),
        "no secret: {created}"
    );
    assert_eq!(created["jwks"]["keys"][0]["kid"], key.kid.as_str());
    let client_id = created["client_id"].as_str().expect("id").to_string();
    let a = with_assertion(&app, &key.assertion(&client_id, ISSUER), &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // The client rotates its key: set-keys replaces the set.
    let next = TestKey::generate(Algorithm::ES256);
    std::fs::write(&file, TestKey::jwks(&[&next]).to_string()).expect("write");
    let out = app
        .cli(&["client", "set-keys", &client_id, "--jwks", path])
        .await;
    assert!(out.success, "{}", out.stderr);
    let a = with_assertion(&app, &next.assertion(&client_id, ISSUER), &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = with_assertion(&app, &key.assertion(&client_id, ISSUER), &[]).await;
    assert_oauth_error(&a, 401, "invalid_client");

    // Refused, each with one line and a non-zero exit, nothing created.
    let before = count_sql(&app.db, "SELECT COUNT(*) AS n FROM clients");
    let mut private = key.jwk();
    private["d"] = json!("AQAB");
    std::fs::write(
        dir.path().join("private.json"),
        json!({"keys": [private]}).to_string(),
    )
    .expect("write");
    let private_path = dir.path().join("private.json");
    let private_path = private_path.to_str().expect("utf-8");
    for (args, why) in [
        (
            vec!["--auth-method", "private_key_jwt"],
            "needs jwks or jwks_uri",
        ),
        (
            vec!["--auth-method", "private_key_jwt", "--jwks", private_path],
            "private member",
        ),
        (
            vec![
                "--auth-method",
                "private_key_jwt",
                "--jwks",
                "/no/such/file",
            ],
            "cannot read",
        ),
        (
            vec![
                "--auth-method",
                "private_key_jwt",
                "--jwks-uri",
                "http://keys.example/jwks",
            ],
            "https",
        ),
        (vec!["--jwks", path], "private_key_jwt clients only"),
    ] {
        let mut full = vec!["client", "create", "--name", "bad"];
        full.extend(args.iter().copied());
        let out = app.cli(&full).await;
        assert!(!out.success, "{args:?} succeeded");
        assert!(out.stderr.contains(why), "{args:?}: {}", out.stderr);
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "{args:?}: {}",
            out.stderr
        );
    }
    let out = app.cli(&["client", "rotate-secret", &client_id]).await;
    assert!(
        !out.success && out.stderr.contains("no secret"),
        "{}",
        out.stderr
    );
    assert_eq!(
        count_sql(&app.db, "SELECT COUNT(*) AS n FROM clients"),
        before
    );

    // Registration: the same checks as client metadata errors.
    let token = app.admin_token().await;
    for (body, why) in [
        (
            json!({"client_name": "x", "token_endpoint_auth_method": "private_key_jwt",
                   "jwks": TestKey::jwks(&[&key]), "jwks_uri": "https://k.example/jwks"}),
            "both",
        ),
        (
            json!({"client_name": "x", "token_endpoint_auth_method": "private_key_jwt",
                   "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            "private member",
        ),
        (
            json!({"client_name": "x", "token_endpoint_auth_method": "private_key_jwt",
                   "jwks_uri": "http://k.example/jwks"}),
            "https",
        ),
        (
            json!({"client_name": "x", "token_endpoint_auth_method": "none"}),
            "private_key_jwt",
        ),
    ] {
        let res = app
            .http
            .post(format!("{}/oauth/register", app.address))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("sent");
        let a = answer(res).await;
        assert_eq!(
            (a.status, a.error()),
            (400, "invalid_client_metadata"),
            "{body}"
        );
        assert!(
            a.body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains(why)),
            "{why}: {}",
            a.body
        );
    }
    // RFC 7592 PUT replaces the keys; the method stays.
    let res = app
        .http
        .put(format!("{}/oauth/register/{client_id}", app.address))
        .bearer_auth(&token)
        .json(&json!({"client_id": client_id, "client_name": "svc",
                      "jwks": TestKey::jwks(&[&key])}))
        .send()
        .await
        .expect("sent");
    let a = answer(res).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(a.body["jwks"]["keys"][0]["kid"], key.kid.as_str());
    let a = with_assertion(&app, &key.assertion(&client_id, ISSUER), &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);

    let meta = app.metadata().await;
    assert!(meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .expect("methods")
        .contains(&json!("private_key_jwt")));
    assert_eq!(
        meta["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn assertion_and_dpop_replays_are_refused_by_a_second_serve_process() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = TestKey::generate(Algorithm::EdDSA);
    let migrated = run_cli(&db, &["migrate"], None).await;
    assert!(migrated.success, "{}", migrated.stderr);
    let created = create_keyed_client(&db, &dir.path().join("jwks.json"), &key).await;
    let client_id = created["client_id"].as_str().expect("id").to_string();
    let envs = [
        ("TESSERA_DATABASE_URL", db.url()),
        ("TESSERA_ISSUER", ISSUER.to_string()),
    ];
    let first = serve_process(dir.path(), &envs).await;
    let second = serve_process(dir.path(), &envs).await;
    let http = reqwest::Client::new();
    let base = |p: &crate::helpers::ServeProcess| p.address.clone();

    let assertion = key.assertion(&client_id, ISSUER);
    let a = with_assertion_at(&http, &base(&first), &assertion, &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let replay = with_assertion_at(&http, &base(&second), &assertion, &[]).await;
    assert_oauth_error(&replay, 401, "invalid_client");
    assert!(replay.body["error_description"]
        .as_str()
        .is_some_and(|d| d.contains("already used")));

    // A DPoP proof used on one process is refused on the other.
    let dpop = TestKey::generate(Algorithm::ES256);
    let proof = dpop.dpop_proof_with(
        &json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": "POST",
                "htu": TOKEN_ENDPOINT, "iat": chrono::Utc::now().timestamp()}),
        |_| {},
    );
    let send = |url: String, assertion: String| {
        let http = http.clone();
        let proof = proof.clone();
        async move {
            let res = http
                .post(format!("{url}/oauth/token"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("DPoP", proof)
                .body(form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &assertion),
                ]))
                .send()
                .await
                .expect("sent");
            answer(res).await
        }
    };
    let a = send(base(&first), key.assertion(&client_id, ISSUER)).await;
    assert_eq!(
        (a.status, a.body["token_type"].as_str()),
        (200, Some("DPoP")),
        "{}",
        a.body
    );
    let fresh_assertion = key.assertion(&client_id, ISSUER);
    let replay = send(base(&second), fresh_assertion.clone()).await;
    assert_oauth_error(&replay, 400, "invalid_dpop_proof");
    // The refused request used up nothing: its assertion still works.
    let a = with_assertion_at(&http, &base(&second), &fresh_assertion, &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn legacy_assertion_audience_also_accepts_endpoint_urls() {
    let app = app_with_issuer(|c| c.clients.assertion_audience = Some("legacy".into())).await;
    let key = TestKey::generate(Algorithm::ES256);
    let client_id = register(&app, json!({"jwks": TestKey::jwks(&[&key])})).await;
    for aud in [
        json!(TOKEN_ENDPOINT),
        json!([ISSUER, TOKEN_ENDPOINT]),
        json!(ISSUER),
    ] {
        let mut claims = assertion_claims(&client_id, ISSUER);
        claims["aud"] = aud.clone();
        let a = with_assertion(&app, &key.sign_with(&claims, |_| {}), &[]).await;
        assert_eq!(a.status, 200, "aud {aud}: {}", a.body);
    }
    let mut claims = assertion_claims(&client_id, ISSUER);
    claims["aud"] = json!("https://elsewhere/oauth/token");
    let a = with_assertion(&app, &key.sign_with(&claims, |_| {}), &[]).await;
    assert_oauth_error(&a, 401, "invalid_client");

    // typ: none, JWT and client-authentication+jwt are accepted in either mode.
    for typ in [None, Some("JWT"), Some("client-authentication+jwt")] {
        let claims = assertion_claims(&client_id, ISSUER);
        let a = with_assertion(
            &app,
            &key.sign_with(&claims, |h| h.typ = typ.map(Into::into)),
            &[],
        )
        .await;
        assert_eq!(a.status, 200, "typ {typ:?}: {}", a.body);
    }
}

#[tokio::test]
async fn a_bad_assertion_audience_setting_stops_the_start() {
    let db = crate::helpers::TestDb::new();
    let mut args = tessera::config::ConfigArgs::default();
    args.database.database_url = Some(db.url());
    args.clients.assertion_audience = Some("loose".into());
    args.server.bind = Some("127.0.0.1:0".into());
    let err = tessera::config::Settings::resolve(args).expect_err("refused");
    assert!(err.to_string().contains("assertion_audience"), "{err}");
}

#[tokio::test]
async fn new_keys_work_at_once_while_the_server_has_the_client_cached() {
    let app = app_with_issuer(|c| c.clients.client_cache_ttl = Some(5)).await;
    let key = TestKey::generate(Algorithm::RS256);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("jwks.json");
    let path = file.to_str().expect("utf-8 path");
    let created = create_keyed_client(&app.db, &file, &key).await;
    let client_id = created["client_id"].as_str().expect("id").to_string();
    let a = with_assertion(&app, &key.assertion(&client_id, ISSUER), &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // set-keys through the CLI while the server remembers the old set.
    let next = TestKey::generate(Algorithm::ES256);
    std::fs::write(&file, TestKey::jwks(&[&next]).to_string()).expect("write");
    let out = app
        .cli(&["client", "set-keys", &client_id, "--jwks", path])
        .await;
    assert!(out.success, "{}", out.stderr);
    let a = with_assertion(&app, &next.assertion(&client_id, ISSUER), &[]).await;
    assert_eq!(
        a.status, 200,
        "set-keys, then an assertion at once: {}",
        a.body
    );

    // From inline keys to a jwks_uri, likewise.
    let published_key = TestKey::generate(Algorithm::EdDSA);
    let server = JwksServer::start(published(&[&published_key], 300)).await;
    let out = crate::helpers::run_cli_env(
        &app.db,
        &["client", "set-keys", &client_id, "--jwks-uri", &server.url],
        None,
        &[
            ("TESSERA_JWKS_URI_ALLOW_HTTP", "true"),
            ("TESSERA_JWKS_URI_ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    let a = with_assertion(&app, &published_key.assertion(&client_id, ISSUER), &[]).await;
    assert_eq!(
        a.status, 200,
        "a new jwks_uri, then an assertion at once: {}",
        a.body
    );
}

#[tokio::test]
async fn an_assertion_signed_by_a_stranger_tells_nothing_about_the_client_it_names() {
    let app = app_with_issuer(|_| {}).await;
    let key = TestKey::generate(Algorithm::ES256);
    let keyed = register(&app, json!({"jwks": TestKey::jwks(&[&key])})).await;
    let secret_client = app.create_client(&[]).await;
    // A stranger's key of the same type, without a kid: for the keyed client a key
    // fits and the signature fails; for the others no key fits at all.
    let stranger = TestKey::generate(Algorithm::ES256);
    let mut answers = Vec::new();
    for id in [keyed.as_str(), secret_client.id.as_str(), "no-such-client"] {
        let assertion = stranger.sign_with(&assertion_claims(id, ISSUER), |h| h.kid = None);
        let a = with_assertion(&app, &assertion, &[]).await;
        assert_oauth_error(&a, 401, "invalid_client");
        answers.push(a.body["error_description"].clone());
    }
    assert_eq!(answers[0], answers[1], "keyed vs secret client");
    assert_eq!(answers[0], answers[2], "keyed vs unknown client");
}
