//! A refused request writes nothing: generated refusals at every endpoint that takes
//! credentials or changes state — malformed forms, bad client secrets and assertions,
//! bad DPoP proofs (alone and beside other faults), grants with bad parameters (some
//! with a good DPoP proof or a good client assertion, whose `jti` must not be used up),
//! bad refresh and subject tokens, bad RFC 7591 registrations, bad admin-API calls
//! (with Bearer and DPoP-bound admin tokens), bad simplejwt calls — each leaves every
//! table exactly as it was (rows compared, not only counted; the audit log included).
//! The one write SPEC asks of a refusal is the failed-login throttle: a wrong password
//! may change `login_failures`, only the rows of that username and this address. Two
//! refusals may also use up the one DPoP proof they came with, by design, and nothing
//! else: a wrong password (the attempt, proof included, is reserved before the password
//! is checked, so a captured proof buys no second guess), and an admin-API call that
//! was authenticated and authorised (token, proof by its key, `tessera:admin`) and then
//! refused for what it asked: at a resource the proof is spent on authentication, as
//! RFC 9449 §11.1 has it, so it cannot be replayed with another body.

use super::{changes, snapshot, Run};
use crate::helpers::{answer, form, spawn_simplejwt_app, Answer, TestApp, TestClient};
use crate::jose::{unsigned, DpopKey, TestKey, ISSUER};
use crate::private_key_jwt::ASSERTION_TYPE;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const FORM: &str = "application/x-www-form-urlencoded";
/// The trusted issuer of the federated client's platform tokens.
const PLATFORM: &str = "https://k8s.example";

/// One request, as bytes on the wire.
struct Request {
    what: String,
    method: reqwest::Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// A wrong password: the throttle's counters for this username may change.
    login_of: Option<String>,
    /// The `jti` of the DPoP proof this refusal may use up (see the module's note).
    spends: Option<String>,
}

impl Request {
    fn post(
        what: impl Into<String>,
        path: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        Request {
            what: what.into(),
            method: reqwest::Method::POST,
            path: path.into(),
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            login_of: None,
            spends: None,
        }
    }
    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    fn basic(self, id: &str, secret: &str) -> Self {
        let enc = |s: &str| form(&[("", s)])[1..].to_string();
        let creds = STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
        self.header("Authorization", format!("Basic {creds}"))
    }
    fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }
}

/// What the generator may use: clients, keys and live credentials.
struct Fixture {
    app: TestApp,
    web: TestClient,
    machine: TestClient,
    exchanger: TestClient,
    keyed: String,
    keyed_key: TestKey,
    /// A federated client bound to a trusted issuer with inline keys.
    federated: String,
    platform_key: TestKey,
    dpop: DpopKey,
    refresh: String,
    access: String,
    admin: String,
    bound_admin: String,
    admin_key: DpopKey,
    /// The machine's token bound to `dpop`'s key (no `tessera:admin`).
    bound_machine: String,
    machine_token: String,
}

