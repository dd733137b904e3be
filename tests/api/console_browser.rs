//! The admin console in a real browser, the way a person uses it: a headless Chromium
//! (driven over WebDriver, see helpers/browser.rs) opens the one-time setup link that
//! `tessera serve` prints, creates the first operator, signs in with the keyboard,
//! creates a secret client through the form and copies its secret from the page, gets
//! a token with it, watches `last used` change, rotates with overlap, disables the
//! client, explains a platform token and signs out; the clients page must fit a 360 px
//! window.
//!
//! Needs Debian's `chromium` and `chromium-driver`, so it is `#[ignore]`d: a plain
//! `cargo test` shows it as ignored, `.ci/run` installs both and runs it
//! (`--include-ignored`) on SQLite and on PostgreSQL, and `cargo test -- --ignored
//! console_browser` runs it here; without them it fails, saying what is missing. A failed
//! step names its screenshot under `target/console-screenshots/`. Each run also saves the
//! client page as `target/console-screenshots/console.png`, and with
//! `TESSERA_TEST_UPDATE_SCREENSHOT=1` as `docs/console.png` (the README's picture).

use crate::helpers::{
    answer, form, kubernetes_claims, published, run_cli_env, screenshot_dir, serve_process, Answer,
    Browser, TestDb, TestIssuer,
};
use crate::jose::TestKey;
use fantoccini::key::Key;
use jsonwebtoken::Algorithm;
use std::path::Path;
use std::time::Duration;

const OPERATOR: &str = "Zoë Operator";
const PASSWORD: &str = "correct horse battery staple";

