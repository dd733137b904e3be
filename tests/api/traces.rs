//! OpenTelemetry traces, as a collector receives them: an OTLP/HTTP receiver in the
//! test decodes the protobuf exports; the spans' parent links, the caller's trace id,
//! what attributes hold (never a secret or a token), what is not exported, and that a
//! collector that hangs or is down never slows token requests.

use crate::helpers::{
    form, serve_process, spawn_app_with, Collect, OtlpReceiver, ReceivedSpan, TestApp, TestClient,
};
use crate::helpers::{published, JwksServer};
use crate::jose::TestKey;
use crate::private_key_jwt::{app_with_issuer, register, ASSERTION_TYPE, ISSUER};
use std::time::{Duration, Instant};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const CLIENT_CREDENTIALS: &str = "grant_type=client_credentials";

/// A server exporting to `endpoint`, in batches a few milliseconds apart.
async fn traced_app(
    endpoint: &str,
    tweak: impl FnOnce(&mut tessera::config::ConfigArgs),
) -> TestApp {
    let endpoint = endpoint.to_string();
    spawn_app_with(|c| {
        c.telemetry.otlp_endpoint = Some(endpoint);
        c.telemetry.otlp_batch_delay_ms = Some(20);
        tweak(c);
    })
    .await
}

/// POSTs the form `body` to `path` as `client`, with a `traceparent` when given.
async fn post(
    app: &TestApp,
    path: &str,
    client: &TestClient,
    body: impl Into<String>,
    traceparent: Option<&str>,
) -> (u16, serde_json::Value) {
    let answer = app
        .post_form_as(path, client, body, traceparent.map(|t| ("traceparent", t)))
        .await;
    (answer.status, answer.body)
}

/// A token request with `body`, sent as part of the caller's trace `trace_id`.
async fn token_in(
    app: &TestApp,
    client: &TestClient,
    body: impl Into<String>,
    trace_id: &str,
) -> (u16, serde_json::Value) {
    post(
        app,
        "/oauth/token",
        client,
        body.into(),
        Some(&traceparent(trace_id)),
    )
    .await
}

fn traceparent(trace_id: &str) -> String {
    format!("00-{trace_id}-{CALLER_SPAN}-01")
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        panic!("no span {name:?} among {names:?}")
    })
}

fn in_trace(spans: &[ReceivedSpan], trace_id: &str) -> Vec<ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.trace_id == trace_id)
        .cloned()
        .collect()
}

/// The spans of trace `trace_id`, once its request span (the last to end) arrived.
async fn trace_of(receiver: &OtlpReceiver, trace_id: &str) -> Vec<ReceivedSpan> {
    let spans = receiver
        .wait_for(
            &format!("the request of trace {trace_id}"),
            request_span_of(trace_id),
        )
        .await;
    in_trace(&spans, trace_id)
}

/// Sends `req` as part of the caller's trace `trace_id`; its status.
async fn send_in_trace(req: reqwest::RequestBuilder, trace_id: &str) -> u16 {
    req.header("traceparent", traceparent(trace_id))
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

/// Whether the request span of `trace_id` (the last of its spans to end) arrived.
fn request_span_of(trace_id: &str) -> impl Fn(&[ReceivedSpan]) -> bool + '_ {
    move |spans| spans.iter().any(|s| s.trace_id == trace_id && s.kind == 2)
}

/// The `db.system.name` the test database has (see `TestDb::new`).
fn db_system() -> &'static str {
    match std::env::var("TESSERA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => "postgresql",
        _ => "sqlite",
    }
}