async fn fixture() -> Fixture {
    let (mut app, web) = spawn_simplejwt_app(&["--audience", "svc-a"], super::quiet).await;
    // The restart that turned simplejwt on bootstrapped no admin: make one.
    app.admin = app.create_client(&["--scope", "tessera:admin"]).await;
    let machine = app
        .create_client(&["--scope", "orders", "--audience", "https://orders.example"])
        .await;
    let exchanger = app
        .create_client(&[
            "--client-id",
            "svc-a",
            "--grant-types",
            "token-exchange",
            "--scope",
            "orders",
            "--audience",
            "https://b.example",
            "--audience",
            "https://c.example",
        ])
        .await;
    let keyed_key = TestKey::generate(jsonwebtoken::Algorithm::ES256);
    let keyed =
        crate::private_key_jwt::register(&app, json!({"jwks": TestKey::jwks(&[&keyed_key])})).await;
    let platform_key = TestKey::generate(jsonwebtoken::Algorithm::ES256);
    crate::federation::add_inline_issuer(&app, "k8s", PLATFORM, &platform_key).await;
    let federated = crate::federation::federated_client(
        &app,
        "k8s",
        "system:serviceaccount:shop:orders",
        &["--claim", "kubernetes.io.namespace=shop"],
    )
    .await;
    // Control: a good platform token authenticates, so its refusals below are for
    // what the generator changed.
    let good = platform_key.sign_with(
        &crate::helpers::kubernetes_claims(PLATFORM, ISSUER, "shop", "orders"),
        |h| h.typ = Some("JWT".into()),
    );
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", &good),
    ]);
    let a = app.post_token(body, None, FORM).await;
    assert_eq!(a.status, 200, "a good platform token: {}", a.body);
    app.create_user("ada", "ada's password").await;
    let login = app.login(&web, "ada", "ada's password").await;
    assert_eq!(login.status, 200, "{}", login.body);
    let admin_key = DpopKey::new();
    let bound_admin = app
        .post_form_as(
            "/oauth/token",
            &app.admin,
            "grant_type=client_credentials",
            Some(("DPoP", &admin_key.proof())),
        )
        .await;
    assert_eq!(bound_admin.status, 200, "{}", bound_admin.body);
    let machine_token = app.client_credentials_token(&machine).await;
    let dpop = DpopKey::new();
    let bound_machine = app
        .post_form_as(
            "/oauth/token",
            &machine,
            "grant_type=client_credentials",
            Some(("DPoP", &dpop.proof())),
        )
        .await;
    assert_eq!(bound_machine.status, 200, "{}", bound_machine.body);
    Fixture {
        bound_machine: bound_machine.access_token().to_string(),
        admin: app.admin_token().await,
        bound_admin: bound_admin.access_token().to_string(),
        admin_key,
        refresh: login.refresh_token().to_string(),
        access: login.access_token().to_string(),
        machine_token,
        web,
        machine,
        exchanger,
        keyed,
        keyed_key,
        federated,
        platform_key,
        dpop,
        app,
    }
}

#[tokio::test]
async fn a_refused_request_writes_nothing() {
    let f = fixture().await;
    let mut run = Run::new("refused_writes_nothing");
    let cases = run.cases(330);
    for case in 0..cases {
        let req = generate(&f, &mut run, case);
        run.step(format!("case {case}: {}", req.what));
        let before = snapshot(&f.app.db);
        let a = send(&f.app, &req).await;
        assert!(
            (400..500).contains(&a.status),
            "{}: expected a refusal (4xx), got {} {}\n{run}",
            req.what,
            a.status,
            a.body
        );
        let kind = match req.what.split_once(": ") {
            Some((path, rest)) if rest.starts_with("a platform token") => {
                format!("{path}: a platform token")
            }
            Some((path, rest)) if rest.starts_with("a client assertion") => {
                format!("{path}: a client assertion")
            }
            Some((path, _)) => path.to_string(),
            None => req.what.clone(),
        };
        run.count(format!("{kind} refused with {}", a.status));
        let after = snapshot(&f.app.db);
        let mut changed = changes(&before, &after);
        if let Some(user) = &req.login_of {
            // SPEC: failed logins are throttled per username and per address; the
            // attempt is counted, and only there.
            if let Some((gone, came)) = changed.remove("login_failures") {
                let ours = |row: &String| {
                    row.contains(&format!("user:{user}")) || row.contains("addr:127.0.0.1")
                };
                assert!(
                    gone.iter().chain(&came).all(ours) && came.len() <= 2,
                    "{}: a wrong password changed other throttle rows: {gone:?} -> {came:?}\n{run}",
                    req.what
                );
            }
        }
        if let Some(jti) = &req.spends {
            let spent = changed.get("used_jtis").is_some_and(|(gone, came)| {
                gone.is_empty() && came.len() == 1 && came[0].contains(jti.as_str())
            });
            if spent {
                changed.remove("used_jtis");
            }
        }
        assert!(
            changed.is_empty(),
            "{}: refused with {} {}, yet it wrote: {changed:#?}\n{run}",
            req.what,
            a.status,
            a.body
        );
    }
    run.finish();
}

