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
    exchange_with(app, caller, pairs, None).await
}

/// An exchange by `caller`, with a DPoP proof when given.
async fn exchange_with(
    app: &TestApp,
    caller: &TestClient,
    pairs: &[(&str, &str)],
    proof: Option<String>,
) -> Answer {
    let mut all = vec![("grant_type", GRANT)];
    all.extend_from_slice(pairs);
    let header = proof.as_deref().map(|p| ("DPoP", p));
    app.post_form_as("/oauth/token", caller, form(&all), header)
        .await
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
async fn the_callers_own_actor_token_names_the_actor_and_dpop_binds_the_result() {
    let app = spawn_app_with(|c| c.server.issuer = Some(ISSUER.into())).await;
    // A support tool that exchanges users' tokens and logs its operators in itself.
    let caller = app
        .create_client(&[
            "--grant-types",
            "token-exchange,password",
            "--scope",
            "a",
            "--audience",
            "https://next",
        ])
        .await;
    let subject_client = app
        .create_client(&["--scope", "a", "--audience", &caller.id])
        .await;
    let subject = app.client_credentials_token(&subject_client).await;
    let bob = app.create_user("bob", "bob's password").await;
    let operator = app.login(&caller, "bob", "bob's password").await;
    assert_eq!(operator.status, 200, "{}", operator.body);

    let dpop = DpopKey::new();
    let a = exchange_with(
        &app,
        &caller,
        &[
            ("subject_token", &subject),
            ("subject_token_type", ACCESS),
            ("actor_token", operator.access_token()),
            ("actor_token_type", ACCESS),
        ],
        Some(dpop.proof()),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["token_type"], "DPoP");
    let claims = verified(&app, a.access_token()).await;
    assert_eq!(claims["act"], json!({"sub": bob["id"]}), "the actor is bob");
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

/// alice, logged in through a web app whose tokens are for `aud` (with a DPoP proof
/// when given): her user JSON and the login answer.
async fn alice_token_for(app: &TestApp, aud: &str, proof: Option<String>) -> (Value, Answer) {
    let web = app
        .create_client(&[
            "--grant-types",
            "password",
            "--scope",
            "orders:read payroll:read",
            "--audience",
            aud,
        ])
        .await;
    let alice = app.create_user("alice", "alice's password").await;
    let body = form(&[
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "alice's password"),
    ]);
    let header = proof.as_deref().map(|p| ("DPoP", p));
    let login = app.post_form_as("/oauth/token", &web, body, header).await;
    assert_eq!(login.status, 200, "{}", login.body);
    (alice, login)
}

fn described(a: &Answer) -> &str {
    a.body["error_description"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_client_that_may_call_orders_cannot_turn_alices_orders_token_into_a_payroll_token() {
    let app = spawn_app().await;
    let (_, login) = alice_token_for(&app, "https://orders.example", None).await;
    // A reporting job that may call orders and payroll: orders is one of its targets,
    // not its own API, so alice's token for orders was never meant for it.
    let reports = service(
        &app,
        &["https://orders.example", "https://payroll.example"],
        "orders:read payroll:read",
    )
    .await;
    let a = exchange(
        &app,
        &reports,
        &[
            ("subject_token", login.access_token()),
            ("subject_token_type", ACCESS),
            ("audience", "https://payroll.example"),
        ],
    )
    .await;
    assert_oauth_error(&a, 400, "invalid_request");
    assert!(described(&a).contains("resource URI"), "{}", a.body);
}

#[tokio::test]
async fn another_clients_machine_token_cannot_be_exchanged_into_its_identity() {
    let app = spawn_app().await;
    let batch = app
        .create_client(&[
            "--scope",
            "payroll:read",
            "--audience",
            "https://payroll.example",
        ])
        .await;
    let machine = app.client_credentials_token(&batch).await;
    // A caller that may call payroll (batch's target) and the ledger.
    let caller = service(
        &app,
        &["https://payroll.example", "https://ledger.example"],
        "payroll:read",
    )
    .await;
    let a = exchange(
        &app,
        &caller,
        &[
            ("subject_token", &machine),
            ("subject_token_type", ACCESS),
            ("audience", "https://ledger.example"),
        ],
    )
    .await;
    assert_oauth_error(&a, 400, "invalid_request");
    assert!(a.body.get("access_token").is_none());
}

#[tokio::test]
async fn a_token_sent_to_a_clients_resource_uri_is_meant_for_it() {
    let app = spawn_app().await;
    let (alice, login) = alice_token_for(&app, "https://orders.example", None).await;
    let orders = app
        .create_client(&[
            "--grant-types",
            "token-exchange",
            "--scope",
            "orders:read",
            "--resource-uri",
            "https://orders.example",
            "--audience",
            "https://billing.example",
        ])
        .await;
    assert_eq!(
        orders.json["resource_uris"],
        json!(["https://orders.example"])
    );
    let a = exchange(
        &app,
        &orders,
        &[
            ("subject_token", login.access_token()),
            ("subject_token_type", ACCESS),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let claims = verified(&app, a.access_token()).await;
    assert_eq!(claims["sub"], alice["id"]);
    assert_eq!(claims["aud"], "https://billing.example");
    assert_eq!(claims["act"], json!({"sub": orders.id}));

    // The token for billing is billing's: orders (which only calls billing) cannot
    // exchange it again.
    let again = exchange(
        &app,
        &orders,
        &[
            ("subject_token", a.access_token()),
            ("subject_token_type", ACCESS),
        ],
    )
    .await;
    assert_oauth_error(&again, 400, "invalid_request");
}

#[tokio::test]
async fn resource_uris_are_set_alike_by_the_cli_rfc_7591_and_apply() {
    let app = spawn_app().await;
    // CLI: repeatable, shown by show and list.
    let c = app
        .create_client(&[
            "--resource-uri",
            "https://orders.example",
            "--resource-uri",
            "urn:orders",
        ])
        .await;
    let want = json!(["https://orders.example", "urn:orders"]);
    assert_eq!(c.json["resource_uris"], want);
    assert_eq!(
        app.cli(&["client", "show", &c.id]).await.json()["resource_uris"],
        want
    );
    let list = app.cli(&["client", "list"]).await.json();
    let listed = list
        .as_array()
        .expect("array")
        .iter()
        .find(|x| x["client_id"] == c.id.as_str())
        .expect("listed");
    assert_eq!(listed["resource_uris"], want);

    // RFC 7591 / 7592: the member `resource_uris`.
    let admin = app.admin_token().await;
    let registered = app
        .http
        .post(format!("{}/oauth/register", app.address))
        .bearer_auth(&admin)
        .json(&json!({"client_name": "orders", "resource_uris": ["https://orders.example"]}))
        .send()
        .await
        .expect("sent");
    let registered = answer(registered).await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    assert_eq!(
        registered.body["resource_uris"],
        json!(["https://orders.example"])
    );
    let id = registered.body["client_id"].as_str().expect("id");
    let bad = app
        .http
        .put(format!("{}/oauth/register/{id}", app.address))
        .bearer_auth(&admin)
        .json(&json!({"client_id": id, "client_name": "orders", "resource_uris": ["has space"]}))
        .send()
        .await
        .expect("sent");
    let bad = answer(bad).await;
    assert_oauth_error(&bad, 400, "invalid_client_metadata");
    assert!(described(&bad).contains("resource URI"), "{}", bad.body);
    let put = app
        .http
        .put(format!("{}/oauth/register/{id}", app.address))
        .bearer_auth(&admin)
        .json(&json!({"client_id": id, "client_name": "orders"}))
        .send()
        .await
        .expect("sent");
    let put = answer(put).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(
        put.body["resource_uris"],
        json!([]),
        "PUT replaces the whole"
    );

    // apply: the TOML key `resource_uris`; twice is unchanged; a bad one names its line.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("clients.toml");
    let toml = "[[client]]\nclient_id = \"orders\"\nresource_uris = [\"https://orders.example\"]\n";
    std::fs::write(&file, toml).expect("write");
    let path = file.to_str().expect("path");
    let first = app.cli(&["apply", path]).await;
    assert!(first.success, "{}", first.stderr);
    assert_eq!(
        app.cli(&["client", "show", "orders"]).await.json()["resource_uris"],
        json!(["https://orders.example"])
    );
    let second = app.cli(&["apply", path]).await.json();
    assert_eq!(second["changes"][0]["action"], "unchanged");
    std::fs::write(
        &file,
        "[[client]]\nclient_id = \"orders\"\nresource_uris = [\"bad\\u0007uri\"]\n",
    )
    .expect("write");
    let bad = app.cli(&["apply", path]).await;
    assert!(!bad.success);
    assert!(
        bad.stderr.contains(":3: resource_uris:"),
        "file, line and key: {}",
        bad.stderr
    );

    // Bounds: 50 of them, 512 characters each (Unicode counts as characters), no white
    // space or control characters; each refusal one line naming the flag.
    let long_ok = format!("urn:{}", "é".repeat(508));
    let ok = app
        .cli(&[
            "client",
            "create",
            "--name",
            "u",
            "--resource-uri",
            long_ok.as_str(),
        ])
        .await;
    assert!(ok.success, "{}", ok.stderr);
    let too_long = format!("urn:{}", "é".repeat(509));
    let many: Vec<String> = (0..51).map(|i| format!("urn:r{i}")).collect();
    let mut many_args = vec!["client", "create", "--name", "u"];
    for m in &many {
        many_args.extend(["--resource-uri", m.as_str()]);
    }
    let before = app.cli(&["client", "list"]).await.json();
    for args in [
        vec![
            "client",
            "create",
            "--name",
            "u",
            "--resource-uri",
            too_long.as_str(),
        ],
        vec!["client", "create", "--name", "u", "--resource-uri", "a b"],
        vec![
            "client",
            "create",
            "--name",
            "u",
            "--resource-uri",
            "a\u{1b}b",
        ],
        vec!["client", "create", "--name", "u", "--resource-uri", ""],
        many_args.clone(),
    ] {
        let out = app.cli(&args).await;
        assert!(!out.success, "accepted {:?}", &args[4..5]);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains("--resource-uri"), "{}", out.stderr);
    }
    assert_eq!(app.cli(&["client", "list"]).await.json(), before);
}

/// `GET /oauth/register/{id}` with `authorization` and, when given, a DPoP proof.
async fn admin_get(app: &TestApp, id: &str, authorization: &str, proof: Option<String>) -> Answer {
    let mut req = app
        .http
        .get(format!("{}/oauth/register/{id}", app.address))
        .header("Authorization", authorization);
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    answer(req.send().await.expect("sent")).await
}

#[tokio::test]
async fn a_dpop_bound_subject_token_is_exchanged_only_with_the_callers_proof_and_stays_bound() {
    let app = spawn_app_with(|c| c.server.issuer = Some(ISSUER.into())).await;
    let orders = service(&app, &["https://billing.example"], "orders:read").await;
    let alice_key = DpopKey::new();
    let (_, login) = alice_token_for(&app, &orders.id, Some(alice_key.proof())).await;
    assert_eq!(login.body["token_type"], "DPoP");
    let pairs = [
        ("subject_token", login.access_token()),
        ("subject_token_type", ACCESS),
    ];

    // Without a proof: never a Bearer token.
    let bare = exchange(&app, &orders, &pairs).await;
    assert_oauth_error(&bare, 400, "invalid_request");
    assert!(described(&bare).contains("DPoP"), "{}", bare.body);

    // With the caller's own proof: bound to the caller's key.
    let orders_key = DpopKey::new();
    let a = exchange_with(&app, &orders, &pairs, Some(orders_key.proof())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["token_type"], "DPoP");
    let token = a.access_token().to_string();
    let claims = verified(&app, &token).await;
    assert_eq!(claims["cnf"]["jkt"], orders_key.jkt());

    let introspected = app
        .http
        .post(format!("{}/oauth/introspect", app.address))
        .basic_auth(&app.admin.id, Some(&app.admin.secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("sent");
    let body: Value = introspected.json().await.expect("json");
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["cnf"]["jkt"], orders_key.jkt());

    // At a resource (the admin API): the caller's key is needed, as Bearer it is
    // refused, and alice's key does not do.
    let url = format!("{ISSUER}/oauth/register/{}", orders.id);
    let bearer = admin_get(&app, &orders.id, &format!("Bearer {token}"), None).await;
    assert_oauth_error(&bearer, 401, "invalid_token");
    let dpop = format!("DPoP {token}");
    let wrong = alice_key.proof_for("GET", &url, Some(&token));
    let wrong = admin_get(&app, &orders.id, &dpop, Some(wrong)).await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    let right = orders_key.proof_for("GET", &url, Some(&token));
    let right = admin_get(&app, &orders.id, &dpop, Some(right)).await;
    assert_oauth_error(&right, 403, "insufficient_scope");
}

#[tokio::test]
async fn actor_tokens_of_other_clients_or_bound_without_their_proof_are_refused() {
    let app = spawn_app_with(|c| c.server.issuer = Some(ISSUER.into())).await;
    let caller = service(&app, &["https://next"], "a").await;
    let subject_client = app
        .create_client(&["--scope", "a", "--audience", &caller.id])
        .await;
    let subject = app.client_credentials_token(&subject_client).await;
    let admin = app.admin_token().await;
    let (_, users) = alice_token_for(&app, &caller.id, None).await;
    let with_actor = |actor: String| {
        vec![
            ("subject_token", subject.clone()),
            ("subject_token_type", ACCESS.to_string()),
            ("actor_token", actor),
            ("actor_token_type", ACCESS.to_string()),
        ]
    };
    let run = |pairs: Vec<(&'static str, String)>, proof: Option<String>| {
        let (app, caller) = (&app, &caller);
        async move {
            let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            exchange_with(app, caller, &refs, proof).await
        }
    };
    // A token the caller got by exchange is alice's delegation, not the caller's own.
    let delegated = run(
        vec![
            ("subject_token", users.access_token().into()),
            ("subject_token_type", ACCESS.to_string()),
        ],
        None,
    )
    .await;
    assert_eq!(delegated.status, 200, "{}", delegated.body);
    for (why, actor) in [
        (
            "a token the caller got by exchange",
            delegated.access_token().into(),
        ),
        ("the admin's token", admin.clone()),
        (
            "a user's token of another client",
            users.access_token().into(),
        ),
        ("the subject token itself", subject.clone()),
    ] {
        let a = run(with_actor(actor), None).await;
        assert_oauth_error(&a, 400, "invalid_request");
        assert!(a.body.get("access_token").is_none(), "{why}");
    }

    // The caller's own token, bound to its key: only with a proof by that key.
    let key = DpopKey::new();
    let own = app
        .post_form_as(
            "/oauth/token",
            &caller,
            "grant_type=client_credentials",
            Some(("DPoP", &key.proof())),
        )
        .await;
    assert_eq!(own.body["token_type"], "DPoP", "{}", own.body);
    let own = own.access_token().to_string();
    for (why, proof) in [
        ("no proof", None),
        ("another key's proof", Some(DpopKey::new().proof())),
    ] {
        let a = run(with_actor(own.clone()), proof).await;
        assert_oauth_error(&a, 400, "invalid_request");
        assert!(a.body.get("access_token").is_none(), "{why}");
    }
    let a = run(with_actor(own), Some(key.proof())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let claims = verified(&app, a.access_token()).await;
    assert_eq!(claims["act"], json!({"sub": caller.id}));
    assert_eq!(claims["cnf"]["jkt"], key.jkt());
}

#[tokio::test]
async fn a_bound_chain_stays_bound_at_every_hop() {
    let app = spawn_app_with(|c| c.server.issuer = Some(ISSUER.into())).await;
    let ledger = service(&app, &["https://ledger"], "orders:read").await;
    let billing = service(&app, &[&ledger.id], "orders:read").await;
    let orders = service(&app, &[&billing.id], "orders:read").await;
    let (alice, login) = alice_token_for(&app, &orders.id, Some(DpopKey::new().proof())).await;
    let mut token = login.access_token().to_string();
    let mut act = Value::Null;
    for caller in [&orders, &billing, &ledger] {
        let pairs = [
            ("subject_token", token.as_str()),
            ("subject_token_type", ACCESS),
        ];
        let bare = exchange(&app, caller, &pairs).await;
        assert_oauth_error(&bare, 400, "invalid_request");
        let key = DpopKey::new();
        let a = exchange_with(&app, caller, &pairs, Some(key.proof())).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["token_type"], "DPoP");
        let claims = verified(&app, a.access_token()).await;
        assert_eq!(claims["cnf"]["jkt"], key.jkt(), "bound to this hop's key");
        assert_eq!(claims["sub"], alice["id"]);
        let mut expected = json!({"sub": caller.id});
        if !act.is_null() {
            expected["act"] = act.clone();
        }
        assert_eq!(claims["act"], expected);
        act = claims["act"].clone();
        token = a.access_token().to_string();
    }
}