#[tokio::test]
async fn a_token_request_is_one_trace_under_the_callers_traceparent() {
    let receiver = OtlpReceiver::start(Collect::Accept).await;
    let app = traced_app(&receiver.endpoint, |_| {}).await;
    let client = app.create_client(&[]).await;

    let (status, body) = token_in(&app, &client, CLIENT_CREDENTIALS, TRACE_ID).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token");
    let kid = jsonwebtoken::decode_header(token).expect("header").kid;

    let trace = trace_of(&receiver, TRACE_ID).await;
    let request = named(&trace, "POST /oauth/token");
    assert_eq!(request.kind, 2, "a server span");
    assert_eq!(
        request.parent_span_id, CALLER_SPAN,
        "continues the caller's span"
    );
    assert_eq!(request.attr("http.request.method").as_deref(), Some("POST"));
    assert_eq!(request.attr("http.route").as_deref(), Some("/oauth/token"));
    assert_eq!(
        request.attr("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        request.attr("tessera.grant_type").as_deref(),
        Some("client_credentials")
    );
    assert_eq!(request.status, 0, "a success is not an error");
    assert_eq!(
        request
            .resource
            .get("service.name")
            .and_then(|v| v.as_str()),
        Some("tessera")
    );

    let auth = named(&trace, "client authentication");
    assert_eq!(auth.parent_span_id, request.span_id);
    assert_eq!(auth.attr("tessera.client_id"), Some(client.id.clone()));
    assert_eq!(
        auth.attr("tessera.client_auth.method").as_deref(),
        Some("client_secret_basic")
    );
    // The client was not cached yet: its lookup is a database unit inside the
    // authentication.
    let lookup = named(&trace, "find client");
    assert_eq!(lookup.parent_span_id, auth.span_id);
    assert_eq!(lookup.kind, 3, "a client span");
    assert_eq!(lookup.attr("db.system.name").as_deref(), Some(db_system()));

    let sign = named(&trace, "sign token");
    assert_eq!(sign.parent_span_id, request.span_id);
    assert_eq!(sign.attr("tessera.signing_key.kid"), kid);

    // A malformed traceparent is ignored: the request still succeeds, as a new trace.
    let (status, _) = post(
        &app,
        "/oauth/token",
        &client,
        CLIENT_CREDENTIALS,
        Some("00-not-a-trace-01"),
    )
    .await;
    assert_eq!(status, 200);
    let spans = receiver
        .wait_for("a second token request", |s| {
            s.iter().filter(|s| s.name == "POST /oauth/token").count() == 2
        })
        .await;
    let second = spans
        .iter()
        .find(|s| s.name == "POST /oauth/token" && s.trace_id != TRACE_ID)
        .expect("a new trace");
    assert_eq!(second.parent_span_id, "", "a root span");

    // A method HTTP does not define cannot name spans: the span is "HTTP", `_OTHER`.
    let junk_trace = "55555555555555555555555555555555";
    let brew = reqwest::Method::from_bytes(b"BREW").expect("method");
    let req = app
        .http
        .request(brew, format!("{}/oauth/token", app.address));
    assert_eq!(send_in_trace(req, junk_trace).await, 405);
    let junk = trace_of(&receiver, junk_trace).await;
    let junk = named(&junk, "HTTP");
    assert_eq!(junk.attr("http.request.method").as_deref(), Some("_OTHER"));
    assert_eq!(
        junk.attr("http.response.status_code").as_deref(),
        Some("405")
    );
}

#[tokio::test]
async fn spans_never_hold_a_secret_a_password_or_a_token() {
    let receiver = OtlpReceiver::start(Collect::Accept).await;
    let app = traced_app(&receiver.endpoint, |_| {}).await;
    let client = app.create_app_client(&[]).await;
    let password = "correct horse battery staple";
    app.create_user("alice", password).await;

    let login = form(&[
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", password),
    ]);
    let (status, pair) = token_in(&app, &client, login, TRACE_ID).await;
    assert_eq!(status, 200, "{pair}");
    let access = pair["access_token"].as_str().expect("access").to_string();
    let refresh = pair["refresh_token"].as_str().expect("refresh").to_string();

    let refresh_trace = "0af7651916cd43dd8448eb211c80319c";
    let body = form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
    let (status, rotated) = token_in(&app, &client, body, refresh_trace).await;
    assert_eq!(status, 200, "{rotated}");
    let introspector = app.create_client(&["--scope", "tessera:introspect"]).await;
    let introspect = form(&[("token", &access)]);
    assert_eq!(
        post(&app, "/oauth/introspect", &introspector, introspect, None)
            .await
            .0,
        200
    );
    let revoke = form(&[("token", rotated["refresh_token"].as_str().expect("refresh"))]);
    assert_eq!(
        post(&app, "/oauth/revoke", &client, revoke, None).await.0,
        200
    );
    let wrong_trace = "11111111111111111111111111111111";
    let wrong = form(&[
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "not the password at all"),
    ]);
    let (status, _) = token_in(&app, &client, wrong, wrong_trace).await;
    assert_eq!(status, 400);

    let spans = receiver
        .wait_for("every request", |s| {
            request_span_of(wrong_trace)(s)
                && s.iter().any(|s| s.name == "POST /oauth/revoke")
                && s.iter().any(|s| s.name == "POST /oauth/introspect")
        })
        .await;

    // The login: password verification and the database units under the request.
    let trace = in_trace(&spans, TRACE_ID);
    let request = named(&trace, "POST /oauth/token");
    let verify = named(&trace, "verify password");
    assert_eq!(verify.parent_span_id, request.span_id);
    for unit in ["find user", "record login", "start session"] {
        let span = named(&trace, unit);
        assert_eq!(span.parent_span_id, request.span_id, "{unit}");
        assert_eq!(span.attr("db.system.name").as_deref(), Some(db_system()));
        assert_eq!(span.attr("db.query.summary").as_deref(), Some(unit));
    }
    let refreshed = in_trace(&spans, refresh_trace);
    named(&refreshed, "rotate refresh token");
    // A refused login is recorded as the client's mistake, not the server's fault.
    let refused = in_trace(&spans, wrong_trace);
    let refused = named(&refused, "POST /oauth/token");
    assert_eq!(
        refused.attr("tessera.oauth.error").as_deref(),
        Some("invalid_grant")
    );
    assert_eq!(
        refused.attr("http.response.status_code").as_deref(),
        Some("400")
    );
    assert_eq!(refused.status, 0);

    let basic = format!("{}:{}", client.id, client.secret);
    let basic_b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&basic)
    };
    let secrets = [
        client.secret.as_str(),
        introspector.secret.as_str(),
        password,
        "not the password at all",
        &access,
        &refresh,
        rotated["access_token"].as_str().expect("access"),
        rotated["refresh_token"].as_str().expect("refresh"),
        &basic_b64,
    ];
    for span in &spans {
        for (key, value) in span.attributes.iter().chain(span.resource.iter()) {
            let text = value.to_string();
            for secret in secrets {
                // Any 12-character piece of a secret would be a leak.
                let piece = &secret[..12.min(secret.len())];
                assert!(
                    !text.contains(piece),
                    "span {:?} attribute {key} holds a secret: {text}",
                    span.name
                );
            }
        }
    }
}