async fn send(app: &TestApp, req: &Request) -> Answer {
    let mut r = app
        .http
        .request(req.method.clone(), format!("{}{}", app.address, req.path))
        .body(req.body.clone());
    for (k, v) in &req.headers {
        r = r.header(k.as_str(), v.as_str());
    }
    answer(r.send().await.expect("sent")).await
}

/// A random refusal, from a catalogue of kinds; random parts in each.
fn generate(f: &Fixture, run: &mut Run, case: usize) -> Request {
    let junk = {
        let n = run.pick(1..=40usize);
        run.text(n, "")
    };
    // Every kind in turn, so each gets its share of the cases; the variants within a
    // kind are drawn at random.
    match (case % 11) as u8 {
        10 => bad_platform_token(f, run, &junk),
        0 => malformed_form(f, run, &junk),
        1 => bad_client_auth(f, run, &junk),
        2 => bad_assertion(f, run, &junk),
        3 => bad_dpop(f, run, &junk),
        4 => bad_grant(f, run, &junk),
        5 => wrong_password(f, run, &junk),
        6 => bad_registration(f, run, &junk),
        7 => bad_admin_call(f, run, &junk),
        8 => bad_simplejwt(f, run, &junk),
        _ => bad_introspection_or_revocation(f, run, &junk),
    }
}

fn token_post(what: String, body: impl Into<Vec<u8>>) -> Request {
    Request::post(what, "/oauth/token", FORM, body)
}

fn malformed_form(f: &Fixture, run: &mut Run, junk: &str) -> Request {
    let (what, body): (&str, Vec<u8>) = match run.pick(0..=7u8) {
        0 => ("no grant_type", form(&[("scope", junk)]).into_bytes()),
        1 => (
            "an unknown grant_type",
            form(&[("grant_type", junk)]).into_bytes(),
        ),
        2 => (
            "a repeated grant_type",
            b"grant_type=client_credentials&grant_type=client_credentials".to_vec(),
        ),
        3 => (
            "bad percent-encoding",
            b"grant_type=client_credentials&scope=%zz".to_vec(),
        ),
        4 => (
            "bytes that are not UTF-8",
            b"grant_type=client_credentials&scope=\xff\xfe".to_vec(),
        ),
        5 => (
            "more than 1,000 parameters",
            (0..1_001)
                .map(|i| format!("p{i}=x"))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes(),
        ),
        6 => (
            "a body over 64 KiB",
            format!("grant_type=client_credentials&scope={}", "a".repeat(70_000)).into_bytes(),
        ),
        _ => ("junk for a body", junk.as_bytes().to_vec()),
    };
    let req = token_post(format!("token: {what}"), body).basic(&f.web.id, &f.web.secret);
    if run.chance(0.2) {
        let mut req = req;
        req.headers[0].1 = "application/json".into();
        req.what.push_str(" (as JSON)");
        return req;
    }
    req
}

