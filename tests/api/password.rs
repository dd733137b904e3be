//! The password grant: logins through the `oauth2` crate, same answers for unknown
//! users and wrong passwords, throttling, and what ends a user's sessions.

use crate::helpers::{
    assert_oauth_error, form, oauth2_http, run_cli, run_cli_env, spawn_app, spawn_app_with, Answer,
    TestApp, TestClient,
};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, RefreshToken, ResourceOwnerPassword, ResourceOwnerUsername,
    Scope, TokenResponse, TokenUrl,
};

#[tokio::test]
async fn oauth2_crate_logs_in_and_refreshes_with_tokens_that_verify() {
    let app = spawn_app().await;
    let client = app.create_app_client(&[]).await;
    let user = app.create_user("Alice", "correct horse battery").await;
    let user_id = user["id"].as_str().expect("user id");
    let token_url = app.metadata().await["token_endpoint"]
        .as_str()
        .expect("token_endpoint")
        .to_string();

    let oauth = BasicClient::new(ClientId::new(client.id.clone()))
        .set_client_secret(ClientSecret::new(client.secret.clone()))
        .set_token_uri(TokenUrl::new(token_url).expect("url"))
        .set_auth_type(AuthType::BasicAuth);
    let login = oauth
        .exchange_password(
            &ResourceOwnerUsername::new("alice".into()),
            &ResourceOwnerPassword::new("correct horse battery".into()),
        )
        .add_scope(Scope::new("profile".into()))
        .request_async(&oauth2_http())
        .await
        .expect("login succeeds");
    let (_, claims) = app.verify(login.access_token().secret()).await;
    assert_eq!(claims["sub"], user_id, "sub is the user's stable id");
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["scope"], "profile");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        300
    );
    let first_refresh = login
        .refresh_token()
        .expect("a refresh token")
        .secret()
        .clone();
    assert!(first_refresh.len() >= 43, "at least 256 bits");

    let refreshed = oauth
        .exchange_refresh_token(&RefreshToken::new(first_refresh.clone()))
        .request_async(&oauth2_http())
        .await
        .expect("refresh succeeds");
    let (_, claims) = app.verify(refreshed.access_token().secret()).await;
    assert_eq!(claims["sub"], user_id);
    assert_eq!(
        claims["scope"], "profile",
        "a refresh keeps the login's scope"
    );
    let second = refreshed.refresh_token().expect("rotated").secret();
    assert_ne!(second, &first_refresh, "refresh tokens rotate");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    let client = app.create_app_client(&[]).await;
    app.create_user("bob", "the right one").await;
    let wrong = app.login(&client, "bob", "the wrong one").await;
    let unknown = app.login(&client, "nobody-here", "the wrong one").await;
    assert_oauth_error(&wrong, 400, "invalid_grant");
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    let ok = app.login(&client, "BOB", "the right one").await;
    assert_eq!(
        ok.status, 200,
        "usernames are case-insensitive: {}",
        ok.body
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_username_until_the_window_ends() {
    let app = spawn_app_with(|c| {
        c.logins.login_max_failures = Some(3);
        c.logins.login_lockout = Some(2);
    })
    .await;
    let client = app.create_app_client(&[]).await;
    app.create_user("carol", "s3cret pass").await;
    for _ in 0..3 {
        let a = app.login(&client, "carol", "guess").await;
        assert_oauth_error(&a, 400, "invalid_grant");
    }
    let locked = app.login(&client, "carol", "s3cret pass").await;
    assert_oauth_error(&locked, 400, "invalid_grant");
    let wait: u64 = locked
        .header("retry-after")
        .expect("Retry-After while locked")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    // An unknown username locks the same way, so a lock reveals nothing.
    for _ in 0..3 {
        app.login(&client, "ghost", "guess").await;
    }
    let ghost = app.login(&client, "ghost", "guess").await;
    assert!(ghost.header("retry-after").is_some());

    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let after = app.login(&client, "carol", "s3cret pass").await;
    assert_eq!(
        after.status, 200,
        "lock lifts after the window: {}",
        after.body
    );
}

#[tokio::test]
async fn repeated_failures_from_one_address_lock_it_for_every_username() {
    let app = spawn_app_with(|c| {
        c.logins.login_max_failures_per_addr = Some(4);
        c.logins.login_lockout = Some(60);
    })
    .await;
    let client = app.create_app_client(&[]).await;
    app.create_user("dave", "dave's password").await;
    for name in ["u1", "u2", "u3", "u4"] {
        app.login(&client, name, "guess").await;
    }
    let locked = app.login(&client, "dave", "dave's password").await;
    assert_oauth_error(&locked, 400, "invalid_grant");
    assert!(locked.header("retry-after").is_some());
}

#[tokio::test]
async fn bad_password_requests_get_clear_errors_and_count_nothing() {
    let app = spawn_app_with(|c| c.logins.login_max_failures = Some(2)).await;
    let client = app.create_app_client(&[]).await;
    let cc_only = app.create_client(&[]).await;
    app.create_user("erin", "erin's password").await;

    let missing_user = app
        .token_basic(
            &client,
            &form(&[("grant_type", "password"), ("password", "x")]),
        )
        .await;
    assert_oauth_error(&missing_user, 400, "invalid_request");
    let missing_pw = app
        .token_basic(
            &client,
            &form(&[("grant_type", "password"), ("username", "erin")]),
        )
        .await;
    assert_oauth_error(&missing_pw, 400, "invalid_request");
    let empty_pw = app
        .token_basic(&client, "grant_type=password&username=erin&password=")
        .await;
    assert_oauth_error(&empty_pw, 400, "invalid_request");
    let long = "x".repeat(2_000);
    let too_long = app.login(&client, "erin", &long).await;
    assert_oauth_error(&too_long, 400, "invalid_request");
    let megabyte = "x".repeat(1 << 20);
    let huge = app.login(&client, "erin", &megabyte).await;
    assert_eq!(huge.status, 413);
    let not_utf8 = app
        .token_basic(&client, "grant_type=password&username=erin&password=%FF%FE")
        .await;
    assert_oauth_error(&not_utf8, 400, "invalid_request");
    let not_allowed = app.login(&cc_only, "erin", "erin's password").await;
    assert_oauth_error(&not_allowed, 400, "unauthorized_client");

    // None of that counted as a failed login (the limit is 2), and nothing was stored.
    assert_eq!(app.count_rows("refresh_families"), 0);
    let ok = app.login(&client, "erin", "erin's password").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_logins() {
    let app = spawn_app().await;
    let client = app.create_app_client(&[]).await;
    app.create_user("frank", "frank's password").await;
    let login = app.login(&client, "frank", "frank's password").await;
    assert_eq!(login.status, 200);
    let refresh = login.refresh_token().to_string();

    assert!(app.cli(&["user", "disable", "frank"]).await.success);
    let refused = app.refresh(&client, &refresh, &[]).await;
    assert_oauth_error(&refused, 400, "invalid_grant");
    let denied = app.login(&client, "frank", "frank's password").await;
    let wrong = app.login(&client, "frank", "not it").await;
    assert_eq!(
        denied.body, wrong.body,
        "a disabled user looks like a wrong password"
    );

    assert!(app.cli(&["user", "enable", "frank"]).await.success);
    let again = app.login(&client, "frank", "frank's password").await;
    assert_eq!(again.status, 200);
    let still = app.refresh(&client, &refresh, &[]).await;
    assert_oauth_error(&still, 400, "invalid_grant");
}

#[tokio::test]
async fn changing_the_password_ends_sessions_and_the_old_password() {
    let app = spawn_app().await;
    let client = app.create_app_client(&[]).await;
    app.create_user("gina", "old password").await;
    let login = app.login(&client, "gina", "old password").await;
    let refresh = login.refresh_token().to_string();

    let out = crate::helpers::run_cli(
        &app.db,
        &["user", "set-password", "gina"],
        Some("new password\nnew password\n"),
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    assert_oauth_error(
        &app.refresh(&client, &refresh, &[]).await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &app.login(&client, "gina", "old password").await,
        400,
        "invalid_grant",
    );
    assert_eq!(app.login(&client, "gina", "new password").await.status, 200);
}

#[tokio::test]
async fn disabling_the_client_ends_its_users_sessions() {
    let app = spawn_app().await;
    let client = app.create_app_client(&[]).await;
    app.create_user("hank", "hank's password").await;
    let refresh = app
        .login(&client, "hank", "hank's password")
        .await
        .refresh_token()
        .to_string();
    assert!(app.cli(&["client", "disable", &client.id]).await.success);
    assert!(app.cli(&["client", "enable", &client.id]).await.success);
    let after = app.refresh(&client, &refresh, &[]).await;
    assert_oauth_error(&after, 400, "invalid_grant");
}

/// What simultaneous logins got.
#[derive(Debug, Default)]
struct Outcomes {
    /// Refused after a password check: `invalid_grant` without `Retry-After`.
    checked: usize,
    /// Refused before any check: `invalid_grant` with `Retry-After`.
    throttled: usize,
    /// `503 temporarily_unavailable` (the server shed load; nothing checked).
    unavailable: usize,
}

/// Fires `usernames.len()` password logins at once, each with `password`, and sorts
/// the answers; anything else fails the test.
async fn at_once(
    app: &TestApp,
    client: &TestClient,
    usernames: &[String],
    password: &str,
) -> Outcomes {
    let answers: Vec<Answer> =
        futures::future::join_all(usernames.iter().map(|u| app.login(client, u, password))).await;
    let mut out = Outcomes::default();
    for a in &answers {
        match (a.status, a.error(), a.header("retry-after")) {
            (400, "invalid_grant", None) => out.checked += 1,
            (400, "invalid_grant", Some(wait)) => {
                let wait: i64 = wait.parse().expect("Retry-After in seconds");
                assert!((1..=300).contains(&wait), "Retry-After {wait}");
                out.throttled += 1;
            }
            (503, "temporarily_unavailable", _) => out.unavailable += 1,
            _ => panic!("unexpected answer {}: {}", a.status, a.body),
        }
    }
    out
}

/// `tessera_login_failures_total` from `/metrics`.
async fn login_failures_metric(app: &TestApp) -> usize {
    let text = app.get("/metrics").await.text().await.expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix("tessera_login_failures_total "))
        .expect("the login_failures_total metric")
        .trim()
        .parse()
        .expect("a count")
}

#[tokio::test]
async fn simultaneous_wrong_passwords_for_one_username_get_at_most_the_limit_of_checks() {
    let app = spawn_app_with(|c| {
        c.logins.login_max_failures = Some(5);
        c.logins.login_max_failures_per_addr = Some(100_000);
        c.logins.login_lockout = Some(300);
    })
    .await;
    let client = app.create_app_client(&[]).await;
    app.create_user("victim", "the victim's password").await;
    let mut checked_total = 0;
    // The second round for "victim" finds it at its limit already: nothing is checked.
    for (name, n, limit) in [("victim", 40, 5), ("ghost", 200, 5), ("victim", 40, 0)] {
        let names = vec![name.to_string(); n];
        let got = at_once(&app, &client, &names, "a guess").await;
        eprintln!("{n} at once for {name}: {got:?}");
        assert_eq!(got.checked + got.throttled + got.unavailable, n);
        assert!(
            got.checked <= limit,
            "{n} at once for {name}: {} password checks, limit {limit} ({got:?})",
            got.checked
        );
        if got.unavailable == 0 {
            assert_eq!(
                got.checked, limit,
                "{name}: the first ones are checked ({got:?})"
            );
        }
        checked_total += got.checked;
        assert_eq!(
            login_failures_metric(&app).await,
            checked_total,
            "only checked passwords count as failed logins"
        );
    }
    // The right password does not help while the username is locked.
    let locked = app.login(&client, "victim", "the victim's password").await;
    assert_oauth_error(&locked, 400, "invalid_grant");
    assert!(locked.header("retry-after").is_some());
}

#[tokio::test]
async fn simultaneous_wrong_passwords_from_one_address_get_at_most_its_limit_of_checks() {
    let app = spawn_app_with(|c| {
        c.logins.login_max_failures_per_addr = Some(4);
        c.logins.login_lockout = Some(300);
    })
    .await;
    let client = app.create_app_client(&[]).await;
    app.create_user("walt", "walt's password").await;
    let names: Vec<String> = (0..40).map(|i| format!("user{i}")).collect();
    let got = at_once(&app, &client, &names, "a guess").await;
    assert_eq!(got.checked + got.throttled + got.unavailable, 40);
    assert!(
        got.checked <= 4,
        "{} password checks from one address ({got:?})",
        got.checked
    );
    assert_eq!(login_failures_metric(&app).await, got.checked);
    let locked = app.login(&client, "walt", "walt's password").await;
    assert!(locked.header("retry-after").is_some(), "{}", locked.body);
}

#[tokio::test]
async fn correct_logins_do_not_count_against_their_address() {
    let app = spawn_app_with(|c| {
        c.logins.login_max_failures_per_addr = Some(3);
        c.logins.login_lockout = Some(300);
    })
    .await;
    let client = app.create_app_client(&[]).await;
    app.create_user("xena", "xena's password").await;
    for _ in 0..2 {
        let wrong = app.login(&client, "nobody", "a guess").await;
        assert!(wrong.header("retry-after").is_none(), "{}", wrong.body);
    }
    // Each success reserves an attempt on the address, then gives it back.
    for _ in 0..3 {
        let ok = app.login(&client, "xena", "xena's password").await;
        assert_eq!(ok.status, 200, "{}", ok.body);
    }
    let third = app.login(&client, "nobody", "a guess").await;
    assert_oauth_error(&third, 400, "invalid_grant");
    assert!(
        third.header("retry-after").is_none(),
        "the third failure is still checked"
    );
    let fourth = app.login(&client, "nobody", "a guess").await;
    assert!(
        fourth.header("retry-after").is_some(),
        "then the address is locked"
    );
    let names = vec!["xena".to_string(); 10];
    let locked = at_once(&app, &client, &names, "xena's password").await;
    assert_eq!(locked.throttled + locked.unavailable, 10, "{locked:?}");
}

#[tokio::test]
async fn new_passwords_shorter_than_password_min_length_are_refused() {
    let app = spawn_app().await;
    let run = |args: &'static [&'static str], stdin: &str, min: Option<&'static str>| {
        let envs: Vec<(&str, &str)> = min
            .map(|m| ("TESSERA_PASSWORD_MIN_LENGTH", m))
            .into_iter()
            .collect();
        let stdin = format!("{stdin}\n");
        let db = &app.db;
        async move { run_cli_env(db, args, Some(&stdin), &envs).await }
    };
    // Characters are counted, not bytes: seven umlauts are 14 bytes and too short.
    for pw in ["seven77", "äääääää"] {
        let out = run(&["user", "create", "--username", "yves"], pw, None).await;
        assert!(!out.success, "{pw:?} accepted");
        assert_eq!(out.code, Some(1));
        let line = out.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains("at least 8 characters"), "{line}");
        assert!(line.contains("password_min_length"), "{line}");
        assert!(!line.contains(pw), "the password is never echoed: {line}");
    }
    assert_eq!(app.count_rows("users"), 0, "nothing written");
    let ok = run(&["user", "create", "--username", "yves"], "pässwörd", None).await;
    assert!(ok.success, "8 characters: {}", ok.stderr);

    // A longer minimum applies to set-password too; the current password still logs in.
    let set: &[&str] = &["user", "set-password", "yves"];
    let short = run(set, "eleven char", Some("12")).await;
    assert!(!short.success);
    assert!(
        short.stderr.contains("at least 12 characters"),
        "{}",
        short.stderr
    );
    let client = app.create_app_client(&[]).await;
    assert_eq!(app.login(&client, "yves", "pässwörd").await.status, 200);
    let ok = run(set, "twelve chars", Some("12")).await;
    assert!(ok.success, "{}", ok.stderr);
    assert_eq!(app.login(&client, "yves", "twelve chars").await.status, 200);

    // An imported hash of a short password still logs in: the rule is for new ones.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("users.json");
    let short_hash = "pbkdf2_sha256$1000$s4ltS4ltS4lt$DETSw+GzRck1IbmRnmKNFR2vCqNs/Ar52Lw2GckMxXE=";
    let dump = serde_json::json!([{"model": "auth.user", "pk": 1, "fields": {
        "username": "zoe", "password": short_hash, "is_active": true}}]);
    std::fs::write(&file, dump.to_string()).expect("write dump");
    let file = file.display().to_string();
    let out = run_cli(&app.db, &["user", "import", "--django", &file], None).await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(app.login(&client, "zoe", "short").await.status, 200);

    // A minimum that cannot work is one line naming the variable.
    for bad in ["0", "-1", "1025", "eight"] {
        let out = run(&["user", "list"], "", Some(bad)).await;
        assert!(!out.success, "{bad} accepted");
        let line = out.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{bad}: {line}");
        assert!(
            line.contains("TESSERA_PASSWORD_MIN_LENGTH") || line.contains("password_min_length"),
            "{bad}: {line}"
        );
    }
}