/// `client_credentials` at `/oauth/token` with HTTP Basic, as the client's code would.
async fn token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> Answer {
    let res = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(id, Some(secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token request sent");
    answer(res).await
}

/// The secret shown once on the page after creating or rotating, as a person copies it.
async fn shown_secret(b: &Browser) -> String {
    let secret = b
        .field("Client secret")
        .await
        .prop("value")
        .await
        .expect("secret field value")
        .unwrap_or_default();
    assert!(secret.len() >= 16, "no secret on the page: {secret:?}");
    secret
}

#[tokio::test]
#[ignore = "needs Debian's chromium and chromium-driver: .ci/run runs it; here: cargo test -- --ignored console_browser"]
async fn an_operator_runs_a_client_through_the_console_in_chromium() {
    let started = std::time::Instant::now();
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = serve_process(
        dir.path(),
        &[
            ("TESSERA_DATABASE_URL", db.url()),
            // `last used` shows within a second or two, not the default 10 s.
            ("TESSERA_USAGE_FLUSH_INTERVAL", "1".into()),
            ("TESSERA_CLIENT_CACHE_TTL", "0".into()),
            // The test issuer serves its keys over plain http on loopback.
            ("TESSERA_JWKS_URI_ALLOW_HTTP", "true".into()),
        ],
    )
    .await;
    let base = server.address.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let link = server
        .wait_for_line("/console/setup?code=", Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("serve printed no setup link: {:?}", server.log()));
    let link = link.trim().to_string();
    assert!(
        link.starts_with(&format!("{base}/console/setup?code=")),
        "{link}"
    );

    let b = Browser::start("console").await;

    b.step("setup-link", async {
        b.goto(&link).await;
        assert_eq!(b.heading().await, "Create the first operator");
        b.fill("Operator name", OPERATOR).await;
        b.fill("Password (at least", PASSWORD).await;
        b.fill("Password again", PASSWORD).await;
        b.press("Create operator and sign in").await;
        assert_eq!(b.path().await, "/console/");
        b.expect_text(&format!("Signed in as {OPERATOR}")).await;
    })
    .await;

    b.step("setup-link-used", async {
        // The link was for one use.
        b.press("Sign out").await;
        b.goto(&link).await;
        let text = b.text().await;
        assert!(
            !text.contains("Create operator and sign in"),
            "the setup form is offered again:\n{text}"
        );
    })
    .await;

    b.step("sign-in-by-keyboard", async {
        // A console page without a session leads to the sign-in form, then back.
        b.goto(&format!("{base}/console/")).await;
        assert!(
            b.path().await.starts_with("/console/signin"),
            "{}",
            b.path().await
        );
        // Tab to the name field (it may already have the focus), type, Tab, type, Enter.
        for _ in 0..10 {
            if b.focused_name().await.as_deref() == Some("username") {
                break;
            }
            b.keys(&Key::Tab.to_string()).await;
        }
        assert_eq!(b.focused_name().await.as_deref(), Some("username"));
        b.keys(OPERATOR).await;
        b.keys(&Key::Tab.to_string()).await;
        assert_eq!(b.focused_name().await.as_deref(), Some("password"));
        b.keys(PASSWORD).await;
        b.mark_page().await;
        b.keys(&Key::Enter.to_string()).await;
        b.wait_new_page().await;
        assert_eq!(
            b.path().await,
            "/console/",
            "back where the operator was going"
        );
        b.expect_text(&format!("Signed in as {OPERATOR}")).await;
    })
    .await;

    let (id, first) = b
        .step("create-client", async {
            b.follow("Clients").await;
            b.follow("New client").await;
            assert_eq!(b.heading().await, "New client");
            b.fill("Name", "Orders bot ☕").await;
            b.choose("Authentication method", "client_secret_basic")
                .await;
            b.fill("Scope", "orders:read").await;
            b.press("Create client").await;
            b.expect_text("Client secret — shown once").await;
            let id = b.find("#client-id").await.text().await.expect("id text");
            (id, shown_secret(&b).await)
        })
        .await;

    b.step("first-token", async {
        b.follow("Back to the client").await;
        assert_eq!(b.heading().await, "Orders bot ☕");
        let never = b.find("#last-used").await.text().await.expect("last used");
        assert_eq!(never.trim(), "never", "a new client was used already?");
        let a = token(&http, &base, &id, &first).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["scope"], "orders:read");
    })
    .await;

    b.step("last-used-changes", async {
        // Counted in memory, written at the next flush (1 s here): a reload shows it.
        let start = std::time::Instant::now();
        loop {
            let shown = b.find("#last-used").await.text().await.expect("last used");
            if shown.trim() != "never" {
                assert!(shown.contains("UTC"), "{shown}");
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "last used still says never"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            b.client.refresh().await.expect("reload");
        }
        // The picture for the README: the client's credentials and its 7-day chart.
        b.js("document.getElementById('credentials-heading').scrollIntoView(); return null;")
            .await;
        let shot = screenshot_dir().join("console.png");
        b.save_screenshot(&shot).await.expect("screenshot");
        if std::env::var_os("TESSERA_TEST_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console.png");
            std::fs::copy(&shot, &docs).expect("copy to docs/console.png");
        }
    })
    .await;

    let second = b
        .step("rotate-with-overlap", async {
            b.choose("Old secret keeps working for", "1 hour").await;
            b.press("Rotate secret").await;
            b.expect_text("Secret rotated").await;
            b.expect_text("The previous secret keeps working until")
                .await;
            let second = shown_secret(&b).await;
            assert_ne!(second, first);
            for (which, secret) in [("new", &second), ("old", &first)] {
                let a = token(&http, &base, &id, secret).await;
                assert_eq!(a.status, 200, "the {which} secret: {}", a.body);
            }
            second
        })
        .await;

    b.step("disable", async {
        b.follow("Back to the client").await;
        b.press("Disable client").await;
        assert_eq!(
            b.find("#client-state").await.text().await.expect("state"),
            "Disabled"
        );
        assert!(!b.buttons_named("Enable client").await.is_empty());
        for secret in [&second, &first] {
            let a = token(&http, &base, &id, secret).await;
            assert_eq!(a.status, 401, "a disabled client got: {}", a.body);
            assert_eq!(a.body["error"], "invalid_client", "{}", a.body);
        }
    })
    .await;

    b.step("narrow-window", async {
        b.resize(360, 800).await;
        b.goto(&format!("{base}/console/clients")).await;
        let widths = b
            .js("return [window.innerWidth, document.body.scrollWidth];")
            .await;
        let inner = widths[0].as_u64().expect("innerWidth");
        let scroll = widths[1].as_u64().expect("scrollWidth");
        assert!(inner <= 360, "the window did not narrow: {inner} px");
        assert!(
            scroll <= 360,
            "the clients page scrolls sideways at 360 px: body is {scroll} px wide"
        );
        b.resize(1280, 900).await;
    })
    .await;

    b.step("explain", async {
        let key = TestKey::generate(Algorithm::RS256);
        let cluster = TestIssuer::start(published(&[&key], 300)).await;
        let allow_http = [("TESSERA_JWKS_URI_ALLOW_HTTP", "true")];
        let jwks_uri = format!("{}/jwks", cluster.url);
        let out = run_cli_env(
            &db,
            &[
                "issuer",
                "add",
                "--name",
                "k8s",
                "--issuer",
                &cluster.url,
                "--jwks-uri",
                &jwks_uri,
            ],
            None,
            &allow_http,
        )
        .await;
        assert!(out.success, "{}", out.stderr);
        let out = run_cli_env(
            &db,
            &[
                "client",
                "create",
                "--name",
                "orders workload",
                "--scope",
                "orders:read",
                "--auth-method",
                "federated",
                "--issuer",
                "k8s",
                "--subject",
                "system:serviceaccount:shop:orders",
            ],
            None,
            &allow_http,
        )
        .await;
        assert!(out.success, "{}", out.stderr);
        let workload = out.json()["client_id"]
            .as_str()
            .expect("client_id")
            .to_string();
        let platform = cluster.mint(
            &key,
            &kubernetes_claims(&cluster.url, &base, "shop", "orders"),
        );

        b.follow("Explain").await;
        b.fill("Platform token (JWT)", &platform).await;
        b.press("Explain token").await;
        b.expect_text("It would authenticate client").await;
        b.expect_text(&workload).await;
        // Explaining issued nothing and consumed nothing: the token still works.
        let a = {
            let res = http
                .post(format!("{base}/oauth/token"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &platform),
                ]))
                .send()
                .await
                .expect("sent");
            answer(res).await
        };
        assert_eq!(a.status, 200, "{}", a.body);
    })
    .await;

    b.step("sign-out", async {
        b.press("Sign out").await;
        assert!(
            b.path().await.starts_with("/console/signin"),
            "{}",
            b.path().await
        );
        b.goto(&format!("{base}/console/clients/{id}")).await;
        assert!(
            b.path().await.starts_with("/console/signin"),
            "a console page after signing out: {}",
            b.path().await
        );
        assert_eq!(b.heading().await, "Sign in to the console");
    })
    .await;

    b.close().await;
    drop(server);
    eprintln!(
        "console browser test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