fn bad_client_auth(f: &Fixture, run: &mut Run, junk: &str) -> Request {
    let body = "grant_type=client_credentials";
    let proof = run.chance(0.3).then(|| f.dpop.proof());
    let req = match run.pick(0..=6u8) {
        0 => token_post(format!("token: unknown client {junk:?}"), body)
            .basic(junk, &f.machine.secret),
        1 => token_post(format!("token: wrong secret {junk:?}"), body).basic(&f.machine.id, junk),
        2 => token_post("token: the secret of another client".into(), body)
            .basic(&f.machine.id, &f.web.secret),
        3 => token_post(
            "token: Basic and client_secret_post at once".into(),
            format!(
                "{body}&{}",
                form(&[
                    ("client_id", &f.machine.id),
                    ("client_secret", &f.machine.secret)
                ])
            ),
        )
        .basic(&f.machine.id, &f.machine.secret),
        4 => token_post("token: a client id over 256 characters".into(), body)
            .basic(&"c".repeat(257), &f.machine.secret),
        5 => token_post(format!("token: a malformed Basic header {junk:?}"), body)
            .header("Authorization", format!("Basic {}", STANDARD.encode(junk))),
        _ => token_post(
            "token: client_secret_post with a wrong secret".into(),
            format!(
                "{body}&{}",
                form(&[("client_id", &f.machine.id), ("client_secret", junk)])
            ),
        ),
    };
    match proof {
        Some(p) => {
            let mut req = req.header("DPoP", p);
            req.what.push_str(" (with a good DPoP proof)");
            req
        }
        None => req,
    }
}

fn bad_assertion(f: &Fixture, run: &mut Run, junk: &str) -> Request {
    let now = chrono::Utc::now().timestamp();
    let good = crate::jose::assertion_claims(&f.keyed, ISSUER);
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let (what, assertion, kind) = match run.pick(0..=8u8) {
        0 => ("unsigned", unsigned(&good), ASSERTION_TYPE),
        1 => (
            "signed by another key",
            TestKey::generate(jsonwebtoken::Algorithm::ES256)
                .sign_with(&good, |h| h.kid = Some(f.keyed_key.kid.clone())),
            ASSERTION_TYPE,
        ),
        2 => (
            "expired",
            f.keyed_key
                .sign_with(&with("exp", json!(now - 120)), |_| {}),
            ASSERTION_TYPE,
        ),
        3 => (
            "for another audience",
            f.keyed_key.sign_with(&with("aud", json!(junk)), |_| {}),
            ASSERTION_TYPE,
        ),
        4 => (
            "typ dpop+jwt",
            f.keyed_key
                .sign_with(&good, |h| h.typ = Some("dpop+jwt".into())),
            ASSERTION_TYPE,
        ),
        5 => ("junk", junk.to_string(), ASSERTION_TYPE),
        6 => (
            "a wrong assertion type",
            f.keyed_key.sign_with(&good, |_| {}),
            "urn:x",
        ),
        7 => (
            "another client's sub",
            f.keyed_key
                .sign_with(&with("sub", json!(f.machine.id)), |_| {}),
            ASSERTION_TYPE,
        ),
        // A good assertion, for a grant the request then gets wrong: its jti must not
        // be used up.
        _ => (
            "good, but the scope is not the client's",
            f.keyed_key.sign_with(&good, |_| {}),
            ASSERTION_TYPE,
        ),
    };
    let scope = if what.starts_with("good") {
        "admin:everything"
    } else {
        "orders:read"
    };
    token_post(
        format!("token: a client assertion {what}"),
        form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("client_assertion_type", kind),
            ("client_assertion", &assertion),
        ]),
    )
}

