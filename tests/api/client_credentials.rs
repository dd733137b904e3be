//! The client_credentials grant, driven by the `oauth2` crate as a real client would.

use crate::helpers::{assert_oauth_error, oauth2_client, oauth2_http, spawn_app, spawn_app_with};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};

#[tokio::test]
async fn oauth2_crate_gets_a_token_with_basic_auth_that_verifies_against_the_jwks() {
    let app = spawn_app().await;
    let client = app
        .create_client(&[
            "--scope",
            "orders:read orders:write",
            "--audience",
            "https://orders.example",
        ])
        .await;
    let meta = app.metadata().await;
    let token_url = meta["token_endpoint"]
        .as_str()
        .expect("token_endpoint")
        .to_string();

    let oauth = BasicClient::new(ClientId::new(client.id.clone()))
        .set_client_secret(ClientSecret::new(client.secret.clone()))
        .set_token_uri(TokenUrl::new(token_url).expect("url"))
        .set_auth_type(AuthType::BasicAuth);
    let token = oauth
        .exchange_client_credentials()
        .add_scope(Scope::new("orders:read".into()))
        .request_async(&oauth2_http())
        .await
        .expect("token issued");
    assert_eq!(token.token_type().as_ref(), "bearer");
    assert_eq!(token.expires_in().map(|d| d.as_secs()), Some(300));
    assert!(
        token.refresh_token().is_none(),
        "client_credentials issues no refresh token"
    );

    let (header, claims) = app.verify(token.access_token().secret()).await;
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(claims["iss"], meta["issuer"]);
    assert_eq!(claims["sub"], client.id.as_str());
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["aud"], "https://orders.example");
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0),
        300
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
}

#[tokio::test]
async fn client_secret_post_clients_authenticate_in_the_body() {
    let app = spawn_app().await;
    let client = app
        .create_client(&["--scope", "a b", "--auth-method", "client_secret_post"])
        .await;
    let oauth = oauth2_client(&app, &client, AuthType::RequestBody).await;
    let token = oauth
        .exchange_client_credentials()
        .request_async(&oauth2_http())
        .await
        .expect("token issued");
    let (_, claims) = app.verify(token.access_token().secret()).await;
    assert_eq!(
        claims["scope"], "a b",
        "no scope requested means all of the client's"
    );

    // The same secret over Basic works too: a client with a secret accepts both
    // secret methods (one per request); the registered one is its preferred one.
    let a = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn token_responses_follow_rfc_6749_section_5_1() {
    let app = spawn_app().await;
    let client = app.create_client(&["--scope", "x"]).await;
    let a = app
        .token_basic(&client, "grant_type=client_credentials&scope=x")
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert_eq!(a.header("pragma"), Some("no-cache"));
    assert!(a
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["expires_in"], 300);
    assert_eq!(a.body["scope"], "x");
    assert!(a.body.get("refresh_token").is_none());
}

#[tokio::test]
async fn resource_and_audience_choose_among_the_clients_audiences() {
    let app = spawn_app().await;
    let client = app
        .create_client(&[
            "--audience",
            "https://a.example",
            "--audience",
            "https://b.example",
        ])
        .await;

    let both = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    let (_, claims) = app.verify(both.access_token()).await;
    assert_eq!(
        claims["aud"],
        serde_json::json!(["https://a.example", "https://b.example"])
    );

    let one = app
        .token_basic(
            &client,
            "grant_type=client_credentials&resource=https%3A%2F%2Fb.example",
        )
        .await;
    assert_eq!(
        app.verify(one.access_token()).await.1["aud"],
        "https://b.example"
    );

    let aud = app
        .token_basic(
            &client,
            "grant_type=client_credentials&audience=https%3A%2F%2Fa.example",
        )
        .await;
    assert_eq!(
        app.verify(aud.access_token()).await.1["aud"],
        "https://a.example"
    );

    let unknown = app
        .token_basic(
            &client,
            "grant_type=client_credentials&resource=https%3A%2F%2Fevil.example",
        )
        .await;
    assert_oauth_error(&unknown, 400, "invalid_target");
}

#[tokio::test]
async fn lifetimes_come_from_the_client_then_the_server() {
    let app = spawn_app_with(|c| c.tokens.access_token_ttl = Some(120)).await;
    let default = app.create_client(&[]).await;
    let short = app.create_client(&["--access-token-ttl", "30"]).await;
    assert_eq!(
        app.token_basic(&default, "grant_type=client_credentials")
            .await
            .body["expires_in"],
        120
    );
    let a = app
        .token_basic(&short, "grant_type=client_credentials")
        .await;
    assert_eq!(a.body["expires_in"], 30);
    let (_, claims) = app.verify(a.access_token()).await;
    assert_eq!(
        claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0),
        30
    );
}

#[tokio::test]
async fn the_bootstrap_admin_client_gets_an_admin_token() {
    let app = spawn_app().await;
    assert!(
        !app.admin.id.is_empty(),
        "an empty database gets a bootstrap admin client"
    );
    let a = app
        .token_basic(&app.admin, "grant_type=client_credentials")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        app.verify(a.access_token()).await.1["scope"],
        "tessera:admin"
    );
}
