//! No secret in any response, log line or span: a real `tessera serve` process (its
//! stderr is the log, at `trace` for every crate) exporting spans to an
//! OTLP receiver, with generated secrets — operator-chosen client secrets (given to
//! `tessera apply` by variable, any characters `+ % : @ é …`), user passwords, the
//! refresh and access tokens it issues, private_key_jwt assertions, a federated
//! workload's platform tokens, DPoP proofs, the
//! Basic headers, a password in the OTLP endpoint's URL and, on PostgreSQL, one in the
//! database URL — through generated successful and failing requests at every
//! endpoint that takes them.
//!
//! Where each may appear: nowhere in a log line or a span, in no form (as sent,
//! percent- or form-encoded, JSON- or Debug-escaped, base64 or base64url); in a
//! response only a token the response itself issues (the token response's
//! `access_token` and `refresh_token`, simplejwt's `access` and `refresh`). A token
//! issued earlier never comes back, not even in the refusal of its replay.

use super::Run;
use crate::helpers::{
    form, run_cli_env, serve_process, Collect, OtlpReceiver, ServeProcess, TestDb,
};
use crate::jose::{assertion_claims, DpopKey, TestKey, ISSUER};
use crate::private_key_jwt::ASSERTION_TYPE;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The trusted issuer of the federated workload's platform tokens.
const PLATFORM: &str = "https://k8s.example";

/// A secret under test and the forms in which it would be recognised.
struct Secret {
    label: String,
    needles: Vec<String>,
}

impl Secret {
    fn new(label: impl Into<String>, value: &str) -> Secret {
        let quoted = |s: String| s[1..s.len() - 1].to_string();
        let mut needles = vec![
            value.to_string(),
            percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
            quoted(serde_json::to_string(value).expect("json")),
            quoted(format!("{value:?}")),
            STANDARD.encode(value),
            URL_SAFE_NO_PAD.encode(value),
        ];
        // A JWT's signature alone is as good as the JWT to recognise it.
        if let Some(sig) = value
            .rsplit('.')
            .next()
            .filter(|s| s.len() >= 40 && value.matches('.').count() == 2)
        {
            needles.push(sig.to_string());
        }
        needles.sort();
        needles.dedup();
        Secret {
            label: label.into(),
            needles,
        }
    }

    /// The form of this secret that `text` holds, if any.
    fn found_in(&self, text: &str) -> Option<&str> {
        self.needles
            .iter()
            .find(|n| n.len() >= 8 && text.contains(n.as_str()))
            .map(String::as_str)
    }
}

/// A raw answer: status, headers as text, body as text.
struct Raw {
    status: u16,
    text: String,
    body: Value,
}

struct World {
    server: ServeProcess,
    http: reqwest::Client,
    receiver: OtlpReceiver,
    /// Operator-chosen secrets by client id.
    svc: (String, String),
    web: (String, String),
    keyed: (String, TestKey),
    platform_key: TestKey,
    admin: (String, String),
    users: Vec<(String, String)>,
    dpop: DpopKey,
    /// Everything that must never be logged or exported.
    secrets: Vec<Secret>,
    cli_output: Vec<String>,
    /// The server's working directory, kept while it runs.
    _dir: tempfile::TempDir,
}

/// A password-like string of `len` characters, any printable ones, none of them
/// white space at either end.
fn secret_text(run: &mut Run, len: usize) -> String {
    let mut s = run.text(len, "");
    while s.starts_with(' ') || s.ends_with(' ') {
        s = run.text(len, "");
    }
    s
}

fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
}