fn bad_dpop(f: &Fixture, run: &mut Run, junk: &str) -> Request {
    let now = chrono::Utc::now().timestamp();
    let url = format!("{ISSUER}/oauth/token");
    let claims = |htm: &str, htu: &str, iat: i64| json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": iat});
    let k = &f.dpop;
    let (what, proof) = match run.pick(0..=8u8) {
        0 => ("for GET", k.proof_with(claims("GET", &url, now), |_| {})),
        1 => (
            "for another URL",
            k.proof_with(
                claims("POST", &format!("http://{junk}/oauth/token"), now),
                |_| {},
            ),
        ),
        2 => (
            "too old",
            k.proof_with(
                claims("POST", &url, now - run.pick(301..=100_000i64)),
                |_| {},
            ),
        ),
        3 => (
            "from the future",
            k.proof_with(
                claims("POST", &url, now + run.pick(120..=100_000i64)),
                |_| {},
            ),
        ),
        4 => (
            "typ JWT",
            k.proof_with(claims("POST", &url, now), |h| h.typ = Some("JWT".into())),
        ),
        5 => (
            "without jwk",
            k.proof_with(claims("POST", &url, now), |h| h.jwk = None),
        ),
        6 => (
            "signed by another key",
            k.proof_with(claims("POST", &url, now), |h| {
                h.jwk = Some(DpopKey::new().jwk)
            }),
        ),
        7 => ("junk", junk.to_string()),
        _ => ("with private key members", {
            let mut jwk = k.key.public.clone();
            jwk["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
            k.key.sign_raw(
                &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}),
                &claims("POST", &url, now),
            )
        }),
    };
    let (grant, body) = match run.pick(0..=2u8) {
        0 => (
            "client_credentials",
            "grant_type=client_credentials".to_string(),
        ),
        1 => (
            "refresh",
            form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &f.refresh),
            ]),
        ),
        _ => (
            "password",
            form(&[
                ("grant_type", "password"),
                ("username", "ada"),
                ("password", "ada's password"),
            ]),
        ),
    };
    let client = if grant == "client_credentials" {
        &f.machine
    } else {
        &f.web
    };
    let mut req = token_post(format!("token: {grant} with a DPoP proof {what}"), body)
        .basic(&client.id, &client.secret);
    // A header value must be visible ASCII; junk that is not goes as its base64.
    let proof = if proof.chars().all(|c| c.is_ascii_graphic()) {
        proof
    } else {
        STANDARD.encode(proof)
    };
    req = req.header("DPoP", proof);
    if run.chance(0.2) {
        req = req.header("DPoP", k.proof());
        req.what.push_str(", and a second, good one");
    }
    req
}

fn bad_grant(f: &Fixture, run: &mut Run, junk: &str) -> Request {
    let with_proof = run.chance(0.5);
    let (client, what, body): (&TestClient, String, String) = match run.pick(0..=9u8) {
        0 => (
            &f.machine,
            format!("a scope outside the client's {junk:?}"),
            form(&[
                ("grant_type", "client_credentials"),
                ("scope", &format!("x{junk}")),
            ]),
        ),
        1 => (
            &f.machine,
            "an audience outside the client's".into(),
            form(&[
                ("grant_type", "client_credentials"),
                ("audience", &format!("https://{junk}")),
            ]),
        ),
        2 => (
            &f.machine,
            "password by a client without that grant".into(),
            form(&[
                ("grant_type", "password"),
                ("username", "ada"),
                ("password", "ada's password"),
            ]),
        ),
        3 => (
            &f.web,
            "password without username".into(),
            form(&[("grant_type", "password"), ("password", junk)]),
        ),
        4 => (
            &f.web,
            format!("an unknown refresh token {junk:?}"),
            form(&[("grant_type", "refresh_token"), ("refresh_token", junk)]),
        ),
        5 => (
            &f.web,
            "a refresh widening the scope".into(),
            form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &f.refresh),
                ("scope", "profile orders admin"),
            ]),
        ),
        6 => (
            &f.machine,
            "another client's refresh token".into(),
            form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &f.refresh),
            ]),
        ),
        7 => (
            &f.exchanger,
            "an exchange of junk".into(),
            form(&[
                ("grant_type", EXCHANGE),
                ("subject_token", junk),
                ("subject_token_type", ACCESS),
            ]),
        ),
        8 => (
            &f.exchanger,
            "an exchange of a token not meant for the caller".into(),
            form(&[
                ("grant_type", EXCHANGE),
                ("subject_token", &f.machine_token),
                ("subject_token_type", ACCESS),
                ("audience", "https://b.example"),
            ]),
        ),
        _ => (
            &f.exchanger,
            "an exchange without a target among several".into(),
            form(&[
                ("grant_type", EXCHANGE),
                ("subject_token", &f.access),
                ("subject_token_type", ACCESS),
            ]),
        ),
    };
    let mut req = token_post(format!("token: {what}"), body).basic(&client.id, &client.secret);
    if with_proof {
        req = req.header("DPoP", f.dpop.proof());
        req.what.push_str(" (with a good DPoP proof)");
    }
    req
}

