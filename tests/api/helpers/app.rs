//! A real tessera server on a random port, with helpers per endpoint.

use super::{answer, count_sql, form, run_cli, verify_with_discovery, Answer, CliOutput, TestDb};
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::Value;
use std::sync::Once;
use tessera::config::{ConfigArgs, Settings};
use tessera::startup::Application;

/// Client credentials as the CLI printed them.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: String,
    pub json: Value,
}

/// A running server.
pub struct TestApp {
    pub address: String,
    pub db: TestDb,
    pub http: reqwest::Client,
    pub admin: TestClient,
    /// The console's one-time setup link, when this start made one.
    pub console_setup_link: Option<String>,
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
    let mut args = ConfigArgs::default();
    args.server.bind = Some("127.0.0.1:0".into());
    args.database.database_url = Some(db.url());
    args.server.workers = Some(2);
    args.database.db_pool_size = Some(4);
    args.clients.client_cache_ttl = Some(0);
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
    let console_setup_link = app.console_setup_link.clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        admin: admin.unwrap_or(TestClient {
            id: String::new(),
            secret: String::new(),
            json: Value::Null,
        }),
        console_setup_link,
        db,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client"),
        handle,
    }
}

/// A server whose simplejwt endpoints act as a password/refresh client created with
/// `client_args`; `tweak` applies to both starts (the client is made before the
/// restart that names it). Returns the server and the client.
pub async fn spawn_simplejwt_app(
    client_args: &[&str],
    tweak: impl Fn(&mut ConfigArgs),
) -> (TestApp, TestClient) {
    let setup = spawn_app_with(&tweak).await;
    let client = setup.create_app_client(client_args).await;
    let db = setup.stop().await;
    let id = client.id.clone();
    let app = spawn_app_on(db, |c| {
        tweak(c);
        c.tokens.simplejwt_client = Some(id);
    })
    .await;
    (app, client)
}

impl TestApp {
    /// A JSON `POST` to `path`, with an optional DPoP proof.
    pub async fn post_json(&self, path: &str, body: &Value, proof: Option<&str>) -> Answer {
        let mut req = self.http.post(format!("{}{path}", self.address)).json(body);
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        answer(req.send().await.expect("sent")).await
    }

    /// A form `POST` to `path` with the client's HTTP Basic credentials and, when
    /// given, one more header (a DPoP proof, a `traceparent`).
    pub async fn post_form_as(
        &self,
        path: &str,
        client: &TestClient,
        body: impl Into<String>,
        header: Option<(&str, &str)>,
    ) -> Answer {
        let mut req = self
            .http
            .post(format!("{}{path}", self.address))
            .basic_auth(&client.id, Some(&client.secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.into());
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        answer(req.send().await.expect("sent")).await
    }

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

    /// An access token with `scope` that has expired for certain: from a new client
    /// with a 1-second lifetime, returned once the clock is past its own `exp`.
    pub async fn expired_token(&self, scope: &str) -> String {
        let brief = self
            .create_client(&["--scope", scope, "--access-token-ttl", "1"])
            .await;
        let token = self.client_credentials_token(&brief).await;
        super::wait_until_expired(&token).await;
        token
    }

    /// A `client_credentials` access token for `client` (HTTP Basic), which must be issued.
    pub async fn client_credentials_token(&self, client: &TestClient) -> String {
        self.token_basic(client, "grant_type=client_credentials")
            .await
            .access_token()
            .to_string()
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