async fn world(run: &mut Run) -> (World, TestDb) {
    let db = TestDb::new();
    let mut secrets = Vec::new();
    let mut cli_output = Vec::new();
    // On PostgreSQL the URL can carry a password (trust authentication ignores it).
    let url_password = run.text(
        24,
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!*",
    );
    let database_url = match &db {
        TestDb::Postgres { .. } => {
            secrets.push(Secret::new("the database URL's password", &url_password));
            db.url().replacen(
                "postgres://postgres@",
                &format!("postgres://postgres:{url_password}@"),
                1,
            )
        }
        TestDb::Sqlite { .. } => db.url(),
    };
    let cli = |args: Vec<String>, stdin: Option<String>, envs: Vec<(String, String)>| {
        let (db, database_url) = (&db, database_url.clone());
        async move {
            let mut all: Vec<(&str, &str)> = vec![("TESSERA_DATABASE_URL", database_url.as_str())];
            all.extend(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run_cli_env(db, &args, stdin.as_deref(), &all).await;
            assert!(out.success, "{args:?}: {}", out.stderr);
            out
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    cli_output.push(cli(s(&["migrate"]), None, vec![]).await.stderr);

    let (svc_secret, web_secret, admin_secret) = (
        secret_text(run, 40),
        secret_text(run, 33),
        secret_text(run, 48),
    );
    let keyed_key = TestKey::generate(jsonwebtoken::Algorithm::ES256);
    let dir = tempfile::tempdir().expect("dir");
    let toml = format!(
        r#"[[client]]
client_id = "svc"
scope = "orders tessera:introspect"
audiences = ["web-api"]
grant_types = ["client_credentials", "token-exchange"]
secret_env = "SVC_SECRET"

[[client]]
client_id = "web"
scope = "profile orders"
audiences = ["svc"]
grant_types = ["password", "refresh_token"]
secret_env = "WEB_SECRET"

[[client]]
client_id = "ops"
scope = "tessera:admin"
secret_env = "ADMIN_SECRET"

[[client]]
client_id = "keyed"
scope = "orders"
auth_method = "private_key_jwt"
jwks = {}
"#,
        toml_inline(&TestKey::jwks(&[&keyed_key]))
    );
    let file = dir.path().join("clients.toml");
    std::fs::write(&file, toml).expect("write");
    let out = cli(
        s(&["apply", file.to_str().expect("path")]),
        None,
        vec![
            ("SVC_SECRET".into(), svc_secret.clone()),
            ("WEB_SECRET".into(), web_secret.clone()),
            ("ADMIN_SECRET".into(), admin_secret.clone()),
        ],
    )
    .await;
    cli_output.push(out.stdout);
    cli_output.push(out.stderr);
    for (id, secret) in [
        ("svc", &svc_secret),
        ("web", &web_secret),
        ("ops", &admin_secret),
    ] {
        secrets.push(Secret::new(format!("{id}'s client secret"), secret));
        secrets.push(Secret::new(
            format!("{id}'s Basic credentials"),
            &basic(id, secret),
        ));
    }
    // A workload without a secret: a federated client of a trusted issuer (inline keys).
    let platform_key = TestKey::generate(jsonwebtoken::Algorithm::ES256);
    let jwks_file = dir.path().join("platform.json");
    std::fs::write(&jwks_file, TestKey::jwks(&[&platform_key]).to_string()).expect("write");
    let jwks_path = jwks_file.to_str().expect("path");
    cli_output.push(
        cli(
            s(&[
                "issuer", "add", "--name", "k8s", "--issuer", PLATFORM, "--jwks", jwks_path,
            ]),
            None,
            vec![],
        )
        .await
        .stderr,
    );
    cli_output.push(
        cli(
            s(&[
                "client",
                "create",
                "--name",
                "workload",
                "--client-id",
                "workload",
                "--scope",
                "orders",
                "--auth-method",
                "federated",
                "--issuer",
                "k8s",
                "--subject",
                "system:serviceaccount:shop:orders",
            ]),
            None,
            vec![],
        )
        .await
        .stderr,
    );
    let mut users = Vec::new();
    for name in ["ada", "bob"] {
        let len = 12 + run.pick(0..=20usize);
        let password = secret_text(run, len);
        secrets.push(Secret::new(format!("{name}'s password"), &password));
        let out = cli(
            s(&["user", "create", "--username", name]),
            Some(format!("{password}\n")),
            vec![],
        )
        .await;
        cli_output.push(out.stderr);
        users.push((name.to_string(), password));
    }

    let receiver = OtlpReceiver::start(Collect::Accept).await;
    let otlp_password = run.text(20, "abcdefghijklmnopqrstuvwxyz0123456789");
    secrets.push(Secret::new("the OTLP endpoint's password", &otlp_password));
    let otlp =
        receiver
            .endpoint
            .replacen("http://", &format!("http://collector:{otlp_password}@"), 1);
    let server = serve_process(
        dir.path(),
        &[
            ("TESSERA_DATABASE_URL", database_url.clone()),
            ("TESSERA_ISSUER", ISSUER.into()),
            ("TESSERA_LOG", "trace".into()),
            ("TESSERA_OTLP_ENDPOINT", otlp),
            ("TESSERA_OTLP_BATCH_DELAY_MS", "20".into()),
            ("TESSERA_SIMPLEJWT_CLIENT", "web".into()),
        ],
    )
    .await;
    let w = World {
        server,
        http: reqwest::Client::new(),
        receiver,
        svc: ("svc".into(), svc_secret),
        web: ("web".into(), web_secret),
        keyed: ("keyed".into(), keyed_key),
        platform_key,
        admin: ("ops".into(), admin_secret),
        users,
        dpop: DpopKey::new(),
        secrets,
        cli_output,
        _dir: dir,
    };
    (w, db)
}

/// A JSON value as a TOML inline value (JSON objects become inline tables).
fn toml_inline(v: &Value) -> String {
    match v {
        Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{k} = {}", toml_inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

impl World {
    async fn send(&self, req: reqwest::RequestBuilder) -> Raw {
        let res = req.send().await.expect("sent");
        let status = res.status().as_u16();
        let mut text = String::new();
        for (k, v) in res.headers() {
            text.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
        }
        let body = res.text().await.expect("body");
        text.push_str(&body);
        Raw {
            status,
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
            text,
        }
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.server.address))
    }

    fn token(&self, body: String) -> reqwest::RequestBuilder {
        self.post("/oauth/token")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

#[tokio::test]
async fn no_secret_reaches_a_response_a_log_line_or_a_span() {
    let mut run = Run::new("no_secret_anywhere");
    let (mut w, _db) = world(&mut run).await;
    let cases = run.cases(100);
    // Tokens the server issued, which later requests may present.
    let mut access: Vec<String> = Vec::new();
    let mut refresh: Vec<String> = Vec::new();
    let mut rotated: Vec<String> = Vec::new();
    for case in 0..cases {
        let mut sent: Vec<Secret> = Vec::new();
        let (what, raw) = one_request(&w, &mut run, &access, &refresh, &rotated, &mut sent).await;
        run.step(format!("case {case}: {what} -> {}", raw.status));
        let kind: String = what
            .split(" (")
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_digit() && *c != '#')
            .collect();
        run.count(format!("{kind}: {}", raw.status));
        assert!(
            raw.status < 500,
            "{what}: {} {}\n{run}",
            raw.status,
            raw.text
        );
        // The response may hold only what it issues: check it against everything known
        // before it, and what this request sent.
        for s in w.secrets.iter().chain(&sent) {
            if let Some(form) = s.found_in(&raw.text) {
                panic!(
                    "{what}: the response holds {} ({form:?}):\n{}\n{run}",
                    s.label, raw.text
                );
            }
        }
        w.secrets.extend(sent);
        for key in ["access_token", "access", "refresh_token", "refresh"] {
            if let Some(t) = raw.body[key].as_str() {
                w.secrets.push(Secret::new(format!("an issued {key}"), t));
                let list = if key.starts_with("access") {
                    &mut access
                } else {
                    &mut refresh
                };
                list.push(t.to_string());
            }
        }
        if what.starts_with("refresh") && raw.status == 200 {
            // The presented token is rotated now.
            if let Some(old) = what.split('#').nth(1).and_then(|i| i.parse::<usize>().ok()) {
                rotated.push(refresh[old].clone());
            }
        }
    }
    // Let the last spans arrive (the request spans end after the responses).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let log = w.server.log();
    assert!(log.len() > cases, "the server logged its requests: {log:?}");
    for s in &w.secrets {
        for line in log.iter().chain(&w.cli_output) {
            if let Some(form) = s.found_in(line) {
                panic!("a log line holds {} ({form:?}): {line}\n{run}", s.label);
            }
        }
    }
    let spans = w.receiver.spans();
    assert!(spans.len() > cases, "spans were exported: {}", spans.len());
    for span in &spans {
        let mut text = span.name.clone();
        for (k, v) in span.attributes.iter().chain(&span.resource) {
            text.push_str(&format!("\n{k}={v}"));
        }
        for s in &w.secrets {
            if let Some(form) = s.found_in(&text) {
                panic!(
                    "span {:?} holds {} ({form:?}): {text}\n{run}",
                    span.name, s.label
                );
            }
        }
    }
    eprintln!(
        "checked {} secrets in {} responses, {} log lines, {} spans",
        w.secrets.len(),
        cases,
        log.len(),
        spans.len()
    );
    run.finish();
}

/// One generated request; what it sent that is secret goes to `sent`. Returns a
/// description (refreshes name the token's index as `#i`) and the answer.
async fn one_request(
    w: &World,
    run: &mut Run,
    access: &[String],
    refresh: &[String],
    rotated: &[String],
    sent: &mut Vec<Secret>,
) -> (String, Raw) {
    let len = 32 + run.pick(0..=16usize);
    let wrong = secret_text(run, len);
    let right = run.chance(0.6);
    let (id, secret) = if run.chance(0.5) { &w.svc } else { &w.web };
    let used = if right { secret.clone() } else { wrong.clone() };
    if !right {
        sent.push(Secret::new("a wrong client secret", &wrong));
        sent.push(Secret::new(
            "a Basic header with a wrong secret",
            &basic(id, &wrong),
        ));
    }
    let as_basic = run.chance(0.7);
    // The client's authentication, as Basic or in the form.
    let auth = |req: reqwest::RequestBuilder, body: &mut Vec<(String, String)>| {
        if as_basic {
            req.header("Authorization", format!("Basic {}", basic(id, &used)))
        } else {
            body.push(("client_id".into(), id.clone()));
            body.push(("client_secret".into(), used.clone()));
            req
        }
    };
    let encode = |pairs: &[(String, String)]| {
        form(
            &pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        )
    };
    let p = |k: &str, v: &str| (k.to_string(), v.to_string());
    let dpop = run.chance(0.3).then(|| w.dpop.proof());
    if let Some(proof) = &dpop {
        sent.push(Secret::new("a DPoP proof", proof));
    }
    let with_dpop = |req: reqwest::RequestBuilder| match &dpop {
        Some(proof) => req.header("DPoP", proof),
        None => req,
    };
    let kind = run.pick(0..=9u8);
    match kind {
        0 | 1 => {
            let mut body = vec![p("grant_type", "client_credentials")];
            let req = auth(w.post("/oauth/token"), &mut body);
            let req = with_dpop(
                req.header("Content-Type", "application/x-www-form-urlencoded")
                    .body(encode(&body)),
            );
            (
                format!("client_credentials as {id} (right secret: {right})"),
                w.send(req).await,
            )
        }
        2 | 3 => {
            let (user, password) = run.choose(&w.users).clone();
            let good = run.chance(0.6);
            let password = if good {
                password
            } else {
                sent.push(Secret::new("a wrong password", &wrong));
                wrong.clone()
            };
            if run.chance(0.3) {
                let req = w
                    .post("/api/token/")
                    .json(&json!({"username": user, "password": password}));
                (
                    format!("simplejwt login of {user} (right password: {good})"),
                    w.send(req).await,
                )
            } else {
                let mut body = vec![
                    p("grant_type", "password"),
                    p("username", &user),
                    p("password", &password),
                ];
                let req = if right && id == "web" {
                    auth(w.post("/oauth/token"), &mut body)
                } else {
                    w.post("/oauth/token").header(
                        "Authorization",
                        format!("Basic {}", basic(&w.web.0, &w.web.1)),
                    )
                };
                let req = with_dpop(
                    req.header("Content-Type", "application/x-www-form-urlencoded")
                        .body(encode(&body)),
                );
                (
                    format!("password login of {user} (right password: {good})"),
                    w.send(req).await,
                )
            }
        }
        4 | 5 if !refresh.is_empty() => {
            let i = run.pick(0..=refresh.len() - 1);
            let token = &refresh[i];
            let state = if rotated.contains(token) {
                "rotated"
            } else {
                "maybe current"
            };
            if run.chance(0.3) {
                let req = w
                    .post("/api/token/refresh/")
                    .json(&json!({ "refresh": token }));
                (
                    format!("refresh via simplejwt of a {state} token #{i}"),
                    w.send(req).await,
                )
            } else {
                let body = form(&[("grant_type", "refresh_token"), ("refresh_token", token)]);
                let req = w.token(body).header(
                    "Authorization",
                    format!("Basic {}", basic(&w.web.0, &w.web.1)),
                );
                (
                    format!("refresh of a {state} token #{i}"),
                    w.send(with_dpop(req)).await,
                )
            }
        }
        6 if run.chance(0.5) => {
            let mut claims = crate::helpers::kubernetes_claims(PLATFORM, ISSUER, "shop", "orders");
            let good = run.chance(0.6);
            if !good {
                claims["sub"] = json!(format!("system:serviceaccount:shop:{}", run.text(8, "")));
            }
            let token = w
                .platform_key
                .sign_with(&claims, |h| h.typ = Some("JWT".into()));
            sent.push(Secret::new("a platform token", &token));
            let body = form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &token),
            ]);
            (
                format!("federated workload (good platform token: {good})"),
                w.send(with_dpop(w.token(body))).await,
            )
        }
        6 => {
            let mut claims = assertion_claims(&w.keyed.0, ISSUER);
            let good = run.chance(0.6);
            if !good {
                claims["aud"] = json!("http://elsewhere.example");
            }
            let assertion = w.keyed.1.sign_with(&claims, |_| {});
            sent.push(Secret::new("a client assertion", &assertion));
            let body = form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &assertion),
            ]);
            (
                format!("private_key_jwt (good assertion: {good})"),
                w.send(with_dpop(w.token(body))).await,
            )
        }
        7 if !access.is_empty() || !refresh.is_empty() => {
            let pool: Vec<&String> = access.iter().chain(refresh).collect();
            let token = (*run.choose(&pool)).clone();
            let path = *run.choose(&[
                "/oauth/introspect",
                "/oauth/revoke",
                "/api/token/verify/",
                "/api/token/blacklist/",
            ]);
            let req = match path {
                "/api/token/verify/" => w.post(path).json(&json!({ "token": token })),
                "/api/token/blacklist/" => w.post(path).json(&json!({ "refresh": token })),
                _ => {
                    let mut body = vec![p("token", &token)];
                    let req = auth(w.post(path), &mut body);
                    req.header("Content-Type", "application/x-www-form-urlencoded")
                        .body(encode(&body))
                }
            };
            (format!("{path} of an issued token"), w.send(req).await)
        }
        8 if !access.is_empty() => {
            let subject = run.choose(access).clone();
            let mut body = vec![
                p("grant_type", EXCHANGE),
                p("subject_token", &subject),
                p("subject_token_type", ACCESS),
            ];
            let req = auth(w.post("/oauth/token"), &mut body);
            let req = with_dpop(
                req.header("Content-Type", "application/x-www-form-urlencoded")
                    .body(encode(&body)),
            );
            (
                "token exchange of an issued token".to_string(),
                w.send(req).await,
            )
        }
        _ => {
            // The admin API with the operator's client's token (got first, then used).
            let good = run.chance(0.7);
            let secret = if good {
                w.admin.1.clone()
            } else {
                sent.push(Secret::new("a wrong admin secret", &wrong));
                wrong.clone()
            };
            let body = form(&[("grant_type", "client_credentials")]);
            let got = w
                .send(w.token(body).header(
                    "Authorization",
                    format!("Basic {}", basic(&w.admin.0, &secret)),
                ))
                .await;
            let Some(token) = got.body["access_token"].as_str() else {
                return ("admin token with a wrong secret".to_string(), got);
            };
            // Checked like any response, then kept secret: it is a token issued.
            for s in w.secrets.iter().chain(sent.iter()) {
                assert!(
                    s.found_in(&got.text).is_none(),
                    "the admin token response holds {}",
                    s.label
                );
            }
            sent.push(Secret::new("an admin access token", token));
            let target = if run.chance(0.5) {
                "svc".to_string()
            } else {
                format!("nobody-{}", run.text(4, "abcdef"))
            };
            let req = w
                .http
                .get(format!("{}/oauth/register/{target}", w.server.address))
                .bearer_auth(token);
            (format!("admin API read of {target}"), w.send(req).await)
        }
    }
}