fn wrong_password(f: &Fixture, run: &mut Run, junk: &str) -> Request {
    let user = if run.chance(0.5) {
        "ada".to_string()
    } else {
        format!("u{}", run.text(8, "abcdefghijklmnopqrstuvwxyz"))
    };
    let simplejwt = run.chance(0.3);
    let mut req = if simplejwt {
        Request::post(
            format!("simplejwt: a wrong password for {user}"),
            "/api/token/",
            "application/json",
            json!({"username": user, "password": format!("not{junk}")}).to_string(),
        )
    } else {
        token_post(
            format!("token: a wrong password for {user}"),
            form(&[
                ("grant_type", "password"),
                ("username", &user),
                ("password", &format!("not{junk}")),
            ]),
        )
        .basic(&f.web.id, &f.web.secret)
    };
    if !simplejwt && run.chance(0.3) {
        let (proof, jti) = proof_with_jti(&f.dpop, "POST", &format!("{ISSUER}/oauth/token"), None);
        req = req.header("DPoP", proof);
        req.what.push_str(" (with a good DPoP proof)");
        req.spends = Some(jti);
    }
    req.login_of = Some(user.to_lowercase());
    req
}

fn bad_registration(f: &Fixture, run: &mut Run, junk: &str) -> Request {
    let metadata = |k: &str, v: Value| json!({"client_name": "x", k: v}).to_string();
    let (what, body, token): (String, String, Option<&str>) = match run.pick(0..=9u8) {
        0 => ("no token".into(), metadata("scope", json!("orders")), None),
        1 => ("a token without tessera:admin".into(), metadata("scope", json!("orders")), Some(&f.machine_token)),
        2 => (format!("a junk token {junk:?}"), metadata("scope", json!("orders")), Some(junk)),
        3 => ("an unknown grant type".into(), metadata("grant_types", json!([junk])), Some(&f.admin)),
        4 => ("an unknown auth method".into(), metadata("token_endpoint_auth_method", json!(format!("x{junk}"))), Some(&f.admin)),
        5 => ("a jwks_uri to a private address".into(), json!({"client_name": "x", "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://10.0.0.1/jwks"}).to_string(), Some(&f.admin)),
        6 => ("a resource URI with a space".into(), metadata("resource_uris", json!([format!("a {junk}")])), Some(&f.admin)),
        7 => ("JSON that is not an object".into(), json!([junk]).to_string(), Some(&f.admin)),
        8 => ("junk for JSON".into(), format!("{{{junk}"), Some(&f.admin)),
        _ => ("federated without an issuer".into(), metadata("token_endpoint_auth_method", json!("federated")), Some(&f.admin)),
    };
    let mut req = Request::post(
        format!("register: {what}"),
        "/oauth/register",
        "application/json",
        body,
    );
    if let Some(t) = token {
        req = req.bearer(t);
    }
    req
}

