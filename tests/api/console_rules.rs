//! The admin console's rules, over real HTTP: sessions, CSRF and origin checks, the
//! headers of every page, the setup link, sign-in throttling, and the operator CLI.

use crate::helpers::{form, run_cli, spawn_app, spawn_app_with, TestApp};
use reqwest::header::HeaderMap;

const PASSWORD: &str = "correct horse battery";

/// An answer with its body as text.
struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The session cookie this answer sets (`name=value`), if any.
    fn cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("tessera_console=") && !c.contains("Max-Age=0"))
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
    }

    /// The value of the page's hidden `csrf` field.
    fn csrf(&self) -> String {
        let (_, rest) = self
            .body
            .split_once("name=\"csrf\" value=\"")
            .expect("a csrf field");
        rest.split('"').next().expect("value").to_string()
    }
}

async fn page(res: reqwest::Response) -> Page {
    Page {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.text().await.expect("body"),
    }
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut req = app.http.get(format!("{}{path}", app.address));
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    page(req.send().await.expect("sent")).await
}

/// A form POST from the console's own origin (`origin` overrides; `None` sends none).
async fn post(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    pairs: &[(&str, &str)],
    origin: Option<&str>,
) -> Page {
    let mut req = app
        .http
        .post(format!("{}{path}", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(pairs));
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    page(req.send().await.expect("sent")).await
}

async fn add_operator(app: &TestApp, name: &str) {
    let out = run_cli(
        &app.db,
        &["operator", "add", "--username", name],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    assert!(out.success, "operator add failed: {}", out.stderr);
}

async fn sign_in_as(app: &TestApp, name: &str, password: &str) -> Page {
    post(
        app,
        "/console/signin",
        None,
        &[("username", name), ("password", password)],
        Some(&app.address),
    )
    .await
}

/// Signs `name` in; returns the cookie and the CSRF token of the overview.
async fn signed_in(app: &TestApp, name: &str) -> (String, String) {
    let res = sign_in_as(app, name, PASSWORD).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let cookie = res.cookie().expect("a session cookie");
    let overview = get(app, "/console/", Some(&cookie)).await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    (cookie, overview.csrf())
}

fn assert_console_headers(p: &Page, what: &str) {
    let csp = p.header("content-security-policy");
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "{what}: CSP {csp:?}"
    );
    assert!(csp.contains("script-src 'self'"), "{what}: CSP {csp:?}");
    assert!(!csp.contains("unsafe-inline"), "{what}: CSP {csp:?}");
    assert_eq!(p.header("cache-control"), "no-store", "{what}");
    assert_eq!(p.header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(p.header("x-frame-options"), "DENY", "{what}");
}

#[tokio::test]
async fn an_operator_with_a_non_ascii_name_signs_in_and_every_page_has_the_headers() {
    let app = spawn_app().await;
    let name = "Zoë 管理者";
    add_operator(&app, name).await;
    let res = sign_in_as(&app, name, PASSWORD).await;
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.header("location"), "/console/");
    let set = res.header("set-cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "cookie {set:?} lacks {attr}");
    }
    let cookie = res.cookie().expect("cookie");
    let overview = get(&app, "/console/", Some(&cookie)).await;
    assert_eq!(overview.status, 200);
    assert!(overview.body.contains(name), "the name as typed is shown");
    assert!(
        overview.body.contains("id=\"active-kid\""),
        "the key in use"
    );
    assert!(!overview.body.contains("<script"), "no inline script");
    assert!(!overview.body.contains("style=\""), "no inline style");
    // The name is kept as typed: another case is another (unknown) name.
    let other_case = sign_in_as(&app, "zoë 管理者", PASSWORD).await;
    assert_eq!(other_case.status, 401);

    for (path, cookie) in [
        ("/console/", Some(cookie.as_str())),
        ("/console/", None),
        ("/console/signin", None),
        ("/console/assets/console.css", None),
        ("/console/setup?code=nothing", None),
        ("/console/no-such-page", Some(cookie.as_str())),
    ] {
        let p = get(&app, path, cookie).await;
        assert_console_headers(&p, path);
    }
    assert_console_headers(&res, "sign-in answer");
    let css = get(&app, "/console/assets/console.css", None).await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.body.contains(":focus-visible"));
}

