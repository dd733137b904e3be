//! Token exchange (RFC 8693): a service calls the next one on the user's behalf, the
//! delegation chain visible in `act`, every token verified against the JWKS.

use crate::helpers::{
    answer, assert_oauth_error, form, spawn_app, spawn_app_with, verify_with_jwks, Answer, TestApp,
    TestClient,
};
use crate::jose::{DpopKey, ISSUER};
use serde_json::{json, Value};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Form pairs with owned values.
type Form = Vec<(&'static str, String)>;

async fn exchange(app: &TestApp, caller: &TestClient, pairs: &[(&str, &str)]) -> Answer {
    let mut all = vec![("grant_type", GRANT)];
    all.extend_from_slice(pairs);
    app.token_basic(caller, &form(&all)).await
}

async fn service(app: &TestApp, audiences: &[&str], scope: &str) -> TestClient {
    let mut args = vec![
        "--grant-types",
        "token-exchange,client_credentials",
        "--scope",
        scope,
    ];
    for a in audiences {
        args.extend(["--audience", a]);
    }
    app.create_client(&args).await
}

async fn verified(app: &TestApp, token: &str) -> Value {
    let jwks = serde_json::from_value(app.jwks().await).expect("JWKS");
    let issuer = app.metadata().await["issuer"]
        .as_str()
        .expect("issuer")
        .to_string();
    verify_with_jwks(&jwks, &issuer, token).1
}

#[tokio::test]
async fn three_hops_keep_the_user_and_nest_the_actors() {
    let app = spawn_app().await;
    let ledger = service(&app, &["https://ledger"], "orders:read").await;
    let billing = service(&app, &[&ledger.id], "orders:read orders:write").await;
    let orders = service(&app, &[&billing.id], "orders:read orders:write").await;
    let web = app
        .create_client(&[
            "--grant-types",
            "password,refresh_token",
            "--audience",
            &orders.id,
            "--scope",
            "orders:read orders:write profile",
        ])
        .await;
    let user = app.create_user("ada", "ada's password").await;
    let login = app.login(&web, "ada", "ada's password").await;
    assert_eq!(login.status, 200, "{}", login.body);
    let user_token = login.access_token().to_string();

    let hop1 = exchange(
        &app,
        &orders,
        &[
            ("subject_token", &user_token),
            ("subject_token_type", ACCESS),
        ],
    )
    .await;
    assert_eq!(hop1.status, 200, "{}", hop1.body);
    assert_eq!(hop1.body["issued_token_type"], ACCESS);
    assert_eq!(hop1.body["token_type"], "Bearer");
    assert!(hop1.body.get("refresh_token").is_none());
    let c1 = verified(&app, hop1.access_token()).await;
    assert_eq!(c1["sub"], user["id"]);
    assert_eq!(c1["client_id"], orders.id.as_str());
    assert_eq!(c1["aud"], billing.id.as_str());
    assert_eq!(c1["act"], json!({"sub": orders.id}));
    assert_eq!(
        c1["scope"], "orders:read orders:write",
        "the subject's ∩ the caller's"
    );

    let hop2 = exchange(
        &app,
        &billing,
        &[
            ("subject_token", hop1.access_token()),
            ("subject_token_type", JWT),
            ("scope", "orders:read"),
        ],
    )
    .await;
    assert_eq!(hop2.status, 200, "{}", hop2.body);
    let c2 = verified(&app, hop2.access_token()).await;
    assert_eq!(
        c2["act"],
        json!({"sub": billing.id, "act": {"sub": orders.id}})
    );
    assert_eq!(c2["scope"], "orders:read");

    let hop3 = exchange(
        &app,
        &ledger,
        &[
            ("subject_token", hop2.access_token()),
            ("subject_token_type", ACCESS),
            ("audience", "https://ledger"),
            ("requested_token_type", JWT),
        ],
    )
    .await;
    assert_eq!(hop3.status, 200, "{}", hop3.body);
    assert_eq!(hop3.body["issued_token_type"], JWT);
    let c3 = verified(&app, hop3.access_token()).await;
    assert_eq!(c3["sub"], user["id"], "the user all the way");
    assert_eq!(c3["aud"], "https://ledger");
    assert_eq!(
        c3["act"],
        json!({"sub": ledger.id, "act": {"sub": billing.id, "act": {"sub": orders.id}}})
    );
    assert!(
        c3["exp"].as_i64() <= c1["exp"].as_i64(),
        "never outlives its subject"
    );

    // Introspection shows the chain.
    let introspected = app
        .http
        .post(format!("{}/oauth/introspect", app.address))
        .basic_auth(&app.admin.id, Some(&app.admin.secret))
        .form(&[("token", hop3.access_token())])
        .send()
        .await
        .expect("sent");
    let body: Value = introspected.json().await.expect("json");
    assert_eq!(body["active"], true);
    assert_eq!(body["act"], c3["act"]);

    let meta = app.metadata().await;
    assert!(meta["grant_types_supported"]
        .as_array()
        .expect("grants")
        .contains(&json!(GRANT)));
}

#[tokio::test]
async fn an_actor_token_names_the_actor_and_dpop_binds_the_result() {
    let app = spawn_app_with(|c| c.issuer = Some(ISSUER.into())).await;
    let caller = service(&app, &["https://next"], "a").await;
    let subject_client = app
        .create_client(&["--scope", "a", "--audience", &caller.id])
        .await;
    let subject = app.client_credentials_token(&subject_client).await;
    let robot = app.create_client(&["--scope", "a"]).await;
    let actor = app.client_credentials_token(&robot).await;

    let dpop = DpopKey::new();
    let body = form(&[
        ("grant_type", GRANT),
        ("subject_token", &subject),
        ("subject_token_type", ACCESS),
        ("actor_token", &actor),
        ("actor_token_type", ACCESS),
    ]);
    let res = app
        .http
        .post(format!("{}/oauth/token", app.address))
        .basic_auth(&caller.id, Some(&caller.secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("DPoP", dpop.proof())
        .body(body)
        .send()
        .await
        .expect("sent");
    let a = answer(res).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["token_type"], "DPoP");
    let claims = verified(&app, a.access_token()).await;
    assert_eq!(claims["act"], json!({"sub": robot.id}));
    assert_eq!(claims["sub"], subject_client.id.as_str());
    assert_eq!(claims["cnf"]["jkt"], dpop.jkt());
}

#[tokio::test]
async fn refusals_use_rfc_8693_errors_and_honour_revocation() {
    let app = spawn_app().await;
    let caller = service(&app, &["https://b", "https://c"], "a b").await;
    let other = service(&app, &["https://b"], "a b").await;
    let plain = app
        .create_client(&["--scope", "a", "--audience", &caller.id])
        .await;
    let subject_client = app
        .create_client(&["--scope", "a", "--audience", &caller.id])
        .await;
    let subject = app.client_credentials_token(&subject_client).await;
    let ok = |extra: &[(&'static str, &'static str)]| {
        let mut v = vec![
            ("subject_token", subject.clone()),
            ("subject_token_type", ACCESS.to_string()),
        ];
        v.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        v
    };
    let run = |c: &TestClient, pairs: Vec<(&'static str, String)>| {
        let app = &app;
        let c = c.clone();
        async move {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            exchange(app, &c, &refs).await
        }
    };
    assert_eq!(
        run(&caller, ok(&[("audience", "https://b")])).await.status,
        200
    );

    type Case = (&'static str, TestClient, Form, u16, &'static str);
    let cases: Vec<Case> = vec![
        (
            "several audiences, none named",
            caller.clone(),
            ok(&[]),
            400,
            "invalid_target",
        ),
        (
            "an audience not the caller's",
            caller.clone(),
            ok(&[("audience", "https://z")]),
            400,
            "invalid_target",
        ),
        (
            "a wider scope",
            caller.clone(),
            ok(&[("audience", "https://b"), ("scope", "a b")]),
            400,
            "invalid_scope",
        ),
        (
            "a subject token meant for another client",
            other.clone(),
            ok(&[]),
            400,
            "invalid_request",
        ),
        (
            "garbage as the subject token",
            caller.clone(),
            vec![
                ("subject_token", "garbage".into()),
                ("subject_token_type", ACCESS.into()),
                ("audience", "https://b".into()),
            ],
            400,
            "invalid_request",
        ),
        (
            "an unsupported subject_token_type",
            caller.clone(),
            vec![
                ("subject_token", subject.clone()),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:saml2".into(),
                ),
            ],
            400,
            "invalid_request",
        ),
        (
            "an unsupported requested_token_type",
            caller.clone(),
            ok(&[("requested_token_type", "urn:x")]),
            400,
            "invalid_request",
        ),
        (
            "no subject_token_type",
            caller.clone(),
            vec![("subject_token", subject.clone())],
            400,
            "invalid_request",
        ),
        (
            "a client without the grant",
            plain.clone(),
            ok(&[]),
            400,
            "unauthorized_client",
        ),
    ];
    for (why, client, pairs, status, error) in cases {
        let a = run(&client, pairs).await;
        assert_oauth_error(&a, status, error);
        assert!(a.body.get("access_token").is_none(), "{why}");
    }

    // A revoked subject token can no longer be exchanged.
    let res = app
        .http
        .post(format!("{}/oauth/revoke", app.address))
        .basic_auth(&subject_client.id, Some(&subject_client.secret))
        .form(&[("token", subject.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_oauth_error(
        &run(&caller, ok(&[("audience", "https://b")])).await,
        400,
        "invalid_request",
    );
}