fn bad_admin_call(f: &Fixture, run: &mut Run, junk: &str) -> Request {
    let unknown = format!("no-such-{}", run.text(6, "abcdef0123456789"));
    let id = if run.chance(0.5) {
        f.machine.id.clone()
    } else {
        unknown.clone()
    };
    let path = format!("/oauth/register/{id}");
    let url = format!("{ISSUER}{path}");
    let method = run
        .choose(&[
            reqwest::Method::GET,
            reqwest::Method::PUT,
            reqwest::Method::DELETE,
        ])
        .clone();
    let known = id == f.machine.id;
    let body = json!({"client_id": id, "client_name": "x", "scope": format!("bad\u{7}{junk}")})
        .to_string();
    // How the call authenticates, and whether the fault lies there.
    let (auth, proof, auth_fault): (String, Option<(String, String)>, &str) =
        match run.pick(0..=6u8) {
            0 => (
                format!("Bearer {}", f.machine_token),
                None,
                "a token without tessera:admin",
            ),
            1 => (
                format!("Bearer {}", f.bound_admin),
                None,
                "a DPoP-bound admin token as Bearer",
            ),
            2 => (
                format!("DPoP {}", f.bound_admin),
                Some(proof_with_jti(
                    &DpopKey::new(),
                    method.as_str(),
                    &url,
                    Some(&f.bound_admin),
                )),
                "a DPoP-bound admin token with another key's proof",
            ),
            3 => (
                format!("DPoP {}", f.bound_admin),
                Some(proof_with_jti(
                    &f.admin_key,
                    method.as_str(),
                    &url,
                    Some(&f.bound_admin),
                )),
                "",
            ),
            4 => (format!("Bearer {junk}"), None, "a junk token"),
            5 => (
                format!("DPoP {}", f.bound_machine),
                Some(proof_with_jti(
                    &f.dpop,
                    method.as_str(),
                    &url,
                    Some(&f.bound_machine),
                )),
                "a DPoP-bound token without tessera:admin and its key's proof",
            ),
            _ => (format!("Bearer {}", f.admin), None, ""),
        };
    // Authenticated and authorised, refused for what it asks: the proof is spent.
    let spends = match (&proof, auth_fault) {
        (Some((_, jti)), "") => Some(jti.clone()),
        _ => None,
    };
    let what = match (auth_fault, known, &method) {
        ("", false, _) => format!("{method} of an unknown client"),
        ("", true, m) if *m == reqwest::Method::PUT => "PUT with a bad scope".to_string(),
        ("", true, m) if *m == reqwest::Method::DELETE => {
            // A good DELETE would succeed: make it one of a client that does not exist.
            return Request {
                what: "admin API: DELETE of an unknown client".into(),
                method,
                path: format!("/oauth/register/{unknown}"),
                headers: vec![("Authorization".into(), format!("Bearer {}", f.admin))],
                body: Vec::new(),
                login_of: None,
                spends: None,
            };
        }
        ("", true, _) => {
            // A good GET is no refusal: read with a token of another scope instead.
            return Request {
                what: "admin API: GET with a token without tessera:admin".into(),
                method,
                path,
                headers: vec![(
                    "Authorization".into(),
                    format!("Bearer {}", f.machine_token),
                )],
                body: Vec::new(),
                login_of: None,
                spends: None,
            };
        }
        (fault, _, _) => format!("{method} with {fault}"),
    };
    let auth = if auth.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        auth
    } else {
        format!("Bearer {}", STANDARD.encode(junk))
    };
    let mut req = Request {
        what: format!("admin API: {what} (client {id})"),
        method,
        path,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Authorization".into(), auth),
        ],
        body: body.into_bytes(),
        login_of: None,
        spends,
    };
    if let Some((p, _)) = proof {
        req = req.header("DPoP", p);
    }
    req
}

fn bad_simplejwt(f: &Fixture, run: &mut Run, junk: &str) -> Request {
    let (what, path, body) = match run.pick(0..=6u8) {
        0 => (
            "refresh with junk",
            "/api/token/refresh/",
            json!({"refresh": junk}).to_string(),
        ),
        1 => (
            "refresh with an access token",
            "/api/token/refresh/",
            json!({"refresh": f.access}).to_string(),
        ),
        2 => (
            "login without a password",
            "/api/token/",
            json!({"username": junk}).to_string(),
        ),
        3 => (
            "verify junk",
            "/api/token/verify/",
            json!({"token": junk}).to_string(),
        ),
        4 => (
            "blacklist junk",
            "/api/token/blacklist/",
            json!({"refresh": junk}).to_string(),
        ),
        5 => (
            "a body that is not JSON",
            "/api/token/refresh/",
            format!("{{{junk}"),
        ),
        _ => (
            "a refresh token that is a number",
            "/api/token/refresh/",
            json!({"refresh": 7}).to_string(),
        ),
    };
    Request::post(format!("simplejwt: {what}"), path, "application/json", body)
}