#[tokio::test]
async fn a_server_without_otlp_endpoint_exports_nothing_even_beside_one_with_it() {
    let receiver = OtlpReceiver::start(Collect::Accept).await;
    let traced = traced_app(&receiver.endpoint, |_| {}).await;
    let untraced = spawn_app_with(|_| {}).await;
    let (a, b) = (
        traced.create_client(&[]).await,
        untraced.create_client(&[]).await,
    );

    let untraced_trace = "22222222222222222222222222222222";
    for _ in 0..5 {
        let (status, _) = token_in(&untraced, &b, CLIENT_CREDENTIALS, untraced_trace).await;
        assert_eq!(status, 200);
    }
    // The traced server's own request, sent after, arrives: the untraced ones had time.
    let (status, _) = token_in(&traced, &a, CLIENT_CREDENTIALS, TRACE_ID).await;
    assert_eq!(status, 200);
    trace_of(&receiver, TRACE_ID).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let spans = receiver.spans();
    assert!(
        in_trace(&spans, untraced_trace).is_empty(),
        "the server without otlp_endpoint exported spans"
    );
    assert!(spans.iter().all(|s| s.trace_id == TRACE_ID));
}

#[tokio::test]
async fn sampling_records_a_share_of_new_traces_and_follows_a_traced_caller() {
    let receiver = OtlpReceiver::start(Collect::Accept).await;
    let app = traced_app(&receiver.endpoint, |c| {
        c.telemetry.otlp_sample_ratio = Some(0.0)
    })
    .await;
    let client = app.create_client(&[]).await;
    let token = |tp: Option<String>| {
        let (app, client) = (&app, &client);
        async move {
            post(
                app,
                "/oauth/token",
                client,
                CLIENT_CREDENTIALS,
                tp.as_deref(),
            )
            .await
            .0
        }
    };
    for _ in 0..5 {
        assert_eq!(token(None).await, 200);
    }
    let unsampled = format!("00-{}-{CALLER_SPAN}-00", "33333333333333333333333333333333");
    assert_eq!(token(Some(unsampled)).await, 200);
    assert_eq!(token(Some(traceparent(TRACE_ID))).await, 200);
    let sampled = trace_of(&receiver, TRACE_ID).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let requests: Vec<ReceivedSpan> = receiver
        .spans()
        .into_iter()
        .filter(|s| s.kind == 2)
        .collect();
    assert_eq!(
        requests.len(),
        1,
        "only the sampled caller's request: {requests:?}"
    );
    assert!(sampled.len() >= 3, "with its children");
}

