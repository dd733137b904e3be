//! Several `serve` processes on one database behave as one server: shared keys,
//! refresh families, revocations and client changes; and they ride out an outage of
//! PostgreSQL (through a TCP proxy the test cuts) and recover by themselves.

use crate::helpers::{
    answer, form, kids, run_cli, serve_process, Answer, ServeProcess, TestClient, TestDb,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

struct Cluster {
    db: TestDb,
    replicas: Vec<ServeProcess>,
    http: reqwest::Client,
    _cwd: tempfile::TempDir,
}

async fn cluster(n: usize, db: TestDb, database_url: String) -> Cluster {
    cluster_with(n, db, database_url, &[]).await
}

async fn cluster_with(
    n: usize,
    db: TestDb,
    database_url: String,
    extra: &[(&str, String)],
) -> Cluster {
    let cwd = tempfile::tempdir().expect("dir");
    let mut env = vec![
        ("TESSERA_DATABASE_URL", database_url),
        ("TESSERA_CLIENT_CACHE_TTL", "1".to_string()),
        ("TESSERA_DB_CONNECT_TIMEOUT", "1".to_string()),
        ("TESSERA_DB_STATEMENT_TIMEOUT_MS", "1000".to_string()),
    ];
    env.extend(extra.iter().cloned());
    let mut replicas = Vec::new();
    for _ in 0..n {
        replicas.push(serve_process(cwd.path(), &env).await);
    }
    Cluster {
        db,
        replicas,
        http: reqwest::Client::new(),
        _cwd: cwd,
    }
}

impl Cluster {
    async fn token(&self, replica: usize, client: &TestClient, body: &str) -> Answer {
        let res = self
            .http
            .post(format!("{}/oauth/token", self.replicas[replica].address))
            .basic_auth(&client.id, Some(&client.secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .expect("sent");
        answer(res).await
    }

    async fn cli_client(&self, args: &[&str]) -> TestClient {
        let mut all = vec!["client", "create", "--name", "replica test"];
        all.extend_from_slice(args);
        let out = run_cli(&self.db, &all, None).await;
        assert!(out.success, "{}", out.stderr);
        let json = out.json();
        TestClient {
            id: json["client_id"].as_str().expect("id").into(),
            secret: json["client_secret"].as_str().expect("secret").into(),
            json,
        }
    }

    async fn logged_in(&self) -> (TestClient, String) {
        let client = self
            .cli_client(&["--grant-types", "password,refresh_token"])
            .await;
        let out = run_cli(
            &self.db,
            &["user", "create", "--username", "ann"],
            Some("ann's password\n"),
        )
        .await;
        assert!(out.success, "{}", out.stderr);
        let login = self
            .token(
                0,
                &client,
                &form(&[
                    ("grant_type", "password"),
                    ("username", "ann"),
                    ("password", "ann's password"),
                ]),
            )
            .await;
        assert_eq!(login.status, 200, "{}", login.body);
        (client, login.refresh_token().to_string())
    }
}

fn refresh_body(token: &str) -> String {
    form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
}

#[tokio::test]
async fn three_replicas_share_keys_refresh_families_and_client_changes() {
    let db = TestDb::new();
    let url = db.url();
    let c = cluster(3, db, url).await;

    let jwks: Vec<String> = futures::future::join_all(c.replicas.iter().map(|r| {
        let http = c.http.clone();
        async move {
            http.get(format!("{}/.well-known/jwks.json", r.address))
                .send()
                .await
                .expect("jwks")
                .text()
                .await
                .expect("body")
        }
    }))
    .await;
    assert!(jwks.windows(2).all(|w| w[0] == w[1]), "byte-identical JWKS");

    // A token from replica A verifies with the JWKS of replica C (same issuer config
    // aside: the key is what matters here).
    let svc = c.cli_client(&[]).await;
    let token = c.token(0, &svc, "grant_type=client_credentials").await;
    let kid = token.kid();
    let jwks_c: serde_json::Value = serde_json::from_str(&jwks[2]).expect("json");
    let jwk: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks_c.clone()).expect("jwks");
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwk.find(&kid).expect("kid in C's JWKS")).expect("key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(token.access_token(), &key, &v)
        .expect("A's token verifies with C's JWKS");
    assert!(kids(&jwks_c).contains(&kid));

    // A refresh token from A rotates on B; replaying it on C revokes the family.
    let (app, first) = c.logged_in().await;
    let on_b = c.token(1, &app, &refresh_body(&first)).await;
    assert_eq!(on_b.status, 200, "{}", on_b.body);
    let reuse_on_c = c.token(2, &app, &refresh_body(&first)).await;
    assert_eq!(reuse_on_c.status, 400);
    assert_eq!(reuse_on_c.error(), "invalid_grant");
    let after = c.token(0, &app, &refresh_body(on_b.refresh_token())).await;
    assert_eq!(
        after.error(),
        "invalid_grant",
        "the family is revoked everywhere"
    );

    // A client disabled through the CLI (any replica's database) is refused by A
    // within client_cache_ttl (1 s here).
    assert_eq!(
        c.token(0, &svc, "grant_type=client_credentials")
            .await
            .status,
        200
    );
    let disabled_at = Instant::now();
    assert!(
        run_cli(&c.db, &["client", "disable", &svc.id], None)
            .await
            .success
    );
    loop {
        let a = c.token(0, &svc, "grant_type=client_credentials").await;
        if a.status == 401 {
            break;
        }
        assert!(
            disabled_at.elapsed() < Duration::from_millis(2_500),
            "still accepted after the cache bound"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn of_fifty_concurrent_refreshes_across_three_replicas_exactly_one_succeeds() {
    let db = TestDb::new();
    let url = db.url();
    let c = cluster(3, db, url).await;
    let (app, token) = c.logged_in().await;
    let body = refresh_body(&token);
    let answers = futures::future::join_all((0..50).map(|i| c.token(i % 3, &app, &body))).await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(ok, 1, "exactly one winner");
    assert!(answers
        .iter()
        .filter(|a| a.status != 200)
        .all(|a| a.error() == "invalid_grant"));
}

/// A TCP proxy to PostgreSQL that the test can cut (every connection dropped, new
/// ones closed at once, as when the server is down) and restore.
struct CutProxy {
    port: u16,
    up: Arc<AtomicBool>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl CutProxy {
    async fn start(target: String) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let (flag, gen_tx) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                let mut cut = gen_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        CutProxy {
            port,
            up,
            generation,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL (TESSERA_TEST_POSTGRES_URL): SQLite has no server to lose; .ci/run runs it"]
async fn replicas_answer_503_fast_during_a_postgres_outage_and_recover() {
    let db = TestDb::new();
    let TestDb::Postgres { .. } = &db else {
        panic!("this test needs PostgreSQL: set TESSERA_TEST_POSTGRES_URL");
    };
    let url = db.url();
    // postgres://user@host:port/name -> host:port
    let authority = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("authority");
    let host_port = authority.rsplit('@').next().expect("host").to_string();
    let target = if host_port.contains(':') {
        host_port.clone()
    } else {
        format!("{host_port}:5432")
    };
    let proxy = CutProxy::start(target).await;
    let proxied = url.replacen(&host_port, &format!("127.0.0.1:{}", proxy.port), 1);
    let c = cluster(2, db, proxied).await;
    let (app, mut refresh) = c.logged_in().await;

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(1_500)).await; // past the client cache
    for replica in 0..2 {
        let started = Instant::now();
        let a = c.token(replica, &app, &refresh_body(&refresh)).await;
        assert_eq!(a.status, 503, "{}", a.body);
        assert_eq!(a.error(), "temporarily_unavailable");
        assert!(a.header("retry-after").is_some());
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "no hang past the timeouts: {:?}",
            started.elapsed()
        );
        let ready = c
            .http
            .get(format!("{}/readyz", c.replicas[replica].address))
            .send()
            .await
            .expect("readyz answers");
        assert_eq!(ready.status(), 503);
        let health = c
            .http
            .get(format!("{}/healthz", c.replicas[replica].address))
            .send()
            .await
            .expect("alive");
        assert_eq!(health.status(), 200);
    }

    proxy.restore();
    let back = Instant::now();
    let mut recovered = [false, false];
    while back.elapsed() < Duration::from_secs(15) && !recovered.iter().all(|r| *r) {
        for (replica, done) in recovered.iter_mut().enumerate() {
            if *done {
                continue;
            }
            let a = c.token(replica, &app, &refresh_body(&refresh)).await;
            if a.status == 200 {
                refresh = a.refresh_token().to_string();
                *done = true;
            } else {
                assert_eq!(
                    a.status, 503,
                    "only unavailability while recovering: {}",
                    a.body
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recovered.iter().all(|r| *r),
        "both replicas recovered by themselves"
    );
    assert!(
        back.elapsed() < Duration::from_secs(10),
        "recovered within seconds"
    );
    // The outage is reported, not once a second by every background check.
    for replica in &c.replicas {
        let log = replica.log();
        let repeated = log.iter().filter(|l| l.contains("check failed")).count();
        assert_eq!(repeated, 0, "{log:#?}");
    }
    // No family was left half-rotated: every used token has its successor.
    let orphans = crate::helpers::count_sql(
        &c.db,
        "SELECT COUNT(*) AS n FROM refresh_tokens t WHERE t.used_at IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM refresh_tokens s WHERE s.parent_hash = t.token_hash)",
    );
    assert_eq!(orphans, 0);
}

#[tokio::test]
async fn a_secret_rotated_with_overlap_works_on_every_replica_until_it_expires() {
    let db = TestDb::new();
    let url = db.url();
    let c = cluster(2, db, url).await;
    let old = c.cli_client(&[]).await;
    let cc = "grant_type=client_credentials";

    // Out of range: refused, nothing rotated.
    let out = run_cli(
        &c.db,
        &["client", "rotate-secret", &old.id, "--keep-old", "604801"],
        None,
    )
    .await;
    assert!(!out.success);
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("--keep-old"), "{}", out.stderr);
    assert_eq!(
        c.token(0, &old, cc).await.status,
        200,
        "still the current secret"
    );

    let out = run_cli(
        &c.db,
        &["client", "rotate-secret", &old.id, "--keep-old", "4"],
        None,
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    let rotated = out.json();
    let new = TestClient {
        id: old.id.clone(),
        secret: rotated["client_secret"].as_str().expect("secret").into(),
        json: rotated.clone(),
    };
    let until = rotated["previous_secret_expires_at"]
        .as_i64()
        .expect("previous_secret_expires_at");
    let shown = run_cli(&c.db, &["client", "show", &old.id], None)
        .await
        .json();
    assert_eq!(shown["previous_secret_expires_at"], until);
    assert!(!shown.to_string().contains(&old.secret), "never a secret");

    // Past the client cache bound, both secrets work on both replicas.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for replica in 0..2 {
        assert_eq!(
            c.token(replica, &new, cc).await.status,
            200,
            "new on {replica}"
        );
        assert_eq!(
            c.token(replica, &old, cc).await.status,
            200,
            "old on {replica}"
        );
    }
    let wrong = TestClient {
        secret: "not the secret".into(),
        ..old.clone()
    };
    assert_eq!(c.token(0, &wrong, cc).await.status, 401);

    // Once the window ends, only the new one.
    while chrono::Utc::now().timestamp() <= until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for replica in 0..2 {
        assert_eq!(c.token(replica, &new, cc).await.status, 200);
        let a = c.token(replica, &old, cc).await;
        assert_eq!(a.status, 401, "old secret after the window on {replica}");
    }
    let shown = run_cli(&c.db, &["client", "show", &old.id], None)
        .await
        .json();
    assert!(shown.get("previous_secret_expires_at").is_none(), "{shown}");
    let audit = run_cli(&c.db, &["audit", "--limit", "5"], None)
        .await
        .json();
    let entry = audit
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["action"] == "client.rotate_secret")
        .expect("the rotation is audited");
    let details: serde_json::Value =
        serde_json::from_str(entry["details"].as_str().expect("details")).expect("json");
    assert_eq!(details["keep_old_secs"], 4);
    assert_eq!(details["previous_secret_expires_at"], until);

    // Rotating again without --keep-old ends the previous secret at once.
    let out = run_cli(&c.db, &["client", "rotate-secret", &old.id], None).await;
    assert!(out.success);
    let newest = TestClient {
        secret: out.json()["client_secret"].as_str().expect("secret").into(),
        ..old.clone()
    };
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(c.token(1, &newest, cc).await.status, 200);
    assert_eq!(
        c.token(1, &new, cc).await.status,
        401,
        "no overlap asked for"
    );
}

#[tokio::test]
async fn a_federated_client_works_on_every_replica_until_its_issuer_goes() {
    use crate::helpers::{kubernetes_claims, published, run_cli_env, TestIssuer};
    use crate::jose::{TestKey, ISSUER};
    let db = TestDb::new();
    let url = db.url();
    let extra = [
        ("TESSERA_ISSUER", ISSUER.to_string()),
        ("TESSERA_JWKS_URI_ALLOW_HTTP", "true".to_string()),
    ];
    let c = cluster_with(2, db, url, &extra).await;
    let key = TestKey::generate(jsonwebtoken::Algorithm::RS256);
    let k8s = TestIssuer::start(published(&[&key], 300)).await;
    let cli = |args: Vec<String>| {
        let db = &c.db;
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let out =
                run_cli_env(db, &refs, None, &[("TESSERA_JWKS_URI_ALLOW_HTTP", "true")]).await;
            assert!(out.success, "{args:?}: {}", out.stderr);
            out.json()
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    cli(s(&["issuer", "add", "--name", "k8s", "--issuer", &k8s.url])).await;
    let client = cli(s(&[
        "client",
        "create",
        "--name",
        "orders",
        "--auth-method",
        "federated",
        "--issuer",
        "k8s",
        "--subject",
        "system:serviceaccount:shop:orders",
    ]))
    .await;
    let id = client["client_id"].as_str().expect("id").to_string();
    let token = k8s.mint(&key, &kubernetes_claims(&k8s.url, ISSUER, "shop", "orders"));
    let body = form(&[
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", &token),
    ]);
    let post = |replica: usize| {
        let http = c.http.clone();
        let url = format!("{}/oauth/token", c.replicas[replica].address);
        let body = body.clone();
        async move {
            let res = http
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("sent");
            answer(res).await
        }
    };
    for replica in 0..2 {
        let a = post(replica).await;
        assert_eq!(a.status, 200, "replica {replica}: {}", a.body);
    }
    // Through replica 0's database: the client and its issuer go; within the cache
    // bound (1 s) neither replica accepts the token any more.
    cli(s(&["client", "delete", &id])).await;
    cli(s(&["issuer", "delete", "k8s"])).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for replica in 0..2 {
        let a = post(replica).await;
        assert_eq!(
            a.status, 401,
            "replica {replica} after the delete: {}",
            a.body
        );
    }
}

#[tokio::test]
async fn key_rotate_immediate_makes_every_replica_sign_with_the_new_key_within_five_seconds() {
    let db = TestDb::new();
    let url = db.url();
    // The default key_refresh_interval (60 s): the change must not wait for it.
    let c = cluster(2, db, url).await;
    let client = c.cli_client(&[]).await;
    let kid_of = |a: &Answer| {
        assert_eq!(a.status, 200, "{}", a.body);
        a.kid()
    };
    let old = kid_of(&c.token(0, &client, "grant_type=client_credentials").await);
    assert_eq!(
        old,
        kid_of(&c.token(1, &client, "grant_type=client_credentials").await)
    );

    let out = run_cli(&c.db, &["key", "rotate", "--immediate"], None).await;
    assert!(out.success, "{}", out.stderr);
    let new = out.json()["kid"].as_str().expect("kid").to_string();
    assert_ne!(new, old);
    let rotated = Instant::now();
    let mut switched: [Option<Duration>; 2] = [None, None];
    while rotated.elapsed() < Duration::from_secs(8) && switched.iter().any(Option::is_none) {
        for (replica, when) in switched.iter_mut().enumerate() {
            if when.is_none()
                && kid_of(
                    &c.token(replica, &client, "grant_type=client_credentials")
                        .await,
                ) == new
            {
                *when = Some(rotated.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (replica, when) in switched.iter().enumerate() {
        let when = when.unwrap_or_else(|| panic!("replica {replica} still signs with {old}"));
        assert!(
            when <= Duration::from_secs(5),
            "replica {replica} switched after {when:?}"
        );
    }
    // Once switched, never back.
    for replica in 0..2 {
        let a = c
            .token(replica, &client, "grant_type=client_credentials")
            .await;
        assert_eq!(kid_of(&a), new);
    }
}
