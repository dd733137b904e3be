//! The test harness: a real tessera server on a random port over a fresh database,
//! the real CLI binary, and verification the way a resource server does it.

use diesel::{Connection, PgConnection, RunQueryDsl};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::process::Stdio;
use std::sync::Once;
use tessera::config::{ConfigArgs, Settings};
use tessera::startup::Application;
use tokio::io::AsyncWriteExt;

/// A fresh database for one test, dropped afterwards.
pub enum TestDb {
    /// A SQLite file in a temporary directory.
    Sqlite { dir: tempfile::TempDir },
    /// A new PostgreSQL database, named at random.
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// SQLite by default; PostgreSQL when `TESSERA_TEST_POSTGRES_URL` is set.
    pub fn new() -> TestDb {
        match std::env::var("TESSERA_TEST_POSTGRES_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin_url)
                    .expect("connect to TESSERA_TEST_POSTGRES_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create test database");
                TestDb::Postgres { admin_url, name }
            }
            _ => TestDb::Sqlite {
                dir: tempfile::tempdir().expect("temp dir"),
            },
        }
    }

    /// The `database_url` for tessera.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => dir.path().join("tessera.db").display().to_string(),
            TestDb::Postgres { admin_url, name } => {
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(admin_url);
                format!("{base}/{name}")
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            if let Ok(mut conn) = PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

/// Client credentials as the CLI printed them.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: String,
    pub json: Value,
}

/// What a CLI run produced.
#[derive(Debug)]
pub struct CliOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// A running server.
pub struct TestApp {
    pub address: String,
    pub db: TestDb,
    pub http: reqwest::Client,
    pub admin: TestClient,
    handle: actix_web::dev::ServerHandle,
}

fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            tessera::telemetry::init(if filter.is_empty() { "info" } else { &filter });
        }
    });
}

/// Settings for a test server on `db`, adjusted by `tweak`.
pub fn test_settings(db: &TestDb, tweak: impl FnOnce(&mut ConfigArgs)) -> Settings {
    let mut args = ConfigArgs {
        bind: Some("127.0.0.1:0".into()),
        database_url: Some(db.url()),
        workers: Some(2),
        db_pool_size: Some(4),
        client_cache_ttl: Some(0),
        ..Default::default()
    };
    tweak(&mut args);
    Settings::resolve(args).expect("valid test settings")
}

/// A server with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose settings `tweak` adjusts.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut ConfigArgs)) -> TestApp {
    spawn_app_on(TestDb::new(), tweak).await
}

/// A server on an existing database (for restarts).
pub async fn spawn_app_on(db: TestDb, tweak: impl FnOnce(&mut ConfigArgs)) -> TestApp {
    init_logging();
    let settings = test_settings(&db, tweak);
    let app = Application::build(settings).await.expect("server builds");
    let port = app.port();
    let handle = app.handle();
    let admin = app.bootstrap_admin.clone().map(|c| TestClient {
        id: c.client.client_id.clone(),
        secret: c.client_secret.clone().unwrap_or_default(),
        json: serde_json::to_value(&c).expect("json"),
    });
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        admin: admin.unwrap_or(TestClient {
            id: String::new(),
            secret: String::new(),
            json: Value::Null,
        }),
        db,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client"),
        handle,
    }
}

/// Runs the real `tessera` binary with `args` against `db`, feeding `stdin`.
pub async fn run_cli(db: &TestDb, args: &[&str], stdin: Option<&str>) -> CliOutput {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args)
        .env("TESSERA_DATABASE_URL", db.url())
        .env("TESSERA_LOG", "warn")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("tessera binary runs");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
    }
    drop(pipe);
    let out = child.wait_with_output().await.expect("tessera exits");
    CliOutput {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A form body from pairs, percent-encoded.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A token endpoint answer.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<no error field>")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn refresh_token(&self) -> &str {
        self.body["refresh_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no refresh_token: {}", self.body))
    }
    /// The `kid` in the access token's header.
    pub fn kid(&self) -> String {
        jsonwebtoken::decode_header(self.access_token())
            .expect("JWT header")
            .kid
            .expect("kid")
    }
    pub fn access_token(&self) -> &str {
        self.body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token: {}", self.body))
    }
}

