//! The admin and resource-server APIs: registration (RFC 7591/7592) with the server's
//! own admin tokens, introspection (RFC 7662), revocation (RFC 7009), metrics, the
//! OpenAPI document and the audit log.

use crate::helpers::{
    answer, count_sql, form, spawn_app, spawn_app_with, Answer, TestApp, TestClient,
};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use serde_json::{json, Value};

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = app.http.request(method, format!("{}{path}", app.address));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    answer(req.send().await.expect("sent")).await
}

async fn form_post(
    app: &TestApp,
    path: &str,
    client: &TestClient,
    pairs: &[(&str, &str)],
) -> Answer {
    let res = app
        .http
        .post(format!("{}{path}", app.address))
        .basic_auth(&client.id, Some(&client.secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .expect("sent");
    answer(res).await
}

fn client_count(app: &TestApp) -> i64 {
    app.count_rows("clients")
}

#[tokio::test]
async fn an_admin_registers_a_client_over_http_that_gets_tokens_then_updates_and_deletes_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let reg_url = app.metadata().await["registration_endpoint"]
        .as_str()
        .expect("endpoint")
        .to_string();
    assert_eq!(reg_url, format!("{}/oauth/register", app.address));
    let created = call(
        &app,
        reqwest::Method::POST,
        "/oauth/register",
        Some(&admin),
        Some(json!({
            "client_name": "orders", "grant_types": ["client_credentials"],
            "scope": "orders:read orders:write", "audiences": ["https://orders.example"]
        })),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let id = created.body["client_id"].as_str().expect("id").to_string();
    let secret = created.body["client_secret"]
        .as_str()
        .expect("secret once")
        .to_string();
    assert_eq!(created.body["client_secret_expires_at"], 0);

    let oauth = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret.clone()))
        .set_token_uri(TokenUrl::new(format!("{}/oauth/token", app.address)).expect("url"))
        .set_auth_type(AuthType::BasicAuth);
    let http = oauth2::reqwest::Client::new();
    let token = oauth
        .exchange_client_credentials()
        .add_scope(Scope::new("orders:write".into()))
        .request_async(&http)
        .await
        .expect("token for the registered client");
    let (_, claims) = app.verify(token.access_token().secret()).await;
    assert_eq!(claims["aud"], "https://orders.example");

    let path = format!("/oauth/register/{id}");
    let read = call(&app, reqwest::Method::GET, &path, Some(&admin), None).await;
    assert_eq!(read.status, 200);
    assert!(
        read.body.get("client_secret").is_none(),
        "the secret is shown once"
    );
    let updated = call(
        &app,
        reqwest::Method::PUT,
        &path,
        Some(&admin),
        Some(json!({
            "client_id": id, "client_name": "orders", "scope": "orders:read"
        })),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["scope"], "orders:read");
    let client = TestClient {
        id: id.clone(),
        secret: secret.clone(),
        json: Value::Null,
    };
    let narrowed = app
        .token_basic(&client, "grant_type=client_credentials&scope=orders:write")
        .await;
    assert_eq!(narrowed.error(), "invalid_scope");

    let deleted = call(&app, reqwest::Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(deleted.status, 204);
    let refused = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(refused.status, 401);
    let gone = call(&app, reqwest::Method::GET, &path, Some(&admin), None).await;
    assert_eq!(gone.status, 401);
}

#[tokio::test]
async fn bad_registrations_and_bad_admin_tokens_get_rfc_errors_and_write_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = client_count(&app);
    let post = |token: Option<String>, body: Value| {
        let app = &app;
        async move {
            call(
                app,
                reqwest::Method::POST,
                "/oauth/register",
                token.as_deref(),
                Some(body),
            )
            .await
        }
    };
    let a = Some(admin.clone());
    let unknown_grant = post(
        a.clone(),
        json!({"client_name": "x", "grant_types": ["implicit"]}),
    )
    .await;
    assert_eq!(
        (unknown_grant.status, unknown_grant.error()),
        (400, "invalid_client_metadata")
    );
    let admin_scope = post(
        a.clone(),
        json!({"client_name": "x", "scope": "tessera:admin"}),
    )
    .await;
    assert_eq!(admin_scope.error(), "invalid_client_metadata");
    let uris: Vec<String> = (0..10_000)
        .map(|i| format!("https://app.example/{i}"))
        .collect();
    let many = post(
        a.clone(),
        json!({"client_name": "x", "redirect_uris": uris}),
    )
    .await;
    assert!(
        many.status == 413 || many.error() == "invalid_redirect_uri",
        "{}",
        many.status
    );
    let one = post(
        a.clone(),
        json!({"client_name": "x", "redirect_uris": ["https://a.example/cb"]}),
    )
    .await;
    assert_eq!(one.error(), "invalid_redirect_uri");
    let huge = post(a.clone(), json!({"client_name": "n".repeat(1 << 20)})).await;
    assert_eq!(huge.status, 413);
    let long_name = post(a.clone(), json!({"client_name": "n".repeat(500)})).await;
    assert_eq!(long_name.error(), "invalid_client_metadata");
    let wrong_type = post(
        a.clone(),
        json!({"client_name": 5, "grant_types": "client_credentials"}),
    )
    .await;
    assert_eq!(wrong_type.error(), "invalid_client_metadata");

    let none = post(None, json!({"client_name": "x"})).await;
    assert_eq!(none.status, 401);
    assert!(none
        .header("www-authenticate")
        .is_some_and(|h| h.starts_with("Bearer")));
    let garbage = post(Some("not.a.jwt".into()), json!({"client_name": "x"})).await;
    assert_eq!((garbage.status, garbage.error()), (401, "invalid_token"));
    // A refresh token is the wrong kind of token for the admin API.
    let app_client = app.create_app_client(&[]).await;
    app.create_user("adam", "adam's password").await;
    let refresh = app
        .login(&app_client, "adam", "adam's password")
        .await
        .refresh_token()
        .to_string();
    let wrong_kind = post(Some(refresh), json!({"client_name": "x"})).await;
    assert_eq!(
        (wrong_kind.status, wrong_kind.error()),
        (401, "invalid_token")
    );
    let plain = app.create_client(&["--scope", "orders:read"]).await;
    let user_token = app.client_credentials_token(&plain).await;
    let not_admin = post(Some(user_token), json!({"client_name": "x"})).await;
    assert_eq!(
        (not_admin.status, not_admin.error()),
        (403, "insufficient_scope")
    );
    // An expired admin token: from an admin client with a 1-second lifetime, used once
    // the clock is past its exp (no sleep racing a lifetime).
    let short = app.expired_token("tessera:admin").await;
    let expired = post(Some(short), json!({"client_name": "x"})).await;
    assert_eq!((expired.status, expired.error()), (401, "invalid_token"));
    drop(a);

    assert_eq!(
        client_count(&app),
        before + 3,
        "only the three CLI-made clients were added"
    );
}

