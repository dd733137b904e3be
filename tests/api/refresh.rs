//! Refresh-token rotation, reuse detection (strict and with a grace period), scope
//! narrowing, and purging of ended families.

use crate::helpers::{assert_oauth_error, spawn_app, spawn_app_with, TestApp, TestClient};
use std::time::Duration;

async fn logged_in(app: &TestApp, extra: &[&str]) -> (TestClient, String) {
    let client = app.create_app_client(extra).await;
    app.create_user("alice", "alice's password").await;
    let login = app.login(&client, "alice", "alice's password").await;
    assert_eq!(login.status, 200, "{}", login.body);
    (client, login.refresh_token().to_string())
}

#[tokio::test]
async fn reusing_generation_two_of_a_chain_of_five_revokes_generation_five() {
    let app = spawn_app().await;
    let (client, first) = logged_in(&app, &[]).await;
    let mut chain = vec![first];
    for _ in 0..4 {
        let a = app
            .refresh(&client, chain.last().expect("token"), &[])
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        app.verify(a.access_token()).await;
        chain.push(a.refresh_token().to_string());
    }
    assert_eq!(chain.len(), 5);
    let reuse = app.refresh(&client, &chain[1], &[]).await;
    assert_oauth_error(&reuse, 400, "invalid_grant");
    let fifth = app.refresh(&client, &chain[4], &[]).await;
    assert_oauth_error(&fifth, 400, "invalid_grant");
    assert_eq!(
        reuse.body, fifth.body,
        "reuse and revocation look the same to the client"
    );
}

#[tokio::test]
async fn of_twenty_concurrent_refreshes_exactly_one_succeeds() {
    let app = spawn_app().await;
    let (client, token) = logged_in(&app, &[]).await;
    let attempts = (0..20).map(|_| app.refresh(&client, &token, &[]));
    let answers = futures::future::join_all(attempts).await;
    let winners: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one winner");
    for a in answers.iter().filter(|a| a.status != 200) {
        assert_oauth_error(a, 400, "invalid_grant");
    }
    // The replays were reuse: the family is revoked as a whole, winner's token included.
    let next = app.refresh(&client, winners[0].refresh_token(), &[]).await;
    assert_oauth_error(&next, 400, "invalid_grant");
    assert_eq!(
        app.count_rows("refresh_tokens"),
        2,
        "the token and its one successor"
    );
}

#[tokio::test]
async fn within_the_reuse_grace_a_replay_gets_a_fresh_pair_and_after_it_revokes() {
    let app = spawn_app().await;
    let (client, token) = logged_in(&app, &["--refresh-reuse-grace", "2"]).await;
    // Two tabs refresh the same token at once: both stay logged in.
    let (a, b) = tokio::join!(
        app.refresh(&client, &token, &[]),
        app.refresh(&client, &token, &[])
    );
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.body, b.body);
    assert_ne!(a.refresh_token(), b.refresh_token());
    let a_next = app.refresh(&client, a.refresh_token(), &[]).await;
    assert_eq!(a_next.status, 200, "{}", a_next.body);
    let b_next = app.refresh(&client, b.refresh_token(), &[]).await;
    assert_eq!(b_next.status, 200, "{}", b_next.body);

    // Past the grace, replaying the first token is reuse: the family ends.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let late = app.refresh(&client, &token, &[]).await;
    assert_oauth_error(&late, 400, "invalid_grant");
    let after = app.refresh(&client, a_next.refresh_token(), &[]).await;
    assert_oauth_error(&after, 400, "invalid_grant");
}

#[tokio::test]
async fn the_global_reuse_grace_applies_to_clients_without_their_own() {
    let app = spawn_app_with(|c| c.tokens.refresh_reuse_grace = Some(30)).await;
    let (client, token) = logged_in(&app, &[]).await;
    let first = app.refresh(&client, &token, &[]).await;
    assert_eq!(first.status, 200);
    let replay = app.refresh(&client, &token, &[]).await;
    assert_eq!(replay.status, 200, "replay within grace: {}", replay.body);
}

#[tokio::test]
async fn scope_on_refresh_may_only_narrow_and_a_refusal_keeps_the_token() {
    let app = spawn_app().await;
    let (client, token) = logged_in(&app, &[]).await;
    let wider = app
        .refresh(&client, &token, &[("scope", "profile orders admin")])
        .await;
    assert_oauth_error(&wider, 400, "invalid_scope");
    let bad_aud = app
        .refresh(
            &client,
            &token,
            &[("resource", "https://elsewhere.example")],
        )
        .await;
    assert_oauth_error(&bad_aud, 400, "invalid_target");
    let narrow = app.refresh(&client, &token, &[("scope", "orders")]).await;
    assert_eq!(
        narrow.status, 200,
        "the refused requests did not use it: {}",
        narrow.body
    );
    let (_, claims) = app.verify(narrow.access_token()).await;
    assert_eq!(claims["scope"], "orders");
    // The rotated token still carries the login's whole scope.
    let whole = app.refresh(&client, narrow.refresh_token(), &[]).await;
    let (_, claims) = app.verify(whole.access_token()).await;
    assert_eq!(claims["scope"], "orders profile");
}

#[tokio::test]
async fn foreign_garbage_and_expired_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    let (client, token) = logged_in(&app, &["--refresh-token-ttl", "2"]).await;
    let other = app.create_app_client(&[]).await;
    let foreign = app.refresh(&other, &token, &[]).await;
    assert_oauth_error(&foreign, 400, "invalid_grant");
    let garbage = app.refresh(&client, "not-a-token", &[]).await;
    assert_oauth_error(&garbage, 400, "invalid_grant");
    let huge = app.refresh(&client, &"x".repeat(4_000), &[]).await;
    assert_oauth_error(&huge, 400, "invalid_grant");
    let missing = app.token_basic(&client, "grant_type=refresh_token").await;
    assert_oauth_error(&missing, 400, "invalid_request");
    let cc_only = app.create_client(&[]).await;
    let not_allowed = app.refresh(&cc_only, &token, &[]).await;
    assert_oauth_error(&not_allowed, 400, "unauthorized_client");

    // None of those used the token; its family's absolute lifetime still ends it.
    let ok = app.refresh(&client, &token, &[]).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let expired = app.refresh(&client, ok.refresh_token(), &[]).await;
    assert_oauth_error(&expired, 400, "invalid_grant");
}

#[tokio::test]
async fn ended_families_are_purged_in_the_background() {
    let app = spawn_app_with(|c| c.database.purge_interval = Some(1)).await;
    // Two seconds, not one: under a loaded test run the login and the refresh below
    // can straddle a one-second lifetime, and the refresh would find the family ended.
    let (client, token) = logged_in(&app, &["--refresh-token-ttl", "2"]).await;
    let a = app.refresh(&client, &token, &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(app.count_rows("refresh_tokens"), 2);
    let mut left = 2;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        left = app.count_rows("refresh_tokens") + app.count_rows("refresh_families");
        if left == 0 {
            break;
        }
    }
    assert_eq!(left, 0, "expired family and its tokens were deleted");
}

#[tokio::test]
async fn a_refresh_token_survives_a_restart() {
    let app = spawn_app().await;
    let (client, token) = logged_in(&app, &[]).await;
    let db = app.stop().await;
    let app = crate::helpers::spawn_app_on(db, |_| {}).await;
    let a = app.refresh(&client, &token, &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
}
