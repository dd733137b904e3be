//! The djangorestframework-simplejwt compatible endpoints, and simplejwt's claims on
//! the first-party client's user tokens.

use crate::helpers::{run_cli, spawn_app, spawn_simplejwt_app, unverified_claims, Answer, TestApp};
use serde_json::json;

async fn post_json(app: &TestApp, path: &str, body: serde_json::Value) -> Answer {
    app.post_json(path, &body, None).await
}

/// A server whose simplejwt endpoints act as a first-party client, with one user.
async fn simplejwt_app() -> TestApp {
    let (app, _) = spawn_simplejwt_app(&[], |_| {}).await;
    app.create_user("django", "django's password").await;
    app
}

#[tokio::test]
async fn simplejwt_endpoints_are_absent_unless_configured() {
    let app = spawn_app().await;
    let a = post_json(
        &app,
        "/api/token/",
        json!({"username": "x", "password": "y"}),
    )
    .await;
    assert_eq!(a.status, 404);
    let r = post_json(&app, "/api/token/refresh/", json!({"refresh": "x"})).await;
    assert_eq!(r.status, 404);
    let v = post_json(&app, "/api/token/verify/", json!({"token": "x"})).await;
    assert_eq!(v.status, 404);
    let b = post_json(&app, "/api/token/blacklist/", json!({"refresh": "x"})).await;
    assert_eq!(b.status, 404);
}

const NOT_VALID: &str = "Token is invalid or expired";

#[tokio::test]
async fn verify_accepts_only_active_access_tokens() {
    let (app, client) = spawn_simplejwt_app(&[], |_| {}).await;
    app.create_user("django", "django's password").await;
    let pair = post_json(
        &app,
        "/api/token/",
        json!({"username": "django", "password": "django's password"}),
    )
    .await;
    let access = pair.body["access"].as_str().expect("access").to_string();
    let refresh = pair.body["refresh"].as_str().expect("refresh").to_string();

    let ok = post_json(&app, "/api/token/verify/", json!({"token": access})).await;
    assert_eq!((ok.status, &ok.body), (200, &json!({})));
    let form = app
        .http
        .post(format!("{}/api/token/verify/", app.address))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(form.status(), 200, "form bodies work too");

    // Tampered, a refresh token, garbage, oversized: simplejwt's one answer.
    let mut tampered = access.clone();
    tampered.pop();
    tampered.push(if access.ends_with('A') { 'B' } else { 'A' });
    for token in [tampered, refresh, "garbage".into(), "x".repeat(20_000)] {
        let no = post_json(&app, "/api/token/verify/", json!({ "token": token })).await;
        assert_eq!(no.status, 401, "{}", no.body);
        assert_eq!(
            no.body,
            json!({"detail": NOT_VALID, "code": "token_not_valid"})
        );
    }
    let missing = post_json(&app, "/api/token/verify/", json!({})).await;
    assert_eq!(
        (missing.status, &missing.body),
        (400, &json!({"token": ["This field is required."]}))
    );

    // A revoked access token is no longer active.
    let revoked = app
        .http
        .post(format!("{}/oauth/revoke", app.address))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(revoked.status(), 200);
    let no = post_json(&app, "/api/token/verify/", json!({ "token": access })).await;
    assert_eq!(no.status, 401, "revoked: {}", no.body);
}