#[tokio::test]
async fn introspection_and_revocation_flip_together() {
    let app = spawn_app().await;
    let introspector = app.create_client(&["--scope", "tessera:introspect"]).await;
    let svc = app.create_client(&["--scope", "orders:read"]).await;
    let other = app.create_client(&["--scope", "orders:read"]).await;
    let token = app.client_credentials_token(&svc).await;

    let inspect = |t: String| {
        let (app, introspector) = (&app, &introspector);
        async move { form_post(app, "/oauth/introspect", introspector, &[("token", &t)]).await }
    };
    let active = inspect(token.clone()).await;
    assert_eq!(active.body["active"], true, "{}", active.body);
    assert_eq!(active.body["client_id"], svc.id.as_str());
    assert_eq!(active.body["scope"], "orders:read");
    for junk in ["garbage", "a.b.c", ""] {
        let a = inspect(junk.to_string()).await;
        assert!(
            a.status == 200 && a.body == json!({"active": false}) || a.error() == "invalid_request"
        );
    }
    // A token signed by another server (another key) is not ours.
    let foreign_app = spawn_app().await;
    let foreign_client = foreign_app.create_client(&[]).await;
    let foreign = foreign_app
        .token_basic(&foreign_client, "grant_type=client_credentials")
        .await;
    assert_eq!(
        inspect(foreign.access_token().to_string()).await.body,
        json!({"active": false})
    );
    // Only clients with the scope may introspect.
    let denied = form_post(&app, "/oauth/introspect", &svc, &[("token", &token)]).await;
    assert_eq!(denied.status, 403);

    // Another client cannot revoke it (200, nothing happens); its own client can.
    let foreign_revoke = form_post(&app, "/oauth/revoke", &other, &[("token", &token)]).await;
    assert_eq!(foreign_revoke.status, 200);
    assert_eq!(inspect(token.clone()).await.body["active"], true);
    let revoked = form_post(&app, "/oauth/revoke", &svc, &[("token", &token)]).await;
    assert_eq!(revoked.status, 200);
    assert_eq!(inspect(token.clone()).await.body, json!({"active": false}));
    let unknown = form_post(&app, "/oauth/revoke", &svc, &[("token", "never-issued")]).await;
    assert_eq!(unknown.status, 200);
    let missing = form_post(&app, "/oauth/revoke", &svc, &[]).await;
    assert_eq!(missing.error(), "invalid_request");

    // Expired access tokens are inactive: a client with a 1-second lifetime, checked
    // once the clock is past the token's own exp (no sleep racing a lifetime).
    let short = app.expired_token("orders:read").await;
    assert_eq!(inspect(short).await.body, json!({"active": false}));

    // Refresh tokens: active until revoked, and revoking ends the family.
    let app_client = app.create_app_client(&[]).await;
    app.create_user("rita", "rita's password").await;
    let login = app.login(&app_client, "rita", "rita's password").await;
    let refresh = login.refresh_token().to_string();
    let r = form_post(
        &app,
        "/oauth/introspect",
        &introspector,
        &[("token", &refresh), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["token_type"], "refresh_token");
    let out = form_post(&app, "/oauth/revoke", &app_client, &[("token", &refresh)]).await;
    assert_eq!(out.status, 200);
    assert_eq!(
        inspect(refresh.clone()).await.body,
        json!({"active": false})
    );
    assert_eq!(
        app.refresh(&app_client, &refresh, &[]).await.error(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn metrics_count_requests_tokens_and_failures() {
    let app = spawn_app_with(|c| c.telemetry.metrics_client_label = Some(true)).await;
    let svc = app.create_client(&[]).await;
    for _ in 0..3 {
        assert_eq!(
            app.token_basic(&svc, "grant_type=client_credentials")
                .await
                .status,
            200
        );
    }
    let wrong = TestClient {
        id: svc.id.clone(),
        secret: "wrong".into(),
        json: Value::Null,
    };
    for _ in 0..2 {
        assert_eq!(
            app.token_basic(&wrong, "grant_type=client_credentials")
                .await
                .status,
            401
        );
    }
    let text = app.get("/metrics").await.text().await.expect("metrics");
    let value = |needle: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("number")
    };
    let issued = format!(
        "tessera_tokens_issued_total{{client_id=\"{}\",grant_type=\"client_credentials\"}}",
        svc.id
    );
    assert_eq!(value(&issued), 3.0);
    assert_eq!(value("tessera_client_authentication_failures_total"), 2.0);
    assert_eq!(
        value("tessera_http_requests_total{endpoint=\"/oauth/token\",status=\"200\"}"),
        3.0
    );
    assert_eq!(
        value("tessera_http_requests_total{endpoint=\"/oauth/token\",status=\"401\"}"),
        2.0
    );
    assert!(value("tessera_http_request_duration_seconds_count{endpoint=\"/oauth/token\"}") >= 5.0);
    assert!(value("tessera_signing_key_age_seconds") >= 0.0);
    assert!(text.contains("tessera_db_pool_connections{state=\"idle\"}"));
}

#[tokio::test]
async fn the_openapi_document_is_valid_and_lists_every_route() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    for (path, allow) in tessera::http::registered_routes() {
        let item = paths
            .get(&path)
            .unwrap_or_else(|| panic!("{path} is not documented"));
        for method in allow.split(", ").filter(|m| *m != "HEAD") {
            let op = &item[method.to_lowercase()];
            assert!(op.is_object(), "{method} {path} is not documented");
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} responses"
            );
        }
    }
    // The token endpoint's form and errors are described.
    let token = &paths["/oauth/token"]["post"];
    assert!(token["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
    assert!(token["responses"]["400"].is_object() && token["responses"]["401"].is_object());
    // Every $ref resolves.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"").skip(1) {
        let target = r.split('"').next().expect("ref");
        let name = target
            .strip_prefix("#/components/schemas/")
            .expect("local schema ref");
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{target} resolves"
        );
    }
    for (path, _) in tessera::http::registered_routes() {
        let res = app.get(&path.replace("{client_id}", "x")).await;
        assert_ne!(res.status(), 404, "{path} is served");
    }
}

