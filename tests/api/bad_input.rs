//! Every mistake a client can make on the token endpoint gets its RFC 6749 §5.2 error,
//! never a 5xx or HTML, and the server keeps issuing tokens afterwards.

use crate::helpers::{assert_oauth_error, spawn_app, Answer, TestApp, TestClient};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const FORM: &str = "application/x-www-form-urlencoded";

async fn still_issues_tokens(app: &TestApp, client: &TestClient) {
    let a = app
        .token_basic(client, "grant_type=client_credentials")
        .await;
    assert_eq!(a.status, 200, "server still issues tokens: {}", a.body);
}

async fn with_header(app: &TestApp, authorization: &str, body: &str) -> Answer {
    let res = app
        .http
        .post(format!("{}/oauth/token", app.address))
        .header("Content-Type", FORM)
        .header("Authorization", authorization)
        .body(body.to_string())
        .send()
        .await
        .expect("sent");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.expect("JSON body");
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client() {
    let app = spawn_app().await;
    let client = app.create_client(&[]).await;
    let cc = "grant_type=client_credentials";

    let unknown = app
        .post_token(cc, Some(("no-such-client", "x")), FORM)
        .await;
    assert_oauth_error(&unknown, 401, "invalid_client");
    assert_eq!(
        unknown.header("www-authenticate"),
        Some(r#"Basic realm="tessera""#)
    );

    let wrong = app
        .post_token(cc, Some((&client.id, "wrong-secret")), FORM)
        .await;
    assert_oauth_error(&wrong, 401, "invalid_client");
    assert_eq!(
        wrong.body, unknown.body,
        "unknown client and wrong secret are indistinguishable"
    );

    let none = app.post_token(cc, None, FORM).await;
    assert_oauth_error(&none, 401, "invalid_client");

    for bad in [
        "Basic !!!not-base64",
        "Basic ",
        "Bearer abc",
        &format!("Basic {}", STANDARD.encode("no-colon")),
    ] {
        let a = with_header(&app, bad, cc).await;
        assert_oauth_error(&a, 401, "invalid_client");
        assert_eq!(
            a.header("www-authenticate"),
            Some(r#"Basic realm="tessera""#),
            "{bad}"
        );
    }

    let post_wrong = app
        .post_token(
            format!("{cc}&client_id={}&client_secret=nope", client.id),
            None,
            FORM,
        )
        .await;
    assert_oauth_error(&post_wrong, 401, "invalid_client");
    assert_eq!(
        post_wrong.header("www-authenticate"),
        None,
        "no Basic challenge when Basic was not used"
    );

    still_issues_tokens(&app, &client).await;
}

#[tokio::test]
async fn two_authentication_methods_at_once_are_refused() {
    let app = spawn_app().await;
    let client = app.create_client(&[]).await;
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        client.id, client.secret
    );
    let a = app
        .post_token(body, Some((&client.id, &client.secret)), FORM)
        .await;
    assert_oauth_error(&a, 400, "invalid_request");
    still_issues_tokens(&app, &client).await;
}

#[tokio::test]
async fn a_disabled_client_is_refused_until_enabled() {
    let app = spawn_app().await;
    let client = app.create_client(&[]).await;
    assert!(app.cli(&["client", "disable", &client.id]).await.success);
    let a = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_oauth_error(&a, 401, "invalid_client");
    assert!(app.cli(&["client", "enable", &client.id]).await.success);
    still_issues_tokens(&app, &client).await;
}

#[tokio::test]
async fn grant_type_problems_get_their_own_codes() {
    let app = spawn_app().await;
    let client = app.create_client(&["--scope", "read"]).await;

    assert_oauth_error(
        &app.token_basic(&client, "scope=read").await,
        400,
        "invalid_request",
    );
    assert_oauth_error(
        &app.token_basic(&client, "grant_type=").await,
        400,
        "invalid_request",
    );
    assert_oauth_error(
        &app.token_basic(&client, "grant_type=implicit").await,
        400,
        "unsupported_grant_type",
    );
    assert_oauth_error(
        &app.token_basic(
            &client,
            "grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer",
        )
        .await,
        400,
        "unsupported_grant_type",
    );

    let password_only = app.create_client(&["--grant-types", "password"]).await;
    let a = app
        .token_basic(&password_only, "grant_type=client_credentials")
        .await;
    assert_oauth_error(&a, 400, "unauthorized_client");

    let a = app
        .token_basic(&client, "grant_type=client_credentials&scope=read%20admin")
        .await;
    assert_oauth_error(&a, 400, "invalid_scope");
    assert!(a.body["error_description"]
        .as_str()
        .is_some_and(|d| d.contains("admin")));
    let a = app
        .token_basic(&client, "grant_type=client_credentials&scope=%22quoted%22")
        .await;
    assert_oauth_error(&a, 400, "invalid_scope");

    let a = app
        .token_basic(
            &client,
            "grant_type=client_credentials&resource=https%3A%2F%2Fnope",
        )
        .await;
    assert_oauth_error(&a, 400, "invalid_target");

    still_issues_tokens(&app, &client).await;
}

#[tokio::test]
async fn malformed_bodies_are_invalid_request() {
    let app = spawn_app().await;
    let client = app.create_client(&[]).await;
    let creds = Some((client.id.as_str(), client.secret.as_str()));
    let cc = "grant_type=client_credentials";

    let json = app
        .post_token(
            r#"{"grant_type":"client_credentials"}"#,
            creds,
            "application/json",
        )
        .await;
    assert_oauth_error(&json, 400, "invalid_request");
    let text = app.post_token(cc, creds, "text/plain").await;
    assert_oauth_error(&text, 400, "invalid_request");
    let none = app.post_token(cc, creds, "").await;
    assert_oauth_error(&none, 400, "invalid_request");

    let repeated = app
        .post_token(
            "grant_type=client_credentials&grant_type=client_credentials",
            creds,
            FORM,
        )
        .await;
    assert_oauth_error(&repeated, 400, "invalid_request");
    let repeated_scope = app
        .post_token("grant_type=client_credentials&scope=a&scope=b", creds, FORM)
        .await;
    assert_oauth_error(&repeated_scope, 400, "invalid_request");

    let bad_utf8 = app
        .post_token(
            b"grant_type=client_credentials&scope=%C3%28".to_vec(),
            creds,
            FORM,
        )
        .await;
    assert_oauth_error(&bad_utf8, 400, "invalid_request");
    let raw_bad_utf8 = app
        .post_token(
            b"grant_type=client_credentials&scope=\xff\xfe".to_vec(),
            creds,
            FORM,
        )
        .await;
    assert_oauth_error(&raw_bad_utf8, 400, "invalid_request");
    let nul = app
        .post_token("grant_type=client_credentials%00&scope=x", creds, FORM)
        .await;
    assert_oauth_error(&nul, 400, "invalid_request");
    let raw_nul = app
        .post_token(b"grant_type=client_credentials\0".to_vec(), creds, FORM)
        .await;
    assert_oauth_error(&raw_nul, 400, "invalid_request");

    let huge = format!("{cc}&scope={}", "a".repeat(1024 * 1024));
    let big = app.post_token(huge, creds, FORM).await;
    assert_oauth_error(&big, 413, "invalid_request");

    let charset = app
        .post_token(
            cc,
            creds,
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .await;
    assert_eq!(
        charset.status, 200,
        "a charset parameter is fine: {}",
        charset.body
    );

    still_issues_tokens(&app, &client).await;
}

#[tokio::test]
async fn a_chunked_oversized_body_is_refused_without_buffering_it() {
    let app = spawn_app().await;
    let client = app.create_client(&[]).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..200).map(|_| Ok(vec![b'a'; 4096])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let a = app
        .post_token(body, Some((&client.id, &client.secret)), FORM)
        .await;
    assert_eq!(a.status, 413, "{}", a.body);
    still_issues_tokens(&app, &client).await;
}

#[tokio::test]
async fn wrong_methods_and_paths_are_not_5xx() {
    let app = spawn_app().await;
    let get = app.get("/oauth/token").await;
    assert!(
        get.status().is_client_error(),
        "GET /oauth/token: {}",
        get.status()
    );
    let missing = app.get("/nope").await;
    assert_eq!(missing.status(), 404);
}

/// Text inside a JWT is text from outside: a NUL character in an assertion's `iss`,
/// `sub` or `jti`, a JWT-SVID's trust domain or a DPoP proof's `jti` is a bad
/// credential (401 / 400), never a database error, on PostgreSQL (whose text holds no
/// NUL) as on SQLite.
#[tokio::test]
async fn a_nul_character_inside_a_jwt_is_a_bad_credential_on_every_database() {
    use crate::jose::{assertion_claims, DpopKey, TestKey, ISSUER};
    use jsonwebtoken::Algorithm;
    use serde_json::json;
    let app = crate::helpers::spawn_app_with(|c| c.server.issuer = Some(ISSUER.into())).await;
    let client = app.create_client(&[]).await;
    let key = TestKey::generate(Algorithm::ES256);
    let assertion_form = |assertion_type: &str, assertion: &str| {
        crate::helpers::form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", assertion_type),
            ("client_assertion", assertion),
        ])
    };
    const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    const JWT_SPIFFE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";
    let mut nul_client = assertion_claims("a\u{0}b", ISSUER);
    nul_client["iss"] = json!("a\u{0}b");
    let mut nul_jti = assertion_claims(&client.id, ISSUER);
    nul_jti["jti"] = json!("j\u{0}ti");
    let mut nul_trust_domain = assertion_claims("x", ISSUER);
    nul_trust_domain["iss"] = json!("https://elsewhere");
    nul_trust_domain["sub"] = json!("spiffe://td\u{0}/workload");
    for (why, assertion_type, claims) in [
        ("client id", JWT_BEARER, &nul_client),
        ("jti", JWT_BEARER, &nul_jti),
        ("trust domain", JWT_SPIFFE, &nul_trust_domain),
    ] {
        let assertion = key.sign_with(claims, |_| {});
        let a = app
            .post_token(assertion_form(assertion_type, &assertion), None, FORM)
            .await;
        assert_oauth_error(&a, 401, "invalid_client");
        assert!(
            !a.body.to_string().contains("server_error"),
            "{why}: {}",
            a.body
        );
    }

    let dpop = DpopKey::new();
    let proof = dpop.proof_with(
        json!({"jti": "p\u{0}roof", "htm": "POST", "htu": format!("{ISSUER}/oauth/token"),
               "iat": chrono::Utc::now().timestamp()}),
        |_| {},
    );
    let a = app
        .post_form_as(
            "/oauth/token",
            &client,
            "grant_type=client_credentials",
            Some(("DPoP", &proof)),
        )
        .await;
    assert_oauth_error(&a, 400, "invalid_dpop_proof");
    still_issues_tokens(&app, &client).await;
}