impl TestApp {
    /// Runs the CLI against this server's database.
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        run_cli(&self.db, args, None).await
    }

    /// Registers a client through the CLI.
    pub async fn create_client(&self, extra: &[&str]) -> TestClient {
        let mut args = vec!["client", "create", "--name", "test client"];
        args.extend_from_slice(extra);
        let out = self.cli(&args).await;
        assert!(out.success, "client create failed: {}", out.stderr);
        let json = out.json();
        TestClient {
            id: json["client_id"].as_str().expect("client_id").to_string(),
            secret: json["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_string(),
            json,
        }
    }

    /// Creates a user through the CLI (password on stdin); returns its JSON.
    pub async fn create_user(&self, username: &str, password: &str) -> Value {
        let out = run_cli(
            &self.db,
            &["user", "create", "--username", username],
            Some(&format!("{password}\n")),
        )
        .await;
        assert!(out.success, "user create failed: {}", out.stderr);
        out.json()
    }

    /// A client allowed the password and refresh_token grants.
    pub async fn create_app_client(&self, extra: &[&str]) -> TestClient {
        let mut args = vec![
            "--grant-types",
            "password,refresh_token",
            "--scope",
            "profile orders",
        ];
        args.extend_from_slice(extra);
        self.create_client(&args).await
    }

    /// `grant_type=password` with HTTP Basic.
    pub async fn login(&self, client: &TestClient, username: &str, password: &str) -> Answer {
        let form = form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ]);
        self.token_basic(client, &form).await
    }

    /// `grant_type=refresh_token` with HTTP Basic and extra form pairs.
    pub async fn refresh(
        &self,
        client: &TestClient,
        token: &str,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
        pairs.extend_from_slice(extra);
        self.token_basic(client, &form(&pairs)).await
    }

    /// Counts the rows of `table` straight from the database (for storage assertions).
    pub fn count_rows(&self, table: &str) -> i64 {
        count_sql(&self.db, &format!("SELECT COUNT(*) AS n FROM {table}"))
    }

    /// The stored signing keys: (kid, private key bytes as stored, encrypted flag).
    pub fn raw_signing_keys(&self) -> Vec<(String, Vec<u8>, bool)> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            kid: String,
            #[diesel(sql_type = diesel::sql_types::Binary)]
            private_key: Vec<u8>,
            #[diesel(sql_type = diesel::sql_types::Bool)]
            encrypted: bool,
        }
        let sql = "SELECT kid, private_key, encrypted FROM signing_keys";
        let rows: Vec<Row> = match &self.db {
            TestDb::Sqlite { .. } => {
                let mut c = diesel::SqliteConnection::establish(&self.db.url()).expect("sqlite");
                diesel::sql_query(sql).load(&mut c).expect("keys")
            }
            TestDb::Postgres { .. } => {
                let mut c = PgConnection::establish(&self.db.url()).expect("postgres");
                diesel::sql_query(sql).load(&mut c).expect("keys")
            }
        };
        rows.into_iter()
            .map(|r| (r.kid, r.private_key, r.encrypted))
            .collect()
    }

    /// The JWKS as served now.
    pub async fn jwks(&self) -> Value {
        self.get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .expect("JWKS JSON")
    }

    /// POSTs a raw body to the token endpoint.
    pub async fn post_token(
        &self,
        body: impl Into<reqwest::Body>,
        basic: Option<(&str, &str)>,
        content_type: &str,
    ) -> Answer {
        let mut req = self
            .http
            .post(format!("{}/oauth/token", self.address))
            .header("Content-Type", content_type)
            .body(body);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        answer(req.send().await.expect("request sent")).await
    }

    /// A form POST to the token endpoint with HTTP Basic credentials.
    pub async fn token_basic(&self, client: &TestClient, form: &str) -> Answer {
        self.post_token(
            form.to_string(),
            Some((&client.id, &client.secret)),
            "application/x-www-form-urlencoded",
        )
        .await
    }

    /// An access token with the scope tessera:admin, from the bootstrap admin client.
    pub async fn admin_token(&self) -> String {
        let a = self
            .token_basic(&self.admin, "grant_type=client_credentials")
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.access_token().to_string()
    }

    /// GETs a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// The RFC 8414 metadata.
    pub async fn metadata(&self) -> Value {
        self.get("/.well-known/oauth-authorization-server")
            .await
            .json()
            .await
            .expect("metadata JSON")
    }

    /// Verifies `token` as a resource server would: keys from the discovered `jwks_uri`.
    /// Returns the header and the claims.
    pub async fn verify(&self, token: &str) -> (jsonwebtoken::Header, Value) {
        verify_with_discovery(&self.http, &self.address, token).await
    }

    /// Stops the server (for restart tests).
    pub async fn stop(self) -> TestDb {
        self.handle.stop(true).await;
        self.db
    }
}

