//! The console's clients pages, over HTTP as a browser would use them: an operator made
//! with the CLI signs in, reads each form's CSRF token from the page, and works on
//! clients; what it does is checked where it matters (the token endpoint, the rows).

use crate::helpers::{count_sql, exec_sql, run_cli, spawn_app, TestApp, TestDb};
use std::time::{Duration, Instant};

const PASSWORD: &str = "console test password 42";

/// A signed-in operator's browser: the session cookie, sent by hand.
struct Console<'a> {
    app: &'a TestApp,
    cookie: String,
}

/// What a page answered.
struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Page {
    /// The value of the hidden `csrf` field of the page's forms.
    fn csrf(&self) -> String {
        attr_after(&self.body, "name=\"csrf\"", "value").expect("a csrf field on the page")
    }

    /// The text between `start` and the next `end` after it.
    fn between(&self, start: &str, end: &str) -> Option<String> {
        let from = self.body.find(start)? + start.len();
        let rest = &self.body[from..];
        Some(rest[..rest.find(end)?].to_string())
    }
}

/// The value of attribute `name` in the tag holding `marker`.
fn attr_after(body: &str, marker: &str, name: &str) -> Option<String> {
    let at = body.find(marker)?;
    let tag_start = body[..at].rfind('<')?;
    let tag_end = at + body[at..].find('>')?;
    let tag = &body[tag_start..tag_end];
    let key = format!("{name}=\"");
    let v = tag.find(&key)? + key.len();
    Some(tag[v..v + tag[v..].find('"')?].to_string())
}