fn bad_introspection_or_revocation(f: &Fixture, run: &mut Run, junk: &str) -> Request {
    let path = *run.choose(&["/oauth/introspect", "/oauth/revoke"]);
    let body = form(&[("token", &f.refresh)]);
    let req = Request::post(format!("{path}: wrong secret"), path, FORM, body);
    if run.chance(0.5) {
        req.basic(&f.web.id, junk)
    } else {
        let mut req = req.basic(junk, &f.web.secret);
        req.what = format!("{path}: unknown client");
        req
    }
}

/// A DPoP proof for `method url` (with `ath` for `token`) and its `jti`.
fn proof_with_jti(key: &DpopKey, method: &str, url: &str, token: Option<&str>) -> (String, String) {
    use sha2::Digest;
    let jti = uuid::Uuid::new_v4().to_string();
    let mut claims = json!({
        "jti": jti, "htm": method, "htu": url, "iat": chrono::Utc::now().timestamp(),
    });
    if let Some(t) = token {
        claims["ath"] = json!(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(t.as_bytes())));
    }
    (key.proof_with(claims, |_| {}), jti)
}

fn bad_platform_token(f: &Fixture, run: &mut Run, junk: &str) -> Request {
    let now = chrono::Utc::now().timestamp();
    let good = crate::helpers::kubernetes_claims(PLATFORM, ISSUER, "shop", "orders");
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let mint = |claims: &Value| {
        f.platform_key
            .sign_with(claims, |h| h.typ = Some("JWT".into()))
    };
    let (what, token, client_id, scope) = match run.pick(0..=10u8) {
        0 => (
            "another subject",
            mint(&with(
                "sub",
                json!(format!("system:serviceaccount:shop:{junk}")),
            )),
            None,
            None,
        ),
        1 => (
            "another audience",
            mint(&with("aud", json!([junk]))),
            None,
            None,
        ),
        2 => (
            "expired",
            mint(&with("exp", json!(now - run.pick(1..=10_000i64)))),
            None,
            None,
        ),
        3 => (
            "without exp",
            {
                let mut c = good.clone();
                c.as_object_mut().expect("claims").remove("exp");
                mint(&c)
            },
            None,
            None,
        ),
        4 => (
            "issued in the future",
            mint(&with("iat", json!(now + run.pick(120..=10_000i64)))),
            None,
            None,
        ),
        5 => (
            "living longer than the issuer allows",
            mint(&with("exp", json!(now + 90_000))),
            None,
            None,
        ),
        6 => (
            "of another issuer",
            mint(&with(
                "iss",
                json!(format!("https://{}.example", run.text(6, "abcdefgh"))),
            )),
            None,
            None,
        ),
        7 => (
            "in another namespace",
            mint(&with("kubernetes.io", json!({"namespace": junk}))),
            None,
            None,
        ),
        8 => (
            "signed by another key",
            TestKey::generate(jsonwebtoken::Algorithm::ES256)
                .sign_with(&good, |h| h.kid = Some(f.platform_key.kid.clone())),
            None,
            None,
        ),
        9 => (
            "good, for another client's id",
            mint(&good),
            Some(f.machine.id.clone()),
            None,
        ),
        _ => (
            "good, but the scope is not the client's",
            mint(&good),
            Some(f.federated.clone()),
            Some("admin:all"),
        ),
    };
    let mut pairs = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_assertion_type", ASSERTION_TYPE.to_string()),
        ("client_assertion", token),
    ];
    if let Some(id) = client_id {
        pairs.push(("client_id", id));
    }
    if let Some(s) = scope {
        pairs.push(("scope", s.to_string()));
    }
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    token_post(format!("token: a platform token {what}"), form(&refs))
}