/// Sends `n` token requests, 16 at a time; every one must succeed, and the slowest
/// one's time is returned.
async fn many_tokens(app: &TestApp, client: &TestClient, n: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for _ in 0..n / 16 {
        let batch = (0..16).map(|_| async {
            let started = Instant::now();
            let (status, body) = token_in(app, client, CLIENT_CREDENTIALS, TRACE_ID).await;
            assert_eq!(status, 200, "{body}");
            started.elapsed()
        });
        for took in futures::future::join_all(batch).await {
            slowest = slowest.max(took);
        }
    }
    slowest
}

#[tokio::test]
async fn a_collector_that_hangs_or_is_down_never_slows_token_requests() {
    // A collector that takes each export and never answers, with an export time
    // limit far above any request's time: a request that waited for an export
    // would take at least that long. 800 requests make more spans than the queue
    // holds, so spans are dropped rather than waited for.
    let hanging = OtlpReceiver::start(Collect::Hang).await;
    let app = traced_app(&hanging.endpoint, |c| c.telemetry.otlp_timeout = Some(30)).await;
    let client = app.create_client(&[]).await;
    let slowest = many_tokens(&app, &client, 800).await;
    assert!(
        hanging.exports() >= 1,
        "the exporter never reached the collector"
    );
    assert!(
        slowest < Duration::from_secs(10),
        "a token request took {slowest:?} while the collector hung"
    );

    // Nothing listens at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let down = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let app = traced_app(&down, |_| {}).await;
    let client = app.create_client(&[]).await;
    let slowest = many_tokens(&app, &client, 160).await;
    assert!(slowest < Duration::from_secs(10), "took {slowest:?}");
    // And stopping sends what it can within the export time limit, then ends.
    tokio::time::timeout(Duration::from_secs(30), app.stop())
        .await
        .expect("the server stops although the collector is down");
}