/// An attribute's text as a browser reads it (the entities askama writes).
fn unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// Adds an operator with the CLI.
async fn add_operator(db: &TestDb, name: &str) {
    let out = run_cli(
        db,
        &["operator", "add", "--username", name],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    assert!(out.success, "operator add: {}", out.stderr);
}

impl<'a> Console<'a> {
    /// Adds operator `name` and signs in as them.
    async fn sign_in(app: &'a TestApp, name: &str) -> Console<'a> {
        add_operator(&app.db, name).await;
        let res = app
            .http
            .post(format!("{}/console/signin", app.address))
            .header("Origin", &app.address)
            .form(&[
                ("username", name),
                ("password", PASSWORD),
                ("next", "/console/"),
            ])
            .send()
            .await
            .expect("sign in");
        assert_eq!(res.status().as_u16(), 303, "sign-in answered");
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.contains("tessera_console="))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_string();
        Console { app, cookie }
    }

    async fn page(res: reqwest::Response) -> Page {
        Page {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: res.text().await.expect("body"),
        }
    }

    async fn get(&self, path: &str) -> Page {
        let res = self
            .app
            .http
            .get(format!("{}{path}", self.app.address))
            .header("Cookie", &self.cookie)
            .send()
            .await
            .expect("GET");
        Self::page(res).await
    }

    /// POSTs `pairs` with the CSRF token of the page at `from`.
    async fn post(&self, from: &str, path: &str, pairs: &[(&str, &str)]) -> Page {
        let csrf = self.get(from).await.csrf();
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(pairs);
        let res = self
            .app
            .http
            .post(format!("{}{path}", self.app.address))
            .header("Cookie", &self.cookie)
            .header("Origin", &self.app.address)
            .form(&form)
            .send()
            .await
            .expect("POST");
        Self::page(res).await
    }

    /// Creates a client through the new-client form; the answer page.
    async fn create(&self, pairs: &[(&str, &str)]) -> Page {
        self.post("/console/clients/new", "/console/clients/new", pairs)
            .await
    }
}

/// The client id and secret shown once on a created/rotated page.
fn shown_secret(p: &Page) -> (String, String) {
    assert_eq!(p.status, 200, "{}", p.body);
    let id = p
        .between("<code id=\"client-id\">", "</code>")
        .expect("client id shown");
    let secret = attr_after(&p.body, "id=\"client-secret\"", "value").expect("secret shown");
    (id, secret)
}

async fn token_status(app: &TestApp, id: &str, secret: &str) -> u16 {
    app.post_token(
        "grant_type=client_credentials".to_string(),
        Some((id, secret)),
        "application/x-www-form-urlencoded",
    )
    .await
    .status
}

#[tokio::test]
async fn a_client_created_in_the_console_gets_tokens_with_the_secret_shown_once() {
    let app = spawn_app().await;
    let console = Console::sign_in(&app, "alice").await;
    let before = app.count_rows("clients");
    let page = console
        .create(&[("name", "billing"), ("scope", "read write")])
        .await;
    let (id, secret) = shown_secret(&page);
    assert!(page.body.contains("shown once"), "{}", page.body);
    assert_eq!(app.count_rows("clients"), before + 1);
    assert_eq!(token_status(&app, &id, &secret).await, 200);
    // The secret is never shown again.
    let detail = console.get(&format!("/console/clients/{id}")).await;
    assert_eq!(detail.status, 200);
    assert!(!detail.body.contains(&secret));
    // Audited as the operator.
    let audited = count_sql(
        &app.db,
        &format!(
            "SELECT COUNT(*) AS n FROM audit_log WHERE actor = 'console:alice' \
             AND action = 'client.create' AND target = '{id}'"
        ),
    );
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn invalid_input_shows_the_clis_message_next_to_the_field_and_creates_nothing() {
    let app = spawn_app().await;
    let console = Console::sign_in(&app, "alice").await;
    let cli = app
        .cli(&[
            "client",
            "create",
            "--name",
            "x",
            "--access-token-ttl",
            "999999999",
        ])
        .await;
    assert!(!cli.success);
    let message = cli
        .stderr
        .trim()
        .rsplit("--access-token-ttl: ")
        .next()
        .expect("the CLI names the flag")
        .to_string();
    let before = app.count_rows("clients");
    let page = console
        .create(&[
            ("name", "typed name ü"),
            ("scope", "read"),
            ("access_token_ttl", "999999999"),
        ])
        .await;
    assert_eq!(page.status, 400);
    let shown = page
        .between("id=\"error-access_token_ttl\">", "</span>")
        .expect("an error next to the lifetime field");
    assert_eq!(shown, message, "one validator, one message");
    // The form keeps what was typed.
    assert!(
        page.body.contains("value=\"typed name ü\""),
        "{}",
        page.body
    );
    assert_eq!(app.count_rows("clients"), before);
}

#[tokio::test]
async fn rotate_with_overlap_keeps_both_secrets_until_disable_stops_the_client() {
    let app = spawn_app().await;
    let console = Console::sign_in(&app, "alice").await;
    let (id, old) = shown_secret(&console.create(&[("name", "rotating")]).await);
    let path = format!("/console/clients/{id}");
    let page = console
        .post(&path, &format!("{path}/rotate"), &[("keep_old", "3600")])
        .await;
    let (same, new) = shown_secret(&page);
    assert_eq!(same, id);
    assert_ne!(new, old);
    assert!(page.body.contains("previous secret keeps working"));
    assert_eq!(
        token_status(&app, &id, &old).await,
        200,
        "old secret, overlap"
    );
    assert_eq!(token_status(&app, &id, &new).await, 200, "new secret");
    let detail = console.get(&path).await;
    assert!(
        detail.body.contains("previous (overlap)"),
        "{}",
        detail.body
    );

    let page = console.post(&path, &format!("{path}/disable"), &[]).await;
    assert_eq!(page.status, 303);
    assert_eq!(token_status(&app, &id, &new).await, 401);
    assert_eq!(token_status(&app, &id, &old).await, 401);
    assert!(console.get(&path).await.body.contains(">Disabled<"));
    let page = console.post(&path, &format!("{path}/enable"), &[]).await;
    assert_eq!(page.status, 303);
    assert_eq!(token_status(&app, &id, &new).await, 200);
    for action in ["client.rotate_secret", "client.disable", "client.enable"] {
        let n = count_sql(
            &app.db,
            &format!(
                "SELECT COUNT(*) AS n FROM audit_log WHERE actor = 'console:alice' \
                 AND action = '{action}'"
            ),
        );
        assert_eq!(n, 1, "{action} audited as the operator");
    }
}

#[tokio::test]
async fn an_overlap_beyond_the_rule_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let console = Console::sign_in(&app, "alice").await;
    let (id, secret) = shown_secret(&console.create(&[("name", "steady")]).await);
    let path = format!("/console/clients/{id}");
    let page = console
        .post(
            &path,
            &format!("{path}/rotate"),
            &[("keep_old", "99999999")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("id=\"error-keep_old\""), "{}", page.body);
    assert_eq!(token_status(&app, &id, &secret).await, 200);
}

#[tokio::test]
async fn delete_needs_the_clients_name_or_id_typed_again() {
    let app = spawn_app().await;
    let console = Console::sign_in(&app, "alice").await;
    let (id, _) = shown_secret(&console.create(&[("name", "doomed")]).await);
    let path = format!("/console/clients/{id}");
    let before = app.count_rows("clients");
    let page = console
        .post(&path, &format!("{path}/delete"), &[("confirm", "doome")])
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("id=\"error-confirm\""));
    assert_eq!(app.count_rows("clients"), before, "nothing deleted");
    let page = console
        .post(&path, &format!("{path}/delete"), &[("confirm", "doomed")])
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("/console/clients"));
    assert_eq!(app.count_rows("clients"), before - 1);
    assert_eq!(console.get(&path).await.status, 404);
}