#[tokio::test]
async fn blacklist_ends_the_session_like_simplejwt() {
    let app = simplejwt_app().await;
    let login = json!({"username": "django", "password": "django's password"});
    let pair = post_json(&app, "/api/token/", login.clone()).await;
    let first = pair.body["refresh"].as_str().expect("refresh").to_string();
    let next = post_json(&app, "/api/token/refresh/", json!({ "refresh": first })).await;
    let current = next.body["refresh"].as_str().expect("rotated").to_string();

    let out = post_json(&app, "/api/token/blacklist/", json!({ "refresh": current })).await;
    assert_eq!((out.status, &out.body), (200, &json!({})));
    // Neither the token nor any other of the session refreshes again.
    let again = post_json(&app, "/api/token/refresh/", json!({ "refresh": current })).await;
    assert_eq!(again.status, 401);
    assert_eq!(again.body["code"], "token_not_valid");
    let twice = post_json(&app, "/api/token/blacklist/", json!({ "refresh": current })).await;
    assert_eq!(
        (twice.status, &twice.body),
        (
            401,
            &json!({"detail": "Token is blacklisted", "code": "token_not_valid"})
        )
    );

    // Another login is its own session; a form body logs it out.
    let other = post_json(&app, "/api/token/", login).await;
    let other_refresh = other.body["refresh"].as_str().expect("refresh").to_string();
    let res = app
        .http
        .post(format!("{}/api/token/blacklist/", app.address))
        .form(&[("refresh", other_refresh.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);

    for token in ["unknown".to_string(), pair.body["access"].to_string()] {
        let no = post_json(&app, "/api/token/blacklist/", json!({ "refresh": token })).await;
        assert_eq!(
            (no.status, &no.body),
            (
                401,
                &json!({"detail": NOT_VALID, "code": "token_not_valid"})
            )
        );
    }
    let missing = post_json(&app, "/api/token/blacklist/", json!({"token": "x"})).await;
    assert_eq!(
        (missing.status, &missing.body),
        (400, &json!({"refresh": ["This field is required."]}))
    );
}

#[tokio::test]
async fn a_refresh_token_of_another_client_cannot_be_blacklisted() {
    let (app, _) = spawn_simplejwt_app(&[], |_| {}).await;
    let other = app.create_app_client(&[]).await;
    app.create_user("bea", "bea's password").await;
    let login = app.login(&other, "bea", "bea's password").await;
    let foreign = login.refresh_token().to_string();
    let no = post_json(&app, "/api/token/blacklist/", json!({ "refresh": foreign })).await;
    assert_eq!(no.status, 401);
    assert_eq!(no.body["detail"], NOT_VALID);
    let still = app.refresh(&other, &foreign, &[]).await;
    assert_eq!(still.status, 200, "the other client's session goes on");
}

#[tokio::test]
async fn first_party_user_tokens_carry_simplejwt_claims_on_every_path() {
    let (app, client) = spawn_simplejwt_app(&[], |_| {}).await;
    let other = app.create_app_client(&[]).await;
    let out = run_cli(
        &app.db,
        &["user", "create", "--username", "dj", "--external-id", "42"],
        Some("dj's password\n"),
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(out.json()["external_id"], "42");
    let plain = app.create_user("plain", "plain's password").await;

    // /api/token/ and /api/token/refresh/.
    let pair = post_json(
        &app,
        "/api/token/",
        json!({"username": "dj", "password": "dj's password"}),
    )
    .await;
    let claims = app
        .verify(pair.body["access"].as_str().expect("access"))
        .await
        .1;
    assert_eq!(claims["token_type"], "access");
    assert_eq!(
        claims["user_id"],
        json!(42),
        "an all-digit external id is a number"
    );
    let next = post_json(
        &app,
        "/api/token/refresh/",
        json!({"refresh": pair.body["refresh"]}),
    )
    .await;
    let claims = unverified_claims(next.body["access"].as_str().expect("access"));
    assert_eq!(
        (&claims["token_type"], &claims["user_id"]),
        (&json!("access"), &json!(42))
    );

    // The password and refresh grants of /oauth/token, for the same client.
    let login = app.login(&client, "plain", "plain's password").await;
    let claims = unverified_claims(login.access_token());
    assert_eq!(claims["token_type"], "access");
    assert_eq!(
        claims["user_id"], plain["id"],
        "no external id: the tessera id"
    );
    let refreshed = app.refresh(&client, login.refresh_token(), &[]).await;
    let claims = unverified_claims(refreshed.access_token());
    assert_eq!(claims["user_id"], plain["id"]);

    // Other clients' tokens stay plain RFC 9068, so a simplejwt resource server
    // refuses them as users.
    let foreign = app.login(&other, "dj", "dj's password").await;
    let claims = unverified_claims(foreign.access_token());
    assert!(claims.get("token_type").is_none() && claims.get("user_id").is_none());
}

#[tokio::test]
async fn obtain_and_refresh_a_pair_like_simplejwt() {
    let app = simplejwt_app().await;
    let pair = post_json(
        &app,
        "/api/token/",
        json!({"username": "django", "password": "django's password"}),
    )
    .await;
    assert_eq!(pair.status, 200, "{}", pair.body);
    let access = pair.body["access"].as_str().expect("access");
    let refresh = pair.body["refresh"].as_str().expect("refresh").to_string();
    let (_, claims) = app.verify(access).await;
    assert!(claims["sub"].is_string());

    let next = post_json(&app, "/api/token/refresh/", json!({"refresh": refresh})).await;
    assert_eq!(next.status, 200, "{}", next.body);
    app.verify(next.body["access"].as_str().expect("access"))
        .await;
    assert_ne!(next.body["refresh"].as_str().expect("rotated"), refresh);

    // The rotated-out token is reuse now, and simplejwt's answer for it.
    let reuse = post_json(&app, "/api/token/refresh/", json!({"refresh": refresh})).await;
    assert_eq!(reuse.status, 401);
    assert_eq!(
        reuse.body,
        json!({"detail": "Token is invalid or expired", "code": "token_not_valid"})
    );

    // Form bodies work too.
    let res = app
        .http
        .post(format!("{}/api/token/", app.address))
        .form(&[("username", "django"), ("password", "django's password")])
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn simplejwt_errors_have_simplejwt_shapes() {
    let app = simplejwt_app().await;
    let wrong = post_json(
        &app,
        "/api/token/",
        json!({"username": "django", "password": "nope"}),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.body,
        json!({"detail": "No active account found with the given credentials"})
    );
    let unknown = post_json(
        &app,
        "/api/token/",
        json!({"username": "nobody", "password": "nope"}),
    )
    .await;
    assert_eq!((unknown.status, &unknown.body), (wrong.status, &wrong.body));

    let missing = post_json(&app, "/api/token/", json!({"username": "django"})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.body,
        json!({"password": ["This field is required."]})
    );
    let wrong_type = post_json(&app, "/api/token/", json!({"username": 5, "password": "x"})).await;
    assert_eq!(wrong_type.status, 400);
    let garbage = post_json(&app, "/api/token/refresh/", json!({"refresh": "garbage"})).await;
    assert_eq!(garbage.status, 401);
    assert_eq!(garbage.body["code"], "token_not_valid");
}

#[tokio::test]
async fn simultaneous_wrong_passwords_at_api_token_are_checked_at_most_the_limit() {
    let (app, _) = spawn_simplejwt_app(&[], |c| {
        c.logins.login_max_failures = Some(5);
        c.logins.login_max_failures_per_addr = Some(100_000);
    })
    .await;
    app.create_user("django", "django's password").await;
    let body = json!({"username": "django", "password": "a guess"});
    let answers =
        futures::future::join_all((0..40).map(|_| post_json(&app, "/api/token/", body.clone())))
            .await;
    let (mut checked, mut throttled, mut unavailable) = (0, 0, 0);
    for a in &answers {
        match a.status {
            401 => checked += 1,
            429 => {
                assert!(a.header("retry-after").is_some(), "{}", a.body);
                throttled += 1;
            }
            503 => unavailable += 1,
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    assert!(
        checked <= 5,
        "40 at once: {checked} password checks, limit 5"
    );
    assert_eq!(checked + throttled + unavailable, 40);
    if unavailable == 0 {
        assert_eq!(checked, 5, "the first five are checked");
    }
    let locked = post_json(
        &app,
        "/api/token/",
        json!({"username": "django", "password": "django's password"}),
    )
    .await;
    assert_eq!(locked.status, 429, "{}", locked.body);
}