/// Discovers `jwks_uri` from `base`'s metadata, fetches it, and verifies `token`
/// (the key's algorithm, `typ: at+jwt`, issuer, expiry). Panics on any failure.
pub async fn verify_with_discovery(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> (jsonwebtoken::Header, Value) {
    let meta: Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("metadata JSON");
    let issuer = meta["issuer"].as_str().expect("issuer").to_string();
    let jwks_uri = meta["jwks_uri"].as_str().expect("jwks_uri");
    let jwks: JwkSet = http
        .get(jwks_uri)
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("JWKS JSON");
    verify_with_jwks(&jwks, &issuer, token)
}

/// Verifies `token` against a JWKS as an offline resource server does (the key's
/// algorithm, `typ: at+jwt`, issuer, expiry). Panics on any failure.
pub fn verify_with_jwks(jwks: &JwkSet, issuer: &str, token: &str) -> (jsonwebtoken::Header, Value) {
    let header = decode_header(token).expect("JWT header");
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 typ");
    let kid = header.kid.clone().expect("kid in header");
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let key = DecodingKey::from_jwk(jwk).expect("usable JWK");
    // The algorithm comes from the published key, never from the token alone.
    let alg = jwk
        .common
        .key_algorithm
        .map(|a| a.to_string())
        .expect("alg in the JWK");
    assert_eq!(
        format!("{:?}", header.alg),
        alg,
        "header alg matches the key's"
    );
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
    let data = decode::<Value>(token, &key, &validation).expect("token verifies against the JWKS");
    (header, data.claims)
}

pub async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

/// Asserts an RFC 6749 §5.2 error answer.
#[track_caller]
pub fn assert_oauth_error(a: &Answer, status: u16, error: &str) {
    assert_eq!(a.status, status, "status for {error}: body {}", a.body);
    assert_eq!(a.error(), error, "error code: body {}", a.body);
    assert!(
        a.body["error_description"].is_string(),
        "error_description present"
    );
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "JSON error"
    );
    assert_eq!(a.header("cache-control"), Some("no-store"));
}

/// A `tessera serve` child process; killed on drop.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    pub address: String,
    pub stderr_lines: Vec<String>,
}

/// Starts the binary with `envs` in `cwd`, waits for "listening on", returns it.
pub async fn serve_process(cwd: &std::path::Path, envs: &[(&str, String)]) -> ServeProcess {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    use tokio::io::{AsyncBufReadExt, BufReader};
    cmd.current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("TESSERA_DATABASE_URL")
        .env("TESSERA_BIND", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("serve starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let address = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("stderr line") {
            seen.push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split_whitespace().next().expect("address").to_string();
            }
        }
        panic!("serve exited before listening: {seen:?}");
    })
    .await
    .expect("serve listens within 60 s");
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    ServeProcess {
        child,
        address,
        stderr_lines: seen,
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The `kid`s of a JWKS document.
pub fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

/// Runs a `SELECT COUNT(*) AS n …` straight against `db`.
pub fn count_sql(db: &TestDb, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let rows: Vec<Count> = match db {
        TestDb::Sqlite { .. } => {
            let mut c = diesel::SqliteConnection::establish(&db.url()).expect("sqlite");
            diesel::sql_query(sql).load(&mut c).expect("count")
        }
        TestDb::Postgres { .. } => {
            let mut c = PgConnection::establish(&db.url()).expect("postgres");
            diesel::sql_query(sql).load(&mut c).expect("count")
        }
    };
    rows[0].n
}

/// The HTTP client the `oauth2` crate talks through (no redirects, as its docs advise).
pub fn oauth2_http() -> oauth2::reqwest::Client {
    oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// The claims of a JWT, read without verifying it (to learn its `exp`, say).
pub fn unverified_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Waits until the clock is past `token`'s own `exp`, so it is expired for certain
/// (no sleep racing a lifetime).
pub async fn wait_until_expired(token: &str) {
    let exp = unverified_claims(token)["exp"].as_i64().expect("exp");
    while chrono::Utc::now().timestamp() <= exp {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// An `oauth2` crate client for `client` at `app`'s discovered token endpoint,
/// authenticating as `auth` says.
pub async fn oauth2_client(
    app: &TestApp,
    client: &TestClient,
    auth: oauth2::AuthType,
) -> oauth2::basic::BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    let meta = app.metadata().await;
    let url = meta["token_endpoint"].as_str().expect("token_endpoint");
    oauth2::basic::BasicClient::new(oauth2::ClientId::new(client.id.clone()))
        .set_client_secret(oauth2::ClientSecret::new(client.secret.clone()))
        .set_token_uri(oauth2::TokenUrl::new(url.into()).expect("url"))
        .set_auth_type(auth)
}