#[tokio::test]
async fn revoking_a_clients_refresh_tokens_ends_its_users_sessions() {
    let app = spawn_app().await;
    let console = Console::sign_in(&app, "alice").await;
    let client = app.create_app_client(&[]).await;
    app.create_user("bob", "bob password 1234").await;
    let login = app.login(&client, "bob", "bob password 1234").await;
    assert_eq!(login.status, 200, "{}", login.body);
    let path = format!("/console/clients/{}", client.id);
    let page = console
        .post(&path, &format!("{path}/revoke-sessions"), &[])
        .await;
    assert_eq!(page.status, 303);
    let refreshed = app.refresh(&client, login.refresh_token(), &[]).await;
    assert_eq!(refreshed.status, 400, "{}", refreshed.body);
    let n = count_sql(
        &app.db,
        "SELECT COUNT(*) AS n FROM audit_log WHERE actor = 'console:alice' \
         AND action = 'client.revoke_sessions'",
    );
    assert_eq!(n, 1);
}

#[tokio::test]
async fn edits_go_through_the_one_validator_and_apply_managed_clients_say_so() {
    let app = spawn_app().await;
    let console = Console::sign_in(&app, "alice").await;
    let (id, _) = shown_secret(&console.create(&[("name", "managed")]).await);
    let path = format!("/console/clients/{id}");
    // Not managed: no mark.
    assert!(!console
        .get(&path)
        .await
        .body
        .contains("id=\"managed-mark\""));
    exec_sql(
        &app.db,
        &format!("UPDATE clients SET managed_by = 'apply' WHERE client_id = '{id}'"),
    );
    let page = console.get(&path).await;
    assert!(page.body.contains("id=\"managed-mark\""), "{}", page.body);
    assert!(page.body.contains("the next apply will change"));
    let list = console.get("/console/clients").await;
    assert!(list.body.contains("Managed by apply"));
    let managed = console.get("/console/clients?state=managed").await;
    assert!(managed.body.contains(&id));

    // An edit saves what is valid...
    let page = console
        .post(
            &path,
            &format!("{path}/edit"),
            &[
                ("name", "managed"),
                ("scope", "read"),
                ("grant_types", "client_credentials"),
                ("audiences", "https://api.example"),
                ("access_token_ttl", "600"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let shown = app.cli(&["client", "show", &id]).await.json();
    assert_eq!(shown["scope"], "read");
    assert_eq!(shown["access_token_ttl"], 600);
    // ...and refuses what is not, as the CLI does, changing nothing.
    let page = console
        .post(
            &path,
            &format!("{path}/edit"),
            &[
                ("name", "managed"),
                ("grant_types", "client_credentials"),
                ("access_token_ttl", "999999999"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("id=\"error-access_token_ttl\""));
    let shown = app.cli(&["client", "show", &id]).await.json();
    assert_eq!(shown["access_token_ttl"], 600);
}

#[tokio::test]
async fn hostile_and_non_ascii_names_are_shown_escaped_and_whole() {
    let app = spawn_app().await;
    let console = Console::sign_in(&app, "alice").await;
    let (hostile, _) = shown_secret(
        &console
            .create(&[("name", "<script>alert(1)</script>")])
            .await,
    );
    let (unicode, _) = shown_secret(&console.create(&[("name", "Größe – 計算 ✓")]).await);
    for path in [
        "/console/clients".to_string(),
        format!("/console/clients/{hostile}"),
        "/console/clients?q=%3Cscript%3E".to_string(),
    ] {
        let page = console.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains("<script>alert"), "{path}: unescaped");
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                || page.body.contains("&#60;script&#62;"),
            "{path}"
        );
    }
    let page = console.get(&format!("/console/clients/{unicode}")).await;
    assert!(page.body.contains("Größe – 計算 ✓"));
    let found = console.get("/console/clients?q=%E8%A8%88%E7%AE%97").await;
    assert!(found.body.contains(&unicode), "non-ASCII search");
}

/// Inserts `n` clients straight into the database: ids `seed-00001`…, names
/// `service 00001`…, every seventh disabled, every tenth named for billing.
fn seed_clients(db: &TestDb, n: u32) {
    let now = chrono::Utc::now().timestamp();
    let sql = format!(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {n}) \
         INSERT INTO clients (client_id, name, secret_hash, auth_method, scope, grant_types, \
           audiences, disabled, created_at, updated_at) \
         SELECT 'seed-' || substr('0000' || i, -5, 5), \
                CASE WHEN i % 10 = 0 THEN 'billing ' ELSE 'service ' END || substr('0000' || i, -5, 5), \
                'x', 'client_secret_basic', 'read', 'client_credentials', '', \
                (i % 7 = 0), {now} - i, {now} - i FROM seq"
    );
    // PostgreSQL has no negative substr start: pad with lpad there.
    let sql = match db {
        TestDb::Sqlite { .. } => sql,
        TestDb::Postgres { .. } => {
            sql.replace("substr('0000' || i, -5, 5)", "lpad(i::text, 5, '0')")
        }
    };
    exec_sql(db, &sql);
}

#[tokio::test]
async fn search_filter_sort_and_paging_follow_the_query_string() {
    let app = spawn_app().await;
    let console = Console::sign_in(&app, "alice").await;
    seed_clients(&app.db, 120);
    let page = console.get("/console/clients?q=BILLING&per_page=5").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Clients 1–5 of 12"), "{}", page.body);
    assert!(!page.body.contains("service 0"));
    let next = attr_after(&page.body, "rel=\"next\"", "href").expect("a next page");
    let next = unescape(&next);
    let page2 = console.get(&next).await;
    assert!(
        page2.body.contains("Clients 6–10 of 12"),
        "{next}: {:?}",
        page2.between("<p id=\"clients-count\">", "</p>")
    );

    // `%` and `_` are literal.
    let none = console.get("/console/clients?q=%25").await;
    assert!(none.body.contains("No clients match"));

    let desc = console
        .get("/console/clients?q=seed-&sort=id&dir=desc&per_page=3")
        .await;
    let first = desc.body.find("seed-00120").expect("last id first");
    let second = desc.body.find("seed-00119").expect("then the one before");
    assert!(first < second);

    let disabled = console
        .get("/console/clients?state=disabled&per_page=200")
        .await;
    assert!(disabled.body.contains("of 17"), "{}", disabled.body);
    assert!(!disabled.body.contains("seed-00001<"));

    let bad = console.get("/console/clients?sort=nonsense").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("no such sort"));
}

#[tokio::test]
async fn the_clients_page_answers_fast_with_ten_thousand_clients() {
    let app = spawn_app().await;
    let console = Console::sign_in(&app, "alice").await;
    seed_clients(&app.db, 10_000);
    for (label, path) in [
        ("first page", "/console/clients"),
        ("search", "/console/clients?q=billing%2000&sort=name"),
        (
            "by last use",
            "/console/clients?sort=last_used&dir=desc&page=40",
        ),
        ("by tokens", "/console/clients?sort=tokens_24h&dir=desc"),
    ] {
        let mut took = Vec::new();
        for _ in 0..21 {
            let start = Instant::now();
            let page = console.get(path).await;
            took.push(start.elapsed());
            assert_eq!(page.status, 200, "{path}");
        }
        took.sort();
        let p50 = took[took.len() / 2];
        println!(
            "GET {path} with 10,000 clients ({label}): p50 {:.1} ms",
            p50.as_secs_f64() * 1000.0
        );
        // Debug build, shared machine: generous; the bench measures release.
        assert!(p50 < Duration::from_millis(1000), "{label}: p50 {p50:?}");
    }
    let page = console.get("/console/clients").await;
    let all = app.count_rows("clients");
    assert!(all > 10_000);
    assert!(
        page.body.contains(&format!("of {all}<")),
        "every client counted: {:?}",
        page.between("<p id=\"clients-count\">", "</p>")
    );
}
