//! The djangorestframework-simplejwt compatible endpoints.

use crate::helpers::{answer, spawn_app, spawn_app_on, Answer, TestApp, TestDb};
use serde_json::json;

async fn post_json(app: &TestApp, path: &str, body: serde_json::Value) -> Answer {
    let res = app
        .http
        .post(format!("{}{path}", app.address))
        .json(&body)
        .send()
        .await
        .expect("sent");
    answer(res).await
}

/// A server whose simplejwt endpoints act as a first-party client, with one user.
async fn simplejwt_app() -> TestApp {
    let setup = spawn_app().await;
    let client = setup.create_app_client(&[]).await;
    setup.create_user("django", "django's password").await;
    let db: TestDb = setup.stop().await;
    spawn_app_on(db, |c| c.simplejwt_client = Some(client.id.clone())).await
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