#[tokio::test]
async fn a_post_without_the_csrf_token_or_from_another_site_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    add_operator(&app, "ops").await;
    let (cookie, csrf) = signed_in(&app, "ops").await;
    let origin = app.address.clone();
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, &'a str);
    let refused: [Case; 5] = [
        (&[], Some(&origin), "no csrf field"),
        (&[("csrf", "wrong")], Some(&origin), "a wrong csrf token"),
        (&[("csrf", "")], Some(&origin), "an empty csrf token"),
        (
            &[("csrf", &csrf)],
            Some("https://evil.example"),
            "another site's Origin",
        ),
        (&[("csrf", &csrf)], None, "neither Origin nor Referer"),
    ];
    for (pairs, origin, what) in refused {
        let res = post(&app, "/console/signout", Some(&cookie), pairs, origin).await;
        assert_eq!(res.status, 403, "{what}");
        assert_console_headers(&res, what);
        let still = get(&app, "/console/", Some(&cookie)).await;
        assert_eq!(still.status, 200, "after {what} the session still stands");
    }
    // A cross-site `null` origin, and a sign-in form posted from another site.
    let null = post(
        &app,
        "/console/signout",
        Some(&cookie),
        &[("csrf", &csrf)],
        Some("null"),
    )
    .await;
    assert_eq!(null.status, 403);
    // A cross-site page hiding its origin (its own `no-referrer`): the browser says so.
    let hidden = app
        .http
        .post(format!("{}/console/signout", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Cookie", &cookie)
        .header("Origin", "null")
        .header("Sec-Fetch-Site", "cross-site")
        .body(form(&[("csrf", &csrf)]))
        .send()
        .await
        .expect("sent");
    assert_eq!(hidden.status(), 403);
    let cross = post(
        &app,
        "/console/signin",
        None,
        &[("username", "ops"), ("password", PASSWORD)],
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(cross.status, 403);
    assert!(cross.cookie().is_none());
    // A GET never changes state: the sign-out path does not answer it.
    let get_out = get(&app, "/console/signout", Some(&cookie)).await;
    assert_ne!(get_out.status, 200);
    assert_eq!(get(&app, "/console/", Some(&cookie)).await.status, 200);

    // The same form done right ends the session.
    let out = post(
        &app,
        "/console/signout",
        Some(&cookie),
        &[("csrf", &csrf)],
        Some(&origin),
    )
    .await;
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    let gone = get(&app, "/console/", Some(&cookie)).await;
    assert_eq!(gone.status, 303);
    // A Referer of the console's origin stands in for a missing Origin.
    let (cookie, csrf) = signed_in(&app, "ops").await;
    let res = app
        .http
        .post(format!("{}/console/signout", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Cookie", &cookie)
        .header("Referer", format!("{}/console/", app.address))
        .body(form(&[("csrf", &csrf)]))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status().as_u16(), 303);
    let audit = app.cli(&["audit", "--limit", "20"]).await;
    assert!(audit.stdout.contains("console:ops"), "{}", audit.stdout);
    assert!(audit.stdout.contains("console.sign_out"));
    assert!(!audit.stdout.contains(PASSWORD));
}

#[tokio::test]
async fn a_session_past_its_idle_timeout_is_gone() {
    let app = spawn_app_with(|c| c.console.console_idle_timeout = Some(1)).await;
    add_operator(&app, "ops").await;
    let (cookie, _) = signed_in(&app, "ops").await;
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    let res = get(&app, "/console/", Some(&cookie)).await;
    assert_eq!(res.status, 303, "idle too long: back to the sign-in page");
    assert!(res.header("location").starts_with("/console/signin?next="));
    let again = get(&app, "/console/", Some(&cookie)).await;
    assert_eq!(again.status, 303, "and it stays gone");
}

#[tokio::test]
async fn disabling_an_operator_or_changing_its_password_ends_its_sessions() {
    let app = spawn_app().await;
    add_operator(&app, "ops").await;
    let (cookie, _) = signed_in(&app, "ops").await;
    let out = app.cli(&["operator", "disable", "ops"]).await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(get(&app, "/console/", Some(&cookie)).await.status, 303);
    let refused = sign_in_as(&app, "ops", PASSWORD).await;
    assert_eq!(refused.status, 401, "a disabled operator cannot sign in");
    assert!(app.cli(&["operator", "enable", "ops"]).await.success);

    let (cookie, _) = signed_in(&app, "ops").await;
    let out = run_cli(
        &app.db,
        &["operator", "set-password", "ops"],
        Some("another long password\n"),
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(get(&app, "/console/", Some(&cookie)).await.status, 303);
    assert_eq!(sign_in_as(&app, "ops", PASSWORD).await.status, 401);
    assert_eq!(
        sign_in_as(&app, "ops", "another long password")
            .await
            .status,
        303
    );
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_and_parallel_ones_do_not_pass_the_limit() {
    let app = spawn_app_with(|c| c.logins.login_max_failures = Some(3)).await;
    add_operator(&app, "ops").await;
    // An unknown name gets the same answer as a wrong password.
    let unknown = sign_in_as(&app, "nobody", "wrong password").await;
    let wrong = sign_in_as(&app, "ops", "wrong password").await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    assert_eq!(
        unknown.body.replace("nobody", "ops"),
        wrong.body,
        "one answer whether the name exists"
    );
    let attempts = (0..8).map(|_| sign_in_as(&app, "ops", "wrong password"));
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|p| p.status)
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(
        checked, 2,
        "only the limit's remaining attempts are checked: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let right = sign_in_as(&app, "ops", PASSWORD).await;
    assert_eq!(right.status, 429, "locked, even with the right password");
    assert!(right.header("retry-after").parse::<u64>().is_ok());
    assert!(right.cookie().is_none());
}

#[tokio::test]
async fn with_console_off_the_console_is_404() {
    let app = spawn_app_with(|c| c.console.console = Some(false)).await;
    assert!(app.console_setup_link.is_none());
    for path in [
        "/console/",
        "/console/signin",
        "/console/assets/console.css",
    ] {
        assert_eq!(get(&app, path, None).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn the_setup_link_creates_the_first_operator_once() {
    let app = spawn_app().await;
    let link = app.console_setup_link.clone().expect("a setup link");
    let (_, code) = link.split_once("?code=").expect("code");
    assert!(link.starts_with(&format!("{}/console/setup?code=", app.address)));
    let path = format!("/console/setup?code={code}");
    // Showing the form (a GET, twice) uses nothing up.
    for _ in 0..2 {
        let form_page = get(&app, &path, None).await;
        assert_eq!(form_page.status, 200);
        assert!(form_page.body.contains("name=\"confirm\""));
    }
    let wrong = get(&app, "/console/setup?code=wrong", None).await;
    assert_eq!(wrong.status, 410);
    let setup = |code: String, name: &'static str, confirm: &'static str| {
        let app = &app;
        async move {
            post(
                app,
                "/console/setup",
                None,
                &[
                    ("code", &code),
                    ("username", name),
                    ("password", PASSWORD),
                    ("confirm", confirm),
                ],
                Some(&app.address),
            )
            .await
        }
    };
    let bad_code = setup("wrong".into(), "Ana", PASSWORD).await;
    assert_eq!(bad_code.status, 410);
    let mismatch = setup(code.to_string(), "Ana", "something else").await;
    assert_eq!(mismatch.status, 400);
    assert!(mismatch.body.contains("do not match"));
    let listed = app.cli(&["operator", "list"]).await;
    assert_eq!(listed.json(), serde_json::json!([]), "nothing created yet");

    let made = setup(code.to_string(), "Ana", PASSWORD).await;
    assert_eq!(made.status, 303, "{}", made.body);
    assert_eq!(made.header("location"), "/console/");
    let cookie = made.cookie().expect("signed in");
    let overview = get(&app, "/console/", Some(&cookie)).await;
    assert_eq!(overview.status, 200);
    assert!(overview.body.contains("Ana"));

    let reused = setup(code.to_string(), "Eve", PASSWORD).await;
    assert_eq!(
        reused.status, 403,
        "an operator exists: the setup page refuses"
    );
    assert_eq!(get(&app, &path, None).await.status, 403);
    let listed = app.cli(&["operator", "list"]).await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["username"], "Ana");
    let audit = app.cli(&["audit", "--limit", "20"]).await;
    assert!(audit.stdout.contains("console:Ana"));
}

#[tokio::test]
async fn after_sign_in_only_a_console_path_is_followed() {
    let app = spawn_app().await;
    add_operator(&app, "ops").await;
    let res = get(&app, "/console/?x=1", None).await;
    assert_eq!(res.status, 303);
    assert_eq!(
        res.header("location"),
        "/console/signin?next=%2Fconsole%2F%3Fx%3D1"
    );
    for (next, expected) in [
        ("/console/clients?q=a", "/console/clients?q=a"),
        ("//evil.example/", "/console/"),
        ("/\\evil.example", "/console/"),
        ("https://evil.example/console/", "/console/"),
        ("/console//evil.example", "/console/"),
    ] {
        let res = post(
            &app,
            "/console/signin",
            None,
            &[("username", "ops"), ("password", PASSWORD), ("next", next)],
            Some(&app.address),
        )
        .await;
        assert_eq!(res.status, 303);
        assert_eq!(res.header("location"), expected, "next={next:?}");
    }
    let shown = get(&app, "/console/signin?next=//evil.example", None).await;
    assert!(!shown.body.contains("evil.example"));
}

#[tokio::test]
async fn operator_commands_manage_console_accounts_apart_from_users() {
    let app = spawn_app().await;
    add_operator(&app, "Ops Lead").await;
    let dup = run_cli(
        &app.db,
        &["operator", "add", "--username", "Ops Lead"],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    assert!(!dup.success);
    assert!(dup.stderr.contains("--username"), "{}", dup.stderr);
    let bad = run_cli(
        &app.db,
        &["operator", "add", "--username", " padded"],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    assert!(!bad.success);
    assert_eq!(bad.stderr.trim().lines().count(), 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("--username"), "{}", bad.stderr);
    let short = run_cli(
        &app.db,
        &["operator", "add", "--username", "x"],
        Some("short\n"),
    )
    .await;
    assert!(!short.success);

    let list = app.cli(&["operator", "list"]).await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["username"], "Ops Lead");
    assert!(list[0].get("password_hash").is_none());
    // Operators are not users of the password grant.
    let users = app.cli(&["user", "list"]).await.json();
    assert_eq!(users, serde_json::json!([]));

    let disabled = app.cli(&["operator", "disable", "Ops Lead"]).await;
    assert_eq!(disabled.json()["disabled"], true);
    let missing = app.cli(&["operator", "disable", "nobody"]).await;
    assert!(!missing.success);
    assert!(missing.stderr.contains("nobody"), "{}", missing.stderr);
    let removed = app.cli(&["operator", "remove", "Ops Lead"]).await;
    assert!(removed.success, "{}", removed.stderr);
    assert_eq!(
        app.cli(&["operator", "list"]).await.json(),
        serde_json::json!([])
    );
    let audit = app.cli(&["audit", "--limit", "20"]).await.stdout;
    for action in ["operator.create", "operator.disable", "operator.delete"] {
        assert!(audit.contains(action), "{action} audited");
    }
}