#[tokio::test]
async fn administration_is_audited_without_secrets() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let cli_client = app.create_client(&[]).await;
    let created = call(
        &app,
        reqwest::Method::POST,
        "/oauth/register",
        Some(&admin),
        Some(json!({"client_name": "via http"})),
    )
    .await;
    let http_secret = created.body["client_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert!(
        app.cli(&["client", "disable", &cli_client.id])
            .await
            .success
    );
    let n = |sql: &str| count_sql(&app.db, sql);
    assert_eq!(n(&format!("SELECT COUNT(*) AS n FROM audit_log WHERE actor = 'cli' AND action = 'client.create' AND target = '{}'", cli_client.id)), 1);
    assert_eq!(n(&format!("SELECT COUNT(*) AS n FROM audit_log WHERE actor = 'client:{}' AND action = 'client.create'", app.admin.id)), 1);
    assert_eq!(
        n("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'client.disable'"),
        1
    );
    let shown = app.cli(&["audit", "--limit", "10"]).await;
    assert!(shown.success, "{}", shown.stderr);
    let entries = shown.json();
    assert_eq!(entries[0]["action"], "client.disable", "newest first");
    for secret in [&cli_client.secret, &http_secret, &app.admin.secret] {
        assert!(!shown.stdout.contains(secret.as_str()));
        assert_eq!(
            n(&format!(
                "SELECT COUNT(*) AS n FROM audit_log WHERE details LIKE '%{secret}%'"
            )),
            0
        );
    }
}
