//! DPoP (RFC 9449) at the token endpoint: proofs built here with a real JOSE library
//! (jsonwebtoken) over real P-256 keys; binding, replay across servers, bad proofs.

use crate::helpers::{form, spawn_app_with, test_settings, TestApp, TestClient};
use crate::jose::{DpopKey, TestKey, ISSUER};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

async fn with_proof(
    app: &TestApp,
    client: &TestClient,
    body: &str,
    proof: Option<&str>,
) -> crate::helpers::Answer {
    app.post_form_as("/oauth/token", client, body, proof.map(|p| ("DPoP", p)))
        .await
}

async fn dpop_app() -> TestApp {
    spawn_app_with(|c| c.server.issuer = Some(ISSUER.into())).await
}

fn cnf_jkt(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
    claims["cnf"]["jkt"].clone()
}

#[tokio::test]
async fn a_dpop_proof_binds_the_token_and_cannot_be_replayed_on_another_server() {
    let app = dpop_app().await;
    let client = app.create_client(&[]).await;
    let key = DpopKey::new();
    let proof = key.proof();
    let a = with_proof(&app, &client, "grant_type=client_credentials", Some(&proof)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["token_type"], "DPoP");
    assert_eq!(cnf_jkt(a.access_token()), key.jkt());
    assert!(app.metadata().await["dpop_signing_alg_values_supported"].is_array());

    let replay = with_proof(&app, &client, "grant_type=client_credentials", Some(&proof)).await;
    assert_eq!((replay.status, replay.error()), (400, "invalid_dpop_proof"));

    // A second server on the same database refuses a proof the first one accepted.
    let second = tessera::startup::Application::build(test_settings(&app.db, |c| {
        c.server.issuer = Some(ISSUER.into())
    }))
    .await
    .expect("second server");
    let port = second.port();
    tokio::spawn(second.run_until_stopped());
    let fresh = key.proof();
    assert_eq!(
        with_proof(&app, &client, "grant_type=client_credentials", Some(&fresh))
            .await
            .status,
        200
    );
    let res = app
        .http
        .post(format!("http://127.0.0.1:{port}/oauth/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("DPoP", &fresh)
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("sent");
    let on_second = crate::helpers::answer(res).await;
    assert_eq!(
        on_second.error(),
        "invalid_dpop_proof",
        "replay on another replica"
    );
}

#[tokio::test]
async fn bad_dpop_proofs_are_refused_and_the_server_keeps_serving() {
    let app = dpop_app().await;
    let client = app.create_client(&[]).await;
    let key = DpopKey::new();
    let now = chrono::Utc::now().timestamp();
    let claims = |htm: &str, htu: &str, iat: i64| json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": iat});
    let url = format!("{ISSUER}/oauth/token");
    let bad = [
        (
            "other method",
            key.proof_with(claims("GET", &url, now), |_| {}),
        ),
        (
            "other url",
            key.proof_with(claims("POST", "http://elsewhere/oauth/token", now), |_| {}),
        ),
        (
            "too old",
            key.proof_with(claims("POST", &url, now - 600), |_| {}),
        ),
        (
            "future",
            key.proof_with(claims("POST", &url, now + 600), |_| {}),
        ),
        (
            "wrong typ",
            key.proof_with(claims("POST", &url, now), |h| h.typ = Some("JWT".into())),
        ),
        (
            "no jwk",
            key.proof_with(claims("POST", &url, now), |h| h.jwk = None),
        ),
        (
            "other key",
            key.proof_with(claims("POST", &url, now), |h| {
                h.jwk = Some(DpopKey::new().jwk)
            }),
        ),
        ("garbage", "not.a.proof".to_string()),
        ("private key members", {
            let mut jwk = key.key.public.clone();
            jwk["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
            key.key.sign_raw(
                &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}),
                &claims("POST", &url, now),
            )
        }),
    ];
    for (why, proof) in bad {
        let a = with_proof(&app, &client, "grant_type=client_credentials", Some(&proof)).await;
        assert_eq!(
            (a.status, a.error()),
            (400, "invalid_dpop_proof"),
            "{why}: {}",
            a.body
        );
        if why == "private key members" {
            let d = a.body["error_description"].as_str().unwrap_or_default();
            assert!(d.contains("private member"), "refused for the key: {d}");
        }
    }
    // HS256 "signed" with a shared secret is refused (no symmetric algorithms).
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("dpop+jwt".into());
    header.jwk = Some(key.jwk.clone());
    let hs = encode(
        &header,
        &claims("POST", &url, now),
        &EncodingKey::from_secret(b"k"),
    )
    .expect("hs");
    let a = with_proof(&app, &client, "grant_type=client_credentials", Some(&hs)).await;
    assert_eq!(a.error(), "invalid_dpop_proof");
    assert_eq!(app.count_rows("used_jtis"), 0, "no bad proof was recorded");
    let ok = with_proof(
        &app,
        &client,
        "grant_type=client_credentials",
        Some(&key.proof()),
    )
    .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn clients_that_require_dpop_and_bound_refresh_tokens_need_the_same_key() {
    let app = dpop_app().await;
    let strict = app.create_client(&["--require-dpop"]).await;
    let plain = with_proof(&app, &strict, "grant_type=client_credentials", None).await;
    assert_eq!(plain.error(), "invalid_dpop_proof");

    let client = app.create_app_client(&[]).await;
    app.create_user("dora", "dora's password").await;
    let key = DpopKey::new();
    let login_form = form(&[
        ("grant_type", "password"),
        ("username", "dora"),
        ("password", "dora's password"),
    ]);
    let login_proof = key.proof();
    let login = with_proof(&app, &client, &login_form, Some(&login_proof)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let refresh = login.refresh_token().to_string();
    let body = form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
    let used = app.count_rows("used_jtis");
    let other = with_proof(&app, &client, &body, Some(&DpopKey::new().proof())).await;
    assert_eq!(other.error(), "invalid_dpop_proof");
    let none = with_proof(&app, &client, &body, None).await;
    assert_eq!(none.error(), "invalid_dpop_proof");
    assert_eq!(
        app.count_rows("used_jtis"),
        used,
        "refused proofs were not recorded"
    );
    // A replayed proof is refused before the token is rotated.
    let replayed = with_proof(&app, &client, &body, Some(&login_proof)).await;
    assert_eq!(replayed.error(), "invalid_dpop_proof");
    let same = with_proof(&app, &client, &body, Some(&key.proof())).await;
    assert_eq!(
        same.status, 200,
        "the refused attempts left the token usable: {}",
        same.body
    );
    assert_eq!(cnf_jkt(same.access_token()), key.jkt());
}

#[tokio::test]
async fn proofs_by_every_algorithm_bind_tokens_to_their_key() {
    let app = dpop_app().await;
    let client = app.create_client(&[]).await;
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let key = TestKey::generate(alg);
        let proof = key.dpop_proof_with(
            &json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": "POST",
                    "htu": format!("{ISSUER}/oauth/token"),
                    "iat": chrono::Utc::now().timestamp()}),
            |_| {},
        );
        let a = with_proof(&app, &client, "grant_type=client_credentials", Some(&proof)).await;
        assert_eq!(a.status, 200, "{alg:?}: {}", a.body);
        let jwk: Jwk = serde_json::from_value(key.public.clone()).expect("jwk");
        let jkt = jwk.thumbprint(ThumbprintHash::SHA256).expect("thumbprint");
        assert_eq!(cnf_jkt(a.access_token()), jkt.as_str(), "{alg:?}");
    }
}