#[tokio::test]
async fn what_a_request_sends_is_recorded_within_a_bound() {
    // Spans wait in the export queue while the collector is slow or down: every
    // attribute taken from a request must be bounded, or long URLs grow memory.
    let receiver = OtlpReceiver::start(Collect::Accept).await;
    let app = traced_app(&receiver.endpoint, |_| {}).await;
    let trace_id = "5bf92f3577b34da6a3ce929d0e0e4736";
    let long_path = format!("/oauth/{}", "%C3%A9".repeat(5_000));
    let req = app
        .http
        .get(format!("{}{long_path}", app.address))
        .header("User-Agent", "agent/1.0 ".repeat(1_000));
    assert_eq!(send_in_trace(req, trace_id).await, 404);
    let spans = trace_of(&receiver, trace_id).await;
    let request = spans
        .iter()
        .find(|s| s.kind == 2)
        .expect("the request span");
    let path = request.attr("url.path").expect("url.path");
    assert!(path.starts_with("/oauth/%C3%A9"), "{path}");
    assert!(path.chars().count() <= 256, "{} characters", path.len());
    let ua = request.attr("user_agent.original").expect("user agent");
    assert!(ua.chars().count() <= 256, "{} characters", ua.len());
    for span in &spans {
        for (key, value) in &span.attributes {
            assert!(
                value.to_string().len() <= 1_100,
                "{}: {key} is unbounded",
                span.name
            );
        }
    }
}

#[tokio::test]
async fn tessera_serve_takes_its_collector_and_resource_from_the_environment() {
    let receiver = OtlpReceiver::start(Collect::Accept).await;
    let dir = tempfile::tempdir().expect("dir");
    let server = serve_process(
        dir.path(),
        &[
            ("TESSERA_OTLP_ENDPOINT", receiver.endpoint.clone()),
            ("TESSERA_OTLP_BATCH_DELAY_MS", "20".into()),
            ("OTEL_SERVICE_NAME", "auth-eu".into()),
            ("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=tessera-0".into()),
        ],
    )
    .await;
    let req = reqwest::Client::new().get(format!("{}/readyz", server.address));
    assert_eq!(send_in_trace(req, TRACE_ID).await, 200);
    let trace = trace_of(&receiver, TRACE_ID).await;
    let check = named(&trace, "GET /readyz");
    // Its database ping is a unit of work of its own (the default database: SQLite).
    let ping = named(&trace, "ping");
    assert_eq!(ping.parent_span_id, check.span_id);
    assert_eq!(ping.attr("db.system.name").as_deref(), Some("sqlite"));
    let resource = |k: &str| {
        check
            .resource
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    assert_eq!(resource("service.name").as_deref(), Some("auth-eu"));
    assert_eq!(resource("k8s.pod.name").as_deref(), Some("tessera-0"));
    assert_eq!(
        resource("service.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn a_jwks_uri_fetch_is_a_client_span_that_passes_the_trace_on() {
    let receiver = OtlpReceiver::start(Collect::Accept).await;
    let endpoint = receiver.endpoint.clone();
    let app = app_with_issuer(|c| {
        c.telemetry.otlp_endpoint = Some(endpoint);
        c.telemetry.otlp_batch_delay_ms = Some(20);
    })
    .await;
    let key = TestKey::generate(jsonwebtoken::Algorithm::ES256);
    let keys = JwksServer::start(published(&[&key], 300)).await;
    let client_id = register(&app, serde_json::json!({"jwks_uri": keys.url})).await;

    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", &key.assertion(&client_id, ISSUER)),
    ]);
    let req = app
        .http
        .post(format!("{}/oauth/token", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    assert_eq!(send_in_trace(req, TRACE_ID).await, 200);

    let trace = trace_of(&receiver, TRACE_ID).await;
    let auth = named(&trace, "client authentication");
    assert_eq!(
        auth.attr("tessera.client_auth.method").as_deref(),
        Some("private_key_jwt")
    );
    let fetch = named(&trace, "GET");
    assert_eq!(fetch.kind, 3, "a client span");
    assert_eq!(fetch.parent_span_id, auth.span_id);
    assert_eq!(fetch.attr("url.full"), Some(keys.url.clone()));
    assert_eq!(
        fetch.attr("http.response.status_code").as_deref(),
        Some("200")
    );
    // The key server was called as part of the same trace, by the fetch's span.
    let sent = format!("traceparent: 00-{TRACE_ID}-{}-01", fetch.span_id);
    assert!(
        keys.request_heads()
            .iter()
            .any(|h| h.to_ascii_lowercase().contains(&sent)),
        "no {sent} in {:?}",
        keys.request_heads()
    );
}
