//! The console's pages other than clients, the way an operator uses them over HTTP:
//! signed in (an operator made with `tessera operator add`), each page shows its data,
//! each action goes through the one model (the CLI's messages, the CLI's rules), is
//! audited as `console:<name>`, and what it changes is what a client of the server
//! then sees (a disabled user refused, a rotated key in the JWKS, an explained token
//! still unused).

use crate::federation::{
    add_issuer, cli, cli_ok, federated_client, federation_app, with_platform_token, JWT_BEARER,
};
use crate::helpers::{
    count_sql, kubernetes_claims, published, run_cli, spawn_app, TestApp, TestIssuer,
};
use crate::jose::{TestKey, ISSUER};
use jsonwebtoken::Algorithm;

const PASSWORD: &str = "console password 1";

/// A signed-in operator's browser: its session cookie and the page's CSRF token.
struct Console {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

/// A response read whole.
struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

/// The value of the first `<input … name="NAME" … value="…">` on `html`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

impl Console {
    /// Creates operator `name` with the CLI and signs in as them.
    async fn sign_in(app: &TestApp, name: &str) -> Console {
        let out = run_cli(
            &app.db,
            &["operator", "add", "--username", name],
            Some(&format!("{PASSWORD}\n{PASSWORD}\n")),
        )
        .await;
        assert!(out.success, "operator add: {}", out.stderr);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut console = Console {
            http,
            base: app.address.clone(),
            cookie: String::new(),
            csrf: String::new(),
        };
        let form = console.get("/console/signin").await;
        let mut pairs = vec![
            ("username", name.to_string()),
            ("password", PASSWORD.to_string()),
        ];
        if let Some(csrf) = hidden(&form.body, "csrf") {
            pairs.push(("csrf", csrf));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signed = console.post("/console/signin", &pairs).await;
        assert_eq!(signed.status, 303, "sign-in: {}", signed.body);
        let overview = console.get("/console/").await;
        assert_eq!(overview.status, 200, "{}", overview.body);
        console.csrf = hidden(&overview.body, "csrf").expect("csrf field on the page");
        console
    }

    async fn read(&mut self, res: reqwest::Response) -> Page {
        for set in res.headers().get_all("set-cookie") {
            let set = set.to_str().expect("ascii cookie");
            if set.contains("tessera_console") {
                let pair = set.split(';').next().expect("pair");
                self.cookie = pair.to_string();
            }
        }
        Page {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .map(|l| l.to_str().expect("ascii").to_string()),
            body: res.text().await.expect("body"),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .send()
            .await
            .expect("sent");
        self.read(res).await
    }

    /// POSTs `pairs` (the CSRF token added) from the console's own origin.
    async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Page {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            body.append_pair(k, v);
        }
        if !self.csrf.is_empty() && !pairs.iter().any(|(k, _)| *k == "csrf") {
            body.append_pair("csrf", &self.csrf);
        }
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .header("Origin", &self.base)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.finish())
            .send()
            .await
            .expect("sent");
        self.read(res).await
    }
}

/// How many audit rows record `action` by `actor`.
fn audited(app: &TestApp, actor: &str, action: &str) -> i64 {
    count_sql(
        &app.db,
        &format!(
            "SELECT COUNT(*) AS n FROM audit_log WHERE actor = '{actor}' AND action = '{action}'"
        ),
    )
}

#[tokio::test]
async fn the_overview_shows_tokens_keys_and_stale_credentials() {
    let app = spawn_app().await;
    let mut console = Console::sign_in(&app, "alice").await;
    let page = console.get("/console/").await;
    assert_eq!(page.status, 200);
    let active = app.jwks().await["keys"][0]["kid"]
        .as_str()
        .expect("kid")
        .to_string();
    assert!(
        page.body.contains(&active),
        "active kid shown: {}",
        page.body
    );
    assert!(page.body.contains("<svg"), "the per-minute chart");
    assert!(page.body.contains("unused for 30 days"));
    assert!(page.body.contains("href=\"/console/keys\""));
    assert!(!page.body.contains("1970"), "no zero dates");
}

#[tokio::test]
async fn issuers_are_added_shown_and_deleted_through_the_console_with_the_cli_messages() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::RS256);
    let cluster = TestIssuer::start(published(&[&key], 300)).await;
    add_issuer(&app, "k8s-prod", &cluster, &[]).await;
    let id = federated_client(&app, "k8s-prod", "system:serviceaccount:shop:orders", &[]).await;
    // A token, so this replica has fetched the issuer's keys.
    let token = cluster.mint(
        &key,
        &kubernetes_claims(&cluster.url, ISSUER, "shop", "orders"),
    );
    assert_eq!(
        with_platform_token(&app, &token, JWT_BEARER, None)
            .await
            .status,
        200
    );

    let mut console = Console::sign_in(&app, "alice").await;
    let page = console.get("/console/issuers").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("k8s-prod"));
    assert!(
        page.body.contains(&format!("/console/clients/{id}")),
        "bound client linked"
    );
    assert!(page.body.contains("1 key(s)"), "fetch state: {}", page.body);
    assert!(page.body.contains("this replica"));

    // Bad input: the CLI's message, nothing added.
    let cli_says = cli(
        &app,
        &[
            "issuer",
            "add",
            "--name",
            "bad name",
            "--issuer",
            "https://x.example",
        ],
    )
    .await;
    assert!(!cli_says.success);
    let message = cli_says
        .stderr
        .trim()
        .rsplit("--name: ")
        .next()
        .expect("message")
        .to_string();
    let refused = console
        .post(
            "/console/issuers",
            &[("name", "bad name"), ("issuer", "https://x.example")],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains(&html_escape(&message)),
        "{message:?} in {}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"bad name\""),
        "what was typed is kept"
    );
    assert_eq!(app.count_rows("trusted_issuers"), 1);

    let added = console
        .post(
            "/console/issuers",
            &[
                ("name", "gha"),
                ("issuer", "https://token.actions.githubusercontent.com"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert_eq!(
        cli_ok(&app, &["issuer", "show", "gha"]).await["created_by"],
        "console:alice"
    );
    assert_eq!(audited(&app, "console:alice", "issuer.add"), 1);

    // Delete: the name must be typed; a bound issuer is refused.
    let wrong = console
        .post(
            "/console/issuers/delete",
            &[("name", "gha"), ("confirm", "gh")],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(app.count_rows("trusted_issuers"), 2);
    let bound = console
        .post(
            "/console/issuers/delete",
            &[("name", "k8s-prod"), ("confirm", "k8s-prod")],
        )
        .await;
    assert_eq!(bound.status, 409);
    assert!(bound.body.contains("bound"), "{}", bound.body);
    let gone = console
        .post(
            "/console/issuers/delete",
            &[("name", "gha"), ("confirm", "gha")],
        )
        .await;
    assert_eq!(gone.status, 303);
    assert_eq!(app.count_rows("trusted_issuers"), 1);
    assert_eq!(audited(&app, "console:alice", "issuer.delete"), 1);
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[tokio::test]
async fn explain_shows_the_failing_check_or_the_client_and_uses_nothing_up() {
    let app = federation_app().await;
    let key = TestKey::generate(Algorithm::RS256);
    let cluster = TestIssuer::start(published(&[&key], 300)).await;
    add_issuer(&app, "k8s-prod", &cluster, &[]).await;
    let id = federated_client(&app, "k8s-prod", "system:serviceaccount:shop:orders", &[]).await;
    let mut console = Console::sign_in(&app, "alice").await;

    let form = console.get("/console/explain").await;
    assert!(form.body.contains("<label for=\"explain-token\""));

    let good = cluster.mint(
        &key,
        &kubernetes_claims(&cluster.url, ISSUER, "shop", "orders"),
    );
    let page = console.post("/console/explain", &[("token", &good)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!(
            "authenticate client <a href=\"/console/clients/{id}\">{id}</a>"
        )),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&good), "the token is not echoed");
    // Not used up: the token endpoint still takes it.
    assert_eq!(
        with_platform_token(&app, &good, JWT_BEARER, None)
            .await
            .status,
        200
    );

    let mut wrong_audience =
        kubernetes_claims(&cluster.url, "https://elsewhere.example", "shop", "orders");
    wrong_audience["sub"] = "system:serviceaccount:shop:orders".into();
    let bad = cluster.mint(&key, &wrong_audience);
    let page = console.post("/console/explain", &[("token", &bad)]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("FAIL"), "{}", page.body);
    assert!(page.body.contains("would be refused"));

    let huge = "a".repeat(40 * 1024);
    let page = console.post("/console/explain", &[("token", &huge)]).await;
    assert!(page.status == 413, "{} {}", page.status, page.body);
    assert!(page.body.contains("larger than"), "{}", page.body);
    assert_eq!(app.count_rows("used_jtis"), 0, "nothing written");
}

#[tokio::test]
async fn users_are_searched_disabled_and_given_a_password_with_the_cli_rules() {
    let app = spawn_app().await;
    let client = app.create_app_client(&[]).await;
    app.create_user("bob", "bob password 1").await;
    app.create_user("<script>alert(1)</script>", "hostile password")
        .await;
    app.create_user("zoë", "unicode password").await;
    let mut console = Console::sign_in(&app, "alice").await;

    let page = console.get("/console/users?q=zo%C3%AB").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("zoë"));
    assert!(!page.body.contains(">bob<"), "search narrows");
    assert!(page.body.contains("argon2id"), "the scheme, never the hash");
    assert!(!page.body.contains("$argon2id$"));
    let all = console.get("/console/users").await;
    assert!(!all.body.contains("<script>alert(1)"), "escaped");
    assert!(
        all.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{}",
        all.body
    );
    let literal = console.get("/console/users?q=%25").await;
    assert!(
        literal.body.contains("0 user(s)"),
        "% is literal: {}",
        literal.body
    );

    // A login keeps a session; ending sessions revokes its refresh token.
    let login = app.login(&client, "bob", "bob password 1").await;
    assert_eq!(login.status, 200);
    let ended = console
        .post("/console/users/sessions", &[("username", "bob")])
        .await;
    assert_eq!(ended.status, 303);
    let refreshed = app.refresh(&client, login.refresh_token(), &[]).await;
    assert_eq!(refreshed.status, 400, "{}", refreshed.body);
    assert_eq!(audited(&app, "console:alice", "user.end_sessions"), 1);

    // Disabled: the password grant refuses them.
    let off = console
        .post(
            "/console/users/disabled",
            &[("username", "bob"), ("disabled", "true")],
        )
        .await;
    assert_eq!(off.status, 303);
    assert_eq!(
        off.location.as_deref(),
        Some("/console/users?q=bob"),
        "back to the list, showing the user"
    );
    assert_eq!(
        app.login(&client, "bob", "bob password 1").await.status,
        400
    );
    assert_eq!(audited(&app, "console:alice", "user.disable"), 1);
    let on = console
        .post(
            "/console/users/disabled",
            &[("username", "bob"), ("disabled", "false")],
        )
        .await;
    assert_eq!(on.status, 303);
    assert_eq!(
        app.login(&client, "bob", "bob password 1").await.status,
        200
    );

    // The CLI's password rules: too short is refused with its message, nothing changes.
    let short = console
        .post(
            "/console/users/password",
            &[
                ("username", "bob"),
                ("password", "short"),
                ("repeat", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, 400);
    assert!(short.body.contains("at least 8"), "{}", short.body);
    let mismatch = console
        .post(
            "/console/users/password",
            &[
                ("username", "bob"),
                ("password", "a long password"),
                ("repeat", "a long passwore"),
            ],
        )
        .await;
    assert!(mismatch.body.contains("the passwords do not match"));
    assert_eq!(
        app.login(&client, "bob", "bob password 1").await.status,
        200
    );
    let set = console
        .post(
            "/console/users/password",
            &[
                ("username", "bob"),
                ("password", "a new long password"),
                ("repeat", "a new long password"),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);
    assert_eq!(
        app.login(&client, "bob", "bob password 1").await.status,
        400
    );
    assert_eq!(
        app.login(&client, "bob", "a new long password")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn rotate_now_publishes_the_new_key_and_the_timeline_shows_it() {
    let app = spawn_app().await;
    let before: Vec<String> = kids(&app.jwks().await);
    let mut console = Console::sign_in(&app, "alice").await;
    let page = console.get("/console/keys").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&before[0]));
    assert!(page.body.contains("<svg"));

    let rotated = console.post("/console/keys/rotate", &[]).await;
    assert_eq!(rotated.status, 303, "{}", rotated.body);
    let after = kids(&app.jwks().await);
    assert_eq!(
        after.len(),
        before.len() + 1,
        "the new key is published at once: {after:?}"
    );
    assert_eq!(audited(&app, "console:alice", "key.rotate"), 1);

    // A pending key: refused in words, unless replaced.
    let again = console.post("/console/keys/rotate", &[]).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("is pending"), "{}", again.body);
    let replaced = console
        .post("/console/keys/rotate", &[("replace_pending", "on")])
        .await;
    assert_eq!(replaced.status, 303);
}

fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

#[tokio::test]
async fn the_audit_log_finds_console_actions_by_actor_action_and_client() {
    let app = spawn_app().await;
    app.create_user("carol", "carol password").await;
    let mut console = Console::sign_in(&app, "ÆØÅ-operator").await;
    let done = console
        .post(
            "/console/users/disabled",
            &[("username", "carol"), ("disabled", "true")],
        )
        .await;
    assert_eq!(done.status, 303);
    let page = console
        .get("/console/audit?actor=console%3A%C3%86%C3%98%C3%85-operator&action=user.disable")
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("user.disable"));
    assert!(page.body.contains("console:ÆØÅ-operator"));
    assert!(page.body.contains("carol"));
    let none = console.get("/console/audit?action=user.delete").await;
    assert!(none.body.contains("No event matches"), "{}", none.body);
    let wildcard = console.get("/console/audit?action=%25").await;
    assert!(wildcard.body.contains("No event matches"), "% is literal");
}
